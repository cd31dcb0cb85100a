/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The worker's operations (STYLE 11): a constant table of {name, parameter
 * schema, function}; docs/image-operations.md is their reference. The
 * worker daemon looks an operation up by name (image_ops_find) when a task
 * arrives, and a pool thread runs it with image_ops_run(), which validates
 * the task's parameters against the schema first; tests run operations the
 * same way. The daemon adds its own
 * operations (e.g. "notify", which publishes to Kafka and runs on the event
 * loop) by passing an extra table that is searched before the built-in one.
 *
 * Layout: the table, the run and the output locations are in image-ops.c;
 * the operations are in worker/ops/ by family (params, geometry, filters,
 * pipeline, inspect, test-ops); image-vips.c is the only file that talks to
 * libvips.
 *
 * Every function here is thread-safe once image_ops_init() has run: the
 * operations share no mutable state, and libvips errors are copied out of
 * libvips's global error buffer right where a call failed.
 *
 * Failures are task failures (task-failure.h) that ASL Retry/Catch match:
 *   Params.Invalid           a parameter is missing, of the wrong type, out of range
 *   Image.Invalid            corrupt or truncated image (or a decode error)
 *   Image.TooLarge           over the pixel, byte or memory limit (from the header)
 *   Image.Unsupported        format not allowed, no loader (e.g. SVG), no encoder
 *   Storage.*                see storage.h
 *   Task.Cancelled           OpContext.cancel was set
 *   Worker.UnknownOperation  no operation of that name (or one image_ops_run() cannot run)
 *   States.TaskFailed        an operation failed without naming a failure
 *   Test.Failure             test.fail's default error
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
typedef struct Operation Operation;

typedef struct OpContext {
        const char *execution_id;
        const char *execution_name; /* used for output keys; falls back to id */
        const char *state_name;
        const char *index_path; /* Task.indexPath ("1.0"); NULL at the top level */
        const char *task_id;
        unsigned attempt;          /* 1 = first attempt */
        const OpLimits *limits;    /* NULL = defaults */
        const atomic_bool *cancel; /* optional: set to stop long operations */
        const Operation *op;       /* the operation running: image_ops_run() sets it */
        const char *resource;      /* Task.resource as the definition wrote it */
        int64_t deadline_ms;       /* Task.deadlineMs (epoch ms); 0 = none */
        void *userdata;            /* the daemon flavor's (worker-daemon.h); NULL for image ops */
} OpContext;

/* The limits of ctx (may be NULL), or *defaults filled with the defaults. */
static inline const OpLimits *op_context_limits(const OpContext *ctx, OpLimits *defaults) {
        if (ctx && ctx->limits)
                return ctx->limits;
        op_limits_init_default(defaults);
        return defaults;
}

/* Whether the task was asked to stop. */
static inline bool op_context_cancelled(const OpContext *ctx) {
        return ctx && ctx->cancel && atomic_load(ctx->cancel);
}

/* Declarative parameter schema. */
typedef enum ParamType {
        PARAM_STRING,
        PARAM_INTEGER,
        PARAM_NUMBER, /* integer or real */
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
        bool has_range; /* min/max apply (numbers; string/array length) */
        double min, max;
        const char *const *enums; /* NULL-terminated allowed strings, or NULL */
        bool where;               /* says where the image is read or written, not what
                                   * the output is: left out of the output key's tag */
} ParamSpec;

/* An operation: params is borrowed (the task's effective input object);
 * *ret_result receives a new reference on success. */
typedef int (*OpFunction)(Storage *s, json_t *params, const OpContext *ctx, json_t **ret_result,
                          TaskFailure *f);

struct Operation {
        const char *name;
        const ParamSpec *params; /* terminated by an entry with name == NULL */
        OpFunction fn;           /* NULL: the daemon runs it on its loop (image_ops_run fails) */
        const char *summary;
};

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

/* Validate params against op's schema and run op (found with
 * image_ops_find()); the one way an operation runs. An op without a function
 * fails with Worker.UnknownOperation; a failure the operation did not name
 * is States.TaskFailed. params is borrowed; *ret_result is a new reference
 * on success (json null when the operation gave nothing). */
int image_ops_run(const Operation *op, Storage *s, json_t *params, const OpContext *ctx, json_t **ret_result,
                  TaskFailure *f);

/* Where an image-writing task writes: params' "output" {"bucket", "key"}
 * when given, else "outputBucket" (or the input's bucket) and a key derived
 * from the task:
 *
 *   <prefix>/<execution>/<state>[@<indexPath>]/<original key minus ext>.<tag>.<ext>
 *
 * prefix: "outputPrefix" (default "processed") without trailing '/';
 * execution and state: their names, kept as they are when made of
 * [A-Za-z0-9._-] only (not "." or "..", at most 80 bytes), else reduced
 * (other bytes become '_', cut at 80) with '~' and 8 hex digits of the
 * name's SHA-256 appended, so that different names give different
 * components; indexPath: ctx->index_path, where the state runs inside
 * Parallel branches and Map iterations; original key: in_key, or the
 * original object's key when in_key is an output this execution derived
 * under the same prefix (outputs do not nest); tag: 8 hex digits of the
 * SHA-256 of the input's bucket and key and of the parameters of ctx->op
 * that change the output (all but those marked `where`); ext: the output's
 * file extension. The same task retried gives the same key.
 * docs/image-operations.md ("Output keys") says it for users. New strings
 * in *ret_bucket and *ret_key; -ENOMEM. */
int image_ops_output_location(json_t *params, const OpContext *ctx, const char *in_bucket,
                              const char *in_key, const char *ext, char **ret_bucket, char **ret_key);

/* Whether libvips in this process can encode HEIF/AVIF (heifsave exists). */
bool image_ops_have_heif_save(void);
