/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Filters: the "filter" step (a list of named filters, each a name or
 * {"type": name, ...parameters}; the filters are a table of name, schema and
 * function) and the "watermark" step (text or an image overlaid at a
 * gravity), and the operations that run one of them alone (image.filter,
 * image.watermark).
 */

#include "image-ops.h"
#include "step.h"

extern const StepDef filters_step_filter;
extern const StepDef filters_step_watermark;

extern const ParamSpec filters_filter_params[];
extern const ParamSpec filters_watermark_params[];

int filters_filter(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f);
int filters_watermark(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f);
