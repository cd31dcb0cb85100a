/* SPDX-License-Identifier: MIT */
/*
 * hiredis on sd-event; the one boundary file for hiredis (STYLE 5). See
 * redis.h for the design.
 *
 * Every command is wrapped in a RedisPending (our callback, its userdata,
 * its deadline, and for scripts the arguments needed to retry with EVAL),
 * kept in a list in send order: the oldest deadline is the head's, so one
 * timer per connection is enough. hiredis calls every pending callback with
 * a NULL reply when a context is freed, which is how commands lost in a
 * disconnect reach their callers.
 *
 * Adapter lifetime: each redisAsyncContext gets its own RedisAdapter
 * (ev.data) holding the io source; hiredis calls ev.cleanup when the context
 * dies, which frees it. Since a read can free the context, the io handler
 * checks a flag that cleanup sets before touching the adapter again.
 *
 * Disconnects are handled in one place (conn_lost): hiredis-initiated ones
 * arrive through the connect/disconnect callbacks; ours (timeout, AUTH
 * failure) go through a defer source so a context is never freed from
 * inside its own callback.
 */

#include <assert.h>
#include <errno.h>
#include <hiredis/async.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "hash.h"
#include "log.h"
#include "redis.h"

#define RECONNECT_MIN_USEC (100 * 1000ULL)
#define RECONNECT_MAX_USEC (5 * 1000 * 1000ULL)

typedef struct RedisPending RedisPending;
struct RedisPending {
        RedisConn *conn;
        RedisReplyFn cb;
        void *userdata;
        uint64_t deadline; /* CLOCK_MONOTONIC usec */
        RedisPending *prev, *next;
        bool internal; /* AUTH / SELECT: a failure drops the connection */
        /* scripts only: the EVALSHA command as sent (RESP), kept for
         * resending it as EVAL on NOSCRIPT, in the same allocation */
        const RedisScript *script;
        size_t tail;            /* offset of numkeys, after EVALSHA and the SHA1 */
        size_t cmd_len;
        size_t allocated;       /* bytes for cmd[]; 0: none */
        char cmd[];
};

/* Spare script entries (pending_free()): 1 KiB to 256 KiB, 16 MiB in all. */
#define SPARE_CLASSES 9
#define SPARE_BYTES_MAX (16U * 1024U * 1024U)

typedef struct RedisAdapter {
        RedisConn *conn;
        redisAsyncContext *ac;
        sd_event_source *io;
        uint32_t events;
        unsigned refs; /* hiredis's (until cleanup) + the io handler's while it runs */
        bool dead;     /* cleanup was called: the context is gone */
} RedisAdapter;

struct RedisConn {
        sd_event *event;
        char *address; /* as configured, for messages */
        char *host, *unix_path, *username, *password;
        int port;
        int64_t db;
        uint64_t timeout_usec;

        RedisConnectFn on_state;
        void *userdata;

        redisAsyncContext *ac;
        bool connected;
        bool connected_before_drop;
        bool up;           /* a reply came on this connection: it is a Redis server */
        char *last_failure; /* the last failed attempt's reason, logged once until it changes */
        uint64_t connect_deadline;
        uint64_t backoff_usec;
        char *drop_reason; /* set when a drop is scheduled */

        sd_event_source *timeout_timer, *reconnect_timer, *drop_defer;
        RedisPending *head, *tail;
        size_t n_pending;
        /* Script entries whose reply came, kept for the next ones: a
         * command of a few KiB, allocated and freed per call, made glibc
         * consolidate its fast bins every time (pending_new_script()). */
        RedisPending *spare[SPARE_CLASSES];     /* by size: 1 KiB << class */
        size_t spare_bytes;
};

/* ------------------------------------------------------------ address */

int redis_parse_address(const char *address, char **ret_host, int *ret_port, char **ret_unix_path) {
        _cleanup_free_ char *host = NULL, *path = NULL;
        const char *port = NULL;
        long p = 6379;

        if (!address || !*address)
                return -EINVAL;
        if (strncmp(address, "unix:", 5) == 0) {
                if (!address[5])
                        return -EINVAL;
                path = strdup(address + 5);
                if (!path)
                        return -ENOMEM;
                *ret_host = NULL;
                *ret_port = 0;
                *ret_unix_path = TAKE_PTR(path);
                return 0;
        }
        if (address[0] == '[') {
                const char *end = strchr(address, ']');
                if (!end || (end[1] && end[1] != ':'))
                        return -EINVAL;
                host = strndup(address + 1, (size_t) (end - address - 1));
                if (end[1] == ':')
                        port = end + 2;
        } else {
                const char *colon = strchr(address, ':');
                if (colon && strchr(colon + 1, ':'))
                        return -EINVAL; /* bare IPv6 needs [] */
                host = colon ? strndup(address, (size_t) (colon - address)) : strdup(address);
                if (colon)
                        port = colon + 1;
        }
        if (!host)
                return -ENOMEM;
        if (!*host)
                return -EINVAL;
        if (port) {
                char *end;
                errno = 0;
                p = strtol(port, &end, 10);
                if (errno || *end || end == port || p <= 0 || p > 65535)
                        return -EINVAL;
        }
        *ret_host = TAKE_PTR(host);
        *ret_port = (int) p;
        *ret_unix_path = NULL;
        return 0;
}

/* ------------------------------------------------------------ adapter */

static int on_adapter_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);

static void adapter_update(RedisAdapter *a) {
        if (!a->io) {
                if (a->events == 0)
                        return;
                if (sd_event_add_io(a->conn->event, &a->io, a->ac->c.fd, a->events, on_adapter_io, a) < 0)
                        log_error("Redis: failed to watch the connection's socket");
                return;
        }
        if (a->events == 0)
                (void) sd_event_source_set_enabled(a->io, SD_EVENT_OFF);
        else {
                (void) sd_event_source_set_io_events(a->io, a->events);
                (void) sd_event_source_set_enabled(a->io, SD_EVENT_ON);
        }
}

static void adapter_add_read(void *p) {
        RedisAdapter *a = p;
        a->events |= EPOLLIN;
        adapter_update(a);
}
static void adapter_del_read(void *p) {
        RedisAdapter *a = p;
        a->events &= ~(uint32_t) EPOLLIN;
        adapter_update(a);
}
static void adapter_add_write(void *p) {
        RedisAdapter *a = p;
        a->events |= EPOLLOUT;
        adapter_update(a);
}
static void adapter_del_write(void *p) {
        RedisAdapter *a = p;
        a->events &= ~(uint32_t) EPOLLOUT;
        adapter_update(a);
}
static void adapter_unref(RedisAdapter *a) {
        if (--a->refs == 0)
                free(a);
}

static void adapter_cleanup(void *p) {
        RedisAdapter *a = p;
        a->dead = true;
        a->io = sd_event_source_disable_unref(a->io);
        adapter_unref(a);
}

/* ---- hiredis 0.14 internals: the one place -----------------------------
 *
 * adapter_write() is the only code that reaches into hiredis: it writes and
 * edits the connection's output buffer (redisContext.obuf, an sds string)
 * itself. meson.build pins hiredis to 0.14.x (>= 0.14, < 1.0) for it. With
 * hiredis 1.x this must change: the sds functions are renamed (hi_sdslen,
 * hi_sdsrange, hi_sdsclear, hi_sdsalloc, hi_sdsempty, hi_sdsfree), a write
 * goes through redisContext.funcs->write (the TLS hook; a plain write() on
 * the fd would bypass TLS) and redisAsyncHandleWrite() calls it; check
 * redisBufferWrite() of that version before raising the pin. Everything
 * else in this file uses hiredis's public API only. */

/* The output buffer kept after a write, at most (adapter_write()). */
#define OBUF_KEEP_MAX (16U * 1024U * 1024U)

/* What redisAsyncHandleWrite() does once connected, except that a buffer
 * written out is emptied, not freed: hiredis 0.14 frees it after every
 * complete write and grows a new one for the next commands, and with many
 * commands per loop iteration those large frees and reallocs made glibc
 * consolidate its fast bins each time. Errors and the connect step are
 * left to hiredis. */
static void adapter_write(RedisAdapter *a) {
        redisAsyncContext *ac = a->ac;
        redisContext *ctx = &ac->c;
        size_t len;
        ssize_t n;

        if (!(ctx->flags & REDIS_CONNECTED) || ctx->err || ctx->fd < 0) {
                redisAsyncHandleWrite(ac);
                return;
        }
        len = sdslen(ctx->obuf);
        if (len > 0) {
                n = write(ctx->fd, ctx->obuf, len);
                if (n < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                redisAsyncHandleWrite(ac); /* fails the same way: hiredis disconnects */
                        return;
                }
                if ((size_t) n < len)
                        sdsrange(ctx->obuf, (int) n, -1);
                else if (sdsalloc(ctx->obuf) <= OBUF_KEEP_MAX)
                        sdsclear(ctx->obuf);
                else {
                        sds empty = sdsempty();

                        if (empty) {
                                sdsfree(ctx->obuf);
                                ctx->obuf = empty;
                        } else
                                sdsclear(ctx->obuf);
                }
        }
        if (sdslen(ctx->obuf) == 0)
                adapter_del_write(a);
        adapter_add_read(a);
}

/* ---- end of hiredis 0.14 internals ---- */

static int on_adapter_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        RedisAdapter *a = userdata;
        redisAsyncContext *ac = a->ac;
        a->refs++;
        if (revents & (EPOLLIN | EPOLLERR | EPOLLHUP))
                redisAsyncHandleRead(ac);
        if (!a->dead && (revents & EPOLLOUT))
                adapter_write(a);
        adapter_unref(a);
        return 0;
}

static int adapter_attach(RedisConn *c, redisAsyncContext *ac) {
        RedisAdapter *a = calloc(1, sizeof(RedisAdapter));
        if (!a)
                return -ENOMEM;
        a->conn = c;
        a->ac = ac;
        a->refs = 1;
        ac->ev.data = a;
        ac->ev.addRead = adapter_add_read;
        ac->ev.delRead = adapter_del_read;
        ac->ev.addWrite = adapter_add_write;
        ac->ev.delWrite = adapter_del_write;
        ac->ev.cleanup = adapter_cleanup;
        return 0;
}

/* ------------------------------------------------------------ pending */

/* The size class of an entry with room for size bytes: 1 KiB << class. */
static size_t spare_class(size_t size) {
        size_t k = 0;

        while (((size_t) 1024 << k) < size)
                k++;
        return k;
}

static void pending_free(RedisPending *p) {
        RedisConn *c = p->conn;
        size_t k;

        if (p->allocated > 0 && c && c->spare_bytes + p->allocated <= SPARE_BYTES_MAX &&
            (k = spare_class(p->allocated)) < SPARE_CLASSES) {
                p->next = c->spare[k];
                c->spare[k] = p;
                c->spare_bytes += p->allocated;
                return;
        }
        free(p);
}

/* A zeroed entry with room for a command of size bytes: a spare one of
 * its size class or the next larger one, else a new one. */
static RedisPending *pending_new_script(RedisConn *c, size_t size) {
        size_t k = spare_class(size), allocated = (size_t) 1024 << k;
        RedisPending *p = NULL;

        for (size_t j = k; j < SPARE_CLASSES && j <= k + 1; j++)
                if (c->spare[j]) {
                        p = c->spare[j];
                        c->spare[j] = p->next;
                        allocated = p->allocated;
                        c->spare_bytes -= allocated;
                        break;
                }
        if (!p) {
                p = malloc(sizeof(RedisPending) + allocated);
                if (!p)
                        return NULL;
        }
        memset(p, 0, sizeof(RedisPending));
        p->allocated = allocated;
        return p;
}

static void pending_link(RedisConn *c, RedisPending *p) {
        p->prev = c->tail;
        p->next = NULL;
        if (c->tail)
                c->tail->next = p;
        else
                c->head = p;
        c->tail = p;
        c->n_pending++;
}

static void pending_unlink(RedisConn *c, RedisPending *p) {
        if (p->prev)
                p->prev->next = p->next;
        else
                c->head = p->next;
        if (p->next)
                p->next->prev = p->prev;
        else
                c->tail = p->prev;
        p->prev = p->next = NULL;
        c->n_pending--;
}

static void timeout_rearm(RedisConn *c) {
        uint64_t d = UINT64_MAX;

        if (!c->timeout_timer)
                return;
        if (c->head)
                d = c->head->deadline;
        if (c->ac && !c->connected && c->connect_deadline < d)
                d = c->connect_deadline;
        if (d == UINT64_MAX || c->timeout_usec == 0) {
                (void) sd_event_source_set_enabled(c->timeout_timer, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_time(c->timeout_timer, d);
        (void) sd_event_source_set_enabled(c->timeout_timer, SD_EVENT_ONESHOT);
}

/* ------------------------------------------------------------ error texts */

const char *redis_error_text(int err, const char *errstr, uint64_t timeout_ms, char *buf, size_t size) {
        if (err == REDIS_ERR_PROTOCOL)
                return "it does not speak the Redis protocol (is this the port of a Redis server?)";
        if (err == REDIS_ERR_EOF)
                return "the server closed the connection";
        if (err == REDIS_ERR_IMGFLOW_TIMEOUT || (errstr && (strstr(errstr, strerror(EAGAIN)) ||
                                                    strstr(errstr, strerror(ETIMEDOUT)) ||
                                                    strstr(errstr, "timed out")))) {
                if (timeout_ms % 1000 == 0)
                        snprintf(buf, size, "it did not answer within %" PRIu64 " s (redis.timeout)",
                                 timeout_ms / 1000);
                else
                        snprintf(buf, size, "it did not answer within %" PRIu64 " ms (redis.timeout)", timeout_ms);
                return buf;
        }
        return errstr && *errstr ? errstr : "I/O error";
}

/* ------------------------------------------------------------ connection */

static void conn_schedule_drop(RedisConn *c, const char *reason);
static int conn_start(RedisConn *c);

static void conn_schedule_reconnect(RedisConn *c) {
        uint64_t delay = c->backoff_usec ? c->backoff_usec : RECONNECT_MIN_USEC;

        c->backoff_usec = MIN_(delay * 2, RECONNECT_MAX_USEC);
        (void) sd_event_source_set_time_relative(c->reconnect_timer, delay);
        (void) sd_event_source_set_enabled(c->reconnect_timer, SD_EVENT_ONESHOT);
}

/* The context is gone (or going): tell the user, plan a reconnect. One
 * line each time: the connection to a server that answered was lost, or
 * an attempt failed for another reason than the one before (the same
 * reason again, every backoff, is debug). */
static void conn_lost(RedisConn *c, const char *reason) {
        c->connected_before_drop = false;
        c->ac = NULL;
        c->connected = false;
        free(c->drop_reason);
        c->drop_reason = NULL;
        (void) sd_event_source_set_enabled(c->drop_defer, SD_EVENT_OFF);
        timeout_rearm(c);
        if (c->up)
                log_warning("Lost the connection to Redis at %s: %s; reconnecting", c->address, reason);
        else if (!c->last_failure || !streq(c->last_failure, reason))
                log_warning("Cannot connect to Redis at %s: %s; retrying", c->address, reason);
        else
                log_debug("Cannot connect to Redis at %s: %s; retrying", c->address, reason);
        if (!c->last_failure || !streq(c->last_failure, reason)) {
                free(c->last_failure);
                c->last_failure = strdup(reason);
        }
        c->up = false;
        conn_schedule_reconnect(c);
        if (c->on_state)
                c->on_state(c, false, reason, c->userdata);
}

static void on_connect(const redisAsyncContext *ac, int status) {
        RedisConn *c = ac->data;

        if (!c || c->ac != ac)
                return;
        if (status != REDIS_OK) {
                char buf[128];
                /* hiredis frees the context after this returns. */
                conn_lost(c, redis_error_text(ac->err, ac->errstr, c->timeout_usec / 1000, buf, sizeof(buf)));
                return;
        }
        c->connected = true;
        timeout_rearm(c);
        /* "Connected" is said at the first reply: a port that accepts the
         * connection is not yet a Redis server. */
        if (c->on_state)
                c->on_state(c, true, NULL, c->userdata);
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
        RedisConn *c = ac->data;

        char buf[128];

        if (!c || c->ac != ac)
                return; /* we dropped it ourselves */
        conn_lost(c, status == REDIS_OK ? "closed"
                                        : redis_error_text(ac->err, ac->errstr, c->timeout_usec / 1000, buf,
                                                           sizeof(buf)));
}

/* Frees the context now (never from inside its callbacks). */
static void conn_drop_now(RedisConn *c, const char *reason) {
        redisAsyncContext *ac = c->ac;
        _cleanup_free_ char *why = strdup(reason);

        if (!ac)
                return;
        c->connected_before_drop = c->connected;
        c->connected = false;
        c->ac = NULL; /* on_disconnect ignores it; callbacks retrying get -ENOTCONN */
        redisAsyncFree(ac); /* pending callbacks get NULL */
        conn_lost(c, why ? why : "dropped");
}

static int on_drop_defer(sd_event_source *s, void *userdata) {
        RedisConn *c = userdata;
        _cleanup_free_ char *reason = TAKE_PTR(c->drop_reason);

        conn_drop_now(c, reason ? reason : "dropped");
        return 0;
}

static void conn_schedule_drop(RedisConn *c, const char *reason) {
        if (c->drop_reason)
                return;
        c->drop_reason = strdup(reason);
        (void) sd_event_source_set_enabled(c->drop_defer, SD_EVENT_ONESHOT);
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        RedisConn *c = userdata;
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        char buf[128];

        if ((c->ac && !c->connected && c->connect_deadline <= now) || (c->head && c->head->deadline <= now))
                conn_drop_now(c, redis_error_text(REDIS_ERR_IMGFLOW_TIMEOUT, NULL, c->timeout_usec / 1000, buf, sizeof(buf)));
        else
                timeout_rearm(c);
        return 0;
}

static int on_reconnect(sd_event_source *s, uint64_t usec, void *userdata) {
        RedisConn *c = userdata;

        if (!c->ac)
                (void) conn_start(c);
        return 0;
}

static void reply_cb(redisAsyncContext *ac, void *r, void *privdata);

/* p was handed to hiredis: it waits for its reply, with a deadline. */
static int pending_sent(RedisConn *c, RedisPending *p) {
        p->deadline = now_usec(CLOCK_MONOTONIC) + c->timeout_usec;
        pending_link(c, p);
        if (c->head == p)
                timeout_rearm(c);
        return 0;
}

static int send_argv(RedisConn *c, RedisPending *p, int argc, const char **argv, const size_t *argvlen) {
        if (!c->ac)
                return -ENOTCONN;
        if (redisAsyncCommandArgv(c->ac, reply_cb, p, argc, argv, argvlen) != REDIS_OK)
                return -ENOTCONN;
        return pending_sent(c, p);
}

/* Send a command already in RESP (hiredis copies it into its output buffer). */
static int send_formatted(RedisConn *c, RedisPending *p, const char *cmd, size_t len) {
        if (!c->ac)
                return -ENOTCONN;
        if (redisAsyncFormattedCommand(c->ac, reply_cb, p, cmd, len) != REDIS_OK)
                return -ENOTCONN;
        return pending_sent(c, p);
}

static void internal_reply(RedisConn *c, redisReply *reply, void *userdata) {
        const char *what = userdata;

        if (reply && reply->type == REDIS_REPLY_ERROR) {
                log_error("Redis %s failed: %s", what, reply->str);
                conn_schedule_drop(c, reply->str);
        }
}

static int conn_start(RedisConn *c) {
        redisAsyncContext *ac;
        int r;

        ac = c->unix_path ? redisAsyncConnectUnix(c->unix_path) : redisAsyncConnect(c->host, c->port);
        if (!ac)
                return -ENOMEM;
        if (ac->err) {
                char reason[256], buf[128];
                snprintf(reason, sizeof(reason), "%s",
                         redis_error_text(ac->err, ac->errstr, c->timeout_usec / 1000, buf, sizeof(buf)));
                redisAsyncFree(ac);
                conn_lost(c, reason);
                return -ECONNREFUSED;
        }
        ac->data = c;
        r = adapter_attach(c, ac);
        if (r < 0) {
                redisAsyncFree(ac);
                return r;
        }
        redisAsyncSetConnectCallback(ac, on_connect);
        redisAsyncSetDisconnectCallback(ac, on_disconnect);
        c->ac = ac;
        c->connected = false;
        c->connect_deadline = now_usec(CLOCK_MONOTONIC) + c->timeout_usec;

        /* AUTH and SELECT go first: commands queued meanwhile follow them. */
        if (c->password && *c->password) {
                RedisPending *p = calloc(1, sizeof(RedisPending));
                const char *argv[3] = { "AUTH" };
                int argc = 1;
                if (!p)
                        return -ENOMEM;
                if (c->username && *c->username)
                        argv[argc++] = c->username;
                argv[argc++] = c->password;
                *p = (RedisPending) { .conn = c, .cb = internal_reply, .userdata = (void *) "AUTH", .internal = true };
                if (send_argv(c, p, argc, argv, NULL) < 0)
                        pending_free(p);
        }
        if (c->db != 0) {
                RedisPending *p = calloc(1, sizeof(RedisPending));
                char db[32];
                const char *argv[2] = { "SELECT", db };
                if (!p)
                        return -ENOMEM;
                snprintf(db, sizeof(db), "%" PRId64, c->db);
                *p = (RedisPending) { .conn = c, .cb = internal_reply, .userdata = (void *) "SELECT", .internal = true };
                if (send_argv(c, p, 2, argv, NULL) < 0)
                        pending_free(p);
        }
        timeout_rearm(c);
        return 0;
}

/* "$7\r\nEVALSHA\r\n$40\r\n<sha>\r\n": between an EVALSHA's "*<argc>\r\n" and
 * its numkeys (RedisPending.tail). */
#define SCRIPT_HEAD_LEN (13 + 47)

static void reply_cb(redisAsyncContext *ac, void *r, void *privdata) {
        RedisPending *p = privdata;
        RedisConn *c = p->conn;
        redisReply *reply = r;

        pending_unlink(c, p);
        if (reply && !c->up && c->ac == ac) {
                c->up = true;
                c->backoff_usec = 0;
                free(c->last_failure);
                c->last_failure = NULL;
                log_info("Connected to Redis at %s", c->address);
        }

        if (reply && p->script && reply->type == REDIS_REPLY_ERROR &&
            strncmp(reply->str, "NOSCRIPT", 8) == 0 && c->ac == ac) {
                /* Not loaded on this server (yet): EVAL loads and runs it. */
                const RedisScript *script = p->script;
                size_t srclen = strlen(script->source);
                /* the same "*<argc>\r\n" as the EVALSHA (SCRIPT_HEAD_LEN
                 * bytes of it come between that and the tail) */
                size_t head = p->tail - SCRIPT_HEAD_LEN, rest = p->cmd_len - p->tail, len;
                char eval[64], *cmd;
                int k = snprintf(eval, sizeof eval, "$4\r\nEVAL\r\n$%zu\r\n", srclen);
                int sent = -ENOMEM;

                len = head + (size_t) k + srclen + 2 + rest;
                cmd = malloc(len);
                if (cmd) {
                        char *o = cmd;
                        o = mempcpy(o, p->cmd, head);
                        o = mempcpy(o, eval, (size_t) k);
                        o = mempcpy(o, script->source, srclen);
                        o = mempcpy(o, "\r\n", 2);
                        memcpy(o, p->cmd + p->tail, rest);
                }
                p->script = NULL; /* only once */
                if (cmd)
                        sent = send_formatted(c, p, cmd, len);
                free(cmd);
                if (sent == 0)
                        return;
                p->script = script;
                /* could not resend: deliver the NOSCRIPT error */
        }

        if (p->cb)
                p->cb(c, reply, p->userdata);
        pending_free(p);
        timeout_rearm(c);
}

int redis_conn_new(sd_event *e, const Config *cfg, RedisConnectFn on_state, void *userdata,
                   RedisConn **ret) {
        _cleanup_(redis_conn_freep) RedisConn *c = NULL;
        const char *address;
        int r;

        if (!e || !cfg || !ret)
                return -EINVAL;
        if (config_get_bool(cfg, "redis", "tls"))
                return log_error_errno(-EINVAL,
                                       "redis.tls = true is not supported: hiredis 0.14 has no TLS. "
                                       "Run stunnel (or another TLS-terminating proxy) on this host "
                                       "and point redis.address at its local port.");
        c = calloc(1, sizeof(RedisConn));
        if (!c)
                return -ENOMEM;
        c->event = sd_event_ref(e);
        c->on_state = on_state;
        c->userdata = userdata;
        address = config_get_string(cfg, "redis", "address");
        r = redis_parse_address(address, &c->host, &c->port, &c->unix_path);
        if (r < 0)
                return log_error_errno(r, "Bad redis.address \"%s\" (expected host:port or unix:/path)", address);
        c->address = strdup(address);
        if (!c->address)
                return -ENOMEM;
        c->username = strdup(config_get_string(cfg, "redis", "username"));
        c->password = strdup(config_get_string(cfg, "redis", "password"));
        if (!c->username || !c->password)
                return -ENOMEM;
        c->db = config_get_int(cfg, "redis", "db");
        c->timeout_usec = config_get_duration_ms(cfg, "redis", "timeout") * 1000;

        r = sd_event_add_time(e, &c->timeout_timer, CLOCK_MONOTONIC, UINT64_MAX, 1000, on_timeout, c);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(c->timeout_timer, SD_EVENT_OFF);
        r = sd_event_add_time(e, &c->reconnect_timer, CLOCK_MONOTONIC, UINT64_MAX, 1000, on_reconnect, c);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(c->reconnect_timer, SD_EVENT_OFF);
        r = sd_event_add_defer(e, &c->drop_defer, on_drop_defer, c);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(c->drop_defer, SD_EVENT_OFF);

        r = conn_start(c);
        if (r < 0 && r != -ECONNREFUSED)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

RedisConn *redis_conn_free(RedisConn *c) {
        if (!c)
                return NULL;
        c->on_state = NULL;
        if (c->ac) {
                redisAsyncContext *ac = c->ac;
                c->ac = NULL;
                redisAsyncFree(ac); /* pending callbacks get NULL */
        }
        for (size_t k = 0; k < SPARE_CLASSES; k++)
                while (c->spare[k]) {
                        RedisPending *p = c->spare[k];
                        c->spare[k] = p->next;
                        free(p);
                }
        sd_event_source_disable_unref(c->timeout_timer);
        sd_event_source_disable_unref(c->reconnect_timer);
        sd_event_source_disable_unref(c->drop_defer);
        sd_event_unref(c->event);
        free(c->drop_reason);
        free(c->host);
        free(c->address);
        free(c->last_failure);
        free(c->unix_path);
        free(c->username);
        free(c->password);
        free(c);
        return NULL;
}

bool redis_conn_is_connected(const RedisConn *c) {
        return c && c->connected;
}

size_t redis_conn_pending(const RedisConn *c) {
        return c ? c->n_pending : 0;
}

int redis_command_argv(RedisConn *c, RedisReplyFn cb, void *userdata, int argc, const char **argv,
                       const size_t *argvlen) {
        RedisPending *p;
        int r;

        if (!c || argc <= 0 || !argv)
                return -EINVAL;
        if (argc > REDIS_ARGS_MAX + 3)
                return -E2BIG;
        if (c->n_pending >= REDIS_PENDING_MAX)
                return -ENOBUFS;
        if (!c->ac)
                return -ENOTCONN;
        p = calloc(1, sizeof(RedisPending));
        if (!p)
                return -ENOMEM;
        *p = (RedisPending) { .conn = c, .cb = cb, .userdata = userdata };
        r = send_argv(c, p, argc, argv, argvlen);
        if (r < 0)
                pending_free(p);
        return r;
}

int redis_command(RedisConn *c, RedisReplyFn cb, void *userdata, const char *format, ...) {
        RedisPending *p;
        va_list ap;
        int r;

        if (!c || !format)
                return -EINVAL;
        if (c->n_pending >= REDIS_PENDING_MAX)
                return -ENOBUFS;
        if (!c->ac)
                return -ENOTCONN;
        p = calloc(1, sizeof(RedisPending));
        if (!p)
                return -ENOMEM;
        *p = (RedisPending) { .conn = c, .cb = cb, .userdata = userdata };
        va_start(ap, format);
        r = redisvAsyncCommand(c->ac, reply_cb, p, format, ap);
        va_end(ap);
        if (r != REDIS_OK) {
                pending_free(p);
                return -ENOTCONN;
        }
        p->deadline = now_usec(CLOCK_MONOTONIC) + c->timeout_usec;
        pending_link(c, p);
        if (c->head == p)
                timeout_rearm(c);
        return 0;
}

void redis_script_init(RedisScript *s, const char *source) {
        s->source = source;
        hash_hex(HASH_SHA1, source, strlen(source), s->sha);
}

static size_t resp_digits(size_t v) {
        size_t n = 1;
        while (v >= 10)
                v /= 10, n++;
        return n;
}

static char *resp_put_count(char *o, char type, size_t v) {
        size_t n = resp_digits(v);
        *o++ = type;
        for (size_t i = n; i > 0; i--, v /= 10)
                o[i - 1] = (char) ('0' + v % 10);
        o += n;
        *o++ = '\r';
        *o++ = '\n';
        return o;
}

/* Arguments of a command in pieces: n strings, lens NULL = strlen. */
typedef struct RespSeg {
        size_t n;
        const char *const *v;
        const size_t *lens;
} RespSeg;

static size_t resp_seg_len(const RespSeg *g, size_t i) {
        return g->lens ? g->lens[i] : strlen(g->v[i]);
}

/* The RESP array of the segments' strings: resp_length() bytes, written
 * by resp_write() into a buffer of exactly that size (hiredis's own
 * formatter grows an empty string and formats each length with
 * sdscatfmt), without gathering them into one vector first. */
static size_t resp_length(const RespSeg *segs, size_t n_segs) {
        size_t argc = 0, total;

        for (size_t g = 0; g < n_segs; g++)
                argc += segs[g].n;
        total = 1 + resp_digits(argc) + 2;
        for (size_t g = 0; g < n_segs; g++)
                for (size_t i = 0; i < segs[g].n; i++) {
                        size_t len = resp_seg_len(&segs[g], i);
                        total += 1 + resp_digits(len) + 2 + len + 2;
                }
        return total;
}

static char *resp_write(const RespSeg *segs, size_t n_segs, char *o) {
        size_t argc = 0;

        for (size_t g = 0; g < n_segs; g++)
                argc += segs[g].n;
        o = resp_put_count(o, '*', argc);
        for (size_t g = 0; g < n_segs; g++)
                for (size_t i = 0; i < segs[g].n; i++) {
                        size_t len = resp_seg_len(&segs[g], i);
                        o = resp_put_count(o, '$', len);
                        memcpy(o, segs[g].v[i], len);
                        o += len;
                        *o++ = '\r';
                        *o++ = '\n';
                }
        return o;
}

int redis_evalv(RedisConn *c, const RedisScript *s, RedisReplyFn cb, void *userdata, size_t n_keys,
                const char *const *keys, const size_t *key_lens, size_t n_args, const char *const *args,
                const size_t *arg_lens) {
        RedisPending *p;
        size_t total;
        char nk[24];
        int r;

        if (!c || !s || !s->source || (n_keys > 0 && !keys) || (n_args > 0 && !args))
                return -EINVAL;
        if (n_keys + n_args > REDIS_ARGS_MAX)
                return -E2BIG;
        if (c->n_pending >= REDIS_PENDING_MAX)
                return -ENOBUFS;
        if (!c->ac)
                return -ENOTCONN;

        const char *head[3] = { "EVALSHA", s->sha, nk };
        const size_t head_lens[3] = { 7, 40, (size_t) snprintf(nk, sizeof nk, "%zu", n_keys) };
        const RespSeg segs[3] = {
                { 3, head, head_lens },
                { n_keys, keys, key_lens },
                { n_args, args, arg_lens },
        };
        /* The command is formatted once, after the pending entry in the
         * same allocation, and kept: hiredis copies it into its output
         * buffer, and NOSCRIPT resends its tail after EVAL. */
        total = resp_length(segs, ELEMENTSOF(segs));
        p = pending_new_script(c, total);
        if (!p)
                return -ENOMEM;
        p->conn = c;
        p->cb = cb;
        p->userdata = userdata;
        p->script = s;
        p->cmd_len = total;
        char *end = resp_write(segs, ELEMENTSOF(segs), p->cmd);
        assert(end == p->cmd + total);
        (void) end;
        p->tail = 1 + resp_digits(n_keys + n_args + 3) + 2 + SCRIPT_HEAD_LEN;
        r = send_formatted(c, p, p->cmd, p->cmd_len);
        if (r < 0)
                pending_free(p);
        return r;
}

int redis_eval(RedisConn *c, const RedisScript *s, RedisReplyFn cb, void *userdata, int numkeys,
               int argc, const char **argv, const size_t *argvlen) {
        if (argc < 0 || numkeys < 0 || numkeys > argc || (argc > 0 && !argv))
                return -EINVAL;
        return redis_evalv(c, s, cb, userdata, (size_t) numkeys, argv, argvlen, (size_t) (argc - numkeys),
                           argv ? argv + numkeys : NULL, argvlen ? argvlen + numkeys : NULL);
}

/* ------------------------------------------------------------ sync */

static int seterr(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int seterr(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;
        if (ret_error) {
                free(*ret_error);
                va_start(ap, fmt);
                if (vasprintf(ret_error, fmt, ap) < 0)
                        *ret_error = NULL;
                va_end(ap);
        }
        return r;
}

int redis_sync_connect(const Config *cfg, redisContext **ret, char **ret_error) {
        _cleanup_free_ char *host = NULL, *path = NULL;
        _cleanup_(redisFreep) redisContext *ctx = NULL;
        const char *address, *user, *pass;
        char buf[128];
        uint64_t ms;
        struct timeval tv;
        int64_t db;
        int port, r;

        if (config_get_bool(cfg, "redis", "tls"))
                return seterr(ret_error, -EINVAL,
                              "redis.tls = true is not supported (hiredis 0.14 has no TLS); "
                              "use stunnel or a TLS-terminating proxy");
        address = config_get_string(cfg, "redis", "address");
        r = redis_parse_address(address, &host, &port, &path);
        if (r < 0)
                return seterr(ret_error, r, "bad redis.address \"%s\"", address);
        ms = config_get_duration_ms(cfg, "redis", "timeout");
        tv = (struct timeval) { .tv_sec = (time_t) (ms / 1000), .tv_usec = (suseconds_t) (ms % 1000) * 1000 };

        ctx = path ? redisConnectUnixWithTimeout(path, tv) : redisConnectWithTimeout(host, port, tv);
        if (!ctx)
                return seterr(ret_error, -ENOMEM, "out of memory");
        if (ctx->err)
                return seterr(ret_error, -ECONNREFUSED, "cannot connect to Redis at %s: %s", address,
                              redis_error_text(ctx->err, ctx->errstr, ms, buf, sizeof(buf)));
        if (ms > 0)
                (void) redisSetTimeout(ctx, tv);

        /* A refused or missing password is named with Redis's own words
         * (WRONGPASS, NOAUTH) and where to set it: the first command after
         * it would only fail with a bare error reply. */
        user = config_get_string(cfg, "redis", "username");
        pass = config_get_string(cfg, "redis", "password");
        if (*pass) {
                _cleanup_redis_reply_ redisReply *reply = NULL;
                const char *argv[3] = { "AUTH" };
                int argc = 1;
                if (*user)
                        argv[argc++] = user;
                argv[argc++] = pass;
                reply = redisCommandArgv(ctx, argc, argv, NULL);
                if (!reply)
                        return seterr(ret_error, -EIO, "cannot connect to Redis at %s: AUTH: %s", address,
                                      redis_error_text(ctx->err, ctx->errstr, ms, buf, sizeof(buf)));
                if (reply->type == REDIS_REPLY_ERROR)
                        return seterr(ret_error, -EACCES,
                                      "Redis at %s refused the password: %s (check redis.password%s, or "
                                      "IMGFLOW_REDIS_PASSWORD)",
                                      address, reply->str, *user ? " and redis.username" : "");
        } else {
                /* A server that wants a password says so at the first command. */
                _cleanup_redis_reply_ redisReply *reply = redisCommand(ctx, "PING");
                if (!reply)
                        return seterr(ret_error, -EIO, "cannot connect to Redis at %s: %s", address,
                                      redis_error_text(ctx->err, ctx->errstr, ms, buf, sizeof(buf)));
                if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOAUTH", 6) == 0)
                        return seterr(ret_error, -EACCES,
                                      "Redis at %s requires a password: %s (set redis.password, or "
                                      "IMGFLOW_REDIS_PASSWORD)",
                                      address, reply->str);
        }
        db = config_get_int(cfg, "redis", "db");
        if (db != 0) {
                _cleanup_redis_reply_ redisReply *reply = redisCommand(ctx, "SELECT %lld", (long long) db);
                if (!reply)
                        return seterr(ret_error, -EIO, "cannot connect to Redis at %s: SELECT: %s", address,
                                      redis_error_text(ctx->err, ctx->errstr, ms, buf, sizeof(buf)));
                if (reply->type == REDIS_REPLY_ERROR)
                        return seterr(ret_error, -EINVAL, "Redis at %s: SELECT %lld failed: %s", address,
                                      (long long) db, reply->str);
        }
        *ret = TAKE_PTR(ctx);
        return 0;
}

redisReply *redis_sync_eval(redisContext *ctx, const RedisScript *s, int numkeys, int argc,
                            const char **argv, const size_t *argvlen) {
        _cleanup_free_ const char **av = NULL;
        _cleanup_free_ size_t *al = NULL;
        redisReply *reply;
        char nk[16];

        if (!ctx || !s || argc < 0 || argc > REDIS_ARGS_MAX || numkeys < 0 || numkeys > argc)
                return NULL;
        av = calloc((size_t) argc + 3, sizeof(char *));
        al = calloc((size_t) argc + 3, sizeof(size_t));
        if (!av || !al)
                return NULL;
        snprintf(nk, sizeof(nk), "%d", numkeys);
        av[0] = "EVALSHA", al[0] = 7;
        av[1] = s->sha, al[1] = 40;
        av[2] = nk, al[2] = strlen(nk);
        for (int i = 0; i < argc; i++) {
                av[i + 3] = argv[i];
                al[i + 3] = argvlen ? argvlen[i] : strlen(argv[i]);
        }
        reply = redisCommandArgv(ctx, argc + 3, av, al);
        if (reply && reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0) {
                freeReplyObject(reply);
                av[0] = "EVAL", al[0] = 4;
                av[1] = s->source, al[1] = strlen(s->source);
                reply = redisCommandArgv(ctx, argc + 3, av, al);
        }
        return reply;
}
