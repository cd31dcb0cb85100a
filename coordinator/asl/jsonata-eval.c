/* SPDX-License-Identifier: MIT */
/*
 * JSONata evaluator: a tree walk that follows the reference implementation
 * (jsonata.js) step for step, so that its sequence rules come out the same:
 * a path maps each step over the input sequence and flattens one level
 * (except arrays built by a constructor, "cons"), a sequence of one item is
 * that item (unless a [] asked to keep it), and an empty one is undefined.
 * Steps that bind the focus (@$v), the index (#$v) or an ancestor (%) make
 * the path a "tuple stream": each item carries its bindings along.
 *
 * Functions are values (JnFunction): natives from the library tables,
 * lambdas (closures over the frame they were made in), partial
 * applications, regexes, transforms and f ~> g chains. A call in tail
 * position of a lambda evaluates to a thunk that jn_apply() runs in a loop
 * (the reference's trampoline), so tail recursion does not grow the stack.
 *
 * Limits: every jn_eval() counts one step against max_steps and one level of
 * nesting against max_depth (as the reference's depth counter does, so the
 * test suite's "depth" means the same here); both are U1001. Memory is the
 * arena's limit (U1002). Errors longjmp to jsonata_evaluate().
 */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "jsonata-internal.h"

/* ------------------------------------------------------------------------ */
/* Frames */

JnFrame *jn_frame_new(JnEval *ev, JnFrame *parent) {
        JnFrame *f = jn_alloc(ev, sizeof(JnFrame));
        *f = (JnFrame){.parent = parent};
        return f;
}

void jn_frame_bind(JnEval *ev, JnFrame *f, const char *name, JnValue *v) {
        for (size_t i = 0; i < f->n; i++)
                if (strcmp(f->b[i].name, name) == 0) {
                        f->b[i].value = v;
                        return;
                }
        if (f->n == f->cap) {
                size_t cap = f->cap ? f->cap * 2 : 4;
                JnBinding *nb = jn_alloc(ev, cap * sizeof(JnBinding));
                if (f->n)
                        memcpy(nb, f->b, f->n * sizeof(JnBinding));
                f->b = nb;
                f->cap = cap;
        }
        f->b[f->n++] = (JnBinding){.name = name, .value = v};
}

static JnValue *native_value(JnEval *ev, const JnNative *nat) {
        JnValue *v = jn_function(ev, JN_FN_NATIVE);
        v->fn->native = nat;
        v->fn->sig = jn_native_signature(ev, nat);
        return v;
}

JnValue *jn_frame_lookup(JnEval *ev, JnFrame *f, const char *name, bool *found) {
        for (; f; f = f->parent)
                for (size_t i = f->n; i > 0; i--)
                        if (strcmp(f->b[i - 1].name, name) == 0) {
                                if (found)
                                        *found = true;
                                return f->b[i - 1].value;
                        }
        /* the caller's variables, then the function libraries; cached in the root */
        const JsonataContext *ctx = ev->ctx;
        for (size_t i = 0; ctx && i < ctx->n_variables; i++)
                if (strcmp(ctx->variables[i].name, name) == 0) {
                        JnValue *v = jn_from_json(ev, ctx->variables[i].value);
                        jn_frame_bind(ev, ev->root, ctx->variables[i].name, v);
                        if (found)
                                *found = true;
                        return v;
                }
        for (size_t i = 0; i <= ev->n_libraries; i++) {
                const JsonataLibrary *lib = i < ev->n_libraries ? ev->libraries[i] : &jn_std_library;
                const JnNative *nat = jn_library_find(lib, name);
                if (nat) {
                        JnValue *v = native_value(ev, nat);
                        jn_frame_bind(ev, ev->root, nat->name, v);
                        if (found)
                                *found = true;
                        return v;
                }
        }
        if (found)
                *found = false;
        return NULL;
}

static JnFrame *frame_from_tuple(JnEval *ev, JnFrame *parent, JnValue *tuple) {
        JnFrame *f = jn_frame_new(ev, parent);
        for (size_t i = 0; i < tuple->obj->n; i++)
                jn_frame_bind(ev, f, tuple->obj->keys[i], tuple->obj->vals[i]);
        return f;
}

/* ------------------------------------------------------------------------ */
/* Sequences */

static JnValue *seq_of(JnEval *ev, JnValue *v) {
        JnValue *s = jn_sequence(ev);
        if (v)
                jn_array_push(ev, s, v);
        return s;
}

static JnValue *tuple_get(JnValue *tuple, const char *k) {
        return jn_object_get(tuple, k, strlen(k));
}

static JnValue *tuple_copy(JnEval *ev, JnValue *t) {
        JnValue *o = jn_object(ev);
        for (size_t i = 0; i < t->obj->n; i++)
                jn_object_set(ev, o, t->obj->keys[i], t->obj->klens[i], t->obj->vals[i]);
        return o;
}

static void tuple_set(JnEval *ev, JnValue *t, const char *k, JnValue *v) {
        jn_object_set(ev, t, k, strlen(k), v);
}

/* ------------------------------------------------------------------------ */
/* Forward declarations */

static JnValue *eval_group(JnEval *ev, const JnNode *g, JnValue *input, JnFrame *frame);
static JnValue *eval_sort(JnEval *ev, const JnNode *n, JnValue *input, JnFrame *frame);

static bool is_integer(double d) {
        return isfinite(d) && d == floor(d);
}

/* ------------------------------------------------------------------------ */
/* Filters and stages */

static JnValue *eval_filter(JnEval *ev, const JnNode *pred, JnValue *input, JnFrame *frame) {
        JnValue *results = jn_sequence(ev);
        bool tuples = input && jn_is_array(input) && (input->flags & JN_TUPLE_STREAM);

        if (tuples)
                results->flags |= JN_TUPLE_STREAM;
        if (!jn_is_array(input))
                input = seq_of(ev, input);
        if (pred->type == N_NUMBER) {
                double idx = floor(pred->num);
                if (idx < 0)
                        idx += (double) input->arr.n;
                if (idx >= 0 && idx < (double) input->arr.n) {
                        JnValue *item = input->arr.items[(size_t) idx];
                        if (jn_is_array(item))
                                return item;
                        jn_array_push(ev, results, item);
                }
                return results;
        }
        for (size_t i = 0; i < input->arr.n; i++) {
                JnValue *item = input->arr.items[i], *context = item;
                JnFrame *env = frame;
                if (tuples) {
                        context = tuple_get(item, "@");
                        env = frame_from_tuple(ev, frame, item);
                }
                JnValue *res = jn_eval(ev, pred, context, env);
                if (jn_is_number(res))
                        res = seq_of(ev, res);
                bool all_numbers = jn_is_array(res) && res->arr.n > 0;
                for (size_t k = 0; all_numbers && k < res->arr.n; k++)
                        if (!jn_is_number(res->arr.items[k]))
                                all_numbers = false;
                if (all_numbers) {
                        for (size_t k = 0; k < res->arr.n; k++) {
                                double ii = floor(res->arr.items[k]->num);
                                if (ii < 0)
                                        ii += (double) input->arr.n;
                                if (ii == (double) i)
                                        jn_array_push(ev, results, item);
                        }
                } else if (jn_boolean(res) == 1)
                        jn_array_push(ev, results, item);
        }
        return results;
}

static JnValue *eval_stages(JnEval *ev, const JnNode *step, JnValue *input, JnFrame *frame) {
        JnValue *result = input;
        for (size_t s = 0; s < step->n_stages; s++) {
                const JnStage *st = &step->stages[s];
                if (!st->is_index)
                        result = eval_filter(ev, st->expr, result, frame);
                else
                        for (size_t i = 0; jn_is_array(result) && i < result->arr.n; i++)
                                tuple_set(ev, result->arr.items[i], st->var, jn_number(ev, (double) i));
        }
        return result;
}

/* ------------------------------------------------------------------------ */
/* Paths */

static JnValue *eval_step(JnEval *ev, const JnNode *step, JnValue *input, JnFrame *frame, bool last) {
        if (step->type == N_SORT) {
                JnValue *r = eval_sort(ev, step, input, frame);
                return eval_stages(ev, step, r, frame);
        }
        JnValue *result = jn_sequence(ev);
        for (size_t i = 0; i < input->arr.n; i++) {
                JnValue *res = jn_eval(ev, step, input->arr.items[i], frame);
                for (size_t s = 0; s < step->n_stages; s++)
                        res = eval_filter(ev, step->stages[s].expr, res, frame);
                if (res)
                        jn_array_push(ev, result, res);
        }
        if (last && result->arr.n == 1 && jn_is_array(result->arr.items[0]) &&
            !jn_is_sequence(result->arr.items[0]))
                return result->arr.items[0];
        JnValue *seq = jn_sequence(ev);
        for (size_t i = 0; i < result->arr.n; i++) {
                JnValue *res = result->arr.items[i];
                if (!jn_is_array(res) || (res->flags & JN_CONS))
                        jn_array_push(ev, seq, res);
                else
                        for (size_t k = 0; k < res->arr.n; k++)
                                jn_array_push(ev, seq, res->arr.items[k]);
        }
        return seq;
}

static JnValue *eval_tuple_step(JnEval *ev, const JnNode *step, JnValue *input, JnValue *tuples,
                                JnFrame *frame) {
        JnValue *result;

        if (step->type == N_SORT) {
                if (tuples)
                        result = eval_sort(ev, step, tuples, frame);
                else {
                        JnValue *sorted = eval_sort(ev, step, input, frame);
                        result = jn_sequence(ev);
                        result->flags |= JN_TUPLE_STREAM;
                        for (size_t i = 0; jn_is_array(sorted) && i < sorted->arr.n; i++) {
                                JnValue *t = jn_object(ev);
                                tuple_set(ev, t, "@", sorted->arr.items[i]);
                                if (step->index)
                                        tuple_set(ev, t, step->index, jn_number(ev, (double) i));
                                jn_array_push(ev, result, t);
                        }
                }
                result->flags |= JN_TUPLE_STREAM;
                return eval_stages(ev, step, result, frame);
        }
        result = jn_sequence(ev);
        result->flags |= JN_TUPLE_STREAM;
        if (!tuples) {
                tuples = jn_sequence(ev);
                for (size_t i = 0; i < input->arr.n; i++) {
                        JnValue *t = jn_object(ev);
                        tuple_set(ev, t, "@", input->arr.items[i]);
                        jn_array_push(ev, tuples, t);
                }
        }
        for (size_t e = 0; e < tuples->arr.n; e++) {
                JnValue *tb = tuples->arr.items[e];
                JnFrame *env = frame_from_tuple(ev, frame, tb);
                JnValue *res = jn_eval(ev, step, tuple_get(tb, "@"), env);
                if (!res)
                        continue;
                if (!jn_is_array(res))
                        res = seq_of(ev, res);
                for (size_t b = 0; b < res->arr.n; b++) {
                        JnValue *t = tuple_copy(ev, tb);
                        if (res->flags & JN_TUPLE_STREAM) {
                                JnValue *rt = res->arr.items[b];
                                for (size_t k = 0; k < rt->obj->n; k++)
                                        jn_object_set(ev, t, rt->obj->keys[k], rt->obj->klens[k],
                                                      rt->obj->vals[k]);
                        } else {
                                if (step->focus) {
                                        tuple_set(ev, t, step->focus, res->arr.items[b]);
                                        tuple_set(ev, t, "@", tuple_get(tb, "@"));
                                } else
                                        tuple_set(ev, t, "@", res->arr.items[b]);
                                if (step->index)
                                        tuple_set(ev, t, step->index, jn_number(ev, (double) b));
                                if (step->ancestor)
                                        tuple_set(ev, t, step->ancestor->label, tuple_get(tb, "@"));
                        }
                        jn_array_push(ev, result, t);
                }
        }
        return eval_stages(ev, step, result, frame);
}

static JnValue *eval_path(JnEval *ev, const JnNode *n, JnValue *input, JnFrame *frame) {
        JnValue *in_seq, *result = NULL, *tuples = NULL;
        bool tuple_stream = false;

        if (jn_is_array(input) && n->list.items[0]->type != N_VARIABLE)
                in_seq = input;
        else {
                /* the reference's createSequence(undefined) holds one undefined */
                in_seq = jn_sequence(ev);
                jn_array_push(ev, in_seq, input);
        }
        for (size_t i = 0; i < n->list.n; i++) {
                const JnNode *step = n->list.items[i];
                if (step->tuple)
                        tuple_stream = true;
                if (i == 0 && step->consarray)
                        result = jn_eval(ev, step, in_seq, frame);
                else if (tuple_stream)
                        tuples = eval_tuple_step(ev, step, in_seq, tuples, frame);
                else
                        result = eval_step(ev, step, in_seq, frame, i == n->list.n - 1);
                if (!tuple_stream && (!result || (jn_is_array(result) && result->arr.n == 0)))
                        break;
                if (!step->focus)
                        in_seq = result;
        }
        if (tuple_stream) {
                if (n->tuple)
                        result = tuples;
                else {
                        result = jn_sequence(ev);
                        for (size_t i = 0; tuples && i < tuples->arr.n; i++) {
                                JnValue *v = tuple_get(tuples->arr.items[i], "@");
                                if (v)
                                        jn_array_push(ev, result, v);
                        }
                }
        }
        if (n->keep_singleton && result) {
                if (jn_is_array(result) && (result->flags & JN_CONS) && !jn_is_sequence(result))
                        result = seq_of(ev, result);
                if (jn_is_sequence(result)) /* a plain array may be a variable's: never written */
                        result->flags |= JN_KEEP_SINGLETON;
        }
        if (n->group)
                result = eval_group(ev, n->group, tuple_stream ? tuples : result, frame);
        return result;
}

/* ------------------------------------------------------------------------ */
/* Names, wildcards, descendants */

static JnValue *lookup(JnEval *ev, JnValue *input, const char *key, size_t klen) {
        if (jn_is_array(input)) {
                JnValue *result = jn_sequence(ev);
                for (size_t i = 0; i < input->arr.n; i++) {
                        JnValue *res = lookup(ev, input->arr.items[i], key, klen);
                        if (!res)
                                continue;
                        if (jn_is_array(res))
                                for (size_t k = 0; k < res->arr.n; k++)
                                        jn_array_push(ev, result, res->arr.items[k]);
                        else
                                jn_array_push(ev, result, res);
                }
                return result;
        }
        if (jn_is_object(input))
                return jn_object_get(input, key, klen);
        return NULL;
}

JnValue *jn_lookup(JnEval *ev, JnValue *input, const char *key, size_t klen) {
        return lookup(ev, input, key, klen);
}

static void flatten_into(JnEval *ev, JnValue *v, JnValue *into, size_t depth) {
        jn_check_depth(ev, depth);
        if (jn_is_array(v))
                for (size_t i = 0; i < v->arr.n; i++)
                        flatten_into(ev, v->arr.items[i], into, depth + 1);
        else
                jn_array_push(ev, into, v);
}

JnValue *jn_flatten(JnEval *ev, JnValue *v, JnValue *into) {
        if (!into)
                into = jn_array(ev, 0);
        flatten_into(ev, v, into, 1);
        return into;
}

static JnValue *eval_wildcard(JnEval *ev, JnValue *input) {
        JnValue *results = jn_sequence(ev);
        if (jn_is_array(input) && (input->flags & JN_OUTER_WRAPPER) && input->arr.n > 0)
                input = input->arr.items[0];
        if (jn_is_array(input)) /* an array's "keys" are its indexes */
                for (size_t i = 0; i < input->arr.n; i++) {
                        JnValue *v = input->arr.items[i];
                        if (jn_is_array(v))
                                results = jn_append(ev, results, jn_flatten(ev, v, NULL));
                        else
                                jn_array_push(ev, results, v);
                }
        else if (jn_is_object(input))
                for (size_t i = 0; i < input->obj->n; i++) {
                        JnValue *v = input->obj->vals[i];
                        if (jn_is_array(v))
                                results = jn_append(ev, results, jn_flatten(ev, v, NULL));
                        else
                                jn_array_push(ev, results, v);
                }
        return results;
}

static void descendants(JnEval *ev, JnValue *input, JnValue *results, size_t depth) {
        jn_step(ev, 1);
        jn_check_depth(ev, depth);
        if (!jn_is_array(input))
                jn_array_push(ev, results, input);
        if (jn_is_array(input))
                for (size_t i = 0; i < input->arr.n; i++)
                        descendants(ev, input->arr.items[i], results, depth + 1);
        else if (jn_is_object(input))
                for (size_t i = 0; i < input->obj->n; i++)
                        descendants(ev, input->obj->vals[i], results, depth + 1);
}

static JnValue *eval_descendants(JnEval *ev, JnValue *input) {
        if (!input)
                return NULL;
        JnValue *results = jn_sequence(ev);
        descendants(ev, input, results, 1);
        return results->arr.n == 1 ? results->arr.items[0] : results;
}

/* ------------------------------------------------------------------------ */
/* Operators */

static const char *op_text(JnBinOp op) {
        static const char *const t[] = {"+",  "-", "*",  "/", "%",   "=",  "!=", "<",
                                        "<=", ">", ">=", "&", "and", "or", "in", ".."};
        return t[op];
}

static JnValue *string_of(JnEval *ev, JnValue *v) {
        if (!v)
                return jn_string_nocopy(ev, "", 0);
        if (v->type == JN_STRING)
                return v;
        if (v->type == JN_FUNCTION)
                return jn_string_nocopy(ev, "", 0);
        if (v->type == JN_NUMBER && !isfinite(v->num))
                jn_throw_code(ev, "D3001", NULL, v);
        return jn_stringify(ev, v, false);
}

static JnValue *eval_binary(JnEval *ev, const JnNode *n, JnValue *input, JnFrame *frame) {
        JnValue *lhs = jn_eval(ev, n->lhs, input, frame), *rhs;
        const char *tok = op_text(n->op);

        if (n->op == OP_AND || n->op == OP_OR) {
                bool l = jn_boolean(lhs) == 1;
                if (n->op == OP_AND && !l)
                        return jn_bool(false);
                if (n->op == OP_OR && l)
                        return jn_bool(true);
                return jn_bool(jn_boolean(jn_eval(ev, n->rhs, input, frame)) == 1);
        }
        rhs = jn_eval(ev, n->rhs, input, frame);
        ev->current = n;
        switch (n->op) {
        case OP_ADD:
        case OP_SUB:
        case OP_MUL:
        case OP_DIV:
        case OP_MOD: {
                if (lhs && !jn_is_number(lhs))
                        jn_throw_code(ev, "T2001", tok, lhs);
                if (rhs && !jn_is_number(rhs))
                        jn_throw_code(ev, "T2002", tok, rhs);
                if (!lhs || !rhs)
                        return NULL;
                /* the reference's isNumeric() refuses infinities */
                if (!isfinite(lhs->num) && !isnan(lhs->num))
                        jn_throw_code(ev, "D1001", tok, lhs);
                if (!isfinite(rhs->num) && !isnan(rhs->num))
                        jn_throw_code(ev, "D1001", tok, rhs);
                double a = lhs->num, b = rhs->num, r = 0;
                switch (n->op) {
                case OP_ADD:
                        r = a + b;
                        break;
                case OP_SUB:
                        r = a - b;
                        break;
                case OP_MUL:
                        r = a * b;
                        break;
                case OP_DIV:
                        r = a / b;
                        break;
                default:
                        r = fmod(a, b);
                        break;
                }
                return jn_number(ev, r);
        }
        case OP_EQ:
        case OP_NE:
                if (!lhs || !rhs)
                        return jn_bool(false);
                return jn_bool(jn_deep_equal(ev, lhs, rhs) == (n->op == OP_EQ));
        case OP_LT:
        case OP_LE:
        case OP_GT:
        case OP_GE: {
                bool lc = !lhs || lhs->type == JN_STRING || lhs->type == JN_NUMBER;
                bool rc = !rhs || rhs->type == JN_STRING || rhs->type == JN_NUMBER;
                if (!lc || !rc)
                        jn_throw_code(ev, "T2010", tok, !lc ? lhs : rhs);
                if (!lhs || !rhs)
                        return NULL;
                if (lhs->type != rhs->type)
                        jn_throw_code2(ev, "T2009", tok, lhs, rhs);
                int c;
                if (lhs->type == JN_NUMBER)
                        c = lhs->num < rhs->num ? -1 : lhs->num > rhs->num ? 1 : 0;
                else {
                        size_t m = lhs->str.len < rhs->str.len ? lhs->str.len : rhs->str.len;
                        c = memcmp(lhs->str.s, rhs->str.s, m);
                        if (c == 0)
                                c = lhs->str.len < rhs->str.len ? -1 : lhs->str.len > rhs->str.len ? 1 : 0;
                }
                if (lhs->type == JN_NUMBER && (isnan(lhs->num) || isnan(rhs->num)))
                        return jn_bool(false);
                switch (n->op) {
                case OP_LT:
                        return jn_bool(c < 0);
                case OP_LE:
                        return jn_bool(c <= 0);
                case OP_GT:
                        return jn_bool(c > 0);
                default:
                        return jn_bool(c >= 0);
                }
        }
        case OP_CONCAT: {
                JnValue *l = string_of(ev, lhs), *r = string_of(ev, rhs);
                char *s = jn_alloc(ev, l->str.len + r->str.len + 1);
                memcpy(s, l->str.s, l->str.len);
                memcpy(s + l->str.len, r->str.s, r->str.len);
                s[l->str.len + r->str.len] = 0;
                return jn_string_nocopy(ev, s, l->str.len + r->str.len);
        }
        case OP_IN:
                if (!lhs || !rhs)
                        return jn_bool(false);
                if (!jn_is_array(rhs))
                        rhs = seq_of(ev, rhs);
                for (size_t i = 0; i < rhs->arr.n; i++) {
                        JnValue *x = rhs->arr.items[i];
                        if (x && x->type == lhs->type && x->type != JN_ARRAY && x->type != JN_OBJECT &&
                            jn_deep_equal(ev, x, lhs))
                                return jn_bool(true);
                        if (x == lhs)
                                return jn_bool(true);
                }
                return jn_bool(false);
        case OP_RANGE: {
                if (lhs && (!jn_is_number(lhs) || !is_integer(lhs->num)))
                        jn_throw_code(ev, "T2003", tok, lhs);
                if (rhs && (!jn_is_number(rhs) || !is_integer(rhs->num)))
                        jn_throw_code(ev, "T2004", tok, rhs);
                if (!lhs || !rhs || lhs->num > rhs->num)
                        return NULL;
                double size = rhs->num - lhs->num + 1;
                if (size > 1e7)
                        jn_throw_code(ev, "D2014", tok, jn_number(ev, size));
                JnValue *r = jn_array(ev, (size_t) size);
                r->flags = JN_SEQUENCE;
                jn_step(ev, (uint64_t) size / 16);
                for (size_t i = 0; i < (size_t) size; i++)
                        r->arr.items[i] = jn_number(ev, lhs->num + (double) i);
                r->arr.n = (size_t) size;
                return r;
        }
        default:
                break;
        }
        return NULL;
}

/* ------------------------------------------------------------------------ */
/* Constructors */

static JnValue *eval_array(JnEval *ev, const JnNode *n, JnValue *input, JnFrame *frame) {
        JnValue *result = jn_array(ev, n->list.n);
        for (size_t i = 0; i < n->list.n; i++) {
                const JnNode *item = n->list.items[i];
                JnValue *v = jn_eval(ev, item, input, frame);
                if (!v)
                        continue;
                if (item->type == N_ARRAY)
                        jn_array_push(ev, result, v);
                else
                        result = jn_append(ev, result, v);
        }
        if (n->consarray)
                result->flags |= JN_CONS;
        return result;
}

static JnValue *reduce_tuple_stream(JnEval *ev, JnValue *ts) {
        if (!jn_is_array(ts))
                return ts;
        JnValue *result = tuple_copy(ev, ts->arr.items[0]);
        for (size_t i = 1; i < ts->arr.n; i++) {
                JnValue *t = ts->arr.items[i];
                for (size_t k = 0; k < t->obj->n; k++) {
                        JnValue *cur = jn_object_get(result, t->obj->keys[k], t->obj->klens[k]);
                        jn_object_set(ev, result, t->obj->keys[k], t->obj->klens[k],
                                      jn_append(ev, cur, t->obj->vals[k]));
                }
        }
        return result;
}

static JnValue *eval_group(JnEval *ev, const JnNode *g, JnValue *input, JnFrame *frame) {
        JnValue *result = jn_object(ev);
        bool reduce = jn_is_array(input) && (input->flags & JN_TUPLE_STREAM);
        /* groups: key -> (data, expr index), kept in an object of arrays [data, index] */
        JnValue *groups = jn_object(ev);
        JnValue **gdata;
        size_t *gexpr;
        size_t ng = 0, cap = 8;

        gdata = jn_alloc(ev, cap * sizeof(JnValue *));
        gexpr = jn_alloc(ev, cap * sizeof(size_t));
        if (!jn_is_array(input))
                input = seq_of(ev, input);
        size_t n_items = input->arr.n ? input->arr.n : 1;
        for (size_t i = 0; i < n_items; i++) {
                JnValue *item = input->arr.n ? input->arr.items[i] : NULL;
                bool rt = reduce && item;
                JnFrame *env = rt ? frame_from_tuple(ev, frame, item) : frame;
                for (size_t p = 0; p < g->n_pairs; p++) {
                        JnValue *key = jn_eval(ev, g->pairs[2 * p], rt ? tuple_get(item, "@") : item, env);
                        if (key && key->type != JN_STRING) {
                                ev->current = g;
                                jn_throw_code(ev, "T1003", NULL, key);
                        }
                        if (!key)
                                continue;
                        JnValue *slot = jn_object_get(groups, key->str.s, key->str.len);
                        if (slot) {
                                size_t gi = (size_t) slot->num;
                                if (gexpr[gi] != p) {
                                        ev->current = g;
                                        jn_throw_code(ev, "D1009", NULL, key);
                                }
                                gdata[gi] = jn_append(ev, gdata[gi], item);
                        } else {
                                if (ng == cap) {
                                        JnValue **nd = jn_alloc(ev, cap * 2 * sizeof(JnValue *));
                                        size_t *ne = jn_alloc(ev, cap * 2 * sizeof(size_t));
                                        memcpy(nd, gdata, ng * sizeof(JnValue *));
                                        memcpy(ne, gexpr, ng * sizeof(size_t));
                                        gdata = nd;
                                        gexpr = ne;
                                        cap *= 2;
                                }
                                gdata[ng] = item;
                                gexpr[ng] = p;
                                jn_object_set(ev, groups, key->str.s, key->str.len,
                                              jn_number(ev, (double) ng));
                                ng++;
                        }
                }
        }
        for (size_t i = 0; i < groups->obj->n; i++) {
                size_t gi = (size_t) groups->obj->vals[i]->num;
                JnValue *context = gdata[gi];
                JnFrame *env = frame;
                if (reduce && gdata[gi]) {
                        JnValue *tuple = reduce_tuple_stream(ev, gdata[gi]);
                        context = tuple_get(tuple, "@");
                        jn_object_del(tuple, "@", 1);
                        env = frame_from_tuple(ev, frame, tuple);
                }
                JnValue *v = jn_eval(ev, g->pairs[2 * gexpr[gi] + 1], context, env);
                if (v)
                        jn_object_set(ev, result, groups->obj->keys[i], groups->obj->klens[i], v);
        }
        return result;
}

/* ------------------------------------------------------------------------ */
/* Sorting: the reference's stable merge sort, "swap when the comparator
 * says so" */

typedef struct SortCtx {
        JnEval *ev;
        const JnNode *node; /* order-by, or NULL */
        JnValue *fn;        /* $sort's comparator, or NULL */
        bool tuples;
        JnFrame *frame;
        bool natural; /* $sort without a function */
} SortCtx;

static bool sort_swap(SortCtx *sc, JnValue *a, JnValue *b) {
        JnEval *ev = sc->ev;

        jn_step(ev, 1);
        if (sc->fn) {
                JnValue *args[2] = {a, b};
                return jn_boolean(jn_apply(ev, sc->fn, args, 2, NULL)) == 1;
        }
        if (sc->natural) {
                if (a->type == JN_NUMBER)
                        return a->num > b->num;
                size_t m = a->str.len < b->str.len ? a->str.len : b->str.len;
                int c = memcmp(a->str.s, b->str.s, m);
                return c > 0 || (c == 0 && a->str.len > b->str.len);
        }
        int comp = 0;
        for (size_t t = 0; comp == 0 && t < sc->node->n_terms; t++) {
                const JnSortTerm *term = &sc->node->terms[t];
                JnValue *ca = a, *cb = b;
                JnFrame *ea = sc->frame, *eb = sc->frame;
                if (sc->tuples) {
                        ca = tuple_get(a, "@");
                        cb = tuple_get(b, "@");
                        ea = frame_from_tuple(ev, sc->frame, a);
                        eb = frame_from_tuple(ev, sc->frame, b);
                }
                JnValue *aa = jn_eval(ev, term->expr, ca, ea), *bb = jn_eval(ev, term->expr, cb, eb);
                if (!aa) {
                        comp = bb ? 1 : 0;
                        continue;
                }
                if (!bb) {
                        comp = -1;
                        continue;
                }
                bool aok = aa->type == JN_STRING || aa->type == JN_NUMBER;
                bool bok = bb->type == JN_STRING || bb->type == JN_NUMBER;
                ev->current = sc->node;
                if (!aok || !bok)
                        jn_throw_code(ev, "T2008", NULL, !aok ? aa : bb);
                if (aa->type != bb->type)
                        jn_throw_code2(ev, "T2007", NULL, aa, bb);
                if (aa->type == JN_NUMBER)
                        comp = aa->num == bb->num ? 0 : aa->num < bb->num ? -1 : 1;
                else {
                        size_t m = aa->str.len < bb->str.len ? aa->str.len : bb->str.len;
                        int c = memcmp(aa->str.s, bb->str.s, m);
                        if (c == 0)
                                c = aa->str.len < bb->str.len ? -1 : aa->str.len > bb->str.len ? 1 : 0;
                        comp = c < 0 ? -1 : c > 0 ? 1 : 0;
                }
                if (term->descending)
                        comp = -comp;
        }
        return comp == 1;
}

static void msort(SortCtx *sc, JnValue **items, JnValue **tmp, size_t n) {
        if (n <= 1)
                return;
        size_t mid = n / 2;
        msort(sc, items, tmp, mid);
        msort(sc, items + mid, tmp, n - mid);
        size_t i = 0, j = mid, k = 0;
        while (i < mid && j < n) {
                if (sort_swap(sc, items[i], items[j]))
                        tmp[k++] = items[j++];
                else
                        tmp[k++] = items[i++];
        }
        while (i < mid)
                tmp[k++] = items[i++];
        while (j < n)
                tmp[k++] = items[j++];
        memcpy(items, tmp, n * sizeof(JnValue *));
}

JnValue *jn_sort(JnEval *ev, JnValue *arr, JnValue *fn, bool natural) {
        if (arr->arr.n <= 1)
                return arr;
        SortCtx sc = {.ev = ev, .fn = fn, .natural = natural};
        JnValue *r = jn_array(ev, arr->arr.n);
        JnValue **tmp = jn_alloc(ev, arr->arr.n * sizeof(JnValue *));
        memcpy(r->arr.items, arr->arr.items, arr->arr.n * sizeof(JnValue *));
        r->arr.n = arr->arr.n;
        msort(&sc, r->arr.items, tmp, r->arr.n);
        return r;
}

static JnValue *eval_sort(JnEval *ev, const JnNode *n, JnValue *input, JnFrame *frame) {
        if (!jn_is_array(input) || input->arr.n <= 1)
                return input;
        SortCtx sc = {
                .ev = ev,
                .node = n,
                .frame = frame,
                .tuples = (input->flags & JN_TUPLE_STREAM) != 0,
        };
        JnValue *r = jn_array(ev, input->arr.n);
        JnValue **tmp = jn_alloc(ev, input->arr.n * sizeof(JnValue *));
        memcpy(r->arr.items, input->arr.items, input->arr.n * sizeof(JnValue *));
        r->arr.n = input->arr.n;
        msort(&sc, r->arr.items, tmp, r->arr.n);
        r->flags = input->flags & JN_TUPLE_STREAM;
        return r;
}

/* ------------------------------------------------------------------------ */
/* Functions */

int jn_function_arity(const JnValue *fv) {
        const JnFunction *f = fv->fn;
        switch (f->kind) {
        case JN_FN_NATIVE:
                return f->native->arity;
        case JN_FN_LAMBDA:
                return (int) f->node->list.n;
        case JN_FN_PARTIAL: {
                int holes = 0;
                for (size_t i = 0; i < f->n_bound; i++)
                        holes += f->is_hole[i];
                return holes;
        }
        case JN_FN_REGEX:
                return 2;
        default:
                return 1;
        }
}

static JnValue *apply_inner(JnEval *ev, JnValue *fn, JnValue **args, size_t n, JnValue *focus,
                            const char *name);

static JnValue *apply_lambda(JnEval *ev, JnValue *fn, JnValue **args, size_t n) {
        const JnFunction *f = fn->fn;
        JnFrame *env = jn_frame_new(ev, f->frame);
        const JnNodeList *params = &f->node->list;
        for (size_t i = 0; i < params->n; i++)
                jn_frame_bind(ev, env, params->items[i]->value, i < n ? args[i] : NULL);
        return jn_eval(ev, f->node->body, f->input, env);
}

static JnValue *transform_call(JnEval *ev, JnValue *fn, JnValue *obj);

static JnValue *apply_inner(JnEval *ev, JnValue *fn, JnValue **args, size_t n, JnValue *focus,
                            const char *name) {
        if (!jn_is_function(fn))
                jn_throw_code(ev, "T1006", name, NULL);
        JnFunction *f = fn->fn;
        switch (f->kind) {
        case JN_FN_NATIVE:
                if (f->sig)
                        args = jn_signature_validate(ev, f->sig, args, &n, focus, f->native->name);
                return f->native->fn(ev, args, n, focus);
        case JN_FN_LAMBDA:
                if (f->node->sig)
                        args = jn_signature_validate(ev, f->node->sig, args, &n, focus, name);
                return apply_lambda(ev, fn, args, n);
        case JN_FN_PARTIAL: {
                /* a partial of a partial of ... (built in a loop) nests the C stack */
                JnValue **full = jn_alloc(ev, (f->n_bound + n + 1) * sizeof(JnValue *));
                size_t k = 0, m = 0;
                for (size_t i = 0; i < f->n_bound; i++)
                        full[m++] = f->is_hole[i] ? (k < n ? args[k++] : NULL) : f->bound[i];
                jn_check_depth(ev, ++ev->fn_nesting);
                JnValue *r = apply_inner(ev, f->target, full, m, focus, name);
                ev->fn_nesting--;
                return r;
        }
        case JN_FN_REGEX:
                return jn_regex_call(ev, fn, n > 0 ? args[0] : NULL);
        case JN_FN_TRANSFORM:
                return transform_call(ev, fn, n > 0 ? args[0] : NULL);
        case JN_FN_CHAIN: {
                jn_check_depth(ev, ++ev->fn_nesting);
                JnValue *mid = jn_apply(ev, f->target, args, n, focus);
                JnValue *r = jn_apply(ev, f->second, &mid, 1, focus);
                ev->fn_nesting--;
                return r;
        }
        }
        return NULL;
}

static JnValue *apply_named(JnEval *ev, JnValue *fn, JnValue **args, size_t n, JnValue *focus,
                            const char *name) {
        JnValue *result = apply_inner(ev, fn, args, n, focus, name);
        while (jn_is_function(result) && result->fn->kind == JN_FN_LAMBDA && result->fn->thunk) {
                const JnNode *call = result->fn->node->body;
                JnValue *tin = result->fn->input;
                JnFrame *tenv = result->fn->frame;
                JnValue *next = jn_eval(ev, call->procedure, tin, tenv);
                JnValue **targs = jn_alloc(ev, (call->list.n + 1) * sizeof(JnValue *));
                for (size_t i = 0; i < call->list.n; i++)
                        targs[i] = jn_eval(ev, call->list.items[i], tin, tenv);
                ev->current = call;
                const char *pname = call->procedure->type == N_VARIABLE ? call->procedure->value : NULL;
                result = apply_inner(ev, next, targs, call->list.n, focus, pname);
        }
        return result;
}

JnValue *jn_apply(JnEval *ev, JnValue *fn, JnValue **args, size_t n, JnValue *focus) {
        return apply_named(ev, fn, args, n, focus, NULL);
}

JnValue *jn_apply_hof(JnEval *ev, JnValue *fn, JnValue *v, JnValue *index, JnValue *arr) {
        JnValue *args[3] = {v, index, arr};
        int arity = jn_function_arity(fn);
        size_t n = arity >= 3 ? 3 : arity == 2 ? 2 : 1;
        return jn_apply(ev, fn, args, n, NULL);
}

static const char *procedure_name(const JnNode *proc) {
        if (proc->type == N_PATH && proc->list.items[0]->type == N_NAME)
                return proc->list.items[0]->value;
        if (proc->type == N_VARIABLE)
                return proc->value;
        return NULL;
}

static JnValue *eval_function(JnEval *ev, const JnNode *n, JnValue *input, JnFrame *frame, JnValue *applyto,
                              bool has_applyto) {
        JnValue *proc = jn_eval(ev, n->procedure, input, frame);
        const char *pname = procedure_name(n->procedure);

        if (!proc && n->procedure->type == N_PATH && pname) {
                bool found = false;
                jn_frame_lookup(ev, frame, pname, &found);
                if (found) {
                        ev->current = n;
                        jn_throw_code(ev, "T1005", pname, NULL);
                }
        }
        size_t nargs = n->list.n + (has_applyto ? 1 : 0), k = 0;
        JnValue **args = jn_alloc(ev, (nargs + 1) * sizeof(JnValue *));
        if (has_applyto)
                args[k++] = applyto;
        for (size_t i = 0; i < n->list.n; i++)
                args[k++] = jn_eval(ev, n->list.items[i], input, frame);
        ev->current = n;
        return apply_named(ev, proc, args, nargs, input, pname);
}

static JnValue *eval_partial(JnEval *ev, const JnNode *n, JnValue *input, JnFrame *frame) {
        size_t na = n->list.n;
        JnValue **bound = jn_alloc(ev, (na + 1) * sizeof(JnValue *));
        bool *holes = jn_alloc(ev, na + 1);

        for (size_t i = 0; i < na; i++) {
                holes[i] = n->list.items[i]->type == N_PLACEHOLDER;
                bound[i] = holes[i] ? NULL : jn_eval(ev, n->list.items[i], input, frame);
        }
        JnValue *proc = jn_eval(ev, n->procedure, input, frame);
        const char *pname = procedure_name(n->procedure);
        ev->current = n;
        if (!proc && n->procedure->type == N_PATH && pname) {
                bool found = false;
                jn_frame_lookup(ev, frame, pname, &found);
                if (found)
                        jn_throw_code(ev, "T1007", pname, NULL);
        }
        if (!jn_is_function(proc))
                jn_throw_code(ev, "T1008", pname, NULL);
        JnValue *f = jn_function(ev, JN_FN_PARTIAL);
        f->fn->target = proc;
        f->fn->bound = bound;
        f->fn->is_hole = holes;
        f->fn->n_bound = na;
        if (proc->fn->kind == JN_FN_LAMBDA && na < proc->fn->node->list.n) {
                /* missing trailing parameters of a lambda stay open too */
                size_t total = proc->fn->node->list.n;
                JnValue **b2 = jn_alloc(ev, total * sizeof(JnValue *));
                bool *h2 = jn_alloc(ev, total);
                memcpy(b2, bound, na * sizeof(JnValue *));
                memcpy(h2, holes, na);
                for (size_t i = na; i < total; i++) {
                        b2[i] = NULL;
                        h2[i] = true;
                }
                f->fn->bound = b2;
                f->fn->is_hole = h2;
                f->fn->n_bound = total;
        }
        return f;
}

static JnValue *eval_apply(JnEval *ev, const JnNode *n, JnValue *input, JnFrame *frame) {
        JnValue *lhs = jn_eval(ev, n->lhs, input, frame);

        if (n->rhs->type == N_FUNCTION)
                return eval_function(ev, n->rhs, input, frame, lhs, true);
        JnValue *func = jn_eval(ev, n->rhs, input, frame);
        ev->current = n;
        if (!jn_is_function(func))
                jn_throw_code(ev, "T2006", NULL, func);
        if (jn_is_function(lhs)) {
                JnValue *chain = jn_function(ev, JN_FN_CHAIN);
                chain->fn->target = lhs;
                chain->fn->second = func;
                return chain;
        }
        return jn_apply(ev, func, &lhs, 1, NULL);
}

/* ------------------------------------------------------------------------ */
/* Transform */

static JnValue *transform_call(JnEval *ev, JnValue *fn, JnValue *obj) {
        const JnNode *n = fn->fn->node;
        JnFrame *frame = fn->fn->frame;

        if (!obj)
                return NULL;
        if (obj->type != JN_OBJECT && obj->type != JN_ARRAY) {
                ev->current = n;
                jn_throw_arg(ev, "T0410", "transform", obj, 1, NULL);
        }
        bool found;
        JnValue *clone = jn_frame_lookup(ev, frame, "clone", &found);
        if (!jn_is_function(clone)) {
                ev->current = n;
                jn_throw_code(ev, "T2013", NULL, NULL);
        }
        JnValue *result = jn_apply(ev, clone, &obj, 1, NULL);
        JnValue *matches = jn_eval(ev, n->pattern, result, frame);
        if (!matches)
                return result;
        if (!jn_is_array(matches))
                matches = seq_of(ev, matches);
        for (size_t i = 0; i < matches->arr.n; i++) {
                JnValue *match = matches->arr.items[i];
                JnValue *update = jn_eval(ev, n->update, match, frame);
                if (update) {
                        if (update->type != JN_OBJECT) {
                                ev->current = n;
                                jn_throw_code(ev, "T2011", NULL, update);
                        }
                        if (jn_is_object(match))
                                for (size_t k = 0; k < update->obj->n; k++)
                                        jn_object_set(ev, match, update->obj->keys[k], update->obj->klens[k],
                                                      update->obj->vals[k]);
                }
                if (n->del) {
                        JnValue *dels = jn_eval(ev, n->del, match, frame);
                        if (dels) {
                                JnValue *val = dels;
                                if (!jn_is_array(dels))
                                        dels = seq_of(ev, dels);
                                for (size_t k = 0; k < dels->arr.n; k++)
                                        if (!jn_is_string(dels->arr.items[k])) {
                                                ev->current = n;
                                                jn_throw_code(ev, "T2012", NULL, val);
                                        }
                                if (jn_is_object(match))
                                        for (size_t k = 0; k < dels->arr.n; k++) {
                                                jn_step(ev, 1 + match->obj->n / 64); /* a delete is O(n) */
                                                jn_object_del(match, dels->arr.items[k]->str.s,
                                                              dels->arr.items[k]->str.len);
                                        }
                        }
                }
        }
        return result;
}

/* ------------------------------------------------------------------------ */
/* The dispatcher */

JnValue *jn_eval(JnEval *ev, const JnNode *n, JnValue *input, JnFrame *frame) {
        JnValue *result = NULL;

        if (++ev->depth > ev->max_depth) {
                ev->current = n;
                jn_throw(ev, "U1001", NULL, NULL,
                         "Stack overflow error: Check for non-terminating recursive function.  Consider "
                         "rewriting as tail-recursive.");
        }
        jn_step(ev, 1);
        switch (n->type) {
        case N_PATH:
                result = eval_path(ev, n, input, frame);
                break;
        case N_BINARY:
                result = eval_binary(ev, n, input, frame);
                break;
        case N_UNARY_MINUS:
                result = jn_eval(ev, n->expr, input, frame);
                if (result) {
                        if (!jn_is_number(result)) {
                                ev->current = n;
                                jn_throw_code(ev, "D1002", "-", result);
                        }
                        result = jn_number(ev, -result->num);
                }
                break;
        case N_ARRAY:
                result = eval_array(ev, n, input, frame);
                break;
        case N_OBJECT:
                result = eval_group(ev, n, input, frame);
                break;
        case N_NAME:
                result = lookup(ev, input, n->value, n->vlen);
                break;
        case N_STRING:
                result = jn_string_nocopy(ev, n->value, n->vlen);
                break;
        case N_NUMBER:
                result = jn_number(ev, n->num);
                break;
        case N_VALUE:
                result = n->num == 2 ? jn_null() : jn_bool(n->num == 1);
                break;
        case N_WILDCARD:
                result = eval_wildcard(ev, input);
                break;
        case N_DESCENDANT:
                result = eval_descendants(ev, input);
                break;
        case N_PARENT:
                result = jn_frame_lookup(ev, frame, n->slot->label, NULL);
                break;
        case N_CONDITION: {
                JnValue *c = jn_eval(ev, n->expr, input, frame);
                if (jn_boolean(c) == 1)
                        result = n->then == n->expr ? c : jn_eval(ev, n->then, input, frame);
                else if (n->els)
                        result = jn_eval(ev, n->els, input, frame);
                break;
        }
        case N_COALESCE: {
                JnValue *l = jn_eval(ev, n->lhs, input, frame);
                result = l ? l : jn_eval(ev, n->rhs, input, frame);
                break;
        }
        case N_BLOCK: {
                JnFrame *f = jn_frame_new(ev, frame);
                for (size_t i = 0; i < n->list.n; i++)
                        result = jn_eval(ev, n->list.items[i], input, f);
                break;
        }
        case N_BIND:
                result = jn_eval(ev, n->rhs, input, frame);
                jn_frame_bind(ev, frame, n->value, result);
                break;
        case N_REGEX:
                result = jn_function(ev, JN_FN_REGEX);
                result->fn->node = n;
                break;
        case N_FUNCTION:
                result = eval_function(ev, n, input, frame, NULL, false);
                break;
        case N_PARTIAL:
                result = eval_partial(ev, n, input, frame);
                break;
        case N_VARIABLE:
                if (n->vlen == 0)
                        result = jn_is_array(input) && (input->flags & JN_OUTER_WRAPPER)
                                         ? input->arr.items[0]
                                         : input;
                else
                        result = jn_frame_lookup(ev, frame, n->value, NULL);
                break;
        case N_LAMBDA:
                result = jn_function(ev, JN_FN_LAMBDA);
                result->fn->node = n;
                result->fn->frame = frame;
                result->fn->input = input;
                result->fn->thunk = n->thunk;
                break;
        case N_APPLY:
                result = eval_apply(ev, n, input, frame);
                break;
        case N_TRANSFORM:
                result = jn_function(ev, JN_FN_TRANSFORM);
                result->fn->node = n;
                result->fn->frame = frame;
                break;
        case N_SORT:
                result = eval_sort(ev, n, input, frame);
                break;
        default:
                break;
        }
        for (size_t i = 0; i < n->n_predicate; i++)
                result = eval_filter(ev, n->predicate[i], result, frame);
        if (n->type != N_PATH && n->group)
                result = eval_group(ev, n->group, result, frame);
        if (jn_is_sequence(result) && !(result->flags & JN_TUPLE_STREAM)) {
                if (n->keep_array)
                        result->flags |= JN_KEEP_SINGLETON;
                if (result->arr.n == 0)
                        result = NULL;
                else if (result->arr.n == 1 && !(result->flags & JN_KEEP_SINGLETON))
                        result = result->arr.items[0];
        }
        ev->depth--;
        return result;
}

/* ------------------------------------------------------------------------ */
/* Entry */

struct JsonataSession {
        JnEval *ev;
};

int jsonata_session_new(const JsonataContext *ctx, JsonataSession **ret) {
        static const JsonataContext no_ctx = {};
        JsonataSession *s = xmalloc(sizeof(JsonataSession));
        JnEval *ev = xmalloc(sizeof(JnEval));

        *ev = (JnEval){};
        if (!ctx)
                ctx = &no_ctx;
        ev->ctx = ctx;
        if (ctx->env)
                ev->env = *ctx->env;
        ev->max_depth = ctx->limits.max_depth ? ctx->limits.max_depth : JSONATA_DEFAULT_MAX_DEPTH;
        ev->max_steps = ctx->limits.max_steps ? ctx->limits.max_steps : JSONATA_DEFAULT_MAX_STEPS;
        ev->arena.limit = ctx->limits.max_memory ? ctx->limits.max_memory : JSONATA_DEFAULT_MAX_MEMORY;
        ev->libraries = ctx->libraries;
        ev->n_libraries = ctx->n_libraries;
        ev->pcre_gctx = jn_regex_context(ev);
        ev->root = jn_arena_alloc(&ev->arena, sizeof(JnFrame));
        if (!ev->pcre_gctx || !ev->root) {
                jn_arena_free(&ev->arena);
                free(ev);
                free(s);
                return -ENOMEM; /* a memory limit smaller than a few bytes */
        }
        *ev->root = (JnFrame){};
        s->ev = ev;
        *ret = s;
        return 0;
}

JsonataSession *jsonata_session_free(JsonataSession *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->ev->n_evals; i++)
                jsonata_expr_free(s->ev->evals[i]);
        free(s->ev->evals);
        jn_arena_free(&s->ev->arena);
        free(s->ev);
        free(s);
        return NULL;
}

int jsonata_session_evaluate(JsonataSession *s, const JsonataExpr *e, const json_t *input, json_t **ret,
                             JsonataError *err) {
        JnEval *ev = s->ev;
        JsonataError dummy = {};
        volatile int r = 0;

        ev->err = err ? err : &dummy;
        ev->depth = 0;
        ev->steps = 0;
        ev->fn_nesting = 0;
        ev->current = NULL;
        if (setjmp(ev->jmp) == 0) {
                /* a frame of its own: "$" and top-level bindings stay in this evaluation */
                ev->top = jn_frame_new(ev, ev->root);
                JnValue *in = jn_from_json(ev, input);
                jn_frame_bind(ev, ev->top, "$", in);
                if (jn_is_array(in)) {
                        JnValue *w = jn_sequence(ev);
                        jn_array_push(ev, w, in);
                        w->flags |= JN_OUTER_WRAPPER;
                        in = w;
                }
                JnValue *result = jn_eval(ev, e->root, in, ev->top);
                if (jn_is_array(result) && (result->flags & JN_SEQUENCE) && result->arr.n == 1 &&
                    !(result->flags & JN_KEEP_SINGLETON))
                        result = result->arr.items[0];
                jn_check_depth(ev, jn_value_depth(result, JSONATA_MAX_VALUE_DEPTH + 1));
                *ret = jn_to_json(result);
        } else
                r = -EINVAL;
        /* the limit may have been lifted to build an error message */
        ev->arena.limit =
                ev->ctx->limits.max_memory ? ev->ctx->limits.max_memory : JSONATA_DEFAULT_MAX_MEMORY;
        jsonata_error_clear(&dummy);
        return r;
}

int jsonata_evaluate(const JsonataExpr *e, const json_t *input, const JsonataContext *ctx, json_t **ret,
                     JsonataError *err) {
        JsonataSession *s = NULL;
        int r = jsonata_session_new(ctx, &s);

        if (r < 0) {
                if (err) {
                        jsonata_error_clear(err);
                        snprintf(err->code, sizeof(err->code), "U1002");
                        err->message = xstrdup("Evaluation needs more than the memory limit");
                }
                return -EINVAL;
        }
        r = jsonata_session_evaluate(s, e, input, ret, err);
        jsonata_session_free(s);
        return r;
}

/* Used by $eval: a new expression compiled and run inside this evaluation;
 * it is freed when the evaluation ends (its values point into its tree).
 * Errors inside become D3120 (syntax) and D3121 (evaluation). */
static JnValue *eval_guarded(JnEval *ev, JsonataExpr *ex, JnValue *input);

JnValue *jn_eval_text(JnEval *ev, const char *text, size_t len, JnValue *input) {
        JsonataExpr *ex = NULL;
        JsonataError cerr = {.position = -1};
        char *copy = jn_strndup(ev, text, len);
        ev->evals = xrealloc(ev->evals, (ev->n_evals + 1) * sizeof(JsonataExpr *));
        if (jsonata_compile(copy, len, &ex, &cerr) < 0) {
                char msg[600];
                snprintf(msg, sizeof(msg), "%s", cerr.message ? cerr.message : "");
                jsonata_error_clear(&cerr);
                jn_throw(ev, "D3120", NULL, NULL, "Syntax error in expression passed to function eval: %s",
                         msg);
        }
        ev->evals[ev->n_evals++] = ex;
        if (jn_is_array(input) && !jn_is_sequence(input)) {
                JnValue *w = jn_sequence(ev);
                jn_array_push(ev, w, input);
                w->flags |= JN_OUTER_WRAPPER;
                input = w;
        }
        return eval_guarded(ev, ex, input);
}

static JnValue *eval_guarded(JnEval *ev, JsonataExpr *ex, JnValue *input) {
        jmp_buf saved;
        memcpy(saved, ev->jmp, sizeof(jmp_buf));
        size_t depth = ev->depth, fn_nesting = ev->fn_nesting;
        JnValue *volatile result = NULL;
        if (setjmp(ev->jmp) == 0)
                result = jn_eval(ev, ex->root, input, ev->top);
        else {
                memcpy(ev->jmp, saved, sizeof(jmp_buf));
                ev->depth = depth;
                ev->fn_nesting = fn_nesting;
                if (strncmp(ev->err->code, "U", 1) == 0)
                        longjmp(ev->jmp, 1);
                char msg[600];
                snprintf(msg, sizeof(msg), "%s", ev->err->message ? ev->err->message : "");
                jn_throw(ev, "D3121", NULL, NULL,
                         "Dynamic error evaluating the expression passed to function eval: %s", msg);
        }
        memcpy(ev->jmp, saved, sizeof(jmp_buf));
        return result;
}
