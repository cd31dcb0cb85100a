/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Message digests for States.Hash: MD5, SHA-1, SHA-256, SHA-384, SHA-512,
 * one-shot over a buffer, as lowercase hex. Self-contained (no OpenSSL):
 * the engine links jansson and libm only. Not for secrets or passwords.
 */

#include <stddef.h>

typedef enum AslHashAlgorithm {
        ASL_HASH_MD5,
        ASL_HASH_SHA1,
        ASL_HASH_SHA256,
        ASL_HASH_SHA384,
        ASL_HASH_SHA512,
} AslHashAlgorithm;

/* Longest hex digest (SHA-512) plus the terminating NUL. */
#define ASL_HASH_HEX_MAX (64 * 2 + 1)

/* "MD5", "SHA-1", "SHA-256", "SHA-384", "SHA-512" (exact, as AWS) -> 0, else -EINVAL. */
int asl_hash_from_name(const char *name, AslHashAlgorithm *ret);

/* Digest of data[0..n) as lowercase hex into ret_hex (>= ASL_HASH_HEX_MAX bytes). */
void asl_hash_hex(AslHashAlgorithm alg, const void *data, size_t n, char *ret_hex);
