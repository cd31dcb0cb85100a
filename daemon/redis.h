/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * hiredis on sd-event (STYLE 9), in libdaemon_redis: linked by the
 * coordinator, imgflow-api and the CLI only. Workers never talk to Redis.
 *
 * The adapter follows hiredis's adapters/ (addRead/delRead/addWrite/
 * delWrite/cleanup on one sd_event io source whose io events are switched
 * with sd_event_source_set_io_events). hiredis 0.14 has no timer hook, so
 * command timeouts are ours: replies come in order, each command records its
 * deadline, and one timer per connection watches the oldest; when it passes,
 * the connection is dropped (all pending callbacks get a NULL reply) and
 * reconnected.
 *
 * Connection: [redis] address ("host:port", default 127.0.0.1:6379, or
 * "unix:/path"), username + password (AUTH user pass; password alone ->
 * AUTH pass), db (SELECT), timeout (connect and command timeout). AUTH and
 * SELECT are sent first on each new connection, so commands queued during
 * connect run after them. After a disconnect it reconnects with backoff
 * (100 ms doubling to 5 s). tls = true is refused: hiredis 0.14 has no TLS;
 * use stunnel or a TLS-terminating proxy on localhost.
 *
 * Sentinel: with [redis] sentinels ("host:port,..."), each connection
 * (the first, and every reconnect) starts by asking them in turn for the
 * master of [redis] master_name (SENTINEL get-master-addr-by-name, on the
 * same loop, bounded by redis.timeout each), and checks with ROLE that what
 * it reached is a master; a READONLY error reply or a WAIT refused drops
 * the connection, so a failover is followed without a restart. The
 * synchronous helpers do the same lookup, blocking.
 *
 * Replies are borrowed: a reply dies when its callback returns (hiredis).
 */

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "macro.h"
#include "metrics.h"

/* Cleanup helpers for hiredis (STYLE 7). */
static inline void redisFreep(redisContext **p) {
        if (*p)
                redisFree(*p);
}
static inline void freeReplyObjectp(redisReply **p) {
        if (*p)
                freeReplyObject(*p);
}
#define _cleanup_redis_reply_ _cleanup_(freeReplyObjectp)

/* Limits. */
/* Arguments of one command: Redis 6's own limit on a request's elements.
 * One exec_commit carries each history event of a transition as an
 * argument, and one transition of an inline Map over N items records about
 * 4N events (up to [coordinator] history_limit, 25,000 by default). */
#define REDIS_ARGS_MAX (1024 * 1024)
#define REDIS_PENDING_MAX 100000            /* commands awaiting replies per connection */

typedef struct RedisConn RedisConn;

/* A timeout of ours, for redis_error_text() (hiredis 0.14 has no code). */
#define REDIS_ERR_IMGFLOW_TIMEOUT 100

/* What went wrong, in words, from a context's err and errstr: "it does not
 * speak the Redis protocol (...)" for REDIS_ERR_PROTOCOL, "it did not answer
 * within N s (redis.timeout)" for a timeout (EAGAIN on a blocking socket),
 * "the server closed the connection" for EOF, else errstr. Points into buf
 * or at a constant. The callers add "... Redis at <address>: ". */
const char *redis_error_text(int err, const char *errstr, uint64_t timeout_ms, char *buf, size_t size);

/* Connection state changes: connected = true after AUTH/SELECT were sent on
 * a new connection; false after a disconnect or a failed attempt (error
 * borrowed, says why). Reconnecting is automatic. The connection logs these
 * itself, naming the address (once per reason while it cannot connect:
 * "Cannot connect to Redis at H:P: ..."; "Connected to Redis at H:P" at the
 * first reply; "Lost the connection to Redis at H:P: ..."): callers need
 * not. */
typedef void (*RedisConnectFn)(RedisConn *c, bool connected, const char *error, void *userdata);

/* A reply (borrowed; freed when the callback returns), or NULL when the
 * command was lost: disconnect, timeout, the RedisConn was freed, or the
 * server refused it for now without running it (LOADING after a restart,
 * BUSY behind a long script, MASTERDOWN, TRYAGAIN, READONLY): the caller
 * runs it again later either way. Any other error reply
 * (REDIS_REPLY_ERROR) is a reply, not NULL. */
typedef void (*RedisReplyFn)(RedisConn *c, redisReply *reply, void *userdata);

/* Starts connecting (asynchronously). on_state may be NULL. Fails with
 * -EINVAL (bad address, tls = true) or -ENOMEM. e is referenced. */
int redis_conn_new(sd_event *e, const Config *cfg, RedisConnectFn on_state, void *userdata,
                   RedisConn **ret);
/* Pending callbacks are called with NULL reply. Accepts NULL; returns NULL.
 * Do not call from inside a reply callback of the same connection. */
RedisConn *redis_conn_free(RedisConn *c);
static inline void redis_conn_freep(RedisConn **c) {
        redis_conn_free(*c);
}
bool redis_conn_is_connected(const RedisConn *c);

/*
 * Durability on replicas: [redis] wait_replicas = N (0: off) and
 * wait_timeout. After the commands of one loop iteration the connection
 * sends WAIT N wait_timeout on the same connection (one WAIT at a time:
 * Redis blocks the client in it; commands sent meanwhile get the next
 * one), and holds the replies
 * of those commands (copies) until a WAIT behind them answers with at
 * least N: a caller acts on a reply (commits Kafka offsets, publishes,
 * answers) only once its writes are on N replicas. A WAIT short of N is
 * logged ("Redis replicas behind: ..." once per episode), counted
 * (imgflow_redis_wait_shortfalls_total) and sent again: the replies stay
 * held, and so do those of the commands behind them. A lost connection
 * delivers the held replies as NULL (lost: the caller runs the step
 * again). AUTH, SELECT and WAIT itself are not held.
 */
/* Registers imgflow_redis_wait_shortfalls_total and imgflow_redis_replies_held. */
int redis_conn_set_metrics(RedisConn *c, Metrics *metrics);
/* WAIT answers short of wait_replicas so far. */
uint64_t redis_conn_wait_shortfalls(const RedisConn *c);
/* The [redis] wait_replicas and wait_timeout pair is usable (logged if not). */
int redis_check_wait(int64_t wait_replicas, uint64_t wait_timeout_ms);
/* What redis_conn_new() would refuse of wait_replicas, wait_timeout,
 * sentinels and master_name (logged), for --check-config. 0 or -EINVAL. */
int redis_check_config(const Config *cfg);
/* Commands sent and not yet answered. */
size_t redis_conn_pending(const RedisConn *c);

/*
 * Sends a command (arguments copied; argvlen may be NULL for C strings).
 * cb may be NULL (reply dropped). Returns 0 (cb will be called exactly
 * once), -ENOTCONN while waiting to reconnect (cb is not called: retry
 * later), -ENOBUFS with REDIS_PENDING_MAX commands awaiting replies (retry
 * later), -E2BIG past REDIS_ARGS_MAX arguments (sending it again fails
 * again), -ENOMEM.
 */
int redis_command_argv(RedisConn *c, RedisReplyFn cb, void *userdata, int argc,
                       const char **argv, const size_t *argvlen);
/* printf-like, hiredis's format ("%s", "%b" with pointer and size_t). */
int redis_command(RedisConn *c, RedisReplyFn cb, void *userdata, const char *format, ...);

/* A Lua script named by its SHA1. source is borrowed (use a static string). */
typedef struct RedisScript {
        const char *source;
        char sha[41];
} RedisScript;

void redis_script_init(RedisScript *s, const char *source);
#define REDIS_SCRIPT_INIT_ONCE(s, src) \
        do { if (!(s)->source) redis_script_init((s), (src)); } while (0)

/*
 * EVALSHA sha numkeys argv...; on a NOSCRIPT error reply, transparently
 * EVAL source numkeys argv... (which also loads it) and delivers that reply.
 * s must stay valid until cb ran. Same returns as redis_command_argv().
 */
int redis_eval(RedisConn *c, const RedisScript *s, RedisReplyFn cb, void *userdata, int numkeys,
               int argc, const char **argv, const size_t *argvlen);
/* The same with the keys and the other arguments in two vectors (lens NULL
 * = strlen): nothing is gathered or copied before the one formatting. */
int redis_evalv(RedisConn *c, const RedisScript *s, RedisReplyFn cb, void *userdata, size_t n_keys,
                const char *const *keys, const size_t *key_lens, size_t n_args, const char *const *args,
                const size_t *arg_lens);

/* ------------------------------------------------------------------ */
/* Synchronous helpers, for the CLI and tests (they block: never on a
 * daemon's loop). */

/* Connects with [redis] timeout, sends AUTH (or, without a password, a PING
 * to learn whether the server wants one) and SELECT. New context in *ret;
 * on failure -errno and a new message in *ret_error (if not NULL): -EACCES
 * for a refused (WRONGPASS) or missing (NOAUTH) password. */
int redis_sync_connect(const Config *cfg, redisContext **ret, char **ret_error);

/* EVALSHA, EVAL on NOSCRIPT. Returns a new reply (freeReplyObject), or NULL
 * on I/O error (see ctx->errstr). argvlen may be NULL. */
redisReply *redis_sync_eval(redisContext *ctx, const RedisScript *s, int numkeys, int argc,
                            const char **argv, const size_t *argvlen);

/* With [redis] wait_replicas = N > 0: WAIT N wait_timeout after a change,
 * again until N replicas acknowledged it or redis.timeout passed. 0 when
 * they did (or wait_replicas is 0); -ETIMEDOUT with a message naming the
 * shortfall, -EIO on an error. */
int redis_sync_wait(redisContext *ctx, const Config *cfg, char **ret_error);

/* Parses [redis] sentinels: "host:port" (port 26379 if left out) items
 * separated by commas or spaces, at most 64. New arrays (and strings) in
 * *ret_hosts, *ret_ports; none for an empty list. -EINVAL. */
int redis_parse_sentinels(const char *list, char ***ret_hosts, int **ret_ports, size_t *ret_n);

/* Parses [redis] address: "host:port", "host" (port 6379), "[v6]:port",
 * "unix:/path". New strings; *ret_port 0 for unix. */
int redis_parse_address(const char *address, char **ret_host, int *ret_port, char **ret_unix_path);
