/* SPDX-License-Identifier: MIT */
/*
 * AWS Signature Version 4 (see sigv4.h). Written here: no Debian library
 * verifies SigV4 (libcurl only signs, and a client's signer is the other
 * half of the job), and the rules are a page of string handling over
 * lib/hash.c's SHA-256 and HMAC. Every string is built in a Buf that grows;
 * input sizes are bounded by the HTTP layer before anything gets here.
 */

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc-util.h"
#include "format.h"
#include "hash.h"
#include "sigv4.h"

typedef struct Buf {
        char *s;
        size_t n, allocated;
} Buf;

static void buf_add(Buf *b, const char *s, size_t n) {
        if (b->n + n + 1 > b->allocated) {
                b->allocated = MAX_(b->allocated * 2, b->n + n + 64);
                b->s = xrealloc(b->s, b->allocated);
        }
        memcpy(b->s + b->n, s, n);
        b->n += n;
        b->s[b->n] = 0;
}

static void buf_adds(Buf *b, const char *s) {
        buf_add(b, s, strlen(s));
}

static void buf_addc(Buf *b, char c) {
        buf_add(b, &c, 1);
}

static char *buf_take(Buf *b) {
        char *s = b->s ? b->s : xstrdup("");
        *b = (Buf){};
        return s;
}

/* RFC 3986 unreserved characters stay, everything else is %XX (upper case);
 * '/' stays when keep_slash. */
static void buf_uri_encode(Buf *b, const char *s, size_t n, bool keep_slash) {
        static const char hex[] = "0123456789ABCDEF";

        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                char esc[3];

                if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
                        buf_addc(b, (char) c);
                        continue;
                }
                esc[0] = '%';
                esc[1] = hex[c >> 4];
                esc[2] = hex[c & 15];
                buf_add(b, esc, 3);
        }
}

void sigv4_auth_done(Sigv4Auth *a) {
        free(a->access_key_id);
        free(a->scope_date);
        free(a->region);
        free(a->service);
        free(a->signed_headers);
        free(a->amz_date);
        *a = (Sigv4Auth){};
}

void sigv4_failure_done(Sigv4Failure *f) {
        free(f->message);
        free(f->access_key_id);
        *f = (Sigv4Failure){};
}

static int fail(Sigv4Failure *f, const char *error, const char *fmt, ...) _printf_(3, 4);
static int fail(Sigv4Failure *f, const char *error, const char *fmt, ...) {
        va_list ap;

        f->error = error;
        va_start(ap, fmt);
        free(f->message);
        f->message = xvasprintf(fmt, ap);
        va_end(ap);
        return -EACCES;
}

static const char *header_get(const Sigv4Request *r, const char *name) {
        for (size_t i = 0; i < r->n_headers; i++)
                if (strcasecmp(r->headers[i].name, name) == 0)
                        return r->headers[i].value;
        return NULL;
}

/* ---- dates ---- */

static bool all_digits(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!isdigit((unsigned char) s[i]))
                        return false;
        return true;
}

int sigv4_parse_amz_date(const char *s, int64_t *ret) {
        struct tm tm = {};

        if (!s || strlen(s) != 16 || !all_digits(s, 8) || s[8] != 'T' || !all_digits(s + 9, 6) ||
            s[15] != 'Z')
                return -EINVAL;
        tm.tm_year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0') - 1900;
        tm.tm_mon = (s[4] - '0') * 10 + (s[5] - '0') - 1;
        tm.tm_mday = (s[6] - '0') * 10 + (s[7] - '0');
        tm.tm_hour = (s[9] - '0') * 10 + (s[10] - '0');
        tm.tm_min = (s[11] - '0') * 10 + (s[12] - '0');
        tm.tm_sec = (s[13] - '0') * 10 + (s[14] - '0');
        if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
            tm.tm_sec > 60)
                return -EINVAL;
        *ret = (int64_t) timegm(&tm);
        return 0;
}

void sigv4_format_amz_date(int64_t sec, char ret[17]) {
        time_t t = (time_t) sec;
        struct tm tm;

        if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
                strcpy(ret, "00000000T000000Z");
                return;
        }
        strftime(ret, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* RFC 7231's IMF-fixdate, as in a Date header: "Sun, 30 Aug 2015 12:36:00 GMT". */
static int parse_http_date(const char *s, int64_t *ret) {
        struct tm tm = {};
        const char *end;

        end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        if (!end || *end)
                return -EINVAL;
        *ret = (int64_t) timegm(&tm);
        return 0;
}

/* ---- the Authorization header ---- */

/* Splits "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..."
 * into its three values (pointers into copy). */
typedef struct AuthParts {
        char *copy;
        const char *algorithm, *credential, *signed_headers, *signature;
} AuthParts;

static void parse_parts(const char *header, AuthParts *p) {
        char *s, *save = NULL, *tok;

        p->copy = xstrdup(header);
        s = p->copy + strspn(p->copy, " ");
        p->algorithm = s;
        s += strcspn(s, " ");
        if (*s)
                *s++ = 0;
        for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                char *eq;

                tok += strspn(tok, " ");
                for (char *e = tok + strlen(tok); e > tok && e[-1] == ' '; e--)
                        e[-1] = 0;
                eq = strchr(tok, '=');
                if (!eq)
                        continue;
                *eq = 0;
                if (streq(tok, "Credential"))
                        p->credential = eq + 1;
                else if (streq(tok, "SignedHeaders"))
                        p->signed_headers = eq + 1;
                else if (streq(tok, "Signature"))
                        p->signature = eq + 1;
        }
}

/* Signed headers: lower case, sorted, unique, ';'-separated, each a token. */
static bool signed_headers_valid(const char *s, size_t *ret_n) {
        const char *prev = NULL;
        size_t prev_n = 0, n = 0;

        if (!*s)
                return false;
        for (const char *p = s; *p;) {
                size_t len = strcspn(p, ";");

                if (len == 0)
                        return false;
                for (size_t i = 0; i < len; i++)
                        if (!(islower((unsigned char) p[i]) || isdigit((unsigned char) p[i]) ||
                              strchr("-_.!#$%&'*+^`|~", p[i])))
                                return false;
                if (prev) {
                        int c = strncmp(prev, p, MIN_(prev_n, len));
                        if (c > 0 || (c == 0 && prev_n >= len))
                                return false;
                }
                prev = p;
                prev_n = len;
                n++;
                p += len;
                if (*p == ';') {
                        p++;
                        if (!*p)
                                return false;
                }
        }
        *ret_n = n;
        return true;
}

static bool signed_headers_has(const char *list, const char *name) {
        size_t n = strlen(name);

        for (const char *p = list; *p;) {
                size_t len = strcspn(p, ";");
                if (len == n && strncmp(p, name, n) == 0)
                        return true;
                p += len;
                if (*p == ';')
                        p++;
        }
        return false;
}

static int parse_hex32(const char *s, uint8_t ret[32]) {
        if (strlen(s) != 64)
                return -EINVAL;
        for (size_t i = 0; i < 32; i++) {
                int v = 0;
                for (size_t j = 0; j < 2; j++) {
                        char c = s[2 * i + j];
                        v <<= 4;
                        if (c >= '0' && c <= '9')
                                v |= c - '0';
                        else if (c >= 'a' && c <= 'f')
                                v |= c - 'a' + 10;
                        else
                                return -EINVAL;
                }
                ret[i] = (uint8_t) v;
        }
        return 0;
}

int sigv4_parse(const Sigv4Request *r, const char *region, const char *service, int64_t now_sec,
                Sigv4Auth *ret, Sigv4Failure *ret_fail) {
        _cleanup_free_ char *missing = NULL;
        const char *header = header_get(r, "Authorization"), *date;
        AuthParts p = {};
        Sigv4Auth a = {};
        char bound[17], now_s[17];
        char *cred[5] = {};
        size_t n_signed = 0;
        int k = -EACCES;

        if (!header)
                return fail(ret_fail, "MissingAuthenticationTokenException", "Missing Authentication Token");
        if (strlen(header) > SIGV4_AUTH_MAX)
                return fail(ret_fail, "IncompleteSignatureException", "Authorization header is too long.");
        parse_parts(header, &p);

        if (!streq(p.algorithm, SIGV4_ALGORITHM)) {
                fail(ret_fail, "IncompleteSignatureException",
                     "Unsupported AWS 'algorithm': '%.64s'. Only '" SIGV4_ALGORITHM "' is supported.",
                     p.algorithm);
                goto done;
        }
        date = header_get(r, "X-Amz-Date");
        if (!p.credential || !p.signed_headers || !p.signature || (!date && !header_get(r, "Date"))) {
                Buf b = {};
                if (!p.credential)
                        buf_adds(&b, "Authorization header requires 'Credential' parameter. ");
                if (!p.signature)
                        buf_adds(&b, "Authorization header requires 'Signature' parameter. ");
                if (!p.signed_headers)
                        buf_adds(&b, "Authorization header requires 'SignedHeaders' parameter. ");
                if (!date && !header_get(r, "Date"))
                        buf_adds(&b, "Authorization header requires existence of either a 'X-Amz-Date' or a "
                                     "'Date' header. ");
                missing = buf_take(&b);
                fail(ret_fail, "IncompleteSignatureException", "%sAuthorization=%.256s", missing, header);
                goto done;
        }

        /* Credential=<key id>/<date>/<region>/<service>/aws4_request */
        {
                char *s = xstrdup(p.credential), *save = NULL, *tok;
                size_t n = 0;

                for (tok = strtok_r(s, "/", &save); tok && n < 5; tok = strtok_r(NULL, "/", &save))
                        cred[n++] = xstrdup(tok);
                if (n != 5 || tok || p.credential[strlen(p.credential) - 1] == '/') {
                        free(s);
                        fail(ret_fail, "IncompleteSignatureException",
                             "Credential must have exactly 5 slash-delimited elements, e.g. "
                             "keyid/date/region/service/term, got '%.256s'",
                             p.credential);
                        goto done;
                }
                free(s);
        }
        if (strlen(cred[0]) > SIGV4_KEY_ID_MAX) {
                fail(ret_fail, "UnrecognizedClientException",
                     "The security token included in the request is invalid.");
                goto done;
        }
        if (!signed_headers_valid(p.signed_headers, &n_signed) || n_signed > SIGV4_HEADERS_MAX) {
                fail(ret_fail, "IncompleteSignatureException",
                     "SignedHeaders must be lower-case header names in order, separated by ';', at most %d: "
                     "'%.256s'",
                     SIGV4_HEADERS_MAX, p.signed_headers);
                goto done;
        }
        if (parse_hex32(p.signature, a.signature) < 0) {
                fail(ret_fail, "IncompleteSignatureException",
                     "Signature must be 64 lower-case hexadecimal digits. Authorization=%.256s", header);
                goto done;
        }

        /* The request date. */
        if (date) {
                if (sigv4_parse_amz_date(date, &a.time_sec) < 0) {
                        fail(ret_fail, "IncompleteSignatureException",
                             "Date must be in ISO-8601 'basic format'. Got '%.64s'. See "
                             "http://en.wikipedia.org/wiki/ISO_8601",
                             date);
                        goto done;
                }
        } else if (parse_http_date(header_get(r, "Date"), &a.time_sec) < 0) {
                fail(ret_fail, "IncompleteSignatureException", "Date must be an RFC 7231 date. Got '%.64s'.",
                     header_get(r, "Date"));
                goto done;
        }
        a.amz_date = xmalloc(17);
        sigv4_format_amz_date(a.time_sec, a.amz_date);

        if (!streq(cred[4], "aws4_request")) {
                fail(ret_fail, "InvalidSignatureException",
                     "Credential should be scoped with a valid terminator: 'aws4_request', not '%.64s'. ",
                     cred[4]);
                goto done;
        }
        if (strncmp(cred[1], a.amz_date, 8) != 0 || strlen(cred[1]) != 8) {
                fail(ret_fail, "InvalidSignatureException",
                     "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
                     "HTTP: "
                     "'%.64s' != '%.8s', from '%s'.",
                     cred[1], a.amz_date, a.amz_date);
                goto done;
        }
        if (!streq(cred[2], region)) {
                fail(ret_fail, "InvalidSignatureException",
                     "Credential should be scoped to a valid region, not '%.64s'. ", cred[2]);
                goto done;
        }
        if (!streq(cred[3], service)) {
                fail(ret_fail, "InvalidSignatureException",
                     "Credential should be scoped to correct service: '%s'. ", service);
                goto done;
        }
        if (!signed_headers_has(p.signed_headers, "host") ||
            (date && !signed_headers_has(p.signed_headers, "x-amz-date")) ||
            !signed_headers_has(p.signed_headers, "x-amz-target")) {
                fail(ret_fail, "InvalidSignatureException",
                     "'Host'%s and 'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.",
                     date ? ", 'X-Amz-Date'" : "");
                goto done;
        }
        if (header_get(r, "X-Amz-Security-Token")) {
                fail(ret_fail, "UnrecognizedClientException",
                     "The security token included in the request is invalid.");
                goto done;
        }

        /* AWS's texts: "Signature expired: <t> is now earlier than <now - 5 min>
         * (<now> - 5 min.)" and the other way round. */
        sigv4_format_amz_date(now_sec, now_s);
        if (a.time_sec < now_sec - SIGV4_SKEW_MAX_SEC) {
                sigv4_format_amz_date(now_sec - SIGV4_SKEW_MAX_SEC, bound);
                fail(ret_fail, "InvalidSignatureException",
                     "Signature expired: %s is now earlier than %s (%s - 5 min.)", a.amz_date, bound, now_s);
                goto done;
        }
        if (a.time_sec > now_sec + SIGV4_SKEW_MAX_SEC) {
                sigv4_format_amz_date(now_sec + SIGV4_SKEW_MAX_SEC, bound);
                fail(ret_fail, "InvalidSignatureException",
                     "Signature not yet current: %s is still later than %s (%s + 5 min.)", a.amz_date, bound,
                     now_s);
                goto done;
        }

        a.access_key_id = TAKE_PTR(cred[0]);
        a.scope_date = TAKE_PTR(cred[1]);
        a.region = TAKE_PTR(cred[2]);
        a.service = TAKE_PTR(cred[3]);
        a.signed_headers = xstrdup(p.signed_headers);
        *ret = a;
        a = (Sigv4Auth){};
        k = 0;
done:
        if (k < 0 && cred[0] && !ret_fail->access_key_id)
                ret_fail->access_key_id = xstrndup(cred[0], SIGV4_KEY_ID_MAX);
        for (size_t i = 0; i < ELEMENTSOF(cred); i++)
                free(cred[i]);
        free(p.copy);
        sigv4_auth_done(&a);
        return k;
}

/* ---- the canonical request ---- */

/* RFC 3986 5.2.4 dot segments removed, empty segments dropped; a trailing
 * '/' kept. New string, starting with '/'. */
static char *normalize_path(const char *path) {
        _cleanup_free_ char *copy = xstrdup(path ? path : "");
        const char **seg = xmalloc((strlen(copy) / 2 + 2) * sizeof(char *));
        size_t n = 0;
        bool trailing = *copy && copy[strlen(copy) - 1] == '/';
        char *save = NULL, *tok;
        Buf b = {};

        for (tok = strtok_r(copy, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
                if (streq(tok, "."))
                        continue;
                if (streq(tok, "..")) {
                        if (n > 0)
                                n--;
                        continue;
                }
                seg[n++] = tok;
        }
        buf_addc(&b, '/');
        for (size_t i = 0; i < n; i++) {
                buf_adds(&b, seg[i]);
                if (i + 1 < n || trailing)
                        buf_addc(&b, '/');
        }
        free(seg);
        return buf_take(&b);
}

typedef struct EncodedPair {
        char *name, *value;
} EncodedPair;

static int cmp_pair(const void *x, const void *y) {
        const EncodedPair *a = x, *b = y;
        int c = strcmp(a->name, b->name);
        return c ? c : strcmp(a->value, b->value);
}

/* Trimmed, runs of spaces and tabs as one space. */
static void buf_header_value(Buf *b, const char *v) {
        bool space = false, started = false;

        for (; *v; v++) {
                if (*v == ' ' || *v == '\t') {
                        space = started;
                        continue;
                }
                if (space)
                        buf_addc(b, ' ');
                space = false;
                started = true;
                buf_addc(b, *v);
        }
}

char *sigv4_canonical_request(const Sigv4Request *r, const char *signed_headers) {
        _cleanup_free_ char *path = normalize_path(r->path);
        Buf b = {}, once = {};
        EncodedPair *q;
        char hex[HASH_HEX_MAX];

        buf_adds(&b, r->method);
        buf_addc(&b, '\n');
        buf_uri_encode(&once, path, strlen(path), /* keep_slash= */ true);
        buf_uri_encode(&b, once.s, once.n, /* keep_slash= */ true);
        free(once.s);
        buf_addc(&b, '\n');

        q = xmalloc((r->n_query + 1) * sizeof(EncodedPair));
        for (size_t i = 0; i < r->n_query; i++) {
                Buf n = {}, v = {};
                buf_uri_encode(&n, r->query[i].name, strlen(r->query[i].name), false);
                buf_uri_encode(&v, strempty(r->query[i].value), strlen(strempty(r->query[i].value)), false);
                q[i] = (EncodedPair){buf_take(&n), buf_take(&v)};
        }
        qsort(q, r->n_query, sizeof(EncodedPair), cmp_pair);
        for (size_t i = 0; i < r->n_query; i++) {
                if (i > 0)
                        buf_addc(&b, '&');
                buf_adds(&b, q[i].name);
                buf_addc(&b, '=');
                buf_adds(&b, q[i].value);
                free(q[i].name);
                free(q[i].value);
        }
        free(q);
        buf_addc(&b, '\n');

        /* Canonical headers: one line per signed header, in the (sorted)
         * order of signed_headers; repeated headers joined with ','. */
        for (const char *p = signed_headers; *p;) {
                size_t len = strcspn(p, ";");
                bool first = true;

                buf_add(&b, p, len);
                buf_addc(&b, ':');
                for (size_t i = 0; i < r->n_headers; i++) {
                        if (strlen(r->headers[i].name) != len ||
                            strncasecmp(r->headers[i].name, p, len) != 0)
                                continue;
                        if (!first)
                                buf_addc(&b, ',');
                        buf_header_value(&b, strempty(r->headers[i].value));
                        first = false;
                }
                buf_addc(&b, '\n');
                p += len;
                if (*p == ';')
                        p++;
        }
        buf_addc(&b, '\n');
        buf_adds(&b, signed_headers);
        buf_addc(&b, '\n');
        hash_hex(HASH_SHA256, r->body ? r->body : "", r->body_len, hex);
        buf_adds(&b, hex);
        return buf_take(&b);
}

static void scope(Buf *b, const char *date, const char *region, const char *service) {
        buf_add(b, date, 8);
        buf_addc(b, '/');
        buf_adds(b, region);
        buf_addc(b, '/');
        buf_adds(b, service);
        buf_adds(b, "/aws4_request");
}

char *sigv4_string_to_sign(const Sigv4Auth *a, const char *canonical_request) {
        char hex[HASH_HEX_MAX];
        Buf b = {};

        buf_adds(&b, SIGV4_ALGORITHM "\n");
        buf_adds(&b, a->amz_date);
        buf_addc(&b, '\n');
        scope(&b, a->scope_date, a->region, a->service);
        buf_addc(&b, '\n');
        hash_hex(HASH_SHA256, canonical_request, strlen(canonical_request), hex);
        buf_adds(&b, hex);
        return buf_take(&b);
}

/* HMAC-SHA256 chain: "AWS4" + secret -> date -> region -> service -> "aws4_request",
 * then the string to sign. */
static void signature(const char *secret, const Sigv4Auth *a, const char *string_to_sign, uint8_t ret[32]) {
        _cleanup_free_ char *k0 = xasprintf("AWS4%s", secret);
        uint8_t k[HASH_DIGEST_MAX];

        hash_hmac(HASH_SHA256, k0, strlen(k0), a->scope_date, 8, k);
        hash_hmac(HASH_SHA256, k, 32, a->region, strlen(a->region), k);
        hash_hmac(HASH_SHA256, k, 32, a->service, strlen(a->service), k);
        hash_hmac(HASH_SHA256, k, 32, "aws4_request", 12, k);
        hash_hmac(HASH_SHA256, k, 32, string_to_sign, strlen(string_to_sign), k);
        memcpy(ret, k, 32);
        explicit_bzero(k0, strlen(k0));
        explicit_bzero(k, sizeof k);
}

int sigv4_verify(const Sigv4Auth *a, const Sigv4Request *r, const char *secret, Sigv4Failure *ret_fail) {
        _cleanup_free_ char *creq = NULL, *sts = NULL;
        const char *sent = header_get(r, "X-Amz-Content-Sha256");
        uint8_t sig[32];

        if (sent) {
                char hex[HASH_HEX_MAX];

                hash_hex(HASH_SHA256, r->body ? r->body : "", r->body_len, hex);
                if (!streq(sent, hex))
                        return fail(ret_fail, "InvalidSignatureException",
                                    "The provided 'x-amz-content-sha256' header does not match what was "
                                    "computed.");
        }
        creq = sigv4_canonical_request(r, a->signed_headers);
        sts = sigv4_string_to_sign(a, creq);
        signature(secret, a, sts, sig);
        if (!hash_equal(sig, a->signature, sizeof sig))
                return fail(ret_fail, "InvalidSignatureException",
                            "The request signature we calculated does not match the signature you provided. "
                            "Check your AWS Secret Access Key and signing method. Consult the service "
                            "documentation for details.");
        return 0;
}

char *sigv4_sign(const Sigv4Request *r, const char *access_key_id, const char *secret, const char *region,
                 const char *service, const char *amz_date, const char *signed_headers) {
        _cleanup_free_ char *creq = NULL, *sts = NULL;
        Sigv4Auth a = {
                .scope_date = (char *) amz_date,
                .region = (char *) region,
                .service = (char *) service,
                .amz_date = (char *) amz_date,
        };
        char hex[65];
        uint8_t sig[32];

        creq = sigv4_canonical_request(r, signed_headers);
        sts = sigv4_string_to_sign(&a, creq);
        signature(secret, &a, sts, sig);
        format_hex(sig, sizeof sig, hex);
        return xasprintf(SIGV4_ALGORITHM
                         " Credential=%s/%.8s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
                         access_key_id, amz_date, region, service, signed_headers, hex);
}
