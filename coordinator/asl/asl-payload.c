/* SPDX-License-Identifier: MIT */
/*
 * Input/output processing (InputPath, Parameters, ItemSelector,
 * ResultSelector, ResultPath, OutputPath). See asl-payload.h.
 *
 * Templates are walked recursively; recursion depth is bounded because a
 * validated definition is at most ASL_MAX_JSON_DEPTH deep, and we stop
 * anyway past that depth.
 */

#include <string.h>

#include "asl-intrinsics.h"
#include "asl-jsonpath.h"
#include "asl-payload.h"

int payload_check_limits(json_t *v, const AslEnv *env, const char *what, AslError *err) {
        size_t max = env && env->max_payload_bytes ? env->max_payload_bytes : ASL_MAX_PAYLOAD_BYTES_DEFAULT;
        size_t n;

        if (json_depth(v, ASL_MAX_JSON_DEPTH + 1) > ASL_MAX_JSON_DEPTH)
                return asl_error_set(err, "States.Runtime", "%s is nested deeper than %d levels",
                                     what, ASL_MAX_JSON_DEPTH);
        n = json_writer_size(v);
        if (n > max)
                return asl_error_set(err, "States.DataLimitExceeded",
                                     "%s has a size of %zu bytes, exceeding the maximum of %zu bytes",
                                     what, n, max);
        return 0;
}

/*
 * A path field (InputPath, OutputPath, ItemsPath, ResultPath): absent, null or
 * a string. Returns 1 with *ret_path (borrowed) for a string; 0 with *ret =
 * json_incref(if_absent) or json_incref(if_null) (NULL stays NULL) for an
 * absent or null field; or -EINVAL with err set.
 */
static int path_field(json_t *path, const char *field, json_t *if_absent, json_t *if_null, const char **ret_path,
                      json_t **ret, AslError *err) {
        if (!path || json_is_null(path)) {
                *ret = json_incref(path ? if_null : if_absent);
                return 0;
        }
        *ret_path = json_string_value(path);
        if (!*ret_path)
                return asl_error_set(err, "States.Runtime", "%s is not a string", field);
        return 1;
}

int payload_select(json_t *value, json_t *path, const char *field, const AslRefs *refs, json_t **ret,
                   AslError *err) {
        _cleanup_free_ char *why = NULL;
        const char *p = NULL;
        json_t *v = NULL;
        int r;

        r = path_field(path, field, value, /* if_null= */ NULL, &p, ret, err);
        if (r <= 0) {
                if (r == 0 && !*ret)
                        *ret = json_object(); /* no value, or a null path: {} */
                return r;
        }

        r = asl_path_eval(p, value, refs, &v, &why);
        if (r == -ENOENT)
                return asl_error_set(err, "States.Runtime", "Invalid path '%s' : %s", p,
                                     why ? why : "No results for path");
        if (r < 0)
                return asl_error_set(err, "States.Runtime", "Invalid path '%s' in %s: %s", p, field,
                                     r == -E2BIG ? "too many results" : strerror(-r));
        *ret = v;
        return 0;
}

char *payload_input_text(json_t *input) {
        char *s = json_writer_dumps(input ? input : json_null());

        if (!s)
                abort(); /* OOM: an input is a valid, acyclic value */
        return s;
}

int payload_eval_dollar(const char *expr, const char *field, json_t *input, const AslRefs *refs,
                        const AslEnv *env, json_t **ret, AslError *err) {
        json_t *v = NULL;
        int r;

        if (intrinsic_is_call(expr))
                return intrinsic_eval(expr, input, refs, env, ret, err);

        if (expr[0] != '$')
                return asl_error_set(
                        err, "States.Runtime",
                        "The value '%s' of the field '%s' is neither a path nor an intrinsic function", expr,
                        field);
        r = asl_path_eval(expr, input, refs, &v, NULL);
        if (r == -ENOENT) {
                _cleanup_free_ char *text = payload_input_text(input);
                return asl_error_set(err, "States.Runtime",
                                     "The JSONPath '%s' specified for the field '%s' could not be found in "
                                     "the input '%s'",
                                     expr, field, text);
        }
        if (r < 0)
                return asl_error_set(
                        err, "States.Runtime",
                        "The JSONPath '%s' specified for the field '%s' could not be evaluated: %s", expr,
                        field, r == -E2BIG ? "too many results" : strerror(-r));
        *ret = v;
        return 0;
}

static int template_rec(json_t *tmpl, json_t *input, const AslRefs *refs, const AslEnv *env, unsigned depth,
                        json_t **ret, AslError *err) {
        if (depth > ASL_MAX_JSON_DEPTH)
                return asl_error_set(err, "States.Runtime", "template nested too deeply");

        if (json_is_object(tmpl)) {
                _cleanup_json_ json_t *out = json_object();
                const char *key;
                json_t *val;

                json_object_foreach(tmpl, key, val) {
                        size_t kl = strlen(key);
                        json_t *v = NULL;
                        int r;

                        if (kl > 2 && streq(key + kl - 2, ".$")) {
                                _cleanup_free_ char *name = xstrndup(key, kl - 2);

                                if (!json_is_string(val))
                                        return asl_error_set(err, "States.Runtime",
                                                             "The value of the field '%s' must be a string",
                                                             key);
                                r = payload_eval_dollar(json_string_value(val), key, input, refs, env, &v,
                                                        err);
                                if (r < 0)
                                        return r;
                                json_object_set_new(out, name, v);
                        } else {
                                r = template_rec(val, input, refs, env, depth + 1, &v, err);
                                if (r < 0)
                                        return r;
                                json_object_set_new(out, key, v);
                        }
                }
                *ret = TAKE_PTR(out);
                return 0;
        }
        if (json_is_array(tmpl)) {
                _cleanup_json_ json_t *out = json_array();
                size_t i;
                json_t *val;

                json_array_foreach(tmpl, i, val) {
                        json_t *v = NULL;
                        int r = template_rec(val, input, refs, env, depth + 1, &v, err);
                        if (r < 0)
                                return r;
                        json_array_append_new(out, v);
                }
                *ret = TAKE_PTR(out);
                return 0;
        }
        *ret = json_deep_copy(tmpl);
        return 0;
}

int payload_template(json_t *tmpl, json_t *input, const AslRefs *refs, const AslEnv *env, json_t **ret,
                     AslError *err) {
        _cleanup_json_ json_t *out = NULL;
        int r;

        r = template_rec(tmpl, input, refs, env, 0, &out, err);
        if (r < 0)
                return r;
        r = payload_check_limits(out, env, "The payload produced by the template", err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(out);
        return 0;
}

int payload_assign(json_t *assign, json_t *input, const AslRefs *refs, const AslEnv *env, json_t **ret,
                   AslError *err) {
        return template_rec(assign, input, refs, env, 0, ret, err);
}

int payload_result_path(json_t *raw_input, json_t *path, json_t *result, json_t **ret, AslError *err) {
        json_t *root;
        const char *p = NULL;
        int r;

        r = path_field(path, "ResultPath", result, raw_input, &p, ret, err);
        if (r <= 0)
                return r;
        if (streq(p, "$")) {
                *ret = json_incref(result);
                return 0;
        }

        root = json_deep_copy(raw_input);
        if (!root)
                root = json_object();
        r = jsonpath_set(&root, p, json_incref(result));
        if (r < 0) {
                json_decref(root);
                return asl_error_set(err, "States.ResultPathMatchFailure",
                                     "Unable to apply ResultPath '%s' to the state's input", p);
        }
        *ret = root;
        return 0;
}

int payload_effective_input(json_t *state, const char *template_field, json_t *raw_input,
                            const AslRefs *refs, const AslEnv *env, json_t **ret, AslError *err) {
        _cleanup_json_ json_t *v = NULL;
        json_t *tmpl;
        int r;

        r = payload_select(raw_input, json_object_get(state, "InputPath"), "InputPath", refs, &v, err);
        if (r < 0)
                return r;

        tmpl = template_field ? json_object_get(state, template_field) : NULL;
        if (tmpl) {
                json_t *t = NULL;

                r = payload_template(tmpl, v, refs, env, &t, err);
                if (r < 0)
                        return r;
                json_decref(v);
                v = t;
        }
        *ret = TAKE_PTR(v);
        return 0;
}

int payload_state_output(json_t *state, bool use_selector, json_t *raw_input, json_t *result,
                         const AslRefs *refs, const AslEnv *env, json_t **ret, AslError *err) {
        _cleanup_json_ json_t *selected = NULL, *merged = NULL, *out = NULL;
        json_t *sel = use_selector ? json_object_get(state, "ResultSelector") : NULL;
        int r;

        if (sel) {
                r = payload_template(sel, result, refs, env, &selected, err);
                if (r < 0)
                        return r;
        } else
                selected = json_incref(result);

        r = payload_result_path(raw_input, json_object_get(state, "ResultPath"), selected, &merged, err);
        if (r < 0)
                return r;

        r = payload_select(merged, json_object_get(state, "OutputPath"), "OutputPath", refs, &out, err);
        if (r < 0)
                return r;

        r = payload_check_limits(out, env, "The state output", err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(out);
        return 0;
}
