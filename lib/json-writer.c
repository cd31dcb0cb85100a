/* SPDX-License-Identifier: MIT */
/*
 * imgflow's canonical JSON writer (the rules: json-writer.h).
 *
 * Design: one walk over the value with an explicit stack of open containers
 * (no recursion), writing into one buffer that doubles when full. The same
 * walk counts bytes instead of writing them when the buffer is NULL
 * (json_writer_size). Strings are copied in clean runs: a 256-entry table says
 * which bytes need an escape or, for bytes >= 0x80, a UTF-8 check; the
 * 8-byte words of a run that hold none of them are skipped at once.
 *
 * How the rules of json-writer.h are met (but for reals they are what
 * jansson 2.14's json_dumps() does, so jansson's way of doing each is named):
 *   - keys in insertion order (json_object_iter), keys with NUL bytes too;
 *   - '"' and '\\' escaped, \b \f \n \r \t, other bytes below 0x20 as
 *     \u00XX with upper-case hex; 0x7f, U+2028/U+2029 and all other UTF-8 as
 *     it is; '/' not escaped;
 *   - a string value that is not valid UTF-8 fails the whole dump. A key that
 *     is not valid UTF-8 does not: jansson ignores the failure and goes on,
 *     having written the opening quote and the key up to its last escape
 *     before the bad byte, and so does this;
 *   - integers as "%lld"; reals in their shortest form that reads back as
 *     the same double (the first of 15, 16, 17 significant digits that does,
 *     trailing zeros dropped), laid out as "%.17g" would lay out those
 *     digits: scientific below 1e-4 and from 1e17, '.' as the decimal point
 *     whatever the locale, ".0" when there would be neither '.' nor 'e', the
 *     exponent without '+' and leading zeros ("1e300");
 *   - a cycle fails the dump. jansson keeps a hash set of the open
 *     containers; here each container pushed at depth d is compared with the
 *     one open at depth 2^k - 1 (the largest such below d). Every path of a
 *     cyclic value repeats with some period p from some depth m on, so that
 *     finds it by depth 2 * max(m, p) + p, in O(1) per container.
 */

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-writer.h"

#define JSON_INITIAL_BUFFER 256
#define JSON_INLINE_FRAMES 32

typedef struct JsonFrame {
        const json_t *v;
        bool object;
        void *iter;     /* objects: the next member, NULL after the last */
        size_t i;       /* members or elements written so far */
        size_t n;       /* arrays: the size */
} JsonFrame;

typedef struct JsonWalk {
        char *buf;      /* NULL: only count the bytes in len */
        size_t len, allocated;
        JsonFrame *stack;
        size_t depth, n_frames;
        JsonFrame inline_frames[JSON_INLINE_FRAMES];
} JsonWalk;

/* 0: copied as it is; 'U': the lead byte of a UTF-8 sequence to check (a
 * stray continuation byte fails the check); 'u': \u00XX; else the letter
 * after the backslash. */
static const char escape_table[256] = {
        [0x00 ... 0x07] = 'u',
        [0x08] = 'b',
        [0x09] = 't',
        [0x0a] = 'n',
        [0x0b] = 'u',
        [0x0c] = 'f',
        [0x0d] = 'r',
        [0x0e ... 0x1f] = 'u',
        ['"'] = '"',
        ['\\'] = '\\',
        [0x80 ... 0xff] = 'U',
};

static const char hex_digits[] = "0123456789ABCDEF";

static const char digit_pairs[] =
        "00010203040506070809"
        "10111213141516171819"
        "20212223242526272829"
        "30313233343536373839"
        "40414243444546474849"
        "50515253545556575859"
        "60616263646566676869"
        "70717273747576777879"
        "80818283848586878889"
        "90919293949596979899";

static int walk_grow(JsonWalk *w, size_t n) {
        size_t allocated = w->allocated;
        char *p;

        while (allocated - w->len < n) {
                if (allocated > SIZE_MAX / 2)
                        return -ENOMEM;
                allocated *= 2;
        }
        p = realloc(w->buf, allocated);
        if (!p)
                return -ENOMEM;
        w->buf = p;
        w->allocated = allocated;
        return 0;
}

/* Room for n more bytes (nothing to do when only counting). */
static inline int walk_reserve(JsonWalk *w, size_t n) {
        if (!w->buf || w->allocated - w->len >= n)
                return 0;
        return walk_grow(w, n);
}

/* Only after walk_reserve(). */
static inline void walk_copy(JsonWalk *w, const void *s, size_t n) {
        if (w->buf)
                memcpy(w->buf + w->len, s, n);
        w->len += n;
}

static inline void walk_copy_char(JsonWalk *w, char c) {
        if (w->buf)
                w->buf[w->len] = c;
        w->len++;
}

static inline int walk_put(JsonWalk *w, const void *s, size_t n) {
        if (walk_reserve(w, n) < 0)
                return -ENOMEM;
        walk_copy(w, s, n);
        return 0;
}

static inline int walk_put_char(JsonWalk *w, char c) {
        if (walk_reserve(w, 1) < 0)
                return -ENOMEM;
        walk_copy_char(w, c);
        return 0;
}

/* The length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0:
 * jansson's rules (no overlong forms, no surrogates, at most U+10FFFF). */
size_t utf8_sequence(const unsigned char *p, size_t avail) {
        unsigned char c = p[0];
        uint32_t cp;
        size_t n;

        if (c >= 0xc2 && c <= 0xdf) {
                n = 2;
                cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
                n = 3;
                cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
                n = 4;
                cp = c & 0x07;
        } else
                return 0;
        if (n > avail)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (p[i] & 0x3f);
        }
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
            (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000))
                return 0;
        return n;
}

/* True if none of the 8 bytes is below 0x20, '"', '\\' or >= 0x80. */
static inline bool word_is_clean(const unsigned char *p) {
        const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
        uint64_t x, q, b;

        memcpy(&x, p, sizeof(x));
        q = x ^ (ones * '"');
        b = x ^ (ones * '\\');
        return !((((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b) | x) & highs);
}

/*
 * A string in quotes. Returns 0, -ENOMEM, or -EILSEQ at a byte that is not
 * valid UTF-8: then, as jansson does, the text written so far ends after the
 * last escape (the clean run since then is left out).
 */
static int walk_string(JsonWalk *w, const char *str, size_t length) {
        const unsigned char *p = (const unsigned char *) str, *end = p + length, *run = p;

        /* Room for the rest as it is plus both quotes; each escape reserves
         * its extra bytes on top. */
        if (walk_reserve(w, length + 2) < 0)
                return -ENOMEM;
        walk_copy_char(w, '"');
        for (;;) {
                char e;

                while (end - p >= 8 && word_is_clean(p))
                        p += 8;
                while (p < end && !escape_table[*p])
                        p++;
                if (p == end)
                        break;
                e = escape_table[*p];
                if (e == 'U') {
                        size_t n = utf8_sequence(p, (size_t) (end - p));

                        if (n == 0)
                                return -EILSEQ;
                        p += n;
                        continue;
                }
                walk_copy(w, run, (size_t) (p - run));
                if (walk_reserve(w, 6 + (size_t) (end - p)) < 0)
                        return -ENOMEM;
                if (e == 'u') {
                        const char u[6] = { '\\', 'u', '0', '0', hex_digits[*p >> 4], hex_digits[*p & 0xf] };
                        walk_copy(w, u, sizeof(u));
                } else {
                        const char esc[2] = { '\\', e };
                        walk_copy(w, esc, sizeof(esc));
                }
                run = ++p;
        }
        walk_copy(w, run, (size_t) (p - run));
        walk_copy_char(w, '"');
        return 0;
}

static int walk_integer(JsonWalk *w, json_int_t v) {
        char buf[24], *p = buf + sizeof(buf);
        uint64_t u = v < 0 ? -(uint64_t) v : (uint64_t) v;

        while (u >= 100) {
                unsigned d = (unsigned) (u % 100) * 2;
                u /= 100;
                *--p = digit_pairs[d + 1];
                *--p = digit_pairs[d];
        }
        if (u >= 10) {
                *--p = digit_pairs[u * 2 + 1];
                *--p = digit_pairs[u * 2];
        } else
                *--p = (char) ('0' + u);
        if (v < 0)
                *--p = '-';
        return walk_put(w, p, (size_t) (buf + sizeof(buf) - p));
}

size_t json_writer_format_real(double v, char *buf) {
        char e[40], digits[20];
        size_t n = 0, nd = 0;
        const char *p;
        int prec, exp10;

        /* The fewest significant digits (15, 16 or 17) that read back as v.
         * Below 15 the 15-digit rounding already is the shortest form padded
         * with zeros (a double's half ulp is under half a unit of the 15th
         * digit), and 17 always reads back. Subnormals have fewer bits, so
         * for them the search starts at 1. */
        for (prec = v != 0 && fabs(v) < DBL_MIN ? 1 : 15;; prec++) {
                snprintf(e, sizeof e, "%.*e", prec - 1, v);
                if (prec == 17 || strtod(e, NULL) == v)
                        break;
        }
        /* "-d.ddddde-XX", the decimal point being the locale's: the digits
         * without trailing zeros, and the decimal exponent. */
        p = e;
        if (*p == '-') {
                buf[n++] = '-';
                p++;
        }
        for (; *p && *p != 'e'; p++)
                if (*p >= '0' && *p <= '9')
                        digits[nd++] = *p;
        exp10 = *p == 'e' ? atoi(p + 1) : 0;
        while (nd > 1 && digits[nd - 1] == '0')
                nd--;

        if (exp10 < -4 || exp10 >= 17) {
                /* As "%.17g" chooses: scientific, the exponent without '+'
                 * and leading zeros. */
                buf[n++] = digits[0];
                if (nd > 1) {
                        buf[n++] = '.';
                        memcpy(buf + n, digits + 1, nd - 1);
                        n += nd - 1;
                }
                n += (size_t) sprintf(buf + n, "e%d", exp10);
        } else if (exp10 < 0) {
                memcpy(buf + n, "0.", 2);
                n += 2;
                for (int i = -1; i > exp10; i--)
                        buf[n++] = '0';
                memcpy(buf + n, digits, nd);
                n += nd;
        } else {
                for (int i = 0; i <= exp10; i++)
                        buf[n++] = (size_t) i < nd ? digits[i] : '0';
                buf[n++] = '.';
                if (nd > (size_t) exp10 + 1) {
                        memcpy(buf + n, digits + exp10 + 1, nd - (size_t) exp10 - 1);
                        n += nd - (size_t) exp10 - 1;
                } else
                        buf[n++] = '0';
        }
        buf[n] = 0;
        return n;
}

static int walk_real(JsonWalk *w, double v) {
        char buf[JSON_WRITER_REAL_MAX];

        return walk_put(w, buf, json_writer_format_real(v, buf));
}

static int walk_push(JsonWalk *w, const json_t *v, bool object, void *iter, size_t n) {
        size_t d = w->depth;

        if (d > 0) {
                /* The open container at depth 2^k - 1, the largest below d. */
                size_t anchor = ((size_t) 1 << (63 - __builtin_clzll((unsigned long long) d))) - 1;
                if (w->stack[anchor].v == v)
                        return -ELOOP;
        }
        if (d == w->n_frames) {
                size_t n_frames = w->n_frames * 2;
                JsonFrame *s;

                if (w->stack == w->inline_frames) {
                        s = malloc(n_frames * sizeof(JsonFrame));
                        if (s)
                                memcpy(s, w->stack, d * sizeof(JsonFrame));
                } else
                        s = n_frames < SIZE_MAX / sizeof(JsonFrame) ? realloc(w->stack, n_frames * sizeof(JsonFrame))
                                                                    : NULL;
                if (!s)
                        return -ENOMEM;
                w->stack = s;
                w->n_frames = n_frames;
        }
        w->stack[d] = (JsonFrame) { .v = v, .object = object, .iter = iter, .n = n };
        w->depth = d + 1;
        return 0;
}

/* A scalar, or the opening bracket of a container (pushed on the stack). */
static int walk_value(JsonWalk *w, const json_t *v) {
        if (!v)
                return -EINVAL;
        switch (json_typeof(v)) {
        case JSON_OBJECT: {
                void *iter = json_object_iter((json_t *) v);
                int r;

                if (!iter)
                        return walk_put(w, "{}", 2);
                r = walk_push(w, v, /* object= */ true, iter, 0);
                if (r < 0)
                        return r;
                return walk_put_char(w, '{');
        }
        case JSON_ARRAY: {
                size_t n = json_array_size(v);
                int r;

                if (n == 0)
                        return walk_put(w, "[]", 2);
                r = walk_push(w, v, /* object= */ false, NULL, n);
                if (r < 0)
                        return r;
                return walk_put_char(w, '[');
        }
        case JSON_STRING:
                return walk_string(w, json_string_value(v), json_string_length(v));
        case JSON_INTEGER:
                return walk_integer(w, json_integer_value(v));
        case JSON_REAL:
                return walk_real(w, json_real_value(v));
        case JSON_TRUE:
                return walk_put(w, "true", 4);
        case JSON_FALSE:
                return walk_put(w, "false", 5);
        case JSON_NULL:
                return walk_put(w, "null", 4);
        }
        return -EINVAL;
}

/* The next step inside the innermost open container. */
static int walk_step(JsonWalk *w) {
        JsonFrame *f = &w->stack[w->depth - 1];
        const json_t *child;
        int r;

        if (f->object) {
                void *it = f->iter;

                if (!it) {
                        w->depth--;
                        return walk_put_char(w, '}');
                }
                f->iter = json_object_iter_next((json_t *) f->v, it);
                if (f->i++ > 0 && walk_put_char(w, ',') < 0)
                        return -ENOMEM;
                /* A key that is not valid UTF-8 is written in part and the
                 * dump goes on, as jansson does. */
                r = walk_string(w, json_object_iter_key(it), json_object_iter_key_len(it));
                if (r == -ENOMEM)
                        return r;
                if (walk_put_char(w, ':') < 0)
                        return -ENOMEM;
                child = json_object_iter_value(it);
        } else {
                if (f->i == f->n) {
                        w->depth--;
                        return walk_put_char(w, ']');
                }
                if (f->i > 0 && walk_put_char(w, ',') < 0)
                        return -ENOMEM;
                child = json_array_get(f->v, f->i++);
        }
        /* f may move: walk_value() can grow the stack. */
        return walk_value(w, child);
}

static int walk_run(JsonWalk *w, const json_t *v) {
        int r;

        w->stack = w->inline_frames;
        w->n_frames = JSON_INLINE_FRAMES;
        r = walk_value(w, v);
        while (r >= 0 && w->depth > 0)
                r = walk_step(w);
        if (w->stack != w->inline_frames)
                free(w->stack);
        w->stack = NULL;
        return r;
}

char *json_writer_dumpn(const json_t *v, size_t *ret_len) {
        JsonWalk w = {
                .buf = malloc(JSON_INITIAL_BUFFER),
                .allocated = JSON_INITIAL_BUFFER,
        };
        char *s;

        if (!w.buf)
                return NULL;
        if (walk_run(&w, v) < 0 || walk_put_char(&w, '\0') < 0) {
                free(w.buf);
                return NULL;
        }
        s = realloc(w.buf, w.len); /* give the slack back */
        if (!s)
                s = w.buf;
        if (ret_len)
                *ret_len = w.len - 1;
        return s;
}

/* The writer's buffer as a walk's (allocated on first use). */
static bool writer_begin(JsonWriter *aw, JsonWalk *w) {
        if (aw->error)
                return false;
        if (!aw->buf) {
                aw->buf = malloc(JSON_INITIAL_BUFFER);
                if (!aw->buf) {
                        aw->error = -ENOMEM;
                        return false;
                }
                aw->allocated = JSON_INITIAL_BUFFER;
                aw->len = 0;
        }
        *w = (JsonWalk) { .buf = aw->buf, .len = aw->len, .allocated = aw->allocated };
        return true;
}

static void writer_end(JsonWriter *aw, const JsonWalk *w, int r) {
        aw->buf = w->buf;
        aw->len = w->len;
        aw->allocated = w->allocated;
        if (r < 0)
                aw->error = r;
}

void json_writer_raw(JsonWriter *aw, const char *s, size_t n) {
        JsonWalk w;

        if (writer_begin(aw, &w))
                writer_end(aw, &w, walk_put(&w, s, n));
}

void json_writer_string(JsonWriter *aw, const char *s, size_t n) {
        JsonWalk w;

        if (writer_begin(aw, &w))
                writer_end(aw, &w, walk_string(&w, s, n));
}

void json_writer_integer(JsonWriter *aw, json_int_t v) {
        JsonWalk w;

        if (writer_begin(aw, &w))
                writer_end(aw, &w, walk_integer(&w, v));
}

void json_writer_value(JsonWriter *aw, const json_t *v) {
        JsonWalk w;

        if (writer_begin(aw, &w))
                writer_end(aw, &w, walk_run(&w, v));
}

char *json_writer_finish(JsonWriter *aw, size_t *ret_len) {
        char *s = NULL;
        JsonWalk w;

        if (writer_begin(aw, &w)) {
                int r = walk_put_char(&w, '\0');

                writer_end(aw, &w, r);
                if (r >= 0) {
                        s = aw->buf;
                        if (ret_len)
                                *ret_len = aw->len - 1;
                        aw->buf = NULL;
                }
        }
        free(aw->buf);
        *aw = (JsonWriter) { .error = s ? 0 : aw->error };
        return s;
}

char *json_writer_dumps(const json_t *v) {
        return json_writer_dumpn(v, NULL);
}

size_t json_writer_size(const json_t *v) {
        JsonWalk w = {};

        if (!v)
                return 0;
        if (walk_run(&w, v) < 0)
                return SIZE_MAX;
        return w.len;
}

size_t json_depth(const json_t *v, size_t limit) {
        size_t max = 0;

        if (limit == 0)
                return 1;
        if (json_is_object(v)) {
                const char *k;
                json_t *c;

                json_object_foreach((json_t *) v, k, c) {
                        size_t d = json_depth(c, limit - 1);
                        if (d > max)
                                max = d;
                        if (max >= limit)
                                break;
                }
        } else if (json_is_array(v)) {
                size_t i;
                json_t *c;

                json_array_foreach(v, i, c) {
                        size_t d = json_depth(c, limit - 1);
                        if (d > max)
                                max = d;
                        if (max >= limit)
                                break;
                }
        }
        return max + 1;
}
