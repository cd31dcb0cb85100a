/* SPDX-License-Identifier: MIT */
/*
 * imgflow-lambda: the worker daemon (worker.c) serving a pool of Lambda
 * functions (lambda.pool, default "lambda": <prefix>tasks.lambda). Each
 * function of lambda.functions is an operation of that name; a pool thread
 * runs its task in one of the function's runtime processes
 * (lambda-runtime.h). The pool has as many threads as the functions'
 * concurrency adds up to, so every slot can be busy at once.
 */

#include <errno.h>

#include "lambda-runtime.h"
#include "log.h"
#include "macro.h"
#include "worker-daemon.h"

static int lambda_setup(const Config *c, void **ret_userdata, const Operation **ret_ops, size_t *ret_n,
                        unsigned *ret_threads) {
        _cleanup_free_ char *error = NULL;
        LambdaRuntime *rt = NULL;
        int r = lambda_runtime_new(c, &rt, &error);
        if (r < 0)
                return log_error_errno(r, "%s", error ? error : "Failed to load the functions");
        *ret_ops = lambda_runtime_operations(rt, ret_n);
        *ret_threads = lambda_runtime_concurrency(rt);
        if (*ret_threads == 0)
                *ret_threads = 1;
        for (size_t i = 0; i < *ret_n; i++)
                log_info("Function %s.", (*ret_ops)[i].name);
        *ret_userdata = rt;
        return 0;
}

static void lambda_teardown(void *userdata) {
        lambda_runtime_free(userdata);
}

/* --check-config checks imgflow.conf, and the functions file when there is
 * one. Before `imgflow import-sam` wrote it, a configuration that is
 * otherwise fine is valid: the shared file passes on every host, and the
 * answer says that this daemon has nothing to run yet (a start says the
 * same as an error; the unit's ConditionPathExists= skips it meanwhile). */
static int lambda_check_config(const Config *c) {
        _cleanup_free_ char *error = NULL;
        LambdaRuntime *rt = NULL;
        int r = lambda_runtime_new(c, &rt, &error);
        if (r == -ENOENT) {
                log_notice("%s; the rest of the configuration is checked.", error);
                return 0;
        }
        if (r < 0)
                return log_error_errno(r, "%s", error ? error : "Failed to load the functions");
        lambda_runtime_free(rt);
        return 0;
}

static const WorkerFlavor lambda_flavor = {
        .program = "imgflow-lambda",
        .description = "Run Lambda handlers (Python, Node.js) as they are: consume <prefix>tasks.<pool>\n"
                       "(lambda.pool, default lambda), run each task's function in one of its runtime\n"
                       "processes, publish the results to <prefix>events.",
        .section = "lambda",
        .pool_option = "Serve <prefix>tasks.NAME (lambda.pool)",
        .threads_option = "Not used: the functions' concurrency sets the threads",
        .builtin_ops = false,
        .setup = lambda_setup,
        .teardown = lambda_teardown,
        .check_config = lambda_check_config,
};

int main(int argc, char **argv) {
        return worker_daemon_main(argc, argv, &lambda_flavor);
}
