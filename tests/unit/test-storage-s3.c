/* SPDX-License-Identifier: MIT */

/*
 * Tests of S3 buckets (worker/storage-s3.c) against a real S3-protocol server
 * that verifies signatures (versitygw, started by with-s3-server.sh), some
 * through a small loopback proxy of this file that relays requests and can
 * answer the next ones with a fault instead (503 SlowDown, 500
 * InternalError, any S3 error code and status), corrupt a request body,
 * announce a huge body it never sends, and counts connections and requests.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "macro.h"
#include "storage.h"
#include "test.h"

static const char *env_or_skip(const char *name) {
        const char *v = getenv(name);
        if (!v || !*v) {
                fprintf(stderr, "SKIP: %s is not set (run through tests/unit/with-s3-server.sh)\n", name);
                exit(77);
        }
        return v;
}

static void options(StorageS3Options *o, const char *endpoint) {
        storage_s3_options_init(o);
        o->endpoint = endpoint;
        o->path_style = true;
        o->access_key_id = env_or_skip("IMGFLOW_TEST_S3_ACCESS_KEY_ID");
        o->secret_access_key = env_or_skip("IMGFLOW_TEST_S3_SECRET_ACCESS_KEY");
        o->retry_base_ms = 5;
        o->retry_max_ms = 20;
        o->timeout_ms = 10000;
}

static Storage *s3_storage(const char *endpoint, void (*tweak)(StorageS3Options *)) {
        StorageS3Options o;
        Storage *s = NULL;
        char *err = NULL;

        options(&o, endpoint);
        if (tweak)
                tweak(&o);
        ASSERT_INT_EQ(storage_new(&s), 0);
        int r = storage_add_s3_bucket(s, "photos", "imgflow-test", &o, &err);
        if (r < 0)
                fprintf(stderr, "  storage_add_s3_bucket: %s\n", err ? err : "?");
        free(err);
        ASSERT_INT_EQ(r, 0);
        return s;
}

static Storage *direct(void) {
        return s3_storage(env_or_skip("IMGFLOW_TEST_S3_ENDPOINT"), NULL);
}

static char *server_path(const char *key) {
        char *p = NULL;
        ASSERT_TRUE(asprintf(&p, "%s/imgflow-test/%s", env_or_skip("IMGFLOW_TEST_S3_DIR"), key) > 0);
        return p;
}

/* ---- the fault proxy ------------------------------------------------------ */

typedef enum FaultKind {
        FAULT_NONE,
        FAULT_SLOWDOWN,    /* 503 SlowDown */
        FAULT_INTERNAL,    /* 500 InternalError */
        FAULT_CORRUPT,     /* flip a byte of the request body, then relay */
        FAULT_HUGE_LENGTH, /* 200 with Content-Length 10^10 and no body */
        FAULT_ERROR,       /* error_status with error_code (none when NULL) */
} FaultKind;

typedef struct Proxy {
        int listen_fd;
        uint16_t port, upstream_port;
        char endpoint[64];
        pthread_t thread;
        atomic_int faults_left;
        atomic_int fault_kind;
        atomic_int connections, requests, list_requests;
        atomic_bool stop;
        /* FAULT_ERROR's answer, set before proxy_fault(). */
        int error_status;
        const char *error_code;
} Proxy;

static int connect_port(uint16_t port) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || connect(fd, (struct sockaddr *) &a, sizeof a) < 0) {
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        return fd;
}

static bool write_all(int fd, const void *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k <= 0)
                        return false;
                p = (const char *) p + k;
                n -= (size_t) k;
        }
        return true;
}

/* Reads one HTTP message (head + Content-Length body) from fd into *buf.
 * head_only_body: the body is not there (the answer to a HEAD). Returns the
 * message length, 0 on EOF, -1 on error. */
static ssize_t read_message(int fd, char **buf, size_t *cap, bool head_only_body, size_t *ret_head_len) {
        size_t have = 0, head_len = 0, body_len = 0;

        for (;;) {
                if (have + 65536 > *cap) {
                        *cap = (have + 65536) * 2;
                        *buf = realloc(*buf, *cap);
                }
                if (head_len == 0) {
                        char *e = have >= 4 ? memmem(*buf, have, "\r\n\r\n", 4) : NULL;
                        if (e) {
                                head_len = (size_t) (e - *buf) + 4;
                                const char *cl = NULL;
                                for (char *p = *buf; p < *buf + head_len; p = strchr(p, '\n') + 1) {
                                        if (strncasecmp(p, "content-length:", 15) == 0)
                                                cl = p + 15;
                                }
                                body_len = cl && !head_only_body ? strtoull(cl, NULL, 10) : 0;
                                if (*cap < head_len + body_len + 1) {
                                        *cap = head_len + body_len + 1;
                                        *buf = realloc(*buf, *cap);
                                }
                        }
                }
                if (head_len && have >= head_len + body_len) {
                        *ret_head_len = head_len;
                        return (ssize_t) (head_len + body_len);
                }
                ssize_t k = read(fd, *buf + have, *cap - have - 1);
                if (k == 0 && have == 0)
                        return 0;
                if (k <= 0)
                        return -1;
                have += (size_t) k;
        }
}

static void *proxy_conn(void *arg) {
        Proxy *p = ((void **) arg)[0];
        int fd = (int) (intptr_t) ((void **) arg)[1];
        char *req = NULL, *resp = NULL;
        size_t req_cap = 0, resp_cap = 0, hl;
        int up = -1;

        free(arg);
        for (;;) {
                ssize_t n = read_message(fd, &req, &req_cap, false, &hl);
                if (n <= 0)
                        break;
                atomic_fetch_add(&p->requests, 1);
                if (memmem(req, hl, "list-type=2", 11))
                        atomic_fetch_add(&p->list_requests, 1);

                FaultKind kind = FAULT_NONE;
                if (atomic_load(&p->faults_left) > 0) {
                        atomic_fetch_sub(&p->faults_left, 1);
                        kind = (FaultKind) atomic_load(&p->fault_kind);
                }
                if (kind == FAULT_SLOWDOWN || kind == FAULT_INTERNAL || kind == FAULT_ERROR) {
                        const char *code = kind == FAULT_SLOWDOWN   ? "SlowDown"
                                           : kind == FAULT_INTERNAL ? "InternalError"
                                                                    : p->error_code;
                        int status = kind == FAULT_SLOWDOWN   ? 503
                                     : kind == FAULT_INTERNAL ? 500
                                                              : p->error_status;
                        char body[256] = "", head[256];
                        int bl =
                                code ? snprintf(
                                               body, sizeof body,
                                               "<?xml version=\"1.0\" "
                                               "encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
                                               "<Message>injected</Message><RequestId>1</RequestId></Error>",
                                               code)
                                     : 0;
                        int hl2 = snprintf(head, sizeof head,
                                           "HTTP/1.1 %d Injected\r\nContent-Type: "
                                           "application/xml\r\nContent-Length: %d\r\n\r\n",
                                           status, bl);
                        if (!write_all(fd, head, (size_t) hl2) ||
                            (strncmp(req, "HEAD ", 5) != 0 && !write_all(fd, body, (size_t) bl)))
                                break;
                        continue;
                }
                if (kind == FAULT_HUGE_LENGTH) {
                        const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 10000000000\r\n\r\n";
                        write_all(fd, head, strlen(head));
                        sleep(3); /* no body: a client waiting for it hangs */
                        break;
                }
                if (kind == FAULT_CORRUPT && (size_t) n > hl)
                        req[n - 1] ^= 0x01;
                if (up < 0)
                        up = connect_port(p->upstream_port);
                if (up < 0 || !write_all(up, req, (size_t) n))
                        break;
                ssize_t m = read_message(up, &resp, &resp_cap, strncmp(req, "HEAD ", 5) == 0, &hl);
                if (m <= 0 || !write_all(fd, resp, (size_t) m))
                        break;
        }
        if (up >= 0)
                close(up);
        close(fd);
        free(req);
        free(resp);
        return NULL;
}

static void *proxy_main(void *arg) {
        Proxy *p = arg;

        while (!atomic_load(&p->stop)) {
                int fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                        continue;
                if (atomic_load(&p->stop)) {
                        close(fd);
                        break;
                }
                atomic_fetch_add(&p->connections, 1);
                void **arg2 = malloc(2 * sizeof(void *));
                arg2[0] = p;
                arg2[1] = (void *) (intptr_t) fd;
                pthread_t t;
                pthread_create(&t, NULL, proxy_conn, arg2);
                pthread_detach(t);
        }
        return NULL;
}

static void proxy_start(Proxy *p) {
        struct sockaddr_in a = {.sin_family = AF_INET};
        socklen_t al = sizeof a;
        const char *up = env_or_skip("IMGFLOW_TEST_S3_ENDPOINT");

        *p = (Proxy){};
        p->upstream_port = (uint16_t) atoi(strrchr(up, ':') + 1);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_TRUE(p->listen_fd >= 0);
        ASSERT_INT_EQ(bind(p->listen_fd, (struct sockaddr *) &a, sizeof a), 0);
        ASSERT_INT_EQ(listen(p->listen_fd, 64), 0);
        ASSERT_INT_EQ(getsockname(p->listen_fd, (struct sockaddr *) &a, &al), 0);
        p->port = ntohs(a.sin_port);
        snprintf(p->endpoint, sizeof p->endpoint, "http://127.0.0.1:%u", p->port);
        ASSERT_INT_EQ(pthread_create(&p->thread, NULL, proxy_main, p), 0);
}

static void proxy_stop(Proxy *p) {
        atomic_store(&p->stop, true);
        int fd = connect_port(p->port); /* wake accept() */
        if (fd >= 0)
                close(fd);
        pthread_join(p->thread, NULL);
        close(p->listen_fd);
}

static void proxy_fault(Proxy *p, FaultKind kind, int n) {
        atomic_store(&p->fault_kind, (int) kind);
        atomic_store(&p->faults_left, n);
}

/* ---- tests ---------------------------------------------------------------- */

static void put_ok(Storage *s, const char *key, const void *data, size_t n) {
        TaskFailure f = TASK_FAILURE_NULL;
        int r = storage_write_atomic(s, "photos", key, data, n, NULL, &f);
        if (r < 0)
                fprintf(stderr, "  put %s: %s: %s\n", key, strempty(f.error), strempty(f.cause));
        ASSERT_INT_EQ(r, 0);
        task_failure_clear(&f);
}

static void expect_error(int r, TaskFailure *f, const char *error, const char *in_cause) {
        if (r >= 0 || !streq_ptr(f->error, error) ||
            (in_cause && (!f->cause || !strstr(f->cause, in_cause))))
                fprintf(stderr, "  r=%d error=%s cause=%s (want %s, \"%s\")\n", r, strempty(f->error),
                        strempty(f->cause), error, strempty(in_cause));
        ASSERT_TRUE(r < 0);
        ASSERT_STR_EQ(f->error, error);
        if (in_cause)
                ASSERT_NOT_NULL(strstr(f->cause, in_cause));
        task_failure_clear(f);
}

TEST(put_get_head_roundtrip) {
        _cleanup_storage_ Storage *s = direct();
        TaskFailure f = TASK_FAILURE_NULL;
        StorageObjectInfo info;
        StorageObject obj = {};
        char md5[HASH_HEX_MAX];
        const char *body = "not really a jpeg";
        _cleanup_free_ char *path = server_path("raw/round.jpg");
        char on_disk[64] = "";

        put_ok(s, "raw/round.jpg", body, strlen(body));
        /* The server stored exactly these bytes. */
        FILE *fp = fopen(path, "r");
        ASSERT_NOT_NULL(fp);
        ASSERT_INT_EQ(fread(on_disk, 1, sizeof on_disk - 1, fp), strlen(body));
        fclose(fp);
        ASSERT_STR_EQ(on_disk, body);

        ASSERT_INT_EQ(storage_head(s, "photos", "raw/round.jpg", 13, &info, &f), 0);
        ASSERT_INT_EQ(info.size, strlen(body));
        hash_hex(HASH_MD5, body, strlen(body), md5);
        ASSERT_STR_EQ(info.etag, md5);
        ASSERT_TRUE(info.mtime_ms > 0);

        ASSERT_INT_EQ(storage_fetch(s, "photos", "raw/round.jpg", 13, 1000, &obj, &f), 0);
        ASSERT_NULL(obj.path);
        ASSERT_INT_EQ(obj.size, strlen(body));
        ASSERT_TRUE(memcmp(obj.data, body, obj.size) == 0);
        storage_object_done(&obj);

        /* A retried write overwrites. */
        put_ok(s, "raw/round.jpg", "v2", 2);
        void *data = NULL;
        size_t size = 0;
        ASSERT_INT_EQ(storage_read(s, "photos", "raw/round.jpg", 1000, &data, &size, &f), 0);
        ASSERT_INT_EQ(size, 2);
        ASSERT_STR_EQ(data, "v2");
        free(data);
}

TEST(keys_are_encoded_once) {
        _cleanup_storage_ Storage *s = direct();
        _cleanup_storage_list_ StorageList *l = NULL;
        TaskFailure f = TASK_FAILURE_NULL;
        const char *key = "odd/a b+c%41~d&e=f\xc3\xa9;(1).jpg";
        StorageEntry e;
        void *data = NULL;
        size_t size;

        put_ok(s, key, "x", 1);
        ASSERT_INT_EQ(storage_read(s, "photos", key, 10, &data, &size, &f), 0);
        free(data);
        ASSERT_INT_EQ(storage_list_new(s, "photos", "odd/", NULL, &l, &f), 0);
        ASSERT_INT_EQ(storage_list_next(l, &e, &f), 1);
        ASSERT_STR_EQ(e.key, key);
        ASSERT_INT_EQ(storage_list_next(l, &e, &f), 0);
}

static void wrong_secret(StorageS3Options *o) {
        o->secret_access_key = "not-the-secret";
}

static void unknown_key(StorageS3Options *o) {
        o->access_key_id = "AKIANOSUCHKEY0000000";
}

TEST(signatures_are_verified) {
        _cleanup_storage_ Storage *good = direct();
        _cleanup_storage_ Storage *bad = s3_storage(env_or_skip("IMGFLOW_TEST_S3_ENDPOINT"), wrong_secret);
        TaskFailure f = TASK_FAILURE_NULL;
        StorageObjectInfo info;
        void *data = NULL;
        size_t size;

        put_ok(good, "sig/ok.jpg", "x", 1);
        expect_error(storage_read(bad, "photos", "sig/ok.jpg", 10, &data, &size, &f), &f,
                     "Storage.AccessDenied", "SignatureDoesNotMatch");
        expect_error(storage_write_atomic(bad, "photos", "sig/new.jpg", "y", 1, NULL, &f), &f,
                     "Storage.AccessDenied", "SignatureDoesNotMatch");
        /* An access key the server does not know (S3: 403
         * InvalidAccessKeyId; versitygw: 404 XAdminUserNotFound), not a
         * missing object. */
        _cleanup_storage_ Storage *unknown =
                s3_storage(env_or_skip("IMGFLOW_TEST_S3_ENDPOINT"), unknown_key);
        expect_error(storage_read(unknown, "photos", "sig/ok.jpg", 10, &data, &size, &f), &f,
                     "Storage.AccessDenied", NULL);
        /* HEAD has no body to carry the code: the status names it. */
        expect_error(storage_head(bad, "photos", "sig/ok.jpg", 10, &info, &f), &f, "Storage.AccessDenied",
                     "403");
}

static void with_token(StorageS3Options *o) {
        o->session_token = "FQoGZXIvYXdzEXAMPLETOKEN";
}

TEST(session_token_is_sent) {
        _cleanup_storage_ Storage *s = s3_storage(env_or_skip("IMGFLOW_TEST_S3_ENDPOINT"), with_token);
        TaskFailure f = TASK_FAILURE_NULL;
        void *data = NULL;
        size_t size;

        /* The server knows no temporary credentials: it refuses the token
         * it was sent (and the signature over it held). */
        expect_error(storage_read(s, "photos", "sig/ok.jpg", 10, &data, &size, &f), &f,
                     "Storage.AccessDenied", "InvalidToken");
}

TEST(errors_are_named) {
        _cleanup_storage_ Storage *s = direct();
        TaskFailure f = TASK_FAILURE_NULL;
        StorageObjectInfo info;
        StorageObject obj = {};
        StorageS3Options o;
        char key[STORAGE_KEY_MAX + 2];
        void *data = NULL;
        size_t size;

        expect_error(storage_fetch(s, "photos", "no/such.jpg", 11, 100, &obj, &f), &f, "Storage.NotFound",
                     "NoSuchKey");
        expect_error(storage_head(s, "photos", "no/such.jpg", 11, &info, &f), &f, "Storage.NotFound", NULL);
        expect_error(storage_read(s, "nosuchbucket", "a", 10, &data, &size, &f), &f, "Storage.NotFound",
                     "no such bucket");

        /* A bucket the configuration names but the service does not have. */
        options(&o, env_or_skip("IMGFLOW_TEST_S3_ENDPOINT"));
        ASSERT_INT_EQ(storage_add_s3_bucket(s, "gone", "imgflow-gone", &o, NULL), 0);
        expect_error(storage_read(s, "gone", "a", 10, &data, &size, &f), &f, "Storage.NotFound",
                     "NoSuchBucket");

        /* Keys: S3's limit of 1,024 bytes, no NUL; no request is made. */
        /* Components of 200 bytes: the server stores objects as files. */
        memset(key, 'k', sizeof key);
        for (size_t i = 200; i < sizeof key; i += 201)
                key[i] = '/';
        key[STORAGE_KEY_MAX + 1] = '\0';
        expect_error(storage_write_atomic(s, "photos", key, "x", 1, NULL, &f), &f, "Storage.InvalidKey",
                     "1024");
        key[STORAGE_KEY_MAX] = '\0';
        put_ok(s, key, "x", 1);
        expect_error(storage_fetch(s, "photos", "a\0b", 3, 10, &obj, &f), &f, "Storage.InvalidKey", "NUL");

        /* Over the byte limit. */
        put_ok(s, "big/100.bin",
               "01234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901"
               "23456789",
               100);
        expect_error(storage_fetch(s, "photos", "big/100.bin", 11, 99, &obj, &f), &f, "Storage.TooLarge",
                     "100 bytes, limit 99");
        ASSERT_INT_EQ(storage_fetch(s, "photos", "big/100.bin", 11, 100, &obj, &f), 0);
        storage_object_done(&obj);
}

/* Every S3 error code that storage-s3.c names, as the service would answer
 * it (through the proxy), and what the caller sees: the Storage.* name, the
 * code in the cause, one request (none of them is retried). */
TEST(each_s3_error_has_its_storage_name) {
        static const struct {
                int status;
                const char *code; /* NULL: no body (as the answer to a HEAD) */
                const char *error;
        } cases[] = {
                {404, "NoSuchKey", "Storage.NotFound"},
                {404, "NoSuchBucket", "Storage.NotFound"},
                {404, "NoSuchUpload", "Storage.NotFound"},
                {404, NULL, "Storage.NotFound"},
                {403, "AccessDenied", "Storage.AccessDenied"},
                {403, "SignatureDoesNotMatch", "Storage.AccessDenied"},
                {403, "InvalidAccessKeyId", "Storage.AccessDenied"},
                {400, "InvalidToken", "Storage.AccessDenied"},
                {400, "ExpiredToken", "Storage.AccessDenied"},
                {403, "AllAccessDisabled", "Storage.AccessDenied"},
                {403, "AccountProblem", "Storage.AccessDenied"},
                {404, "XAdminUserNotFound", "Storage.AccessDenied"},
                {403, NULL, "Storage.AccessDenied"},
                {401, NULL, "Storage.AccessDenied"},
                {400, "KeyTooLongError", "Storage.InvalidKey"},
                {400, "EntityTooLarge", "Storage.TooLarge"},
                {400, "InvalidArgument", "Storage.IOError"},
                {400, "BadDigest", "Storage.IOError"},
                {409, "InvalidObjectState", "Storage.IOError"},
                {400, NULL, "Storage.IOError"},
        };
        Proxy p;
        proxy_start(&p);
        _cleanup_storage_ Storage *s = s3_storage(p.endpoint, NULL);
        TaskFailure f = TASK_FAILURE_NULL;
        void *data = NULL;
        size_t size;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char status[16];
                snprintf(status, sizeof status, "HTTP %d", cases[i].status);
                p.error_status = cases[i].status;
                p.error_code = cases[i].code;
                /* A read and a write. */
                for (int write = 0; write <= 1; write++) {
                        int before = atomic_load(&p.requests);
                        proxy_fault(&p, FAULT_ERROR, 1);
                        int r = write ? storage_write_atomic(s, "photos", "err/a.jpg", "abc", 3, NULL, &f)
                                      : storage_read(s, "photos", "err/a.jpg", 10, &data, &size, &f);
                        expect_error(r, &f, cases[i].error, cases[i].code ? cases[i].code : status);
                        ASSERT_INT_EQ(atomic_load(&p.requests) - before, 1);
                }
        }
        proxy_stop(&p);
}

TEST(settings_are_checked) {
        _cleanup_storage_ Storage *s = NULL;
        StorageS3Options o;
        char *err = NULL;

        ASSERT_INT_EQ(storage_new(&s), 0);
        storage_s3_options_init(&o);
        o.endpoint = "http://127.0.0.1:1";
        ASSERT_INT_EQ(storage_add_s3_bucket(s, "a", NULL, &o, &err), -EINVAL);
        ASSERT_NOT_NULL(strstr(err, "credentials"));
        free(err);
        o.access_key_id = "AK";
        o.secret_access_key = "SK";
        o.endpoint = "ftp://example";
        ASSERT_INT_EQ(storage_add_s3_bucket(s, "a", NULL, &o, &err), -EINVAL);
        ASSERT_NOT_NULL(strstr(err, "http://"));
        free(err);
        o.endpoint = NULL;
        o.region = "us east";
        ASSERT_INT_EQ(storage_add_s3_bucket(s, "a", NULL, &o, &err), -EINVAL);
        ASSERT_NOT_NULL(strstr(err, "region"));
        free(err);
        o.region = "eu-west-1";
        o.part_size = 1024;
        ASSERT_INT_EQ(storage_add_s3_bucket(s, "a", NULL, &o, &err), -EINVAL);
        free(err);
        o.part_size = 5u << 20;
        ASSERT_INT_EQ(storage_add_s3_bucket(s, "a", "bad/name", &o, &err), -EINVAL);
        free(err);
        ASSERT_INT_EQ(storage_add_s3_bucket(s, "a", NULL, &o, NULL), 0);
        ASSERT_INT_EQ(storage_bucket_kind(s, "a"), STORAGE_S3);
        ASSERT_NULL(storage_bucket_root(s, "a"));
        ASSERT_INT_EQ(storage_add_s3_bucket(s, "a", NULL, &o, NULL), -EEXIST);
}

static void small_parts(StorageS3Options *o) {
        o->multipart_threshold = 6u << 20;
        o->part_size = 5u << 20;
}

TEST(multipart_above_threshold) {
        _cleanup_storage_ Storage *s = s3_storage(env_or_skip("IMGFLOW_TEST_S3_ENDPOINT"), small_parts);
        TaskFailure f = TASK_FAILURE_NULL;
        size_t n = (12u << 20) + 12345;
        _cleanup_free_ uint8_t *big = malloc(n);
        StorageObjectInfo info;
        void *data = NULL;
        size_t size = 0;

        for (size_t i = 0; i < n; i++)
                big[i] = (uint8_t) (i * 2654435761u >> 13);
        put_ok(s, "mp/big.bin", big, n);
        ASSERT_INT_EQ(storage_head(s, "photos", "mp/big.bin", 10, &info, &f), 0);
        ASSERT_INT_EQ(info.size, n);
        /* A multipart object's ETag ends in -<parts>. */
        ASSERT_NOT_NULL(strstr(info.etag, "-3"));
        ASSERT_INT_EQ(storage_read(s, "photos", "mp/big.bin", n, &data, &size, &f), 0);
        ASSERT_INT_EQ(size, n);
        ASSERT_TRUE(memcmp(data, big, n) == 0);
        free(data);

        /* At the threshold: one PutObject (an MD5 ETag, no part count). */
        put_ok(s, "mp/at.bin", big, 6u << 20);
        ASSERT_INT_EQ(storage_head(s, "photos", "mp/at.bin", 9, &info, &f), 0);
        ASSERT_NULL(strchr(info.etag, '-'));
}

TEST(listing_pages_with_continuation_tokens) {
        _cleanup_storage_ Storage *plain = direct();
        Proxy p;
        proxy_start(&p);
        _cleanup_storage_ Storage *s = s3_storage(p.endpoint, NULL);
        TaskFailure f = TASK_FAILURE_NULL;
        char key[64], last[64] = "";
        StorageEntry e;
        size_t n = 0;
        int r;

        for (int i = 0; i < 1203; i++) {
                snprintf(key, sizeof key, "list/%05d.jpg", i);
                put_ok(plain, key, "x", 1);
        }
        put_ok(plain, "listx/other.jpg", "x", 1);

        StorageList *l = NULL;
        ASSERT_INT_EQ(storage_list_new(s, "photos", "list/", NULL, &l, &f), 0);
        while ((r = storage_list_next(l, &e, &f)) > 0) {
                ASSERT_TRUE(strcmp(e.key, last) > 0);
                ASSERT_TRUE(strncmp(e.key, "list/", 5) == 0);
                ASSERT_INT_EQ(e.size, 1);
                snprintf(last, sizeof last, "%s", e.key);
                n++;
        }
        ASSERT_INT_EQ(r, 0);
        ASSERT_INT_EQ(n, 1203);
        ASSERT_STR_EQ(last, "list/01202.jpg");
        /* Two pages of at most 1,000 keys: two requests. */
        ASSERT_INT_EQ(atomic_load(&p.list_requests), 2);
        storage_list_free(l);

        /* start_after. */
        ASSERT_INT_EQ(storage_list_new(s, "photos", "list/", "list/01199.jpg", &l, &f), 0);
        ASSERT_INT_EQ(storage_list_next(l, &e, &f), 1);
        ASSERT_STR_EQ(e.key, "list/01200.jpg");
        storage_list_free(l);
        proxy_stop(&p);
}

static void expect_range(Storage *s, const char *key, uint64_t offset, size_t length, const char *want,
                         uint64_t want_total) {
        TaskFailure f = TASK_FAILURE_NULL;
        void *data = NULL;
        size_t size = 0;
        uint64_t total = 12345;
        int r = storage_read_range(s, "photos", key, strlen(key), offset, length, &data, &size, &total, &f);

        if (r < 0)
                fprintf(stderr, "  range %s %" PRIu64 "+%zu: %s: %s\n", key, offset, length,
                        strempty(f.error), strempty(f.cause));
        ASSERT_INT_EQ(r, 0);
        ASSERT_INT_EQ(size, strlen(want));
        ASSERT_STR_EQ((char *) data, want);
        ASSERT_INT_EQ(total, want_total);
        free(data);
}

/* Byte ranges (GetObject with Range: 206, 416 past the end) and the
 * listing's LastModified, as test-storage.c checks them on a directory. */
TEST(read_range_and_listing_times) {
        _cleanup_storage_ Storage *s = direct();
        TaskFailure f = TASK_FAILURE_NULL;
        StorageList *l = NULL;
        StorageEntry e;
        void *data = NULL;
        size_t size, n = 3u << 20;
        _cleanup_free_ char *big = malloc(n);
        int64_t now_ms = (int64_t) time(NULL) * 1000;

        put_ok(s, "m/ten.txt", "0123456789", 10);
        put_ok(s, "m/empty", "", 0);
        expect_range(s, "m/ten.txt", 0, 4, "0123", 10);
        expect_range(s, "m/ten.txt", 4, 4, "4567", 10);
        expect_range(s, "m/ten.txt", 8, 4, "89", 10);
        expect_range(s, "m/ten.txt", 10, 4, "", 10);
        expect_range(s, "m/ten.txt", 1000, 4, "", 10);
        expect_range(s, "m/empty", 0, 4, "", 0);
        expect_error(storage_read_range(s, "photos", "m/none", 6, 0, 4, &data, &size, NULL, &f), &f,
                     "Storage.NotFound", NULL);
        /* A part of a large object: length is the memory limit, so the
         * service sent only the part. */
        for (size_t i = 0; i < n; i++)
                big[i] = (char) ('a' + i % 26);
        put_ok(s, "m/big.txt", big, n);
        expect_range(s, "m/big.txt", 2000024, 5, "abcde", n);

        ASSERT_INT_EQ(storage_list_new(s, "photos", "m/", NULL, &l, &f), 0);
        ASSERT_INT_EQ(storage_list_next(l, &e, &f), 1);
        ASSERT_STR_EQ(e.key, "m/big.txt");
        ASSERT_TRUE(e.mtime_ms > now_ms - 60000 && e.mtime_ms < now_ms + 60000);
        storage_list_free(l);
}

TEST(retries_slowdown_and_5xx) {
        Proxy p;
        proxy_start(&p);
        _cleanup_storage_ Storage *s = s3_storage(p.endpoint, NULL);
        TaskFailure f = TASK_FAILURE_NULL;
        void *data = NULL;
        size_t size;

        /* Two SlowDowns, then the server: the write lands. */
        proxy_fault(&p, FAULT_SLOWDOWN, 2);
        int before = atomic_load(&p.requests);
        put_ok(s, "retry/a.jpg", "abc", 3);
        ASSERT_INT_EQ(atomic_load(&p.requests) - before, 3);

        proxy_fault(&p, FAULT_INTERNAL, 4);
        before = atomic_load(&p.requests);
        ASSERT_INT_EQ(storage_read(s, "photos", "retry/a.jpg", 10, &data, &size, &f), 0);
        ASSERT_INT_EQ(atomic_load(&p.requests) - before, 5);
        ASSERT_STR_EQ(data, "abc");
        free(data);

        /* Still failing after max_attempts (5): Storage.IOError naming it. */
        proxy_fault(&p, FAULT_SLOWDOWN, 100);
        before = atomic_load(&p.requests);
        expect_error(storage_read(s, "photos", "retry/a.jpg", 10, &data, &size, &f), &f, "Storage.IOError",
                     "SlowDown");
        ASSERT_INT_EQ(atomic_load(&p.requests) - before, 5);
        proxy_fault(&p, FAULT_NONE, 0);

        /* A 404 is final: one request. */
        before = atomic_load(&p.requests);
        expect_error(storage_read(s, "photos", "retry/none.jpg", 10, &data, &size, &f), &f,
                     "Storage.NotFound", NULL);
        ASSERT_INT_EQ(atomic_load(&p.requests) - before, 1);
        proxy_stop(&p);
}

TEST(body_integrity_is_checked) {
        Proxy p;
        proxy_start(&p);
        _cleanup_storage_ Storage *s = s3_storage(p.endpoint, NULL);
        TaskFailure f = TASK_FAILURE_NULL;
        StorageObjectInfo info;
        struct stat st;
        _cleanup_free_ char *path = server_path("corrupt/a.jpg");

        proxy_fault(&p, FAULT_CORRUPT, 1);
        expect_error(storage_write_atomic(s, "photos", "corrupt/a.jpg", "abcdef", 6, NULL, &f), &f,
                     "Storage.IOError", "400");
        ASSERT_TRUE(stat(path, &st) < 0);
        expect_error(storage_head(s, "photos", "corrupt/a.jpg", 13, &info, &f), &f, "Storage.NotFound",
                     NULL);
        proxy_stop(&p);
}

TEST(limit_is_checked_before_the_body) {
        Proxy p;
        proxy_start(&p);
        _cleanup_storage_ Storage *s = s3_storage(p.endpoint, NULL);
        TaskFailure f = TASK_FAILURE_NULL;
        StorageObject obj = {};
        struct timespec t0, t1;

        /* The proxy announces 10^10 bytes and sends none: waiting for the
         * body would take the whole request timeout (10 s). */
        proxy_fault(&p, FAULT_HUGE_LENGTH, 1);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        expect_error(storage_fetch(s, "photos", "retry/a.jpg", 11, 1000000, &obj, &f), &f,
                     "Storage.TooLarge", "10000000000 bytes, limit 1000000");
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ASSERT_TRUE(t1.tv_sec - t0.tv_sec < 2);
        proxy_stop(&p);
}

typedef struct ThreadArg {
        Storage *s;
        int n;
        int failures;
} ThreadArg;

static void *reader(void *arg) {
        ThreadArg *a = arg;
        for (int i = 0; i < a->n; i++) {
                TaskFailure f = TASK_FAILURE_NULL;
                void *data = NULL;
                size_t size;
                if (storage_read(a->s, "photos", "conn/a.jpg", 10, &data, &size, &f) < 0 || size != 3)
                        a->failures++;
                free(data);
                task_failure_clear(&f);
        }
        return NULL;
}

TEST(connections_are_reused_per_thread) {
        Proxy p;
        proxy_start(&p);
        _cleanup_storage_ Storage *s = s3_storage(p.endpoint, NULL);
        pthread_t t[4];
        ThreadArg a[4];

        put_ok(s, "conn/a.jpg", "abc", 3);
        ThreadArg one = {s, 30, 0};
        reader(&one);
        ASSERT_INT_EQ(one.failures, 0);
        /* 31 requests from one thread, one connection. */
        ASSERT_INT_EQ(atomic_load(&p.requests), 31);
        ASSERT_INT_EQ(atomic_load(&p.connections), 1);

        for (int i = 0; i < 4; i++) {
                a[i] = (ThreadArg){s, 25, 0};
                ASSERT_INT_EQ(pthread_create(&t[i], NULL, reader, &a[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
                pthread_join(t[i], NULL);
                ASSERT_INT_EQ(a[i].failures, 0);
        }
        /* 100 more requests from 4 threads at once: at most one connection
         * per thread. */
        ASSERT_INT_EQ(atomic_load(&p.requests), 131);
        ASSERT_TRUE(atomic_load(&p.connections) <= 4);
        proxy_stop(&p);
}

static const char *tls_ca;

static void trust_test_ca(StorageS3Options *o) {
        o->ca_file = tls_ca;
}

static void no_verification(StorageS3Options *o) {
        o->verify_tls = false;
}

/* TLS certificates are verified by default: a server whose certificate no
 * trusted CA signed is refused (Storage.IOError, curl's reason in the cause),
 * the same server is reached with its CA as ca_file, or with verify_tls off. */
TEST(tls_is_verified_by_default) {
        const char *endpoint = getenv("IMGFLOW_TEST_S3_TLS_ENDPOINT");
        TaskFailure f = TASK_FAILURE_NULL;
        void *data = NULL;
        size_t size;

        tls_ca = getenv("IMGFLOW_TEST_S3_TLS_CA");
        if (!endpoint || !tls_ca) {
                fprintf(stderr, "  (no TLS server: openssl missing?)\n");
                return;
        }
        _cleanup_storage_ Storage *strict = s3_storage(endpoint, NULL);
        expect_error(storage_write_atomic(strict, "photos", "tls/a.txt", "tls", 3, NULL, &f), &f,
                     "Storage.IOError", "certificate");

        _cleanup_storage_ Storage *trusting = s3_storage(endpoint, trust_test_ca);
        put_ok(trusting, "tls/a.txt", "tls", 3);
        ASSERT_INT_EQ(storage_read(trusting, "photos", "tls/a.txt", 10, &data, &size, &f), 0);
        ASSERT_STR_EQ(data, "tls");
        free(data);

        _cleanup_storage_ Storage *lax = s3_storage(endpoint, no_verification);
        ASSERT_INT_EQ(storage_read(lax, "photos", "tls/a.txt", 10, &data, &size, &f), 0);
        free(data);
}

static void virtual_hosted(StorageS3Options *o) {
        o->path_style = false;
}

TEST(virtual_hosted_addressing) {
        char endpoint[64];
        const char *up = env_or_skip("IMGFLOW_TEST_S3_ENDPOINT");

        /* imgflow-test.localhost:<port> (curl resolves *.localhost itself). */
        snprintf(endpoint, sizeof endpoint, "http://localhost:%s", strrchr(up, ':') + 1);
        _cleanup_storage_ Storage *s = s3_storage(endpoint, virtual_hosted);
        _cleanup_free_ char *path = server_path("vh/a.jpg");
        TaskFailure f = TASK_FAILURE_NULL;
        struct stat st;
        void *data = NULL;
        size_t size;

        put_ok(s, "vh/a.jpg", "vhost", 5);
        ASSERT_INT_EQ(stat(path, &st), 0);
        ASSERT_INT_EQ(storage_read(s, "photos", "vh/a.jpg", 10, &data, &size, &f), 0);
        ASSERT_STR_EQ(data, "vhost");
        free(data);
}
