/* SPDX-License-Identifier: MIT */
/*
 * JSONata in states: "{% %}" strings, the compiled-expression cache and
 * evaluation with $states and the workflow variables (see asl-query.h).
 *
 * The cache is an open-addressing table keyed by the address of the string
 * node in the definition: a validated definition never changes while its
 * machine lives, so the address is a stable name for the expression, and a
 * lookup costs a hash of a pointer rather than of the text.
 *
 * One JSONata session serves all expressions of one state step (Arguments,
 * Output, Assign, ...), so $states and each variable are converted from
 * jansson once. The session is made on the first expression; $states.context
 * is built only when an expression may read it (the context object is a good
 * part of a state's cost), and if a later expression of the same step needs
 * it after all, the session is made again with it.
 */

#include <stdio.h>
#include <string.h>

#include "asl-query.h"
#include "jsonata-aws.h"

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool asl_query_is_expression(const char *s, size_t len, const char **ret_expr, size_t *ret_len) {
        size_t a, b;

        if (!s || len < 4 || s[0] != '{' || s[1] != '%' || s[len - 2] != '%' || s[len - 1] != '}')
                return false;
        a = 2;
        b = len - 2;
        while (a < b && is_space(s[a]))
                a++;
        while (b > a && is_space(s[b - 1]))
                b--;
        if (ret_expr)
                *ret_expr = s + a;
        if (ret_len)
                *ret_len = b - a;
        return true;
}

/* ---- the cache ---- */

static size_t slot_of(const json_t *key, size_t cap) {
        uint64_t h = (uint64_t) (uintptr_t) key;

        h ^= h >> 33;
        h *= UINT64_C(0xff51afd7ed558ccd);
        h ^= h >> 33;
        return (size_t) h & (cap - 1);
}

static void cache_insert(AslExprCache *c, AslExpr e) {
        size_t i = slot_of(e.key, c->cap);

        while (c->slots[i].key && c->slots[i].key != e.key)
                i = (i + 1) & (c->cap - 1);
        if (c->slots[i].key) {
                /* the same string twice: keep the first */
                jsonata_expr_free(e.expr);
                free(e.text);
                return;
        }
        c->slots[i] = e;
        c->n++;
}

void asl_expr_cache_put(AslExprCache *c, AslExpr e) {
        if (!c || !e.key) {
                jsonata_expr_free(e.expr);
                free(e.text);
                return;
        }
        if (2 * (c->n + 1) > c->cap) {
                AslExprCache bigger = {.cap = c->cap ? 2 * c->cap : 16};

                bigger.slots = xmalloc(bigger.cap * sizeof(AslExpr));
                memset(bigger.slots, 0, bigger.cap * sizeof(AslExpr));
                for (size_t i = 0; i < c->cap; i++)
                        if (c->slots[i].key)
                                cache_insert(&bigger, c->slots[i]);
                free(c->slots);
                *c = bigger;
        }
        cache_insert(c, e);
}

const AslExpr *asl_expr_cache_get(const AslExprCache *c, const json_t *key) {
        size_t i;

        if (!c || !c->cap || !key)
                return NULL;
        i = slot_of(key, c->cap);
        while (c->slots[i].key) {
                if (c->slots[i].key == key)
                        return &c->slots[i];
                i = (i + 1) & (c->cap - 1);
        }
        return NULL;
}

void asl_expr_cache_clear(AslExprCache *c) {
        if (!c)
                return;
        for (size_t i = 0; i < c->cap; i++)
                if (c->slots[i].key) {
                        jsonata_expr_free(c->slots[i].expr);
                        free(c->slots[i].text);
                }
        free(c->slots);
        *c = (AslExprCache){};
}

/* ---- evaluation ---- */

const JsonataLibrary *const asl_query_libraries[] = {&jsonata_aws_library};
const size_t asl_query_n_libraries = ELEMENTSOF(asl_query_libraries);

static void random_bytes(void *userdata, void *buf, size_t n) {
        const AslEnv *env = userdata;

        env->random(env->random_userdata, buf, n);
}

static void query_session_free(AslQuery *q) {
        q->session = jsonata_session_free(q->session);
        json_decref(q->states);
        q->states = NULL;
        free(q->bindings);
        q->bindings = NULL;
        q->n_bindings = 0;
}

/* The session, with $states.context if with_context. */
static int query_session(AslQuery *q, bool with_context) {
        const char *name;
        json_t *v;
        size_t k = 0;

        if (q->session && (!with_context || json_object_get(q->states, "context")))
                return 0;
        query_session_free(q);

        q->states = json_object();
        json_object_set(q->states, "input", q->input ? q->input : json_null());
        if (q->result)
                json_object_set(q->states, "result", q->result);
        if (q->error_output)
                json_object_set(q->states, "errorOutput", q->error_output);
        if (with_context) {
                if (q->context)
                        json_object_set(q->states, "context", q->context);
                else if (q->make_context)
                        json_object_set_new(q->states, "context", q->make_context(q->userdata));
        }

        q->bindings = xmalloc((json_object_size(q->vars) + 1) * sizeof(JsonataVariable));
        q->bindings[k++] = (JsonataVariable){.name = "states", .value = q->states};
        json_object_foreach (q->vars, name, v)
                q->bindings[k++] = (JsonataVariable){.name = name, .value = v};
        q->n_bindings = k;

        q->jenv = (JsonataEnv){.now_ms = q->env ? q->env->now_ms : 0};
        if (q->env && q->env->random) {
                q->jenv.random = random_bytes;
                q->jenv.random_userdata = (void *) q->env;
        }
        q->jctx = (JsonataContext){
                .variables = q->bindings,
                .n_variables = q->n_bindings,
                .env = &q->jenv,
                .libraries = asl_query_libraries,
                .n_libraries = asl_query_n_libraries,
        };
        if (jsonata_session_new(&q->jctx, &q->session) < 0)
                return -ENOMEM;
        return 0;
}

static int query_fail(AslError *err, char **ret_location, const char *field, const char *fmt, ...)
        _printf_(4, 5);

static int query_fail(AslError *err, char **ret_location, const char *field, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        asl_error_setv(err, "States.QueryEvaluationError", fmt, ap);
        va_end(ap);
        if (ret_location)
                *ret_location = xstrdup(field);
        return -EINVAL;
}

int asl_query_eval(AslQuery *q, json_t *value, const char *field, json_t **ret, AslError *err,
                   char **ret_location) {
        const AslExpr *e;
        JsonataError jerr = {.position = -1};
        json_t *out = NULL;
        int r;

        if (!json_is_string(value) || !asl_query_json_is_expression(value)) {
                *ret = json_incref(value);
                return 0;
        }
        e = asl_expr_cache_get(q->exprs, value);
        if (!e)
                return query_fail(
                        err, ret_location, field,
                        "The JSONata expression '%s' specified for the field '%s' was not compiled",
                        json_string_value(value), field);
        r = query_session(q, e->uses_context);
        if (r < 0)
                return query_fail(err, ret_location, field,
                                  "The JSONata expression '%s' specified for the field '%s' threw an error "
                                  "during evaluation. U1002: Memory limit exceeded",
                                  e->text, field);
        r = jsonata_session_evaluate(q->session, e->expr, NULL, &out, &jerr);
        if (r < 0) {
                r = query_fail(
                        err, ret_location, field,
                        "The JSONata expression '%s' specified for the field '%s' threw an error during "
                        "evaluation. %s: %s",
                        e->text, field, jerr.code, jerr.message ? jerr.message : "");
                jsonata_error_clear(&jerr);
                return r;
        }
        if (!out)
                return query_fail(
                        err, ret_location, field,
                        "The JSONata expression '%s' specified for the field '%s' returned nothing "
                        "(undefined).",
                        e->text, field);
        *ret = out;
        return 0;
}

static int template_rec(AslQuery *q, json_t *value, const char *field, unsigned depth, json_t **ret,
                        AslError *err, char **ret_location) {
        if (depth > ASL_MAX_JSON_DEPTH)
                return query_fail(err, ret_location, field, "The field '%s' is nested too deeply", field);
        if (json_is_object(value)) {
                _cleanup_json_ json_t *out = json_object();
                const char *key;
                json_t *v;

                json_object_foreach (value, key, v) {
                        _cleanup_free_ char *f = xasprintf("%s/%s", field, key);
                        json_t *x = NULL;
                        int r = template_rec(q, v, f, depth + 1, &x, err, ret_location);

                        if (r < 0)
                                return r;
                        json_object_set_new(out, key, x);
                }
                *ret = TAKE_PTR(out);
                return 0;
        }
        if (json_is_array(value)) {
                _cleanup_json_ json_t *out = json_array();
                size_t i;
                json_t *v;

                json_array_foreach (value, i, v) {
                        _cleanup_free_ char *f = xasprintf("%s[%zu]", field, i);
                        json_t *x = NULL;
                        int r = template_rec(q, v, f, depth + 1, &x, err, ret_location);

                        if (r < 0)
                                return r;
                        json_array_append_new(out, x);
                }
                *ret = TAKE_PTR(out);
                return 0;
        }
        return asl_query_eval(q, value, field, ret, err, ret_location);
}

int asl_query_template(AslQuery *q, json_t *value, const char *field, json_t **ret, AslError *err,
                       char **ret_location) {
        return template_rec(q, value, field, 0, ret, err, ret_location);
}

void asl_query_done(AslQuery *q) {
        if (!q)
                return;
        query_session_free(q);
}
