/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The one copy of imgflow's small macros and cleanup helpers (systemd's
 * macro.h, in miniature): _cleanup_ and its helpers, TAKE_PTR/TAKE_FD,
 * ELEMENTSOF, streq, strv helpers. Every folder includes this header; none
 * defines its own.
 *
 * Cleanup helpers of other libraries live next to their boundary module, so
 * this header pulls in none but jansson: rd_kafka_*p in daemon/kafka.h,
 * redisFreep/freeReplyObjectp in daemon/redis.h, image_vips_unrefp in
 * worker/image-vips.h; sd-event brings its own (sd_event_unrefp, ...).
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _likely_(x) (__builtin_expect(!!(x), 1))
#define _unlikely_(x) (__builtin_expect(!!(x), 0))

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

/* jansson >= 2.9 provides json_decrefp() (and json_auto_t). */
#define _cleanup_json_ _cleanup_(json_decrefp)

/* Take a pointer out of a cleanup variable: ownership moves to the caller. */
#define TAKE_PTR(p)                           \
        ({                                    \
                __typeof__(p) _p_ = (p);      \
                (p) = NULL;                   \
                _p_;                          \
        })

/* Same for a file descriptor (-1 is "none"). */
#define TAKE_FD(fd)                           \
        ({                                    \
                int _fd_ = (fd);              \
                (fd) = -1;                    \
                _fd_;                         \
        })

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/* streq: both strings must be set. streq_ptr: either may be NULL (two NULLs
 * are equal, NULL and a string are not). */
#define streq(a, b) (strcmp((a), (b)) == 0)
static inline bool streq_ptr(const char *a, const char *b) {
        return a && b ? strcmp(a, b) == 0 : a == b;
}
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

/* Closes a descriptor >= 0; errno is kept. */
static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                (void) close(*fd);
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
