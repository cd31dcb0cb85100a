/* SPDX-License-Identifier: MIT */
/*
 * Date and time: $fromMillis and $now (formatting with XPath F&O 9.8
 * picture strings, "[Y0001]-[M01]-[D01]", names of months and days, ISO
 * week dates, time zones), $toMillis (ISO 8601 without a picture; with one,
 * the picture becomes a regular expression whose captures fill the
 * components, missing ones defaulted from "now" as the reference does) and
 * $millis. Time comes only from the environment (JsonataEnv.now_ms), fixed
 * for one evaluation.
 *
 * Calendar arithmetic is proleptic Gregorian in UTC, on 64-bit day counts
 * (days_from_civil / civil_from_days), so any year JavaScript's Date
 * accepts works.
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonata-format.h"

#define FN(name) JnValue *name(JnEval *ev, JnValue **a, size_t n, JnValue *focus)
#define ARG(i) ((i) < n ? a[i] : NULL)
#define DAY_MS 86400000.0

static const char *const day_names[] = {"",         "Monday", "Tuesday",  "Wednesday",
                                        "Thursday", "Friday", "Saturday", "Sunday"};
static const char *const month_names[] = {"January",   "February", "March",    "April",
                                          "May",       "June",     "July",     "August",
                                          "September", "October",  "November", "December"};

/* ------------------------------------------------------------------------ */
/* Calendar */

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        int64_t yoe = y - era * 400;
        int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
        z += 719468;
        int64_t era = (z >= 0 ? z : z - 146096) / 146097;
        int64_t doe = z - era * 146097;
        int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        int64_t mp = (5 * doy + 2) / 153;
        *d = (int) (doy - (153 * mp + 2) / 5 + 1);
        *m = (int) (mp < 10 ? mp + 3 : mp - 9);
        *y = yoe + era * 400 + (*m <= 2);
}

/* Date.UTC(y, m0, d, H, M, s, ms) with JavaScript's overflow rules. */
static double date_utc(double y, double m0, double d, double H, double M, double s, double ms) {
        if (!isfinite(y) || !isfinite(m0) || fabs(y) > 1e8 || fabs(m0) > 1e9) /* past JavaScript's dates */
                return NAN;
        double ym = y + floor(m0 / 12);
        double mn = fmod(m0, 12);
        if (mn < 0)
                mn += 12;
        double days = (double) days_from_civil((int64_t) ym, (int64_t) mn + 1, 1) + d - 1;
        return days * DAY_MS + H * 3600000.0 + M * 60000.0 + s * 1000.0 + ms;
}

typedef struct Tm {
        int64_t year;
        int month; /* 0-11 */
        int day;   /* 1-31 */
        int wday;  /* 0 = Sunday */
        int hour, min, sec, ms;
        double millis;
} Tm;

static Tm split_time(double millis) {
        Tm t = {.millis = millis};
        double days = floor(millis / DAY_MS);
        double rest = millis - days * DAY_MS;
        int m, d;
        civil_from_days((int64_t) days, &t.year, &m, &d);
        t.month = m - 1;
        t.day = d;
        t.wday = (int) (((int64_t) days % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
        t.hour = (int) (rest / 3600000.0);
        t.min = (int) (fmod(rest, 3600000.0) / 60000.0);
        t.sec = (int) (fmod(rest, 60000.0) / 1000.0);
        t.ms = (int) fmod(rest, 1000.0);
        return t;
}

static double start_of_first_week(int64_t year, int month0) {
        double jan1 = date_utc((double) year, month0, 1, 0, 0, 0, 0);
        int dow = split_time(jan1).wday;
        if (dow == 0)
                dow = 7;
        return dow > 4 ? jan1 + (8 - dow) * DAY_MS : jan1 - (dow - 1) * DAY_MS;
}

static double delta_weeks(double start, double end) {
        return (end - start) / (DAY_MS * 7) + 1;
}

/* A component's value; names (P) come back in *name. */
static double fragment(const Tm *t, char comp, const char **name) {
        *name = NULL;
        switch (comp) {
        case 'Y':
                return (double) t->year;
        case 'M':
                return t->month + 1;
        case 'D':
                return t->day;
        case 'd':
                return (date_utc((double) t->year, t->month, t->day, 0, 0, 0, 0) -
                        date_utc((double) t->year, 0, 1, 0, 0, 0, 0)) /
                               DAY_MS +
                       1;
        case 'F':
                return t->wday == 0 ? 7 : t->wday;
        case 'W': {
                double start = start_of_first_week(t->year, 0);
                double today = date_utc((double) t->year, t->month, t->day, 0, 0, 0, 0);
                double week = delta_weeks(start, today);
                if (week > 52) {
                        if (today >= start_of_first_week(t->year + 1, 0))
                                week = 1;
                } else if (week < 1)
                        week = delta_weeks(start_of_first_week(t->year - 1, 0), today);
                return floor(week);
        }
        case 'w': {
                double start = start_of_first_week(t->year, t->month);
                double today = date_utc((double) t->year, t->month, t->day, 0, 0, 0, 0);
                double week = delta_weeks(start, today);
                if (week > 4) {
                        int64_t ny = t->month == 11 ? t->year + 1 : t->year;
                        int nm = t->month == 11 ? 0 : t->month + 1;
                        if (today >= start_of_first_week(ny, nm))
                                week = 1;
                } else if (week < 1) {
                        int64_t py = t->month == 0 ? t->year - 1 : t->year;
                        int pm = t->month == 0 ? 11 : t->month - 1;
                        week = delta_weeks(start_of_first_week(py, pm), today);
                }
                return floor(week);
        }
        case 'X': {
                double s = start_of_first_week(t->year, 0), e = start_of_first_week(t->year + 1, 0);
                if (t->millis < s)
                        return (double) t->year - 1;
                if (t->millis >= e)
                        return (double) t->year + 1;
                return (double) t->year;
        }
        case 'x': {
                int64_t ny = t->month == 11 ? t->year + 1 : t->year;
                int nm = t->month == 11 ? 0 : t->month + 1;
                double s = start_of_first_week(t->year, t->month), e = start_of_first_week(ny, nm);
                if (t->millis < s)
                        return t->month == 0 ? 12 : t->month;
                if (t->millis >= e)
                        return nm + 1;
                return t->month + 1;
        }
        case 'H':
                return t->hour;
        case 'h':
                return t->hour % 12 == 0 ? 12 : t->hour % 12;
        case 'P':
                *name = t->hour >= 12 ? "pm" : "am";
                return 0;
        case 'm':
                return t->min;
        case 's':
                return t->sec;
        case 'f':
                return t->ms;
        case 'C':
        case 'E':
                *name = "ISO";
                return 0;
        }
        return 0;
}

/* ------------------------------------------------------------------------ */
/* Pictures */

enum { NAMES_NONE, NAMES_LOWER, NAMES_UPPER, NAMES_TITLE };

typedef struct Part {
        bool literal;
        Cp text; /* literal */
        char component;
        Cp pres1;
        char pres2;
        bool has_width;
        long wmin, wmax; /* -1 = unset */
        int names;
        IntFormat *ifmt;
        long yn;
} Part;

typedef struct Picture {
        Part *parts;
        size_t n, cap;
} Picture;

static Part *part_new(JnEval *ev, Picture *p) {
        if (p->n == p->cap) {
                size_t cap = p->cap ? p->cap * 2 : 8;
                Part *np = jn_alloc(ev, cap * sizeof(Part));
                if (p->n)
                        memcpy(np, p->parts, p->n * sizeof(Part));
                p->parts = np;
                p->cap = cap;
        }
        Part *r = &p->parts[p->n++];
        memset(r, 0, sizeof(*r));
        r->wmin = r->wmax = -1;
        return r;
}

static void add_literal(JnEval *ev, Picture *pic, Cp s, size_t start, size_t end) {
        if (end <= start)
                return;
        Part *lit = part_new(ev, pic);
        lit->literal = true;
        for (size_t i = start; i < end; i++) {
                cp_push(ev, &lit->text, s.c[i]);
                if (s.c[i] == ']' && i + 1 < end && s.c[i + 1] == ']')
                        i++;
        }
}

static const char *default_pres(char comp) {
        switch (comp) {
        case 'Y':
        case 'M':
        case 'D':
        case 'd':
        case 'W':
        case 'w':
        case 'X':
        case 'x':
        case 'H':
        case 'h':
        case 'f':
                return "1";
        case 'F':
        case 'P':
        case 'C':
        case 'E':
                return "n";
        case 'm':
        case 's':
                return "01";
        case 'Z':
        case 'z':
                return "01:01";
        }
        return NULL;
}

static long parse_width(Cp s) {
        long v = 0;
        if (s.n == 0 || (s.n == 1 && s.c[0] == '*'))
                return -1;
        for (size_t i = 0; i < s.n && v < 10000000; i++) /* capped: the memory limit stops it anyway */
                if (s.c[i] >= '0' && s.c[i] <= '9')
                        v = v * 10 + (long) (s.c[i] - '0');
                else
                        break;
        return v;
}

static Picture *analyse_picture(JnEval *ev, Cp pic) {
        Picture *p = jn_alloc(ev, sizeof(Picture));
        size_t start = 0, pos = 0;
        memset(p, 0, sizeof(*p));
        while (pos < pic.n) {
                if (pic.c[pos] != '[') {
                        pos++;
                        continue;
                }
                if (pos + 1 < pic.n && pic.c[pos + 1] == '[') {
                        add_literal(ev, p, pic, start, pos);
                        Part *lit = part_new(ev, p);
                        lit->literal = true;
                        cp_push(ev, &lit->text, '[');
                        pos += 2;
                        start = pos;
                        continue;
                }
                add_literal(ev, p, pic, start, pos);
                start = pos;
                ssize_t close = cp_index(pic, ']', start);
                if (close < 0)
                        jn_throw(ev, "D3135", NULL, NULL,
                                 "No matching closing bracket ']' in date/time picture string");
                pos = (size_t) close;
                Cp marker = {};
                for (size_t i = start + 1; i < pos; i++)
                        if (pic.c[i] != ' ' && pic.c[i] != '\t' && pic.c[i] != '\n' && pic.c[i] != '\r')
                                cp_push(ev, &marker, pic.c[i]);
                Part *d = part_new(ev, p);
                d->component = marker.n ? (char) marker.c[0] : 0;
                Cp pres;
                ssize_t comma = cp_last(marker, ',');
                if (comma >= 0) {
                        Cp wm = cp_sub(marker, (size_t) comma + 1, marker.n);
                        ssize_t dash = cp_index(wm, '-', 0);
                        d->has_width = true;
                        if (dash < 0)
                                d->wmin = parse_width(wm);
                        else {
                                d->wmin = parse_width(cp_sub(wm, 0, (size_t) dash));
                                d->wmax = parse_width(cp_sub(wm, (size_t) dash + 1, wm.n));
                        }
                        pres = cp_sub(marker, 1, (size_t) comma);
                } else
                        pres = cp_sub(marker, marker.n ? 1 : 0, marker.n);
                if (pres.n == 1)
                        d->pres1 = pres;
                else if (pres.n > 1) {
                        uint32_t last = pres.c[pres.n - 1];
                        if (last == 'a' || last == 't' || last == 'c' || last == 'o') {
                                d->pres2 = (char) last;
                                d->pres1 = cp_sub(pres, 0, pres.n - 1);
                        } else
                                d->pres1 = pres;
                } else {
                        const char *def = default_pres(d->component);
                        if (!def) {
                                char c[2] = {d->component, 0};
                                jn_throw(ev, "D3132", NULL, NULL,
                                         "Unknown component specifier %s in date/time picture string", c);
                        }
                        d->pres1 = cp_from(ev, def, strlen(def));
                }
                if (!strchr("YMDdFWwXxHhPmsfZzCE", d->component) || d->component == 0) {
                        char c[2] = {d->component, 0};
                        jn_throw(ev, "D3132", NULL, NULL,
                                 "Unknown component specifier %s in date/time picture string", c);
                }
                if (d->pres1.n && d->pres1.c[0] == 'n')
                        d->names = NAMES_LOWER;
                else if (d->pres1.n && d->pres1.c[0] == 'N')
                        d->names = d->pres1.n > 1 && d->pres1.c[1] == 'n' ? NAMES_TITLE : NAMES_UPPER;
                else if (strchr("YMDdFWwXxHhmsf", d->component)) {
                        Cp ip = {};
                        cp_append(ev, &ip, d->pres1);
                        if (d->pres2) {
                                cp_push(ev, &ip, ';');
                                cp_push(ev, &ip, (uint32_t) d->pres2);
                        }
                        d->ifmt = jn_analyse_integer_picture(ev, ip);
                        if (d->wmin >= 0 && d->ifmt->mandatory < (size_t) d->wmin)
                                d->ifmt->mandatory = (size_t) d->wmin;
                        if (strchr("YMD", d->component)) {
                                d->yn = -1;
                                if (d->wmax >= 0) {
                                        d->yn = d->wmax;
                                        d->ifmt->mandatory = (size_t) d->yn;
                                } else {
                                        size_t w = d->ifmt->mandatory + d->ifmt->optional;
                                        if (w >= 2)
                                                d->yn = (long) w;
                                }
                        }
                }
                if (d->component == 'Z' || d->component == 'z')
                        d->ifmt = jn_analyse_integer_picture(ev, d->pres1);
                start = pos + 1;
                pos++;
        }
        add_literal(ev, p, pic, start, pos);
        return p;
}

static void put_cased(JnBuf *b, const char *s, int names, long wmax) {
        size_t len = strlen(s);
        if (wmax >= 0 && len > (size_t) wmax)
                len = (size_t) wmax;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                if (names == NAMES_UPPER && c >= 'a' && c <= 'z')
                        c = (char) (c - 32);
                else if (names == NAMES_LOWER && c >= 'A' && c <= 'Z')
                        c = (char) (c + 32);
                jn_buf_putc(b, c);
        }
}

static JnValue *format_datetime(JnEval *ev, double millis, JnValue *picture, JnValue *tz) {
        int oh = 0, om = 0;
        static const char iso[] = "[Y0001]-[M01]-[D01]T[H01]:[m01]:[s01].[f001][Z01:01t]";
        if (tz) {
                long off = strtol(jn_strndup(ev, tz->str.s, tz->str.len), NULL, 10);
                if (off > 99999 || off < -99999)
                        jn_throw(ev, "D3001", "fromMillis", NULL, "The time zone %.*s is out of range",
                                 (int) tz->str.len, tz->str.s);
                oh = (int) floor((double) off / 100);
                om = (int) (off % 100);
        }
        /* JavaScript's Date holds +-8.64e15 ms; past that (or NaN) it is invalid */
        if (!isfinite(millis) || fabs(millis) > 8.64e15)
                jn_throw(ev, "D3001", "fromMillis", NULL, "The time %g is out of the range of dates", millis);
        Cp pc = picture ? cp_from(ev, picture->str.s, picture->str.len) : cp_from(ev, iso, strlen(iso));
        Picture *pic = analyse_picture(ev, pc);
        Tm t = split_time(millis + (60.0 * oh + om) * 60000.0);
        JnBuf b = {.ev = ev};
        for (size_t i = 0; i < pic->n; i++) {
                Part *p = &pic->parts[i];
                if (p->literal) {
                        JnValue *v = cp_value(ev, p->text);
                        jn_buf_put(&b, v->str.s, v->str.len);
                        continue;
                }
                const char *name;
                double value = fragment(&t, p->component, &name);
                JnValue *out = NULL;
                if (strchr("YMDdFWwXxHhms", p->component)) {
                        if (p->component == 'Y' && p->yn != -1 && p->yn > 0)
                                value = fmod(value, pow(10, (double) p->yn));
                        if (p->names) {
                                if (p->component == 'M' || p->component == 'x')
                                        put_cased(&b, month_names[(int) value - 1], p->names, p->wmax);
                                else if (p->component == 'F')
                                        put_cased(&b, day_names[(int) value], p->names, p->wmax);
                                else {
                                        char c[2] = {p->component, 0};
                                        jn_throw(ev, "D3133", NULL, NULL,
                                                 "The 'name' modifier can only be applied to months and "
                                                 "days in "
                                                 "the date/time picture string, not %s",
                                                 c);
                                }
                                continue;
                        }
                        out = jn_format_integer(ev, value, p->ifmt);
                } else if (p->component == 'f') {
                        if (!p->ifmt) /* a name modifier on the fraction */
                                jn_throw(ev, "D3133", NULL, NULL,
                                         "The 'name' modifier can only be applied to months and days in the "
                                         "date/time picture string, not f");
                        out = jn_format_integer(ev, value, p->ifmt);
                } else if (p->component == 'Z' || p->component == 'z') {
                        int offset = oh * 100 + om;
                        JnBuf zb = {.ev = ev};
                        if (p->ifmt->regular) {
                                JnValue *v = jn_format_integer(ev, offset, p->ifmt);
                                jn_buf_put(&zb, v->str.s, v->str.len);
                        } else {
                                size_t nd = p->ifmt->mandatory;
                                if (nd == 1 || nd == 2) {
                                        JnValue *v = jn_format_integer(ev, oh, p->ifmt);
                                        jn_buf_put(&zb, v->str.s, v->str.len);
                                        if (om != 0)
                                                jn_buf_printf(&zb, ":%02d", abs(om));
                                } else if (nd == 3 || nd == 4) {
                                        JnValue *v = jn_format_integer(ev, offset, p->ifmt);
                                        jn_buf_put(&zb, v->str.s, v->str.len);
                                } else
                                        jn_throw(ev, "D3134", NULL, NULL,
                                                 "The timezone integer format specifier cannot have more "
                                                 "than "
                                                 "four digits");
                        }
                        if (p->component == 'z')
                                jn_buf_puts(&b, "GMT");
                        if (offset == 0 && p->pres2 == 't') {
                                jn_buf_putc(&b, 'Z');
                                continue;
                        }
                        if (offset >= 0)
                                jn_buf_putc(&b, '+');
                        jn_buf_put(&b, zb.s ? zb.s : "", zb.len);
                        continue;
                } else if (name) {
                        put_cased(&b, name, p->component == 'P' && p->names == NAMES_UPPER ? NAMES_UPPER : 0,
                                  -1);
                        continue;
                }
                if (out)
                        jn_buf_put(&b, out->str.s, out->str.len);
        }
        return jn_buf_value(&b);
}

FN(jn_fn_from_millis) {
        JnValue *m = ARG(0);
        if (!m)
                return NULL;
        return format_datetime(ev, m->num, ARG(1), ARG(2));
}

FN(jn_fn_now) {
        return format_datetime(ev, (double) ev->env.now_ms, ARG(0), ARG(1));
}

/* ------------------------------------------------------------------------ */
/* Parsing */

static bool digits(const char *s, size_t len, size_t *i, int n, int *ret) {
        int v = 0;
        for (int k = 0; k < n; k++) {
                if (*i >= len || s[*i] < '0' || s[*i] > '9')
                        return false;
                v = v * 10 + (s[(*i)++] - '0');
        }
        *ret = v;
        return true;
}

/* ^\d{4}(-[01]\d)*(-[0-3]\d)*(T[0-2]\d:[0-5]\d:[0-5]\d)*(\.\d+)?([+-][0-2]\d:?[0-5]\d|Z)?$ then
 * Date.parse (a date-time without an offset taken as UTC). */
static bool parse_iso(const char *s, size_t len, double *ret) {
        size_t i = 0;
        int y, mo = 1, d = 1, H = 0, M = 0, S = 0, off = 0;
        double frac = 0;
        if (!digits(s, len, &i, 4, &y))
                return false;
        if (i < len && s[i] == '-') {
                i++;
                if (!digits(s, len, &i, 2, &mo) || mo > 19)
                        return false;
                if (i < len && s[i] == '-') {
                        i++;
                        if (!digits(s, len, &i, 2, &d) || d > 39)
                                return false;
                }
        }
        if (i < len && s[i] == 'T') {
                i++;
                if (!digits(s, len, &i, 2, &H) || i >= len || s[i++] != ':' || !digits(s, len, &i, 2, &M) ||
                    i >= len || s[i++] != ':' || !digits(s, len, &i, 2, &S))
                        return false;
        }
        if (i < len && s[i] == '.') {
                double scale = 0.1;
                size_t st = ++i;
                while (i < len && s[i] >= '0' && s[i] <= '9') {
                        frac += (s[i] - '0') * scale;
                        scale /= 10;
                        i++;
                }
                if (i == st)
                        return false;
        }
        if (i < len && s[i] == 'Z')
                i++;
        else if (i < len && (s[i] == '+' || s[i] == '-')) {
                int sign = s[i++] == '-' ? -1 : 1, oh, om;
                if (!digits(s, len, &i, 2, &oh))
                        return false;
                if (i < len && s[i] == ':')
                        i++;
                if (!digits(s, len, &i, 2, &om))
                        return false;
                off = sign * (oh * 60 + om);
        }
        if (i != len)
                return false;
        if (mo < 1 || mo > 12 || d < 1 || d > 31 || H > 24 || M > 59 || S > 59)
                return false;
        *ret = date_utc(y, mo - 1, d, H, M, S, floor(frac * 1000 + 1e-9)) - off * 60000.0;
        return true;
}

static void regex_escape(JnBuf *b, JnValue *lit) {
        for (size_t i = 0; i < lit->str.len; i++) {
                char c = lit->str.s[i];
                if (strchr(".*+?^${}()|[]\\", c))
                        jn_buf_putc(b, '\\');
                jn_buf_putc(b, c);
        }
}

static void int_regex(JnBuf *b, const IntFormat *f) {
        switch (f->primary) {
        case 0: /* decimal */
                if (f->nseps == 0 && f->mandatory > 1)
                        jn_buf_printf(b, "[0-9]{%zu,}", f->mandatory);
                else
                        jn_buf_puts(b, "[0-9]+");
                if (f->ordinal)
                        jn_buf_puts(b, "(?:th|st|nd|rd)");
                break;
        case 1: /* letters */
                jn_buf_puts(b, "[a-zA-Z]+");
                break;
        case 2: /* roman */
                jn_buf_puts(b, "[MDCLXVImdclxvi]+");
                break;
        case 3: /* words */
                jn_words_regex(b);
                break;
        default:
                jn_buf_puts(b, "[^\\s]+");
        }
}

static double lookup_name(Part *p, const char *s, size_t len, bool *ok) {
        *ok = true;
        if (p->component == 'M' || p->component == 'x' || p->component == 'F') {
                bool months = p->component != 'F';
                for (int i = months ? 0 : 1; i < (months ? 12 : 8); i++) {
                        const char *nm = months ? month_names[i] : day_names[i];
                        size_t l = strlen(nm);
                        if (p->wmax >= 0 && l > (size_t) p->wmax)
                                l = (size_t) p->wmax;
                        if (l == len && strncasecmp(nm, s, len) == 0)
                                return months ? i + 1 : i;
                }
        } else if (p->component == 'P') {
                if (len == 2 && strncasecmp(s, "am", 2) == 0)
                        return 0;
                if (len == 2 && strncasecmp(s, "pm", 2) == 0)
                        return 1;
        }
        *ok = false;
        return 0;
}

static JnValue *parse_datetime(JnEval *ev, JnValue *ts, JnValue *picture) {
        Picture *pic = analyse_picture(ev, cp_from(ev, picture->str.s, picture->str.len));
        JnBuf re = {.ev = ev};
        jn_buf_putc(&re, '^');
        for (size_t i = 0; i < pic->n; i++) {
                Part *p = &pic->parts[i];
                jn_buf_putc(&re, '(');
                if (p->literal)
                        regex_escape(&re, cp_value(ev, p->text));
                else if (p->component == 'Z' || p->component == 'z') {
                        if (p->component == 'z')
                                jn_buf_puts(&re, "GMT");
                        jn_buf_puts(&re, "[-+][0-9]+");
                        if (p->ifmt->regular)
                                jn_buf_printf(&re, "%c[0-9]+", (char) p->ifmt->regular_char);
                } else if (p->ifmt)
                        int_regex(&re, p->ifmt);
                else {
                        if (!strchr("MxFP", p->component)) {
                                char c[2] = {p->component, 0};
                                jn_throw(ev, "D3133", NULL, NULL,
                                         "The 'name' modifier can only be applied to months and days in the "
                                         "date/time picture string, not %s",
                                         c);
                        }
                        jn_buf_puts(&re, "[a-zA-Z]+");
                }
                jn_buf_putc(&re, ')');
        }
        jn_buf_putc(&re, '$');
        int errcode;
        PCRE2_SIZE erroff;
        pcre2_compile_context *cc = pcre2_compile_context_create(ev->pcre_gctx);
        pcre2_code *code =
                pcre2_compile((PCRE2_SPTR) re.s, re.len, PCRE2_CASELESS | PCRE2_UTF, &errcode, &erroff, cc);
        if (!code)
                return NULL;
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, ev->pcre_gctx);
        int rc = md ? pcre2_match(code, (PCRE2_SPTR) ts->str.s, ts->str.len, 0, 0, md, NULL) : -1;
        pcre2_code_free(code);
        if (rc < 0)
                return NULL;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        /* components: index by letter */
        double comp[128];
        bool have[128] = {};
        for (size_t i = 0; i < pic->n; i++) {
                Part *p = &pic->parts[i];
                if (p->literal)
                        continue;
                const char *s = ts->str.s + ov[2 * (i + 1)];
                size_t len = ov[2 * (i + 1) + 1] - ov[2 * (i + 1)];
                double v;
                if (p->component == 'Z' || p->component == 'z') {
                        char *z = jn_strndup(ev, s, len);
                        if (p->component == 'z')
                                z += 3;
                        int oh = 0, om = 0;
                        if (p->ifmt->regular) {
                                char *sep = strchr(z + 1, (char) p->ifmt->regular_char);
                                oh = atoi(z);
                                om = sep ? atoi(sep + 1) : 0;
                        } else if (strlen(z) - 1 <= 2)
                                oh = atoi(z);
                        else {
                                char h[4] = {z[0], z[1], z[2], 0};
                                oh = atoi(h);
                                om = atoi(z + 3);
                        }
                        v = oh * 60 + (oh < 0 ? -om : om);
                } else if (p->component == 'f' && p->ifmt && p->ifmt->primary == 0) {
                        /* a fraction of a second */
                        char *fr = jn_printf(ev, "0.%.*s", (int) len, s);
                        v = floor(strtod(fr, NULL) * 1000 + 1e-9);
                } else if (p->ifmt) {
                        JnValue *sv = jn_string(ev, s, len);
                        JnValue *r = jn_parse_integer(ev, sv, p->ifmt);
                        if (!r)
                                return NULL;
                        v = r->num;
                } else {
                        bool ok;
                        v = lookup_name(p, s, len, &ok);
                        if (!ok)
                                return NULL;
                }
                comp[(int) p->component] = v;
                have[(int) p->component] = true;
        }
        bool any = false;
        for (int i = 0; i < 128; i++)
                any = any || have[i];
        if (!any)
                return NULL;
        int mask = 0;
        for (const char *c = "YXMxWwdD"; *c; c++)
                mask = (mask << 1) | have[(int) *c];
#define IS_TYPE(t) (!(~(t) &mask) && ((t) &mask))
        bool dateA = IS_TYPE(161), dateB = !dateA && IS_TYPE(130), dateC = IS_TYPE(84),
             dateD = !dateC && IS_TYPE(72);
        mask = 0;
        for (const char *c = "PHhmsf"; *c; c++)
                mask = (mask << 1) | have[(int) *c];
        bool timeA = IS_TYPE(23), timeB = !timeA && IS_TYPE(47);
#undef IS_TYPE
        const char *dc = dateB ? "Yd" : dateC ? "XxwF" : dateD ? "XWF" : "YMD";
        const char *tc = timeB ? "Phmsf" : "Hmsf";
        char comps[16];
        snprintf(comps, sizeof(comps), "%s%s", dc, tc);
        Tm now = split_time((double) ev->env.now_ms);
        bool start_spec = false, end_spec = false;
        for (const char *c = comps; *c; c++) {
                if (!have[(int) *c]) {
                        if (start_spec) {
                                comp[(int) *c] = strchr("MDd", *c) ? 1 : 0;
                                end_spec = true;
                        } else {
                                const char *nm;
                                comp[(int) *c] = fragment(&now, *c, &nm);
                                if (*c == 'P')
                                        comp[(int) *c] = now.hour >= 12;
                        }
                        have[(int) *c] = true;
                } else {
                        start_spec = true;
                        if (end_spec)
                                jn_throw(ev, "D3136", NULL, NULL,
                                         "The date/time picture string is missing specifiers required to "
                                         "parse "
                                         "the timestamp");
                }
        }
        double M0 = comp['M'] > 0 ? comp['M'] - 1 : 0, D = comp['D'];
        if (dateB) {
                Tm d = split_time(date_utc(comp['Y'], 0, 1, 0, 0, 0, 0) + (comp['d'] - 1) * DAY_MS);
                M0 = d.month;
                D = d.day;
        }
        if (dateC || dateD)
                jn_throw(ev, "D3136", NULL, NULL,
                         "The date/time picture string is missing specifiers required to parse the "
                         "timestamp");
        double H = comp['H'];
        if (timeB) {
                H = comp['h'] == 12 ? 0 : comp['h'];
                if (comp['P'] == 1)
                        H += 12;
        }
        double millis = date_utc(comp['Y'], M0, D, H, comp['m'], comp['s'], comp['f']);
        double z = have['Z'] ? comp['Z'] : have['z'] ? comp['z'] : 0;
        millis -= z * 60000.0;
        return jn_number(ev, millis);
}

FN(jn_fn_to_millis) {
        JnValue *ts = ARG(0), *pic = ARG(1);
        double ms;
        if (!ts)
                return NULL;
        if (!pic) {
                if (!parse_iso(ts->str.s, ts->str.len, &ms))
                        jn_throw_code(ev, "D3110", "toMillis", ts);
                return jn_number(ev, ms);
        }
        return parse_datetime(ev, ts, pic);
}
