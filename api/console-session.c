/* SPDX-License-Identifier: MIT */
/*
 * The console's sessions, CSRF tokens, sign-in body and thumbnail query,
 * without I/O (console-session.h). console.c calls these with the request's
 * headers and body; tests/fuzz/fuzz-console.c with any bytes.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alloc-util.h"
#include "console-session.h"
#include "format.h"
#include "hash.h"
#include "macro.h"

static void mac_hex(const uint8_t secret[static CONSOLE_SECRET_BYTES], const char *data,
                    char ret[static CONSOLE_TOKEN_HEX]) {
        uint8_t mac[HASH_DIGEST_MAX];
        size_t n = hash_hmac(HASH_SHA256, secret, CONSOLE_SECRET_BYTES, data, strlen(data), mac);
        format_hex(mac, n, ret);
}

bool console_equal_const(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);
        unsigned char d = la != lb;

        for (size_t i = 0; i < la && i < lb; i++)
                d |= (unsigned char) (a[i] ^ b[i]);
        return d == 0;
}

char *console_cookie_session(const char *h) {
        size_t n = strlen(CONSOLE_COOKIE);

        for (const char *p = h; p && *p;) {
                while (*p == ' ' || *p == ';')
                        p++;
                if (strncmp(p, CONSOLE_COOKIE, n) == 0 && p[n] == '=') {
                        const char *v = p + n + 1;
                        size_t len = strcspn(v, "; ");
                        return len <= CONSOLE_SESSION_MAX ? xstrndup(v, len) : NULL;
                }
                p = strchr(p, ';');
        }
        return NULL;
}

char *console_session_value(const uint8_t secret[static CONSOLE_SECRET_BYTES], const ApiKey *key,
                            int64_t expiry) {
        char secret_hash[HASH_HEX_MAX], mac[CONSOLE_TOKEN_HEX];
        _cleanup_free_ char *data = NULL;

        hash_hex(HASH_SHA256, key->secret, strlen(key->secret), secret_hash);
        data = xasprintf("%s.%" PRId64 ".%s", key->access_key_id, expiry, secret_hash);
        mac_hex(secret, data, mac);
        return xasprintf("%s.%" PRId64 ".%s", key->access_key_id, expiry, mac);
}

const ApiKey *console_session_verify(const uint8_t secret[static CONSOLE_SECRET_BYTES], const KeySet *keys,
                                     const char *v, int64_t now) {
        _cleanup_free_ char *id = NULL, *want = NULL;
        const char *dot1, *dot2;
        const ApiKey *key;
        int64_t expiry = 0;

        if (!v || !keys || strlen(v) > CONSOLE_SESSION_MAX || !(dot1 = strchr(v, '.')) ||
            !(dot2 = strchr(dot1 + 1, '.')))
                return NULL;
        /* the expiry as console_session_value() writes it: digits only, no
         * sign, no leading zero, at most 18 of them (no overflow) */
        if (dot2 == dot1 + 1 || dot2 - dot1 - 1 > 18 || (dot1[1] == '0' && dot2 != dot1 + 2))
                return NULL;
        for (const char *p = dot1 + 1; p < dot2; p++) {
                if (*p < '0' || *p > '9')
                        return NULL;
                expiry = expiry * 10 + (*p - '0');
        }
        if (expiry < now)
                return NULL;
        id = xstrndup(v, (size_t) (dot1 - v));
        key = keys_find(keys, id);
        if (!key)
                return NULL;
        want = console_session_value(secret, key, expiry);
        return console_equal_const(want, v) ? key : NULL;
}

void console_csrf_token(const uint8_t secret[static CONSOLE_SECRET_BYTES], const char *session,
                        char ret[static CONSOLE_TOKEN_HEX]) {
        _cleanup_free_ char *data = xasprintf("csrf.%s", session);
        mac_hex(secret, data, ret);
}

bool console_csrf_valid(const uint8_t secret[static CONSOLE_SECRET_BYTES], const char *session,
                        const char *given) {
        char want[CONSOLE_TOKEN_HEX];

        if (!session || !given)
                return false;
        console_csrf_token(secret, session, want);
        return console_equal_const(given, want);
}

int console_login_parse(const void *body, size_t len, char **ret_id, char **ret_secret,
                        const char **ret_problem) {
        json_t *in = json_loadb(body, len, 0, NULL);
        const char *id = json_string_value(json_object_get(in, "accessKeyId"));
        const char *secret = json_string_value(json_object_get(in, "secretAccessKey"));
        int r = 0;

        if (!id || !secret) {
                *ret_problem = "accessKeyId and secretAccessKey are required";
                r = -EINVAL;
        } else if (!*id || strlen(id) > CONSOLE_LOGIN_ID_MAX || strlen(secret) > CONSOLE_LOGIN_SECRET_MAX) {
                *ret_problem = "accessKeyId or secretAccessKey is too long (or empty)";
                r = -EINVAL;
        } else {
                *ret_id = xstrdup(id);
                *ret_secret = xstrdup(secret);
        }
        json_decref(in);
        return r;
}

static bool bucket_name_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > CONSOLE_BUCKET_MAX || streq(s, ".") || streq(s, ".."))
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                      *s == '.' || *s == '_' || *s == '-'))
                        return false;
        return true;
}

int console_thumbnail_resource(const char *bucket, const char *key, char **ret_resource,
                               const char **ret_problem) {
        if (isempty(bucket) || isempty(key)) {
                *ret_problem = "bucket and key are required";
                return -EINVAL;
        }
        if (!bucket_name_valid(bucket)) {
                *ret_problem = "Invalid bucket or key";
                return -EINVAL;
        }
        *ret_resource = xasprintf("arn:aws:s3:::%s/%s", bucket, key);
        return 0;
}
