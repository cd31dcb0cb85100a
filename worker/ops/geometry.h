/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Geometry: the resize (and thumbnail: the same step with a default size),
 * crop, rotate and flip steps, and the operations that run one of them
 * alone (image.resize, image.thumbnail, image.crop, image.rotate,
 * image.flip) with the task's parameters as the step's.
 */

#include "image-ops.h"
#include "step.h"

extern const StepDef geometry_step_resize;
extern const StepDef geometry_step_thumbnail;
extern const StepDef geometry_step_crop;
extern const StepDef geometry_step_rotate;
extern const StepDef geometry_step_flip;

extern const ParamSpec geometry_resize_params[];
extern const ParamSpec geometry_crop_params[];
extern const ParamSpec geometry_rotate_params[];
extern const ParamSpec geometry_flip_params[];

int geometry_resize(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f);
/* image.resize, 200 x 200 when neither width nor height is given. */
int geometry_thumbnail(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f);
int geometry_crop(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f);
int geometry_rotate(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f);
int geometry_flip(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f);
