/* SPDX-License-Identifier: MIT */
/* Random bytes from getrandom(2); see random.h. */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/random.h>

#include "random.h"

int random_bytes(void *buf, size_t n) {
        uint8_t *p = buf;

        while (n > 0) {
                ssize_t k = getrandom(p, n, 0);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

void random_fill(void *userdata, void *buf, size_t n) {
        if (random_bytes(buf, n) < 0)
                abort();
}
