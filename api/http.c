/* SPDX-License-Identifier: MIT */
/*
 * libmicrohttpd on sd-event (see http.h for why this library).
 *
 * MHD runs in "external polling" mode with epoll: its sockets live in one
 * epoll fd that an sd_event io source watches. After every MHD_run() the
 * timer is set from MHD_get_timeout() (idle connections, TLS). A resumed
 * connection needs a MHD_run() before it is looked at again, so resuming
 * enables a defer source that runs it.
 *
 * A request's life: MHD calls on_access() first with the headers (a
 * Content-Length over the limit is answered at once), then with the body in
 * pieces (gathered, up to the limit), then once more with nothing: the
 * handler runs. If it answered, the answer is queued now; otherwise the
 * connection is suspended until http_request_respond() resumes it, and
 * MHD's next call queues the answer. on_completed() tells the caller
 * whether the answer was written completely, and frees the request.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "alloc-util.h"
#include "clock.h"
#include "http.h"
#include "log.h"

/* sd-event timers' accuracy (0 would mean its default, 250 ms). */
#define HTTP_TIMER_ACCURACY_USEC 1000

struct HttpServer {
        sd_event *event;
        struct MHD_Daemon *mhd;
        sd_event_source *io, *timer, *defer;
        HttpHandlerFn handler;
        void *userdata;
        size_t max_body;
        unsigned n_requests;
        bool quiesced;
        char *tls_cert, *tls_key; /* MHD keeps pointers to them */
};

struct HttpRequest {
        HttpServer *server;
        struct MHD_Connection *conn;
        char *method, *path;
        char *body;
        size_t body_len, body_allocated;
        bool too_large;
        bool dispatched, suspended, queued;
        struct MHD_Response *response;
        unsigned status;
        void *userdata;
        void (*destroy)(void *);
        HttpDoneFn on_done;
        void *done_userdata;
        char peer[64];
};

static void server_run(HttpServer *s);

/* ---- requests ---- */

const char *http_request_method(const HttpRequest *r) {
        return r->method;
}

const char *http_request_path(const HttpRequest *r) {
        return r->path;
}

const char *http_request_header(const HttpRequest *r, const char *name) {
        return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

typedef struct PairWalk {
        HttpPairFn fn;
        void *userdata;
        int r;
} PairWalk;

static enum MHD_Result pair_iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        PairWalk *w = cls;

        w->r = w->fn(key, value ? value : "", w->userdata);
        return w->r < 0 ? MHD_NO : MHD_YES;
}

int http_request_foreach_header(HttpRequest *r, HttpPairFn fn, void *userdata) {
        PairWalk w = {fn, userdata, 0};

        MHD_get_connection_values(r->conn, MHD_HEADER_KIND, pair_iter, &w);
        return w.r < 0 ? w.r : 0;
}

int http_request_foreach_query(HttpRequest *r, HttpPairFn fn, void *userdata) {
        PairWalk w = {fn, userdata, 0};

        MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, pair_iter, &w);
        return w.r < 0 ? w.r : 0;
}

const void *http_request_body(const HttpRequest *r, size_t *ret_len) {
        *ret_len = r->body_len;
        return r->body ? r->body : "";
}

bool http_request_body_too_large(const HttpRequest *r) {
        return r->too_large;
}

const char *http_request_peer(const HttpRequest *r) {
        return r->peer;
}

void http_request_set_userdata(HttpRequest *r, void *userdata, void (*destroy)(void *)) {
        r->userdata = userdata;
        r->destroy = destroy;
}

void *http_request_get_userdata(const HttpRequest *r) {
        return r->userdata;
}

void http_request_on_done(HttpRequest *r, HttpDoneFn fn, void *userdata) {
        r->on_done = fn;
        r->done_userdata = userdata;
}

bool http_request_responded(const HttpRequest *r) {
        return r->response || r->queued;
}

static void peer_format(struct MHD_Connection *c, char *buf, size_t size) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct sockaddr *sa = ci ? ci->client_addr : NULL;
        char host[INET6_ADDRSTRLEN] = "?";

        if (sa && sa->sa_family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *) sa;
                inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
                snprintf(buf, size, "%s:%u", host, ntohs(in->sin_port));
        } else if (sa && sa->sa_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;
                inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
                snprintf(buf, size, "[%s]:%u", host, ntohs(in6->sin6_port));
        } else
                snprintf(buf, size, "?");
}

static HttpRequest *request_new(HttpServer *s, struct MHD_Connection *c, const char *url,
                                const char *method) {
        HttpRequest *r = xmalloc(sizeof *r);

        *r = (HttpRequest){
                .server = s,
                .conn = c,
                .method = xstrdup(method),
                .path = xstrdup(url),
        };
        peer_format(c, r->peer, sizeof r->peer);
        s->n_requests++;
        return r;
}

static void request_free(HttpRequest *r) {
        if (!r)
                return;
        if (r->destroy)
                r->destroy(r->userdata);
        if (r->response)
                MHD_destroy_response(r->response);
        r->server->n_requests--;
        free(r->method);
        free(r->path);
        free(r->body);
        free(r);
}

int http_request_respond(HttpRequest *r, unsigned status, const char *const *headers, char *body,
                         size_t len) {
        struct MHD_Response *resp;

        if (r->response || r->queued) {
                free(body);
                return -EALREADY;
        }
        resp = MHD_create_response_from_buffer_with_free_callback(len, body, free);
        if (!resp) {
                free(body);
                return -ENOMEM;
        }
        for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
                if (MHD_add_response_header(resp, headers[i], headers[i + 1]) == MHD_NO) {
                        MHD_destroy_response(resp);
                        return -ENOMEM;
                }
        r->response = resp;
        r->status = status;
        if (r->suspended) {
                r->suspended = false;
                MHD_resume_connection(r->conn);
                /* MHD looks at a resumed connection in its next run. */
                (void) sd_event_source_set_enabled(r->server->defer, SD_EVENT_ONESHOT);
        }
        return 0;
}

static enum MHD_Result queue(HttpRequest *r) {
        enum MHD_Result q = MHD_queue_response(r->conn, r->status, r->response);

        MHD_destroy_response(r->response);
        r->response = NULL;
        r->queued = q == MHD_YES;
        return q;
}

/* Hand the request to the handler; queue its answer if it gave one now,
 * else suspend the connection until it does. */
static enum MHD_Result dispatch(HttpRequest *r) {
        HttpServer *s = r->server;

        r->dispatched = true;
        s->handler(r, s->userdata);
        if (r->response)
                return queue(r);
        if (r->too_large) {
                /* The handler must answer a refused body at once. */
                log_error("No answer to a request with a body over the limit from %s", r->peer);
                return MHD_NO;
        }
        r->suspended = true;
        MHD_suspend_connection(r->conn);
        return MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls) {
        HttpServer *s = cls;
        HttpRequest *r = *con_cls;

        if (!r) {
                const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");

                r = request_new(s, c, url, method);
                *con_cls = r;
                if (cl && strtoull(cl, NULL, 10) > s->max_body) {
                        r->too_large = true;
                        return dispatch(r);
                }
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                size_t n = *upload_data_size;

                *upload_data_size = 0;
                if (r->too_large)
                        return MHD_YES;
                if (r->body_len + n > s->max_body) {
                        r->too_large = true;
                        free(r->body);
                        r->body = NULL;
                        r->body_len = 0;
                        return dispatch(r);
                }
                if (r->body_len + n + 1 > r->body_allocated) {
                        r->body_allocated = MAX_(r->body_allocated * 2, r->body_len + n + 1);
                        r->body = xrealloc(r->body, MIN_(r->body_allocated, s->max_body + 1));
                        r->body_allocated = MIN_(r->body_allocated, s->max_body + 1);
                }
                memcpy(r->body + r->body_len, upload_data, n);
                r->body_len += n;
                r->body[r->body_len] = 0;
                return MHD_YES;
        }
        if (r->response)
                return queue(r);
        if (!r->dispatched)
                return dispatch(r);
        return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
        HttpRequest *r = *con_cls;

        if (!r)
                return;
        *con_cls = NULL;
        if (r->on_done)
                r->on_done(r, r->queued && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK, r->done_userdata);
        request_free(r);
}

/* ---- the server on sd-event ---- */

static void server_arm_timer(HttpServer *s) {
        MHD_UNSIGNED_LONG_LONG ms;

        if (MHD_get_timeout(s->mhd, &ms) == MHD_YES) {
                (void) sd_event_source_set_time(s->timer, now_usec(CLOCK_MONOTONIC) + (uint64_t) ms * 1000);
                (void) sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
        } else
                (void) sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
}

static void server_run(HttpServer *s) {
        (void) MHD_run(s->mhd);
        server_arm_timer(s);
}

static int on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        server_run(userdata);
        return 0;
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        server_run(userdata);
        return 0;
}

static int on_defer(sd_event_source *src, void *userdata) {
        server_run(userdata);
        return 0;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
        char buf[512];

        vsnprintf(buf, sizeof buf, fmt, ap);
        buf[strcspn(buf, "\n")] = 0;
        log_debug("libmicrohttpd: %s", buf);
}

/* "host:port" with a numeric host ("[v6]:port" for IPv6). */
static int parse_listen(const char *listen, struct sockaddr_storage *ret, bool *ret_v6) {
        _cleanup_free_ char *host = NULL;
        const char *colon;
        unsigned long port;
        char *end;

        if (!listen || !*listen)
                return -EINVAL;
        if (listen[0] == '[') {
                const char *close = strchr(listen, ']');
                if (!close || close[1] != ':')
                        return -EINVAL;
                host = xstrndup(listen + 1, close - listen - 1);
                colon = close + 1;
        } else {
                colon = strrchr(listen, ':');
                if (!colon)
                        return -EINVAL;
                host = xstrndup(listen, colon - listen);
        }
        errno = 0;
        port = strtoul(colon + 1, &end, 10);
        if (errno || *end || end == colon + 1 || port > 65535)
                return -EINVAL;
        memset(ret, 0, sizeof *ret);
        if (inet_pton(AF_INET, host, &((struct sockaddr_in *) ret)->sin_addr) == 1) {
                ((struct sockaddr_in *) ret)->sin_family = AF_INET;
                ((struct sockaddr_in *) ret)->sin_port = htons((uint16_t) port);
                *ret_v6 = false;
                return 0;
        }
        if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *) ret)->sin6_addr) == 1) {
                ((struct sockaddr_in6 *) ret)->sin6_family = AF_INET6;
                ((struct sockaddr_in6 *) ret)->sin6_port = htons((uint16_t) port);
                *ret_v6 = true;
                return 0;
        }
        return -EINVAL;
}

bool http_listen_is_loopback(const char *listen) {
        struct sockaddr_storage ss;
        bool v6;

        if (parse_listen(listen, &ss, &v6) < 0)
                return false;
        if (!v6)
                return (ntohl(((struct sockaddr_in *) &ss)->sin_addr.s_addr) >> 24) == 127;
        return IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *) &ss)->sin6_addr);
}

static int set_error(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int set_error(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;

        if (ret_error) {
                va_start(ap, fmt);
                free(*ret_error);
                *ret_error = xvasprintf(fmt, ap);
                va_end(ap);
        }
        return r;
}

int http_server_new(sd_event *e, const HttpServerConfig *cfg, HttpHandlerFn handler, void *userdata,
                    HttpServer **ret, char **ret_error) {
        _cleanup_(http_server_freep) HttpServer *s = NULL;
        struct sockaddr_storage addr;
        const union MHD_DaemonInfo *info;
        unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
        bool v6;
        int r;

        if (parse_listen(cfg->listen, &addr, &v6) < 0)
                return set_error(ret_error, -EINVAL,
                                 "invalid listen address '%s' (expected a numeric "
                                 "host:port, [v6]:port for IPv6)",
                                 strempty(cfg->listen));
        if (v6)
                flags |= MHD_USE_IPv6;
        if (!cfg->tls_cert_pem != !cfg->tls_key_pem)
                return set_error(ret_error, -EINVAL, "TLS needs both a certificate and a key");
        if (cfg->tls_cert_pem) {
                if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
                        return set_error(ret_error, -EINVAL, "this libmicrohttpd has no TLS");
                flags |= MHD_USE_TLS;
        }

        s = xmalloc(sizeof *s);
        *s = (HttpServer){
                .event = sd_event_ref(e),
                .handler = handler,
                .userdata = userdata,
                .max_body = cfg->max_body_bytes,
        };
        if (cfg->tls_cert_pem) {
                s->tls_cert = xstrdup(cfg->tls_cert_pem);
                s->tls_key = xstrdup(cfg->tls_key_pem);
        }

        {
                struct MHD_OptionItem opts[] = {
                        {MHD_OPTION_SOCK_ADDR, 0, &addr},
                        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t) cfg->max_header_bytes, NULL},
                        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t) cfg->max_connections, NULL},
                        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t) cfg->idle_timeout_sec, NULL},
                        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t) on_completed, s},
                        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t) on_mhd_log, s},
                        {MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL},
                        {s->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, s->tls_cert},
                        {s->tls_key ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, s->tls_key},
                        {MHD_OPTION_END, 0, NULL},
                };

                s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_access, s, MHD_OPTION_ARRAY, opts,
                                          MHD_OPTION_END);
        }
        if (!s->mhd)
                return set_error(ret_error, -EADDRNOTAVAIL,
                                 "cannot listen on %s (in use, not an address of this host, or a bad TLS "
                                 "certificate or key)",
                                 cfg->listen);
        info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
        if (!info)
                return set_error(ret_error, -EIO, "libmicrohttpd gives no epoll fd");

        r = sd_event_add_io(e, &s->io, info->epoll_fd, EPOLLIN, on_io, s);
        if (r >= 0)
                /* 1 ms, not sd-event's default accuracy (250 ms for 0): MHD
                 * asks for a run at once (a timeout of 0) to write an answer
                 * queued on a resumed connection. */
                r = sd_event_add_time(e, &s->timer, CLOCK_MONOTONIC, UINT64_MAX, HTTP_TIMER_ACCURACY_USEC,
                                      on_timer, s);
        if (r >= 0)
                r = sd_event_add_defer(e, &s->defer, on_defer, s);
        if (r < 0)
                return set_error(ret_error, r, "cannot add event sources: %s", strerror(-r));
        (void) sd_event_source_set_enabled(s->defer, SD_EVENT_OFF);
        (void) sd_event_source_set_description(s->io, "http-io");
        server_arm_timer(s);
        *ret = TAKE_PTR(s);
        return 0;
}

HttpServer *http_server_free(HttpServer *s) {
        if (!s)
                return NULL;
        sd_event_source_disable_unref(s->io);
        sd_event_source_disable_unref(s->timer);
        sd_event_source_disable_unref(s->defer);
        if (s->mhd)
                MHD_stop_daemon(s->mhd);
        sd_event_unref(s->event);
        free(s->tls_cert);
        if (s->tls_key) {
                explicit_bzero(s->tls_key, strlen(s->tls_key));
                free(s->tls_key);
        }
        free(s);
        return NULL;
}

void http_server_quiesce(HttpServer *s) {
        int fd;

        if (!s || s->quiesced)
                return;
        s->quiesced = true;
        fd = MHD_quiesce_daemon(s->mhd);
        if (fd >= 0)
                close(fd);
}

unsigned http_server_requests(const HttpServer *s) {
        return s ? s->n_requests : 0;
}

unsigned http_server_connections(const HttpServer *s) {
        const union MHD_DaemonInfo *info;

        if (!s)
                return 0;
        info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        return info ? info->num_connections : 0;
}
