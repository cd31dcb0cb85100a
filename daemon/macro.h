/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Small shared macros and cleanup helpers of the daemon runtime (systemd's
 * macro.h, in miniature): _cleanup_, TAKE_PTR, ELEMENTSOF, streq, and
 * cleanup functions for the libraries the daemons use.
 *
 * coordinator/asl/asl-util.h defines a few of the same macros; every one is
 * guarded here (and identical), so both headers can be included, in either
 * order. `freep` is guarded by IMGFLOW_HAVE_FREEP in both headers.
 *
 * Layering: daemon/ knows nothing of ASL or images; it may use proto/.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef _cleanup_
#define _cleanup_(f) __attribute__((cleanup(f)))
#endif
#ifndef _unused_
#define _unused_ __attribute__((unused))
#endif
#ifndef _printf_
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#endif
#ifndef _likely_
#define _likely_(x) (__builtin_expect(!!(x), 1))
#define _unlikely_(x) (__builtin_expect(!!(x), 0))
#endif

#ifndef IMGFLOW_HAVE_FREEP
#define IMGFLOW_HAVE_FREEP 1
static inline void freep(void *p) {
        free(*(void **) p);
}
#endif
#ifndef _cleanup_free_
#define _cleanup_free_ _cleanup_(freep)
#endif

#ifndef TAKE_PTR
/* Take a pointer out of a cleanup variable: ownership moves to the caller. */
#define TAKE_PTR(p)                           \
        ({                                    \
                __typeof__(p) _p_ = (p);      \
                (p) = NULL;                   \
                _p_;                          \
        })
#endif

/* Same for a file descriptor (-1 is "none"). */
#define TAKE_FD(fd)                           \
        ({                                    \
                int _fd_ = (fd);              \
                (fd) = -1;                    \
                _fd_;                         \
        })

#ifndef ELEMENTSOF
#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#endif
#ifndef streq
#define streq(a, b) (strcmp((a), (b)) == 0)
#endif
#define streq_ptr(a, b) ((a) && (b) ? strcmp((a), (b)) == 0 : (a) == (b))
#define strempty(s) ((s) ? (s) : "")
#define isempty(s) (!(s) || !(s)[0])

#define MIN_(a, b) ((a) < (b) ? (a) : (b))
#define MAX_(a, b) ((a) > (b) ? (a) : (b))

/* Generate `static inline void namep(type **p)` calling func(*p) when set. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)               \
        static inline void func##p(type *p) {                 \
                if (*p)                                       \
                        func(*p);                             \
        }

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

/* Free a NULL-terminated array of strings and the array. */
static inline void strv_free(char **l) {
        if (!l)
                return;
        for (char **i = l; *i; i++)
                free(*i);
        free(l);
}
static inline void strv_freep(char ***l) {
        strv_free(*l);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)

/*
 * Library cleanups live next to their boundary module so this header pulls
 * in no library: rd_kafka_*p in kafka.h, redisFreep/freeReplyObjectp in
 * redis.h (hiredis is linked by the coordinator and the CLI only), and
 * sd-event brings its own (sd_event_unrefp, sd_event_source_unrefp).
 */
