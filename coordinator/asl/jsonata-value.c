/* SPDX-License-Identifier: MIT */
/*
 * JSONata values: the arena they live in, constructors, objects (insertion
 * ordered, with a hash index once they grow), JSON in and out, deep
 * equality, JSON.stringify as $string does it, and JavaScript's number
 * formatting.
 *
 * The arena counts the bytes it hands out against the evaluation's memory
 * limit; going past it is the error U1002. Chunks grow from 4 KiB to 64 KiB,
 * larger requests get a chunk of their own. Growing arrays copy into a new block
 * (the old one stays until the evaluation ends), so the waste is bounded by
 * the doubling.
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "json-writer.h"
#include "jsonata-internal.h"

#define CHUNK_SIZE (64 * 1024)

struct JnChunk {
        JnChunk *next;
        size_t size;
        max_align_t data[];
};

void *jn_arena_alloc(JnArena *a, size_t n) {
        n = (n + 15) & ~(size_t) 15;
        if (a->limit && a->used + n > a->limit) {
                a->over = true;
                return NULL;
        }
        a->used += n;
        if ((size_t) (a->end - a->pos) < n) {
                /* chunks grow from 4 KiB to 64 KiB: a small expression costs one small malloc */
                a->chunk = a->chunk ? (a->chunk < CHUNK_SIZE ? a->chunk * 2 : CHUNK_SIZE) : 4096;
                size_t size = n > a->chunk / 4 ? n : a->chunk;
                JnChunk *c = xmalloc(sizeof(JnChunk) + size);
                c->size = size;
                if (n > a->chunk / 4 && a->chunks) {
                        /* a big block: keep the current chunk for small ones */
                        c->next = a->chunks->next;
                        a->chunks->next = c;
                        return c->data;
                }
                c->next = a->chunks;
                a->chunks = c;
                a->pos = (char *) c->data;
                a->end = a->pos + size;
        }
        void *p = a->pos;
        a->pos += n;
        return p;
}

void jn_arena_free(JnArena *a) {
        JnChunk *c = a->chunks;
        while (c) {
                JnChunk *n = c->next;
                free(c);
                c = n;
        }
        *a = (JnArena){};
}

void *jn_alloc(JnEval *ev, size_t n) {
        void *p = jn_arena_alloc(&ev->arena, n);
        if (!p)
                jn_throw(ev, "U1002", NULL, NULL, "Evaluation needs more than the memory limit of %zu bytes",
                         ev->arena.limit);
        return p;
}

char *jn_strndup(JnEval *ev, const char *s, size_t n) {
        char *p = jn_alloc(ev, n + 1);
        memcpy(p, s, n);
        p[n] = 0;
        return p;
}

char *jn_printf(JnEval *ev, const char *fmt, ...) {
        va_list ap;
        char small[256];
        int n;

        va_start(ap, fmt);
        n = vsnprintf(small, sizeof(small), fmt, ap);
        va_end(ap);
        if (n < 0)
                return jn_strndup(ev, "", 0);
        if ((size_t) n < sizeof(small))
                return jn_strndup(ev, small, (size_t) n);
        char *p = jn_alloc(ev, (size_t) n + 1);
        va_start(ap, fmt);
        vsnprintf(p, (size_t) n + 1, fmt, ap);
        va_end(ap);
        return p;
}

/* ------------------------------------------------------------------------ */
/* Constructors */

static JnValue v_null = {.type = JN_NULL};
static JnValue v_true = {.type = JN_BOOL, .b = true};
static JnValue v_false = {.type = JN_BOOL, .b = false};

/* The constants are never written: every writer checks the type first
 * (arrays and objects are always fresh). */
JnValue *jn_null(void) {
        return &v_null;
}

JnValue *jn_bool(bool b) {
        return b ? &v_true : &v_false;
}

static JnValue *value_new(JnEval *ev, JnType t) {
        JnValue *v = jn_alloc(ev, sizeof(JnValue));
        memset(v, 0, sizeof(*v));
        v->type = (uint8_t) t;
        return v;
}

JnValue *jn_number(JnEval *ev, double d) {
        JnValue *v = value_new(ev, JN_NUMBER);
        v->num = d;
        return v;
}

JnValue *jn_string_nocopy(JnEval *ev, const char *s, size_t len) {
        JnValue *v = value_new(ev, JN_STRING);
        v->str.s = s;
        v->str.len = len;
        return v;
}

JnValue *jn_string(JnEval *ev, const char *s, size_t len) {
        return jn_string_nocopy(ev, jn_strndup(ev, s, len), len);
}

JnValue *jn_cstring(JnEval *ev, const char *s) {
        return jn_string(ev, s, strlen(s));
}

JnValue *jn_array(JnEval *ev, size_t cap) {
        JnValue *v = value_new(ev, JN_ARRAY);
        if (cap) {
                v->arr.items = jn_alloc(ev, cap * sizeof(JnValue *));
                v->arr.cap = cap;
        }
        return v;
}

JnValue *jn_sequence(JnEval *ev) {
        JnValue *v = jn_array(ev, 0);
        v->flags = JN_SEQUENCE;
        return v;
}

JnValue *jn_object(JnEval *ev) {
        JnValue *v = value_new(ev, JN_OBJECT);
        v->obj = jn_alloc(ev, sizeof(JnObject));
        memset(v->obj, 0, sizeof(JnObject));
        return v;
}

JnValue *jn_function(JnEval *ev, JnFnKind kind) {
        JnValue *v = value_new(ev, JN_FUNCTION);
        v->fn = jn_alloc(ev, sizeof(JnFunction));
        memset(v->fn, 0, sizeof(JnFunction));
        v->fn->kind = kind;
        return v;
}

void jn_array_push(JnEval *ev, JnValue *arr, JnValue *v) {
        JnArray *a = &arr->arr;
        if (a->n == a->cap) {
                size_t cap = a->cap ? a->cap * 2 : 4;
                JnValue **items = jn_alloc(ev, cap * sizeof(JnValue *));
                if (a->n)
                        memcpy(items, a->items, a->n * sizeof(JnValue *));
                a->items = items;
                a->cap = cap;
        }
        a->items[a->n++] = v;
        if ((a->n & 0xFFF) == 0)
                jn_step(ev, 1);
}

/* ------------------------------------------------------------------------ */
/* Objects */

static uint32_t hash_key(const char *s, size_t n) {
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < n; i++)
                h = (h ^ (unsigned char) s[i]) * 16777619u;
        return h;
}

static void index_insert(JnObject *o, size_t i) {
        size_t mask = o->index_cap - 1;
        size_t h = hash_key(o->keys[i], o->klens[i]) & mask;
        while (o->index[h])
                h = (h + 1) & mask;
        o->index[h] = (uint32_t) (i + 1);
}

static void index_build(JnEval *ev, JnObject *o) {
        o->index_cap = 16;
        while (o->index_cap < o->cap * 2)
                o->index_cap *= 2;
        o->index = jn_alloc(ev, o->index_cap * sizeof(uint32_t));
        memset(o->index, 0, o->index_cap * sizeof(uint32_t));
        for (size_t i = 0; i < o->n; i++)
                index_insert(o, i);
}

static ssize_t object_find(const JnObject *o, const char *key, size_t klen) {
        if (o->index) {
                size_t mask = o->index_cap - 1;
                size_t h = hash_key(key, klen) & mask;
                while (o->index[h]) {
                        size_t i = o->index[h] - 1;
                        if (o->klens[i] == klen && memcmp(o->keys[i], key, klen) == 0)
                                return (ssize_t) i;
                        h = (h + 1) & mask;
                }
                return -1;
        }
        for (size_t i = 0; i < o->n; i++)
                if (o->klens[i] == klen && memcmp(o->keys[i], key, klen) == 0)
                        return (ssize_t) i;
        return -1;
}

JnValue *jn_object_get(const JnValue *obj, const char *key, size_t klen) {
        ssize_t i = object_find(obj->obj, key, klen);
        return i < 0 ? NULL : obj->obj->vals[i];
}

void jn_object_set(JnEval *ev, JnValue *obj, const char *key, size_t klen, JnValue *v) {
        JnObject *o = obj->obj;
        ssize_t i = object_find(o, key, klen);

        if (i >= 0) {
                o->vals[i] = v;
                return;
        }
        if (o->n == o->cap) {
                size_t cap = o->cap ? o->cap * 2 : 4;
                const char **keys = jn_alloc(ev, cap * sizeof(char *));
                size_t *klens = jn_alloc(ev, cap * sizeof(size_t));
                JnValue **vals = jn_alloc(ev, cap * sizeof(JnValue *));
                if (o->n) {
                        memcpy(keys, o->keys, o->n * sizeof(char *));
                        memcpy(klens, o->klens, o->n * sizeof(size_t));
                        memcpy(vals, o->vals, o->n * sizeof(JnValue *));
                }
                o->keys = keys;
                o->klens = klens;
                o->vals = vals;
                o->cap = cap;
                if (o->index || cap > 8)
                        o->index = NULL, o->index_cap = 0;
        }
        o->keys[o->n] = key;
        o->klens[o->n] = klen;
        o->vals[o->n] = v;
        o->n++;
        if (o->index)
                index_insert(o, o->n - 1);
        else if (o->cap > 8)
                index_build(ev, o);
}

void jn_object_del(JnValue *obj, const char *key, size_t klen) {
        JnObject *o = obj->obj;
        ssize_t i = object_find(o, key, klen);

        if (i < 0)
                return;
        memmove(o->keys + i, o->keys + i + 1, (o->n - (size_t) i - 1) * sizeof(char *));
        memmove(o->klens + i, o->klens + i + 1, (o->n - (size_t) i - 1) * sizeof(size_t));
        memmove(o->vals + i, o->vals + i + 1, (o->n - (size_t) i - 1) * sizeof(JnValue *));
        o->n--;
        if (o->index) {
                memset(o->index, 0, o->index_cap * sizeof(uint32_t));
                for (size_t k = 0; k < o->n; k++)
                        index_insert(o, k);
        }
}

/* ------------------------------------------------------------------------ */
/* JSON in and out */

static JnValue *from_json(JnEval *ev, const json_t *j, bool copy, size_t depth);

JnValue *jn_from_json(JnEval *ev, const json_t *j) {
        return from_json(ev, j, false, 1);
}

JnValue *jn_from_json_copy(JnEval *ev, const json_t *j) {
        return from_json(ev, j, true, 1);
}

/* copy: strings and keys are copied into the arena (else they point into j,
 * which must then outlive the evaluation). */
static JnValue *from_json(JnEval *ev, const json_t *j, bool copy, size_t depth) {
        if (!j)
                return NULL;
        jn_check_depth(ev, depth);
        switch (json_typeof(j)) {
        case JSON_NULL:
                return jn_null();
        case JSON_TRUE:
                return jn_bool(true);
        case JSON_FALSE:
                return jn_bool(false);
        case JSON_INTEGER:
                return jn_number(ev, (double) json_integer_value(j));
        case JSON_REAL:
                return jn_number(ev, json_real_value(j));
        case JSON_STRING:
                if (copy)
                        return jn_string(ev, json_string_value(j), json_string_length(j));
                return jn_string_nocopy(ev, json_string_value(j), json_string_length(j));
        case JSON_ARRAY: {
                size_t n = json_array_size(j);
                JnValue *a = jn_array(ev, n);
                for (size_t i = 0; i < n; i++)
                        a->arr.items[i] = from_json(ev, json_array_get(j, i), copy, depth + 1);
                a->arr.n = n;
                jn_step(ev, 1);
                return a;
        }
        case JSON_OBJECT: {
                /* jansson's keys are unique: fill the arrays at their final size */
                JnValue *o = jn_object(ev);
                JnObject *ob = o->obj;
                size_t n = json_object_size(j);
                const char *k;
                size_t kl;
                json_t *v;
                if (n > 0) {
                        ob->cap = n;
                        ob->keys = jn_alloc(ev, n * sizeof(char *));
                        ob->klens = jn_alloc(ev, n * sizeof(size_t));
                        ob->vals = jn_alloc(ev, n * sizeof(JnValue *));
                }
                json_object_keylen_foreach((json_t *) j, k, kl, v) {
                        ob->keys[ob->n] = copy ? jn_strndup(ev, k, kl) : k;
                        ob->klens[ob->n] = kl;
                        ob->vals[ob->n] = from_json(ev, v, copy, depth + 1);
                        ob->n++;
                }
                if (n > 8)
                        index_build(ev, ob);
                jn_step(ev, 1);
                return o;
        }
        }
        return NULL;
}

static json_t *string_to_json(const char *s, size_t len) {
        json_t *j = json_stringn(s, len);
        if (j)
                return j;
        /* not valid UTF-8 (a lone surrogate from a \u escape): U+FFFD for each bad byte */
        char *out = xmalloc(len * 3 + 1);
        size_t n = 0;
        for (size_t i = 0; i < len;) {
                unsigned char c = (unsigned char) s[i];
                size_t l = c < 0x80 ? 1 : utf8_sequence((const unsigned char *) s + i, len - i);
                if (c == 0)
                        l = 1;
                if (l == 0) {
                        memcpy(out + n, "\xef\xbf\xbd", 3);
                        n += 3;
                        i++;
                } else {
                        memcpy(out + n, s + i, l);
                        n += l;
                        i += l;
                }
        }
        j = json_stringn(out, n);
        free(out);
        return j;
}

json_t *jn_to_json(const JnValue *v) {
        if (!v)
                return NULL;
        switch ((JnType) v->type) {
        case JN_NULL:
                return json_null();
        case JN_BOOL:
                return json_boolean(v->b);
        case JN_NUMBER:
                if (v->num == floor(v->num) && fabs(v->num) < 9007199254740992.0)
                        return json_integer((json_int_t) v->num);
                if (!isfinite(v->num)) /* as JSON.stringify writes NaN */
                        return json_null();
                return json_real(v->num);
        case JN_STRING:
                return string_to_json(v->str.s, v->str.len);
        case JN_ARRAY: {
                json_t *a = json_array();
                for (size_t i = 0; i < v->arr.n; i++) {
                        json_t *x = jn_to_json(v->arr.items[i]);
                        json_array_append_new(a, x ? x : json_null());
                }
                return a;
        }
        case JN_OBJECT: {
                json_t *o = json_object();
                for (size_t i = 0; i < v->obj->n; i++) {
                        json_t *x = jn_to_json(v->obj->vals[i]);
                        if (x)
                                json_object_setn_new(o, v->obj->keys[i], v->obj->klens[i], x);
                }
                return o;
        }
        case JN_FUNCTION:
                return NULL;
        }
        return NULL;
}

/* ------------------------------------------------------------------------ */
/* Equality, truthiness, append, clone */

static int key_cmp(const void *a, const void *b) {
        const char *const *x = a, *const *y = b;
        return strcmp(*x, *y);
}

size_t jn_value_depth(const JnValue *v, size_t limit) {
        size_t max = 0;
        if (!v || limit == 0 || (v->type != JN_ARRAY && v->type != JN_OBJECT))
                return v ? 1 : 0;
        if (v->type == JN_ARRAY)
                for (size_t i = 0; i < v->arr.n && max < limit; i++) {
                        size_t d = jn_value_depth(v->arr.items[i], limit - 1);
                        max = d > max ? d : max;
                }
        else
                for (size_t i = 0; i < v->obj->n && max < limit; i++) {
                        size_t d = jn_value_depth(v->obj->vals[i], limit - 1);
                        max = d > max ? d : max;
                }
        return max + 1;
}

void jn_check_depth(JnEval *ev, size_t depth) {
        if (depth > JSONATA_MAX_VALUE_DEPTH)
                jn_throw(ev, "U1001", NULL, NULL, "A value is nested deeper than the limit of %d levels",
                         JSONATA_MAX_VALUE_DEPTH);
}

static bool equal_at(JnEval *ev, const JnValue *a, const JnValue *b, size_t depth);

bool jn_deep_equal(JnEval *ev, const JnValue *a, const JnValue *b) {
        return equal_at(ev, a, b, 1);
}

static bool equal_at(JnEval *ev, const JnValue *a, const JnValue *b, size_t depth) {
        jn_check_depth(ev, depth);
        jn_step(ev, 1);
        if (a == b)
                return true;
        if (!a || !b)
                return false;
        if (a->type != b->type)
                return false;
        switch ((JnType) a->type) {
        case JN_NULL:
                return true;
        case JN_BOOL:
                return a->b == b->b;
        case JN_NUMBER:
                return a->num == b->num;
        case JN_STRING:
                return a->str.len == b->str.len && memcmp(a->str.s, b->str.s, a->str.len) == 0;
        case JN_ARRAY:
                if (a->arr.n != b->arr.n)
                        return false;
                for (size_t i = 0; i < a->arr.n; i++)
                        if (!equal_at(ev, a->arr.items[i], b->arr.items[i], depth + 1))
                                return false;
                return true;
        case JN_OBJECT: {
                const JnObject *x = a->obj, *y = b->obj;
                if (x->n != y->n)
                        return false;
                for (size_t i = 0; i < x->n; i++) {
                        ssize_t j = object_find(y, x->keys[i], x->klens[i]);
                        if (j < 0 || !equal_at(ev, x->vals[i], y->vals[j], depth + 1))
                                return false;
                }
                return true;
        }
        case JN_FUNCTION:
                return false;
        }
        (void) key_cmp;
        return false;
}

int jn_boolean(const JnValue *v) {
        if (!v)
                return -1;
        switch ((JnType) v->type) {
        case JN_NULL:
                return 0;
        case JN_BOOL:
                return v->b;
        case JN_NUMBER:
                return v->num != 0 && !isnan(v->num);
        case JN_STRING:
                return v->str.len > 0;
        case JN_ARRAY:
                if (v->arr.n == 1)
                        return jn_boolean(v->arr.items[0]) == 1;
                for (size_t i = 0; i < v->arr.n; i++)
                        if (jn_boolean(v->arr.items[i]) == 1)
                                return 1;
                return 0;
        case JN_OBJECT:
                return v->obj->n > 0;
        case JN_FUNCTION:
                return 0;
        }
        return 0;
}

JnValue *jn_append(JnEval *ev, JnValue *a, JnValue *b) {
        if (!a)
                return b;
        if (!b)
                return a;
        size_t na = jn_is_array(a) ? a->arr.n : 1, nb = jn_is_array(b) ? b->arr.n : 1;
        JnValue *r = jn_array(ev, na + nb);
        if (jn_is_array(a)) {
                if (na)
                        memcpy(r->arr.items, a->arr.items, na * sizeof(JnValue *));
        } else
                r->arr.items[0] = a;
        if (jn_is_array(b)) {
                if (nb)
                        memcpy(r->arr.items + na, b->arr.items, nb * sizeof(JnValue *));
        } else
                r->arr.items[na] = b;
        r->arr.n = na + nb;
        jn_step(ev, (na + nb) / 64);
        /* Array.prototype.concat makes a plain array: no sequence flag */
        return r;
}

static JnValue *clone_at(JnEval *ev, const JnValue *v, size_t depth);

JnValue *jn_deep_clone(JnEval *ev, const JnValue *v) {
        return clone_at(ev, v, 1);
}

static JnValue *clone_at(JnEval *ev, const JnValue *v, size_t depth) {
        jn_check_depth(ev, depth);
        jn_step(ev, 1);
        if (!v)
                return NULL;
        if (v->type == JN_ARRAY) {
                JnValue *a = jn_array(ev, v->arr.n);
                for (size_t i = 0; i < v->arr.n; i++)
                        a->arr.items[i] = clone_at(ev, v->arr.items[i], depth + 1);
                a->arr.n = v->arr.n;
                a->flags = v->flags;
                return a;
        }
        if (v->type == JN_OBJECT) {
                JnValue *o = jn_object(ev);
                for (size_t i = 0; i < v->obj->n; i++)
                        jn_object_set(ev, o, v->obj->keys[i], v->obj->klens[i],
                                      clone_at(ev, v->obj->vals[i], depth + 1));
                return o;
        }
        return (JnValue *) v;
}

const char *jn_type_name(const JnValue *v) {
        if (!v)
                return "undefined";
        switch ((JnType) v->type) {
        case JN_NULL:
                return "null";
        case JN_BOOL:
                return "boolean";
        case JN_NUMBER:
                return "number";
        case JN_STRING:
                return "string";
        case JN_ARRAY:
                return "array";
        case JN_OBJECT:
                return "object";
        case JN_FUNCTION:
                return "function";
        }
        return "undefined";
}

/* ------------------------------------------------------------------------ */
/* Numbers as JavaScript prints them */

void jsonata_format_number(double d, char *buf, size_t size) {
        char e[40], digits[24];
        int exp10, k = 0, n;

        if (isnan(d)) {
                snprintf(buf, size, "NaN");
                return;
        }
        if (isinf(d)) {
                snprintf(buf, size, d < 0 ? "-Infinity" : "Infinity");
                return;
        }
        if (d == 0) {
                snprintf(buf, size, "0");
                return;
        }
        for (int prec = 1; prec <= 17; prec++) {
                snprintf(e, sizeof(e), "%.*e", prec - 1, d);
                if (strtod(e, NULL) == d)
                        break;
        }
        /* e is "-d.ddde+XX" */
        const char *p = e;
        bool neg = *p == '-';
        if (neg)
                p++;
        for (; *p && *p != 'e'; p++)
                if (*p != '.')
                        digits[k++] = *p;
        while (k > 1 && digits[k - 1] == '0')
                k--;
        digits[k] = 0;
        exp10 = atoi(p + 1);
        n = exp10 + 1;

        char out[64];
        size_t o = 0;
        if (neg)
                out[o++] = '-';
        if (k <= n && n <= 21) {
                memcpy(out + o, digits, (size_t) k);
                o += (size_t) k;
                for (int i = 0; i < n - k; i++)
                        out[o++] = '0';
        } else if (0 < n && n <= 21) {
                memcpy(out + o, digits, (size_t) n);
                o += (size_t) n;
                out[o++] = '.';
                memcpy(out + o, digits + n, (size_t) (k - n));
                o += (size_t) (k - n);
        } else if (-6 < n && n <= 0) {
                out[o++] = '0';
                out[o++] = '.';
                for (int i = 0; i < -n; i++)
                        out[o++] = '0';
                memcpy(out + o, digits, (size_t) k);
                o += (size_t) k;
        } else {
                out[o++] = digits[0];
                if (k > 1) {
                        out[o++] = '.';
                        memcpy(out + o, digits + 1, (size_t) (k - 1));
                        o += (size_t) (k - 1);
                }
                o += (size_t) snprintf(out + o, sizeof(out) - o, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
        }
        out[o] = 0;
        snprintf(buf, size, "%s", out);
}

/* ------------------------------------------------------------------------ */
/* Strings */

void jn_buf_put(JnBuf *b, const char *s, size_t n) {
        if (n == 0 && b->s)
                return;
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap * 2 : 64;
                while (cap < b->len + n + 1)
                        cap *= 2;
                char *ns = jn_alloc(b->ev, cap);
                if (b->len)
                        memcpy(ns, b->s, b->len);
                b->s = ns;
                b->cap = cap;
        }
        if (n)
                memcpy(b->s + b->len, s, n);
        b->len += n;
        b->s[b->len] = 0;
}

void jn_buf_puts(JnBuf *b, const char *s) {
        jn_buf_put(b, s, strlen(s));
}

void jn_buf_putc(JnBuf *b, char c) {
        jn_buf_put(b, &c, 1);
}

void jn_buf_printf(JnBuf *b, const char *fmt, ...) {
        va_list ap;
        char small[512];
        int n;

        va_start(ap, fmt);
        n = vsnprintf(small, sizeof(small), fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if ((size_t) n < sizeof(small)) {
                jn_buf_put(b, small, (size_t) n);
                return;
        }
        char *p = jn_alloc(b->ev, (size_t) n + 1);
        va_start(ap, fmt);
        vsnprintf(p, (size_t) n + 1, fmt, ap);
        va_end(ap);
        jn_buf_put(b, p, (size_t) n);
}

size_t jn_utf8_encode(char out[4], uint32_t cp) {
        if (cp < 0x80) {
                out[0] = (char) cp;
                return 1;
        }
        if (cp < 0x800) {
                out[0] = (char) (0xC0 | (cp >> 6));
                out[1] = (char) (0x80 | (cp & 0x3F));
                return 2;
        }
        if (cp < 0x10000) {
                out[0] = (char) (0xE0 | (cp >> 12));
                out[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
                out[2] = (char) (0x80 | (cp & 0x3F));
                return 3;
        }
        out[0] = (char) (0xF0 | (cp >> 18));
        out[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char) (0x80 | (cp & 0x3F));
        return 4;
}

int jn_hex_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

void jn_buf_utf8(JnBuf *b, uint32_t cp) {
        char out[4];
        jn_buf_put(b, out, jn_utf8_encode(out, cp));
}

JnValue *jn_buf_value(JnBuf *b) {
        if (!b->s)
                return jn_string(b->ev, "", 0);
        return jn_string_nocopy(b->ev, b->s, b->len);
}

uint32_t jn_utf8_next(const char *s, size_t len, size_t *i) {
        const unsigned char *p = (const unsigned char *) s + *i;
        size_t avail = len - *i;
        uint32_t c = p[0];

        if (c < 0x80) {
                (*i)++;
                return c;
        }
        if (c >= 0xC0 && c < 0xE0 && avail >= 2) {
                *i += 2;
                return ((c & 0x1F) << 6) | (p[1] & 0x3F);
        }
        if (c >= 0xE0 && c < 0xF0 && avail >= 3) {
                *i += 3;
                return ((c & 0x0F) << 12) | ((uint32_t) (p[1] & 0x3F) << 6) | (p[2] & 0x3F);
        }
        if (c >= 0xF0 && avail >= 4) {
                *i += 4;
                return ((c & 0x07) << 18) | ((uint32_t) (p[1] & 0x3F) << 12) |
                       ((uint32_t) (p[2] & 0x3F) << 6) | (p[3] & 0x3F);
        }
        (*i)++;
        return c;
}

size_t jn_utf8_length(const char *s, size_t len) {
        size_t n = 0;
        for (size_t i = 0; i < len; i++)
                if (((unsigned char) s[i] & 0xC0) != 0x80)
                        n++;
        return n;
}

static void stringify_string(JnBuf *b, const char *s, size_t len) {
        jn_buf_putc(b, '"');
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) s[i];
                switch (c) {
                case '"':
                        jn_buf_puts(b, "\\\"");
                        break;
                case '\\':
                        jn_buf_puts(b, "\\\\");
                        break;
                case '\b':
                        jn_buf_puts(b, "\\b");
                        break;
                case '\f':
                        jn_buf_puts(b, "\\f");
                        break;
                case '\n':
                        jn_buf_puts(b, "\\n");
                        break;
                case '\r':
                        jn_buf_puts(b, "\\r");
                        break;
                case '\t':
                        jn_buf_puts(b, "\\t");
                        break;
                default:
                        if (c < 0x20)
                                jn_buf_printf(b, "\\u%04x", c);
                        else
                                jn_buf_putc(b, (char) c);
                }
        }
        jn_buf_putc(b, '"');
}

static void indent(JnBuf *b, int level) {
        jn_buf_putc(b, '\n');
        for (int i = 0; i < level; i++)
                jn_buf_puts(b, "  ");
}

static void stringify(JnEval *ev, JnBuf *b, const JnValue *v, bool pretty, int level) {
        char num[40];

        jn_step(ev, 1);
        jn_check_depth(ev, (size_t) level + 1);
        switch ((JnType) v->type) {
        case JN_NULL:
                jn_buf_puts(b, "null");
                break;
        case JN_BOOL:
                jn_buf_puts(b, v->b ? "true" : "false");
                break;
        case JN_NUMBER: {
                if (isinf(v->num))
                        jn_throw_code(ev, "D1001", NULL, v);
                if (isnan(v->num)) {
                        jn_buf_puts(b, "null");
                        break;
                }
                char p15[40];
                double d = v->num;
                if (d != floor(d)) { /* Number(toPrecision(15)) */
                        snprintf(p15, sizeof(p15), "%.14e", d);
                        d = strtod(p15, NULL);
                }
                jsonata_format_number(d, num, sizeof(num));
                jn_buf_puts(b, num);
                break;
        }
        case JN_STRING:
                stringify_string(b, v->str.s, v->str.len);
                break;
        case JN_FUNCTION:
                jn_buf_puts(b, "\"\"");
                break;
        case JN_ARRAY:
                jn_buf_putc(b, '[');
                for (size_t i = 0; i < v->arr.n; i++) {
                        if (i)
                                jn_buf_putc(b, ',');
                        if (pretty)
                                indent(b, level + 1);
                        if (v->arr.items[i])
                                stringify(ev, b, v->arr.items[i], pretty, level + 1);
                        else
                                jn_buf_puts(b, "null");
                }
                if (pretty && v->arr.n)
                        indent(b, level);
                jn_buf_putc(b, ']');
                break;
        case JN_OBJECT: {
                bool first = true;
                jn_buf_putc(b, '{');
                for (size_t i = 0; i < v->obj->n; i++) {
                        if (!v->obj->vals[i])
                                continue;
                        if (!first)
                                jn_buf_putc(b, ',');
                        first = false;
                        if (pretty)
                                indent(b, level + 1);
                        stringify_string(b, v->obj->keys[i], v->obj->klens[i]);
                        jn_buf_puts(b, pretty ? ": " : ":");
                        stringify(ev, b, v->obj->vals[i], pretty, level + 1);
                }
                if (pretty && !first)
                        indent(b, level);
                jn_buf_putc(b, '}');
                break;
        }
        }
}

JnValue *jn_stringify(JnEval *ev, const JnValue *v, bool pretty) {
        JnBuf b = {.ev = ev};
        stringify(ev, &b, v, pretty, 0);
        return jn_buf_value(&b);
}
