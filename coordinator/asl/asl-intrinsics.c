/* SPDX-License-Identifier: MIT */
/*
 * Intrinsic functions of the States Language.
 *
 * Design: an expression is parsed into a small tree (IntrinsicNode): a call
 * with its arguments, a string literal (kept both decoded and raw, because
 * States.Format treats an escaped \{ differently from a placeholder {}), a
 * number, true/false/null, or a JSONPath ($... against the input, $$...
 * against the context object). Evaluation is bottom-up: the arguments are
 * evaluated to JSON values, then the function from intrinsic_table (name,
 * min/max arguments, function; STYLE 11) is called.
 *
 * Every failure at run time is States.IntrinsicFailure with a cause that
 * names the function. Limits (STYLE 12): expression length
 * INTRINSIC_MAX_LENGTH, call nesting ASL_MAX_INTRINSIC_NESTING, arguments per
 * call INTRINSIC_MAX_ARGS, and every value produced or read from a path is at
 * most the payload limit (env->max_payload_bytes) when serialized, so nested
 * calls cannot blow up memory.
 *
 * No I/O; randomness only through env->random.
 */

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "format.h"
#include "hash.h"
#include "asl-intrinsics.h"
#include "asl-jsonpath.h"

#define INTRINSIC_FAILURE "States.IntrinsicFailure"
#define BASE64_MAX_CHARS 10000
#define HASH_MAX_CHARS 10000
#define EXPR_ECHO_MAX 200 /* characters of an expression quoted in a message */

typedef struct IntrinsicFunction IntrinsicFunction;

typedef enum NodeType {
        NODE_CALL,
        NODE_STRING,
        NODE_VALUE, /* number, true, false, null */
        NODE_PATH,
} NodeType;

typedef struct IntrinsicNode IntrinsicNode;
struct IntrinsicNode {
        NodeType type;
        const IntrinsicFunction *fn;    /* CALL */
        IntrinsicNode **args;           /* CALL, owned */
        size_t n_args;
        char *raw;                      /* STRING: text between the quotes, escapes kept */
        json_t *value;                  /* STRING (decoded) / VALUE, owned */
        char *path;                     /* PATH: "$...", "$$..." or "$name..." as written */
};

#define INTRINSIC_TYPED_ARGS 3 /* the longest IntrinsicFunction.types */

/* What a function gets: evaluated arguments (borrowed), already checked
 * against the function's types, with the integer ones in ints; for string
 * literal arguments, their raw text (else NULL). */
typedef struct IntrinsicArgs {
        const IntrinsicFunction *fn;
        json_t **v;
        const char **raw;
        size_t n;
        int64_t ints[INTRINSIC_TYPED_ARGS]; /* 'i' arguments, rounded */
        const AslEnv *env;
        size_t max_bytes;
} IntrinsicArgs;

typedef int (*IntrinsicFn)(const IntrinsicArgs *a, json_t **ret, AslError *err);

struct IntrinsicFunction {
        const char *name;
        size_t min_args;
        size_t max_args;
        /* The type of each leading argument, checked before fn runs: 's'
         * string, 'a' array, 'o' object, 'b' boolean, 'i' integer (into
         * IntrinsicArgs.ints), '.' any. Later arguments are not checked. */
        const char *types;
        IntrinsicFn fn;
};

static void node_free(IntrinsicNode *n) {
        if (!n)
                return;
        for (size_t i = 0; i < n->n_args; i++)
                node_free(n->args[i]);
        free(n->args);
        free(n->raw);
        json_decref(n->value);
        free(n->path);
        free(n);
}

static void node_freep(IntrinsicNode **n) {
        node_free(*n);
}
#define _cleanup_node_ _cleanup_(node_freep)

static IntrinsicNode *node_new(NodeType t) {
        IntrinsicNode *n = xmalloc(sizeof(IntrinsicNode));
        *n = (IntrinsicNode) { .type = t };
        return n;
}

/* ------------------------------------------------------------------------ */
/* Helpers for the functions */

static int fail(const IntrinsicArgs *a, AslError *err, const char *fmt, ...) _printf_(3, 4);
static int fail(const IntrinsicArgs *a, AslError *err, const char *fmt, ...) {
        va_list ap;
        _cleanup_free_ char *m = NULL;

        va_start(ap, fmt);
        m = xvasprintf(fmt, ap);
        va_end(ap);
        return asl_error_set(err, INTRINSIC_FAILURE, "%s: %s", a->fn->name, m);
}

static const char *type_name(const json_t *v) {
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "an object";
        case JSON_ARRAY:
                return "an array";
        case JSON_STRING:
                return "a string";
        case JSON_INTEGER:
        case JSON_REAL:
                return "a number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "a boolean";
        case JSON_NULL:
                return "null";
        }
        return "unknown";
}

/* Java's Math.round: the nearest integer, halves up (-1.5 -> -1, -2.5 -> -2,
 * 0.49999999999999994 -> 0), as Step Functions' intrinsics round. */
static double java_round(double d) {
        double f = floor(d);

        return d - f >= 0.5 ? f + 1 : f;
}

/* An integer argument: non-integral numbers are rounded to the nearest
 * integer as Java's Math.round does (as AWS does: MathAdd(-1.5, 0) is -1);
 * the range is that of a 32-bit signed integer. */
static int arg_int(const IntrinsicArgs *a, size_t i, int64_t *ret, AslError *err) {
        json_t *v = a->v[i];
        double d;

        if (json_is_integer(v)) {
                json_int_t x = json_integer_value(v);
                if (x < INT32_MIN || x > INT32_MAX)
                        goto range;
                *ret = x;
                return 0;
        }
        if (!json_is_real(v))
                return fail(a, err, "argument %zu must be an integer, got %s", i + 1, type_name(v));
        d = java_round(json_real_value(v));
        if (!(d >= INT32_MIN && d <= INT32_MAX))
                goto range;
        *ret = (int64_t) d;
        return 0;
range:
        return fail(a, err, "argument %zu must be an integer between %d and %d", i + 1, INT32_MIN, INT32_MAX);
}

/* Whether v is of type t ('s', 'a', 'o', 'b'; anything else: any type);
 * *ret_name says the type in words. */
static bool type_matches(char t, const json_t *v, const char **ret_name) {
        switch (t) {
        case 's':
                *ret_name = "a string";
                return json_is_string(v);
        case 'a':
                *ret_name = "an array";
                return json_is_array(v);
        case 'o':
                *ret_name = "an object";
                return json_is_object(v);
        case 'b':
                *ret_name = "a boolean";
                return json_is_boolean(v);
        default:
                return true;
        }
}

/* Check the arguments against a->fn->types, in order; the integers into a->ints. */
static int args_check(IntrinsicArgs *a, AslError *err) {
        for (size_t i = 0; i < a->n && i < INTRINSIC_TYPED_ARGS && a->fn->types[i]; i++) {
                const char *name = NULL;
                int r;

                if (a->fn->types[i] == 'i') {
                        r = arg_int(a, i, &a->ints[i], err);
                        if (r < 0)
                                return r;
                } else if (!type_matches(a->fn->types[i], a->v[i], &name))
                        return fail(a, err, "argument %zu must be %s, got %s", i + 1, name, type_name(a->v[i]));
        }
        return 0;
}

/* Count of characters (code points) of a UTF-8 string. */
static size_t utf8_chars(const char *s, size_t n) {
        size_t c = 0;
        for (size_t i = 0; i < n; i++)
                if (((unsigned char) s[i] & 0xc0) != 0x80)
                        c++;
        return c;
}

typedef struct DumpBuf {
        char *s;
        size_t n, allocated, limit;
        bool store;
} DumpBuf;

static int dump_cb(const char *buffer, size_t size, void *data) {
        DumpBuf *b = data;

        if (size > b->limit - b->n)
                return -1;
        if (b->store) {
                if (b->n + size + 1 > b->allocated) {
                        b->allocated = (b->n + size + 1) * 2;
                        b->s = xrealloc(b->s, b->allocated);
                }
                memcpy(b->s + b->n, buffer, size);
                b->s[b->n + size] = 0;
        }
        b->n += size;
        return 0;
}

/* Compact serialization, or NULL if longer than limit bytes. New string. */
static char *dump_limited(const json_t *v, size_t limit, size_t flags, size_t *ret_len) {
        DumpBuf b = { .limit = limit, .store = true };

        if (json_dump_callback(v, dump_cb, &b, JSON_COMPACT | JSON_ENCODE_ANY | flags) < 0) {
                free(b.s);
                return NULL;
        }
        if (!b.s)
                b.s = xstrdup("");
        if (ret_len)
                *ret_len = b.n;
        return b.s;
}

static bool size_within(const json_t *v, size_t limit) {
        DumpBuf b = { .limit = limit };

        if (json_is_string(v))
                return json_string_length(v) <= limit;
        if (!json_is_object(v) && !json_is_array(v))
                return true;
        return json_dump_callback(v, dump_cb, &b, JSON_COMPACT | JSON_ENCODE_ANY) == 0;
}

/* Equality with numbers compared by value (1 == 1.0), recursively. */
static bool intrinsic_equal(json_t *x, json_t *y) {
        if (json_is_number(x) && json_is_number(y))
                return json_number_value(x) == json_number_value(y);
        if (json_is_array(x) && json_is_array(y)) {
                if (json_array_size(x) != json_array_size(y))
                        return false;
                for (size_t i = 0; i < json_array_size(x); i++)
                        if (!intrinsic_equal(json_array_get(x, i), json_array_get(y, i)))
                                return false;
                return true;
        }
        if (json_is_object(x) && json_is_object(y)) {
                const char *k;
                json_t *v;
                if (json_object_size(x) != json_object_size(y))
                        return false;
                json_object_foreach(x, k, v) {
                        json_t *w = json_object_get(y, k);
                        if (!w || !intrinsic_equal(v, w))
                                return false;
                }
                return true;
        }
        return json_equal(x, y);
}

/* Shortest text that reads back as the same double, as "%g" lays it out
 * (States.Format's placeholders: 1.0 is "1"). */
static void format_real(double d, char *buf, size_t size) {
        for (int prec = 1; prec <= 17; prec++) {
                snprintf(buf, size, "%.*g", prec, d);
                if (strtod(buf, NULL) == d)
                        return;
        }
}

static json_t *string_or_abort(const char *s, size_t n) {
        json_t *v = json_stringn(s, n);
        if (!v)
                abort();
        return v;
}

/* A scalar as States.Format writes it: numbers in their shortest form,
 * true, false, null. (Strings are copied by the caller.) */
static void scalar_text(json_t *v, char *buf, size_t size) {
        if (json_is_integer(v))
                snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else if (json_is_real(v))
                format_real(json_real_value(v), buf, size);
        else
                snprintf(buf, size, "%s", json_is_true(v) ? "true" : json_is_false(v) ? "false" : "null");
}

typedef struct JavaText {
        char *s;
        size_t n, allocated, limit;
} JavaText;

static int java_put(JavaText *t, const char *s, size_t n) {
        if (n > t->limit - t->n)
                return -E2BIG;
        if (t->n + n + 1 > t->allocated) {
                t->allocated = (t->n + n + 1) * 2;
                t->s = xrealloc(t->s, t->allocated);
        }
        memcpy(t->s + t->n, s, n);
        t->n += n;
        t->s[t->n] = 0;
        return 0;
}

/* An object or array the way Java prints a Map or a List, which is how
 * States.Format writes one ({"Arg1":1,"Arg2":[]} is {Arg1=1, Arg2=[]}):
 * members in order, ", " between them, keys and strings without quotes.
 * Bounded by the validated nesting depth. */
static int java_put_value(JavaText *t, json_t *v) {
        const char *key;
        json_t *c;
        size_t i;
        int r = 0;

        if (json_is_object(v)) {
                bool first = true;

                r = java_put(t, "{", 1);
                json_object_foreach (v, key, c) {
                        if (r >= 0 && !first)
                                r = java_put(t, ", ", 2);
                        if (r >= 0)
                                r = java_put(t, key, strlen(key));
                        if (r >= 0)
                                r = java_put(t, "=", 1);
                        if (r >= 0)
                                r = java_put_value(t, c);
                        first = false;
                }
                return r < 0 ? r : java_put(t, "}", 1);
        }
        if (json_is_array(v)) {
                r = java_put(t, "[", 1);
                json_array_foreach (v, i, c) {
                        if (r >= 0 && i > 0)
                                r = java_put(t, ", ", 2);
                        if (r >= 0)
                                r = java_put_value(t, c);
                }
                return r < 0 ? r : java_put(t, "]", 1);
        }
        if (json_is_string(v))
                return java_put(t, json_string_value(v), json_string_length(v));

        char num[64];
        scalar_text(v, num, sizeof num);
        return java_put(t, num, strlen(num));
}

/* java_put_value() into a new string of at most limit bytes. */
static int java_text(json_t *v, size_t limit, char **ret, size_t *ret_len) {
        JavaText t = {.limit = limit};
        int r;

        r = java_put_value(&t, v);
        if (r < 0) {
                free(t.s);
                return r;
        }
        *ret = t.s ? t.s : xstrdup("");
        *ret_len = t.n;
        return 0;
}

/* ------------------------------------------------------------------------ */
/* The functions */

static int fn_format(const IntrinsicArgs *a, json_t **ret, AslError *err) {
        const char *tmpl = json_string_value(a->v[0]), *p;
        size_t next = 1, len, k = 0, cap = 64;
        _cleanup_free_ char *out = NULL;
        bool escapes = a->raw[0] != NULL;

        /* A literal template keeps its escapes (\{ is a brace, not a
         * placeholder); a template read from a path is taken as it is. */
        if (escapes) {
                tmpl = a->raw[0];
                len = strlen(tmpl);
        } else
                len = json_string_length(a->v[0]);

        out = xmalloc(cap);
#define PUT(s_, n_)                                                                  \
        do {                                                                         \
                size_t n__ = (n_);                                                   \
                if (n__ > a->max_bytes || k + n__ > a->max_bytes)                    \
                        return fail(a, err, "result is longer than %zu bytes", a->max_bytes); \
                if (k + n__ + 1 > cap) {                                             \
                        cap = (k + n__ + 1) * 2;                                     \
                        out = xrealloc(out, cap);                                \
                }                                                                    \
                memcpy(out + k, (s_), n__);                                          \
                k += n__;                                                            \
        } while (0)

        for (p = tmpl; p < tmpl + len; p++) {
                if (escapes && *p == '\\' && p + 1 < tmpl + len) {
                        p++;
                        PUT(p, 1);
                } else if (*p == '{' && p + 1 < tmpl + len && p[1] == '}') {
                        json_t *v;
                        char num[64];

                        p++;
                        if (next >= a->n)
                                return fail(a, err, "the format string has more placeholders than the %zu argument(s) given",
                                            a->n - 1);
                        v = a->v[next++];
                        if (json_is_string(v))
                                PUT(json_string_value(v), json_string_length(v));
                        else if (json_is_object(v) || json_is_array(v)) {
                                _cleanup_free_ char *text = NULL;
                                size_t tn = 0;

                                if (java_text(v, a->max_bytes, &text, &tn) < 0)
                                        return fail(a, err, "result is longer than %zu bytes", a->max_bytes);
                                PUT(text, tn);
                        } else {
                                scalar_text(v, num, sizeof num);
                                PUT(num, strlen(num));
                        }
                } else
                        PUT(p, 1);
        }
#undef PUT
        if (next != a->n)
                return fail(a, err, "%zu argument(s) given but the format string has %zu placeholder(s)",
                            a->n - 1, next - 1);
        *ret = json_stringn(out, k);
        if (!*ret)
                return fail(a, err, "result is not valid UTF-8");
        return 0;
}

static int fn_string_to_json(const IntrinsicArgs *a, json_t **ret, AslError *err) {
        const char *s = json_string_value(a->v[0]);
        size_t n = json_string_length(a->v[0]);
        json_error_t jerr;
        json_t *v;

        /* An empty or blank string is null, as in Step Functions. */
        if (asl_skip_ws(s, 0) == n) {
                *ret = json_null();
                return 0;
        }
        v = json_loadb(json_string_value(a->v[0]), json_string_length(a->v[0]), JSON_DECODE_ANY, &jerr);
        if (!v)
                return fail(a, err, "the string is not valid JSON: %s", jerr.text);
        if (json_depth(v, ASL_MAX_JSON_DEPTH + 1) > ASL_MAX_JSON_DEPTH) {
                json_decref(v);
                return fail(a, err, "the JSON is nested deeper than %d levels", ASL_MAX_JSON_DEPTH);
        }
        *ret = v;
        return 0;
}

/* The canonical JSON text (lib/json-writer.h: numbers in their shortest
 * round-trip form, as Step Functions prints them). */
static int fn_json_to_string(const IntrinsicArgs *a, json_t **ret, AslError *err) {
        _cleanup_free_ char *s = NULL;
        size_t n = 0;

        if (json_writer_size(a->v[0]) > a->max_bytes)
                return fail(a, err, "result is longer than %zu bytes", a->max_bytes);
        s = json_writer_dumpn(a->v[0], &n);
        if (!s)
                abort(); /* OOM: the argument is a valid, acyclic value */
        *ret = string_or_abort(s, n);
        return 0;
}

static int fn_array(const IntrinsicArgs *a, json_t **ret, AslError *err) {
        json_t *arr = json_array();

        if (!arr)
                abort();
        for (size_t i = 0; i < a->n; i++)
                if (json_array_append(arr, a->v[i]) < 0)
                        abort();
        *ret = arr;
        return 0;
}

static int fn_array_partition(const IntrinsicArgs *a, json_t **ret, AslError *err) {
        _cleanup_json_ json_t *out = NULL;
        json_t *arr = a->v[0], *chunk = NULL;
        int64_t size = a->ints[1];

        if (size <= 0)
                return fail(a, err, "the chunk size must be greater than 0, got %" PRId64, size);
        out = json_array();
        for (size_t i = 0; i < json_array_size(arr); i++) {
                if (i % (size_t) size == 0) {
                        chunk = json_array();
                        if (!chunk || json_array_append_new(out, chunk) < 0)
                                abort();
                }
                if (json_array_append(chunk, json_array_get(arr, i)) < 0)
                        abort();
        }
        *ret = TAKE_PTR(out);
        return 0;
}

static int fn_array_contains(const IntrinsicArgs *a, json_t **ret, AslError *err) {
        json_t *arr = a->v[0];
        bool found = false;

        for (size_t i = 0; i < json_array_size(arr) && !found; i++)
                found = intrinsic_equal(json_array_get(arr, i), a->v[1]);
        *ret = json_boolean(found);
        return 0;
}

static int fn_array_range(const IntrinsicArgs *a, json_t **ret, AslError *err) {
        int64_t start = a->ints[0], end = a->ints[1], step = a->ints[2], count;
        json_t *out;

        if (step == 0)
                return fail(a, err, "the step must not be 0");
        if ((step > 0 && end < start) || (step < 0 && end > start))
                count = 0;
        else
                count = (end - start) / step + 1;
        if (count > ASL_MAX_ARRAY_RANGE_ITEMS)
                return fail(a, err, "the range has %" PRId64 " items, at most %d are allowed", count,
                            ASL_MAX_ARRAY_RANGE_ITEMS);
        out = json_array();
        if (!out)
                abort();
        for (int64_t i = 0; i < count; i++)
                if (json_array_append_new(out, json_integer(start + i * step)) < 0)
                        abort();
        *ret = out;
        return 0;
}

static int fn_array_get_item(const IntrinsicArgs *a, json_t **ret, AslError *err) {
        json_t *arr = a->v[0];
        int64_t idx = a->ints[1];

        if (idx < 0 || (size_t) idx >= json_array_size(arr))
                return fail(a, err, "index %" PRId64 " is out of bounds for an array of length %zu", idx,
                            json_array_size(arr));
        *ret = json_incref(json_array_get(arr, (size_t) idx));
        return 0;
}

static int fn_array_length(const IntrinsicArgs *a, json_t **ret, AslError *err) {
        *ret = json_integer((json_int_t) json_array_size(a->v[0]));
        return 0;
}

static int fn_array_unique(const IntrinsicArgs *a, json_t **ret, AslError *err) {
        _cleanup_json_ json_t *seen = json_object(), *out = json_array();
        json_t *arr = a->v[0], *v;
        size_t i;

        if (!seen || !out)
                abort();
        /* Set of canonical serializations (keys sorted): linear time. The
         * array as a whole is within the payload limit (checked when it was
         * produced), so the serializations are too. */
        json_array_foreach(arr, i, v) {
                _cleanup_free_ char *key = dump_limited(v, SIZE_MAX, JSON_SORT_KEYS, NULL);
                if (!key)
                        abort();
                if (json_object_get(seen, key))
                        continue;
                if (json_object_set_new(seen, key, json_true()) < 0)
                        abort();
                if (json_array_append(out, v) < 0)
                        abort();
        }
        *ret = TAKE_PTR(out);
        return 0;
}

static const char base64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int fn_base64_encode(const IntrinsicArgs *a, json_t **ret, AslError *err) {
        _cleanup_free_ char *out = NULL;
        const char *str = json_string_value(a->v[0]);
        const unsigned char *s = (const unsigned char *) str;
        size_t n = json_string_length(a->v[0]), k = 0;

        if (utf8_chars(str, n) > BASE64_MAX_CHARS)
                return fail(a, err, "the input is longer than %d characters", BASE64_MAX_CHARS);
        out = xmalloc((n + 2) / 3 * 4 + 1);
        for (size_t i = 0; i < n; i += 3) {
                uint32_t w = (uint32_t) s[i] << 16;
                if (i + 1 < n)
                        w |= (uint32_t) s[i + 1] << 8;
                if (i + 2 < n)
                        w |= s[i + 2];
                out[k++] = base64_chars[(w >> 18) & 63];
                out[k++] = base64_chars[(w >> 12) & 63];
                out[k++] = i + 1 < n ? base64_chars[(w >> 6) & 63] : '=';
                out[k++] = i + 2 < n ? base64_chars[w & 63] : '=';
        }
        *ret = string_or_abort(out, k);
        return 0;
}

static int base64_value(char c) {
        const char *p = c ? strchr(base64_chars, c) : NULL;
        return p ? (int) (p - base64_chars) : -1;
}

static int fn_base64_decode(const IntrinsicArgs *a, json_t **ret, AslError *err) {
        _cleanup_free_ char *out = NULL;
        const char *s = json_string_value(a->v[0]);
        size_t n = json_string_length(a->v[0]), k = 0, nd = 0;
        uint32_t acc = 0;

        if (utf8_chars(s, n) > BASE64_MAX_CHARS)
                return fail(a, err, "the input is longer than %d characters", BASE64_MAX_CHARS);
        /* Padding is optional, but if present it ends the data. */
        while (n > 0 && s[n - 1] == '=' && nd < 2) {
                n--;
                nd++;
        }
        if (nd > 0 && (n + nd) % 4 != 0)
                return fail(a, err, "the input is not valid base64 (bad padding)");
        if (n % 4 == 1)
                return fail(a, err, "the input is not valid base64 (bad length)");
        out = xmalloc(n / 4 * 3 + 3);
        for (size_t i = 0; i < n; i++) {
                int v = base64_value(s[i]);
                if (v < 0)
                        return fail(a, err, "the input is not valid base64 (bad character at position %zu)", i);
                acc = acc << 6 | (uint32_t) v;
                if (i % 4 == 3) {
                        out[k++] = (char) (acc >> 16);
                        out[k++] = (char) (acc >> 8);
                        out[k++] = (char) acc;
                        acc = 0;
                }
        }
        if (n % 4 == 2)
                out[k++] = (char) (acc >> 4);
        else if (n % 4 == 3) {
                out[k++] = (char) (acc >> 10);
                out[k++] = (char) (acc >> 2);
        }
        *ret = json_stringn(out, k);
        if (!*ret)
                return fail(a, err, "the decoded data is not valid UTF-8 text");
        return 0;
}

static int fn_hash(const IntrinsicArgs *a, json_t **ret, AslError *err) {
        char hex[HASH_HEX_MAX];
        HashAlgorithm alg;
        const char *data = json_string_value(a->v[0]), *name = json_string_value(a->v[1]);

        if (utf8_chars(data, json_string_length(a->v[0])) > HASH_MAX_CHARS)
                return fail(a, err, "the input is longer than %d characters", HASH_MAX_CHARS);
        if (hash_from_name(name, &alg) < 0)
                return fail(a, err, "unknown algorithm '%s' (use MD5, SHA-1, SHA-256, SHA-384 or SHA-512)", name);
        hash_hex(alg, data, json_string_length(a->v[0]), hex);
        *ret = string_or_abort(hex, strlen(hex));
        return 0;
}

static int fn_json_merge(const IntrinsicArgs *a, json_t **ret, AslError *err) {
        json_t *out;

        if (json_is_true(a->v[2]))
                return fail(a, err, "deep merge is not supported: argument 3 must be false");
        out = json_copy(a->v[0]);
        if (!out || json_object_update(out, a->v[1]) < 0)
                abort();
        *ret = out;
        return 0;
}

static uint64_t splitmix64(uint64_t x) {
        x += 0x9e3779b97f4a7c15ULL;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        return x ^ (x >> 31);
}

static int fn_math_random(const IntrinsicArgs *a, json_t **ret, AslError *err) {
        int64_t start = a->ints[0], end = a->ints[1], seed = 0;
        uint64_t rnd;
        int r;

        if (end <= start)
                return fail(a, err, "the end (%" PRId64 ") must be greater than the start (%" PRId64 ")", end, start);
        if (a->n > 2) {
                r = arg_int(a, 2, &seed, err);
                if (r < 0)
                        return r;
                rnd = splitmix64((uint64_t) seed);
        } else {
                if (!a->env || !a->env->random)
                        return fail(a, err, "no source of randomness");
                rnd = asl_env_random_u64(a->env);
        }
        /* start inclusive, end exclusive */
        *ret = json_integer(start + (int64_t) (rnd % (uint64_t) (end - start)));
        return 0;
}

static int fn_math_add(const IntrinsicArgs *a, json_t **ret, AslError *err) {
        *ret = json_integer(a->ints[0] + a->ints[1]);
        return 0;
}

/* Length of the UTF-8 sequence starting at s (1 for a stray byte). */
static size_t utf8_len(const char *s) {
        unsigned char c = (unsigned char) *s;
        size_t l = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 1;

        for (size_t i = 1; i < l; i++)
                if (((unsigned char) s[i] & 0xc0) != 0x80)
                        return 1;
        return l;
}

static bool is_delimiter(const char *c, size_t cl, const char *delims, size_t dn) {
        for (size_t i = 0; i < dn;) {
                size_t l = utf8_len(delims + i);
                if (l == cl && memcmp(delims + i, c, l) == 0)
                        return true;
                i += l;
        }
        return false;
}

static int fn_string_split(const IntrinsicArgs *a, json_t **ret, AslError *err) {
        _cleanup_json_ json_t *out = json_array();
        const char *s = json_string_value(a->v[0]), *d = json_string_value(a->v[1]);
        size_t n = json_string_length(a->v[0]), dn = json_string_length(a->v[1]), tok = 0;

        if (!out)
                abort();
        if (dn == 0)
                return fail(a, err, "the delimiter must not be empty");
        /* Every character of the delimiter string separates; empty tokens
         * are dropped (like java.util.StringTokenizer). */
        for (size_t i = 0; i <= n;) {
                size_t l = i < n ? utf8_len(s + i) : 0;
                if (i == n || is_delimiter(s + i, l, d, dn)) {
                        if (i > tok && json_array_append_new(out, string_or_abort(s + tok, i - tok)) < 0)
                                abort();
                        if (i == n)
                                break;
                        tok = i + l;
                }
                i += l;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

static int fn_uuid(const IntrinsicArgs *a, json_t **ret, AslError *err) {
        uint8_t b[16];
        char s[FORMAT_UUID_MAX];

        if (!a->env || !a->env->random)
                return fail(a, err, "no source of randomness");
        a->env->random(a->env->random_userdata, b, sizeof b);
        uuid_set_version(b, 4);
        *ret = string_or_abort(format_uuid(b, s), 36);
        return 0;
}

static const IntrinsicFunction intrinsic_table[] = {
        { "States.Format", 1, INTRINSIC_MAX_ARGS, "s", fn_format },
        { "States.StringToJson", 1, 1, "s", fn_string_to_json },
        { "States.JsonToString", 1, 1, "", fn_json_to_string },
        { "States.Array", 0, INTRINSIC_MAX_ARGS, "", fn_array },
        { "States.ArrayPartition", 2, 2, "ai", fn_array_partition },
        { "States.ArrayContains", 2, 2, "a", fn_array_contains },
        { "States.ArrayRange", 3, 3, "iii", fn_array_range },
        { "States.ArrayGetItem", 2, 2, "ai", fn_array_get_item },
        { "States.ArrayLength", 1, 1, "a", fn_array_length },
        { "States.ArrayUnique", 1, 1, "a", fn_array_unique },
        { "States.Base64Encode", 1, 1, "s", fn_base64_encode },
        { "States.Base64Decode", 1, 1, "s", fn_base64_decode },
        { "States.Hash", 2, 2, "ss", fn_hash },
        { "States.JsonMerge", 3, 3, "oob", fn_json_merge },
        /* The seed (argument 3) is checked by fn_math_random, after the range. */
        { "States.MathRandom", 2, 3, "ii", fn_math_random },
        { "States.MathAdd", 2, 2, "ii", fn_math_add },
        { "States.StringSplit", 2, 2, "ss", fn_string_split },
        { "States.UUID", 0, 0, "", fn_uuid },
};

static const IntrinsicFunction *function_lookup(const char *name, size_t n) {
        for (size_t i = 0; i < ELEMENTSOF(intrinsic_table); i++)
                if (strlen(intrinsic_table[i].name) == n && memcmp(intrinsic_table[i].name, name, n) == 0)
                        return &intrinsic_table[i];
        return NULL;
}

size_t intrinsic_n_functions(void) {
        return ELEMENTSOF(intrinsic_table);
}

const char *intrinsic_function_name(size_t i) {
        return i < ELEMENTSOF(intrinsic_table) ? intrinsic_table[i].name : NULL;
}

/* ------------------------------------------------------------------------ */
/* Parser */

typedef struct Parser {
        const char *s;
        size_t pos;
        char *error; /* owned */
} Parser;

/* The first error, at the current position: -EINVAL. */
#define parser_fail(p, ...) asl_parse_fail(&(p)->error, (p)->pos, __VA_ARGS__)

static char peek(Parser *p) {
        return p->s[p->pos];
}

static void skip_ws(Parser *p) {
        p->pos = asl_skip_ws(p->s, p->pos);
}

static bool is_ident_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_';
}

static int parse_call(Parser *p, unsigned depth, IntrinsicNode **ret);

static int parse_string(Parser *p, IntrinsicNode **ret) {
        _cleanup_node_ IntrinsicNode *n = NULL;
        _cleanup_free_ char *dec = NULL;
        size_t start, k = 0;

        p->pos++; /* ' */
        start = p->pos;
        dec = xmalloc(strlen(p->s + start) + 1);
        for (;;) {
                char c = peek(p);
                if (!c) {
                        p->pos = start - 1;
                        return parser_fail(p, "unterminated string literal");
                }
                if (c == '\'')
                        break;
                if (c == '\\') {
                        p->pos++;
                        c = peek(p);
                        if (!c)
                                return parser_fail(p, "unterminated escape in string literal");
                        /* \' \{ \} \\ are the escapes; Step Functions
                         * refuses any other (\" too). */
                        if (!strchr("'{}\\", c))
                                return parser_fail(p,
                                                   "invalid escape '\\%c' in string literal (only \\', \\{, "
                                                   "\\} and \\\\ are escapes)",
                                                   c);
                }
                dec[k++] = c;
                p->pos++;
        }
        n = node_new(NODE_STRING);
        n->raw = xstrndup(p->s + start, p->pos - start);
        n->value = json_stringn(dec, k);
        if (!n->value)
                return parser_fail(p, "string literal is not valid UTF-8");
        p->pos++; /* ' */
        *ret = TAKE_PTR(n);
        return 0;
}

static int parse_path(Parser *p, IntrinsicNode **ret) {
        _cleanup_node_ IntrinsicNode *n = NULL;
        _cleanup_free_ char *msg = NULL, *rel = NULL;
        size_t start = p->pos, brackets = 0, parens = 0;
        char quote = 0;

        /* The path ends at ',' ')' or whitespace outside brackets. */
        for (;; p->pos++) {
                char c = peek(p);
                if (!c)
                        break;
                if (quote) {
                        if (c == '\\' && p->s[p->pos + 1])
                                p->pos++;
                        else if (c == quote)
                                quote = 0;
                        continue;
                }
                if (brackets > 0 && (c == '\'' || c == '"'))
                        quote = c;
                else if (c == '[')
                        brackets++;
                else if (c == ']' && brackets > 0)
                        brackets--;
                else if (c == '(' && brackets > 0)
                        parens++;
                else if (c == ')' && parens > 0)
                        parens--;
                else if (brackets == 0 && (c == ',' || c == ')' || c == ' ' || c == '\t' || c == '\n' || c == '\r'))
                        break;
        }
        n = node_new(NODE_PATH);
        n->path = xstrndup(p->s + start, p->pos - start);
        asl_path_root(n->path, NULL, &rel);
        if (jsonpath_check(rel, &msg) == JSONPATH_INVALID) {
                p->pos = start;
                return parser_fail(p, "%s", msg ? msg : "invalid path");
        }
        *ret = TAKE_PTR(n);
        return 0;
}

static int parse_number(Parser *p, IntrinsicNode **ret) {
        _cleanup_node_ IntrinsicNode *n = NULL;
        const char *s = p->s + p->pos;
        size_t i = 0;
        bool real = false;
        char *end;

        if (s[i] == '-')
                i++;
        if (s[i] < '0' || s[i] > '9')
                return parser_fail(p, "expected a number");
        while (s[i] >= '0' && s[i] <= '9')
                i++;
        if (s[i] == '.') {
                real = true;
                i++;
                if (s[i] < '0' || s[i] > '9')
                        return parser_fail(p, "expected digits after '.'");
                while (s[i] >= '0' && s[i] <= '9')
                        i++;
        }
        if (s[i] == 'e' || s[i] == 'E') {
                real = true;
                i++;
                if (s[i] == '+' || s[i] == '-')
                        i++;
                if (s[i] < '0' || s[i] > '9')
                        return parser_fail(p, "expected digits in the exponent");
                while (s[i] >= '0' && s[i] <= '9')
                        i++;
        }
        n = node_new(NODE_VALUE);
        errno = 0;
        if (real) {
                double d = strtod(s, &end);
                if (!isfinite(d))
                        return parser_fail(p, "number out of range");
                n->value = json_real(d);
        } else {
                long long ll = strtoll(s, &end, 10);
                if (errno == ERANGE)
                        return parser_fail(p, "number out of range");
                n->value = json_integer(ll);
        }
        if (!n->value || (size_t) (end - s) != i)
                return parser_fail(p, "bad number");
        p->pos += i;
        *ret = TAKE_PTR(n);
        return 0;
}

static int parse_arg(Parser *p, unsigned depth, IntrinsicNode **ret) {
        static const struct {
                const char *word;
                json_t *(*make)(void);
        } words[] = {
                { "true", json_true },
                { "false", json_false },
                { "null", json_null },
        };
        char c;

        skip_ws(p);
        c = peek(p);
        if (c == '\'')
                return parse_string(p, ret);
        if (c == '$')
                return parse_path(p, ret);
        if (c == '-' || (c >= '0' && c <= '9'))
                return parse_number(p, ret);
        for (size_t i = 0; i < ELEMENTSOF(words); i++) {
                size_t l = strlen(words[i].word);
                if (strncmp(p->s + p->pos, words[i].word, l) == 0 && !is_ident_char(p->s[p->pos + l])) {
                        IntrinsicNode *n = node_new(NODE_VALUE);
                        n->value = words[i].make();
                        p->pos += l;
                        *ret = n;
                        return 0;
                }
        }
        if (strncmp(p->s + p->pos, "States.", 7) == 0)
                return parse_call(p, depth + 1, ret);
        if (c == '"')
                return parser_fail(p, "string literals must use single quotes");
        if (c == ')' || c == ',' || c == 0)
                return parser_fail(p, "expected an argument");
        return parser_fail(p, "unexpected character '%c' (expected a 'string', a number, true, false, null, a path or a call)", c);
}

static int parse_call(Parser *p, unsigned depth, IntrinsicNode **ret) {
        _cleanup_node_ IntrinsicNode *n = NULL;
        size_t start;
        int r;

        if (depth > ASL_MAX_INTRINSIC_NESTING)
                return parser_fail(p, "intrinsic functions nested more than %d deep", ASL_MAX_INTRINSIC_NESTING);
        skip_ws(p);
        start = p->pos;
        while (is_ident_char(peek(p)))
                p->pos++;
        if (p->pos == start || strncmp(p->s + start, "States.", 7) != 0) {
                p->pos = start;
                return parser_fail(p, "expected an intrinsic function name (States.Name)");
        }
        n = node_new(NODE_CALL);
        n->fn = function_lookup(p->s + start, p->pos - start);
        if (!n->fn) {
                size_t l = p->pos - start;
                p->pos = start;
                return parser_fail(p, "unknown intrinsic function '%.*s'", (int) l, p->s + start);
        }
        skip_ws(p);
        if (peek(p) != '(')
                return parser_fail(p, "expected '(' after %s", n->fn->name);
        p->pos++;
        skip_ws(p);
        if (peek(p) == ')')
                p->pos++;
        else
                for (;;) {
                        IntrinsicNode *arg = NULL;

                        if (n->n_args >= INTRINSIC_MAX_ARGS)
                                return parser_fail(p, "more than %d arguments", INTRINSIC_MAX_ARGS);
                        r = parse_arg(p, depth, &arg);
                        if (r < 0)
                                return r;
                        n->args = xrealloc(n->args, (n->n_args + 1) * sizeof(IntrinsicNode *));
                        n->args[n->n_args++] = arg;
                        skip_ws(p);
                        if (peek(p) == ',') {
                                p->pos++;
                                continue;
                        }
                        if (peek(p) == ')') {
                                p->pos++;
                                break;
                        }
                        return parser_fail(p, "expected ',' or ')' in the arguments of %s", n->fn->name);
                }
        if (n->n_args < n->fn->min_args || n->n_args > n->fn->max_args) {
                if (n->fn->min_args == n->fn->max_args)
                        return parser_fail(p, "%s takes %zu argument(s), got %zu", n->fn->name, n->fn->min_args,
                                           n->n_args);
                if (n->fn->max_args == INTRINSIC_MAX_ARGS)
                        return parser_fail(p, "%s takes at least %zu argument(s), got %zu", n->fn->name,
                                           n->fn->min_args, n->n_args);
                return parser_fail(p, "%s takes %zu to %zu arguments, got %zu", n->fn->name, n->fn->min_args,
                                   n->fn->max_args, n->n_args);
        }
        *ret = TAKE_PTR(n);
        return 0;
}

/* Checks that need no input: literal arguments of the wrong kind. */
static int static_check(Parser *p, const IntrinsicNode *n) {
        if (n->type != NODE_CALL)
                return 0;
        for (size_t i = 0; i < n->n_args; i++)
                if (static_check(p, n->args[i]) < 0)
                        return -EINVAL;

        if (streq(n->fn->name, "States.Format") && n->args[0]->type == NODE_STRING) {
                const char *t = n->args[0]->raw;
                size_t holders = 0;
                for (; *t; t++) {
                        if (*t == '\\' && t[1])
                                t++;
                        else if (t[0] == '{' && t[1] == '}') {
                                holders++;
                                t++;
                        }
                }
                if (holders != n->n_args - 1)
                        return parser_fail(p, "States.Format: the format string has %zu placeholder(s) but %zu argument(s) follow",
                                           holders, n->n_args - 1);
        }
        if (streq(n->fn->name, "States.Hash") && n->args[1]->type == NODE_STRING) {
                HashAlgorithm alg;
                if (hash_from_name(json_string_value(n->args[1]->value), &alg) < 0)
                        return parser_fail(p, "States.Hash: unknown algorithm '%s' (use MD5, SHA-1, SHA-256, SHA-384 or SHA-512)",
                                           json_string_value(n->args[1]->value));
        }
        if (streq(n->fn->name, "States.JsonMerge") && n->args[2]->type == NODE_VALUE &&
            !json_is_false(n->args[2]->value))
                return parser_fail(p, "States.JsonMerge: only shallow merge is supported, the third argument must be false");
        return 0;
}

static int expr_parse(const char *expr, IntrinsicNode **ret, char **ret_msg) {
        _cleanup_node_ IntrinsicNode *n = NULL;
        Parser p = { .s = expr };
        int r;

        if (!expr) {
                if (ret_msg)
                        *ret_msg = xstrdup("intrinsic function call is missing");
                return -EINVAL;
        }
        if (strlen(expr) > INTRINSIC_MAX_LENGTH) {
                if (ret_msg)
                        *ret_msg = xasprintf("intrinsic function call is longer than %d characters",
                                             INTRINSIC_MAX_LENGTH);
                return -EINVAL;
        }
        r = parse_call(&p, 1, &n);
        if (r >= 0) {
                skip_ws(&p);
                if (peek(&p))
                        r = parser_fail(&p, "unexpected text after the call");
        }
        if (r >= 0)
                r = static_check(&p, n);
        if (r < 0) {
                if (ret_msg)
                        *ret_msg = xasprintf("invalid intrinsic function call '%.*s%s': %s", EXPR_ECHO_MAX,
                                             expr, strlen(expr) > EXPR_ECHO_MAX ? "..." : "",
                                             p.error ? p.error : "syntax error");
                free(p.error);
                return r;
        }
        free(p.error);
        *ret = TAKE_PTR(n);
        return 0;
}

bool intrinsic_is_call(const char *s) {
        size_t i = 7;

        if (!s || strncmp(s, "States.", 7) != 0)
                return false;
        while (is_ident_char(s[i]))
                i++;
        while (s[i] == ' ' || s[i] == '\t')
                i++;
        return i > 7 && s[i] == '(';
}

int intrinsic_check(const char *expr, char **ret_msg) {
        _cleanup_node_ IntrinsicNode *n = NULL;

        return expr_parse(expr, &n, ret_msg);
}

/* ------------------------------------------------------------------------ */
/* Evaluation */

typedef struct EvalCtx {
        json_t *input;
        const AslRefs *refs;
        const AslEnv *env;
        size_t max_bytes;
} EvalCtx;

static int eval_node(const EvalCtx *c, const IntrinsicNode *n, json_t **ret, AslError *err) {
        int r;

        switch (n->type) {
        case NODE_STRING:
        case NODE_VALUE:
                *ret = json_incref(n->value);
                return 0;
        case NODE_PATH: {
                AslPathRoot root = asl_path_root(n->path, NULL, NULL);
                json_t *v = NULL,
                       *doc = root == ASL_PATH_CONTEXT ? (c->refs ? c->refs->context : NULL) : c->input;

                if (!doc && root != ASL_PATH_VARIABLE)
                        return asl_error_set(err, INTRINSIC_FAILURE,
                                             "The JSONPath '%s' cannot be evaluated: there is no %s",
                                             n->path, root == ASL_PATH_CONTEXT ? "context object" : "input");
                r = asl_path_eval(n->path, c->input, c->refs, &v, NULL);
                if (r == -ENOENT) {
                        /* States.Runtime, as Step Functions raises it;
                         * intrinsic_eval() names the whole expression. */
                        _cleanup_free_ char *text = json_writer_dumps(doc ? doc : json_null());
                        return asl_error_set(err, "States.Runtime",
                                             "The JsonPath argument for the field '%s' could not be found "
                                             "in the input '%s'",
                                             n->path, text ? text : "");
                }
                if (r < 0)
                        return asl_error_set(err, INTRINSIC_FAILURE,
                                             "The JSONPath '%s' could not be evaluated: %s", n->path,
                                             r == -E2BIG ? "too many results" : "invalid path");
                if (!size_within(v, c->max_bytes)) {
                        json_decref(v);
                        return asl_error_set(err, INTRINSIC_FAILURE,
                                             "The value of JSONPath '%s' is larger than %zu bytes", n->path,
                                             c->max_bytes);
                }
                *ret = v;
                return 0;
        }
        case NODE_CALL: {
                json_t **v = xmalloc((n->n_args + 1) * sizeof(json_t *));
                const char **raw = xmalloc((n->n_args + 1) * sizeof(char *));
                IntrinsicArgs a = {
                        .fn = n->fn, .v = v, .raw = raw, .n = 0, .env = c->env, .max_bytes = c->max_bytes,
                };
                json_t *out = NULL;

                r = 0;
                for (size_t i = 0; i < n->n_args && r >= 0; i++) {
                        r = eval_node(c, n->args[i], &v[i], err);
                        if (r >= 0) {
                                raw[i] = n->args[i]->type == NODE_STRING ? n->args[i]->raw : NULL;
                                a.n++;
                        }
                }
                if (r >= 0)
                        r = args_check(&a, err);
                if (r >= 0)
                        r = n->fn->fn(&a, &out, err);
                if (r >= 0 && !out)
                        abort();
                if (r >= 0 && !size_within(out, c->max_bytes))
                        r = fail(&a, err, "result is larger than %zu bytes", c->max_bytes);
                for (size_t i = 0; i < a.n; i++)
                        json_decref(v[i]);
                free(v);
                free(raw);
                if (r < 0) {
                        json_decref(out);
                        return r;
                }
                *ret = out;
                return 0;
        }
        }
        return -EINVAL;
}

int intrinsic_eval(const char *expr, json_t *input, const AslRefs *refs, const AslEnv *env, json_t **ret,
                   AslError *err) {
        _cleanup_node_ IntrinsicNode *n = NULL;
        _cleanup_free_ char *msg = NULL;
        EvalCtx c = {
                .input = input,
                .refs = refs,
                .env = env,
                .max_bytes = env && env->max_payload_bytes ? env->max_payload_bytes
                                                           : ASL_MAX_PAYLOAD_BYTES_DEFAULT,
        };
        json_t *v = NULL;
        int r;

        r = expr_parse(expr, &n, &msg);
        if (r < 0)
                return asl_error_set(err, INTRINSIC_FAILURE, "%s", msg);
        r = eval_node(&c, n, &v, err);
        if (r < 0) {
                if (err && err->error && streq(err->error, "States.Runtime")) {
                        _cleanup_free_ char *cause = TAKE_PTR(err->cause);
                        asl_error_set(err, "States.Runtime", "The function '%s' had the following error: %s",
                                      expr, cause ? cause : "");
                }
                return r;
        }
        *ret = v;
        return 0;
}
