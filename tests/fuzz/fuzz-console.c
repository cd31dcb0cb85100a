/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the web console's untrusted input (api/console-session.c):
 * the Cookie header and its session (parsed, then the HMAC checked against
 * the keys), the X-CSRF-Token header, the sign-in body and the thumbnail's
 * bucket and key, as imgflow-api's server hands them over.
 *
 * Input: five parts separated by NUL bytes (a header cannot hold one):
 * Cookie header, X-CSRF-Token, sign-in body, bucket, key. The secret and the
 * clock are fixed; two keys come from a fixed keys file.
 *
 * Invariants:
 *   - a session value read from a cookie has no ';' or ' ' and is at most
 *     CONSOLE_SESSION_MAX bytes;
 *   - a session that verifies is exactly what console_session_value() makes
 *     for that key and its expiry, not expired, and verifies again;
 *   - a session made for a key verifies to that key, inside any other
 *     cookies; the same value changed at one byte (by the input), or past
 *     its expiry, or under another secret, does not;
 *   - the CSRF check accepts the session's own token and nothing else;
 *   - the sign-in body gives an id and a secret within their limits, or a
 *     refusal in words, the same both times;
 *   - a thumbnail's resource splits back into the same bucket and key, and
 *     a policy allowing s3:GetObject on photos/public/ allows nothing
 *     outside it.
 */

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "console-session.h"
#include "iam.h"
#include "keys.h"

#define FUZZ_MAX_INPUT (64 * 1024)
#define NOW 1764892800 /* the fixed clock, Unix seconds */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char keys_text[] =
        "{\"keys\": ["
        "{\"accessKeyId\": \"AKIAIOSFODNN7EXAMPLE\", \"secretAccessKey\": "
        "\"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\","
        " \"user\": \"ada\", \"policy\": {\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": "
        "\"Allow\","
        " \"Action\": \"s3:GetObject\", \"Resource\": \"arn:aws:s3:::photos/public/*\"}]}},"
        "{\"accessKeyId\": \"AKIAI44QH8DHBEXAMPLE\", \"secretAccessKey\": "
        "\"je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY\","
        " \"user\": \"bob\", \"policy\": {\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": "
        "\"Allow\","
        " \"Action\": \"states:*\", \"Resource\": \"*\"}]}}"
        "]}";

static const KeySet *keyset(void) {
        static KeySet *keys;
        char *error = NULL;

        if (!keys && keys_parse(keys_text, strlen(keys_text), &keys, &error) < 0)
                abort(); /* the fixed file is valid */
        return keys;
}

static void check_cookie(const uint8_t secret[static CONSOLE_SECRET_BYTES], const char *header) {
        _cleanup_free_ char *v = console_cookie_session(header);
        const ApiKey *k;
        char *again;

        if (!v)
                return;
        if (strlen(v) > CONSOLE_SESSION_MAX || strpbrk(v, "; "))
                abort();
        k = console_session_verify(secret, keyset(), v, NOW);
        if (!k)
                return;
        /* accepted: exactly our value for k and its expiry */
        int64_t expiry = strtoll(strchr(v, '.') + 1, NULL, 10);
        if (expiry < NOW)
                abort();
        again = console_session_value(secret, k, expiry);
        if (strcmp(again, v) != 0)
                abort();
        free(again);
        if (console_session_verify(secret, keyset(), v, NOW) != k)
                abort();
}

static void check_session(const uint8_t secret[static CONSOLE_SECRET_BYTES], const char *cookie,
                          const char *csrf, size_t at, uint8_t flip) {
        const ApiKey *k = keys_find(keyset(), (at & 1) ? "AKIAI44QH8DHBEXAMPLE" : "AKIAIOSFODNN7EXAMPLE");
        _cleanup_free_ char *s = console_session_value(secret, k, NOW + 100), *header = NULL, *got = NULL;
        char token[CONSOLE_TOKEN_HEX];
        uint8_t other[CONSOLE_SECRET_BYTES];

        if (console_session_verify(secret, keyset(), s, NOW) != k ||
            console_session_verify(secret, keyset(), s, NOW + 100) != k)
                abort();
        if (console_session_verify(secret, keyset(), s, NOW + 101))
                abort(); /* expired */
        memcpy(other, secret, sizeof(other));
        other[at % sizeof(other)] ^= 1;
        if (console_session_verify(other, keyset(), s, NOW))
                abort(); /* another process's secret */

        /* after the fuzzed cookies (up to a ';' of theirs): found, unless
         * they hold a session cookie of their own, which comes first */
        int before = (int) strcspn(cookie, ";");
        header = xasprintf("%.*s; " CONSOLE_COOKIE "=%s; theme=dark", before, cookie, s);
        got = console_cookie_session(header);
        _cleanup_free_ char *theirs = xstrndup(cookie, (size_t) before);
        if (!strstr(theirs, CONSOLE_COOKIE "=") && (!got || strcmp(got, s) != 0))
                abort();

        /* one byte changed */
        size_t i = at % strlen(s);
        char saved = s[i];
        s[i] = (char) (saved ^ (flip ? flip : 1));
        if (s[i] && console_session_verify(secret, keyset(), s, NOW))
                abort();
        s[i] = saved;

        console_csrf_token(secret, s, token);
        if (!console_csrf_valid(secret, s, token) || console_csrf_valid(secret, s, NULL))
                abort();
        if (console_csrf_valid(secret, s, csrf) != (strcmp(csrf, token) == 0))
                abort();
}

static void check_login(const char *body, size_t len) {
        _cleanup_free_ char *id = NULL, *secret = NULL, *id2 = NULL, *secret2 = NULL;
        const char *problem = NULL, *problem2 = NULL;
        int r = console_login_parse(body, len, &id, &secret, &problem);
        int r2 = console_login_parse(body, len, &id2, &secret2, &problem2);

        if (r != r2)
                abort();
        if (r < 0) {
                if (!problem || !*problem || id || secret)
                        abort();
                return;
        }
        if (!*id || strlen(id) > CONSOLE_LOGIN_ID_MAX || strlen(secret) > CONSOLE_LOGIN_SECRET_MAX ||
            strcmp(id, id2) != 0 || strcmp(secret, secret2) != 0)
                abort();
}

static void check_thumbnail(const char *bucket, const char *key) {
        static const char prefix[] = "arn:aws:s3:::";
        _cleanup_free_ char *resource = NULL;
        const char *problem = NULL, *slash;
        const ApiKey *ada = keys_find(keyset(), "AKIAIOSFODNN7EXAMPLE");

        if (console_thumbnail_resource(bucket, key, &resource, &problem) < 0) {
                if (!problem || !*problem || resource)
                        abort();
                return;
        }
        if (strncmp(resource, prefix, strlen(prefix)) != 0)
                abort();
        slash = strchr(resource + strlen(prefix), '/');
        if (!slash || (size_t) (slash - resource - strlen(prefix)) != strlen(bucket) ||
            strncmp(resource + strlen(prefix), bucket, strlen(bucket)) != 0 || strcmp(slash + 1, key) != 0)
                abort();
        if (iam_policy_evaluate(ada->policy, "s3:GetObject", resource) == IAM_ALLOW &&
            (strcmp(bucket, "photos") != 0 || strncmp(key, "public/", 7) != 0))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const uint8_t secret[CONSOLE_SECRET_BYTES] = "imgflow console fuzzing secret!";
        const char *part[5] = {"", "", "", "", ""};
        size_t part_len[5] = {0, 0, 0, 0, 0};
        _cleanup_free_ char *text = NULL;
        size_t n = 0, at = 0;

        if (size > FUZZ_MAX_INPUT)
                return 0;
        text = xmalloc(size + 1);
        memcpy(text, data, size);
        text[size] = 0;
        for (size_t i = 0, start = 0; i <= size && n < 5; i++)
                if (i == size || text[i] == 0) {
                        part[n] = text + start;
                        part_len[n++] = i - start;
                        start = i + 1;
                }
        for (size_t i = 0; i < size; i++)
                at = at * 31 + data[i];

        check_cookie(secret, part[0]);
        check_session(secret, part[0], part[1], at, size ? data[size - 1] : 0);
        check_login(part[2], part_len[2]);
        check_thumbnail(part[3], part[4]);
        return 0;
}
