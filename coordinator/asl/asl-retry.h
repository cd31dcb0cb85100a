/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Retry and Catch of Task, Parallel and Map states (States Language
 * "Error handling"), pure functions over the validated definition.
 *
 * Error matching follows AWS:
 *   - an exact name in ErrorEquals matches that error;
 *   - "States.ALL" matches every error except States.Runtime and, when the
 *     engine raises it for a state's own payload, States.DataLimitExceeded
 *     (terminal errors). A Task's failure (`task_failure`: reported for the
 *     task, including its result over the payload limit, which Step
 *     Functions reports as a TaskFailed with States.DataLimitExceeded) is
 *     matched by States.ALL whatever its name;
 *   - "States.TaskFailed" matches every error except States.Timeout (and the
 *     two terminal errors);
 *   - States.Runtime is never retried or caught, even when named.
 *
 * Retry: the FIRST retrier whose ErrorEquals matches decides. Each retrier
 * has its own attempt counter (kept by the caller, in the execution
 * document, as a JSON array of integers parallel to Retry). MaxAttempts
 * (default 3) 0 means never retry. The delay before retry number k (k = 0 for
 * the first retry) is IntervalSeconds (default 1) * BackoffRate (default
 * 2.0) ^ k, capped by MaxDelaySeconds when given; JitterStrategy "FULL"
 * replaces it by a uniform random value in [0, delay] drawn from env->random.
 * If the first matching retrier is exhausted, no later retrier is tried and
 * the error goes on to Catch.
 */

#include "asl-util.h"

/* True if `error` matches the ErrorEquals array (borrowed); task_failure as above. */
bool retry_error_matches(json_t *error_equals, const char *error, bool task_failure);

/* True for errors that no Retry or Catch may handle (States.Runtime). */
bool retry_error_is_terminal(const char *error);

/*
 * The delay in milliseconds before retry number `attempt` (0-based) of
 * `retrier` (borrowed), including jitter drawn from env. Never negative;
 * capped at one year.
 */
int64_t retry_delay_ms(json_t *retrier, unsigned attempt, const AslEnv *env);

/*
 * Decide whether `error` is retried. `retriers` is the state's Retry array
 * (borrowed, may be NULL). `counts` is the caller's array of attempt counts
 * (borrowed, modified: grown as needed, the matching retrier's count is
 * incremented when a retry is decided).
 * Returns 1 and *ret_delay_ms (and *ret_index, may be NULL) when the state
 * is to be retried, 0 when not.
 */
int retry_decide(json_t *retriers, json_t *counts, const char *error, bool task_failure, const AslEnv *env,
                 int64_t *ret_delay_ms, size_t *ret_index);

/* The first catcher in `catchers` (borrowed, may be NULL) matching `error`.
 * Borrowed; NULL if none. */
json_t *retry_find_catcher(json_t *catchers, const char *error, bool task_failure);

/* A new {"Error": error, "Cause": cause} object (cause may be NULL -> ""). */
json_t *retry_error_output(const char *error, const char *cause);
