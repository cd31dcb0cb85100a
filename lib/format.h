/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Bytes and numbers as text: lower-case hex, RFC 4122 UUIDs, and counts with
 * thousands separators. The one copy of each: task tokens, request ids,
 * States.UUID, derived execution names, Redis script names and STATUS= lines
 * all format here.
 *
 * Only formatting: the bytes come from the caller (getrandom() in
 * daemon/random.h, sd_id128_randomize(), AslEnv.random, a hash).
 */

#include <stddef.h>
#include <stdint.h>

/* The text of a UUID and its NUL. */
#define FORMAT_UUID_MAX 37
/* The longest format_count() text (UINT64_MAX with separators) and its NUL. */
#define FORMAT_COUNT_MAX 32

/* 2 * n lower-case hex digits of p[0..n) and a NUL into ret (>= 2 * n + 1
 * bytes). Returns ret. */
char *format_hex(const void *p, size_t n, char *ret);

/* Marks 16 bytes as a UUID of `version` (4: random, 5: from a SHA-1 of a
 * name; the high nibble of byte 6) with the RFC 4122 variant (the top two
 * bits of byte 8 are 10). */
void uuid_set_version(uint8_t b[16], unsigned version);

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", lower case, of b as it is, into
 * ret. Returns ret. */
char *format_uuid(const uint8_t b[16], char ret[static FORMAT_UUID_MAX]);

/* 1204 -> "1,204" (STATUS= is read by people). Returns ret. */
const char *format_count(uint64_t n, char ret[static FORMAT_COUNT_MAX]);

/* Base64 (RFC 4648, with padding) of p[0..n) and a NUL into ret (>= 4 *
 * ((n + 2) / 3) + 1 bytes): Content-MD5 and x-amz-checksum-* headers.
 * Returns the length written. */
size_t format_base64(const void *p, size_t n, char *ret);
