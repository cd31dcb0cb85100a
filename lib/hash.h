/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Message digests: MD5, SHA-1, SHA-256, SHA-384, SHA-512, one-shot over a
 * buffer, and HMAC over any of them. The one copy: States.Hash (as
 * lower-case hex), the SHA-1 names of Redis scripts (EVALSHA) and of derived
 * execution names, and imgflow-api's AWS Signature Version 4 (SHA-256 of the
 * canonical request, the HMAC-SHA256 chain of the signing key) use it.
 *
 * Written here rather than taken from OpenSSL, libgcrypt or nettle: lib/
 * links jansson and libm only, and the engine, proto and every daemon link
 * lib/; SigV4 needs nothing more than SHA-256 and HMAC (RFC 2104, a few
 * lines over the digest), and its fuzz target compiles this file in. The
 * digests have no branch or table index that depends on the data, and
 * hash_equal() compares in constant time; not for passwords (no KDF).
 */

#include <stdbool.h>
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

/* HMAC (RFC 2104) of data[0..n) with key[0..key_len) into ret (>=
 * HASH_DIGEST_MAX bytes); returns the digest's length in bytes. */
size_t hash_hmac(HashAlgorithm alg, const void *key, size_t key_len, const void *data, size_t n,
                 uint8_t *ret);

/* a[0..n) == b[0..n), in a time that depends on n only (for MACs). */
bool hash_equal(const void *a, const void *b, size_t n);
