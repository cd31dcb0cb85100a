/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Message digests: MD5, SHA-1, SHA-256, SHA-384, SHA-512, one-shot over a
 * buffer. The one copy: States.Hash (as lower-case hex) and the SHA-1 names
 * of Redis scripts (EVALSHA) and of derived execution names use it.
 *
 * Written here rather than taken from OpenSSL or libgcrypt: lib/ links
 * jansson and libm only, and the engine, proto and every daemon link lib/.
 * Not for secrets or passwords (no constant time, no HMAC).
 */

#include <stddef.h>
#include <stdint.h>

typedef enum HashAlgorithm {
        HASH_MD5,
        HASH_SHA1,
        HASH_SHA256,
        HASH_SHA384,
        HASH_SHA512,
} HashAlgorithm;

/* Longest digest (SHA-512) in bytes, and as hex plus the terminating NUL. */
#define HASH_DIGEST_MAX 64
#define HASH_HEX_MAX (HASH_DIGEST_MAX * 2 + 1)

/* "MD5", "SHA-1", "SHA-256", "SHA-384", "SHA-512" (exact, as AWS names them)
 * -> 0, else -EINVAL. */
int hash_from_name(const char *name, HashAlgorithm *ret);

/* Digest of data[0..n) into ret (>= HASH_DIGEST_MAX bytes); returns its
 * length in bytes (16, 20, 32, 48 or 64). */
size_t hash_digest(HashAlgorithm alg, const void *data, size_t n, uint8_t *ret);

/* The same as lower-case hex into ret_hex (>= HASH_HEX_MAX bytes). */
void hash_hex(HashAlgorithm alg, const void *data, size_t n, char *ret_hex);
