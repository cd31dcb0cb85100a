/* SPDX-License-Identifier: MIT */
/*
 * Retry/Catch decisions. See asl-retry.h for the semantics; this file only
 * reads the (validated) Retry/Catch arrays and does arithmetic.
 */

#include <math.h>
#include <string.h>

#include "asl-retry.h"

#define RETRY_MAX_DELAY_MS (366LL * 24 * 3600 * 1000)

bool retry_error_is_terminal(const char *error) {
        return error && streq(error, "States.Runtime");
}

bool retry_error_matches(json_t *error_equals, const char *error, bool task_failure) {
        size_t i;
        json_t *e;

        if (!json_is_array(error_equals) || !error || retry_error_is_terminal(error))
                return false;

        json_array_foreach(error_equals, i, e) {
                const char *name = json_string_value(e);

                if (!name)
                        continue;
                if (streq(name, error))
                        return true;
                if (streq(error, "States.DataLimitExceeded") && !task_failure)
                        continue; /* only matched by its exact name */
                if (streq(name, "States.ALL"))
                        return true;
                if (streq(name, "States.TaskFailed") && !streq(error, "States.Timeout"))
                        return true;
        }
        return false;
}

static double number_field(json_t *o, const char *key, double dflt) {
        json_t *v = json_object_get(o, key);

        return json_is_number(v) ? json_number_value(v) : dflt;
}

int64_t retry_delay_ms(json_t *retrier, unsigned attempt, const AslEnv *env) {
        double interval = number_field(retrier, "IntervalSeconds", 1.0);
        double backoff = number_field(retrier, "BackoffRate", 2.0);
        json_t *max_delay = json_object_get(retrier, "MaxDelaySeconds");
        const char *jitter = json_string_value(json_object_get(retrier, "JitterStrategy"));
        double ms = interval * 1000.0 * pow(backoff, (double) attempt);

        if (json_is_number(max_delay) && ms > json_number_value(max_delay) * 1000.0)
                ms = json_number_value(max_delay) * 1000.0;
        if (!isfinite(ms) || ms > (double) RETRY_MAX_DELAY_MS)
                ms = (double) RETRY_MAX_DELAY_MS;
        if (ms < 0)
                ms = 0;
        if (jitter && streq(jitter, "FULL")) {
                /* uniform in [0, delay]: scale a [0,1) draw over delay+1 ms */
                int64_t full = (int64_t) llround(ms);
                return (int64_t) (asl_env_random_double(env) * (double) (full + 1));
        }
        return (int64_t) llround(ms);
}

int retry_decide(json_t *retriers, json_t *counts, const char *error, bool task_failure, const AslEnv *env,
                 int64_t *ret_delay_ms, size_t *ret_index) {
        size_t i;
        json_t *r;

        if (!json_is_array(retriers) || !json_is_array(counts))
                return 0;

        json_array_foreach(retriers, i, r) {
                json_t *max = json_object_get(r, "MaxAttempts");
                long long max_attempts = json_is_integer(max) ? json_integer_value(max) : 3;
                long long used;

                if (!retry_error_matches(json_object_get(r, "ErrorEquals"), error, task_failure))
                        continue;

                while (json_array_size(counts) <= i)
                        json_array_append_new(counts, json_integer(0));
                used = json_integer_value(json_array_get(counts, i));
                if (used >= max_attempts)
                        return 0; /* first match decides; exhausted -> Catch */

                *ret_delay_ms = retry_delay_ms(r, (unsigned) (used < 0 ? 0 : used), env);
                json_array_set_new(counts, i, json_integer(used + 1));
                if (ret_index)
                        *ret_index = i;
                return 1;
        }
        return 0;
}

json_t *retry_find_catcher(json_t *catchers, const char *error, bool task_failure) {
        size_t i;
        json_t *c;

        if (!json_is_array(catchers))
                return NULL;
        json_array_foreach(catchers, i, c)
                if (retry_error_matches(json_object_get(c, "ErrorEquals"), error, task_failure))
                        return c;
        return NULL;
}

json_t *retry_error_output(const char *error, const char *cause) {
        return json_pack("{s:s, s:s}", "Error", error ? error : "States.Runtime",
                         "Cause", cause ? cause : "");
}
