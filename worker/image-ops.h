/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The worker's built-in operations (STYLE 11): a constant table of
 * {name, parameter schema, function}; docs/image-operations.md is their
 * reference. The worker daemon looks an operation up by name
 * (image_ops_find), validates the task's parameters against the
 * schema and calls the function on a worker thread (image_ops_run). The
 * daemon can add its own operations (e.g. "notify", which publishes to Kafka)
 * by passing an extra table that is searched before the built-in one.
 *
 * Every function here is thread-safe once image_ops_init() has run: the
 * operations share no mutable state, and libvips errors are copied out of
 * libvips's global error buffer right where a call failed.
 *
 * Failures are task failures (task-failure.h) that ASL Retry/Catch match:
 *   Params.Invalid       a parameter is missing, of the wrong type, out of range
 *   Image.Invalid        corrupt or truncated image (or a decode error)
 *   Image.TooLarge       over the pixel, byte or memory limit (from the header)
 *   Image.Unsupported    format not allowed, no loader (e.g. SVG), no encoder
 *   Storage.*            see storage.h
 *   Operation.Unknown    no operation of that name
 *   Test.Failure         test.fail's default error
 * The functions return 0, or a negative errno with *f filled.
 */

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "op-limits.h"
#include "storage.h"
#include "task-failure.h"

/* What an operation knows about its task. All pointers are borrowed and only
 * need to live for the duration of the call. Any of the strings may be NULL. */
typedef struct OpContext {
        const char *execution_id;
        const char *execution_name; /* used for output keys; falls back to id */
        const char *state_name;
        const char *task_id;
        unsigned attempt;           /* 1 = first attempt */
        const OpLimits *limits;     /* NULL = defaults */
        const atomic_bool *cancel;  /* optional: set to stop long operations */
} OpContext;

/* Declarative parameter schema. */
typedef enum ParamType {
        PARAM_STRING,
        PARAM_INTEGER,
        PARAM_NUMBER,  /* integer or real */
        PARAM_BOOLEAN,
        PARAM_OBJECT,
        PARAM_ARRAY,
        PARAM_LOCATION, /* {"bucket": string, "key": string} */
        PARAM_COLOR,    /* [r, g, b] or [r, g, b, a], each 0..255 */
        PARAM_ANY,
} ParamType;

typedef struct ParamSpec {
        const char *name;
        ParamType type;
        bool required;
        bool has_range;            /* min/max apply (numbers; string/array length) */
        double min, max;
        const char *const *enums;  /* NULL-terminated allowed strings, or NULL */
} ParamSpec;

/* An operation: params is borrowed (the task's effective input object);
 * *ret_result receives a new reference on success. */
typedef int (*OpFunction)(Storage *s, json_t *params, const OpContext *ctx,
                          json_t **ret_result, TaskFailure *f);

typedef struct Operation {
        const char *name;
        const ParamSpec *params;   /* terminated by an entry with name == NULL */
        OpFunction fn;             /* NULL: the caller runs it itself (image_ops_run fails) */
        const char *summary;
} Operation;

/* Once per process, before any other call here (later calls are no-ops and
 * return the first result). Starts libvips, blocks its untrusted loaders,
 * turns off the operation cache and sets libvips's thread count per
 * operation (concurrency <= 0 means 1). Returns 0 or -EIO. */
int image_ops_init(int concurrency);

/* The built-in table (borrowed, static) and its length. */
const Operation *image_ops_table(size_t *ret_n);

/* Find an operation: first in extra[0..n_extra) (may be NULL), then in the
 * built-in table. Returns a borrowed pointer or NULL. */
const Operation *image_ops_find(const char *name, const Operation *extra, size_t n_extra);

/* Check params (borrowed) against op's schema. Unknown fields are ignored
 * (ASL payloads often carry more). Fails with Params.Invalid naming the field. */
int image_ops_validate_params(const Operation *op, json_t *params, TaskFailure *f);

/* Look up `name`, validate params and run it. Unknown name: Operation.Unknown.
 * params is borrowed; *ret_result is a new reference on success. */
int image_ops_run(const char *name, const Operation *extra, size_t n_extra, Storage *s,
                  json_t *params, const OpContext *ctx, json_t **ret_result, TaskFailure *f);

/* Whether libvips in this process can encode HEIF/AVIF (heifsave exists). */
bool image_ops_have_heif_save(void);
