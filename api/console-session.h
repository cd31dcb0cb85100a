/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The console's untrusted input, read without I/O (console.c serves it):
 * the sign-in body, the session cookie (parsed, then its HMAC checked), the
 * X-CSRF-Token header and the thumbnail's bucket and key. Pure functions
 * of their arguments (the secret and the clock come in), so
 * tests/fuzz/fuzz-console.c runs them on any bytes.
 *
 * The session: "<access key id>.<expiry>.<mac>", mac = hex HMAC-SHA256
 * under the process's secret of "<key id>.<expiry>.<hex SHA-256 of the
 * key's secret>"; the CSRF token: hex HMAC-SHA256 of "csrf.<session>".
 *
 *   char *v = console_session_value(secret, key, now + 3600);      (sign-in)
 *   const ApiKey *k = console_session_verify(secret, keys, v, now);  (== key)
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"

#define CONSOLE_SECRET_BYTES 32
#define CONSOLE_COOKIE "imgflow_console"
#define CONSOLE_TOKEN_HEX (2 * 32 + 1) /* a hex HMAC-SHA256 and its NUL */
#define CONSOLE_SESSION_MAX 256        /* key id (<= 128) '.' expiry '.' mac */
#define CONSOLE_LOGIN_ID_MAX 128       /* an access key id, as keys.h allows */
#define CONSOLE_LOGIN_SECRET_MAX 1024  /* a secret access key */
#define CONSOLE_BUCKET_MAX 255

/* The value of the session cookie in a Cookie header (borrowed; NULL:
 * none), as a new string, or NULL when there is none or it is longer than
 * CONSOLE_SESSION_MAX. */
char *console_cookie_session(const char *cookie_header);

/* The session value for key (borrowed) until expiry (Unix seconds). New. */
char *console_session_value(const uint8_t secret[static CONSOLE_SECRET_BYTES], const ApiKey *key,
                            int64_t expiry);

/* The key (borrowed from keys) of a session value that this secret made
 * for it and that has not expired at now (Unix seconds), or NULL. The
 * comparison takes the same time whatever bytes differ. */
const ApiKey *console_session_verify(const uint8_t secret[static CONSOLE_SECRET_BYTES], const KeySet *keys,
                                     const char *session, int64_t now);

/* The CSRF token of a session into ret. */
void console_csrf_token(const uint8_t secret[static CONSOLE_SECRET_BYTES], const char *session,
                        char ret[static CONSOLE_TOKEN_HEX]);

/* Whether given (the X-CSRF-Token header, NULL: missing) is the session's
 * token, compared in constant time. */
bool console_csrf_valid(const uint8_t secret[static CONSOLE_SECRET_BYTES], const char *session,
                        const char *given);

/* Whether a and b are equal, in a time that depends on their lengths only. */
bool console_equal_const(const char *a, const char *b);

/* The sign-in body {"accessKeyId": "...", "secretAccessKey": "..."}:
 * 0 and both strings (new), or -EINVAL and *ret_problem (static words). */
int console_login_parse(const void *body, size_t len, char **ret_id, char **ret_secret,
                        const char **ret_problem);

/* The thumbnail's query: 0 and the object's resource for IAM,
 * "arn:aws:s3:::<bucket>/<key>" (new), or -EINVAL and *ret_problem (static
 * words). A bucket is a storage bucket's name (letters, digits, '.', '_',
 * '-', not "." or ".."), so the resource splits back into the same bucket
 * and key; the key's path rules are storage_check_key()'s, checked where the
 * object is read. */
int console_thumbnail_resource(const char *bucket, const char *key, char **ret_resource,
                               const char **ret_problem);
