/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of the ASL engine: error values, diagnostics, JSON
 * pointers, timestamps. Nothing here reads the clock or does I/O; out of
 * memory aborts (lib/alloc-util.h).
 */

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "asl-jsonpath.h"
#include "asl-util.h"

int asl_parse_fail(char **error, size_t pos, const char *fmt, ...) {
        _cleanup_free_ char *m = NULL;
        va_list ap;

        if (*error)
                return -EINVAL;
        va_start(ap, fmt);
        m = xvasprintf(fmt, ap);
        va_end(ap);
        *error = xasprintf("%s (at position %zu)", m, pos);
        return -EINVAL;
}

size_t asl_skip_ws(const char *s, size_t pos) {
        while (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\n' || s[pos] == '\r')
                pos++;
        return pos;
}

int asl_error_setv(AslError *e, const char *error, const char *fmt, va_list ap) {
        char *cause = NULL;

        if (!e)
                return -EINVAL;
        if (fmt)
                cause = xvasprintf(fmt, ap);
        asl_error_clear(e);
        e->error = xstrdup(error);
        e->cause = cause;
        return -EINVAL;
}

int asl_error_set(AslError *e, const char *error, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = asl_error_setv(e, error, fmt, ap);
        va_end(ap);
        return r;
}

void asl_error_clear(AslError *e) {
        if (!e)
                return;
        free(e->error);
        free(e->cause);
        e->error = e->cause = NULL;
}

static void diag_push(AslDiagEntry **entries, size_t *n, size_t *allocated, const char *pointer, char *msg) {
        if (*n >= *allocated) {
                *allocated = *allocated ? *allocated * 2 : 8;
                *entries = xrealloc(*entries, *allocated * sizeof(AslDiagEntry));
        }
        (*entries)[(*n)++] = (AslDiagEntry){
                .pointer = xstrdup(pointer),
                .message = msg,
        };
}

static void diag_vadd(AslDiag *d, const char *code, const char *pointer, const char *fmt, va_list ap) {
        if (!d)
                return;
        diag_push(&d->entries, &d->n, &d->allocated, pointer, xvasprintf(fmt, ap));
        d->entries[d->n - 1].code = code;
}

void asl_diag_add(AslDiag *d, const char *pointer, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        diag_vadd(d, NULL, pointer, fmt, ap);
        va_end(ap);
}

void asl_diag_add_code(AslDiag *d, const char *code, const char *pointer, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        diag_vadd(d, code, pointer, fmt, ap);
        va_end(ap);
}

const char *asl_diag_code(const AslDiagEntry *e) {
        return e && e->code ? e->code : ASL_DIAG_SCHEMA;
}

void asl_diag_warn(AslDiag *d, const char *pointer, const char *fmt, ...) {
        va_list ap;
        char *msg;

        if (!d)
                return;
        va_start(ap, fmt);
        msg = xvasprintf(fmt, ap);
        va_end(ap);
        diag_push(&d->warnings, &d->n_warnings, &d->allocated_warnings, pointer, msg);
}

void asl_diag_clear(AslDiag *d) {
        if (!d)
                return;
        for (size_t i = 0; i < d->n; i++) {
                free(d->entries[i].pointer);
                free(d->entries[i].message);
        }
        free(d->entries);
        for (size_t i = 0; i < d->n_warnings; i++) {
                free(d->warnings[i].pointer);
                free(d->warnings[i].message);
        }
        free(d->warnings);
        *d = (AslDiag) {};
}

AslPathRoot asl_path_root(const char *path, char **ret_name, char **ret_rel) {
        size_t n;

        if (ret_name)
                *ret_name = NULL;
        if (path[0] == '$' && path[1] == '$') {
                if (ret_rel)
                        *ret_rel = xstrdup(path + 1);
                return ASL_PATH_CONTEXT;
        }
        if (path[0] != '$' || path[1] == 0 || path[1] == '.' || path[1] == '[') {
                if (ret_rel)
                        *ret_rel = xstrdup(path);
                return ASL_PATH_INPUT;
        }
        n = strcspn(path + 1, ".[");
        if (ret_name)
                *ret_name = xstrndup(path + 1, n);
        if (ret_rel)
                *ret_rel = xasprintf("$%s", path + 1 + n);
        return ASL_PATH_VARIABLE;
}

int asl_path_eval(const char *path, json_t *input, const AslRefs *refs, json_t **ret, char **ret_why) {
        _cleanup_free_ char *name = NULL, *rel = NULL;
        json_t *root;

        switch (asl_path_root(path, &name, &rel)) {
        case ASL_PATH_CONTEXT:
                root = refs ? refs->context : NULL;
                if (!root) {
                        if (ret_why)
                                *ret_why = xstrdup("there is no context object");
                        return -ENOENT;
                }
                break;
        case ASL_PATH_VARIABLE:
                root = refs ? json_object_get(refs->vars, name) : NULL;
                if (!root) {
                        if (ret_why)
                                *ret_why = xasprintf("Variable '%s' is not defined", name);
                        return -ENOENT;
                }
                break;
        default:
                root = input;
                break;
        }
        return jsonpath_eval_why(root, rel, ret, ret_why);
}

char *asl_pointer_join(const char *base, const char *token) {
        size_t bl = strlen(base ? base : ""), tl = strlen(token), k = 0;
        char *s = xmalloc(bl + 1 + 2 * tl + 1);

        memcpy(s, base ? base : "", bl);
        k = bl;
        s[k++] = '/';
        for (const char *p = token; *p; p++) {
                if (*p == '~') {
                        s[k++] = '~';
                        s[k++] = '0';
                } else if (*p == '/') {
                        s[k++] = '~';
                        s[k++] = '1';
                } else
                        s[k++] = *p;
        }
        s[k] = 0;
        return s;
}

char *asl_pointer_join_index(const char *base, size_t index) {
        return xasprintf("%s/%zu", base ? base : "", index);
}

uint64_t asl_env_random_u64(const AslEnv *env) {
        uint64_t v = 0;

        if (env && env->random)
                env->random(env->random_userdata, &v, sizeof(v));
        return v;
}

double asl_env_random_double(const AslEnv *env) {
        return (double) (asl_env_random_u64(env) >> 11) * (1.0 / 9007199254740992.0);
}

static void put_digits(char *p, unsigned v, int n) {
        for (int i = n - 1; i >= 0; i--, v /= 10)
                p[i] = (char) ('0' + v % 10);
}

/* Howard Hinnant's civil_from_days: days since 1970-01-01 -> y, m, d. */
static void civil_from_days(int64_t z, int64_t *ret_y, unsigned *ret_m, unsigned *ret_d) {
        z += 719468;
        int64_t era = (z >= 0 ? z : z - 146096) / 146097;
        unsigned doe = (unsigned) (z - era * 146097);
        unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        unsigned mp = (5 * doy + 2) / 153;
        unsigned d = doy - (153 * mp + 2) / 5 + 1;
        unsigned m = mp < 10 ? mp + 3 : mp - 9;

        *ret_y = (int64_t) yoe + era * 400 + (m <= 2);
        *ret_m = m;
        *ret_d = d;
}

/* Called for every history event: digits by hand, no gmtime_r/snprintf. */
void asl_format_timestamp(int64_t ms, char *buf, size_t size) {
        int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
        int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
        unsigned frac = (unsigned) (ms - secs * 1000), sod = (unsigned) (secs - days * 86400), m, d;
        int64_t y;
        char *p = buf;

        civil_from_days(days, &y, &m, &d);
        if (y < 0 || y > 9999 || size < 25) {
                snprintf(buf, size, "%04" PRIi64 "-%02u-%02uT%02u:%02u:%02u.%03uZ", y, m, d, sod / 3600,
                         sod / 60 % 60, sod % 60, frac);
                return;
        }
        put_digits(p, (unsigned) y, 4), p[4] = '-';
        put_digits(p + 5, m, 2), p[7] = '-';
        put_digits(p + 8, d, 2), p[10] = 'T';
        put_digits(p + 11, sod / 3600, 2), p[13] = ':';
        put_digits(p + 14, sod / 60 % 60, 2), p[16] = ':';
        put_digits(p + 17, sod % 60, 2), p[19] = '.';
        put_digits(p + 20, frac, 3), p[23] = 'Z';
        p[24] = '\0';
}

static int parse_digits(const char **p, int n, int *ret) {
        int v = 0;

        for (int i = 0; i < n; i++) {
                if (**p < '0' || **p > '9')
                        return -EINVAL;
                v = v * 10 + (**p - '0');
                (*p)++;
        }
        *ret = v;
        return 0;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
        y -= m <= 2;
        const int64_t era = (y >= 0 ? y : y - 399) / 400;
        const unsigned yoe = (unsigned) (y - era * 400);
        const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t) doe - 719468;
}

int asl_parse_timestamp(const char *s, int64_t *ret_ms) {
        const char *p = s;
        int Y, M, D, h, m, sec, ms = 0;
        int64_t off = 0;

        if (!s)
                return -EINVAL;
        if (parse_digits(&p, 4, &Y) < 0 || *p++ != '-' ||
            parse_digits(&p, 2, &M) < 0 || *p++ != '-' ||
            parse_digits(&p, 2, &D) < 0 || (*p != 'T' && *p != 't'))
                return -EINVAL;
        p++;
        if (parse_digits(&p, 2, &h) < 0 || *p++ != ':' ||
            parse_digits(&p, 2, &m) < 0 || *p++ != ':' ||
            parse_digits(&p, 2, &sec) < 0)
                return -EINVAL;
        if (*p == '.') {
                int digits = 0;
                p++;
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                while (*p >= '0' && *p <= '9') {
                        if (digits < 3) {
                                ms = ms * 10 + (*p - '0');
                                digits++;
                        }
                        p++;
                }
                while (digits++ < 3)
                        ms *= 10;
        }
        if (*p == 'Z' || *p == 'z')
                p++;
        else if (*p == '+' || *p == '-') {
                int sign = *p == '-' ? -1 : 1, oh, om;
                p++;
                if (parse_digits(&p, 2, &oh) < 0 || *p++ != ':' || parse_digits(&p, 2, &om) < 0)
                        return -EINVAL;
                if (oh > 23 || om > 59)
                        return -EINVAL;
                off = sign * (oh * 3600 + om * 60);
        } else
                return -EINVAL;
        if (*p)
                return -EINVAL;

        static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || m > 59 || sec > 60)
                return -EINVAL;
        if (M == 2 && D == 29 && !((Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0))
                return -EINVAL;

        int64_t days = days_from_civil(Y, (unsigned) M, (unsigned) D);
        *ret_ms = ((days * 86400 + h * 3600 + m * 60 + sec) - off) * 1000 + ms;
        return 0;
}
