/* SPDX-License-Identifier: MIT */

/*
 * Parameter checks and getters of the operations (see params.h).
 */

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "params.h"

const char *const params_formats_out[] = {"jpeg", "png", "webp", "gif", "tiff", "heif", "avif", NULL};

int params_fail(TaskFailure *f, const char *prefix, const char *name, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        return task_failure_set(f, -EINVAL, "Params.Invalid", "%s%s: %s", prefix ? prefix : "", name, msg);
}

static bool json_is_integral(json_t *v) {
        if (json_is_integer(v))
                return true;
        if (json_is_real(v)) {
                double d = json_real_value(v);
                return isfinite(d) && d == floor(d) && fabs(d) < 9007199254740992.0;
        }
        return false;
}

static int check_enum(const ParamSpec *p, json_t *v, const char *prefix, TaskFailure *f) {
        _cleanup_free_ char *list = NULL;
        size_t len = 0;

        for (const char *const *e = p->enums; *e; e++)
                if (streq_ptr(*e, json_string_value(v)))
                        return 0;
        for (const char *const *e = p->enums; *e; e++)
                len += strlen(*e) + 2;
        list = calloc(1, len + 1);
        if (!list)
                return -ENOMEM;
        for (const char *const *e = p->enums; *e; e++) {
                if (e != p->enums)
                        strcat(list, ", ");
                strcat(list, *e);
        }
        return params_fail(f, prefix, p->name, "must be one of %s", list);
}

static int check_value(const ParamSpec *p, json_t *v, const char *prefix, TaskFailure *f) {
        switch (p->type) {
        case PARAM_STRING: {
                size_t n;
                if (!json_is_string(v))
                        return params_fail(f, prefix, p->name, "must be a string");
                n = json_string_length(v);
                if (memchr(json_string_value(v), '\0', n))
                        return params_fail(f, prefix, p->name, "must not contain NUL");
                if (p->has_range && (n < p->min || n > p->max))
                        return params_fail(f, prefix, p->name, "length must be between %g and %g", p->min,
                                           p->max);
                if (p->enums)
                        return check_enum(p, v, prefix, f);
                return 0;
        }
        case PARAM_INTEGER:
                if (!json_is_integral(v))
                        return params_fail(f, prefix, p->name, "must be an integer");
                if (p->has_range && (json_number_value(v) < p->min || json_number_value(v) > p->max))
                        return params_fail(f, prefix, p->name, "must be between %g and %g", p->min, p->max);
                return 0;
        case PARAM_NUMBER:
                if (!json_is_number(v) || !isfinite(json_number_value(v)))
                        return params_fail(f, prefix, p->name, "must be a number");
                if (p->has_range && (json_number_value(v) < p->min || json_number_value(v) > p->max))
                        return params_fail(f, prefix, p->name, "must be between %g and %g", p->min, p->max);
                return 0;
        case PARAM_BOOLEAN:
                if (!json_is_boolean(v))
                        return params_fail(f, prefix, p->name, "must be true or false");
                return 0;
        case PARAM_OBJECT:
                if (!json_is_object(v))
                        return params_fail(f, prefix, p->name, "must be an object");
                return 0;
        case PARAM_ARRAY:
                if (!json_is_array(v))
                        return params_fail(f, prefix, p->name, "must be an array");
                if (p->has_range && (json_array_size(v) < p->min || json_array_size(v) > p->max))
                        return params_fail(f, prefix, p->name, "must have between %g and %g items", p->min,
                                           p->max);
                return 0;
        case PARAM_LOCATION: {
                json_t *b = json_object_get(v, "bucket"), *k = json_object_get(v, "key");
                if (!json_is_object(v) || !json_is_string(b) || !json_is_string(k))
                        return params_fail(f, prefix, p->name,
                                           "must be {\"bucket\": string, \"key\": string}");
                return 0;
        }
        case PARAM_COLOR: {
                size_t i;
                json_t *c;
                if (!json_is_array(v) || json_array_size(v) < 3 || json_array_size(v) > 4)
                        return params_fail(f, prefix, p->name, "must be [r, g, b] or [r, g, b, alpha]");
                json_array_foreach (v, i, c)
                        if (!json_is_number(c) || json_number_value(c) < 0 || json_number_value(c) > 255)
                                return params_fail(f, prefix, p->name,
                                                   "colour values must be numbers 0..255");
                return 0;
        }
        case PARAM_ANY:
                return 0;
        }
        return params_fail(f, prefix, p->name, "bad schema");
}

int params_validate(const ParamSpec *specs, json_t *obj, const char *prefix, TaskFailure *f) {
        if (!specs)
                return 0;
        if (!json_is_object(obj))
                return task_failure_set(f, -EINVAL, "Params.Invalid", "%s: parameters must be an object",
                                        prefix && *prefix ? prefix : "(input)");
        for (const ParamSpec *p = specs; p->name; p++) {
                json_t *v = json_object_get(obj, p->name);
                int r;

                if (!v || json_is_null(v)) {
                        if (p->required)
                                return params_fail(f, prefix, p->name, "is required");
                        continue;
                }
                r = check_value(p, v, prefix, f);
                if (r < 0)
                        return r;
        }
        return 0;
}

json_int_t params_int(json_t *o, const char *k, json_int_t def) {
        json_t *v = json_object_get(o, k);
        return json_is_number(v) ? (json_int_t) json_number_value(v) : def;
}

double params_num(json_t *o, const char *k, double def) {
        json_t *v = json_object_get(o, k);
        return json_is_number(v) ? json_number_value(v) : def;
}

bool params_bool(json_t *o, const char *k, bool def) {
        json_t *v = json_object_get(o, k);
        return json_is_boolean(v) ? json_is_true(v) : def;
}

const char *params_str(json_t *o, const char *k, const char *def) {
        json_t *v = json_object_get(o, k);
        return json_is_string(v) ? json_string_value(v) : def;
}

bool params_has(json_t *o, const char *k) {
        json_t *v = json_object_get(o, k);
        return v && !json_is_null(v);
}

void params_color(json_t *o, const char *k, const double def[4], double out[4]) {
        json_t *v = json_object_get(o, k);
        for (size_t i = 0; i < 4; i++)
                out[i] = def[i];
        if (json_is_array(v)) {
                out[3] = 255;
                for (size_t i = 0; i < json_array_size(v) && i < 4; i++)
                        out[i] = json_number_value(json_array_get(v, i));
        }
}

int params_input(json_t *params, InputRef *ret, TaskFailure *f) {
        json_t *loc = json_object_get(params, "input");
        json_t *b, *k;

        if (!json_is_object(loc))
                loc = params;
        b = json_object_get(loc, "bucket");
        k = json_object_get(loc, "key");
        if (!json_is_string(b) || !json_is_string(k))
                return task_failure_set(f, -EINVAL, "Params.Invalid",
                                        "input: {\"bucket\", \"key\"} (or \"input\": {...}) is required");
        *ret = (InputRef){json_string_value(b), json_string_value(k), json_string_length(k)};
        return 0;
}
