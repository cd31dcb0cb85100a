/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Steps, and the one shape of every image-writing operation: open the input
 * through image_vips_open() (allow-listed loader, limits checked from the
 * header), apply a list of steps to the one decoded image, encode once, and
 * write the result with storage_write_atomic() to the task's output location
 * (image_ops_output_location(): a key derived from the task, unless the task
 * names "output").
 *
 * A step is one transformation of that image. image.resize, image.crop, ...
 * run one step whose parameters are the task's (step_run_one);
 * image.pipeline runs a list (pipeline.c holds the table of steps by name);
 * image.convert and image.optimize run none. Each family (geometry.h,
 * filters.h) provides its steps as StepDef entries.
 */

#include <jansson.h>

#include "image-ops.h"
#include "image-vips.h"

typedef struct StepCtx {
        Storage *storage;
        const OpContext *ctx;
        const OpLimits *limits; /* never NULL */
        const char *src_path;   /* set for the first step only: shrink-on-load */
} StepCtx;

/* in is borrowed, *ret_out a new reference; p is the step's parameters. */
typedef int (*StepFunction)(StepCtx *sc, Image *in, json_t *p, Image **ret_out, TaskFailure *f);
/* Checks of p that the declarative schema cannot express; prefix as in
 * params_validate(). */
typedef int (*StepCheck)(json_t *p, const char *prefix, TaskFailure *f);

typedef struct StepDef {
        const char *name;
        const ParamSpec *params; /* terminated by an entry with name == NULL */
        StepFunction fn;
        StepCheck check; /* optional */
        /* Reads its input once, top to bottom, a few lines at a time (point
         * and small-neighbourhood operations): when every step of a run
         * does, the input is opened for sequential access, so a large JPEG
         * is decoded strip by strip instead of whole into memory or a
         * temporary file. */
        bool sequential;
} StepDef;

typedef struct StepRun {
        const StepDef *def;
        json_t *params; /* borrowed */
} StepRun;

/* Open the input named by params, run steps[0..n_steps), encode once in
 * params' format (optimize: image.optimize's smaller defaults), write.
 * *ret_result: {"bucket", "key", "width", "height", "format", "size"}. */
int step_run(Storage *s, json_t *params, const OpContext *ctx, const StepRun *steps, size_t n_steps,
             bool optimize, json_t **ret_result, TaskFailure *f);

/* One step with the task's parameters: def->check, then step_run(). */
int step_run_one(const StepDef *def, Storage *s, json_t *params, const OpContext *ctx, json_t **ret_result,
                 TaskFailure *f);
