/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * AWS Signature Version 4, the verifying side, as imgflow-api checks every
 * request an AWS SDK sends (the Authorization header form; presigned query
 * strings are not offered). Pure: no I/O, no clock (the time comes in as an
 * argument), no secrets kept; lib/hash.c gives SHA-256 and HMAC.
 *
 * Two steps, so that the caller looks the key up in between:
 *
 *   sigv4_parse()   the Authorization header, the request date (X-Amz-Date,
 *                   else Date) and the checks that need no secret: the
 *                   algorithm, the credential scope (date, region, service,
 *                   "aws4_request"), the signed headers (host and
 *                   x-amz-target must be among them; x-amz-date too when it
 *                   is the date), the clock skew (at most 5 minutes either
 *                   way, so a captured request cannot be replayed later),
 *                   no session token (temporary credentials are not
 *                   offered), X-Amz-Content-Sha256 if sent must be the
 *                   body's hash;
 *   sigv4_verify()  the canonical request, the string to sign, the signing
 *                   key (the HMAC-SHA256 chain over date, region, service)
 *                   and the signature, compared in constant time.
 *
 * A refusal is a Sigv4Failure: the AWS error name (a static string) and
 * AWS's message for it:
 *
 *   MissingAuthenticationTokenException  no Authorization header
 *   IncompleteSignatureException         a malformed header (missing parts,
 *                                        not AWS4-HMAC-SHA256, no date)
 *   InvalidSignatureException            wrong scope, expired or not yet
 *                                        current, or a signature mismatch
 *   UnrecognizedClientException          a session token (and, from the
 *                                        caller, an unknown key)
 *
 * The canonical request follows AWS's rules for services other than S3: the
 * path is normalised and URI-encoded twice (the request line's encoding and
 * the signer's), query parameters sorted by encoded name and value, header
 * names lower-cased, values trimmed with runs of white space made one
 * space, repeated headers joined with ','. tests/unit/test-sigv4.c checks
 * it against botocore's signer.
 *
 * Limits (untrusted input, STYLE 12): SIGV4_HEADERS_MAX signed headers,
 * SIGV4_AUTH_MAX bytes of Authorization; everything else is bounded by the
 * HTTP layer's header and body limits.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_SKEW_MAX_SEC (5 * 60)
#define SIGV4_HEADERS_MAX 64
#define SIGV4_AUTH_MAX 4096
#define SIGV4_KEY_ID_MAX 128

/* A header or query parameter of the request (borrowed). Header names in any
 * case; query names and values decoded. */
typedef struct Sigv4Pair {
        const char *name;
        const char *value;
} Sigv4Pair;

typedef struct Sigv4Request {
        const char *method;
        const char *path; /* decoded, as the server saw it: "/" */
        const Sigv4Pair *headers;
        size_t n_headers;
        const Sigv4Pair *query;
        size_t n_query;
        const void *body;
        size_t body_len;
} Sigv4Request;

/* The parsed Authorization header and request date. Strings owned. */
typedef struct Sigv4Auth {
        char *access_key_id;
        char *scope_date; /* YYYYMMDD of the credential scope */
        char *region;
        char *service;
        char *signed_headers; /* "content-type;host;x-amz-date;x-amz-target" */
        uint8_t signature[32];
        char *amz_date;   /* YYYYMMDDTHHMMSSZ (from X-Amz-Date or Date) */
        int64_t time_sec; /* the same, in seconds since the epoch */
} Sigv4Auth;

void sigv4_auth_done(Sigv4Auth *a);

typedef struct Sigv4Failure {
        const char *error;   /* static: "InvalidSignatureException", ... */
        char *message;       /* new; AWS's text */
        char *access_key_id; /* new; the key the request names, when it got that far (for logs) */
} Sigv4Failure;

void sigv4_failure_done(Sigv4Failure *f);

/* 0 and *ret, or -EACCES and *ret_fail. Checks the scope against region and
 * service, and the request time against now_sec. */
int sigv4_parse(const Sigv4Request *r, const char *region, const char *service, int64_t now_sec,
                Sigv4Auth *ret, Sigv4Failure *ret_fail);

/* 0 when the signature is the one secret makes, else -EACCES and *ret_fail
 * (InvalidSignatureException). */
int sigv4_verify(const Sigv4Auth *a, const Sigv4Request *r, const char *secret, Sigv4Failure *ret_fail);

/* The canonical request and the string to sign (new strings), as AWS's
 * documentation names them; for tests and for the signer below. */
char *sigv4_canonical_request(const Sigv4Request *r, const char *signed_headers);
char *sigv4_string_to_sign(const Sigv4Auth *a, const char *canonical_request);

/*
 * The signing side, for imgflow's own clients (the benchmark's load
 * generator, tests): the Authorization value for r, signed with the given
 * key at amz_date (YYYYMMDDTHHMMSSZ) over signed_headers (which must name
 * headers of r). New string.
 */
char *sigv4_sign(const Sigv4Request *r, const char *access_key_id, const char *secret, const char *region,
                 const char *service, const char *amz_date, const char *signed_headers);

/* "20150830T123600Z" <-> seconds since the epoch. -EINVAL when malformed. */
int sigv4_parse_amz_date(const char *s, int64_t *ret);
void sigv4_format_amz_date(int64_t sec, char ret[17]);
