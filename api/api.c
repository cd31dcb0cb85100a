/* SPDX-License-Identifier: MIT */
/*
 * imgflow-api: the AWS Step Functions API over HTTP, so that code written
 * for the AWS SDKs (boto3, @aws-sdk/client-sfn, `aws stepfunctions`) runs
 * against imgflow with only its endpoint changed. docs/api.md is the
 * user's page; this is the daemon.
 *
 * Stateless: everything it knows is in Redis (read and written through
 * coordinator/store) or goes to the coordinators as Kafka messages, as the
 * CLI's remote verbs do (a StartExecution, StopExecution or SendTask* with a
 * request id; the answer comes back through imgflow:response:{<id>}). So
 * any number of processes can serve one system behind an HTTP load
 * balancer.
 *
 * One sd-event loop (STYLE 9) drives the HTTP server (libmicrohttpd,
 * http.c), the Redis connection (daemon/redis.c) and a Kafka producer
 * (daemon/kafka.c). Following one request:
 *
 *   on_request()     the front door: size, path and X-Amz-Target; SigV4
 *                    (sigv4.c) against the keys file (keys.c); the body
 *                    (aws-json.c); the operation's parse(), which names the
 *                    IAM resource; the key's policy (iam.c); then its run()
 *   ops-*.c          the operation: store reads and scripts on the async
 *                    connection, or a message for the coordinators and a
 *                    wait for the answer (api-answers.c); the HTTP request
 *                    stays suspended meanwhile
 *   api_reply()      the JSON answer, or AWS's error shape and status
 *
 * Refusals of the front door are logged with the access key id (never the
 * secret) and the peer address.
 *
 * SIGTERM: stop accepting connections, answer waiting GetActivityTask calls
 * with "no task", let the other requests finish (bounded by the request
 * timeout), then exit. SIGHUP: reload the keys file and the log level.
 *
 * Layering: uses api/'s own modules, the store (coordinator/store*.c, its
 * builders and parsers only), coordinator/asl (definition validation),
 * proto/, daemon/ and lib/.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <systemd/sd-id128.h>

#include "api-internal.h"
#include "console.h"
#include "clock.h"
#include "daemon-config.h"
#include "imgflow-config.h"
#include "format.h"
#include "log.h"
#include "random.h"
#include "service.h"
#include "sigv4.h"

#define STATUS_USEC (5 * 1000 * 1000)
#define DRAIN_USEC (100 * 1000)
#define SIGV4_HEADERS_SEEN_MAX 256 /* headers of one request looked at for SigV4 */

/* ---- calls ---- */

static ApiCall *call_new(ApiManager *m, HttpRequest *r) {
        ApiCall *c = xmalloc(sizeof *c);
        char uuid[FORMAT_UUID_MAX];
        sd_id128_t id;

        if (sd_id128_randomize(&id) < 0)
                abort();
        *c = (ApiCall){
                .m = m,
                .req = r,
                .request_id = xstrdup(format_uuid(id.bytes, uuid)),
                .start_usec = now_usec(CLOCK_MONOTONIC),
        };
        LIST_PREPEND(m->calls, c);
        m->n_calls++;
        return c;
}

static void call_free(ApiCall *c) {
        if (!c)
                return;
        LIST_REMOVE(c->m->calls, c);
        c->m->n_calls--;
        if (c->state_free)
                c->state_free(c->state);
        api_waiter_drop(c);
        json_decref(c->input);
        free(c->request_id);
        free(c->key_id);
        free(c);
}

void api_call_set_state(ApiCall *c, void *state, void (*state_free)(void *)) {
        if (c->state_free)
                c->state_free(c->state);
        c->state = state;
        c->state_free = state_free;
}

bool api_call_alive(ApiCall *c) {
        c->busy = false;
        if (c->req)
                return true;
        call_free(c);
        return false;
}

/* The HTTP request ended: the call goes with it, or at its pending step. */
static void on_request_destroyed(void *userdata) {
        ApiCall *c = userdata;

        c->req = NULL;
        if (!c->busy)
                call_free(c);
}

static void on_request_done(HttpRequest *r, bool sent, void *userdata) {
        ApiCall *c = userdata;

        if (c->on_sent)
                c->on_sent(c, sent);
}

/* ---- answers ---- */

static void respond(ApiCall *c, unsigned status, char *body, size_t len) {
        const char *headers[] = {
                "Content-Type", AWS_CONTENT_TYPE, "x-amzn-RequestId", c->request_id, NULL,
        };

        if (!c->req || http_request_responded(c->req)) {
                free(body);
                return;
        }
        (void) http_request_respond(c->req, status, headers, body, len);
}

void api_reply(ApiCall *c, json_t *out) {
        char *s;

        if (!out)
                out = json_object();
        s = json_dumps(out, JSON_COMPACT);
        json_decref(out);
        if (!s)
                abort();
        c->m->n_ok++;
        log_debug("%s %s: 200 (%" PRIu64 " ms)", c->op ? c->op->name : "-", c->request_id,
                  (now_usec(CLOCK_MONOTONIC) - c->start_usec) / 1000);
        respond(c, 200, s, strlen(s));
}

static bool error_is_auth(const char *name) {
        static const char *const auth[] = {
                "MissingAuthenticationTokenException",
                "IncompleteSignatureException",
                "InvalidSignatureException",
                "UnrecognizedClientException",
                "AccessDeniedException",
        };
        for (size_t i = 0; i < ELEMENTSOF(auth); i++)
                if (streq(auth[i], name))
                        return true;
        return false;
}

static void fail_message(ApiCall *c, const char *error, const char *message) {
        unsigned status = aws_error_status(error);
        size_t len;
        char *body;

        if (error_is_auth(error)) {
                _cleanup_free_ char *f_key = xasprintf("ACCESS_KEY_ID=%s", strempty(c->key_id));
                _cleanup_free_ char *f_err = xasprintf("API_ERROR=%s", error);
                _cleanup_free_ char *f_peer = xasprintf("PEER=%s", c->req ? http_request_peer(c->req) : "?");
                const char *fields[] = {f_key, f_err, f_peer, NULL};

                c->m->n_refused++;
                log_fields(LOG_WARNING, fields, "Refused %s from %s (access key %s): %s: %s",
                           c->op ? c->op->name : "request", c->req ? http_request_peer(c->req) : "?",
                           c->key_id ? c->key_id : "none", error, message);
        } else if (status >= 500) {
                c->m->n_failed++;
                log_warning("%s %s: %s: %s", c->op ? c->op->name : "-", c->request_id, error, message);
        } else {
                c->m->n_failed++;
                log_debug("%s %s: %s: %s", c->op ? c->op->name : "-", c->request_id, error, message);
        }
        body = aws_error_body(error, message, &len);
        respond(c, status, body, len);
}

void api_fail(ApiCall *c, const char *error, const char *fmt, ...) {
        _cleanup_free_ char *message = NULL;
        va_list ap;

        va_start(ap, fmt);
        message = xvasprintf(fmt, ap);
        va_end(ap);
        fail_message(c, error, message);
}

void api_fail_error(ApiCall *c, AwsError *e) {
        fail_message(c, e->name ? e->name : "InternalFailure", strempty(e->message));
        aws_error_done(e);
}

void api_fail_store(ApiCall *c, int r) {
        if (r == -ENOTCONN || r == -EIO)
                api_fail(c, "ServiceUnavailable", "The store is not reachable; try again");
        else
                api_fail(c, "InternalFailure", "Unexpected answer from the store: %s", strerror(-r));
}

/* ---- Redis ---- */

typedef struct RedisStep {
        ApiCall *c;
        ApiRedisFn fn;
} RedisStep;

static void on_redis_reply(RedisConn *conn, redisReply *reply, void *userdata) {
        RedisStep step = *(RedisStep *) userdata;

        free(userdata);
        if (!api_call_alive(step.c))
                return;
        if (!reply) {
                api_fail(step.c, "ServiceUnavailable", "The store did not answer; try again");
                return;
        }
        step.fn(step.c, reply);
}

static int redis_sent(ApiCall *c, RedisStep *step, int r) {
        if (r < 0) {
                free(step);
                api_fail(c, "ServiceUnavailable", "The store is not reachable; try again");
                return -ENOTCONN;
        }
        c->busy = true;
        return 0;
}

int api_redis_command(ApiCall *c, const StoreArgv *a, ApiRedisFn fn) {
        RedisStep *step = xmalloc(sizeof *step);

        *step = (RedisStep){c, fn};
        return redis_sent(c, step,
                          redis_command_argv(c->m->redis, on_redis_reply, step, (int) a->n,
                                             (const char **) a->argv, a->lens));
}

int api_redis_eval_detached(ApiManager *m, const StoreCall *call, RedisReplyFn fn, void *userdata) {
        return redis_evalv(m->redis, &m->scripts[call->script], fn, userdata, call->keys.n,
                           (const char *const *) call->keys.argv, call->keys.lens, call->args.n,
                           (const char *const *) call->args.argv, call->args.lens);
}

int api_redis_eval(ApiCall *c, const StoreCall *call, ApiRedisFn fn) {
        RedisStep *step = xmalloc(sizeof *step);

        *step = (RedisStep){c, fn};
        return redis_sent(c, step, api_redis_eval_detached(c->m, call, on_redis_reply, step));
}

/* ---- the manager's read side ---- */

const char *api_region(const ApiManager *m) {
        return m->region;
}

const char *api_account(const ApiManager *m) {
        return m->account;
}

const ProtoLimits *api_limits(const ApiManager *m) {
        return &m->limits;
}

int64_t api_retention_sec(const ApiManager *m) {
        return m->retention_sec;
}

sd_event *api_event(const ApiManager *m) {
        return m->event;
}

const Config *api_config(const ApiManager *m) {
        return m->config;
}

const Resources *api_resources(const ApiManager *m) {
        return m->resources;
}

char *api_sm_arn(const ApiManager *m, const char *name) {
        return aws_arn(m->region, m->account, "stateMachine", name);
}

char *api_sm_version_arn(const ApiManager *m, const char *name, unsigned version) {
        _cleanup_free_ char *rest = xasprintf("%s:%u", name, version);
        return aws_arn(m->region, m->account, "stateMachine", rest);
}

char *api_exec_arn(const ApiManager *m, const char *exec_id) {
        return aws_arn(m->region, m->account, "execution", exec_id);
}

char *api_exec_arn_of_answer(const ApiManager *m, const char *exec_id, const json_t *answer) {
        const char *arn = json_string_value(json_object_get(answer, "executionArn"));

        if (store_exec_arn_is_express(arn))
                return aws_arn(m->region, m->account, "express", arn + strlen(STORE_EXPRESS_ARN_PREFIX));
        return api_exec_arn(m, exec_id);
}

char *api_activity_arn(const ApiManager *m, const char *name) {
        return aws_arn(m->region, m->account, "activity", name);
}

char *api_random_hex(void) {
        uint8_t b[16];

        random_fill(NULL, b, sizeof b);
        return format_hex(b, sizeof b, xmalloc(2 * sizeof b + 1));
}

/* ---- the front door: who is calling, and may they ---- */

typedef struct HeaderList {
        Sigv4Pair *v;
        size_t n, allocated;
        bool overflow;
} HeaderList;

static int add_pair(const char *name, const char *value, void *userdata) {
        HeaderList *l = userdata;

        if (l->n >= SIGV4_HEADERS_SEEN_MAX) {
                l->overflow = true;
                return -E2BIG;
        }
        if (l->n >= l->allocated) {
                l->allocated = l->allocated ? l->allocated * 2 : 16;
                l->v = xrealloc(l->v, l->allocated * sizeof(Sigv4Pair));
        }
        l->v[l->n++] = (Sigv4Pair){name, value};
        return 0;
}

/* 0: the caller is known (c->key_id set; NULL for an unsigned request
 * that the configuration allows); else answered. */
static int authenticate(ApiCall *c) {
        ApiManager *m = c->m;
        HttpRequest *r = c->req;
        _cleanup_free_ Sigv4Pair *headers = NULL, *query = NULL;
        HeaderList h = {}, q = {};
        Sigv4Failure f = {};
        Sigv4Auth a = {};
        Sigv4Request sr;
        const ApiKey *key;
        size_t len;
        int k;

        if (!http_request_header(r, "Authorization") && m->allow_unauthenticated)
                return 0;

        (void) http_request_foreach_header(r, add_pair, &h);
        (void) http_request_foreach_query(r, add_pair, &q);
        headers = h.v;
        query = q.v;
        if (h.overflow || q.overflow) {
                api_fail(c, "IncompleteSignatureException",
                         "The request has more than %d headers or parameters", SIGV4_HEADERS_SEEN_MAX);
                return -EACCES;
        }
        sr = (Sigv4Request){
                .method = http_request_method(r),
                .path = http_request_path(r),
                .headers = h.v,
                .n_headers = h.n,
                .query = q.v,
                .n_query = q.n,
        };
        sr.body = http_request_body(r, &len);
        sr.body_len = len;

        k = sigv4_parse(&sr, m->region, "states", (int64_t) (now_usec(CLOCK_REALTIME) / 1000000), &a, &f);
        if (k < 0) {
                c->key_id = TAKE_PTR(f.access_key_id);
                fail_message(c, f.error, f.message);
                sigv4_failure_done(&f);
                return k;
        }
        c->key_id = xstrdup(a.access_key_id);
        key = keys_find(m->keys, a.access_key_id);
        if (!key) {
                sigv4_auth_done(&a);
                api_fail(c, "UnrecognizedClientException",
                         "The security token included in the request is invalid.");
                return -EACCES;
        }
        k = sigv4_verify(&a, &sr, key->secret, &f);
        sigv4_auth_done(&a);
        if (k < 0) {
                fail_message(c, f.error, f.message);
                sigv4_failure_done(&f);
                return k;
        }
        return 0;
}

static int authorize(ApiCall *c, const char *resource) {
        _cleanup_free_ char *action = xasprintf("states:%s", c->op->name);
        const ApiKey *key;
        IamDecision d;

        if (!c->key_id)
                return 0; /* unsigned, allowed on a loopback listener only */
        key = keys_find(c->m->keys, c->key_id);
        d = key ? iam_policy_evaluate(key->policy, action, resource) : IAM_DENY_IMPLICIT;
        if (d == IAM_ALLOW)
                return 0;
        api_fail(c, "AccessDeniedException",
                 "User: arn:aws:iam::%s:user/%s is not authorized to perform: %s on resource: %s because %s",
                 c->m->account, key ? key->user : c->key_id, action, resource,
                 d == IAM_DENY_EXPLICIT ? "of an explicit deny in an identity-based policy"
                                        : "no identity-based policy allows the action");
        return -EACCES;
}

static void health(ApiCall *c) {
        ApiManager *m = c->m;
        bool up = m->ready && m->redis_up && !m->stopping;
        _cleanup_json_ json_t *o =
                json_pack("{s:s, s:b, s:b, s:b}", "status", up ? "ok" : "unavailable", "redis", m->redis_up,
                          "kafka", m->kafka_up, "stopping", m->stopping);
        char *s = json_dumps(o, JSON_COMPACT);
        const char *headers[] = {"Content-Type", "application/json", NULL};

        if (!s)
                abort();
        (void) http_request_respond(c->req, up ? 200 : 503, headers, s, strlen(s));
}

static void on_request(HttpRequest *r, void *userdata) {
        ApiManager *m = userdata;
        ApiCall *c = call_new(m, r);
        const char *method = http_request_method(r), *path = http_request_path(r);

        http_request_set_userdata(r, c, on_request_destroyed);
        http_request_on_done(r, on_request_done, c);
        m->n_requests++;

        if (http_request_body_too_large(r))
                return api_fail(c, "RequestEntityTooLarge", "The request body is larger than %zu bytes",
                                m->max_request_size);
        if ((streq(method, "GET") || streq(method, "HEAD")) && streq(path, "/healthz"))
                return health(c);
        if (strncmp(path, "/console", 8) == 0 && (path[8] == '\0' || path[8] == '/'))
                return console_request(c);
        if (!streq(method, "POST") || !streq(path, "/"))
                return api_fail(c, "UnknownOperationException",
                                "Step Functions takes POST / with X-Amz-Target: " AWS_TARGET_PREFIX
                                "<Operation>");
        api_dispatch(c, http_request_header(r, "X-Amz-Target"), /* signed_in= */ false);
}

void api_dispatch(ApiCall *c, const char *target, bool signed_in) {
        const ApiOp *op = api_op_find(aws_target_operation(target));

        if (!op)
                return api_fail(c, "UnknownOperationException", "Unknown operation %.128s",
                                strempty(target));
        api_dispatch_op(c, op, signed_in);
}

void api_dispatch_op(ApiCall *c, const ApiOp *op, bool signed_in) {
        ApiManager *m = c->m;
        _cleanup_free_ char *resource = NULL;
        AwsError e = {};
        const void *body;
        size_t len;

        c->op = op;
        if (m->stopping)
                return api_fail(c, "ServiceUnavailable", "This imgflow-api process is stopping; try again");

        if (!signed_in && authenticate(c) < 0)
                return;
        body = http_request_body(c->req, &len);
        if (aws_body_parse(body, len, &c->input, &e) < 0)
                return api_fail_error(c, &e);
        if (c->op->parse(c, &resource, &e) < 0)
                return api_fail_error(c, &e);
        if (authorize(c, resource) < 0)
                return;
        c->op->run(c);
}

/* ---- the manager ---- */

static int file_error(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int file_error(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        free(*ret_error);
        *ret_error = xvasprintf(fmt, ap);
        va_end(ap);
        return r;
}

/* A whole file (new string); secret: refused when others than its owner
 * may read or write it. */
static int read_file(const char *path, size_t max, bool secret, char **ret, char **ret_error) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t n = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0)
                return file_error(ret_error, -errno, "cannot open %s: %s", path, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return file_error(ret_error, -EINVAL, "%s is not a regular file", path);
        if (secret && (st.st_mode & 0077))
                return file_error(
                        ret_error, -EPERM,
                        "%s may be read or written by others than its owner (mode %04o): chmod 600 it", path,
                        (unsigned) (st.st_mode & 07777));
        if ((uint64_t) st.st_size > max)
                return file_error(ret_error, -EFBIG, "%s is larger than %zu bytes", path, max);
        buf = xmalloc((size_t) st.st_size + 1);
        while (n < (size_t) st.st_size) {
                ssize_t k = read(fd, buf + n, (size_t) st.st_size - n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return file_error(ret_error, -errno, "cannot read %s: %s", path, strerror(errno));
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        return 0;
}

static int load_keys(const char *path, KeySet **ret, char **ret_error) {
        _cleanup_free_ char *text = NULL, *error = NULL;
        int r;

        r = read_file(path, KEYS_FILE_MAX, /* secret= */ true, &text, ret_error);
        if (r < 0)
                return r;
        r = keys_parse(text, strlen(text), ret, &error);
        explicit_bzero(text, strlen(text));
        if (r < 0)
                *ret_error = xasprintf("%s: %s", path, error);
        return r;
}

/* [api] keys; under systemd IMGFLOW_API_KEYS names the credential. */
static const char *keys_path(const ApiManager *m) {
        const char *path = config_get_string(m->config, "api", "keys");

        return isempty(path) ? NULL : path;
}

/* READY=1 once Redis is connected and Kafka answered (a metadata response
 * named the controller), as the worker decides. */
static void manager_check_ready(ApiManager *m) {
        if (m->ready || !m->redis_up || !m->kafka_up)
                return;
        m->ready = true;
        (void) service_notify_ready();
        log_info("imgflow-api ready on %s%s", config_get_string(m->config, "api", "listen"),
                 m->tls ? " (HTTPS)" : "");
}

static void on_redis_state(RedisConn *conn, bool connected, const char *error, void *userdata) {
        ApiManager *m = userdata;

        m->redis_up = connected;
        manager_check_ready(m);
}

static int on_kafka_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        ApiManager *m = userdata;

        if (rd_kafka_controllerid(kafka_producer_handle(m->producer), /* timeout_ms= */ 0) >= 0) {
                m->kafka_up = true;
                manager_check_ready(m);
                return sd_event_source_set_enabled(s, SD_EVENT_OFF);
        }
        (void) sd_event_source_set_time_relative(s, 100 * 1000);
        return 0;
}

static int on_status_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        ApiManager *m = userdata;
        char a[FORMAT_COUNT_MAX], b[FORMAT_COUNT_MAX];

        (void) service_notify_status(
                "%s requests (%s refused), %u connections, %zu waiting for coordinators, "
                "%zu for activity tasks%s",
                format_count(m->n_requests, a), format_count(m->n_refused, b),
                http_server_connections(m->http), m->n_waiters, api_activities_waiting(m),
                m->redis_up ? "" : ", Redis down");
        (void) sd_event_source_set_time_relative(s, STATUS_USEC);
        return 0;
}

static void manager_exit(ApiManager *m) {
        (void) sd_event_exit(m->event, 0);
}

static int on_drain_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        ApiManager *m = userdata;

        if (http_server_requests(m->http) == 0 || now_usec(CLOCK_MONOTONIC) >= m->stop_deadline_usec) {
                manager_exit(m);
                return 0;
        }
        (void) sd_event_source_set_time_relative(s, DRAIN_USEC);
        return 0;
}

static void manager_stop(void *userdata) {
        ApiManager *m = userdata;

        m->stopping = true;
        http_server_quiesce(m->http);
        api_activities_stop(m);
        m->stop_deadline_usec = now_usec(CLOCK_MONOTONIC) + m->request_timeout_usec + 5 * 1000 * 1000;
        log_info("Stopping: %u requests in progress", http_server_requests(m->http));
        if (sd_event_add_time_relative(m->event, &m->t_drain, CLOCK_MONOTONIC, 0, 0, on_drain_timer, m) < 0)
                manager_exit(m);
        else
                (void) sd_event_source_set_enabled(m->t_drain, SD_EVENT_ON);
}

static int add_resource(const char *key, const char *value, void *userdata);

/* SIGHUP: the log level (daemon_config_reload()), the [resources] mapping
 * that CreateStateMachine checks definitions against (as the coordinators
 * reload theirs), and the access keys (a keys file that no longer loads
 * leaves the loaded keys in place). */
static void manager_reload(void *userdata) {
        ApiManager *m = userdata;
        _cleanup_free_ char *error = NULL;
        _cleanup_config_ Config *c = NULL;
        KeySet *keys = NULL;
        Resources *res = NULL;
        extern char **environ;
        const char *path;
        int r;

        if (daemon_config_reload(m->config_args, environ, &c) >= 0 && resources_new(&res) >= 0) {
                (void) config_foreach_in_section(c, "resources", add_resource, res);
                log_notice("Reloaded: [resources] has %zu mappings (%zu before).", resources_count(res),
                           resources_count(m->resources));
                resources_free(m->resources);
                m->resources = res;
        }
        path = keys_path(m);
        if (!path)
                return;
        r = load_keys(path, &keys, &error);
        if (r < 0) {
                log_error("Keeping the access keys loaded before: %s", error);
                return;
        }
        keys_free(m->keys);
        m->keys = keys;
        log_info("Reloaded %zu access keys from %s", keys_count(keys), path);
}

static ApiManager *manager_free(ApiManager *m) {
        if (!m)
                return NULL;
        /* Every request still waiting is answered (MHD must not be stopped
         * with a suspended connection), then the server goes. */
        for (ApiCall *c = m->calls; c; c = c->next)
                if (c->req && !http_request_responded(c->req))
                        api_fail(c, "ServiceUnavailable", "imgflow-api is stopping; try again");
        for (int i = 0; i < 20 && http_server_requests(m->http) > 0; i++)
                (void) sd_event_run(m->event, 50 * 1000);
        /* Then the server (requests still pending detach their calls), the
         * waiting activity callers, the connections (their pending callbacks
         * run and free the calls whose request went), and last the calls
         * whose step never came back, before the answers' table they may
         * still be in. */
        m->http = http_server_free(m->http);
        api_activities_free(m);
        m->redis = redis_conn_free(m->redis);
        for (size_t i = 0; i < ELEMENTSOF(m->topics); i++)
                if (m->topics[i])
                        rd_kafka_topic_destroy(m->topics[i]);
        if (m->producer) {
                (void) kafka_producer_flush(m->producer, 5000);
                m->producer = kafka_producer_free(m->producer);
        }
        while (m->calls) {
                ApiCall *c = m->calls;
                c->req = NULL;
                call_free(c);
        }
        api_answers_free(m);
        sd_event_source_disable_unref(m->t_status);
        sd_event_source_disable_unref(m->t_drain);
        sd_event_source_disable_unref(m->t_kafka);
        keys_free(m->keys);
        resources_free(m->resources);
        free(m->region);
        free(m->account);
        free(m->topic_prefix);
        sd_event_unref(m->event);
        free(m);
        return NULL;
}

static inline void manager_freep(ApiManager **m) {
        manager_free(*m);
}

static int add_resource(const char *key, const char *value, void *userdata) {
        (void) resources_add(userdata, key, value);
        return 0;
}

static int manager_new(sd_event *e, Config *config, DaemonConfigArgs *args, ApiManager **ret) {
        _cleanup_(manager_freep) ApiManager *m = NULL;
        _cleanup_free_ char *topic = NULL;

        m = xmalloc(sizeof *m);
        *m = (ApiManager){
                .event = sd_event_ref(e),
                .config = config,
                .config_args = args,
                .region = xstrdup(config_get_string(config, "api", "region")),
                .account = xstrdup(config_get_string(config, "api", "account")),
                .topic_prefix = xstrdup(config_get_string(config, "imgflow", "topic_prefix")),
                .allow_unauthenticated = config_get_bool(config, "api", "allow_unauthenticated"),
                .max_request_size = config_get_size(config, "api", "max_request_size"),
                .retention_sec =
                        (int64_t) (config_get_duration_ms(config, "coordinator", "retention") / 1000),
                .request_timeout_usec = config_get_duration_ms(config, "api", "request_timeout") * 1000,
        };
        for (size_t i = 0; i < _STORE_SCRIPT_MAX; i++)
                redis_script_init(&m->scripts[i], store_script(i)->source);
        console_secret_init(m->console_secret);
        m->limits.max_payload_bytes = config_get_size(config, "imgflow", "payload_limit");
        if (proto_topic_name(m->topic_prefix, PROTO_TOPIC_JOBS, NULL, &topic) < 0)
                return log_error_errno(-EINVAL, "Invalid imgflow.topic_prefix \"%s\"", m->topic_prefix);
        if (m->request_timeout_usec == 0)
                m->request_timeout_usec = 30 * 1000 * 1000;
        /* The coordinators' [resources]: CreateStateMachine refuses a Task
         * whose Resource maps to nothing (an entry the coordinator would
         * refuse is left out here, and so maps to nothing). */
        (void) resources_new(&m->resources);
        (void) config_foreach_in_section(config, "resources", add_resource, m->resources);
        *ret = TAKE_PTR(m);
        return 0;
}

/* What --check-config checks too: keys, TLS files, the listen address. */
static int manager_load(ApiManager *m, HttpServerConfig *ret_http, char **ret_cert, char **ret_key) {
        const char *listen = config_get_string(m->config, "api", "listen");
        const char *cert = config_get_string(m->config, "api", "tls_certificate");
        const char *key = config_get_string(m->config, "api", "tls_key");
        const char *path = keys_path(m);
        _cleanup_free_ char *error = NULL;
        int r;

        if (m->allow_unauthenticated && !http_listen_is_loopback(listen))
                return log_error_errno(
                        -EINVAL,
                        "api.allow_unauthenticated = true needs a loopback api.listen address, not %s",
                        listen);
        if (!path && !m->allow_unauthenticated)
                return log_error_errno(-EINVAL,
                                       "api.keys is not set: no client could be authenticated (set it, "
                                       "or api.allow_unauthenticated = true on a loopback address)");
        if (path) {
                r = load_keys(path, &m->keys, &error);
                if (r < 0)
                        return log_error_errno(r, "Access keys: %s", error);
                log_info("Loaded %zu access keys from %s", keys_count(m->keys), path);
        }
        if (!isempty(cert) != !isempty(key))
                return log_error_errno(-EINVAL, "api.tls_certificate and api.tls_key go together");
        r = redis_check_config(m->config);
        if (r < 0)
                return r;
        if (!isempty(cert)) {
                r = read_file(cert, 1024 * 1024, /* secret= */ false, ret_cert, &error);
                if (r >= 0)
                        r = read_file(key, 1024 * 1024, /* secret= */ true, ret_key, &error);
                if (r < 0)
                        return log_error_errno(r, "TLS: %s", error);
                m->tls = true;
        }
        *ret_http = (HttpServerConfig){
                .listen = listen,
                .tls_cert_pem = *ret_cert,
                .tls_key_pem = *ret_key,
                .max_header_bytes = config_get_size(m->config, "api", "max_header_size"),
                .max_body_bytes = m->max_request_size,
                .max_connections = (unsigned) config_get_int(m->config, "api", "max_connections"),
                .idle_timeout_sec =
                        (unsigned) (config_get_duration_ms(m->config, "api", "idle_timeout") / 1000),
        };
        return 0;
}

static int manager_start(ApiManager *m, const HttpServerConfig *hc) {
        _cleanup_free_ char *error = NULL;
        int r;

        r = redis_conn_new(m->event, m->config, on_redis_state, m, &m->redis);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the Redis connection: %m");
        r = kafka_producer_new(m->event, m->config, api_on_delivery, m, &m->producer);
        if (r < 0)
                return log_error_errno(r, "Failed to create the Kafka producer: %m");
        /* Topic handles make the producer ask for metadata now, which tells
         * us that Kafka answers (READY=1) before the first request. */
        for (size_t i = 0; i < ELEMENTSOF(m->topics); i++) {
                _cleanup_free_ char *name = NULL;

                if (proto_topic_name(m->topic_prefix, i == 0 ? PROTO_TOPIC_JOBS : PROTO_TOPIC_EVENTS, NULL,
                                     &name) < 0)
                        return log_error_errno(-EINVAL, "Invalid imgflow.topic_prefix \"%s\"",
                                               m->topic_prefix);
                m->topics[i] = rd_kafka_topic_new(kafka_producer_handle(m->producer), name, NULL);
        }
        r = api_answers_start(m);
        if (r < 0)
                return r;
        r = api_activities_start(m);
        if (r < 0)
                return r;
        r = http_server_new(m->event, hc, on_request, m, &m->http, &error);
        if (r < 0)
                return log_error_errno(r, "HTTP server: %s", error);
        r = sd_event_add_time_relative(m->event, &m->t_status, CLOCK_MONOTONIC, STATUS_USEC, 0,
                                       on_status_timer, m);
        if (r >= 0)
                r = sd_event_add_time_relative(m->event, &m->t_kafka, CLOCK_MONOTONIC, 0, 0, on_kafka_timer,
                                               m);
        if (r < 0)
                return log_error_errno(r, "Failed to add timers: %m");
        /* Periodic: each callback moves its time on. */
        (void) sd_event_source_set_enabled(m->t_status, SD_EVENT_ON);
        (void) sd_event_source_set_enabled(m->t_kafka, SD_EVENT_ON);
        return 0;
}

static void help(void) {
        printf("imgflow-api [OPTIONS]\n\n"
               "The AWS Step Functions API over HTTP for imgflow (docs/api.md).\n\n"
               "  -c --config=PATH          configuration file (default %s)\n"
               "     --check-config         check the configuration (file, environment, flags,\n"
               "                            keys file, TLS files) and exit: 0 if it is valid\n"
               "     --listen=ADDRESS       [api] listen\n"
               "     --kafka-bootstrap=LIST Kafka bootstrap servers\n"
               "     --redis=ADDRESS        Redis address (host:port or unix:/path)\n"
               "     --log-level=LEVEL      log level\n"
               "     --log-target=TARGET    auto, journal, console\n"
               "  -h --help                 this help\n"
               "     --version              print the version and exit\n",
               config_default_path());
}

static int run(int argc, char **argv) {
        static const struct option options[] = {
                {"config", required_argument, NULL, 'c'},
                {"listen", required_argument, NULL, 'L'},
                {"kafka-bootstrap", required_argument, NULL, 'k'},
                {"redis", required_argument, NULL, 'r'},
                {"log-level", required_argument, NULL, 'l'},
                {"log-target", required_argument, NULL, 'T'},
                {"check-config", no_argument, NULL, 'C'},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, 'V'},
                {},
        };
        _cleanup_(daemon_config_args_done) DaemonConfigArgs args = {};
        _cleanup_config_ Config *config = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(manager_freep) ApiManager *m = NULL;
        _cleanup_free_ char *error = NULL, *cert = NULL, *key = NULL;
        extern char **environ;
        HttpServerConfig hc;
        bool check = false;
        int r, c;

        log_setup("imgflow-api");
        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0) {
                r = 0;
                switch (c) {
                case 'c':
                        args.config_path = optarg;
                        break;
                case 'L':
                        r = daemon_config_args_add(&args, "--listen", "api", "listen", optarg);
                        break;
                case 'k':
                        r = daemon_config_args_add(&args, "--kafka-bootstrap", "kafka", "bootstrap.servers",
                                                   optarg);
                        break;
                case 'r':
                        r = daemon_config_args_add(&args, "--redis", "redis", "address", optarg);
                        break;
                case 'l':
                        r = daemon_config_args_add(&args, "--log-level", "imgflow", "log_level", optarg);
                        break;
                case 'T':
                        r = daemon_config_args_add(&args, "--log-target", "imgflow", "log_target", optarg);
                        break;
                case 'V':
                        printf("imgflow-api %s\n", IMGFLOW_VERSION);
                        return 0;
                case 'C':
                        check = true;
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        return -EINVAL;
                }
                if (r < 0)
                        return log_error_errno(r, "Too many options: %m");
        }

        r = daemon_config_load(&args, environ, &config, &error);
        if (r < 0)
                return log_error_errno(r, "%s", error ?: "Failed to load the configuration");
        r = daemon_config_apply_log(config);
        if (r < 0)
                return log_error_errno(r, "Failed to set up logging: %m");

        r = sd_event_default(&e);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        r = manager_new(e, config, &args, &m);
        if (r < 0)
                return r;
        r = manager_load(m, &hc, &cert, &key);
        if (r < 0)
                return r;
        if (check) {
                (void) daemon_config_warn_secrets(&args, config, /* redis_allowed= */ true);
                daemon_config_print_valid(&args);
                return 0;
        }
        r = service_setup(e, manager_stop, manager_reload, m);
        if (r < 0)
                return log_error_errno(r, "Failed to set up signals: %m");
        r = manager_start(m, &hc);
        if (r < 0)
                return r;
        if (key)
                explicit_bzero(key, strlen(key));
        (void) service_notify_status("Connecting to Redis and Kafka");

        r = sd_event_loop(e);
        if (r < 0)
                log_error_errno(r, "Event loop failed: %m");
        (void) service_notify_stopping();
        m = manager_free(TAKE_PTR(m));
        log_info("Stopped");
        return r < 0 ? r : 0;
}

int main(int argc, char **argv) {
        int r = run(argc, argv);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
