/* SPDX-License-Identifier: MIT */
/* Values as imgflow.conf and IMGFLOW_* variables write them; see parse.h. */

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "macro.h"
#include "parse.h"

int parse_bool(const char *s, bool *ret) {
        static const char *const yes[] = { "1", "true", "yes", "on" };
        static const char *const no[] = { "0", "false", "no", "off" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (strcasecmp(s, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                if (strcasecmp(s, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        return -EINVAL;
}

int parse_int(const char *s, int64_t *ret) {
        char *end;
        long long v;

        if (!s || !*s || isspace((unsigned char) *s))
                return -EINVAL;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (*end)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* Reads a non-negative decimal integer at *p; advances *p. */
static int parse_uint(const char **p, uint64_t *ret) {
        uint64_t v = 0;
        const char *s = *p;

        if (!isdigit((unsigned char) *s))
                return -EINVAL;
        for (; isdigit((unsigned char) *s); s++) {
                if (v > (UINT64_MAX - 9) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t) (*s - '0');
        }
        *p = s;
        *ret = v;
        return 0;
}

int parse_duration_ms(const char *s, uint64_t *ret) {
        static const struct {
                const char *suffix;
                uint64_t ms;
        } units[] = {
                /* longest first where one is a prefix of another */
                { "ms", 1 }, { "s", 1000 }, { "min", 60000 }, { "m", 60000 },
                { "h", 3600000 }, { "d", 86400000 }, { "w", 604800000 },
        };
        uint64_t total = 0;
        const char *p = s;
        int r;

        if (!s || !*s)
                return -EINVAL;
        if (strspn(s, "0123456789") == strlen(s)) {
                /* a bare number: seconds */
                uint64_t v;
                r = parse_uint(&p, &v);
                if (r < 0)
                        return r;
                if (v > UINT64_MAX / 1000)
                        return -ERANGE;
                *ret = v * 1000;
                return 0;
        }
        while (*p) {
                uint64_t v, mul = 0;
                size_t ul = 0;

                r = parse_uint(&p, &v);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                        size_t l = strlen(units[i].suffix);
                        if (strncmp(p, units[i].suffix, l) == 0 && !isalpha((unsigned char) p[l])) {
                                mul = units[i].ms;
                                ul = l;
                                break;
                        }
                }
                if (mul == 0)
                        return -EINVAL;
                p += ul;
                if (v != 0 && mul > UINT64_MAX / v)
                        return -ERANGE;
                if (total > UINT64_MAX - v * mul)
                        return -ERANGE;
                total += v * mul;
        }
        *ret = total;
        return 0;
}

int parse_size(const char *s, uint64_t *ret) {
        static const struct {
                const char *suffix;
                uint64_t mul;
        } units[] = {
                { "", 1 },
                { "B", 1 },
                { "K", 1024ULL },
                { "KiB", 1024ULL },
                { "KB", 1000ULL },
                { "M", 1024ULL * 1024 },
                { "MiB", 1024ULL * 1024 },
                { "MB", 1000ULL * 1000 },
                { "G", 1024ULL * 1024 * 1024 },
                { "GiB", 1024ULL * 1024 * 1024 },
                { "GB", 1000ULL * 1000 * 1000 },
                { "T", 1024ULL * 1024 * 1024 * 1024 },
                { "TiB", 1024ULL * 1024 * 1024 * 1024 },
                { "TB", 1000ULL * 1000 * 1000 * 1000 },
        };
        const char *p = s;
        uint64_t v;
        int r;

        if (!s)
                return -EINVAL;
        r = parse_uint(&p, &v);
        if (r < 0)
                return r;
        while (*p == ' ')
                p++;
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (streq(p, units[i].suffix)) {
                        if (v != 0 && units[i].mul > UINT64_MAX / v)
                                return -ERANGE;
                        *ret = v * units[i].mul;
                        return 0;
                }
        return -EINVAL;
}
