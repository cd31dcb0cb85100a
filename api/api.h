/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * imgflow-api's own header: the manager (one per process), one call per
 * HTTP request, the operation table and what the operations share. The
 * operations live in ops-*.c, one file per group (state machines,
 * executions, callbacks, activities), each a pair of functions per
 * operation in the table (api-ops.c):
 *
 *   parse(call, &resource, &error)   validate the input (c->input) and
 *                                    name the IAM resource the operation is
 *                                    on ("*" when it has none); keep what
 *                                    run() needs in c->state
 *   run(call)                        do it: Redis reads and writes through
 *                                    the store, Kafka messages to the
 *                                    coordinators; end with api_reply() or
 *                                    api_fail(), now or from a callback
 *
 * Between the two the manager checks the caller's policy for
 * "states:<Operation>" on that resource (api.c).
 *
 * A call's life: it belongs to its HTTP request. At most one asynchronous
 * step (a Redis command, a Kafka delivery, a wait for a coordinator's
 * answer or for an activity task) is pending at a time (c->busy). When the
 * request ends first (the daemon stops), the call is only marked (c->req =
 * NULL) and the pending step's callback frees it: the API_CALL_ALIVE()
 * check at the top of every callback.
 */

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <systemd/sd-event.h>

#include "aws-json.h"
#include "config.h"
#include "http.h"
#include "kafka.h"
#include "keys.h"
#include "proto.h"
#include "resources.h"
#include "redis.h"
#include "store.h"

#define API_NAME_MAX 80
#define API_ARN_MAX 256
#define API_PAGE_SIZE_DEFAULT 100
#define API_PAGE_SIZE_MAX 1000
#define API_TOKEN_MAX 2048 /* characters of a task token (TaskToken) */
#define API_ERROR_MAX 256
#define API_CAUSE_MAX 32768
#define API_DATA_MAX (256 * 1024) /* input, output: bytes (SensitiveData) */
#define API_DEFINITION_MAX (1024 * 1024)
#define API_ACTIVITY_POLL_SEC 60 /* GetActivityTask waits at most this long */

typedef struct ApiManager ApiManager;
typedef struct ApiCall ApiCall;
typedef struct ApiWaiter ApiWaiter;

typedef struct ApiOp {
        const char *name; /* "StartExecution"; the IAM action is "states:<name>" */
        int (*parse)(ApiCall *c, char **ret_resource, AwsError *e);
        void (*run)(ApiCall *c);
} ApiOp;

/* The operation table (api-ops.c); NULL when unknown. */
const ApiOp *api_op_find(const char *name);

struct ApiCall {
        ApiManager *m;
        HttpRequest *req; /* NULL once the request ended: free at the next callback */
        const ApiOp *op;
        json_t *input;    /* the request body */
        char *request_id; /* x-amzn-RequestId */
        char *key_id;     /* the caller's access key id, NULL without */
        bool busy;        /* an asynchronous step is pending */
        uint64_t start_usec;
        void *state; /* the operation's own */
        void (*state_free)(void *state);
        ApiWaiter *waiter;                      /* a wait for a coordinator's answer */
        void (*on_sent)(ApiCall *c, bool sent); /* after the answer was written, or not */
        ApiCall *prev, *next;                   /* the manager's list of calls */
};

/* Sets c->state; state_free(state) runs with the call. */
void api_call_set_state(ApiCall *c, void *state, void (*state_free)(void *));

/* Answers (once): out is stolen, NULL = {}; the call then waits for the
 * request to end. */
void api_reply(ApiCall *c, json_t *out);
void api_fail(ApiCall *c, const char *error, const char *fmt, ...) _printf_(3, 4);
void api_fail_error(ApiCall *c, AwsError *e);
/* A store error (-EIO ...) as InternalFailure / ServiceUnavailable. */
void api_fail_store(ApiCall *c, int r);

/* At the top of every callback of an asynchronous step: frees a call whose
 * request has gone and returns false. */
bool api_call_alive(ApiCall *c);

/* Redis through the store, on the loop. fn gets the reply (borrowed; an
 * ERROR reply too). A command that was lost (no connection, a timeout) is
 * answered ServiceUnavailable without calling fn; so is one that cannot be
 * sent (then the return is -ENOTCONN, else 0). */
typedef void (*ApiRedisFn)(ApiCall *c, redisReply *reply);
int api_redis_command(ApiCall *c, const StoreArgv *a, ApiRedisFn fn);
int api_redis_eval(ApiCall *c, const StoreCall *call, ApiRedisFn fn);

/*
 * A request for the coordinators, as the CLI sends it: buf (borrowed) to
 * <prefix><topic> keyed by key, then the answer at
 * imgflow:response:{request_id}. fn gets the answer (borrowed) once the
 * coordinator wrote it; on a Kafka failure or after [api] request_timeout
 * the call is answered ServiceUnavailable and fn is not called.
 */
typedef void (*ApiAnswerFn)(ApiCall *c, json_t *answer);
void api_coordinator_request(ApiCall *c, ProtoTopic topic, const char *key, const char *buf, size_t len,
                             const char *request_id, ApiAnswerFn fn);
/* The same with its own wait (0: [api] request_timeout), for an answer
 * that comes when an execution ends (StartSyncExecution). */
void api_coordinator_request_timeout(ApiCall *c, ProtoTopic topic, const char *key, const char *buf, size_t len,
                                     const char *request_id, uint64_t timeout_usec, ApiAnswerFn fn);

/* ---- what the operations read of the manager ---- */

const char *api_region(const ApiManager *m);
const char *api_account(const ApiManager *m);
const ProtoLimits *api_limits(const ApiManager *m);
int64_t api_retention_sec(const ApiManager *m);
sd_event *api_event(const ApiManager *m);
const Config *api_config(const ApiManager *m);
/* The [resources] mapping that definitions are checked against. */
const Resources *api_resources(const ApiManager *m);

/* ARNs of this service (new strings). */
char *api_sm_arn(const ApiManager *m, const char *name);
char *api_sm_version_arn(const ApiManager *m, const char *name, unsigned version);
char *api_exec_arn(const ApiManager *m, const char *exec_id);
/* The executionArn of a start's answer (borrowed): an EXPRESS execution's
 * "imgflow:express:<sm>:<name>:<run id>" as Step Functions' "express:" ARN,
 * else the "execution:" ARN of exec_id. New string. */
char *api_exec_arn_of_answer(const ApiManager *m, const char *exec_id, const json_t *answer);
char *api_activity_arn(const ApiManager *m, const char *name);

/* 128 random bits as hex (new string). */
char *api_random_hex(void);

/* ---- what the operations share (api-ops.c) ---- */

/* An ARN of this region and account: a state machine "<name>" or a
 * version "<name>:<version>" (version 0 = none), an execution (its id
 * "<stateMachine>:<name>"), an activity. New strings; InvalidArn. */
int api_parse_sm_arn(ApiCall *c, const char *arn, char **ret_name, unsigned *ret_version, AwsError *e);
int api_parse_exec_arn(ApiCall *c, const char *arn, char **ret_exec_id, AwsError *e);
int api_parse_activity_arn(ApiCall *c, const char *arn, char **ret_name, AwsError *e);
/* maxResults (0..1000, 0 = 100) and nextToken of kind (its cursor, new;
 * NULL without). */
int api_get_page(ApiCall *c, const char *kind, size_t *ret_limit, char **ret_cursor, AwsError *e);
/* out.nextToken = the token of cursor. */
void api_set_next_token(json_t *out, const char *kind, const char *cursor);
/* A JSON value as JSON text, the way Step Functions gives input and output
 * (a new string reference). */
json_t *api_json_text(const json_t *v);

/* ---- activities (ops-activities.c) ---- */

/* Start / stop the activity machinery of a manager (lease reclaim timer);
 * answer every waiting GetActivityTask with "no task" on stop. */
int api_activities_start(ApiManager *m);
void api_activities_stop(ApiManager *m);
void api_activities_free(ApiManager *m);
