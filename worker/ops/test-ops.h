/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Operations for tests and examples, no images involved: test.echo (return
 * the input), test.sleep (sleep ms milliseconds, cancellable, at most
 * OpLimits.max_sleep_ms) and test.fail (fail with a given error and cause,
 * optionally only the first failAttempts attempts).
 */

#include "image-ops.h"

extern const ParamSpec test_ops_sleep_params[];
extern const ParamSpec test_ops_fail_params[];

int test_ops_echo(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f);
int test_ops_sleep(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f);
int test_ops_fail(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f);
