/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * image.pipeline (several steps, by name, on one decode and one save) and
 * the operations that run no step at all: image.convert (re-encode) and
 * image.optimize (re-encode smaller, metadata stripped).
 */

#include "image-ops.h"

/* Most steps of one image.pipeline. */
#define PIPELINE_MAX_STEPS 32

extern const ParamSpec pipeline_params[];
extern const ParamSpec pipeline_convert_params[];
extern const ParamSpec pipeline_optimize_params[];

int pipeline_run(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f);
int pipeline_convert(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f);
int pipeline_optimize(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f);
