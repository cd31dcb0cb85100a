/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Parameters of the operations: the declarative schema check (ParamSpec, in
 * image-ops.h), typed getters for values the schema has already checked,
 * the input location, and the parameter blocks several operations share.
 * Failures are Params.Invalid with a cause that names the field, prefixed
 * for nested objects ("steps[1].width: must be an integer").
 */

#include <jansson.h>
#include <stdbool.h>

#include "image-ops.h"

#define RANGE(lo, hi) .has_range = true, .min = (lo), .max = (hi)

/* Output formats (NULL-terminated). */
extern const char *const params_formats_out[];

/* clang-format off */
/* Where the input image is: {"bucket", "key"} at the top level or under "input". */
#define PARAMS_INPUT                                                                    \
        { "bucket", PARAM_STRING, RANGE(1, STORAGE_BUCKET_NAME_MAX), .where = true },   \
        { "key", PARAM_STRING, .where = true },                                         \
        { "input", PARAM_LOCATION, .where = true }

/* Where and how an image-writing operation writes its result. */
#define PARAMS_OUTPUT                                                       \
        { "output", PARAM_LOCATION, .where = true },                                    \
        { "outputBucket", PARAM_STRING, RANGE(1, STORAGE_BUCKET_NAME_MAX), .where = true }, \
        { "outputPrefix", PARAM_STRING, RANGE(1, 512), .where = true },                 \
        { "format", PARAM_STRING, .enums = params_formats_out },            \
        { "quality", PARAM_INTEGER, RANGE(1, 100) },                        \
        { "progressive", PARAM_BOOLEAN },                                   \
        { "optimizeCoding", PARAM_BOOLEAN },                                \
        { "palette", PARAM_BOOLEAN },                                       \
        { "compression", PARAM_INTEGER, RANGE(0, 9) },                      \
        { "lossless", PARAM_BOOLEAN },                                      \
        { "effort", PARAM_INTEGER, RANGE(0, 10) },                          \
        { "keepMetadata", PARAM_BOOLEAN }
/* clang-format on */

/* Record Params.Invalid "<prefix><name>: <message>" in f; returns -EINVAL
 * (-ENOMEM when the message cannot be built). */
int params_fail(TaskFailure *f, const char *prefix, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Check obj (borrowed) against specs (NULL: anything goes). Unknown members
 * are ignored; prefix ("" or e.g. "steps[1].") starts every cause. */
int params_validate(const ParamSpec *specs, json_t *obj, const char *prefix, TaskFailure *f);

/* Typed getters: the value of o[k], or def when it is absent or of another
 * type. */
json_int_t params_int(json_t *o, const char *k, json_int_t def);
double params_num(json_t *o, const char *k, double def);
bool params_bool(json_t *o, const char *k, bool def);
const char *params_str(json_t *o, const char *k, const char *def);
/* Whether o[k] is present and not null. */
bool params_has(json_t *o, const char *k);
/* A PARAM_COLOR o[k] as r, g, b, alpha (alpha 255 when not given), or def. */
void params_color(json_t *o, const char *k, const double def[4], double out[4]);

/* The input image's location: borrowed from params. */
typedef struct InputRef {
        const char *bucket;
        const char *key;
        size_t key_len;
} InputRef;

/* Params.Invalid when params name no input. */
int params_input(json_t *params, InputRef *ret, TaskFailure *f);
