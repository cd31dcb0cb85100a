/* SPDX-License-Identifier: MIT */

/*
 * S3-compatible buckets over libcurl (the boundary file for libcurl).
 *
 * Signing: libcurl signs every request with SigV4 itself (CURLOPT_AWS_SIGV4,
 * "aws:amz:<region>:s3"). Debian 12's libcurl (7.88) needs help in two
 * places, both harmless with newer ones: it does not add
 * x-amz-content-sha256, which S3 requires, so we send it (the SHA-256 of the
 * body, or of nothing), and curl signs it like every x-amz-* header; and it
 * signs the query string as it finds it, so every query here is written
 * already canonical (names sorted, names and values percent-encoded as SigV4
 * encodes them). Object keys are percent-encoded once in the path (S3 does
 * not double-encode), '/' kept.
 *
 * Connections: each request borrows an easy handle from the client's pool
 * and gives it back, so the pool holds at most one handle per thread that
 * used it at once (the worker's image threads), and each handle keeps its
 * connections open between requests (HTTP keep-alive, TLS sessions). A
 * share handle adds one DNS and TLS-session cache for all of them.
 *
 * Bodies: an object's body is written straight into one buffer of the size
 * the Content-Length announced (checked against the caller's limit in the
 * header callback, before any byte of the body is read); XML answers go to
 * expat chunk by chunk (s3-xml.h). Nothing is copied twice.
 *
 * Integrity: PutObject and every UploadPart send Content-MD5, which S3
 * checks before it stores anything (BadDigest otherwise), and the signed
 * x-amz-content-sha256 of the same bytes. Objects above
 * multipart_threshold go up in parts of part_size; a failed upload is
 * aborted (best effort: a lifecycle rule on the service cleans up the rest).
 *
 * Retries: a request that failed with a connection error, a timeout, a 5xx,
 * 429 or S3's SlowDown is tried again, up to max_attempts times, after a
 * sleep of a random time between 0 and min(retry_max, retry_base * 2^n)
 * ("full jitter", the AWS SDKs' default), in the calling thread. Other
 * answers are final and become the Storage.* failures of storage.h.
 */

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "format.h"
#include "hash.h"
#include "macro.h"
#include "random.h"
#include "storage-backend.h"

#define S3_POOL_MAX 256
#define S3_ERROR_BODY_MAX (64 * 1024)
#define S3_MIN_PART_SIZE (5u * 1024 * 1024)
#define S3_MAX_PARTS 10000
#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct S3Client {
        char *scheme;   /* "http" or "https" */
        char *hostport; /* "127.0.0.1:7070", "s3.us-east-1.amazonaws.com" */
        char *base;     /* path under the endpoint, "" or "/x" (no trailing '/') */
        char *sigv4;    /* "aws:amz:<region>:s3" */
        char *access_key_id, *secret_access_key, *session_token, *ca_file;
        bool path_style, verify_tls;
        uint64_t multipart_threshold, part_size;
        unsigned max_attempts;
        uint64_t retry_base_ms, retry_max_ms, timeout_ms, connect_timeout_ms;

        pthread_mutex_t pool_lock;
        CURL **idle;
        size_t n_idle;

        CURLSH *share;
        pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init_once(void) {
        curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void storage_s3_options_init(StorageS3Options *o) {
        *o = (StorageS3Options){
                .region = "us-east-1",
                .verify_tls = true,
                .multipart_threshold = 16u * 1024 * 1024,
                .part_size = 8u * 1024 * 1024,
                .max_attempts = 5,
                .retry_base_ms = 100,
                .retry_max_ms = 5000,
                .timeout_ms = 60000,
                .connect_timeout_ms = 5000,
        };
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud) {
        S3Client *c = ud;
        pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud) {
        S3Client *c = ud;
        pthread_mutex_unlock(&c->share_locks[data]);
}

S3Client *s3_client_free(S3Client *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_idle; i++)
                curl_easy_cleanup(c->idle[i]);
        free(c->idle);
        if (c->share)
                curl_share_cleanup(c->share);
        pthread_mutex_destroy(&c->pool_lock);
        for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
                pthread_mutex_destroy(&c->share_locks[i]);
        free(c->scheme);
        free(c->hostport);
        free(c->base);
        free(c->sigv4);
        free(c->access_key_id);
        free(c->secret_access_key);
        free(c->session_token);
        free(c->ca_file);
        free(c);
        return NULL;
}

_printf_(2, 3) static int fail_setup(char **ret_error, const char *fmt, ...) {
        va_list ap;

        if (!ret_error)
                return -EINVAL;
        va_start(ap, fmt);
        if (vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return -EINVAL;
}

static bool region_valid(const char *r) {
        size_t n = strlen(r);
        if (n == 0 || n > 64)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
                        return false;
        return true;
}

static bool header_value_ok(const char *v) {
        for (; *v; v++)
                if ((unsigned char) *v < 0x20 || *v == 0x7f)
                        return false;
        return true;
}

int s3_client_new(const StorageS3Options *o, S3Client **ret, char **ret_error) {
        _cleanup_free_ char *endpoint = NULL;
        const char *rest, *slash;
        S3Client *c;
        int r;

        pthread_once(&curl_once, curl_init_once);
        if (curl_init_result != CURLE_OK)
                return fail_setup(ret_error, "libcurl: %s", curl_easy_strerror(curl_init_result));

        if (!o->region || !region_valid(o->region))
                return fail_setup(ret_error, "bad region \"%s\"", strempty(o->region));
        if (isempty(o->access_key_id) || isempty(o->secret_access_key))
                return fail_setup(ret_error, "%s", "no credentials (access key id and secret access key)");
        if (!header_value_ok(o->access_key_id) || strchr(o->access_key_id, ':') ||
            !header_value_ok(o->secret_access_key) ||
            (o->session_token && !header_value_ok(o->session_token)))
                return fail_setup(ret_error, "%s", "credentials contain control characters or ':'");
        if (o->part_size < S3_MIN_PART_SIZE)
                return fail_setup(ret_error, "%s", "part size below S3's minimum of 5 MiB");
        if (o->max_attempts < 1 || o->max_attempts > 100)
                return fail_setup(ret_error, "%s", "max attempts must be 1..100");

        if (isempty(o->endpoint)) {
                if (asprintf(&endpoint, "https://s3.%s.amazonaws.com", o->region) < 0)
                        return -ENOMEM;
        } else {
                endpoint = strdup(o->endpoint);
                if (!endpoint)
                        return -ENOMEM;
        }
        if (strncmp(endpoint, "https://", 8) == 0)
                rest = endpoint + 8;
        else if (strncmp(endpoint, "http://", 7) == 0)
                rest = endpoint + 7;
        else
                return fail_setup(ret_error, "endpoint \"%s\" must start with http:// or https://",
                                  endpoint);
        slash = strchr(rest, '/');
        if (slash == rest || !header_value_ok(rest) || strpbrk(rest, " ?#@"))
                return fail_setup(ret_error, "bad endpoint \"%s\"", endpoint);

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        pthread_mutex_init(&c->pool_lock, NULL);
        for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
                pthread_mutex_init(&c->share_locks[i], NULL);
        c->scheme = strndup(endpoint, (size_t) (rest - endpoint - 3));
        c->hostport = slash ? strndup(rest, (size_t) (slash - rest)) : strdup(rest);
        c->base = strdup(slash ? slash : "");
        if (c->base) {
                size_t n = strlen(c->base);
                while (n > 0 && c->base[n - 1] == '/')
                        c->base[--n] = '\0';
        }
        r = asprintf(&c->sigv4, "aws:amz:%s:s3", o->region);
        if (r < 0)
                c->sigv4 = NULL;
        c->access_key_id = strdup(o->access_key_id);
        c->secret_access_key = strdup(o->secret_access_key);
        c->session_token = isempty(o->session_token) ? NULL : strdup(o->session_token);
        c->ca_file = isempty(o->ca_file) ? NULL : strdup(o->ca_file);
        c->path_style = o->path_style;
        c->verify_tls = o->verify_tls;
        c->multipart_threshold = o->multipart_threshold;
        c->part_size = o->part_size;
        c->max_attempts = o->max_attempts;
        c->retry_base_ms = o->retry_base_ms;
        c->retry_max_ms = o->retry_max_ms;
        c->timeout_ms = o->timeout_ms;
        c->connect_timeout_ms = o->connect_timeout_ms;
        if (!c->scheme || !c->hostport || !c->base || !c->sigv4 || !c->access_key_id ||
            !c->secret_access_key || (!isempty(o->session_token) && !c->session_token) ||
            (!isempty(o->ca_file) && !c->ca_file)) {
                s3_client_free(c);
                return -ENOMEM;
        }
        c->share = curl_share_init();
        if (!c->share) {
                s3_client_free(c);
                return -ENOMEM;
        }
        curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
        curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
        curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
        *ret = c;
        return 0;
}

/* ---- the handle pool ----------------------------------------------------- */

static CURL *pool_take(S3Client *c) {
        CURL *h = NULL;

        pthread_mutex_lock(&c->pool_lock);
        if (c->n_idle > 0)
                h = c->idle[--c->n_idle];
        pthread_mutex_unlock(&c->pool_lock);
        return h ? h : curl_easy_init();
}

static void pool_give(S3Client *c, CURL *h) {
        CURL **n;

        if (!h)
                return;
        pthread_mutex_lock(&c->pool_lock);
        if (c->n_idle < S3_POOL_MAX && (n = realloc(c->idle, (c->n_idle + 1) * sizeof(*n)))) {
                c->idle = n;
                c->idle[c->n_idle++] = h;
                h = NULL;
        }
        pthread_mutex_unlock(&c->pool_lock);
        if (h)
                curl_easy_cleanup(h);
}

/* ---- URLs ---------------------------------------------------------------- */

/* SigV4's URI encoding: unreserved characters as they are, everything else
 * %XX (upper case); '/' kept when keep_slash. Appends to a FILE. */
static void uri_encode(FILE *out, const char *s, size_t n, bool keep_slash) {
        for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char) s[i];
                if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                    ch == '-' || ch == '.' || ch == '_' || ch == '~' || (keep_slash && ch == '/'))
                        fputc(ch, out);
                else
                        fprintf(out, "%%%02X", ch);
        }
}

/* A query parameter for query_build(): name and value (value NULL: skipped). */
typedef struct S3Param {
        const char *name;
        const char *value;
} S3Param;

/* The URL of bucket/key (key NULL: the bucket) with params, which the caller
 * lists sorted by name. New string or NULL. */
static char *url_build(S3Client *c, const char *bucket, const char *key, size_t key_len,
                       const S3Param *params, size_t n_params) {
        char *buf = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&buf, &len);
        bool first = true;

        if (!out)
                return NULL;
        if (c->path_style)
                fprintf(out, "%s://%s%s/%s", c->scheme, c->hostport, c->base, bucket);
        else
                fprintf(out, "%s://%s.%s%s", c->scheme, bucket, c->hostport, c->base);
        fputc('/', out);
        if (key)
                uri_encode(out, key, key_len, true);
        for (size_t i = 0; i < n_params; i++) {
                if (!params[i].value)
                        continue;
                fputc(first ? '?' : '&', out);
                first = false;
                uri_encode(out, params[i].name, strlen(params[i].name), false);
                fputc('=', out);
                uri_encode(out, params[i].value, strlen(params[i].value), false);
        }
        if (fclose(out) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

/* ---- one request --------------------------------------------------------- */

typedef struct S3Request {
        const char *method; /* "GET", "HEAD", "PUT", "POST", "DELETE" */
        const char *url;
        const void *body;
        size_t body_len;
        const char *content_type;
        bool content_md5;  /* send Content-MD5 of the body */
        bool want_object;  /* 2xx body: the object, into S3Response.data */
        uint64_t max_size; /* limit of the object */
        bool want_xml;     /* 2xx body: XML into S3Response.xml */
        const char *range; /* "Range: bytes=a-b" header, or NULL */
} S3Request;

typedef struct S3Response {
        long status;
        bool have_length;
        uint64_t length;
        char etag[STORAGE_ETAG_MAX + 1];
        int64_t last_modified_ms;
        bool have_total; /* Content-Range: the whole object's size */
        uint64_t total;
        char *data;
        size_t size, cap;
        bool too_large;
        S3Xml xml;
        bool xml_bad;
        size_t error_bytes;
} S3Response;

static void response_reset(S3Response *r) {
        free(r->data);
        s3_xml_done(&r->xml);
        *r = (S3Response){};
}

static bool status_ok(long s) {
        return s >= 200 && s < 300;
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud) {
        struct {
                S3Response *resp;
                const S3Request *req;
        } *ctx = ud;
        S3Response *r = ctx->resp;
        size_t len = size * n;
        char line[512];

        if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
                const char *sp = memchr(buf, ' ', len);
                r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
                r->have_length = false;
                r->length = 0;
                r->etag[0] = '\0';
                return len;
        }
        if (len >= sizeof(line))
                return len; /* no header we read is that long */
        memcpy(line, buf, len);
        line[len] = '\0';
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
                line[--len] = '\0';

        char *colon = strchr(line, ':');
        if (!colon)
                return size * n;
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
                v++;

        if (strcasecmp(line, "content-length") == 0) {
                char *end;
                errno = 0;
                unsigned long long x = strtoull(v, &end, 10);
                if (errno == 0 && end != v && *end == '\0') {
                        r->have_length = true;
                        r->length = x;
                }
                /* The limit, before the body: a larger object is refused
                 * without reading it (returning short aborts the transfer). */
                if (ctx->req->want_object && status_ok(r->status) && r->have_length &&
                    r->length > ctx->req->max_size) {
                        r->too_large = true;
                        return 0;
                }
        } else if (strcasecmp(line, "etag") == 0) {
                size_t vl = strlen(v);
                if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
                        v++;
                        vl -= 2;
                }
                if (vl <= STORAGE_ETAG_MAX) {
                        memcpy(r->etag, v, vl);
                        r->etag[vl] = '\0';
                }
        } else if (strcasecmp(line, "content-range") == 0) {
                /* "bytes 0-99/1234" (206), or a star then "/1234" (416) */
                const char *sl = strrchr(v, '/');
                char *end;
                errno = 0;
                unsigned long long x = sl ? strtoull(sl + 1, &end, 10) : 0;
                if (sl && errno == 0 && end != sl + 1 && *end == '\0') {
                        r->have_total = true;
                        r->total = x;
                }
        } else if (strcasecmp(line, "last-modified") == 0) {
                time_t t = curl_getdate(v, NULL);
                if (t > 0)
                        r->last_modified_ms = (int64_t) t * 1000;
        }
        return size * n;
}

static size_t on_body(char *buf, size_t size, size_t n, void *ud) {
        struct {
                S3Response *resp;
                const S3Request *req;
        } *ctx = ud;
        S3Response *r = ctx->resp;
        const S3Request *q = ctx->req;
        size_t len = size * n;

        if (status_ok(r->status) && q->want_object) {
                if ((uint64_t) r->size + len > q->max_size) {
                        r->too_large = true;
                        return 0;
                }
                if (r->size + len + 1 > r->cap) {
                        /* One allocation of the announced size (and its NUL);
                         * without a Content-Length, doubling up to the limit. */
                        size_t want = r->have_length && r->length >= r->size + len
                                              ? (size_t) r->length + 1
                                              : MAX_(r->cap * 2, r->size + len + 1);
                        want = MAX_(want, 4096);
                        if (want > q->max_size + 1)
                                want = (size_t) q->max_size + 1;
                        char *p = realloc(r->data, want);
                        if (!p)
                                return 0;
                        r->data = p;
                        r->cap = want;
                }
                memcpy(r->data + r->size, buf, len);
                r->size += len;
                return len;
        }
        /* An XML answer (2xx and wanted, or any error body). */
        if (!status_ok(r->status)) {
                if (r->error_bytes + len > S3_ERROR_BODY_MAX)
                        return len; /* drop the rest; the status says enough */
                r->error_bytes += len;
        } else if (!q->want_xml)
                return len;
        if (!r->xml_bad && s3_xml_feed(&r->xml, buf, len, false) < 0)
                r->xml_bad = true;
        return len;
}

static bool code_is(const S3Response *r, const char *code) {
        return r->xml.kind == S3_XML_ERROR && streq_ptr(r->xml.code, code);
}

static bool retryable(CURLcode cc, const S3Response *r) {
        if (cc != CURLE_OK)
                switch (cc) {
                case CURLE_COULDNT_RESOLVE_HOST:
                case CURLE_COULDNT_CONNECT:
                case CURLE_OPERATION_TIMEDOUT:
                case CURLE_SEND_ERROR:
                case CURLE_RECV_ERROR:
                case CURLE_GOT_NOTHING:
                case CURLE_PARTIAL_FILE:
                case CURLE_HTTP2:
                case CURLE_HTTP2_STREAM:
                case CURLE_SSL_CONNECT_ERROR:
                        return true;
                case CURLE_WRITE_ERROR:
                        return !r->too_large && r->status != 0 && !status_ok(r->status);
                default:
                        return false;
                }
        if (r->status >= 500 || r->status == 429)
                return true;
        return code_is(r, "SlowDown") || code_is(r, "RequestTimeout") || code_is(r, "InternalError") ||
               code_is(r, "ServiceUnavailable");
}

static void backoff_sleep(S3Client *c, unsigned attempt) {
        uint64_t cap = c->retry_base_ms, rnd = 0;
        struct timespec ts;

        for (unsigned i = 0; i < attempt && cap < c->retry_max_ms; i++)
                cap *= 2;
        cap = MIN_(cap, c->retry_max_ms);
        if (cap == 0)
                return;
        if (random_bytes(&rnd, sizeof rnd) < 0)
                rnd = (uint64_t) time(NULL);
        uint64_t ms = rnd % (cap + 1);
        ts.tv_sec = (time_t) (ms / 1000);
        ts.tv_nsec = (long) (ms % 1000) * 1000000L;
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* Performs q, with retries. Returns 0 when the request was answered (any
 * status: the caller reads resp), or < 0 when it could not be made or the
 * object was over its limit, with f filled. what/bucket/key name it in
 * causes. */
static int s3_perform(S3Client *c, const S3Request *q, S3Response *resp, const char *what,
                      const char *bucket, const char *key, size_t key_len, TaskFailure *f) {
        char md5_b64[32], sha_hex[HASH_HEX_MAX], errbuf[CURL_ERROR_SIZE];
        _cleanup_free_ char *h_md5 = NULL, *h_sha = NULL, *h_tok = NULL, *h_ct = NULL;
        struct curl_slist *headers = NULL, *t;
        CURLcode cc = CURLE_OK;
        CURL *h;
        int r = 0;
        struct {
                S3Response *resp;
                const S3Request *req;
        } ctx = {resp, q};

        if (q->body_len > 0) {
                hash_hex(HASH_SHA256, q->body, q->body_len, sha_hex);
                if (q->content_md5) {
                        uint8_t d[HASH_DIGEST_MAX];
                        size_t dn = hash_digest(HASH_MD5, q->body, q->body_len, d);
                        format_base64(d, dn, md5_b64);
                        if (asprintf(&h_md5, "Content-MD5: %s", md5_b64) < 0)
                                return -ENOMEM;
                }
        } else
                strcpy(sha_hex, S3_EMPTY_SHA256);
        if (asprintf(&h_sha, "x-amz-content-sha256: %s", sha_hex) < 0)
                return -ENOMEM;
        if (c->session_token && asprintf(&h_tok, "x-amz-security-token: %s", c->session_token) < 0)
                return -ENOMEM;
        if (asprintf(&h_ct, "Content-Type: %s", q->content_type ? q->content_type : "") < 0)
                return -ENOMEM;

        const char *hl[] = {
                h_sha, h_md5, h_tok, "Expect:", q->body || streq(q->method, "POST") ? h_ct : NULL, q->range};
        for (size_t i = 0; i < ELEMENTSOF(hl); i++) {
                if (!hl[i])
                        continue;
                t = curl_slist_append(headers, hl[i]);
                if (!t) {
                        curl_slist_free_all(headers);
                        return -ENOMEM;
                }
                headers = t;
        }

        h = pool_take(c);
        if (!h) {
                curl_slist_free_all(headers);
                return -ENOMEM;
        }

        for (unsigned attempt = 0;; attempt++) {
                response_reset(resp);
                r = s3_xml_init(&resp->xml);
                if (r < 0)
                        break;
                curl_easy_reset(h);
                errbuf[0] = '\0';
                curl_easy_setopt(h, CURLOPT_URL, q->url);
                curl_easy_setopt(h, CURLOPT_SHARE, c->share);
                curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
                curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
                curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
                curl_easy_setopt(h, CURLOPT_AWS_SIGV4, c->sigv4);
                curl_easy_setopt(h, CURLOPT_USERNAME, c->access_key_id);
                curl_easy_setopt(h, CURLOPT_PASSWORD, c->secret_access_key);
                curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
                curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
                curl_easy_setopt(h, CURLOPT_HEADERDATA, &ctx);
                curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
                curl_easy_setopt(h, CURLOPT_WRITEDATA, &ctx);
                curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
                curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long) c->timeout_ms);
                curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long) c->connect_timeout_ms);
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, c->verify_tls ? 1L : 0L);
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, c->verify_tls ? 2L : 0L);
                if (c->ca_file)
                        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
                if (streq(q->method, "HEAD"))
                        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
                else if (streq(q->method, "PUT") || streq(q->method, "POST")) {
                        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) q->body_len);
                        curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body ? q->body : "");
                        if (streq(q->method, "PUT"))
                                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
                } else if (!streq(q->method, "GET"))
                        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);

                cc = curl_easy_perform(h);
                if (cc == CURLE_OK && !resp->xml_bad &&
                    (resp->error_bytes > 0 || (q->want_xml && status_ok(resp->status))) &&
                    s3_xml_feed(&resp->xml, NULL, 0, true) < 0)
                        resp->xml_bad = true;

                if (resp->too_large) {
                        r = task_failure_set(
                                f, -EFBIG, "Storage.TooLarge", "%s/%.*s: %" PRIu64 " bytes, limit %" PRIu64,
                                bucket, (int) key_len, strempty(key),
                                resp->have_length ? resp->length : (uint64_t) resp->size + 1, q->max_size);
                        break;
                }
                if (!retryable(cc, resp) || attempt + 1 >= c->max_attempts)
                        break;
                backoff_sleep(c, attempt);
        }

        if (r >= 0 && cc != CURLE_OK)
                r = task_failure_set(f, -EIO, "Storage.IOError", "%s %s/%.*s: %s%s%s", what, bucket,
                                     (int) key_len, strempty(key), curl_easy_strerror(cc),
                                     errbuf[0] ? ": " : "", errbuf);
        if (r >= 0 && resp->data)
                resp->data[resp->size] = '\0';
        pool_give(c, h);
        curl_slist_free_all(headers);
        return r;
}

/* The Storage.* failure of an answer that is not a success. */
static int s3_fail(const S3Response *resp, const char *what, const char *bucket, const char *key,
                   size_t key_len, TaskFailure *f) {
        const char *code = resp->xml.kind == S3_XML_ERROR ? resp->xml.code : NULL;
        const char *msg = resp->xml.kind == S3_XML_ERROR ? resp->xml.message : NULL;
        const char *name = "Storage.IOError";
        int r = -EIO;

        if (streq_ptr(code, "NoSuchKey") || streq_ptr(code, "NoSuchBucket") ||
            streq_ptr(code, "NoSuchUpload") || (!code && resp->status == 404)) {
                name = "Storage.NotFound";
                r = -ENOENT;
        } else if (streq_ptr(code, "AccessDenied") || streq_ptr(code, "SignatureDoesNotMatch") ||
                   streq_ptr(code, "InvalidAccessKeyId") || streq_ptr(code, "InvalidToken") ||
                   streq_ptr(code, "ExpiredToken") || streq_ptr(code, "AllAccessDisabled") ||
                   streq_ptr(code, "AccountProblem") ||
                   /* versitygw's answer (404) to an access key it does not know,
                    * where S3 answers 403 InvalidAccessKeyId */
                   streq_ptr(code, "XAdminUserNotFound") ||
                   (!code && (resp->status == 403 || resp->status == 401))) {
                name = "Storage.AccessDenied";
                r = -EACCES;
        } else if (streq_ptr(code, "KeyTooLongError")) {
                name = "Storage.InvalidKey";
                r = -EINVAL;
        } else if (streq_ptr(code, "EntityTooLarge")) {
                name = "Storage.TooLarge";
                r = -EFBIG;
        }
        if (code)
                return task_failure_set(f, r, name, "%s %s/%.*s: %s (HTTP %ld): %s", what, bucket,
                                        (int) key_len, strempty(key), code, resp->status, strempty(msg));
        return task_failure_set(f, r, name, "%s %s/%.*s: HTTP %ld", what, bucket, (int) key_len,
                                strempty(key), resp->status);
}

/* ---- operations ---------------------------------------------------------- */

int s3_head(S3Client *c, const char *bucket, const char *key, size_t key_len, StorageObjectInfo *ret,
            TaskFailure *f) {
        _cleanup_free_ char *url = url_build(c, bucket, key, key_len, NULL, 0);
        S3Response resp = {};
        int r;

        if (!url)
                return -ENOMEM;
        r = s3_perform(c, &(S3Request){.method = "HEAD", .url = url}, &resp, "HeadObject", bucket, key,
                       key_len, f);
        if (r >= 0 && !status_ok(resp.status))
                r = s3_fail(&resp, "HeadObject", bucket, key, key_len, f);
        if (r >= 0) {
                *ret = (StorageObjectInfo){.size = resp.length, .mtime_ms = resp.last_modified_ms};
                memcpy(ret->etag, resp.etag, sizeof ret->etag);
        }
        response_reset(&resp);
        return r;
}

/* Hands out the body of an object (an empty one too) as a NUL-terminated
 * buffer. */
static int take_body(S3Response *resp, void **ret_data, size_t *ret_size) {
        if (!resp->data) {
                resp->data = malloc(1);
                if (!resp->data)
                        return -ENOMEM;
                resp->data[0] = '\0';
        }
        *ret_data = TAKE_PTR(resp->data);
        *ret_size = resp->size;
        return 0;
}

int s3_get(S3Client *c, const char *bucket, const char *key, size_t key_len, uint64_t max_size,
           void **ret_data, size_t *ret_size, TaskFailure *f) {
        _cleanup_free_ char *url = url_build(c, bucket, key, key_len, NULL, 0);
        S3Response resp = {};
        int r;

        if (!url)
                return -ENOMEM;
        r = s3_perform(c,
                       &(S3Request){.method = "GET", .url = url, .want_object = true, .max_size = max_size},
                       &resp, "GetObject", bucket, key, key_len, f);
        if (r >= 0 && !status_ok(resp.status))
                r = s3_fail(&resp, "GetObject", bucket, key, key_len, f);
        if (r >= 0 && resp.have_length && resp.length != resp.size)
                r = task_failure_set(f, -EIO, "Storage.IOError",
                                     "GetObject %s/%.*s: %zu of %" PRIu64 " bytes", bucket, (int) key_len,
                                     key, resp.size, resp.length);
        if (r >= 0)
                r = take_body(&resp, ret_data, ret_size);
        response_reset(&resp);
        return r;
}

int s3_get_range(S3Client *c, const char *bucket, const char *key, size_t key_len, uint64_t offset,
                 size_t length, void **ret_data, size_t *ret_size, uint64_t *ret_object_size,
                 TaskFailure *f) {
        _cleanup_free_ char *url = url_build(c, bucket, key, key_len, NULL, 0), *range = NULL;
        S3Response resp = {};
        int r;

        if (!url)
                return -ENOMEM;
        if (length == 0 || offset > UINT64_MAX - length)
                return task_failure_set(f, -EINVAL, "Storage.IOError", "GetObject %s/%.*s: empty byte range",
                                        bucket, (int) key_len, key);
        if (asprintf(&range, "Range: bytes=%" PRIu64 "-%" PRIu64, offset, offset + length - 1) < 0)
                return -ENOMEM;
        r = s3_perform(c,
                       &(S3Request){.method = "GET",
                                    .url = url,
                                    .want_object = true,
                                    .max_size = length,
                                    .range = range},
                       &resp, "GetObject", bucket, key, key_len, f);
        if (r >= 0 && resp.have_length && resp.length != resp.size && status_ok(resp.status))
                r = task_failure_set(f, -EIO, "Storage.IOError",
                                     "GetObject %s/%.*s: %zu of %" PRIu64 " bytes", bucket, (int) key_len,
                                     key, resp.size, resp.length);
        if (r >= 0 && resp.status == 416) {
                /* InvalidRange: the offset is at or past the end (its
                 * Content-Range may tell the size). */
                bool have_total = resp.have_total;
                uint64_t total = resp.total;
                response_reset(&resp);
                resp.have_total = have_total;
                resp.total = total;
        } else if (r >= 0 && resp.status == 200) {
                /* The whole object, within length bytes (an empty object, or
                 * a service that ignores Range): keep the asked part. */
                size_t skip = offset < resp.size ? (size_t) offset : resp.size;
                if (resp.data)
                        memmove(resp.data, resp.data + skip, resp.size - skip + 1);
                resp.have_total = true;
                resp.total = resp.size;
                resp.size -= skip;
        } else if (r >= 0 && resp.status != 206)
                r = s3_fail(&resp, "GetObject", bucket, key, key_len, f);
        if (r >= 0 && ret_object_size && !resp.have_total) {
                /* Past the end: HeadObject tells the size. */
                StorageObjectInfo info;
                r = s3_head(c, bucket, key, key_len, &info, f);
                if (r >= 0)
                        resp.total = info.size;
        }
        if (r >= 0)
                r = take_body(&resp, ret_data, ret_size);
        if (r >= 0 && ret_object_size)
                *ret_object_size = resp.total;
        response_reset(&resp);
        return r;
}

static int put_single(S3Client *c, const char *bucket, const char *key, size_t key_len, const void *data,
                      size_t size, TaskFailure *f) {
        _cleanup_free_ char *url = url_build(c, bucket, key, key_len, NULL, 0);
        S3Response resp = {};
        int r;

        if (!url)
                return -ENOMEM;
        r = s3_perform(c,
                       &(S3Request){.method = "PUT",
                                    .url = url,
                                    .body = data,
                                    .body_len = size,
                                    .content_type = "application/octet-stream",
                                    .content_md5 = true},
                       &resp, "PutObject", bucket, key, key_len, f);
        if (r >= 0 && !status_ok(resp.status))
                r = s3_fail(&resp, "PutObject", bucket, key, key_len, f);
        response_reset(&resp);
        return r;
}

static void abort_upload(S3Client *c, const char *bucket, const char *key, size_t key_len,
                         const char *upload_id) {
        const S3Param p[] = {{"uploadId", upload_id}};
        _cleanup_free_ char *url = url_build(c, bucket, key, key_len, p, ELEMENTSOF(p));
        S3Response resp = {};

        if (url)
                (void) s3_perform(c, &(S3Request){.method = "DELETE", .url = url}, &resp,
                                  "AbortMultipartUpload", bucket, key, key_len, NULL);
        response_reset(&resp);
}

static int put_multipart(S3Client *c, const char *bucket, const char *key, size_t key_len, const void *data,
                         size_t size, TaskFailure *f) {
        _cleanup_free_ char *url = NULL, *upload_id = NULL, *complete = NULL;
        size_t n_parts = (size + c->part_size - 1) / c->part_size, complete_len = 0;
        char(*etags)[STORAGE_ETAG_MAX + 1] = NULL;
        S3Response resp = {};
        FILE *out;
        int r;

        if (n_parts > S3_MAX_PARTS)
                return task_failure_set(f, -EFBIG, "Storage.TooLarge",
                                        "PutObject %s/%.*s: %zu bytes need more than %d parts of %" PRIu64,
                                        bucket, (int) key_len, key, size, S3_MAX_PARTS, c->part_size);

        const S3Param pi[] = {{"uploads", ""}};
        url = url_build(c, bucket, key, key_len, pi, ELEMENTSOF(pi));
        if (!url)
                return -ENOMEM;
        r = s3_perform(c,
                       &(S3Request){.method = "POST",
                                    .url = url,
                                    .content_type = "application/octet-stream",
                                    .want_xml = true},
                       &resp, "CreateMultipartUpload", bucket, key, key_len, f);
        if (r >= 0 && !status_ok(resp.status))
                r = s3_fail(&resp, "CreateMultipartUpload", bucket, key, key_len, f);
        if (r >= 0 && (resp.xml_bad || resp.xml.kind != S3_XML_INITIATE || isempty(resp.xml.upload_id)))
                r = task_failure_set(f, -EIO, "Storage.IOError",
                                     "CreateMultipartUpload %s/%.*s: no UploadId", bucket, (int) key_len,
                                     key);
        if (r >= 0)
                upload_id = TAKE_PTR(resp.xml.upload_id);
        response_reset(&resp);
        if (r < 0)
                return r;

        etags = calloc(n_parts, sizeof(*etags));
        if (!etags) {
                r = -ENOMEM;
                goto abort;
        }
        for (size_t i = 0; i < n_parts; i++) {
                char num[16];
                size_t off = i * c->part_size, len = MIN_(size - off, (size_t) c->part_size);
                _cleanup_free_ char *purl = NULL;

                snprintf(num, sizeof num, "%zu", i + 1);
                const S3Param pp[] = {{"partNumber", num}, {"uploadId", upload_id}};
                purl = url_build(c, bucket, key, key_len, pp, ELEMENTSOF(pp));
                if (!purl) {
                        r = -ENOMEM;
                        goto abort;
                }
                r = s3_perform(c,
                               &(S3Request){.method = "PUT",
                                            .url = purl,
                                            .body = (const char *) data + off,
                                            .body_len = len,
                                            .content_type = "application/octet-stream",
                                            .content_md5 = true},
                               &resp, "UploadPart", bucket, key, key_len, f);
                if (r >= 0 && !status_ok(resp.status))
                        r = s3_fail(&resp, "UploadPart", bucket, key, key_len, f);
                if (r >= 0 && !resp.etag[0])
                        r = task_failure_set(f, -EIO, "Storage.IOError", "UploadPart %s/%.*s: no ETag",
                                             bucket, (int) key_len, key);
                if (r >= 0)
                        memcpy(etags[i], resp.etag, sizeof etags[i]);
                response_reset(&resp);
                if (r < 0)
                        goto abort;
        }

        out = open_memstream(&complete, &complete_len);
        if (!out) {
                r = -ENOMEM;
                goto abort;
        }
        fputs("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">", out);
        for (size_t i = 0; i < n_parts; i++)
                fprintf(out, "<Part><PartNumber>%zu</PartNumber><ETag>\"%s\"</ETag></Part>", i + 1,
                        etags[i]);
        fputs("</CompleteMultipartUpload>", out);
        if (fclose(out) != 0) {
                r = -ENOMEM;
                goto abort;
        }
        {
                const S3Param pc[] = {{"uploadId", upload_id}};
                _cleanup_free_ char *curl_url = url_build(c, bucket, key, key_len, pc, ELEMENTSOF(pc));
                if (!curl_url) {
                        r = -ENOMEM;
                        goto abort;
                }
                r = s3_perform(c,
                               &(S3Request){.method = "POST",
                                            .url = curl_url,
                                            .body = complete,
                                            .body_len = complete_len,
                                            .content_type = "application/xml",
                                            .want_xml = true},
                               &resp, "CompleteMultipartUpload", bucket, key, key_len, f);
        }
        /* S3 may answer 200 and put an <Error> in the body. */
        if (r >= 0 && (!status_ok(resp.status) || resp.xml.kind == S3_XML_ERROR))
                r = s3_fail(&resp, "CompleteMultipartUpload", bucket, key, key_len, f);
        else if (r >= 0 && (resp.xml_bad || resp.xml.kind != S3_XML_COMPLETE))
                r = task_failure_set(f, -EIO, "Storage.IOError",
                                     "CompleteMultipartUpload %s/%.*s: malformed answer", bucket,
                                     (int) key_len, key);
        response_reset(&resp);
        if (r >= 0) {
                free(etags);
                return 0;
        }
abort:
        free(etags);
        abort_upload(c, bucket, key, key_len, upload_id);
        return r;
}

int s3_put(S3Client *c, const char *bucket, const char *key, size_t key_len, const void *data, size_t size,
           TaskFailure *f) {
        if (size > c->multipart_threshold)
                return put_multipart(c, bucket, key, key_len, data, size, f);
        return put_single(c, bucket, key, key_len, data, size, f);
}

int s3_list_page(S3Client *c, const char *bucket, const char *prefix, const char *start_after,
                 const char *token, unsigned max_keys, S3Xml *x, TaskFailure *f) {
        char mk[16];
        S3Response resp = {};
        int r;

        snprintf(mk, sizeof mk, "%u", max_keys);
        /* Sorted by name (the canonical query of SigV4). */
        const S3Param p[] = {
                {"continuation-token", token},
                {"list-type", "2"},
                {"max-keys", mk},
                {"prefix", isempty(prefix) ? NULL : prefix},
                {"start-after", isempty(start_after) || token ? NULL : start_after},
        };
        _cleanup_free_ char *url = url_build(c, bucket, NULL, 0, p, ELEMENTSOF(p));
        if (!url)
                return -ENOMEM;
        r = s3_perform(c, &(S3Request){.method = "GET", .url = url, .want_xml = true}, &resp,
                       "ListObjectsV2", bucket, NULL, 0, f);
        if (r >= 0 && !status_ok(resp.status))
                r = s3_fail(&resp, "ListObjectsV2", bucket, NULL, 0, f);
        else if (r >= 0 && (resp.xml_bad || resp.xml.kind != S3_XML_LIST))
                r = task_failure_set(f, -EIO, "Storage.IOError", "ListObjectsV2 %s: malformed answer",
                                     bucket);
        else if (r >= 0 && resp.xml.truncated && isempty(resp.xml.next_token))
                r = task_failure_set(f, -EIO, "Storage.IOError",
                                     "ListObjectsV2 %s: truncated without a continuation token", bucket);
        if (r >= 0) {
                *x = resp.xml;
                resp.xml = (S3Xml){};
        }
        response_reset(&resp);
        return r;
}
