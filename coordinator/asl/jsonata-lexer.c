/* SPDX-License-Identifier: MIT */
/*
 * JSONata lexer: one token at a time, on the parser's demand, with the
 * reference implementation's rules: operators first (two-character ones
 * before one-character ones), then strings with JSON escapes, numbers
 * (never signed: '-' is an operator), back-quoted names, $variables and
 * plain names that end at whitespace or an operator character. "and", "or"
 * and "in" are operators (the parser lets them be names too).
 *
 * A '/' starts a regular expression where an operand is expected, i.e. when
 * the previous token is not a name, a literal, or a closing bracket. Decoded
 * strings and names are copied into the expression's arena. A \u escape of a
 * lone surrogate is kept as its 3-byte (CESU-8) form: not valid UTF-8, which
 * the URL functions reject as JavaScript's do.
 */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jsonata-internal.h"

static const char single_ops[] = ".[]{}(),@#;:?+-*/%|=<>^&!~";
static const char *const double_ops[] = {"..", ":=", "!=", ">=", "<=", "**", "~>", "?:", "??"};

static bool is_ws(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v';
}

static bool is_op_char(char c) {
        return c && strchr(single_ops, c) != NULL;
}

static char *arena_copy(JnLexer *lx, const char *s, size_t n) {
        char *p = jn_arena_alloc(lx->arena, n + 1);

        if (!p)
                abort(); /* the expression arena has no limit */
        memcpy(p, s, n);
        p[n] = 0;
        return p;
}

static bool read_u4(JnLexer *lx, size_t at, uint32_t *ret) {
        uint32_t v = 0;

        if (at + 4 > lx->len)
                return false;
        for (size_t k = 0; k < 4; k++) {
                int h = jn_hex_value(lx->src[at + k]);
                if (h < 0)
                        return false;
                v = v * 16 + (uint32_t) h;
        }
        *ret = v;
        return true;
}

static void scan_string(JnLexer *lx, JnToken *t, JnCompileError *ce) {
        char quote = lx->src[lx->pos];
        char *out = jn_arena_alloc(lx->arena, lx->len - lx->pos + 1);
        size_t n = 0;

        if (!out)
                abort();
        lx->pos++;
        while (lx->pos < lx->len) {
                char c = lx->src[lx->pos];
                if (c == '\\') {
                        lx->pos++;
                        if (lx->pos >= lx->len)
                                break;
                        c = lx->src[lx->pos];
                        switch (c) {
                        case '"':
                        case '\\':
                        case '/':
                                out[n++] = c;
                                break;
                        case '\'':
                                /* not JSON, but harmless; the reference refuses it */
                                jn_compile_fail(ce, "S0103", (int64_t) lx->pos, "'", NULL);
                        case 'b':
                                out[n++] = '\b';
                                break;
                        case 'f':
                                out[n++] = '\f';
                                break;
                        case 'n':
                                out[n++] = '\n';
                                break;
                        case 'r':
                                out[n++] = '\r';
                                break;
                        case 't':
                                out[n++] = '\t';
                                break;
                        case 'u': {
                                uint32_t cp, lo;
                                if (!read_u4(lx, lx->pos + 1, &cp))
                                        jn_compile_fail(ce, "S0104", (int64_t) lx->pos, NULL, NULL);
                                lx->pos += 4;
                                if (cp >= 0xD800 && cp < 0xDC00 && lx->pos + 2 < lx->len &&
                                    lx->src[lx->pos + 1] == '\\' && lx->src[lx->pos + 2] == 'u' &&
                                    read_u4(lx, lx->pos + 3, &lo) && lo >= 0xDC00 && lo < 0xE000) {
                                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                        lx->pos += 6;
                                }
                                if (cp >= 0xD800 && cp < 0xE000) { /* lone surrogate: CESU-8 bytes */
                                        out[n++] = (char) (0xE0 | (cp >> 12));
                                        out[n++] = (char) (0x80 | ((cp >> 6) & 0x3F));
                                        out[n++] = (char) (0x80 | (cp & 0x3F));
                                } else
                                        n += jn_utf8_encode(out + n, cp);
                                break;
                        }
                        default: {
                                char tok[2] = {c, 0};
                                jn_compile_fail(ce, "S0103", (int64_t) lx->pos, tok, NULL);
                        }
                        }
                        lx->pos++;
                } else if (c == quote) {
                        lx->pos++;
                        out[n] = 0;
                        t->type = T_STRING;
                        t->s = out;
                        t->len = n;
                        return;
                } else {
                        out[n++] = c;
                        lx->pos++;
                }
        }
        jn_compile_fail(ce, "S0101", (int64_t) lx->pos, NULL, NULL);
}

static bool closing_slash(JnLexer *lx, size_t p, int depth) {
        size_t bs = 0;

        if (lx->src[p] != '/' || depth != 0)
                return false;
        while (bs < p && lx->src[p - bs - 1] == '\\')
                bs++;
        return bs % 2 == 0;
}

static void scan_regex(JnLexer *lx, JnToken *t, JnCompileError *ce) {
        size_t start = lx->pos;
        int depth = 0;

        while (lx->pos < lx->len) {
                char c = lx->src[lx->pos];
                if (closing_slash(lx, lx->pos, depth)) {
                        size_t fstart;
                        if (lx->pos == start)
                                jn_compile_fail(ce, "S0301", (int64_t) lx->pos, NULL, NULL);
                        t->regex_src = arena_copy(lx, lx->src + start, lx->pos - start);
                        lx->pos++;
                        fstart = lx->pos;
                        while (lx->pos < lx->len && (lx->src[lx->pos] == 'i' || lx->src[lx->pos] == 'm'))
                                lx->pos++;
                        t->regex_flags = arena_copy(lx, lx->src + fstart, lx->pos - fstart);
                        t->type = T_REGEX;
                        return;
                }
                bool escaped = lx->pos > 0 && lx->src[lx->pos - 1] == '\\';
                if ((c == '(' || c == '[' || c == '{') && !escaped)
                        depth++;
                if ((c == ')' || c == ']' || c == '}') && !escaped)
                        depth--;
                lx->pos++;
        }
        jn_compile_fail(ce, "S0302", (int64_t) lx->pos, NULL, NULL);
}

static bool scan_number(JnLexer *lx, JnToken *t, JnCompileError *ce) {
        const char *s = lx->src;
        size_t p = lx->pos, start = p;

        if (p >= lx->len || !(s[p] >= '0' && s[p] <= '9'))
                return false;
        if (s[p] == '0')
                p++;
        else
                while (p < lx->len && s[p] >= '0' && s[p] <= '9')
                        p++;
        if (p + 1 < lx->len && s[p] == '.' && s[p + 1] >= '0' && s[p + 1] <= '9') {
                p++;
                while (p < lx->len && s[p] >= '0' && s[p] <= '9')
                        p++;
        }
        if (p < lx->len && (s[p] == 'e' || s[p] == 'E')) {
                size_t q = p + 1;
                if (q < lx->len && (s[q] == '+' || s[q] == '-'))
                        q++;
                if (q < lx->len && s[q] >= '0' && s[q] <= '9') {
                        while (q < lx->len && s[q] >= '0' && s[q] <= '9')
                                q++;
                        p = q;
                }
        }
        char *text = arena_copy(lx, s + start, p - start);
        double d = strtod(text, NULL);
        lx->pos = p;
        if (!isfinite(d))
                jn_compile_fail(ce, "S0102", (int64_t) p, text, NULL);
        t->type = T_NUMBER;
        t->num = d;
        t->s = text;
        t->len = p - start;
        return true;
}

void jn_lexer_next(JnLexer *lx, JnToken *t, JnCompileError *ce) {
        const char *s = lx->src;

        *t = (JnToken){};
        for (;;) {
                while (lx->pos < lx->len && is_ws(s[lx->pos]))
                        lx->pos++;
                if (lx->pos + 1 < lx->len && s[lx->pos] == '/' && s[lx->pos + 1] == '*') {
                        size_t start = lx->pos;
                        lx->pos += 2;
                        for (;;) {
                                if (lx->pos + 1 >= lx->len) {
                                        lx->pos = lx->len;
                                        jn_compile_fail(ce, "S0106", (int64_t) start, NULL, NULL);
                                }
                                if (s[lx->pos] == '*' && s[lx->pos + 1] == '/') {
                                        lx->pos += 2;
                                        break;
                                }
                                lx->pos++;
                        }
                        continue;
                }
                break;
        }
        if (lx->pos >= lx->len) {
                t->type = T_END;
                t->position = (int64_t) lx->pos;
                lx->prev_type = T_END;
                return;
        }

        char c = s[lx->pos];
        bool operand_expected =
                !(lx->prev_type == T_NAME || lx->prev_type == T_VARIABLE || lx->prev_type == T_STRING ||
                  lx->prev_type == T_NUMBER || lx->prev_type == T_VALUE || lx->prev_type == T_REGEX ||
                  (lx->prev_type == T_OP && lx->prev_op && strchr(")]}", lx->prev_op[0]) &&
                   lx->prev_op[1] == 0));
        if (c == '/' && operand_expected) {
                lx->pos++;
                scan_regex(lx, t, ce);
        } else if (lx->pos + 1 < lx->len && ({
                           bool found = false;
                           for (size_t k = 0; k < sizeof(double_ops) / sizeof(double_ops[0]); k++)
                                   if (s[lx->pos] == double_ops[k][0] &&
                                       s[lx->pos + 1] == double_ops[k][1]) {
                                           t->s = double_ops[k];
                                           found = true;
                                           break;
                                   }
                           found;
                   })) {
                t->type = T_OP;
                t->len = 2;
                lx->pos += 2;
        } else if (is_op_char(c)) {
                static const char single_strs[][2] = {".", "[", "]", "{", "}", "(", ")", ",", "@",
                                                      "#", ";", ":", "?", "+", "-", "*", "/", "%",
                                                      "|", "=", "<", ">", "^", "&", "!", "~"};
                t->s = single_strs[strchr(single_ops, c) - single_ops];
                t->type = T_OP;
                t->len = 1;
                lx->pos++;
        } else if (c == '"' || c == '\'') {
                scan_string(lx, t, ce);
        } else if (scan_number(lx, t, ce)) {
                /* done */
        } else if (c == '`') {
                size_t start = ++lx->pos;
                const char *end = memchr(s + start, '`', lx->len - start);
                if (!end)
                        jn_compile_fail(ce, "S0105", (int64_t) lx->len, NULL, NULL);
                t->type = T_NAME;
                t->len = (size_t) (end - (s + start));
                t->s = arena_copy(lx, s + start, t->len);
                lx->pos = (size_t) (end - s) + 1;
        } else {
                size_t i = lx->pos;
                while (i < lx->len && !is_ws(s[i]) && !is_op_char(s[i]))
                        i++;
                if (c == '$') {
                        t->type = T_VARIABLE;
                        t->len = i - lx->pos - 1;
                        t->s = arena_copy(lx, s + lx->pos + 1, t->len);
                } else {
                        size_t n = i - lx->pos;
                        const char *w = s + lx->pos;
                        if ((n == 3 && !memcmp(w, "and", 3)) || (n == 2 && !memcmp(w, "or", 2)) ||
                            (n == 2 && !memcmp(w, "in", 2))) {
                                t->type = T_OP;
                                t->s = n == 3 ? "and" : w[0] == 'o' ? "or" : "in";
                        } else if (n == 4 && !memcmp(w, "true", 4)) {
                                t->type = T_VALUE;
                                t->value = 1;
                        } else if (n == 5 && !memcmp(w, "false", 5)) {
                                t->type = T_VALUE;
                                t->value = 0;
                        } else if (n == 4 && !memcmp(w, "null", 4)) {
                                t->type = T_VALUE;
                                t->value = 2;
                        } else {
                                t->type = T_NAME;
                                t->s = arena_copy(lx, w, n);
                        }
                        t->len = n;
                }
                lx->pos = i;
        }
        t->position = (int64_t) lx->pos;
        lx->prev_type = t->type;
        lx->prev_op = t->type == T_OP ? t->s : NULL;
}
