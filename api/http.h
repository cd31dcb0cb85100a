/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * An HTTP/1.1 server on sd-event: the boundary file for libmicrohttpd
 * (STYLE 5). Why libmicrohttpd (Debian's libmicrohttpd12), and not
 * libevent's evhttp, libsoup, h2o or a parser of our own:
 *
 *   - it runs inside somebody else's event loop: with MHD_USE_EPOLL and no
 *     internal thread it keeps all its sockets in one epoll fd
 *     (MHD_DAEMON_INFO_EPOLL_FD), which one sd_event io source watches; a
 *     timer follows MHD_get_timeout() and each wakeup calls MHD_run(),
 *     which never blocks. So the daemon keeps STYLE 9's one loop and
 *     thread, and a request handler may call Redis and Kafka directly;
 *   - MHD_ALLOW_SUSPEND_RESUME: a request that waits (Redis, a
 *     coordinator's answer, a 60 s GetActivityTask long poll) is
 *     suspended, costs no polling, and is resumed when its answer is ready;
 *   - it knows when a response was completely written to the socket
 *     (MHD_OPTION_NOTIFY_COMPLETED with MHD_REQUEST_TERMINATED_COMPLETED_OK),
 *     which activity task delivery needs (docs/api.md);
 *   - TLS through GnuTLS from the same configuration (certificate and key
 *     in memory), keep-alive and pipelining, limits on connection memory
 *     (request line and headers) and on connections;
 *   - it is small, has no dependency beyond GnuTLS, is packaged by Debian
 *     and has been fuzzed for years (GNU libmicrohttpd, OSS-Fuzz). evhttp
 *     would bring a second event loop, libsoup GLib's main loop, h2o is
 *     not in Debian 12 as a library.
 *
 * What this file gives the API: a request with its method, path, headers,
 * query, peer and whole body (bounded by max_body: a larger body is
 * refused as soon as Content-Length or the bytes read show it, without
 * reading the rest); one handler call per request; one answer per request,
 * now or later (the connection is suspended meanwhile); and a call when
 * the answer was written completely, or the connection failed first.
 *
 * Threads: none. Everything runs on the loop; MHD_run() calls back into
 * the handler.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <systemd/sd-event.h>

typedef struct HttpServer HttpServer;
typedef struct HttpRequest HttpRequest;

typedef struct HttpServerConfig {
        const char *listen;       /* "127.0.0.1:8083", "[::1]:8083", "0.0.0.0:443": numeric */
        const char *tls_cert_pem; /* contents, NULL = plain HTTP */
        const char *tls_key_pem;
        size_t max_header_bytes; /* request line and headers */
        size_t max_body_bytes;
        unsigned max_connections;
        unsigned idle_timeout_sec; /* a connection without traffic is closed */
} HttpServerConfig;

/* Called once per request, with the whole body read, or with
 * http_request_body_too_large() true (the body was not read; answer now). */
typedef void (*HttpHandlerFn)(HttpRequest *r, void *userdata);
/* Called when the request ends: sent is true when the answer was written
 * completely, false when the connection failed or closed before. */
typedef void (*HttpDoneFn)(HttpRequest *r, bool sent, void *userdata);

/* 0, or -EINVAL (bad listen address, TLS not available), -EADDRINUSE,
 * -errno; *ret_error says why (new string). */
int http_server_new(sd_event *e, const HttpServerConfig *cfg, HttpHandlerFn handler, void *userdata,
                    HttpServer **ret, char **ret_error);
/* Every request must have been answered (none suspended). Accepts NULL. */
HttpServer *http_server_free(HttpServer *s);
static inline void http_server_freep(HttpServer **s) {
        http_server_free(*s);
}
/* Stop accepting connections (graceful stop); open ones go on. */
void http_server_quiesce(HttpServer *s);
/* Requests received and not yet ended. */
unsigned http_server_requests(const HttpServer *s);
unsigned http_server_connections(const HttpServer *s);

/* Whether a numeric address is a loopback address (127.0.0.0/8, ::1). */
bool http_listen_is_loopback(const char *listen);

/* ---- a request: everything borrowed, valid until it ended ---- */

const char *http_request_method(const HttpRequest *r);
const char *http_request_path(const HttpRequest *r);
/* Case-insensitive; the first value; NULL when absent. */
const char *http_request_header(const HttpRequest *r, const char *name);
/* Every header (or every decoded query argument) in order; a negative
 * return of fn stops and is returned. */
typedef int (*HttpPairFn)(const char *name, const char *value, void *userdata);
int http_request_foreach_header(HttpRequest *r, HttpPairFn fn, void *userdata);
int http_request_foreach_query(HttpRequest *r, HttpPairFn fn, void *userdata);
const void *http_request_body(const HttpRequest *r, size_t *ret_len);
bool http_request_body_too_large(const HttpRequest *r);
/* "127.0.0.1:53412" (for logs). */
const char *http_request_peer(const HttpRequest *r);

/* The caller's state for this request; destroy (may be NULL) is called
 * when the request ends (after on_done). */
void http_request_set_userdata(HttpRequest *r, void *userdata, void (*destroy)(void *));
void *http_request_get_userdata(const HttpRequest *r);
/* Called when the request ends (see HttpDoneFn). */
void http_request_on_done(HttpRequest *r, HttpDoneFn fn, void *userdata);

/*
 * The answer: status, headers (NULL-terminated name, value pairs, copied;
 * may be NULL), body (taken: malloc()ed, len bytes). Once per request;
 * from the handler or any time later on the loop thread. 0 or -EALREADY,
 * -ENOMEM.
 */
int http_request_respond(HttpRequest *r, unsigned status, const char *const *headers, char *body,
                         size_t len);
bool http_request_responded(const HttpRequest *r);
