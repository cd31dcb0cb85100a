/* SPDX-License-Identifier: MIT */
/*
 * Number formatting: $formatBase, $formatNumber (XPath F&O 4.7 pictures,
 * as the reference implements them: sub-pictures, grouping, exponents,
 * percent and per-mille, a decimal digit family from "zero-digit"), and
 * $formatInteger / $parseInteger (F&O 4.6.1 pictures: decimal digit
 * patterns with grouping separators from any Unicode digit family, letters,
 * roman numerals, words, and the ordinal modifier).
 *
 * Pictures are handled as arrays of code points (the reference works on
 * UTF-16 units; for the BMP that is the same).
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonata-format.h"

#define FN(name) JnValue *name(JnEval *ev, JnValue **a, size_t n, JnValue *focus)
#define ARG(i) ((i) < n ? a[i] : NULL)

FN(jn_fn_format_base);

void cp_push(JnEval *ev, Cp *s, uint32_t c) {
        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 16;
                uint32_t *nc = jn_alloc(ev, cap * sizeof(uint32_t));
                if (s->n)
                        memcpy(nc, s->c, s->n * sizeof(uint32_t));
                s->c = nc;
                s->cap = cap;
        }
        s->c[s->n++] = c;
}

Cp cp_from(JnEval *ev, const char *s, size_t len) {
        Cp r = {};
        for (size_t i = 0; i < len;)
                cp_push(ev, &r, jn_utf8_next(s, len, &i));
        return r;
}

Cp cp_sub(Cp s, size_t from, size_t to) {
        if (to > s.n)
                to = s.n;
        if (from > to)
                from = to;
        return (Cp){.c = s.c + from, .n = to - from, .cap = 0};
}

ssize_t cp_index(Cp s, uint32_t c, size_t from) {
        for (size_t i = from; i < s.n; i++)
                if (s.c[i] == c)
                        return (ssize_t) i;
        return -1;
}

ssize_t cp_last(Cp s, uint32_t c) {
        for (size_t i = s.n; i > 0; i--)
                if (s.c[i - 1] == c)
                        return (ssize_t) (i - 1);
        return -1;
}

JnValue *cp_value(JnEval *ev, Cp s) {
        JnBuf b = {.ev = ev};
        for (size_t i = 0; i < s.n; i++)
                jn_buf_utf8(&b, s.c[i]);
        return jn_buf_value(&b);
}

void cp_append(JnEval *ev, Cp *d, Cp s) {
        for (size_t i = 0; i < s.n; i++)
                cp_push(ev, d, s.c[i]);
}

/* s with sep before every index i (0 < i < end) where end - i is a multiple
 * of every: regular grouping, in one pass (inserting one at a time would be
 * quadratic in a long picture). */
static Cp group_regular(JnEval *ev, Cp s, size_t end, size_t every, uint32_t sep) {
        Cp r = {};
        for (size_t i = 0; i < s.n; i++) {
                if (i > 0 && i < end && (end - i) % every == 0)
                        cp_push(ev, &r, sep);
                cp_push(ev, &r, s.c[i]);
        }
        return r;
}

void cp_insert(JnEval *ev, Cp *s, size_t at, uint32_t c) {
        cp_push(ev, s, 0);
        memmove(s->c + at + 1, s->c + at, (s->n - 1 - at) * sizeof(uint32_t));
        s->c[at] = c;
}

/* ------------------------------------------------------------------------ */
/* $formatBase */

FN(jn_fn_format_base) {
        JnValue *v = ARG(0);
        char buf[80];
        size_t k = sizeof(buf) - 1;
        if (!v)
                return NULL;
        double value = jn_round_half_even(v->num, 0);
        double radix = ARG(1) ? jn_round_half_even(a[1]->num, 0) : 10;
        if (radix < 2 || radix > 36)
                jn_throw_code(ev, "D3100", "formatBase", jn_number(ev, radix));
        bool neg = value < 0;
        double x = fabs(value);
        buf[k] = 0;
        if (x < 1)
                buf[--k] = '0';
        while (x >= 1 && k > 1) {
                int d = (int) fmod(x, radix);
                buf[--k] = (char) (d < 10 ? '0' + d : 'a' + d - 10);
                x = floor(x / radix);
        }
        if (neg)
                buf[--k] = '-';
        return jn_cstring(ev, buf + k);
}

/* ------------------------------------------------------------------------ */
/* $formatNumber */

typedef struct Props {
        uint32_t decimal, grouping, exponent, minus, percent, permille, zero, digit, pattern;
        Cp infinity, nan;
} Props;

typedef struct Parts {
        Cp prefix, suffix, active, mantissa, exponent, integer, fractional, sub;
        bool has_exponent;
} Parts;

typedef struct Pic {
        size_t int_groups[32], n_int_groups;
        size_t regular;
        size_t min_int, scaling, frac_groups[32], n_frac_groups, min_frac, max_frac, min_exp;
        Cp prefix, suffix, picture;
} Pic;

static bool is_digit_family(const Props *p, uint32_t c) {
        return c >= p->zero && c < p->zero + 10;
}

static bool is_active(const Props *p, uint32_t c) {
        return is_digit_family(p, c) || c == p->decimal || c == p->exponent || c == p->grouping ||
               c == p->digit || c == p->pattern;
}

static Parts split_parts(const Props *p, Cp sub) {
        Parts r = {.sub = sub};
        size_t pre = sub.n, suf = sub.n;
        for (size_t i = 0; i < sub.n; i++)
                if (is_active(p, sub.c[i]) && sub.c[i] != p->exponent) {
                        pre = i;
                        break;
                }
        for (size_t i = sub.n; i > 0; i--)
                if (is_active(p, sub.c[i - 1]) && sub.c[i - 1] != p->exponent) {
                        suf = i;
                        break;
                }
        if (pre == sub.n) { /* no active character: all of it is the active part */
                pre = 0;
                suf = sub.n;
        }
        r.prefix = cp_sub(sub, 0, pre);
        r.suffix = cp_sub(sub, suf, sub.n);
        r.active = cp_sub(sub, pre, suf);
        ssize_t epos = cp_index(sub, p->exponent, pre);
        if (epos < 0 || (size_t) epos > sub.n - r.suffix.n) {
                r.mantissa = r.active;
                r.has_exponent = false;
        } else {
                r.mantissa = cp_sub(r.active, 0, (size_t) epos);
                r.exponent = cp_sub(r.active, (size_t) epos + 1, r.active.n);
                r.has_exponent = true;
        }
        ssize_t dpos = cp_index(r.mantissa, p->decimal, 0);
        if (dpos < 0) {
                r.integer = r.mantissa;
                r.fractional = r.suffix;
        } else {
                r.integer = cp_sub(r.mantissa, 0, (size_t) dpos);
                r.fractional = cp_sub(r.mantissa, (size_t) dpos + 1, r.mantissa.n);
        }
        return r;
}

static void validate(JnEval *ev, const Props *p, const Parts *r) {
        const char *error = NULL;
        Cp sub = r->sub;
        ssize_t dpos = cp_index(sub, p->decimal, 0);
        if (dpos != cp_last(sub, p->decimal))
                error = "D3081";
        if (cp_index(sub, p->percent, 0) != cp_last(sub, p->percent))
                error = "D3082";
        if (cp_index(sub, p->permille, 0) != cp_last(sub, p->permille))
                error = "D3083";
        if (cp_index(sub, p->percent, 0) >= 0 && cp_index(sub, p->permille, 0) >= 0)
                error = "D3084";
        bool valid = false;
        for (size_t i = 0; i < r->mantissa.n; i++)
                if (is_digit_family(p, r->mantissa.c[i]) || r->mantissa.c[i] == p->digit)
                        valid = true;
        if (!valid)
                error = "D3085";
        for (size_t i = 0; i < r->active.n; i++)
                if (!is_active(p, r->active.c[i]))
                        error = "D3086";
        if (dpos >= 0) {
                if ((dpos > 0 && sub.c[dpos - 1] == p->grouping) ||
                    ((size_t) dpos + 1 < sub.n && sub.c[dpos + 1] == p->grouping))
                        error = "D3087";
        } else if (r->integer.n > 0 && r->integer.c[r->integer.n - 1] == p->grouping)
                error = "D3088";
        for (size_t i = 0; i + 1 < sub.n; i++)
                if (sub.c[i] == p->grouping && sub.c[i + 1] == p->grouping)
                        error = "D3089";
        ssize_t od = cp_index(r->integer, p->digit, 0);
        if (od >= 0)
                for (ssize_t i = 0; i < od; i++)
                        if (is_digit_family(p, r->integer.c[i]))
                                error = "D3090";
        od = cp_last(r->fractional, p->digit);
        if (od >= 0)
                for (size_t i = (size_t) od; i < r->fractional.n; i++)
                        if (is_digit_family(p, r->fractional.c[i]))
                                error = "D3091";
        if (r->has_exponent && r->exponent.n > 0 &&
            (cp_index(sub, p->percent, 0) >= 0 || cp_index(sub, p->permille, 0) >= 0))
                error = "D3092";
        if (r->has_exponent) {
                bool bad = r->exponent.n == 0;
                for (size_t i = 0; i < r->exponent.n; i++)
                        if (!is_digit_family(p, r->exponent.c[i]))
                                bad = true;
                if (bad)
                        error = "D3093";
        }
        if (error)
                jn_throw(ev, error, "formatNumber", NULL, "Invalid picture string for $formatNumber (%s)",
                         error);
}

static size_t count_digits(const Props *p, Cp s, bool optional_too) {
        size_t k = 0;
        for (size_t i = 0; i < s.n; i++)
                if (is_digit_family(p, s.c[i]) || (optional_too && s.c[i] == p->digit))
                        k++;
        return k;
}

static size_t gcd(size_t a, size_t b) {
        return b == 0 ? a : gcd(b, a % b);
}

static Pic analyse(const Props *p, const Parts *r) {
        Pic pic = {.prefix = r->prefix, .suffix = r->suffix, .picture = r->sub};
        /* grouping positions of the integer part: digits to the right */
        ssize_t g = cp_index(r->integer, p->grouping, 0);
        while (g >= 0 && pic.n_int_groups < 32) {
                pic.int_groups[pic.n_int_groups++] =
                        count_digits(p, cp_sub(r->integer, (size_t) g, r->integer.n), true);
                g = cp_index(r->integer, p->grouping, (size_t) g + 1);
        }
        if (pic.n_int_groups > 0) {
                size_t f = pic.int_groups[0];
                for (size_t i = 1; i < pic.n_int_groups; i++)
                        f = gcd(f, pic.int_groups[i]);
                pic.regular = f;
                for (size_t k = 1; k <= pic.n_int_groups && pic.regular; k++) {
                        bool found = false;
                        for (size_t i = 0; i < pic.n_int_groups; i++)
                                if (pic.int_groups[i] == k * f)
                                        found = true;
                        if (!found)
                                pic.regular = 0;
                }
        }
        g = cp_index(r->fractional, p->grouping, 0);
        while (g >= 0 && pic.n_frac_groups < 32) {
                pic.frac_groups[pic.n_frac_groups++] =
                        count_digits(p, cp_sub(r->fractional, 0, (size_t) g), true);
                /* the reference searches the integer part for the next one */
                g = cp_index(r->integer, p->grouping, (size_t) g + 1);
        }
        pic.min_int = count_digits(p, r->integer, false);
        pic.scaling = pic.min_int;
        pic.min_frac = count_digits(p, r->fractional, false);
        pic.max_frac = count_digits(p, r->fractional, true);
        if (pic.min_int == 0 && pic.max_frac == 0) {
                if (r->has_exponent) {
                        pic.min_frac = 1;
                        pic.max_frac = 1;
                } else
                        pic.min_int = 1;
        }
        if (r->has_exponent && pic.min_int == 0 && cp_index(r->integer, p->digit, 0) >= 0)
                pic.min_int = 1;
        if (pic.min_int == 0 && pic.min_frac == 0)
                pic.min_frac = 1;
        if (r->has_exponent)
                pic.min_exp = count_digits(p, r->exponent, false);
        return pic;
}

static uint32_t prop_char(JnEval *ev, JnValue *opts, const char *key, uint32_t def) {
        JnValue *v = opts ? jn_object_get(opts, key, strlen(key)) : NULL;
        if (!jn_is_string(v) || v->str.len == 0)
                return def;
        size_t i = 0;
        return jn_utf8_next(v->str.s, v->str.len, &i);
}

static Cp make_string(JnEval *ev, const Props *p, double value, size_t dp) {
        char buf[400];
        snprintf(buf, sizeof(buf), "%.*f", (int) (dp > 100 ? 100 : dp), fabs(value));
        Cp s = {};
        for (char *c = buf; *c; c++)
                cp_push(ev, &s, (*c >= '0' && *c <= '9') ? p->zero + (uint32_t) (*c - '0') : (uint32_t) *c);
        return s;
}

FN(jn_fn_format_number) {
        JnValue *v = ARG(0), *picture = ARG(1), *opts = ARG(2);
        if (!v || !picture)
                return NULL;
        Props p = {
                .decimal = prop_char(ev, opts, "decimal-separator", '.'),
                .grouping = prop_char(ev, opts, "grouping-separator", ','),
                .exponent = prop_char(ev, opts, "exponent-separator", 'e'),
                .minus = prop_char(ev, opts, "minus-sign", '-'),
                .percent = prop_char(ev, opts, "percent", '%'),
                .permille = prop_char(ev, opts, "per-mille", 0x2030),
                .zero = prop_char(ev, opts, "zero-digit", '0'),
                .digit = prop_char(ev, opts, "digit", '#'),
                .pattern = prop_char(ev, opts, "pattern-separator", ';'),
        };
        Cp pic = cp_from(ev, picture->str.s, picture->str.len);
        Cp subs[2];
        size_t nsubs = 0;
        ssize_t sep = cp_index(pic, p.pattern, 0);
        if (sep < 0)
                subs[nsubs++] = pic;
        else {
                if (cp_index(pic, p.pattern, (size_t) sep + 1) >= 0)
                        jn_throw(ev, "D3080", "formatNumber", NULL,
                                 "The picture string must only contain a maximum of two sub-pictures");
                subs[nsubs++] = cp_sub(pic, 0, (size_t) sep);
                subs[nsubs++] = cp_sub(pic, (size_t) sep + 1, pic.n);
        }
        Parts parts[2];
        Pic vars[2];
        for (size_t i = 0; i < nsubs; i++) {
                parts[i] = split_parts(&p, subs[i]);
                validate(ev, &p, &parts[i]);
        }
        for (size_t i = 0; i < nsubs; i++)
                vars[i] = analyse(&p, &parts[i]);
        if (nsubs == 1) {
                vars[1] = vars[0];
                Cp pre = {};
                cp_push(ev, &pre, p.minus);
                cp_append(ev, &pre, vars[0].prefix);
                vars[1].prefix = pre;
        }
        double value = v->num;
        Pic *pc = value >= 0 ? &vars[0] : &vars[1];
        double adjusted = value;
        if (cp_index(pc->picture, p.percent, 0) >= 0)
                adjusted = value * 100;
        else if (cp_index(pc->picture, p.permille, 0) >= 0)
                adjusted = value * 1000;
        double mantissa = adjusted;
        int exponent = 0;
        bool has_exp = pc->min_exp > 0;
        if (has_exp) {
                double maxm = pow(10, (double) pc->scaling), minm = pow(10, (double) pc->scaling - 1);
                while (fabs(mantissa) < minm && mantissa != 0 && isfinite(mantissa)) {
                        mantissa *= 10;
                        exponent--;
                }
                while (fabs(mantissa) > maxm && isfinite(mantissa)) {
                        mantissa /= 10;
                        exponent++;
                }
        }
        double rounded = jn_round_half_even(mantissa, (int) pc->max_frac);
        Cp s = make_string(ev, &p, rounded, pc->max_frac);
        ssize_t dot = cp_index(s, '.', 0);
        if (dot < 0)
                cp_push(ev, &s, p.decimal);
        else
                s.c[dot] = p.decimal;
        while (s.n > 0 && s.c[0] == p.zero) {
                s.c++;
                s.n--;
                s.cap = 0;
        }
        while (s.n > 0 && s.c[s.n - 1] == p.zero)
                s.n--;
        Cp t = {};
        cp_append(ev, &t, s);
        s = t;
        ssize_t dp = cp_index(s, p.decimal, 0);
        ssize_t padl = (ssize_t) pc->min_int - dp;
        ssize_t padr = (ssize_t) pc->min_frac - ((ssize_t) s.n - dp - 1);
        Cp u = {};
        for (ssize_t i = 0; i < padl; i++)
                cp_push(ev, &u, p.zero);
        cp_append(ev, &u, s);
        for (ssize_t i = 0; i < padr; i++)
                cp_push(ev, &u, p.zero);
        s = u;
        dp = cp_index(s, p.decimal, 0);
        if (pc->regular > 0)
                s = group_regular(ev, s, (size_t) dp, pc->regular, p.grouping);
        else
                for (size_t i = 0; i < pc->n_int_groups; i++) {
                        if ((ssize_t) pc->int_groups[i] <= dp)
                                cp_insert(ev, &s, (size_t) dp - pc->int_groups[i], p.grouping);
                        dp++;
                }
        dp = cp_index(s, p.decimal, 0);
        for (size_t i = 0; i < pc->n_frac_groups; i++)
                if ((size_t) dp + 1 + pc->frac_groups[i] <= s.n)
                        cp_insert(ev, &s, (size_t) dp + 1 + pc->frac_groups[i], p.grouping);
        dp = cp_index(s, p.decimal, 0);
        if (pc->min_frac == 0 && dp == (ssize_t) s.n - 1)
                s.n--;
        if (has_exp) {
                Cp es = make_string(ev, &p, exponent, 0);
                Cp all = {};
                cp_append(ev, &all, s);
                cp_push(ev, &all, p.exponent);
                if (exponent < 0)
                        cp_push(ev, &all, p.minus);
                for (ssize_t i = (ssize_t) es.n; i < (ssize_t) pc->min_exp; i++)
                        cp_push(ev, &all, p.zero);
                cp_append(ev, &all, es);
                s = all;
        }
        Cp out = {};
        cp_append(ev, &out, pc->prefix);
        cp_append(ev, &out, s);
        cp_append(ev, &out, pc->suffix);
        return cp_value(ev, out);
}

/* ------------------------------------------------------------------------ */
/* $formatInteger / $parseInteger */

static const uint32_t decimal_groups[] = {
        0x30,   0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6,
        0x0C66, 0x0CE6, 0x0D66, 0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0,
        0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620,
        0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
};

static bool cp_eq(Cp s, const char *lit) {
        size_t l = strlen(lit);
        if (s.n != l)
                return false;
        for (size_t i = 0; i < l; i++)
                if (s.c[i] != (uint32_t) lit[i])
                        return false;
        return true;
}

IntFormat *jn_analyse_integer_picture(JnEval *ev, Cp picture) {
        IntFormat *f = jn_alloc(ev, sizeof(IntFormat));
        Cp primary = picture;
        memset(f, 0, sizeof(*f));
        f->primary = F_DECIMAL;
        f->tcase = C_LOWER;
        ssize_t semi = cp_last(picture, ';');
        if (semi >= 0) {
                primary = cp_sub(picture, 0, (size_t) semi);
                if ((size_t) semi + 1 < picture.n && picture.c[semi + 1] == 'o')
                        f->ordinal = true;
        }
        if (cp_eq(primary, "A") || cp_eq(primary, "a")) {
                f->primary = F_LETTERS;
                f->tcase = primary.c[0] == 'A' ? C_UPPER : C_LOWER;
        } else if (cp_eq(primary, "I") || cp_eq(primary, "i")) {
                f->primary = F_ROMAN;
                f->tcase = primary.c[0] == 'I' ? C_UPPER : C_LOWER;
        } else if (cp_eq(primary, "W")) {
                f->primary = F_WORDS;
                f->tcase = C_UPPER;
        } else if (cp_eq(primary, "Ww")) {
                f->primary = F_WORDS;
                f->tcase = C_TITLE;
        } else if (cp_eq(primary, "w")) {
                f->primary = F_WORDS;
        } else {
                uint32_t zero = 0;
                size_t mandatory = 0, pos = 0;
                for (size_t k = primary.n; k > 0; k--) {
                        uint32_t c = primary.c[k - 1];
                        bool digit = false;
                        for (size_t g = 0; g < sizeof(decimal_groups) / sizeof(decimal_groups[0]); g++)
                                if (c >= decimal_groups[g] && c <= decimal_groups[g] + 9) {
                                        digit = true;
                                        mandatory++;
                                        pos++;
                                        if (!zero)
                                                zero = decimal_groups[g];
                                        else if (zero != decimal_groups[g])
                                                jn_throw(ev, "D3131", NULL, NULL,
                                                         "In a decimal digit pattern, all digits must be "
                                                         "from "
                                                         "the same decimal group");
                                        break;
                                }
                        if (!digit) {
                                if (c == '#') {
                                        pos++;
                                        f->optional++;
                                } else if (f->nseps < 32) {
                                        f->seps[f->nseps].position = pos;
                                        f->seps[f->nseps].c = c;
                                        f->nseps++;
                                }
                        }
                }
                if (mandatory > 0) {
                        f->primary = F_DECIMAL;
                        f->zero = zero;
                        f->mandatory = mandatory;
                        if (f->nseps > 0) {
                                bool same = true;
                                for (size_t i = 1; i < f->nseps; i++)
                                        same = same && f->seps[i].c == f->seps[0].c;
                                size_t fac = f->seps[0].position;
                                for (size_t i = 1; i < f->nseps; i++)
                                        fac = gcd(fac, f->seps[i].position);
                                bool reg = same && fac > 0;
                                for (size_t k = 1; reg && k <= f->nseps; k++) {
                                        bool found = false;
                                        for (size_t i = 0; i < f->nseps; i++)
                                                found = found || f->seps[i].position == k * fac;
                                        reg = found;
                                }
                                if (reg) {
                                        f->regular = true;
                                        f->regular_pos = fac;
                                        f->regular_char = f->seps[0].c;
                                }
                        }
                } else {
                        f->primary = F_SEQUENCE;
                        f->token = primary;
                }
        }
        return f;
}

static const char *const few[] = {"Zero",    "One",     "Two",       "Three",    "Four",
                                  "Five",    "Six",     "Seven",     "Eight",    "Nine",
                                  "Ten",     "Eleven",  "Twelve",    "Thirteen", "Fourteen",
                                  "Fifteen", "Sixteen", "Seventeen", "Eighteen", "Nineteen"};
static const char *const ordinals[] = {"Zeroth",    "First",     "Second",      "Third",      "Fourth",
                                       "Fifth",     "Sixth",     "Seventh",     "Eighth",     "Ninth",
                                       "Tenth",     "Eleventh",  "Twelfth",     "Thirteenth", "Fourteenth",
                                       "Fifteenth", "Sixteenth", "Seventeenth", "Eighteenth", "Nineteenth"};
static const char *const decades[] = {"Twenty",  "Thirty", "Forty",  "Fifty",  "Sixty",
                                      "Seventy", "Eighty", "Ninety", "Hundred"};
static const char *const magnitudes[] = {"Thousand", "Million", "Billion", "Trillion"};

static void words(JnBuf *b, double num, bool prev, bool ord) {
        if (num <= 19) {
                if (prev)
                        jn_buf_puts(b, " and ");
                jn_buf_puts(b, ord ? ordinals[(int) num] : few[(int) num]);
        } else if (num < 100) {
                int tens = (int) (num / 10), rem = (int) fmod(num, 10);
                if (prev)
                        jn_buf_puts(b, " and ");
                if (rem > 0) {
                        jn_buf_puts(b, decades[tens - 2]);
                        jn_buf_putc(b, '-');
                        words(b, rem, false, ord);
                } else if (ord) {
                        jn_buf_put(b, decades[tens - 2], strlen(decades[tens - 2]) - 1);
                        jn_buf_puts(b, "ieth");
                } else
                        jn_buf_puts(b, decades[tens - 2]);
        } else if (num < 1000) {
                int hundreds = (int) (num / 100);
                double rem = fmod(num, 100);
                if (prev)
                        jn_buf_puts(b, ", ");
                jn_buf_puts(b, few[hundreds]);
                jn_buf_puts(b, " Hundred");
                if (rem > 0)
                        words(b, rem, true, ord);
                else if (ord)
                        jn_buf_puts(b, "th");
        } else {
                int mag = (int) floor(log10(num) / 3);
                if (mag > 4)
                        mag = 4;
                double factor = pow(10, mag * 3);
                double mant = floor(num / factor), rem = num - mant * factor;
                if (prev)
                        jn_buf_puts(b, ", ");
                words(b, mant, false, false);
                jn_buf_putc(b, ' ');
                jn_buf_puts(b, magnitudes[mag - 1]);
                if (rem > 0)
                        words(b, rem, true, ord);
                else if (ord)
                        jn_buf_puts(b, "th");
        }
}

static void roman(JnBuf *b, double value) {
        static const struct {
                int v;
                const char *s;
        } numerals[] = {{1000, "m"}, {900, "cm"}, {500, "d"}, {400, "cd"}, {100, "c"}, {90, "xc"}, {50, "l"},
                        {40, "xl"},  {10, "x"},   {9, "ix"},  {5, "v"},    {4, "iv"},  {1, "i"}};
        while (value >= 1) {
                for (size_t i = 0; i < sizeof(numerals) / sizeof(numerals[0]); i++)
                        if (value >= numerals[i].v) {
                                jn_buf_puts(b, numerals[i].s);
                                value -= numerals[i].v;
                                break;
                        }
                jn_step(b->ev, 1);
        }
}

static _Noreturn void unsupported_sequence(JnEval *ev, const IntFormat *f) {
        JnValue *tok = cp_value(ev, f->token);
        jn_throw(
                ev, "D3130", NULL, NULL,
                "Formatting or parsing an integer as a sequence starting with %.*s is not supported by this "
                "implementation",
                (int) tok->str.len, tok->str.s);
}

JnValue *jn_format_integer(JnEval *ev, double value, const IntFormat *f) {
        JnBuf b = {.ev = ev};
        bool neg = value < 0;
        if (!isfinite(value)) /* the reference recurses without end on NaN */
                jn_throw_code(ev, "D3001", "formatInteger", NULL);
        value = fabs(value);
        if (value > 1e300 || (f->primary == F_ROMAN && value > 1e6))
                jn_throw(ev, "D3001", NULL, NULL, "The number is too large to format");
        switch (f->primary) {
        case F_LETTERS: {
                char tmp[64];
                size_t k = sizeof(tmp) - 1;
                tmp[k] = 0;
                while (value > 0 && k > 0) {
                        tmp[--k] = (char) ((f->tcase == C_UPPER ? 'A' : 'a') + (int) fmod(value - 1, 26));
                        value = floor((value - 1) / 26);
                }
                jn_buf_puts(&b, tmp + k);
                break;
        }
        case F_ROMAN:
                roman(&b, value);
                if (f->tcase == C_UPPER)
                        for (size_t i = 0; i < b.len; i++)
                                b.s[i] = (char) (b.s[i] - 32);
                break;
        case F_WORDS:
                words(&b, value, false, f->ordinal);
                for (size_t i = 0; i < b.len; i++) {
                        if (f->tcase == C_UPPER && b.s[i] >= 'a' && b.s[i] <= 'z')
                                b.s[i] = (char) (b.s[i] - 32);
                        else if (f->tcase == C_LOWER && b.s[i] >= 'A' && b.s[i] <= 'Z')
                                b.s[i] = (char) (b.s[i] + 32);
                }
                break;
        case F_DECIMAL: {
                char digits[400];
                snprintf(digits, sizeof(digits), "%.0f", value);
                Cp s = {};
                for (size_t i = strlen(digits); i < f->mandatory; i++)
                        cp_push(ev, &s, f->zero);
                for (char *c = digits; *c; c++)
                        cp_push(ev, &s, f->zero + (uint32_t) (*c - '0'));
                if (f->regular)
                        s = group_regular(ev, s, s.n, f->regular_pos, f->regular_char);
                else
                        for (size_t i = f->nseps; i > 0; i--) {
                                size_t pos = f->seps[i - 1].position;
                                if (pos <= s.n)
                                        cp_insert(ev, &s, s.n - pos, f->seps[i - 1].c);
                                else {
                                        /* the reference's substr() with a negative start: the
                                         * separator, then the characters from 2n - pos on */
                                        size_t start = 2 * s.n > pos ? 2 * s.n - pos : 0;
                                        size_t keep = s.n - start;
                                        memmove(s.c, s.c + (s.n - keep), keep * sizeof(uint32_t));
                                        s.n = keep;
                                        cp_insert(ev, &s, 0, f->seps[i - 1].c);
                                }
                        }
                JnValue *sv = cp_value(ev, s);
                jn_buf_put(&b, sv->str.s, sv->str.len);
                if (f->ordinal) {
                        const char *suffix = "th";
                        char last = digits[strlen(digits) - 1];
                        char prev = strlen(digits) > 1 ? digits[strlen(digits) - 2] : 0;
                        if (prev != '1') {
                                if (last == '1')
                                        suffix = "st";
                                else if (last == '2')
                                        suffix = "nd";
                                else if (last == '3')
                                        suffix = "rd";
                        }
                        jn_buf_puts(&b, suffix);
                }
                break;
        }
        default:
                unsupported_sequence(ev, f);
        }
        JnValue *r = jn_buf_value(&b);
        if (neg) {
                JnBuf nb = {.ev = ev};
                jn_buf_putc(&nb, '-');
                jn_buf_put(&nb, r->str.s, r->str.len);
                r = jn_buf_value(&nb);
        }
        return r;
}

FN(jn_fn_format_integer) {
        JnValue *v = ARG(0), *pic = ARG(1);
        if (!v || !pic)
                return NULL;
        IntFormat *f = jn_analyse_integer_picture(ev, cp_from(ev, pic->str.s, pic->str.len));
        return jn_format_integer(ev, floor(v->num), f);
}

/* The reference's regular expression for numbers in words: any of the
 * words, "and", or a separator, repeated. Longer words first, so that PCRE2's
 * leftmost alternative does not stop at a prefix ("seven" of "seventeen"). */
void jn_words_regex(JnBuf *b) {
        const char *list[128];
        char *owned[16];
        size_t n = 0, no = 0;
        for (int i = 0; i < 20; i++) {
                list[n++] = few[i];
                list[n++] = ordinals[i];
        }
        for (int i = 0; i < 9; i++) {
                list[n++] = decades[i];
                if (i < 8) {
                        owned[no] = jn_printf(b->ev, "%.*sieth", (int) strlen(decades[i]) - 1, decades[i]);
                        list[n++] = owned[no++];
                }
        }
        list[n++] = "Hundredth";
        for (int i = 0; i < 4; i++) {
                list[n++] = magnitudes[i];
                list[n++] = jn_printf(b->ev, "%sth", magnitudes[i]);
        }
        /* longest first */
        for (size_t i = 0; i < n; i++)
                for (size_t k = i + 1; k < n; k++)
                        if (strlen(list[k]) > strlen(list[i])) {
                                const char *t = list[i];
                                list[i] = list[k];
                                list[k] = t;
                        }
        jn_buf_puts(b, "(?:");
        for (size_t i = 0; i < n; i++) {
                for (const char *c = list[i]; *c; c++)
                        jn_buf_putc(b, (char) (*c >= 'A' && *c <= 'Z' ? *c + 32 : *c));
                jn_buf_putc(b, '|');
        }
        jn_buf_puts(b, "and|[\\-, ])+");
}

static double word_value(const char *w, size_t n, bool *ok) {
        char lw[32];
        *ok = true;
        if (n >= sizeof(lw))
                goto bad;
        for (size_t i = 0; i < n; i++)
                lw[i] = (char) (w[i] >= 'A' && w[i] <= 'Z' ? w[i] + 32 : w[i]);
        lw[n] = 0;
        for (int i = 0; i < 20; i++) {
                if (strcasecmp(lw, few[i]) == 0 || strcasecmp(lw, ordinals[i]) == 0)
                        return i;
        }
        for (int i = 0; i < 8; i++) {
                char ieth[32];
                snprintf(ieth, sizeof(ieth), "%.*sieth", (int) strlen(decades[i]) - 1, decades[i]);
                if (strcasecmp(lw, decades[i]) == 0 || strcasecmp(lw, ieth) == 0)
                        return (i + 2) * 10;
        }
        if (strcmp(lw, "hundred") == 0 || strcmp(lw, "hundredth") == 0)
                return 100;
        for (int i = 0; i < 4; i++) {
                char th[32];
                snprintf(th, sizeof(th), "%sth", magnitudes[i]);
                if (strcasecmp(lw, magnitudes[i]) == 0 || strcasecmp(lw, th) == 0)
                        return pow(10, (i + 1) * 3);
        }
bad:
        *ok = false;
        return 0;
}

JnValue *jn_parse_integer(JnEval *ev, JnValue *v, const IntFormat *f) {
        const char *s = v->str.s;
        size_t len = v->str.len;
        double result = 0;

        switch (f->primary) {
        case F_LETTERS:
                for (size_t i = 0; i < len; i++)
                        result = result * 26 + (s[i] - (f->tcase == C_UPPER ? 'A' : 'a') + 1);
                return jn_number(ev, result);
        case F_ROMAN: {
                double max = 1;
                for (size_t i = len; i > 0; i--) {
                        char c = (char) (s[i - 1] >= 'a' ? s[i - 1] - 32 : s[i - 1]);
                        double val = c == 'M'   ? 1000
                                     : c == 'D' ? 500
                                     : c == 'C' ? 100
                                     : c == 'L' ? 50
                                     : c == 'X' ? 10
                                     : c == 'V' ? 5
                                     : c == 'I' ? 1
                                                : 0;
                        if (val < max)
                                result -= val;
                        else {
                                max = val;
                                result += val;
                        }
                }
                return jn_number(ev, result);
        }
        case F_WORDS: {
                double segs[64];
                size_t nseg = 1;
                segs[0] = 0;
                size_t i = 0;
                while (i < len) {
                        /* separators: ", ", " and ", whitespace, '-' */
                        if (s[i] == ',' || s[i] == ' ' || s[i] == '-' || s[i] == '\t') {
                                i++;
                                continue;
                        }
                        size_t st = i;
                        while (i < len && s[i] != ',' && s[i] != ' ' && s[i] != '-' && s[i] != '\t')
                                i++;
                        if (i - st == 3 && strncasecmp(s + st, "and", 3) == 0)
                                continue;
                        bool ok;
                        double value = word_value(s + st, i - st, &ok);
                        if (!ok)
                                return NULL;
                        if (value < 100) {
                                double top = segs[--nseg];
                                if (top >= 1000) {
                                        segs[nseg++] = top;
                                        top = 0;
                                }
                                segs[nseg++] = top + value;
                        } else
                                segs[nseg - 1] *= value;
                        if (nseg >= 63)
                                break;
                }
                for (size_t k = 0; k < nseg; k++)
                        result += segs[k];
                return jn_number(ev, result);
        }
        case F_DECIMAL: {
                Cp c = cp_from(ev, s, len);
                bool any = false;
                size_t end = c.n;
                if (f->ordinal && end >= 2)
                        end -= 2;
                for (size_t i = 0; i < end; i++) {
                        uint32_t ch = c.c[i];
                        if (ch >= f->zero && ch <= f->zero + 9) {
                                result = result * 10 + (ch - f->zero);
                                any = true;
                        } /* anything else is a grouping separator or the ordinal */
                }
                return any ? jn_number(ev, result) : NULL;
        }
        default:
                unsupported_sequence(ev, f);
        }
}

FN(jn_fn_parse_integer) {
        JnValue *v = ARG(0), *pic = ARG(1);
        if (!v || !pic)
                return NULL;
        IntFormat *f = jn_analyse_integer_picture(ev, cp_from(ev, pic->str.s, pic->str.len));
        return jn_parse_integer(ev, v, f);
}
