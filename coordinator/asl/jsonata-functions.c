/* SPDX-License-Identifier: MIT */
/*
 * JSONata's standard function library, except the formatting and date/time
 * functions (jsonata-format.c, jsonata-datetime.c) and the string functions
 * (jsonata-strings.c): numeric, aggregation, boolean, array, object and
 * higher-order functions, $eval, $clone, $now/$millis and $random.
 *
 * One table (std_functions; STYLE 11): name, signature as the reference
 * declares it (checked before the call, with the reference's error codes),
 * the C function, and the arity the reference's JavaScript function has
 * (what $map & co look at to decide how many arguments to pass). Each
 * function follows the reference's code, undefined in, undefined out.
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonata-internal.h"

#define FN(name) static JnValue *name(JnEval *ev, JnValue **a, size_t n, JnValue *focus)
#define ARG(i) ((i) < n ? a[i] : NULL)

/* ------------------------------------------------------------------------ */
/* Aggregation */

static double sum_of(const JnValue *arr) {
        double total = 0;
        for (size_t i = 0; i < arr->arr.n; i++)
                total += arr->arr.items[i]->num;
        return total;
}

/* The largest (sign 1) or smallest (sign -1) number; NULL for none. */
static JnValue *extreme(JnEval *ev, const JnValue *arr, double sign) {
        if (!arr || arr->arr.n == 0)
                return NULL;
        double m = arr->arr.items[0]->num;
        for (size_t i = 1; i < arr->arr.n; i++)
                if (sign * arr->arr.items[i]->num > sign * m)
                        m = arr->arr.items[i]->num;
        return jn_number(ev, m);
}

FN(fn_sum) {
        return ARG(0) ? jn_number(ev, sum_of(a[0])) : NULL;
}

FN(fn_count) {
        JnValue *arr = ARG(0);
        return jn_number(ev, arr ? (double) arr->arr.n : 0);
}

FN(fn_max) {
        return extreme(ev, ARG(0), 1);
}

FN(fn_min) {
        return extreme(ev, ARG(0), -1);
}

FN(fn_average) {
        JnValue *arr = ARG(0);
        if (!arr || arr->arr.n == 0)
                return NULL;
        return jn_number(ev, sum_of(arr) / (double) arr->arr.n);
}

/* ------------------------------------------------------------------------ */
/* Numeric */

static bool number_syntax(const char *s, size_t len) {
        size_t i = 0;
        if (i < len && s[i] == '-')
                i++;
        size_t d = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
                i++;
        if (i == d)
                return false;
        if (i < len && s[i] == '.') {
                size_t f = ++i;
                while (i < len && s[i] >= '0' && s[i] <= '9')
                        i++;
                if (i == f)
                        return false;
        }
        if (i < len && (s[i] == 'e' || s[i] == 'E')) {
                i++;
                if (i < len && (s[i] == '+' || s[i] == '-'))
                        i++;
                size_t e = i;
                while (i < len && s[i] >= '0' && s[i] <= '9')
                        i++;
                if (i == e)
                        return false;
        }
        return i == len;
}

FN(fn_number) {
        JnValue *v = ARG(0);
        if (!v)
                return NULL;
        if (v->type == JN_NUMBER)
                return v;
        if (v->type == JN_BOOL)
                return jn_number(ev, v->b ? 1 : 0);
        if (v->type == JN_STRING) {
                const char *s = v->str.s;
                size_t len = v->str.len;
                if (number_syntax(s, len)) {
                        double d = strtod(jn_strndup(ev, s, len), NULL);
                        if (isfinite(d))
                                return jn_number(ev, d);
                }
                if (len > 2 && s[0] == '0') {
                        int base = (s[1] == 'x' || s[1] == 'X')   ? 16
                                   : (s[1] == 'o' || s[1] == 'O') ? 8
                                   : (s[1] == 'b' || s[1] == 'B') ? 2
                                                                  : 0;
                        if (base) {
                                double d = 0;
                                size_t i;
                                for (i = 2; i < len; i++) {
                                        int c = s[i], dv = c >= '0' && c <= '9'   ? c - '0'
                                                           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                                                  : 99;
                                        if (dv >= base)
                                                break;
                                        d = d * base + dv;
                                }
                                if (i == len)
                                        return jn_number(ev, d);
                        }
                }
        }
        jn_throw_code(ev, "D3030", NULL, v);
}

FN(fn_floor) {
        return ARG(0) ? jn_number(ev, floor(a[0]->num)) : NULL;
}

FN(fn_ceil) {
        return ARG(0) ? jn_number(ev, ceil(a[0]->num)) : NULL;
}

FN(fn_abs) {
        return ARG(0) ? jn_number(ev, fabs(a[0]->num)) : NULL;
}

FN(fn_sqrt) {
        if (!ARG(0))
                return NULL;
        if (a[0]->num < 0)
                jn_throw_code(ev, "D3060", "sqrt", a[0]);
        return jn_number(ev, sqrt(a[0]->num));
}

FN(fn_power) {
        if (!ARG(0))
                return NULL;
        /* a missing exponent is NaN in the reference's Math.pow: D3061 */
        double r = ARG(1) ? pow(a[0]->num, a[1]->num) : NAN;
        if (!isfinite(r)) {
                jn_throw_code2(ev, "D3061", "power", a[0], ARG(1));
        }
        return jn_number(ev, r);
}

/* JavaScript's Math.round, then the reference's half-to-even fix, in
 * decimal by way of the shortest text of the number (as the reference
 * shifts the exponent in the string). */
double jn_round_half_even(double arg, int precision) {
        char buf[64], tmp[80];
        if (precision) {
                jsonata_format_number(arg, buf, sizeof(buf));
                char *e = strchr(buf, 'e');
                int ex = precision;
                if (e) {
                        ex += atoi(e + 1);
                        *e = 0;
                }
                snprintf(tmp, sizeof(tmp), "%se%d", buf, ex);
                arg = strtod(tmp, NULL);
        }
        double result = floor(arg + 0.5);
        double diff = result - arg;
        if (fabs(diff) == 0.5 && fabs(fmod(result, 2)) == 1)
                result -= 1;
        if (precision) {
                jsonata_format_number(result, buf, sizeof(buf));
                char *e = strchr(buf, 'e');
                int ex = -precision;
                if (e) {
                        ex += atoi(e + 1);
                        *e = 0;
                }
                snprintf(tmp, sizeof(tmp), "%se%d", buf, ex);
                result = strtod(tmp, NULL);
        }
        if (result == 0)
                result = 0; /* no -0 */
        return result;
}

FN(fn_round) {
        if (!ARG(0))
                return NULL;
        double p = ARG(1) ? a[1]->num : 0;
        if (p != floor(p) || fabs(p) > 400) /* the reference shifts "1e2.5": NaN */
                return jn_number(ev, NAN);
        return jn_number(ev, jn_round_half_even(a[0]->num, (int) p));
}

uint64_t jn_random_u64(JnEval *ev) {
        uint64_t v = 0;
        if (!ev->env.random)
                jn_throw(ev, "D3150", NULL, NULL, "No source of randomness is configured");
        ev->env.random(ev->env.random_userdata, &v, sizeof(v));
        return v;
}

double jn_random_double(JnEval *ev) {
        return (double) (jn_random_u64(ev) >> 11) * (1.0 / 9007199254740992.0);
}

FN(fn_random) {
        return jn_number(ev, jn_random_double(ev));
}

/* ------------------------------------------------------------------------ */
/* Boolean */

FN(fn_boolean) {
        int b = jn_boolean(ARG(0));
        return b < 0 ? NULL : jn_bool(b);
}

FN(fn_not) {
        int b = jn_boolean(ARG(0));
        return b < 0 ? NULL : jn_bool(!b);
}

FN(fn_exists) {
        return jn_bool(ARG(0) != NULL);
}

/* ------------------------------------------------------------------------ */
/* Higher order */

FN(fn_map) {
        JnValue *arr = ARG(0), *f = ARG(1);
        if (!arr || !f)
                return NULL;
        JnValue *result = jn_sequence(ev);
        for (size_t i = 0; i < arr->arr.n; i++) {
                JnValue *r = jn_apply_hof(ev, f, arr->arr.items[i], jn_number(ev, (double) i), arr);
                if (r)
                        jn_array_push(ev, result, r);
        }
        return result;
}

FN(fn_filter) {
        JnValue *arr = ARG(0), *f = ARG(1);
        if (!arr || !f)
                return NULL;
        JnValue *result = jn_sequence(ev);
        for (size_t i = 0; i < arr->arr.n; i++) {
                JnValue *r = jn_apply_hof(ev, f, arr->arr.items[i], jn_number(ev, (double) i), arr);
                if (jn_boolean(r) == 1)
                        jn_array_push(ev, result, arr->arr.items[i]);
        }
        return result;
}

FN(fn_single) {
        JnValue *arr = ARG(0), *f = ARG(1), *result = NULL;
        bool found = false;
        if (!arr)
                return NULL;
        for (size_t i = 0; i < arr->arr.n; i++) {
                bool positive = true;
                if (f)
                        positive = jn_boolean(jn_apply_hof(ev, f, arr->arr.items[i],
                                                           jn_number(ev, (double) i), arr)) == 1;
                if (positive) {
                        if (found)
                                jn_throw_code(ev, "D3138", "single", NULL);
                        result = arr->arr.items[i];
                        found = true;
                }
        }
        if (!found)
                jn_throw_code(ev, "D3139", "single", NULL);
        return result;
}

FN(fn_reduce) {
        JnValue *seq = ARG(0), *f = ARG(1), *init = ARG(2), *result;
        size_t index;
        if (!seq || !f)
                return NULL;
        int arity = jn_function_arity(f);
        if (arity < 2)
                jn_throw_code(ev, "D3050", "reduce", NULL);
        if (!init && seq->arr.n > 0) {
                result = seq->arr.items[0];
                index = 1;
        } else {
                result = init;
                index = 0;
        }
        for (; index < seq->arr.n; index++) {
                JnValue *args[4] = {result, seq->arr.items[index], jn_number(ev, (double) index), seq};
                result = jn_apply(ev, f, args, arity >= 4 ? 4 : arity >= 3 ? 3 : 2, NULL);
        }
        return result;
}

FN(fn_sift) {
        JnValue *obj = ARG(0), *f = ARG(1);
        if (!obj || !f)
                return NULL;
        JnValue *result = jn_object(ev);
        for (size_t i = 0; i < obj->obj->n; i++) {
                JnValue *key = jn_string_nocopy(ev, obj->obj->keys[i], obj->obj->klens[i]);
                JnValue *r = jn_apply_hof(ev, f, obj->obj->vals[i], key, obj);
                if (jn_boolean(r) == 1)
                        jn_object_set(ev, result, obj->obj->keys[i], obj->obj->klens[i], obj->obj->vals[i]);
        }
        return result->obj->n ? result : NULL;
}

FN(fn_each) {
        JnValue *obj = ARG(0), *f = ARG(1);
        if (!obj || !f)
                return NULL;
        JnValue *result = jn_sequence(ev);
        for (size_t i = 0; i < obj->obj->n; i++) {
                JnValue *key = jn_string_nocopy(ev, obj->obj->keys[i], obj->obj->klens[i]);
                JnValue *r = jn_apply_hof(ev, f, obj->obj->vals[i], key, obj);
                if (r)
                        jn_array_push(ev, result, r);
        }
        return result;
}

FN(fn_zip) {
        JnValue *result = jn_array(ev, 0);
        size_t len = SIZE_MAX;
        for (size_t i = 0; i < n; i++) {
                size_t l = jn_is_array(a[i]) ? a[i]->arr.n : 0;
                if (l < len)
                        len = l;
        }
        if (n == 0)
                len = 0;
        for (size_t i = 0; i < len; i++) {
                JnValue *t = jn_array(ev, n);
                for (size_t k = 0; k < n; k++)
                        jn_array_push(ev, t, a[k]->arr.items[i]);
                jn_array_push(ev, result, t);
        }
        return result;
}

/* ------------------------------------------------------------------------ */
/* Arrays */

FN(fn_append) {
        return jn_append(ev, ARG(0), ARG(1));
}

FN(fn_reverse) {
        JnValue *arr = ARG(0);
        if (!arr)
                return NULL;
        if (arr->arr.n <= 1)
                return arr;
        JnValue *r = jn_array(ev, arr->arr.n);
        for (size_t i = 0; i < arr->arr.n; i++)
                r->arr.items[i] = arr->arr.items[arr->arr.n - 1 - i];
        r->arr.n = arr->arr.n;
        return r;
}

FN(fn_sort) {
        JnValue *arr = ARG(0), *f = ARG(1);
        if (!arr)
                return NULL;
        if (arr->arr.n <= 1)
                return arr;
        if (!f) {
                bool nums = true, strs = true;
                for (size_t i = 0; i < arr->arr.n; i++) {
                        nums = nums && jn_is_number(arr->arr.items[i]);
                        strs = strs && jn_is_string(arr->arr.items[i]);
                }
                if (!nums && !strs)
                        jn_throw_code(ev, "D3070", "sort", NULL);
        }
        return jn_sort(ev, arr, f, f == NULL);
}

FN(fn_shuffle) {
        JnValue *arr = ARG(0);
        if (!arr)
                return NULL;
        if (arr->arr.n <= 1)
                return arr;
        JnValue *r = jn_array(ev, arr->arr.n);
        r->arr.n = arr->arr.n;
        for (size_t i = 0; i < arr->arr.n; i++) {
                size_t j = (size_t) floor(jn_random_double(ev) * (double) (i + 1));
                if (i != j)
                        r->arr.items[i] = r->arr.items[j];
                r->arr.items[j] = arr->arr.items[i];
        }
        return r;
}

FN(fn_distinct) {
        JnValue *arr = ARG(0);
        if (!arr)
                return NULL;
        if (!jn_is_array(arr) || arr->arr.n <= 1)
                return arr;
        JnValue *r = jn_is_sequence(arr) ? jn_sequence(ev) : jn_array(ev, 0);
        for (size_t i = 0; i < arr->arr.n; i++) {
                bool dup = false;
                jn_step(ev, r->arr.n / 16 + 1);
                for (size_t k = 0; k < r->arr.n && !dup; k++)
                        dup = jn_deep_equal(ev, arr->arr.items[i], r->arr.items[k]);
                if (!dup)
                        jn_array_push(ev, r, arr->arr.items[i]);
        }
        return r;
}

/* ------------------------------------------------------------------------ */
/* Objects */

static void keys_into(JnEval *ev, JnValue *arg, JnValue *seen, size_t depth) {
        jn_check_depth(ev, depth);
        if (jn_is_array(arg))
                for (size_t i = 0; i < arg->arr.n; i++)
                        keys_into(ev, arg->arr.items[i], seen, depth + 1);
        else if (jn_is_object(arg))
                for (size_t i = 0; i < arg->obj->n; i++)
                        jn_object_set(ev, seen, arg->obj->keys[i], arg->obj->klens[i], jn_bool(true));
}

FN(fn_keys) {
        JnValue *arg = ARG(0), *seen = jn_object(ev), *result = jn_sequence(ev);
        keys_into(ev, arg, seen, 1);
        for (size_t i = 0; i < seen->obj->n; i++)
                jn_array_push(ev, result, jn_string_nocopy(ev, seen->obj->keys[i], seen->obj->klens[i]));
        return result;
}

FN(fn_lookup) {
        if (!ARG(1))
                return NULL;
        return jn_lookup(ev, ARG(0), a[1]->str.s, a[1]->str.len);
}

static JnValue *spread(JnEval *ev, JnValue *arg, size_t depth) {
        jn_check_depth(ev, depth);
        if (jn_is_array(arg)) {
                JnValue *result = jn_sequence(ev);
                for (size_t i = 0; i < arg->arr.n; i++)
                        result = jn_append(ev, result, spread(ev, arg->arr.items[i], depth + 1));
                return result;
        }
        if (jn_is_object(arg)) {
                JnValue *result = jn_sequence(ev);
                for (size_t i = 0; i < arg->obj->n; i++) {
                        JnValue *o = jn_object(ev);
                        jn_object_set(ev, o, arg->obj->keys[i], arg->obj->klens[i], arg->obj->vals[i]);
                        jn_array_push(ev, result, o);
                }
                return result;
        }
        return arg;
}

FN(fn_spread) {
        return spread(ev, ARG(0), 1);
}

FN(fn_merge) {
        JnValue *arr = ARG(0);
        if (!arr)
                return NULL;
        JnValue *result = jn_object(ev);
        for (size_t i = 0; i < arr->arr.n; i++) {
                JnValue *o = arr->arr.items[i];
                if (!jn_is_object(o))
                        continue;
                for (size_t k = 0; k < o->obj->n; k++)
                        jn_object_set(ev, result, o->obj->keys[k], o->obj->klens[k], o->obj->vals[k]);
        }
        return result;
}

FN(fn_type) {
        JnValue *v = ARG(0);
        return v ? jn_cstring(ev, jn_type_name(v)) : NULL;
}

FN(fn_clone) {
        return jn_deep_clone(ev, ARG(0));
}

FN(fn_error) {
        JnValue *m = ARG(0);
        if (m && m->type == JN_STRING)
                jn_throw(ev, "D3137", "error", NULL, "%.*s", (int) m->str.len, m->str.s);
        jn_throw(ev, "D3137", "error", NULL, "$error() function evaluated");
}

FN(fn_assert) {
        JnValue *c = ARG(0), *m = ARG(1);
        if (!c || !c->b) {
                if (m)
                        jn_throw(ev, "D3141", "assert", NULL, "%.*s", (int) m->str.len, m->str.s);
                jn_throw(ev, "D3141", "assert", NULL, "$assert() statement failed");
        }
        return NULL;
}

FN(fn_eval) {
        JnValue *expr = ARG(0), *input = focus;
        if (!expr)
                return NULL;
        if (n > 1 && a[1])
                input = a[1];
        return jn_eval_text(ev, expr->str.s, expr->str.len, input);
}

FN(fn_millis) {
        return jn_number(ev, (double) ev->env.now_ms);
}

/* ------------------------------------------------------------------------ */
/* The table */

extern JnValue *jn_fn_string(JnEval *, JnValue **, size_t, JnValue *);
extern JnValue *jn_fn_substring(JnEval *, JnValue **, size_t, JnValue *);
extern JnValue *jn_fn_substring_before(JnEval *, JnValue **, size_t, JnValue *);
extern JnValue *jn_fn_substring_after(JnEval *, JnValue **, size_t, JnValue *);
extern JnValue *jn_fn_lowercase(JnEval *, JnValue **, size_t, JnValue *);
extern JnValue *jn_fn_uppercase(JnEval *, JnValue **, size_t, JnValue *);
extern JnValue *jn_fn_length(JnEval *, JnValue **, size_t, JnValue *);
extern JnValue *jn_fn_trim(JnEval *, JnValue **, size_t, JnValue *);
extern JnValue *jn_fn_pad(JnEval *, JnValue **, size_t, JnValue *);
extern JnValue *jn_fn_match(JnEval *, JnValue **, size_t, JnValue *);
extern JnValue *jn_fn_contains(JnEval *, JnValue **, size_t, JnValue *);
extern JnValue *jn_fn_replace(JnEval *, JnValue **, size_t, JnValue *);
extern JnValue *jn_fn_split(JnEval *, JnValue **, size_t, JnValue *);
extern JnValue *jn_fn_join(JnEval *, JnValue **, size_t, JnValue *);
extern JnValue *jn_fn_base64encode(JnEval *, JnValue **, size_t, JnValue *);
extern JnValue *jn_fn_base64decode(JnEval *, JnValue **, size_t, JnValue *);
extern JnValue *jn_fn_encode_url_component(JnEval *, JnValue **, size_t, JnValue *);
extern JnValue *jn_fn_encode_url(JnEval *, JnValue **, size_t, JnValue *);
extern JnValue *jn_fn_decode_url_component(JnEval *, JnValue **, size_t, JnValue *);
extern JnValue *jn_fn_decode_url(JnEval *, JnValue **, size_t, JnValue *);
extern JnValue *jn_fn_format_base(JnEval *, JnValue **, size_t, JnValue *);

/* Sorted by name (bsearch). */
static const JnNative std_functions[] = {
        {"abs", "<n-:n>", fn_abs, 1},
        {"append", "<xx:a>", fn_append, 2},
        {"assert", "<bs?:x>", fn_assert, 2},
        {"average", "<a<n>:n>", fn_average, 1},
        {"base64decode", "<s-:s>", jn_fn_base64decode, 1},
        {"base64encode", "<s-:s>", jn_fn_base64encode, 1},
        {"boolean", "<x-:b>", fn_boolean, 1},
        {"ceil", "<n-:n>", fn_ceil, 1},
        {"clone", "<(oa)-:o>", fn_clone, 1},
        {"contains", "<s-(sf):b>", jn_fn_contains, 2},
        {"count", "<a:n>", fn_count, 1},
        {"decodeUrl", "<s-:s>", jn_fn_decode_url, 1},
        {"decodeUrlComponent", "<s-:s>", jn_fn_decode_url_component, 1},
        {"distinct", "<x:x>", fn_distinct, 1},
        {"each", "<o-f:a>", fn_each, 2},
        {"encodeUrl", "<s-:s>", jn_fn_encode_url, 1},
        {"encodeUrlComponent", "<s-:s>", jn_fn_encode_url_component, 1},
        {"error", "<s?:x>", fn_error, 1},
        {"eval", "<sx?:x>", fn_eval, 2},
        {"exists", "<x:b>", fn_exists, 1},
        {"filter", "<af>", fn_filter, 2},
        {"floor", "<n-:n>", fn_floor, 1},
        {"formatBase", "<n-n?:s>", jn_fn_format_base, 2},
        {"formatInteger", "<n-s:s>", jn_fn_format_integer, 2},
        {"formatNumber", "<n-so?:s>", jn_fn_format_number, 3},
        {"fromMillis", "<n-s?s?:s>", jn_fn_from_millis, 3},
        {"join", "<a<s>s?:s>", jn_fn_join, 2},
        {"keys", "<x-:a<s>>", fn_keys, 1},
        {"length", "<s-:n>", jn_fn_length, 1},
        {"lookup", "<x-s:x>", fn_lookup, 2},
        {"lowercase", "<s-:s>", jn_fn_lowercase, 1},
        {"map", "<af>", fn_map, 2},
        {"match", "<s-f<s:o>n?:a<o>>", jn_fn_match, 3},
        {"max", "<a<n>:n>", fn_max, 1},
        {"merge", "<a<o>:o>", fn_merge, 1},
        {"millis", "<:n>", fn_millis, 0},
        {"min", "<a<n>:n>", fn_min, 1},
        {"not", "<x-:b>", fn_not, 1},
        {"now", "<s?s?:s>", jn_fn_now, 2},
        {"number", "<(nsb)-:n>", fn_number, 1},
        {"pad", "<s-ns?:s>", jn_fn_pad, 3},
        {"parseInteger", "<s-s:n>", jn_fn_parse_integer, 2},
        {"power", "<n-n:n>", fn_power, 2},
        {"random", "<:n>", fn_random, 0},
        {"reduce", "<afj?:j>", fn_reduce, 3},
        {"replace", "<s-(sf)(sf)n?:s>", jn_fn_replace, 4},
        {"reverse", "<a:a>", fn_reverse, 1},
        {"round", "<n-n?:n>", fn_round, 2},
        {"shuffle", "<a:a>", fn_shuffle, 1},
        {"sift", "<o-f?:o>", fn_sift, 2},
        {"single", "<af?>", fn_single, 2},
        {"sort", "<af?:a>", fn_sort, 2},
        {"split", "<s-(sf)n?:a<s>>", jn_fn_split, 3},
        {"spread", "<x-:a<o>>", fn_spread, 1},
        {"sqrt", "<n-:n>", fn_sqrt, 1},
        {"string", "<x-b?:s>", jn_fn_string, 1},
        {"substring", "<s-nn?:s>", jn_fn_substring, 3},
        {"substringAfter", "<s-s:s>", jn_fn_substring_after, 2},
        {"substringBefore", "<s-s:s>", jn_fn_substring_before, 2},
        {"sum", "<a<n>:n>", fn_sum, 1},
        {"toMillis", "<s-s?:n>", jn_fn_to_millis, 2},
        {"trim", "<s-:s>", jn_fn_trim, 1},
        {"type", "<x:s>", fn_type, 1},
        {"uppercase", "<s-:s>", jn_fn_uppercase, 1},
        {"zip", "<a+>", fn_zip, 0},
};

const JsonataLibrary jn_std_library = {std_functions, sizeof(std_functions) / sizeof(std_functions[0])};

static int native_cmp(const void *key, const void *elem) {
        const JnNative *n = elem;
        return strcmp(key, n->name);
}

const JnNative *jn_library_find(const JsonataLibrary *lib, const char *name) {
        if (lib == &jn_std_library)
                return bsearch(name, lib->functions, lib->n, sizeof(JnNative), native_cmp);
        for (size_t i = 0; i < lib->n; i++)
                if (strcmp(lib->functions[i].name, name) == 0)
                        return &lib->functions[i];
        return NULL;
}

const JnSignature *jn_native_signature(JnEval *ev, const JnNative *nat) {
        const char *code = NULL;
        if (!nat->signature)
                return NULL;
        JnSignature *sig = jn_signature_parse(&ev->arena, nat->signature, strlen(nat->signature), &code);
        if (!sig) {
                if (ev->arena.over)
                        jn_throw(ev, "U1002", NULL, NULL, "Evaluation needs more than the memory limit");
                abort(); /* the table's signatures are valid */
        }
        return sig;
}
