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
#include "alloc-util.h"
#include "log.h"
#include "metrics.h"
#include "redis.h"

#define RECONNECT_MIN_USEC (100 * 1000ULL)
#define RECONNECT_MAX_USEC (5 * 1000 * 1000ULL)
#define RECONNECT_SENTINEL_MAX_USEC (1000 * 1000ULL)

typedef struct RedisPending RedisPending;
struct RedisPending {
        RedisConn *conn;
        RedisReplyFn cb;
        void *userdata;
        uint64_t deadline; /* CLOCK_MONOTONIC usec */
        RedisPending *prev, *next;
        bool internal;       /* AUTH / SELECT / WAIT: not held behind a WAIT */
        bool gated;          /* its reply waits for the next WAIT (redis.wait_replicas) */
        uint64_t extra_usec; /* added to its deadline (WAIT: redis.wait_timeout) */
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

/* A reply held until a WAIT after it is answered by enough replicas. */
typedef struct RedisHeld RedisHeld;
struct RedisHeld {
        RedisReplyFn cb;
        void *userdata;
        redisReply *reply; /* owned copy */
        RedisHeld *next;
};

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

        /* redis.wait_replicas (0: off) and redis.wait_timeout */
        int64_t wait_replicas;
        uint64_t wait_timeout_ms;
        sd_event_source *wait_defer; /* sends one WAIT after the commands of a loop iteration */
        bool need_wait;              /* a gated command was sent since the last WAIT */
        unsigned waits_in_flight;
        RedisHeld *held_head, *held_tail;
        size_t n_held;
        uint64_t n_shortfalls; /* WAIT replies short of wait_replicas */
        bool short_episode;    /* logged; cleared by the next sufficient WAIT */
        bool refusing;         /* a "not now" error was logged; cleared by the next reply */
        Metric *m_shortfalls, *m_held;

        /* redis.sentinels and redis.master_name: the master is asked for
         * before each connection (sentinel_lookup()) */
        char **sentinel_hosts;
        int *sentinel_ports;
        size_t n_sentinels;
        char *master_name;
        redisAsyncContext *sac; /* the lookup in progress */
        size_t sentinel_next;   /* the sentinel to ask next */
        size_t sentinel_tried;  /* asked in this lookup */
        char *sentinel_failure; /* the last one's reason */
        sd_event_source *sentinel_timer;
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

/* ------------------------------------------------------------ WAIT */

/* A deep copy of a reply, freed with freeReplyObject() (hiredis frees its
 * own when the callback returns, and a held reply outlives that). */
static redisReply *reply_dup(const redisReply *r) {
        redisReply *d = xmalloc(sizeof *d);

        *d = (redisReply){.type = r->type, .integer = r->integer};
        switch (r->type) {
        case REDIS_REPLY_STRING:
        case REDIS_REPLY_STATUS:
        case REDIS_REPLY_ERROR:
                d->len = r->len;
                d->str = xmalloc(r->len + 1);
                memcpy(d->str, r->str, r->len);
                d->str[r->len] = 0;
                break;
        case REDIS_REPLY_ARRAY:
                d->elements = r->elements;
                d->element = xmalloc((r->elements ? r->elements : 1) * sizeof(redisReply *));
                for (size_t i = 0; i < r->elements; i++)
                        d->element[i] = r->element[i] ? reply_dup(r->element[i]) : NULL;
                break;
        default:
                break;
        }
        return d;
}

static void held_gauge(RedisConn *c) {
        if (c->m_held)
                (void) metric_gauge_set(c->m_held, NULL, (double) c->n_held);
}

static void held_push(RedisConn *c, RedisReplyFn cb, void *userdata, const redisReply *reply) {
        RedisHeld *h = xmalloc(sizeof *h);

        *h = (RedisHeld){.cb = cb, .userdata = userdata, .reply = reply_dup(reply)};
        if (c->held_tail)
                c->held_tail->next = h;
        else
                c->held_head = h;
        c->held_tail = h;
        c->n_held++;
        held_gauge(c);
}

/* Delivers every held reply in order: as it came (ok), or as NULL (lost:
 * the connection went before a WAIT covered it). The list is taken first:
 * callbacks may send commands, whose replies are held anew. */
static void held_release(RedisConn *c, bool ok) {
        RedisHeld *h = c->held_head;

        c->held_head = c->held_tail = NULL;
        c->n_held = 0;
        held_gauge(c);
        while (h) {
                RedisHeld *next = h->next;
                if (h->cb)
                        h->cb(c, ok ? h->reply : NULL, h->userdata);
                freeReplyObject(h->reply);
                free(h);
                h = next;
        }
}

static int send_argv(RedisConn *c, RedisPending *p, int argc, const char **argv, const size_t *argvlen);

static void wait_reply(RedisConn *c, redisReply *reply, void *userdata);

/* WAIT wait_replicas wait_timeout, after every command sent so far. */
static int wait_send(RedisConn *c) {
        char n[24], t[24];
        const char *argv[3] = {"WAIT", n, t};
        RedisPending *p;
        int r;

        c->need_wait = false;
        if (!c->ac)
                return -ENOTCONN;
        p = xmalloc(sizeof *p);
        *p = (RedisPending){
                .conn = c, .cb = wait_reply, .internal = true, .extra_usec = c->wait_timeout_ms * 1000};
        snprintf(n, sizeof n, "%" PRId64, c->wait_replicas);
        snprintf(t, sizeof t, "%" PRIu64, c->wait_timeout_ms);
        r = send_argv(c, p, 3, argv, NULL);
        if (r < 0) {
                free(p);
                return r;
        }
        c->waits_in_flight++;
        return 0;
}

/* A WAIT's answer. Enough replicas: every held reply came before this
 * WAIT (replies come in order), so each is on wait_replicas replicas now:
 * deliver them. Too few: the policy is to hold them and WAIT again (the
 * next WAIT covers the same writes: Redis counts a client's replication
 * offset), so nothing is acknowledged downstream that a failover to a
 * replica could lose; the commands behind wait too. An error (a replica
 * answers "WAIT cannot be used with replica instances") drops the
 * connection: its held replies are lost (NULL) and run again. */
static void wait_reply(RedisConn *c, redisReply *reply, void *userdata) {
        c->waits_in_flight--;
        if (!reply)
                return; /* the connection is gone, and the held replies with it (reply_cb) */
        if (reply->type == REDIS_REPLY_ERROR) {
                log_error("Redis at %s refused WAIT: %s", c->address, reply->str);
                conn_schedule_drop(c, reply->str);
                return;
        }
        if (reply->type == REDIS_REPLY_INTEGER && reply->integer >= c->wait_replicas) {
                if (c->short_episode) {
                        log_info("Redis replicas caught up: %lld of %" PRId64
                                 " replica(s) acknowledged the writes (redis.wait_replicas)",
                                 reply->integer, c->wait_replicas);
                        c->short_episode = false;
                }
                held_release(c, true);
                goto next;
        }
        c->n_shortfalls++;
        if (c->m_shortfalls)
                (void) metric_counter_inc(c->m_shortfalls, NULL);
        if (!c->short_episode)
                log_warning("Redis replicas behind: %lld of %" PRId64
                            " replica(s) acknowledged the writes within %" PRIu64
                            " ms (redis.wait_replicas, redis.wait_timeout); holding %zu replies and "
                            "waiting again",
                            reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1LL, c->wait_replicas,
                            c->wait_timeout_ms, c->n_held);
        else
                log_debug("Redis replicas still behind: %lld of %" PRId64 " acknowledged; %zu replies held",
                          reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1LL, c->wait_replicas,
                          c->n_held);
        c->short_episode = true;
next:
        /* One WAIT at a time: Redis blocks the client in WAIT, so the
         * commands behind one wait with it, and several in a row would add
         * up their timeouts. The next covers whatever was sent since. */
        if (c->waits_in_flight == 0 && (c->need_wait || c->held_head))
                (void) wait_send(c);
}

static int on_wait_defer(sd_event_source *s, void *userdata) {
        RedisConn *c = userdata;

        if (c->need_wait && c->waits_in_flight == 0)
                (void) wait_send(c);
        return 0;
}

int redis_conn_set_metrics(RedisConn *c, Metrics *metrics) {
        int r;

        if (!c || !metrics)
                return -EINVAL;
        r = metrics_add_counter(
                metrics, "imgflow_redis_wait_shortfalls_total",
                "WAIT answers with fewer replicas than redis.wait_replicas (replies held, WAIT again).",
                NULL, &c->m_shortfalls);
        if (r < 0)
                return r;
        return metrics_add_gauge(metrics, "imgflow_redis_replies_held",
                                 "Replies held until enough replicas acknowledged the writes before them.",
                                 NULL, &c->m_held);
}

uint64_t redis_conn_wait_shortfalls(const RedisConn *c) {
        return c ? c->n_shortfalls : 0;
}

static void conn_schedule_reconnect(RedisConn *c) {
        uint64_t delay = c->backoff_usec ? c->backoff_usec : RECONNECT_MIN_USEC;

        /* With Sentinels an attempt is a question to them first: a
         * failover takes seconds, and is followed within 1 s of it. */
        c->backoff_usec =
                MIN_(delay * 2, c->n_sentinels > 0 ? RECONNECT_SENTINEL_MAX_USEC : RECONNECT_MAX_USEC);
        (void) sd_event_source_set_time_relative(c->reconnect_timer, delay);
        (void) sd_event_source_set_enabled(c->reconnect_timer, SD_EVENT_ONESHOT);
}

/* The context is gone (or going): tell the user, plan a reconnect. One
 * line each time: the connection to a server that answered was lost, or
 * an attempt failed for another reason than the one before (the same
 * reason again, every backoff, is debug). */
static void conn_lost(RedisConn *c, const char *reason) {
        held_release(c, false);
        c->need_wait = false;
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

        if (!c->ac && !c->sac)
                (void) conn_start(c);
        return 0;
}

static void reply_cb(redisAsyncContext *ac, void *r, void *privdata);

/* p was handed to hiredis: it waits for its reply, with a deadline. */
static int pending_sent(RedisConn *c, RedisPending *p) {
        p->deadline = now_usec(CLOCK_MONOTONIC) + c->timeout_usec + p->extra_usec;
        if (c->wait_replicas > 0 && !p->internal) {
                p->gated = true;
                if (!c->need_wait) {
                        c->need_wait = true;
                        (void) sd_event_source_set_enabled(c->wait_defer, SD_EVENT_ONESHOT);
                }
        }
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

static void role_reply(RedisConn *c, redisReply *reply, void *userdata) {
        if (!reply)
                return;
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
            reply->element[0]->type == REDIS_REPLY_STRING && streq(reply->element[0]->str, "master"))
                return;
        conn_schedule_drop(c, reply->type == REDIS_REPLY_ERROR
                                      ? reply->str
                                      : "it is not the master (ROLE), asking the Sentinels again");
}

static int conn_connect(RedisConn *c) {
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
        if (c->n_sentinels > 0) {
                /* What a Sentinel named may have been demoted since. */
                RedisPending *p = xmalloc(sizeof *p);
                const char *argv[1] = {"ROLE"};
                *p = (RedisPending){.conn = c, .cb = role_reply, .internal = true};
                if (send_argv(c, p, 1, argv, NULL) < 0)
                        pending_free(p);
        }
        timeout_rearm(c);
        return 0;
}

/* ------------------------------------------------------------ Sentinel
 *
 * With redis.sentinels, each connection starts with a lookup: the
 * sentinels are asked in turn (SENTINEL get-master-addr-by-name, on a
 * connection of its own through the same adapter, never blocking the
 * loop; each bounded by redis.timeout) until one names the master, which
 * is then connected to (and asked its ROLE). A lookup that finds none
 * fails like a connection attempt: logged once per reason, retried with
 * the reconnect backoff. hiredis 0.14 has no Sentinel support of its own.
 */

static void sentinel_try_next(RedisConn *c);

/* Ends the lookup's connection (callbacks of it are ignored from now). */
static void sentinel_close(RedisConn *c, bool in_callback) {
        redisAsyncContext *sac = c->sac;

        c->sac = NULL;
        (void) sd_event_source_set_enabled(c->sentinel_timer, SD_EVENT_OFF);
        if (!sac)
                return;
        if (in_callback)
                redisAsyncDisconnect(sac); /* freed by hiredis once the callback returns */
        else
                redisAsyncFree(sac);
}

static void sentinel_failed(RedisConn *c, const char *reason, bool in_callback) {
        char buf[512];

        snprintf(buf, sizeof buf, "Sentinel %s:%d: %s",
                 c->sentinel_hosts[(c->sentinel_next + c->n_sentinels - 1) % c->n_sentinels],
                 c->sentinel_ports[(c->sentinel_next + c->n_sentinels - 1) % c->n_sentinels], reason);
        free(c->sentinel_failure);
        c->sentinel_failure = xstrdup(buf);
        sentinel_close(c, in_callback);
        sentinel_try_next(c);
}

static void sentinel_on_connect(const redisAsyncContext *ac, int status) {
        RedisConn *c = ac->data;
        char buf[128];

        if (!c || c->sac != ac || status == REDIS_OK)
                return;
        /* hiredis frees the context after this returns */
        c->sac = NULL;
        sentinel_failed(c, redis_error_text(ac->err, ac->errstr, c->timeout_usec / 1000, buf, sizeof buf),
                        /* in_callback= */ true);
}

static void sentinel_on_disconnect(const redisAsyncContext *ac, int status) {
        RedisConn *c = ac->data;

        if (!c || c->sac != ac)
                return;
        c->sac = NULL;
        sentinel_failed(c, "the connection closed before an answer", true);
}

static void sentinel_reply(redisAsyncContext *ac, void *r, void *privdata) {
        RedisConn *c = privdata;
        redisReply *reply = r;
        char addr[300];
        long port;

        if (c->sac != ac)
                return;
        if (!reply) {
                c->sac = NULL;
                sentinel_failed(c, "no answer", true);
                return;
        }
        if (reply->type == REDIS_REPLY_ERROR) {
                sentinel_failed(c, reply->str, true);
                return;
        }
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
            reply->element[0]->type != REDIS_REPLY_STRING || reply->element[1]->type != REDIS_REPLY_STRING ||
            reply->element[0]->len == 0 || reply->element[0]->len > 255) {
                snprintf(addr, sizeof addr, "it does not know a master named \"%s\" (redis.master_name)",
                         c->master_name);
                sentinel_failed(c, addr, true);
                return;
        }
        port = strtol(reply->element[1]->str, NULL, 10);
        if (port <= 0 || port > 65535) {
                sentinel_failed(c, "it named a bad port", true);
                return;
        }
        snprintf(addr, sizeof addr, strchr(reply->element[0]->str, ':') ? "[%s]:%ld" : "%s:%ld",
                 reply->element[0]->str, port);
        if (!c->host || !streq(c->host, reply->element[0]->str) || c->port != (int) port) {
                log_info("Redis Sentinel %s:%d: the master of %s is at %s",
                         c->sentinel_hosts[(c->sentinel_next + c->n_sentinels - 1) % c->n_sentinels],
                         c->sentinel_ports[(c->sentinel_next + c->n_sentinels - 1) % c->n_sentinels],
                         c->master_name, addr);
                free(c->host);
                c->host = xstrdup(reply->element[0]->str);
                free(c->unix_path);
                c->unix_path = NULL;
                c->port = (int) port;
                free(c->address);
                c->address = xstrdup(addr);
                c->up = false;
        }
        /* The one that answered is asked first next time. */
        c->sentinel_next = (c->sentinel_next + c->n_sentinels - 1) % c->n_sentinels;
        sentinel_close(c, true);
        (void) conn_connect(c);
}

static int on_sentinel_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        RedisConn *c = userdata;
        char buf[128];

        if (c->sac)
                sentinel_failed(c,
                                redis_error_text(REDIS_ERR_IMGFLOW_TIMEOUT, NULL, c->timeout_usec / 1000,
                                                 buf, sizeof buf),
                                /* in_callback= */ false);
        return 0;
}

static void sentinel_try_next(RedisConn *c) {
        while (c->sentinel_tried < c->n_sentinels) {
                size_t i = c->sentinel_next;
                redisAsyncContext *sac;
                char buf[128], reason[512];

                c->sentinel_next = (i + 1) % c->n_sentinels;
                c->sentinel_tried++;
                sac = redisAsyncConnect(c->sentinel_hosts[i], c->sentinel_ports[i]);
                if (!sac)
                        continue;
                if (sac->err) {
                        snprintf(reason, sizeof reason, "Sentinel %s:%d: %s", c->sentinel_hosts[i],
                                 c->sentinel_ports[i],
                                 redis_error_text(sac->err, sac->errstr, c->timeout_usec / 1000, buf,
                                                  sizeof buf));
                        free(c->sentinel_failure);
                        c->sentinel_failure = xstrdup(reason);
                        redisAsyncFree(sac);
                        continue;
                }
                sac->data = c;
                if (adapter_attach(c, sac) < 0) {
                        redisAsyncFree(sac);
                        continue;
                }
                redisAsyncSetConnectCallback(sac, sentinel_on_connect);
                redisAsyncSetDisconnectCallback(sac, sentinel_on_disconnect);
                c->sac = sac;
                if (redisAsyncCommand(sac, sentinel_reply, c, "SENTINEL get-master-addr-by-name %s",
                                      c->master_name) != REDIS_OK) {
                        sentinel_close(c, false);
                        continue;
                }
                (void) sd_event_source_set_time_relative(c->sentinel_timer, MAX_(c->timeout_usec, 1000));
                (void) sd_event_source_set_enabled(c->sentinel_timer, SD_EVENT_ONESHOT);
                return;
        }
        {
                char reason[700];
                snprintf(reason, sizeof reason,
                         "no Sentinel of redis.sentinels named the master %s (last: %s)", c->master_name,
                         c->sentinel_failure ? c->sentinel_failure : "none answered");
                conn_lost(c, reason);
        }
}

static int conn_start(RedisConn *c) {
        if (c->n_sentinels == 0)
                return conn_connect(c);
        if (c->sac)
                return 0;
        c->sentinel_tried = 0;
        sentinel_try_next(c);
        return 0;
}

int redis_parse_sentinels(const char *list, char ***ret_hosts, int **ret_ports, size_t *ret_n) {
        _cleanup_free_ char *copy = NULL;
        char **hosts = NULL, *save = NULL;
        int *ports = NULL;
        size_t n = 0;

        *ret_hosts = NULL;
        *ret_ports = NULL;
        *ret_n = 0;
        if (!list || !*list)
                return 0;
        copy = xstrdup(list);
        for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
                _cleanup_free_ char *host = NULL, *path = NULL;
                int port;

                if (n >= 64 || redis_parse_address(t, &host, &port, &path) < 0 || path) {
                        for (size_t i = 0; i < n; i++)
                                free(hosts[i]);
                        free(hosts);
                        free(ports);
                        return -EINVAL;
                }
                hosts = xrealloc(hosts, (n + 1) * sizeof *hosts);
                ports = xrealloc(ports, (n + 1) * sizeof *ports);
                hosts[n] = TAKE_PTR(host);
                ports[n] = strchr(t, ':') || t[0] == '[' ? port : 26379;
                n++;
        }
        *ret_hosts = hosts;
        *ret_ports = ports;
        *ret_n = n;
        return 0;
}

/* "$7\r\nEVALSHA\r\n$40\r\n<sha>\r\n": between an EVALSHA's "*<argc>\r\n" and
 * its numkeys (RedisPending.tail). */
#define SCRIPT_HEAD_LEN (13 + 47)

/* An error with which a server refuses a command it did not run, only for
 * now: loading its data after a restart, a script past its time limit, a
 * replica without its master, a resharding, a replica (a failover moved the
 * master). Handed to the caller as lost (NULL), like a command of a dropped
 * connection: taken for the answer, a LOADING reply to the read of an
 * execution made the coordinator drop the event it was for. */
static bool reply_refused_for_now(const redisReply *reply) {
        static const char *const codes[] = {"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "READONLY"};

        if (!reply || reply->type != REDIS_REPLY_ERROR || !reply->str)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(codes); i++) {
                size_t n = strlen(codes[i]);

                if (strncmp(reply->str, codes[i], n) == 0 && (reply->str[n] == ' ' || reply->str[n] == '\0'))
                        return true;
        }
        return false;
}

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

        if (!reply && c->held_head)
                held_release(c, false); /* older than this one, and lost with it */
        if (reply && reply->type == REDIS_REPLY_ERROR && c->n_sentinels > 0 && c->ac == ac &&
            strstr(reply->str, "READONLY"))
                conn_schedule_drop(c, "it is a replica now (READONLY), asking the Sentinels again");
        if (!p->internal && reply_refused_for_now(reply)) {
                if (!c->refusing)
                        log_warning("Redis at %s refuses commands for now (%s); they run again", c->address,
                                    reply->str);
                c->refusing = true;
                if (p->cb)
                        p->cb(c, NULL, p->userdata);
                pending_free(p);
                timeout_rearm(c);
                return;
        }
        if (reply && c->refusing && !p->internal) {
                log_info("Redis at %s answers commands again", c->address);
                c->refusing = false;
        }
        if (reply && p->gated && c->ac == ac) {
                held_push(c, p->cb, p->userdata, reply);
                pending_free(p);
                timeout_rearm(c);
                return;
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
        r = redis_parse_sentinels(config_get_string(cfg, "redis", "sentinels"), &c->sentinel_hosts,
                                  &c->sentinel_ports, &c->n_sentinels);
        if (r < 0)
                return log_error_errno(r, "Bad redis.sentinels \"%s\" (expected host:port,host:port,...)",
                                       config_get_string(cfg, "redis", "sentinels"));
        c->master_name = xstrdup(config_get_string(cfg, "redis", "master_name"));
        if (c->n_sentinels > 0 && !*c->master_name)
                return log_error_errno(-EINVAL, "redis.master_name is empty (needed with redis.sentinels)");
        if (c->n_sentinels > 0) {
                free(c->address);
                c->address = xasprintf("the master %s", c->master_name);
        }
        c->username = strdup(config_get_string(cfg, "redis", "username"));
        c->password = strdup(config_get_string(cfg, "redis", "password"));
        if (!c->username || !c->password)
                return -ENOMEM;
        c->db = config_get_int(cfg, "redis", "db");
        c->timeout_usec = config_get_duration_ms(cfg, "redis", "timeout") * 1000;
        c->wait_replicas = config_get_int(cfg, "redis", "wait_replicas");
        c->wait_timeout_ms = config_get_duration_ms(cfg, "redis", "wait_timeout");
        r = redis_check_wait(c->wait_replicas, c->wait_timeout_ms);
        if (r < 0)
                return r;
        r = sd_event_add_defer(e, &c->wait_defer, on_wait_defer, c);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(c->wait_defer, SD_EVENT_OFF);

        r = sd_event_add_time(e, &c->timeout_timer, CLOCK_MONOTONIC, UINT64_MAX, 1000, on_timeout, c);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(c->timeout_timer, SD_EVENT_OFF);
        r = sd_event_add_time(e, &c->reconnect_timer, CLOCK_MONOTONIC, UINT64_MAX, 1000, on_reconnect, c);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(c->reconnect_timer, SD_EVENT_OFF);
        r = sd_event_add_time(e, &c->sentinel_timer, CLOCK_MONOTONIC, UINT64_MAX, 1000, on_sentinel_timeout,
                              c);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(c->sentinel_timer, SD_EVENT_OFF);
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
        held_release(c, false);
        if (c->sac)
                sentinel_close(c, false);
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
        sd_event_source_disable_unref(c->wait_defer);
        sd_event_source_disable_unref(c->sentinel_timer);
        for (size_t i = 0; i < c->n_sentinels; i++)
                free(c->sentinel_hosts[i]);
        free(c->sentinel_hosts);
        free(c->sentinel_ports);
        free(c->master_name);
        free(c->sentinel_failure);
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
        return pending_sent(c, p);
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

int redis_check_wait(int64_t wait_replicas, uint64_t wait_timeout_ms) {
        if (wait_replicas < 0 || wait_replicas > 1000)
                return log_error_errno(-EINVAL,
                                       "redis.wait_replicas = %" PRId64 " is out of range (0 to 1000)",
                                       wait_replicas);
        if (wait_replicas > 0 && wait_timeout_ms == 0)
                return log_error_errno(-EINVAL,
                                       "redis.wait_timeout must be more than 0 with redis.wait_replicas "
                                       "(WAIT with timeout 0 blocks for good)");
        return 0;
}

int redis_check_config(const Config *cfg) {
        char **hosts = NULL;
        int *ports = NULL;
        size_t n = 0;
        int r;

        r = redis_check_wait(config_get_int(cfg, "redis", "wait_replicas"),
                             config_get_duration_ms(cfg, "redis", "wait_timeout"));
        if (r < 0)
                return r;
        r = redis_parse_sentinels(config_get_string(cfg, "redis", "sentinels"), &hosts, &ports, &n);
        if (r < 0)
                return log_error_errno(r, "Bad redis.sentinels \"%s\" (expected host:port,host:port,...)",
                                       config_get_string(cfg, "redis", "sentinels"));
        for (size_t i = 0; i < n; i++)
                free(hosts[i]);
        free(hosts);
        free(ports);
        if (n > 0 && !*config_get_string(cfg, "redis", "master_name"))
                return log_error_errno(-EINVAL, "redis.master_name is empty (needed with redis.sentinels)");
        return 0;
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

int redis_sync_wait(redisContext *ctx, const Config *cfg, char **ret_error) {
        int64_t n = config_get_int(cfg, "redis", "wait_replicas");
        uint64_t wait_ms = config_get_duration_ms(cfg, "redis", "wait_timeout");
        uint64_t total_ms = config_get_duration_ms(cfg, "redis", "timeout");
        const char *address = config_get_string(cfg, "redis", "address");
        uint64_t spent_ms = 0;
        long long got = 0;
        char buf[128];

        if (n <= 0)
                return 0;
        if (wait_ms == 0)
                return seterr(ret_error, -EINVAL,
                              "redis.wait_timeout must be more than 0 with redis.wait_replicas");
        /* The socket's own timeout is redis.timeout: each WAIT stays under it. */
        if (total_ms > 0 && wait_ms >= total_ms)
                wait_ms = total_ms > 100 ? total_ms - 100 : 1;
        do {
                _cleanup_redis_reply_ redisReply *reply =
                        redisCommand(ctx, "WAIT %lld %llu", (long long) n, (unsigned long long) wait_ms);
                if (!reply)
                        return seterr(ret_error, -EIO, "Redis at %s: WAIT: %s", address,
                                      redis_error_text(ctx->err, ctx->errstr, total_ms, buf, sizeof(buf)));
                if (reply->type == REDIS_REPLY_ERROR)
                        return seterr(ret_error, -EIO, "Redis at %s refused WAIT: %s", address, reply->str);
                got = reply->type == REDIS_REPLY_INTEGER ? reply->integer : 0;
                if (got >= n)
                        return 0;
                spent_ms += wait_ms;
        } while (spent_ms < MAX_(total_ms, wait_ms));
        return seterr(
                ret_error, -ETIMEDOUT,
                "Redis replicas behind: %lld of %lld replica(s) acknowledged the change within %llu ms "
                "(redis.wait_replicas); it is made on %s but a failover may lose it",
                got, (long long) n, (unsigned long long) spent_ms, address);
}

/* The master's address from the first of redis.sentinels that names it
 * (blocking, each sentinel bounded by redis.timeout: the CLI's way). */
static int sync_sentinel_lookup(const Config *cfg, struct timeval tv, uint64_t ms, char **ret_host,
                                int *ret_port, char **ret_address, char **ret_error) {
        const char *name = config_get_string(cfg, "redis", "master_name");
        _cleanup_free_ char *last = NULL;
        char **hosts = NULL;
        int *ports = NULL;
        size_t n = 0;
        int r = -EHOSTUNREACH;

        if (redis_parse_sentinels(config_get_string(cfg, "redis", "sentinels"), &hosts, &ports, &n) < 0 ||
            n == 0)
                return seterr(ret_error, -EINVAL, "bad redis.sentinels \"%s\"",
                              config_get_string(cfg, "redis", "sentinels"));
        for (size_t i = 0; i < n && r < 0; i++) {
                _cleanup_(redisFreep) redisContext *sc = redisConnectWithTimeout(hosts[i], ports[i], tv);
                char buf[128];

                free(last);
                if (!sc || sc->err) {
                        last = xasprintf("Sentinel %s:%d: %s", hosts[i], ports[i],
                                         sc ? redis_error_text(sc->err, sc->errstr, ms, buf, sizeof buf)
                                            : "out of memory");
                        continue;
                }
                (void) redisSetTimeout(sc, tv);
                _cleanup_redis_reply_ redisReply *reply =
                        redisCommand(sc, "SENTINEL get-master-addr-by-name %s", name);
                if (!reply) {
                        last = xasprintf("Sentinel %s:%d: %s", hosts[i], ports[i],
                                         redis_error_text(sc->err, sc->errstr, ms, buf, sizeof buf));
                        continue;
                }
                if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
                    reply->element[0]->type != REDIS_REPLY_STRING ||
                    reply->element[1]->type != REDIS_REPLY_STRING) {
                        last = xasprintf("Sentinel %s:%d: %s", hosts[i], ports[i],
                                         reply->type == REDIS_REPLY_ERROR ? reply->str
                                                                          : "it does not know the master");
                        continue;
                }
                last = NULL;
                *ret_host = xstrdup(reply->element[0]->str);
                *ret_port = (int) strtol(reply->element[1]->str, NULL, 10);
                *ret_address = xasprintf("%s:%d", *ret_host, *ret_port);
                r = 0;
        }
        for (size_t i = 0; i < n; i++)
                free(hosts[i]);
        free(hosts);
        free(ports);
        if (r < 0)
                return seterr(ret_error, r, "no Sentinel of redis.sentinels named the master %s (last: %s)",
                              name, last ? last : "none answered");
        return 0;
}

int redis_sync_connect(const Config *cfg, redisContext **ret, char **ret_error) {
        _cleanup_free_ char *host = NULL, *path = NULL, *sentinel_address = NULL;
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
        if (*config_get_string(cfg, "redis", "sentinels")) {
                free(host);
                free(path);
                host = path = NULL;
                r = sync_sentinel_lookup(cfg, tv, ms, &host, &port, &sentinel_address, ret_error);
                if (r < 0)
                        return r;
                address = sentinel_address;
        }

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
