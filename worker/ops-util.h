/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Small helpers shared by the worker's image and storage code: cleanup
 * attributes (systemd style) for malloc'd memory, json_t, GObject/VipsImage
 * and file descriptors. worker/ must not depend on coordinator/asl, so these
 * are its own copies.
 */

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void ops_freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(ops_freep)

static inline void ops_json_decrefp(json_t **p) {
        json_decref(*p);
}
#define _cleanup_json_ _cleanup_(ops_json_decrefp)

static inline void ops_closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                (void) close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(ops_closep)

#define OPS_TAKE_PTR(p)                         \
        ({                                      \
                __typeof__(p) p_ = (p);         \
                (p) = NULL;                     \
                p_;                             \
        })

#define OPS_TAKE_FD(fd)                         \
        ({                                      \
                int fd_ = (fd);                 \
                (fd) = -1;                      \
                fd_;                            \
        })

#define OPS_ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

static inline bool ops_streq(const char *a, const char *b) {
        return a && b && strcmp(a, b) == 0;
}
