/* SPDX-License-Identifier: MIT */

/*
 * test.echo, test.sleep and test.fail (see test-ops.h).
 */

#include <errno.h>
#include <time.h>

#include "macro.h"
#include "params.h"
#include "test-ops.h"

const ParamSpec test_ops_sleep_params[] = {{"ms", PARAM_INTEGER, true, RANGE(0, 3600000)}, {}};
const ParamSpec test_ops_fail_params[] = {
        {"error", PARAM_STRING, RANGE(1, 256)},
        {"cause", PARAM_STRING, RANGE(0, 1024)},
        {"failAttempts", PARAM_INTEGER, RANGE(0, 1000)},
        {},
};

int test_ops_echo(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        *ret = params ? json_deep_copy(params) : json_null();
        return *ret ? 0 : -ENOMEM;
}

int test_ops_sleep(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        OpLimits defaults;
        const OpLimits *l = op_context_limits(ctx, &defaults);
        json_int_t ms = params_int(params, "ms", 0), left;

        if (ms > (json_int_t) l->max_sleep_ms)
                return task_failure_set(f, -EINVAL, "Params.Invalid", "ms: must be at most %u",
                                        l->max_sleep_ms);
        for (left = ms; left > 0;) {
                json_int_t slice = MIN_(left, 10);
                struct timespec ts = {.tv_sec = 0, .tv_nsec = (long) slice * 1000000L};
                if (op_context_cancelled(ctx))
                        return task_failure_set(f, -ECANCELED, "Task.Cancelled", "cancelled after %lld ms",
                                                (long long) (ms - left));
                nanosleep(&ts, NULL);
                left -= slice;
        }
        *ret = json_pack("{s:I}", "slept", ms);
        return *ret ? 0 : -ENOMEM;
}

int test_ops_fail(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        unsigned attempt = ctx && ctx->attempt ? ctx->attempt : 1;

        if (!params_has(params, "failAttempts") ||
            attempt <= (json_int_t) params_int(params, "failAttempts", 0))
                return task_failure_set(f, -EIO, params_str(params, "error", "Test.Failure"), "%s",
                                        params_str(params, "cause", "test.fail"));
        *ret = json_pack("{s:i, s:b}", "attempt", (int) attempt, "succeeded", 1);
        return *ret ? 0 : -ENOMEM;
}
