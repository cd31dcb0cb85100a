/* SPDX-License-Identifier: MIT */
/*
 * The web console of imgflow-api, under /console/ (docs/console.md).
 *
 *   GET  /console/, /console/console.js, /console/console.css
 *        the page: plain HTML, JavaScript and CSS from api/console/, built
 *        into the program (console-files.c, made by embed.py): no file
 *        system path, no third-party host, no build step beyond meson's
 *   POST /console/login    {"accessKeyId", "secretAccessKey"} -> a session
 *        cookie and {"user", "csrfToken"}
 *   GET  /console/session  {"user", "csrfToken"} for the cookie, or 401
 *   POST /console/logout   the cookie expired
 *   POST /console/api      X-Amz-Target and an AWS JSON body, as POST / of
 *        the API: the same operations, each through the same IAM policy
 *        evaluation, as the session's access key
 *   POST /console/graph    {"definition", "events"} -> {"svg", "execution",
 *        "states"} (graph/), for what the page already read through
 *        /console/api
 *   GET  /console/thumbnail?bucket=B&key=K  a small JPEG of an image
 *        (console-thumbnail.c), under the key's s3:GetObject
 *   POST /console/map-run-failures  {"mapRunArn"} -> {"failures": [{"index",
 *        "items", "error", "cause", "date", "input"?}]}: a Map Run's failed
 *        children (ops-maprun.c), under the key's states:DescribeMapRun on
 *        the run
 *
 * The session (console-session.c, which reads the untrusted parts: cookie,
 * sign-in body, CSRF header, thumbnail query): "<access key id>.<expiry>.<mac>",
 * mac = HMAC-SHA256 (a secret drawn when the process starts) of the key id,
 * the expiry and the SHA-256 of the key's secret, so a session ends when it expires, when the
 * key is removed or its secret changes (keys are reloaded on SIGHUP), or
 * when the process restarts. The cookie is HttpOnly, SameSite=Strict,
 * Path=/console, and Secure over TLS. Every POST but the login carries
 * X-CSRF-Token: HMAC-SHA256 of "csrf." and the cookie under the same
 * secret, which a page of another site can neither read nor compute.
 *
 * The graph's layout runs in Graphviz's child process (graph_layout_*()),
 * watched on the loop and killed after CONSOLE_LAYOUT_TIMEOUT_MS; it is
 * only done for a signed-in session with its CSRF token.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "alloc-util.h"
#include "api-internal.h"
#include "asl-definition.h"
#include "aws-json.h"
#include "clock.h"
#include "console-session.h"
#include "console.h"
#include "format.h"
#include "graph.h"
#include "hash.h"
#include "http.h"
#include "keys.h"
#include "log.h"
#include "random.h"

#define CONSOLE_SESSION_SEC (8 * 3600)
#define CONSOLE_LAYOUT_TIMEOUT_MS 5000

struct ConsoleFile {
        const char *name, *type, *data;
        size_t len;
};
/* console-files.c (generated) */
extern const ConsoleFile console_files[];
extern const size_t console_files_count;

void console_secret_init(uint8_t secret[static CONSOLE_SECRET_BYTES]) {
        random_fill(NULL, secret, CONSOLE_SECRET_BYTES);
}

/* The key of a valid session cookie (borrowed from the key set) and the
 * session's value in *ret_session (new), or NULL. */
static const ApiKey *session_key(ApiManager *m, HttpRequest *r, char **ret_session) {
        _cleanup_free_ char *v = console_cookie_session(http_request_header(r, "Cookie"));
        const ApiKey *key = console_session_verify(m->console_secret, m->keys, v,
                                                   (int64_t) (now_usec(CLOCK_REALTIME) / 1000000));

        if (!key)
                return NULL;
        *ret_session = TAKE_PTR(v);
        return key;
}

static void send_json(ApiCall *c, unsigned status, json_t *o, const char *cookie) {
        char *s = json_dumps(o, JSON_COMPACT);
        const char *headers[] = {"Content-Type",
                                 "application/json",
                                 "Cache-Control",
                                 "no-store",
                                 cookie ? "Set-Cookie" : NULL,
                                 cookie,
                                 NULL};

        json_decref(o);
        if (!s)
                abort();
        if (status == 200)
                c->m->n_ok++;
        else
                c->m->n_refused++;
        (void) http_request_respond(c->req, status, headers, s, strlen(s));
}

static void send_error(ApiCall *c, unsigned status, const char *error, const char *message) {
        send_json(c, status, json_pack("{s:s, s:s}", "__type", error, "message", message), NULL);
}

static void serve_file(ApiCall *c, const char *name) {
        for (size_t i = 0; i < console_files_count; i++)
                if (streq(console_files[i].name, name)) {
                        const char *headers[] = {
                                "Content-Type",
                                console_files[i].type,
                                "Cache-Control",
                                "no-cache",
                                "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src "
                                "'self'; "
                                "frame-ancestors 'none'",
                                "X-Content-Type-Options",
                                "nosniff",
                                NULL,
                        };
                        char *body = xmalloc(console_files[i].len + 1);
                        memcpy(body, console_files[i].data, console_files[i].len);
                        c->m->n_ok++;
                        (void) http_request_respond(c->req, 200, headers, body, console_files[i].len);
                        return;
                }
        send_error(c, 404, "NotFound", "No such console page");
}

static void login(ApiCall *c) {
        ApiManager *m = c->m;
        _cleanup_free_ char *session = NULL, *cookie = NULL, *id = NULL, *secret = NULL;
        const char *problem = NULL;
        const ApiKey *key;
        const void *body;
        char csrf[CONSOLE_TOKEN_HEX];
        int64_t expiry;
        size_t len;

        body = http_request_body(c->req, &len);
        if (console_login_parse(body, len, &id, &secret, &problem) < 0)
                return send_error(c, 400, "ValidationException", problem);
        c->key_id = xstrdup(id);
        key = m->keys ? keys_find(m->keys, id) : NULL;
        if (!key || !console_equal_const(key->secret, secret)) {
                log_warning("Console sign-in refused for access key %.128s from %s", id,
                            http_request_peer(c->req));
                return send_error(c, 403, "UnrecognizedClientException",
                                  "The access key id or the secret access key is wrong");
        }
        expiry = (int64_t) (now_usec(CLOCK_REALTIME) / 1000000) + CONSOLE_SESSION_SEC;
        session = console_session_value(m->console_secret, key, expiry);
        console_csrf_token(m->console_secret, session, csrf);
        cookie = xasprintf(CONSOLE_COOKIE "=%s; Path=/console; Max-Age=%d; HttpOnly; SameSite=Strict%s",
                           session, CONSOLE_SESSION_SEC, m->tls ? "; Secure" : "");
        log_info("Console session for access key %s (user %s) from %s", key->access_key_id, key->user,
                 http_request_peer(c->req));
        send_json(c, 200, json_pack("{s:s, s:s}", "user", key->user, "csrfToken", csrf), cookie);
}

/* A signed-in caller: its key, and for a POST a matching X-CSRF-Token;
 * else answered (401 / 403) and NULL. */
static const ApiKey *require_session(ApiCall *c, bool post) {
        _cleanup_free_ char *session = NULL;
        const ApiKey *key = session_key(c->m, c->req, &session);

        if (!key) {
                send_error(c, 401, "NotSignedIn", "Sign in to the console first");
                return NULL;
        }
        if (post) {
                if (!console_csrf_valid(c->m->console_secret, session,
                                        http_request_header(c->req, "X-CSRF-Token"))) {
                        log_warning("Console request without a valid CSRF token for access key %s from %s",
                                    key->access_key_id, http_request_peer(c->req));
                        send_error(c, 403, "InvalidCsrfToken",
                                   "The request's X-CSRF-Token is missing or wrong");
                        return NULL;
                }
        }
        free(c->key_id);
        c->key_id = xstrdup(key->access_key_id);
        return key;
}

static void session_info(ApiCall *c) {
        _cleanup_free_ char *session = NULL;
        const ApiKey *key = session_key(c->m, c->req, &session);
        char csrf[CONSOLE_TOKEN_HEX];

        if (!key)
                return send_error(c, 401, "NotSignedIn", "Sign in to the console first");
        console_csrf_token(c->m->console_secret, session, csrf);
        send_json(c, 200, json_pack("{s:s, s:s}", "user", key->user, "csrfToken", csrf), NULL);
}

/* A layout under way for one call (its state: freed with the call). */
typedef struct ConsoleLayout {
        ApiCall *c;
        GraphLayout *layout;
        json_t *summary;
        sd_event_source *io, *timer;
} ConsoleLayout;

static void layout_free(void *p) {
        ConsoleLayout *l = p;

        sd_event_source_disable_unref(l->io);
        sd_event_source_disable_unref(l->timer);
        child_output_free(l->layout);
        json_decref(l->summary);
        free(l);
}

/* The layout ended (r: graph_layout_read()'s, or -ETIME). */
static void layout_done(ConsoleLayout *l, int r) {
        ApiCall *c = l->c;
        _cleanup_free_ char *svg = NULL;
        size_t len;

        l->io = sd_event_source_disable_unref(l->io);
        l->timer = sd_event_source_disable_unref(l->timer);
        if (!api_call_alive(c))
                return; /* the call and l are gone */
        if (r < 0) {
                log_warning("Console graph layout failed: %s", r == -ETIME ? "out of time" : strerror(-r));
                return send_error(c, 500, "LayoutFailed",
                                  r == -ETIME ? "The layout took too long" : "The layout failed");
        }
        svg = child_output_take(l->layout, &len);
        send_json(c, 200,
                  json_pack("{s:s, s:O, s:O}", "svg", svg, "execution",
                            json_object_get(l->summary, "execution"), "states",
                            json_object_get(l->summary, "states")),
                  NULL);
}

static int on_layout_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ConsoleLayout *l = userdata;
        int r = graph_layout_read(l->layout);

        if (r != 0)
                layout_done(l, r);
        return 0;
}

static int on_layout_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        layout_done(userdata, -ETIME);
        return 0;
}

/* The graph: states from the history and DOT here (pure, bounded by
 * GRAPH_MAX_STATES), the layout in Graphviz's child process, watched on
 * the loop until it ends or CONSOLE_LAYOUT_TIMEOUT_MS passed. */
static void graph(ApiCall *c) {
        _cleanup_json_ json_t *in = NULL, *summary = NULL;
        _cleanup_(asl_machine_freep) AslMachine *machine = NULL;
        _cleanup_free_ char *dot = NULL;
        json_t *definition = NULL, *events;
        ConsoleLayout *l;
        const char *text;
        AslDiag d = {};
        const void *body;
        size_t len;
        int r;

        body = http_request_body(c->req, &len);
        in = json_loadb(body, len, 0, NULL);
        text = json_string_value(json_object_get(in, "definition"));
        events = json_object_get(in, "events");
        if (!text || (events && !json_is_array(events)))
                return send_error(c, 400, "ValidationException",
                                  "definition (the definition's text) is required, events is an array");
        if (asl_machine_parse(text, strlen(text), &machine, &d) < 0) {
                asl_diag_clear(&d);
                return send_error(c, 400, "InvalidDefinition", "The definition is not valid");
        }
        asl_diag_clear(&d);
        definition = json_loads(text, 0, NULL);
        r = graph_states(definition, events, &summary);
        if (r >= 0)
                r = graph_dot(definition, summary, &dot);
        json_decref(definition);
        if (r == -E2BIG)
                return send_error(c, 400, "DefinitionTooLarge",
                                  "The definition has more states than a drawing holds");
        l = xmalloc(sizeof *l);
        *l = (ConsoleLayout){.c = c, .summary = TAKE_PTR(summary)};
        api_call_set_state(c, l, layout_free);
        if (r >= 0)
                r = graph_layout_start(dot, &l->layout);
        if (r >= 0)
                r = sd_event_add_io(api_event(c->m), &l->io, child_output_fd(l->layout), EPOLLIN,
                                    on_layout_io, l);
        if (r >= 0)
                r = sd_event_add_time_relative(api_event(c->m), &l->timer, CLOCK_MONOTONIC,
                                               (uint64_t) CONSOLE_LAYOUT_TIMEOUT_MS * 1000,
                                               API_TIMER_ACCURACY_USEC, on_layout_timer, l);
        if (r < 0) {
                log_warning("Console graph layout not started: %s", strerror(-r));
                return send_error(c, 500, "LayoutFailed", "The layout could not start");
        }
        c->busy = true;
}

void console_request(ApiCall *c) {
        const char *method = http_request_method(c->req), *path = http_request_path(c->req);
        bool get = streq(method, "GET") || streq(method, "HEAD"), post = streq(method, "POST");

        if (get && (streq(path, "/console") || streq(path, "/console/")))
                return serve_file(c, "index.html");
        if (get && streq(path, "/console/session"))
                return session_info(c);
        if (get && streq(path, "/console/thumbnail")) {
                const ApiKey *key = require_session(c, false);
                if (key)
                        console_thumbnail(c, key);
                return;
        }
        if (get && strncmp(path, "/console/", 9) == 0)
                return serve_file(c, path + 9);
        if (!post)
                return send_error(c, 405, "MethodNotAllowed",
                                  "The console takes GET for pages and POST for actions");
        if (streq(path, "/console/login"))
                return login(c);
        if (streq(path, "/console/logout")) {
                if (!require_session(c, true))
                        return;
                return send_json(c, 200, json_object(),
                                 CONSOLE_COOKIE "=; Path=/console; Max-Age=0; HttpOnly; "
                                                "SameSite=Strict");
        }
        if (!require_session(c, true))
                return;
        if (streq(path, "/console/api"))
                return api_dispatch(c, http_request_header(c->req, "X-Amz-Target"), /* signed_in= */ true);
        if (streq(path, "/console/graph"))
                return graph(c);
        if (streq(path, "/console/map-run-failures"))
                return api_dispatch_op(c, &api_op_map_run_failures, /* signed_in= */ true);
        send_error(c, 404, "NotFound", "No such console action");
}
