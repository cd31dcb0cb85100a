/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * SHA-1 (FIPS 180-4), only to name Lua scripts the way Redis does
 * (EVALSHA). Not for anything security-related.
 */

#include <stddef.h>
#include <stdint.h>

typedef struct Sha1 {
        uint32_t h[5];
        uint64_t len; /* bytes hashed so far */
        uint8_t buf[64];
        size_t buf_len;
} Sha1;

void sha1_init(Sha1 *s);
void sha1_update(Sha1 *s, const void *data, size_t len);
void sha1_final(Sha1 *s, uint8_t ret[20]);
/* One shot; writes 40 lower-case hex digits and a NUL into ret. */
void sha1_hex(const void *data, size_t len, char ret[41]);
