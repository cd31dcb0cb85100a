/* SPDX-License-Identifier: MIT */
/*
 * JSONata's string functions: $string, $substring & co, $pad, $trim, case,
 * the matcher-driven $match, $contains, $replace and $split, $join, base64
 * and the URL codecs.
 *
 * Strings are UTF-8 here and UTF-16 in the reference; lengths and positions
 * count code points (the reference's $length and $substring do too, with
 * Array.from), so they agree except for match offsets of characters outside
 * the BMP. A matcher is any function that returns the reference's
 * {match, start, end, groups, next} objects: regex literals do (see
 * jsonata-eval.c), and so can a user's lambda.
 */

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "json-writer.h"
#include "jsonata-internal.h"

#define FN(name) JnValue *name(JnEval *ev, JnValue **a, size_t n, JnValue *focus)
#define ARG(i) ((i) < n ? a[i] : NULL)

FN(jn_fn_string);
FN(jn_fn_substring);
FN(jn_fn_substring_before);
FN(jn_fn_substring_after);
FN(jn_fn_lowercase);
FN(jn_fn_uppercase);
FN(jn_fn_length);
FN(jn_fn_trim);
FN(jn_fn_pad);
FN(jn_fn_match);
FN(jn_fn_contains);
FN(jn_fn_replace);
FN(jn_fn_split);
FN(jn_fn_join);
FN(jn_fn_base64encode);
FN(jn_fn_base64decode);
FN(jn_fn_encode_url_component);
FN(jn_fn_encode_url);
FN(jn_fn_decode_url_component);
FN(jn_fn_decode_url);

FN(jn_fn_string) {
        JnValue *v = ARG(0);
        bool pretty = ARG(1) && a[1]->type == JN_BOOL && a[1]->b;
        if (!v)
                return NULL;
        if (v->type == JN_STRING)
                return v;
        if (v->type == JN_FUNCTION)
                return jn_string_nocopy(ev, "", 0);
        if (v->type == JN_NUMBER && !isfinite(v->num))
                jn_throw_code(ev, "D3001", "string", v);
        if (jn_is_array(v) && (v->flags & JN_OUTER_WRAPPER))
                v = v->arr.items[0];
        return jn_stringify(ev, v, pretty);
}

/* Byte offset of code point index cp (clamped to the string). */
static size_t cp_offset(const char *s, size_t len, size_t cp) {
        size_t i = 0, c = 0;
        while (i < len && c < cp) {
                i++;
                while (i < len && ((unsigned char) s[i] & 0xC0) == 0x80)
                        i++;
                c++;
        }
        return i;
}

/* JavaScript's Array.prototype.slice(start, end) over code points. */
static JnValue *slice(JnEval *ev, JnValue *str, double start, double end, bool has_end) {
        double len = (double) jn_utf8_length(str->str.s, str->str.len);
        start = trunc(start);
        if (start < 0)
                start = fmax(len + start, 0);
        start = fmin(start, len);
        if (!has_end)
                end = len;
        else {
                end = trunc(end);
                if (end < 0)
                        end = fmax(len + end, 0);
                end = fmin(end, len);
        }
        if (end <= start)
                return jn_string_nocopy(ev, "", 0);
        size_t b0 = cp_offset(str->str.s, str->str.len, (size_t) start);
        size_t b1 = b0 + cp_offset(str->str.s + b0, str->str.len - b0, (size_t) (end - start));
        return jn_string_nocopy(ev, str->str.s + b0, b1 - b0);
}

FN(jn_fn_substring) {
        JnValue *str = ARG(0);
        if (!str || !ARG(1))
                return str ? jn_string_nocopy(ev, "", 0) : NULL;
        double start = a[1]->num, len = (double) jn_utf8_length(str->str.s, str->str.len);
        if (len + start < 0)
                start = 0;
        if (ARG(2)) {
                double l = a[2]->num;
                if (l <= 0)
                        return jn_string_nocopy(ev, "", 0);
                double end = start >= 0 ? start + l : len + start + l;
                return slice(ev, str, start, end, true);
        }
        return slice(ev, str, start, 0, false);
}

static const char *find(const char *hay, size_t hlen, const char *needle, size_t nlen) {
        if (nlen == 0)
                return hay;
        return memmem(hay, hlen, needle, nlen);
}

FN(jn_fn_substring_before) {
        JnValue *str = ARG(0), *chars = ARG(1);
        if (!str || !chars)
                return str;
        const char *p = find(str->str.s, str->str.len, chars->str.s, chars->str.len);
        return p ? jn_string_nocopy(ev, str->str.s, (size_t) (p - str->str.s)) : str;
}

FN(jn_fn_substring_after) {
        JnValue *str = ARG(0), *chars = ARG(1);
        if (!str || !chars)
                return str;
        const char *p = find(str->str.s, str->str.len, chars->str.s, chars->str.len);
        if (!p)
                return str;
        size_t off = (size_t) (p - str->str.s) + chars->str.len;
        return jn_string_nocopy(ev, str->str.s + off, str->str.len - off);
}

/* Case mapping for ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic:
 * the scripts where it is a simple offset or pairing. */
static uint32_t to_lower(uint32_t c) {
        if ((c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7))
                return c + 32;
        if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17F) {
                bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
                if (odd_upper ? (c & 1) : !(c & 1))
                        return c + 1;
                return c;
        }
        if (c >= 0x391 && c <= 0x3AB && c != 0x3A2)
                return c + 32;
        if (c >= 0x410 && c <= 0x42F)
                return c + 32;
        if (c >= 0x400 && c <= 0x40F)
                return c + 80;
        return c;
}

static uint32_t to_upper(uint32_t c) {
        if ((c >= 'a' && c <= 'z') || (c >= 0xE0 && c <= 0xFE && c != 0xF7))
                return c - 32;
        if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17F) {
                bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
                if (odd_upper ? !(c & 1) : (c & 1))
                        return c - 1;
                return c;
        }
        if (c >= 0x3B1 && c <= 0x3CB && c != 0x3C2)
                return c - 32;
        if (c >= 0x430 && c <= 0x44F)
                return c - 32;
        if (c >= 0x450 && c <= 0x45F)
                return c - 80;
        return c;
}

static JnValue *map_case(JnEval *ev, JnValue *str, uint32_t (*f)(uint32_t)) {
        JnBuf b = {.ev = ev};
        if (!str)
                return NULL;
        for (size_t i = 0; i < str->str.len;) {
                size_t start = i;
                uint32_t c = jn_utf8_next(str->str.s, str->str.len, &i);
                uint32_t m = f(c);
                if (m == c)
                        jn_buf_put(&b, str->str.s + start, i - start);
                else
                        jn_buf_utf8(&b, m);
        }
        return jn_buf_value(&b);
}

FN(jn_fn_lowercase) {
        return map_case(ev, ARG(0), to_lower);
}

FN(jn_fn_uppercase) {
        return map_case(ev, ARG(0), to_upper);
}

FN(jn_fn_length) {
        return ARG(0) ? jn_number(ev, (double) jn_utf8_length(a[0]->str.s, a[0]->str.len)) : NULL;
}

FN(jn_fn_trim) {
        JnValue *str = ARG(0);
        JnBuf b = {.ev = ev};
        if (!str)
                return NULL;
        for (size_t i = 0; i < str->str.len; i++) {
                char c = str->str.s[i];
                if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
                        while (i + 1 < str->str.len &&
                               (str->str.s[i + 1] == ' ' || str->str.s[i + 1] == '\t' ||
                                str->str.s[i + 1] == '\n' || str->str.s[i + 1] == '\r'))
                                i++;
                        jn_buf_putc(&b, ' ');
                } else
                        jn_buf_putc(&b, c);
        }
        JnValue *r = jn_buf_value(&b);
        if (r->str.len && r->str.s[0] == ' ') {
                r->str.s++;
                r->str.len--;
        }
        if (r->str.len && r->str.s[r->str.len - 1] == ' ')
                r->str.len--;
        return r;
}

FN(jn_fn_pad) {
        JnValue *str = ARG(0), *ch = ARG(2);
        if (!str || !ARG(1))
                return str;
        double width = a[1]->num;
        const char *pc = " ";
        size_t pclen = 1;
        if (ch && ch->str.len > 0) {
                pc = ch->str.s;
                pclen = ch->str.len;
        }
        double padlen = fabs(width) - (double) jn_utf8_length(str->str.s, str->str.len);
        if (padlen <= 0)
                return str;
        if (padlen > 1e7)
                jn_throw(ev, "D3160", "pad", NULL, "The padding is longer than the limit");
        JnBuf pad = {.ev = ev};
        size_t want = (size_t) padlen, have = 0;
        while (have < want) {
                for (size_t i = 0; i < pclen && have < want;) {
                        size_t s = i;
                        jn_utf8_next(pc, pclen, &i);
                        jn_buf_put(&pad, pc + s, i - s);
                        have++;
                }
        }
        JnBuf b = {.ev = ev};
        if (width > 0) {
                jn_buf_put(&b, str->str.s, str->str.len);
                jn_buf_put(&b, pad.s, pad.len);
        } else {
                jn_buf_put(&b, pad.s, pad.len);
                jn_buf_put(&b, str->str.s, str->str.len);
        }
        return jn_buf_value(&b);
}

/* ------------------------------------------------------------------------ */
/* Matchers */

typedef struct Match {
        JnValue *obj; /* the matcher's result */
        JnValue *match;
        size_t start, end; /* byte offsets */
        JnValue *groups;
} Match;

static bool load_match(JnEval *ev, JnValue *str, JnValue *r, Match *m, const char *fname) {
        if (!r)
                return false;
        jn_step(ev, 1 + str->str.len / 256); /* the offsets below walk the string */
        if (!jn_is_object(r))
                jn_throw_code(ev, "T1010", fname, NULL);
        JnValue *mt = jn_object_get(r, "match", 5), *st = jn_object_get(r, "start", 5),
                *en = jn_object_get(r, "end", 3);
        if (!jn_is_string(mt) || !jn_is_number(st) || !jn_is_number(en))
                jn_throw_code(ev, "T1010", fname, NULL);
        m->obj = r;
        m->match = mt;
        m->start = cp_offset(str->str.s, str->str.len, st->num < 0 ? 0 : (size_t) st->num);
        m->end = cp_offset(str->str.s, str->str.len, en->num < 0 ? 0 : (size_t) en->num);
        m->groups = jn_object_get(r, "groups", 6);
        return true;
}

static bool first_match(JnEval *ev, JnValue *matcher, JnValue *str, Match *m, const char *fname) {
        return load_match(ev, str, jn_apply(ev, matcher, &str, 1, NULL), m, fname);
}

static bool next_match(JnEval *ev, JnValue *str, Match *m, const char *fname) {
        JnValue *next = jn_object_get(m->obj, "next", 4);
        if (!jn_is_function(next))
                return false;
        return load_match(ev, str, jn_apply(ev, next, NULL, 0, NULL), m, fname);
}

FN(jn_fn_match) {
        JnValue *str = ARG(0), *re = ARG(1), *limit = ARG(2);
        Match m;
        if (!str || !re)
                return NULL;
        if (limit && limit->num < 0)
                jn_throw_code(ev, "D3040", "match", limit);
        JnValue *result = jn_sequence(ev);
        if (limit && limit->num == 0)
                return result;
        double count = 0;
        bool have = first_match(ev, re, str, &m, "match");
        while (have && (!limit || count < limit->num)) {
                JnValue *o = jn_object(ev);
                jn_object_set(ev, o, "match", 5, m.match);
                jn_object_set(ev, o, "index", 5, jn_object_get(m.obj, "start", 5));
                jn_object_set(ev, o, "groups", 6, m.groups ? m.groups : jn_array(ev, 0));
                jn_array_push(ev, result, o);
                count++;
                have = next_match(ev, str, &m, "match");
        }
        return result;
}

FN(jn_fn_contains) {
        JnValue *str = ARG(0), *tok = ARG(1);
        Match m;
        if (!str || !tok)
                return NULL;
        if (tok->type == JN_STRING)
                return jn_bool(find(str->str.s, str->str.len, tok->str.s, tok->str.len) != NULL);
        return jn_bool(first_match(ev, tok, str, &m, "contains"));
}

static void substitute(JnEval *ev, JnBuf *b, JnValue *repl, Match *m) {
        const char *r = repl->str.s;
        size_t len = repl->str.len, pos = 0;
        size_t ngroups = jn_is_array(m->groups) ? m->groups->arr.n : 0;

        while (pos < len) {
                const char *d = memchr(r + pos, '$', len - pos);
                if (!d)
                        break;
                size_t idx = (size_t) (d - r);
                jn_buf_put(b, r + pos, idx - pos);
                pos = idx + 1;
                char c = pos < len ? r[pos] : 0;
                if (c == '$') {
                        jn_buf_putc(b, '$');
                        pos++;
                } else if (c == '0') {
                        jn_buf_put(b, m->match->str.s, m->match->str.len);
                        pos++;
                } else {
                        size_t maxd = ngroups == 0 ? 1 : (size_t) floor(log10((double) ngroups)) + 1;
                        size_t k = 0, val = 0;
                        while (k < maxd && pos + k < len && r[pos + k] >= '0' && r[pos + k] <= '9') {
                                val = val * 10 + (size_t) (r[pos + k] - '0');
                                k++;
                        }
                        if (maxd > 1 && val > ngroups && k > 1) {
                                val /= 10;
                                k--;
                        }
                        if (k > 0) {
                                if (ngroups > 0 && val >= 1 && val <= ngroups) {
                                        JnValue *g = m->groups->arr.items[val - 1];
                                        if (jn_is_string(g))
                                                jn_buf_put(b, g->str.s, g->str.len);
                                }
                                /* the reference advances by the digits of the parsed number */
                                char tmp[24];
                                pos += (size_t) snprintf(tmp, sizeof(tmp), "%zu", val);
                        } else
                                jn_buf_putc(b, '$');
                }
        }
        jn_buf_put(b, r + pos, len - pos);
}

FN(jn_fn_replace) {
        JnValue *str = ARG(0), *pattern = ARG(1), *repl = ARG(2), *limit = ARG(3);
        JnBuf b = {.ev = ev};
        double count = 0;
        if (!str || !pattern || !repl)
                return str;
        if (pattern->type == JN_STRING && pattern->str.len == 0)
                jn_throw_code(ev, "D3010", "replace", pattern);
        if (limit && limit->num < 0)
                jn_throw_code(ev, "D3011", "replace", limit);
        if (pattern->type == JN_STRING) {
                size_t pos = 0;
                const char *p;
                while ((!limit || count < limit->num) &&
                       (p = find(str->str.s + pos, str->str.len - pos, pattern->str.s, pattern->str.len))) {
                        size_t idx = (size_t) (p - str->str.s);
                        jn_buf_put(&b, str->str.s + pos, idx - pos);
                        if (repl->type == JN_STRING)
                                jn_buf_put(&b, repl->str.s, repl->str.len);
                        pos = idx + pattern->str.len;
                        count++;
                        jn_step(ev, 1);
                }
                jn_buf_put(&b, str->str.s + pos, str->str.len - pos);
                return jn_buf_value(&b);
        }
        Match m;
        size_t pos = 0;
        if (!limit || count < limit->num) {
                bool have = first_match(ev, pattern, str, &m, "replace");
                while (have && (!limit || count < limit->num)) {
                        jn_buf_put(&b, str->str.s + pos, m.start > pos ? m.start - pos : 0);
                        if (repl->type == JN_STRING)
                                substitute(ev, &b, repl, &m);
                        else {
                                JnValue *r = jn_apply(ev, repl, &m.obj, 1, NULL);
                                if (!jn_is_string(r))
                                        jn_throw_code(ev, "D3012", "replace", r);
                                jn_buf_put(&b, r->str.s, r->str.len);
                        }
                        pos = m.start + m.match->str.len;
                        count++;
                        have = next_match(ev, str, &m, "replace");
                }
        }
        if (pos < str->str.len)
                jn_buf_put(&b, str->str.s + pos, str->str.len - pos);
        return jn_buf_value(&b);
}

FN(jn_fn_split) {
        JnValue *str = ARG(0), *sep = ARG(1), *limit = ARG(2);
        if (!str || !sep)
                return NULL;
        if (limit && limit->num < 0)
                jn_throw_code(ev, "D3020", "split", limit);
        JnValue *result = jn_array(ev, 0);
        if (limit && limit->num == 0)
                return result;
        double max = limit ? floor(limit->num) : INFINITY;
        if (sep->type == JN_STRING) {
                const char *s = str->str.s;
                size_t len = str->str.len, pos = 0;
                if (sep->str.len == 0) {
                        for (size_t i = 0; i < len && (double) result->arr.n < max;) {
                                size_t st = i;
                                jn_utf8_next(s, len, &i);
                                jn_array_push(ev, result, jn_string_nocopy(ev, s + st, i - st));
                        }
                        return result;
                }
                for (;;) {
                        if ((double) result->arr.n >= max)
                                break;
                        const char *p = find(s + pos, len - pos, sep->str.s, sep->str.len);
                        if (!p) {
                                jn_array_push(ev, result, jn_string_nocopy(ev, s + pos, len - pos));
                                break;
                        }
                        jn_array_push(ev, result, jn_string_nocopy(ev, s + pos, (size_t) (p - (s + pos))));
                        pos = (size_t) (p - s) + sep->str.len;
                }
                return result;
        }
        Match m;
        double count = 0;
        size_t start = 0;
        bool have = first_match(ev, sep, str, &m, "split");
        if (!have) {
                jn_array_push(ev, result, str);
                return result;
        }
        while (have && count < max) {
                jn_array_push(
                        ev, result,
                        jn_string_nocopy(ev, str->str.s + start, m.start > start ? m.start - start : 0));
                start = m.end;
                count++;
                have = next_match(ev, str, &m, "split");
        }
        if (count < max)
                jn_array_push(ev, result, jn_string_nocopy(ev, str->str.s + start, str->str.len - start));
        return result;
}

FN(jn_fn_join) {
        JnValue *arr = ARG(0), *sep = ARG(1);
        JnBuf b = {.ev = ev};
        if (!arr)
                return NULL;
        for (size_t i = 0; i < arr->arr.n; i++) {
                if (i && sep)
                        jn_buf_put(&b, sep->str.s, sep->str.len);
                if (jn_is_string(arr->arr.items[i]))
                        jn_buf_put(&b, arr->arr.items[i]->str.s, arr->arr.items[i]->str.len);
        }
        return jn_buf_value(&b);
}

/* ------------------------------------------------------------------------ */
/* base64 and URLs */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

FN(jn_fn_base64encode) {
        JnValue *str = ARG(0);
        JnBuf b = {.ev = ev};
        if (!str)
                return NULL;
        const unsigned char *s = (const unsigned char *) str->str.s;
        size_t len = str->str.len;
        for (size_t i = 0; i < len; i += 3) {
                uint32_t v = (uint32_t) s[i] << 16 | (i + 1 < len ? (uint32_t) s[i + 1] << 8 : 0) |
                             (i + 2 < len ? s[i + 2] : 0);
                jn_buf_putc(&b, b64[(v >> 18) & 63]);
                jn_buf_putc(&b, b64[(v >> 12) & 63]);
                jn_buf_putc(&b, i + 1 < len ? b64[(v >> 6) & 63] : '=');
                jn_buf_putc(&b, i + 2 < len ? b64[v & 63] : '=');
        }
        return jn_buf_value(&b);
}

FN(jn_fn_base64decode) {
        JnValue *str = ARG(0);
        JnBuf b = {.ev = ev};
        uint32_t acc = 0;
        int bits = 0;
        if (!str)
                return NULL;
        for (size_t i = 0; i < str->str.len; i++) {
                const char *p = strchr(b64, str->str.s[i]);
                if (!p || !str->str.s[i])
                        continue;
                acc = acc << 6 | (uint32_t) (p - b64);
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        jn_buf_putc(&b, (char) ((acc >> bits) & 0xFF));
                }
        }
        return jn_buf_value(&b);
}

static JnValue *url_encode(JnEval *ev, JnValue *str, const char *keep, const char *fname) {
        JnBuf b = {.ev = ev};
        if (!str)
                return NULL;
        const unsigned char *s = (const unsigned char *) str->str.s;
        for (size_t i = 0; i < str->str.len;) {
                unsigned char c = s[i];
                if (c < 0x80) {
                        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                            (c && strchr(keep, c)))
                                jn_buf_putc(&b, (char) c);
                        else
                                jn_buf_printf(&b, "%%%02X", c);
                        i++;
                        continue;
                }
                size_t l = utf8_sequence(s + i, str->str.len - i);
                if (l == 0)
                        jn_throw(ev, "D3140", fname, NULL, "Malformed URL passed to $%s(): \"%.*s\"", fname,
                                 (int) str->str.len, str->str.s);
                for (size_t k = 0; k < l; k++)
                        jn_buf_printf(&b, "%%%02X", s[i + k]);
                i += l;
        }
        return jn_buf_value(&b);
}

FN(jn_fn_encode_url_component) {
        return url_encode(ev, ARG(0), "-_.!~*'()", "encodeUrlComponent");
}

FN(jn_fn_encode_url) {
        return url_encode(ev, ARG(0), "-_.!~*'();/?:@&=+$,#", "encodeUrl");
}

static JnValue *url_decode(JnEval *ev, JnValue *str, const char *reserved, const char *fname) {
        JnBuf b = {.ev = ev};
        if (!str)
                return NULL;
        const char *s = str->str.s;
        size_t len = str->str.len;
        for (size_t i = 0; i < len;) {
                if (s[i] != '%') {
                        jn_buf_putc(&b, s[i++]);
                        continue;
                }
                unsigned char bytes[4];
                size_t nb = 0, need = 1, start = i;
                while (nb < need) {
                        if (i + 2 >= len || s[i] != '%' || jn_hex_value(s[i + 1]) < 0 ||
                            jn_hex_value(s[i + 2]) < 0)
                                goto bad;
                        unsigned char c =
                                (unsigned char) (jn_hex_value(s[i + 1]) * 16 + jn_hex_value(s[i + 2]));
                        if (nb == 0)
                                need = c < 0x80             ? 1
                                       : (c & 0xE0) == 0xC0 ? 2
                                       : (c & 0xF0) == 0xE0 ? 3
                                       : (c & 0xF8) == 0xF0 ? 4
                                                            : 0;
                        if (need == 0)
                                goto bad;
                        bytes[nb++] = c;
                        i += 3;
                }
                if (need > 1 && utf8_sequence(bytes, need) != need)
                        goto bad;
                if (need == 1 && reserved && bytes[0] && strchr(reserved, bytes[0]))
                        jn_buf_put(&b, s + start, 3);
                else
                        jn_buf_put(&b, (const char *) bytes, need);
        }
        return jn_buf_value(&b);
bad:
        jn_throw(ev, "D3140", fname, NULL, "Malformed URL passed to $%s(): \"%.*s\"", fname, (int) len, s);
}

FN(jn_fn_decode_url_component) {
        return url_decode(ev, ARG(0), NULL, "decodeUrlComponent");
}

FN(jn_fn_decode_url) {
        return url_decode(ev, ARG(0), ";/?:@&=+$,#", "decodeUrl");
}
