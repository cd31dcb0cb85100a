/* SPDX-License-Identifier: MIT */
/* Allocators that abort on out-of-memory; see alloc-util.h for where. */

#include <stdio.h>
#include <string.h>

#include "alloc-util.h"

void *xmalloc(size_t n) {
        void *p = malloc(n ? n : 1);
        if (!p)
                abort();
        return p;
}

void *xrealloc(void *p, size_t n) {
        p = realloc(p, n ? n : 1);
        if (!p)
                abort();
        return p;
}

char *xstrdup(const char *s) {
        char *p = strdup(s ? s : "");
        if (!p)
                abort();
        return p;
}

char *xstrndup(const char *s, size_t n) {
        char *p = strndup(s ? s : "", n);
        if (!p)
                abort();
        return p;
}

char *xvasprintf(const char *fmt, va_list ap) {
        char *s;

        if (vasprintf(&s, fmt, ap) < 0)
                abort();
        return s;
}

char *xasprintf(const char *fmt, ...) {
        va_list ap;
        char *s;

        va_start(ap, fmt);
        s = xvasprintf(fmt, ap);
        va_end(ap);
        return s;
}
