/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Lambda handlers in runtime processes (imgflow-lambda, docs/lambda.md).
 *
 * A LambdaRuntime holds the functions of the functions file (lambda.functions,
 * written by `imgflow import-sam`): for each one its runtime (python3.x or
 * nodejs*), handler, code directory, MemorySize, Timeout, environment and
 * concurrency, and that many slots, each of which owns at most one runtime
 * process (worker/lambda/bootstrap.py or bootstrap.js) started on first use
 * and kept for the next invocations, as a Lambda execution environment is.
 *
 * lambda_runtime_invoke() runs on a pool thread of the worker daemon: it
 * takes a free slot of the function (waiting for one while all are busy),
 * starts its process if there is none, writes the request frame, and waits
 * for the answer until the function's Timeout (or the task's deadline, or a
 * cancel). The framed protocol is in bootstrap.py's opening comment.
 *
 * Failures, as Step Functions reports a Lambda function's (error = the
 * errorType, cause = Lambda's JSON error document):
 *   <exception type>          the handler raised or rejected (ValueError, Error,
 *                             a custom class name)
 *   Sandbox.Timedout          the Timeout passed: the process is killed
 *                             (the task's deadline first: killed too, and
 *                             -ETIME, not answered: States.Timeout)
 *   Runtime.ExitError         the process died during the invocation (killed,
 *                             a crash): it is started again for the next one
 *   Runtime.OutOfMemory       the handler went over MemorySize: its resident
 *                             size, V8's heap limit (Node.js) or an uncaught
 *                             MemoryError under the address-space limit
 *                             (Python); the process is ended and started
 *                             again, the message is Lambda's kill
 *   Runtime.ImportModuleError, Runtime.HandlerNotFound,
 *   Runtime.UserCodeSyntaxError, Runtime.MalformedHandlerName
 *                             the handler could not be loaded (init)
 *   Runtime.MarshalError      the result is not JSON
 *   Lambda.ServiceException   the process could not be started
 *   Task.Cancelled            the daemon is stopping (nothing reported)
 *
 * Thread-safety: lambda_runtime_invoke() may run on any number of threads at
 * once; every other function is for the loop thread, before the pool starts
 * or after it stopped.
 */

#include <stddef.h>

#include "config.h"
#include "image-ops.h"
#include "task-failure.h"

#define LAMBDA_FUNCTIONS_MAX 256
#define LAMBDA_FUNCTIONS_FILE_MAX (1024 * 1024)
#define LAMBDA_CONCURRENCY_MAX 64 /* slots of one function */
#define LAMBDA_ENV_BYTES_MAX 4096 /* Lambda's limit on a function's variables */
#define LAMBDA_MEMORY_MIN_MB 128  /* MemorySize, as Lambda */
#define LAMBDA_MEMORY_MAX_MB 10240
#define LAMBDA_TIMEOUT_MAX_S 900      /* Timeout, as Lambda */
#define LAMBDA_PAYLOAD_MAX (6u << 20) /* a frame; Lambda's synchronous payload limit */
#define LAMBDA_CAUSE_MAX 32768        /* Step Functions' cause limit */
#define LAMBDA_AS_HEADROOM_MB 128     /* Python: address space = MemorySize + this */

typedef struct LambdaRuntime LambdaRuntime;

/* Reads the functions file and the [lambda] keys of c (borrowed). On error
 * *ret_error (new) names the file, function and field. -EINVAL, -ENOENT
 * (only: the functions file does not exist), -ENOMEM. */
int lambda_runtime_new(const Config *c, LambdaRuntime **ret, char **ret_error);

/* Kills the runtime processes (end of input first, SIGKILL after a short
 * wait) and frees everything. Accepts NULL; returns NULL. */
LambdaRuntime *lambda_runtime_free(LambdaRuntime *rt);

/* The operations table: one entry per function, named as the function
 * ({name, params = NULL, fn = lambda_runtime_op}); borrowed. */
const Operation *lambda_runtime_operations(const LambdaRuntime *rt, size_t *ret_n);

/* Sum of the functions' concurrency: the pool threads to start. */
unsigned lambda_runtime_concurrency(const LambdaRuntime *rt);

/* The OpFunction of every function (ctx->userdata = the LambdaRuntime,
 * ctx->op = the function's entry). */
int lambda_runtime_op(Storage *s, json_t *event, const OpContext *ctx, json_t **ret_result, TaskFailure *f);
