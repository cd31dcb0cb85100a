/* SPDX-License-Identifier: MIT */
/*
 * imgflow-coordinator: advances executions.
 *
 * One sd-event loop (STYLE 9) drives a Kafka consumer (group
 * [coordinator] group, topics <prefix>jobs and <prefix>events), a Kafka
 * producer and an asynchronous Redis connection. Following one message:
 *
 *   on_message()       decode (undecodable -> <prefix>dlq, offset done);
 *                      SendTask* first look the token up (token -> exec id)
 *   exec queue         per execution at most one event is applied at a time;
 *                      the rest wait in memory (bounded: the consumer is
 *                      paused when too many messages are in flight)
 *   work_run()         StartExecution: resolve the definition (cached per
 *                      name:version) and apply_start(); other events: HMGET
 *                      the document (or take it from the state cache),
 *                      apply_event()
 *   exec_commit        one Lua script, a compare-and-set on the version; on
 *                      conflict the document is reloaded and the event
 *                      applied again (stale events change nothing)
 *   outbox             after the commit the Task messages and notifications
 *                      it stored are produced; each delivery report deletes
 *                      its outbox item; a sweeper re-sends items whose report
 *                      never came (a coordinator killed after its commit)
 *   offsets            the message is done only after the commit, so Kafka
 *                      offsets are committed up to the lowest unfinished one
 *
 * State cache: after a commit the new document and version stay in memory
 * (m->states, RUNNING executions only, bounded, dropped on every rebalance),
 * so the next event of the execution skips the HMGET and the JSON parse.
 * It is only a guess: the commit's compare-and-set refuses a stale version,
 * and an event that a cached state finds stale is applied again to the
 * document read from Redis before it is dropped.
 *
 * Timers: every [coordinator] timer_interval the due members of
 * imgflow:timers are claimed with a lease, TimerFired is produced to the
 * events topic keyed by the execution id, and the claim is removed after
 * the broker acknowledged; expired leases are reclaimed periodically.
 *
 * SIGTERM drains: stop consuming and claiming, finish in-flight work, flush
 * the producer, commit offsets. SIGHUP re-reads the log level.
 *
 * Observability: every per-execution log line carries EXECUTION_ID (and
 * STATE_NAME, TASK_ID, IMAGE_KEY, OPERATION for tasks); STATUS= says how
 * many executions run (counted in Redis, bounded, every STATUS_USEC) and
 * how many tasks are done; with [coordinator] metrics_listen the counters,
 * the dispatch -> result latency per operation (tasks this coordinator
 * dispatched, remembered in memory for at most DISPATCH_TTL_MS), the Redis
 * round-trip time and the Kafka consumer lag are on /metrics.
 *
 * Layering: uses coordinator/asl (engine), the store, proto/ and daemon/.
 */

#include <assert.h>
#include <dirent.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <glib.h>

#include "apply.h"
#include "clock.h"
#include "config.h"
#include "daemon-config.h"
#include "dead-letter.h"
#include "format.h"
#include "hash.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "random.h"
#include "redis.h"
#include "resources.h"
#include "service.h"
#include "store.h"

#define CONFLICT_RETRIES_MAX 50
#define RETRY_DELAY_USEC (250 * 1000)
#define OUTBOX_SWEEP_USEC (2 * 1000 * 1000)
#define OUTBOX_REDISPATCH_MS 10000
#define TIMER_LEASE_MS 30000
#define RECLAIM_USEC (5 * 1000 * 1000)
#define STATUS_USEC (5 * 1000 * 1000)
/* Empty execution queues kept before they are dropped together. */
#define QUEUES_IDLE_MAX 4096
#define MACHINE_CACHE_MAX 1000
#define STATE_CACHE_MAX 10000                   /* executions in the state cache ... */
#define STATE_CACHE_BYTES_MAX (64 * 1024 * 1024) /* ... and their documents' bytes */
#define DISPATCH_TRACK_MAX 100000               /* tasks remembered for the latency histogram */
#define DISPATCH_TTL_MS (3600 * 1000)           /* ... for at most this long */
#define OUTBOX_ACK_BATCH_MAX 256                /* acked outbox items deleted in one call */

/* Counters: in the STATUS= line and, with [coordinator] metrics_listen, on
 * the Prometheus endpoint (a table, STYLE 11). */
typedef enum Counter {
        COUNTER_STARTED,
        COUNTER_COMMITS,
        COUNTER_STALE,
        COUNTER_CONFLICTS,
        COUNTER_TIMERS,
        COUNTER_DLQ, /* incremented by the dead-letter publisher (daemon/dead-letter.c) */
        COUNTER_REDISPATCHED,
        _COUNTER_MAX,
} Counter;

static const struct {
        const char *name;
        const char *help;
} counter_table[_COUNTER_MAX] = {
        [COUNTER_STARTED] = { "imgflow_coordinator_executions_started_total", "Executions started." },
        [COUNTER_COMMITS] = { "imgflow_coordinator_commits_total", "Execution changes committed to Redis." },
        [COUNTER_STALE] = { "imgflow_coordinator_stale_events_total",
                            "Events that changed nothing (duplicates, late results, finished executions)." },
        [COUNTER_CONFLICTS] = { "imgflow_coordinator_commit_conflicts_total",
                                "Commits refused by the version check (reloaded and retried)." },
        [COUNTER_TIMERS] = { "imgflow_coordinator_timers_fired_total", "TimerFired messages acknowledged by Kafka." },
        [COUNTER_DLQ] = { "imgflow_coordinator_dead_letters_total", "Messages sent to the dead-letter topic." },
        [COUNTER_REDISPATCHED] = { "imgflow_coordinator_outbox_resent_total",
                                   "Outbox messages sent again because no delivery report came." },
};

typedef struct Manager Manager;
typedef struct ExecQueue ExecQueue;
typedef struct Work Work;

/* One consumed message on its way through the store. */
struct Work {
        Manager *m;
        ExecQueue *q;           /* NULL until queued */
        Work *next;
        char *topic;            /* origin (owned); NULL = no offset to finish */
        int32_t partition;
        int64_t offset;
        ProtoMessage *msg;      /* owned */
        char *exec_id;          /* owned */
        char *task_id;          /* SendTask*: from the token lookup */
        char *sm_name;          /* StartExecution */
        unsigned sm_version;
        char *exec_name;
        char *state_name;       /* task results: the state of the task (from the document) */
        StoreExecState st;
        bool st_cached;         /* st came from the state cache, not from Redis */
        unsigned conflicts;
        sd_event_source *retry; /* pending retry timer */
};

struct ExecQueue {
        char *exec_id;          /* owned; the hash table key */
        Work *head, *tail;
        bool busy;
        bool idle;              /* empty, left in the table until queues_sweep() */
};

typedef enum PendingKind {
        PENDING_OUTBOX, /* a = exec id, b = item id */
        PENDING_TIMER,  /* a = timer member */
} PendingKind;

/* The opaque of one produced message, owned by its delivery report (dead
 * letters have their own: daemon/dead-letter.c). */
typedef struct Pending {
        PendingKind kind;
        char *a, *b;
} Pending;

struct Manager {
        sd_event *event;
        Config *config;                 /* borrowed from run() */
        DaemonConfigArgs *config_args;  /* borrowed from run(): for reloads */
        KafkaConsumer *consumer;
        KafkaProducer *producer;
        DeadLetters *dead_letters;
        RedisConn *redis;
        RedisScript scripts[_STORE_SCRIPT_MAX];
        GHashTable *queues;             /* exec id -> ExecQueue */
        GHashTable *machines;           /* "name:version" -> AslMachine */
        GHashTable *states;             /* exec id -> CachedState: state after our last commit */
        size_t states_bytes;            /* documents' bytes in states */
        Resources *resources;
        ApplyConfig apply;
        ProtoLimits limits;
        char *topic_prefix, *topic_jobs, *topic_events, *topic_dlq;
        char *role_arn;                 /* coordinator.execution_role_arn; NULL when empty */

        size_t in_flight;               /* Works alive */
        size_t n_idle_queues;           /* empty ExecQueues still in queues */
        size_t max_in_flight;
        bool paused, stopping, ready, redis_up, kafka_up;
        bool tearing_down;              /* manager_free() in progress */
        uint64_t stop_deadline_usec;

        int64_t timer_interval_usec;
        unsigned timer_batch;
        bool claiming;                  /* a claim is in flight */

        uint64_t counters[_COUNTER_MAX];
        uint64_t n_dispatched, n_tasks_done, n_finished;
        int64_t n_running;              /* RUNNING in Redis; -1 = not counted yet */
        bool counting;                  /* a count is in flight */
        GHashTable *dispatched;         /* "execId|taskId" -> Dispatched: logs, latency */
        Metrics *metrics;
        Metric *metric[_COUNTER_MAX];   /* borrowed from metrics */
        Metric *g_in_flight, *g_active;
        Metric *m_executions, *m_running, *m_dispatched, *m_task_latency, *m_task_results, *m_redis_rtt,
                *m_lag;

        sd_event_source *t_claim, *t_reclaim, *t_sweep, *t_status, *t_drain;

        /* Outbox items the broker acked, deleted from Redis in one call
         * per loop iteration (or per OUTBOX_ACK_BATCH_MAX items). */
        StoreCall acks;
        sd_event_source *ack_flush;     /* defer source, on while acks has items */
        unsigned acks_in_flight;        /* ack calls sent, not answered */
};

static void work_run(Work *w);
static void work_finish(Work *w);
static void queue_kick(Manager *m, ExecQueue *q);
static void queues_sweep(Manager *m);

/* ---- helpers ---- */

static void count(Manager *m, Counter c) {
        m->counters[c]++;
        if (m->metric[c])
                (void) metric_counter_inc(m->metric[c], NULL);
}

/* A log line about one task: EXECUTION_ID, STATE_NAME, TASK_ID, IMAGE_KEY
 * and OPERATION, each omitted when NULL (all borrowed). */
_printf_(7, 8)
static void log_task(int level, const char *exec_id, const char *state, const char *task_id,
                     const char *image_key, const char *operation, const char *format, ...) {
        const char *names[] = { "EXECUTION_ID=", "STATE_NAME=", "TASK_ID=", "IMAGE_KEY=", "OPERATION=" };
        const char *values[] = { exec_id, state, task_id, image_key, operation };
        char *fields[ELEMENTSOF(names) + 1] = {};
        size_t n = 0;
        va_list ap;

        if (level > log_get_max_level())
                return;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (values[i])
                        fields[n++] = xasprintf("%s%s", names[i], values[i]);
        va_start(ap, format);
        (void) log_internalv(level, 0, (const char *const *) fields, __FILE__, __LINE__, __func__, format, ap);
        va_end(ap);
        for (size_t i = 0; i < n; i++)
                free(fields[i]);
}

/* A task this coordinator dispatched, until its result comes. */
typedef struct Dispatched {
        char *operation;
        char *image_key;        /* NULL when the input names no image */
        int64_t dispatched_ms;
} Dispatched;

static void dispatched_free(void *p) {
        Dispatched *d = p;
        if (!d)
                return;
        free(d->operation);
        free(d->image_key);
        free(d);
}

/* Redis round-trip time: a wrapper around a reply callback (metrics only). */
typedef struct RedisTimed {
        Manager *m;
        RedisReplyFn cb;
        void *userdata;
        uint64_t start_usec;
        const char *kind;       /* "command", "script" (static) */
} RedisTimed;

static void on_redis_timed(RedisConn *c, redisReply *reply, void *userdata);

/* With metrics: replaces *cb and *userdata by the timing wrapper and returns it
 * (free it if the command is not sent); without: NULL, nothing changed. */
static RedisTimed *redis_timed_wrap(Manager *m, const char *kind, RedisReplyFn *cb, void **userdata) {
        RedisTimed *t;

        if (!m->m_redis_rtt)
                return NULL;
        t = xmalloc(sizeof *t);
        *t = (RedisTimed) { m, *cb, *userdata, now_usec(CLOCK_MONOTONIC), kind };
        *cb = on_redis_timed;
        *userdata = t;
        return t;
}

static AslEnv manager_env(Manager *m) {
        return (AslEnv) {
                .now_ms = now_ms(CLOCK_REALTIME),
                .random = random_fill,
                .max_payload_bytes = m->limits.max_payload_bytes,
                .max_history_events = m->apply.history_cap,
        };
}

static Pending *pending_new(PendingKind kind, const char *a, const char *b) {
        Pending *p = xmalloc(sizeof *p);
        *p = (Pending) { .kind = kind, .a = a ? xstrdup(a) : NULL, .b = b ? xstrdup(b) : NULL };
        return p;
}

static void pending_free(Pending *p) {
        if (!p)
                return;
        free(p->a);
        free(p->b);
        free(p);
}

/* EVALSHA a store call on the async connection (timed with metrics). */
static int manager_eval(Manager *m, const StoreCall *call, RedisReplyFn cb, void *userdata) {
        RedisTimed *t;
        int r;

        if (!m->redis || m->tearing_down)
                return -ENOTCONN;
        t = redis_timed_wrap(m, "script", &cb, &userdata);
        r = redis_evalv(m->redis, &m->scripts[call->script], cb, userdata, call->keys.n,
                        (const char *const *) call->keys.argv, call->keys.lens, call->args.n,
                        (const char *const *) call->args.argv, call->args.lens);
        if (r < 0)
                free(t);
        return r;
}

/* A plain command on the async connection (timed with metrics). */
static int manager_command(Manager *m, const StoreArgv *a, RedisReplyFn cb, void *userdata) {
        RedisTimed *t;
        int r;

        if (!m->redis || m->tearing_down)
                return -ENOTCONN;
        t = redis_timed_wrap(m, "command", &cb, &userdata);
        r = redis_command_argv(m->redis, cb, userdata, (int) a->n, (const char **) a->argv, a->lens);
        if (r < 0)
                free(t);
        return r;
}

static void on_redis_timed(RedisConn *c, redisReply *reply, void *userdata) {
        RedisTimed *t = userdata;
        RedisReplyFn cb = t->cb;
        void *ud = t->userdata;

        if (reply && !t->m->tearing_down) {
                const char *const lv[] = { t->kind };
                (void) metric_histogram_observe(t->m->m_redis_rtt, lv, (double) (now_usec(CLOCK_MONOTONIC) - t->start_usec) / 1e6);
        }
        free(t);
        if (cb)
                cb(c, reply, ud);
}

static void manager_produce(Manager *m, const char *topic, const char *key, const char *payload,
                            Pending *p) {
        int r = kafka_produce(m->producer, topic, key, payload, strlen(payload), p);
        if (r < 0) {
                /* The outbox sweeper / timer reclaim will try again. key = the execution id. */
                log_struct_exec_errno(LOG_WARNING, r, key, NULL, NULL, "Failed to produce to %s: %m", topic);
                pending_free(p);
        }
}

/* ---- works and queues ---- */

static void work_free(Work *w) {
        if (!w)
                return;
        sd_event_source_disable_unref(w->retry);
        free(w->topic);
        proto_message_free(w->msg);
        free(w->exec_id);
        free(w->task_id);
        free(w->sm_name);
        free(w->exec_name);
        free(w->state_name);
        store_exec_state_done(&w->st);
        free(w);
}

/* ---- state cache ---- */

typedef struct CachedState {
        StoreExecState st;      /* owned */
        size_t bytes;           /* of the serialized document */
} CachedState;

static void cached_state_free(void *p) {
        CachedState *cs = p;
        if (!cs)
                return;
        store_exec_state_done(&cs->st);
        free(cs);
}

static void states_clear(Manager *m) {
        if (m->states)
                g_hash_table_remove_all(m->states);
        m->states_bytes = 0;
}

/* Moves the cached state of w's execution (if any) into w->st. */
static bool states_take(Work *w) {
        Manager *m = w->m;
        void *key, *value;
        CachedState *cs;

        if (!m->states || !g_hash_table_steal_extended(m->states, w->exec_id, &key, &value))
                return false;
        free(key);
        cs = value;
        m->states_bytes -= MIN_(m->states_bytes, cs->bytes);
        store_exec_state_done(&w->st);
        w->st = cs->st;
        w->st_cached = true;
        free(cs);
        return true;
}

/* After a commit of w's event or start (not terminal): w->st.doc is the
 * document just committed as `version`; keep it (moved out of w). */
static void states_put(Work *w, const StoreCommit *commit, uint64_t version) {
        Manager *m = w->m;
        size_t bytes = commit->doc ? strlen(commit->doc) : 0;
        CachedState *cs;

        if (!m->states || !w->st.doc || commit->stop_ms > 0 ||
            !streq_ptr(commit->status, "RUNNING") || bytes > STATE_CACHE_BYTES_MAX / 16)
                return;
        if (g_hash_table_size(m->states) >= STATE_CACHE_MAX || m->states_bytes + bytes > STATE_CACHE_BYTES_MAX)
                states_clear(m);
        cs = xmalloc(sizeof *cs);
        *cs = (CachedState) { .st = w->st, .bytes = bytes };
        cs->st.version = version;
        w->st = (StoreExecState) {};
        g_hash_table_replace(m->states, xstrdup(w->exec_id), cs);
        m->states_bytes += bytes;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Work *w = userdata;
        w->retry = sd_event_source_disable_unref(w->retry);
        work_run(w);
        return 0;
}

/* Redis was not there (disconnect, timeout): run the work again later. */
static void work_retry_later(Work *w) {
        int r;

        if (w->retry || w->m->tearing_down)
                return;
        r = sd_event_add_time_relative(w->m->event, &w->retry, CLOCK_MONOTONIC, RETRY_DELAY_USEC,
                                       0, on_retry, w);
        if (r < 0) {
                log_error_errno(r, "Failed to arm a retry timer: %m");
                work_finish(w);
        }
}

static void maybe_resume(Manager *m) {
        if (m->paused && !m->stopping && m->consumer && m->in_flight <= m->max_in_flight / 2) {
                if (kafka_consumer_resume(m->consumer, NULL) >= 0)
                        m->paused = false;
        }
}

static void work_finish(Work *w) {
        Manager *m = w->m;
        ExecQueue *q = w->q;

        if (w->topic && m->consumer)
                (void) kafka_consumer_done(m->consumer, w->topic, w->partition, w->offset);
        if (q) {
                assert(q->head == w);
                q->head = w->next;
                if (!q->head)
                        q->tail = NULL;
                q->busy = false;
        }
        m->in_flight--;
        work_free(w);
        if (q) {
                if (q->head)
                        queue_kick(m, q);
                else {
                        q->idle = true;
                        if (++m->n_idle_queues >= QUEUES_IDLE_MAX)
                                queues_sweep(m);
                }
        }
        maybe_resume(m);
}

static void queue_free(void *p) {
        ExecQueue *q = p;
        free(q->exec_id);
        free(q);
}

static gboolean queue_is_idle(void *key, void *value, void *userdata) {
        return ((ExecQueue *) value)->idle;
}

/* Drop the empty queues. They are left in the table when they empty, and
 * dropped here in bulk: as a batch of events came and went, removing each
 * at once made the table shrink and grow again (a rehash and a large
 * realloc) every few events. */
static void queues_sweep(Manager *m) {
        if (m->n_idle_queues == 0)
                return;
        g_hash_table_foreach_remove(m->queues, queue_is_idle, NULL);
        m->n_idle_queues = 0;
}

static void queue_kick(Manager *m, ExecQueue *q) {
        if (q->busy || !q->head || m->tearing_down)
                return;
        q->busy = true;
        work_run(q->head);
}

static void work_enqueue(Work *w) {
        Manager *m = w->m;
        ExecQueue *q = g_hash_table_lookup(m->queues, w->exec_id);

        if (!q) {
                q = xmalloc(sizeof *q);
                *q = (ExecQueue) { .exec_id = xstrdup(w->exec_id) };
                g_hash_table_insert(m->queues, q->exec_id, q);
        } else if (q->idle) {
                q->idle = false;
                m->n_idle_queues--;
        }
        w->q = q;
        if (q->tail)
                q->tail->next = w;
        else
                q->head = w;
        q->tail = w;
        queue_kick(m, q);
}

/* ---- responses ---- */

static void on_response_written(RedisConn *c, redisReply *reply, void *userdata) {
        work_finish(userdata);
}

/* Store the answer r to msg, when msg carries a request id (r's request
 * and request id are filled in here). Returns 0 when the command was sent
 * (cb follows), or -errno: nothing to answer, or not sent (logged). */
static int manager_respond(Manager *m, const ProtoMessage *msg, ProtoResponse r, RedisReplyFn cb,
                           void *userdata) {
        _cleanup_(store_argv_done) StoreArgv a = {};
        _cleanup_free_ char *text = NULL;
        size_t len;
        int k;

        r.request = msg->type;
        r.request_id = proto_message_request_id(msg);
        if (!r.request_id)
                return -ENOENT;
        k = proto_encode_response(&r, &text, &len);
        if (k >= 0)
                k = store_response_put_argv(r.request_id, text, &a);
        if (k < 0)
                return k;
        k = manager_command(m, &a, cb, userdata);
        if (k < 0)
                log_warning_errno(k, "Failed to store the response to %s: %m", r.request_id);
        return k;
}

/* Answer w's request (if it carries a request id), then finish the work. */
static void work_respond(Work *w, ProtoResponse r) {
        if (manager_respond(w->m, w->msg, r, on_response_written, w) < 0)
                work_finish(w);
}

/* Answer w's request with an error and finish the work. */
static void work_refuse(Work *w, const char *error, const char *cause) {
        work_respond(w, (ProtoResponse){.error = error, .cause = cause});
}

/* ---- definitions ---- */

static void machine_free_cb(void *p) {
        asl_machine_free(p);
}

static AslMachine *machine_lookup(Manager *m, const char *name, unsigned version) {
        char key[STORE_NAME_MAX + 16];
        snprintf(key, sizeof key, "%s:%u", name, version);
        return g_hash_table_lookup(m->machines, key);
}

/* Parse and cache a definition text. Returns the machine (borrowed) or NULL. */
static AslMachine *machine_add(Manager *m, const char *name, unsigned version, const char *text,
                               size_t len) {
        AslMachine *machine = NULL;
        AslDiag d = {};
        int r;

        r = asl_machine_parse(text, len, &machine, &d);
        if (r < 0) {
                log_error("Stored definition %s:%u is invalid: %s: %s", name, version,
                          d.n ? d.entries[0].pointer : "", d.n ? d.entries[0].message : "");
                asl_diag_clear(&d);
                return NULL;
        }
        asl_diag_clear(&d);
        if (g_hash_table_size(m->machines) >= MACHINE_CACHE_MAX)
                g_hash_table_remove_all(m->machines);
        g_hash_table_insert(m->machines, xasprintf("%s:%u", name, version), machine);
        return machine;
}

static void work_machine_ready(Work *w, AslMachine *machine);
static void callback_refuse(Work *w, const char *error, const char *cause);

static void on_definition(RedisConn *c, redisReply *reply, void *userdata) {
        Work *w = userdata;
        AslMachine *machine;

        if (!reply) {
                work_retry_later(w);
                return;
        }
        if (reply->type != REDIS_REPLY_STRING) {
                work_machine_ready(w, NULL);
                return;
        }
        machine = machine_add(w->m, w->sm_name, w->sm_version, reply->str, reply->len);
        work_machine_ready(w, machine);
}

static void load_definition(Work *w) {
        _cleanup_(store_argv_done) StoreArgv a = {};
        int r;

        store_sm_definition_argv(w->sm_name, w->sm_version, &a);
        r = manager_command(w->m, &a, on_definition, w);
        if (r < 0)
                work_retry_later(w);
}

static void on_latest_version(RedisConn *c, redisReply *reply, void *userdata) {
        Work *w = userdata;
        AslMachine *machine;

        if (!reply) {
                work_retry_later(w);
                return;
        }
        if (reply->type != REDIS_REPLY_STRING) {
                work_machine_ready(w, NULL);
                return;
        }
        w->sm_version = (unsigned) strtoul(reply->str, NULL, 10);
        machine = machine_lookup(w->m, w->sm_name, w->sm_version);
        if (machine)
                work_machine_ready(w, machine);
        else
                load_definition(w);
}

/* Find the machine of w->sm_name:w->sm_version (0: latest) and continue
 * with work_machine_ready(). */
static void work_get_machine(Work *w) {
        AslMachine *machine;
        int r;

        if (w->sm_version == 0) {
                _cleanup_(store_argv_done) StoreArgv a = {};
                store_sm_latest_argv(w->sm_name, &a);
                r = manager_command(w->m, &a, on_latest_version, w);
                if (r < 0)
                        work_retry_later(w);
                return;
        }
        machine = machine_lookup(w->m, w->sm_name, w->sm_version);
        if (machine)
                work_machine_ready(w, machine);
        else
                load_definition(w);
}

/* ---- commit and outbox ---- */

/* A Task message about to be produced for the first time: log it with its
 * fields, count it, and (with metrics) remember when it left for the
 * latency histogram. The commit's outbox entry carries what is needed. */
static void note_dispatch(Manager *m, const char *exec_id, const StoreOutboxEntry *e) {
        const StoreOutboxNote *n = &e->note;

        m->n_dispatched++;
        log_task(LOG_INFO, exec_id, n->state, n->task_id, n->image_key, n->operation,
                 "Dispatched task %s (%s) to %s", n->task_id, n->operation ?: "?", e->topic);
        if (!m->metrics)
                return;
        (void) metric_counter_inc(m->m_dispatched, (const char *const[]){n->operation ?: ""});
        if (g_hash_table_size(m->dispatched) >= DISPATCH_TRACK_MAX)
                return;
        Dispatched *d = xmalloc(sizeof *d);
        *d = (Dispatched){
                .operation = xstrdup(n->operation ?: ""),
                .image_key = n->image_key ? xstrdup(n->image_key) : NULL,
                .dispatched_ms = now_ms(CLOCK_REALTIME),
        };
        g_hash_table_replace(m->dispatched, xasprintf("%s|%s", exec_id, n->task_id), d);
}

/* A task result was applied: log it, count it, observe the latency when
 * this coordinator dispatched the task. */
static void note_task_result(Manager *m, Work *w, const char *task_id, bool succeeded) {
        _cleanup_free_ char *k = xasprintf("%s|%s", w->exec_id, task_id ?: "");
        Dispatched *d = g_hash_table_lookup(m->dispatched, k);
        const char *result = succeeded ? "succeeded" : "failed";

        m->n_tasks_done++;
        log_task(LOG_INFO, w->exec_id, w->state_name, task_id, d ? d->image_key : NULL, d ? d->operation : NULL,
                 "Task %s %s", task_id ?: "?", result);
        if (m->metrics) {
                const char *const lr[] = { d ? d->operation : "", result };
                (void) metric_counter_inc(m->m_task_results, lr);
        }
        if (d) {
                const char *const lo[] = { d->operation };
                int64_t ms = now_ms(CLOCK_REALTIME) - d->dispatched_ms;
                if (m->metrics)
                        (void) metric_histogram_observe(m->m_task_latency, lo, ms > 0 ? (double) ms / 1000.0 : 0.0);
                g_hash_table_remove(m->dispatched, k);
        }
}

/* Tasks whose result went to another coordinator (or never came). */
static void dispatched_expire(Manager *m) {
        GHashTableIter it;
        void *v;
        int64_t cutoff = now_ms(CLOCK_REALTIME) - DISPATCH_TTL_MS;

        g_hash_table_iter_init(&it, m->dispatched);
        while (g_hash_table_iter_next(&it, NULL, &v))
                if (((Dispatched *) v)->dispatched_ms < cutoff)
                        g_hash_table_iter_remove(&it);
}

static void produce_outbox(Manager *m, const char *exec_id, const StoreCommit *c) {
        STORE_COMMIT_OUTBOX_FOREACH(c, e) {
                if (e->note.task_id)
                        note_dispatch(m, exec_id, e);
                manager_produce(m, e->topic, exec_id, e->payload,
                                pending_new(PENDING_OUTBOX, exec_id, e->item_id));
        }
}

typedef struct CommitCall {
        Work *w;
        StoreCommit *commit;    /* owned */
} CommitCall;

static void on_committed(RedisConn *c, redisReply *reply, void *userdata) {
        CommitCall *cc = userdata;
        Work *w = cc->w;
        Manager *m = w->m;
        StoreCommitResult res;
        _cleanup_commit_ StoreCommit *commit = cc->commit;
        int r;

        free(cc);
        if (!reply) {
                work_retry_later(w);
                return;
        }
        if (reply->type == REDIS_REPLY_ERROR) {
                log_struct_exec(LOG_ERR, w->exec_id, NULL, NULL, "exec_commit failed: %s", reply->str);
                work_retry_later(w);
                return;
        }
        r = store_commit_parse_reply(reply, &res);
        if (r < 0) {
                log_struct_exec_errno(LOG_ERR, r, w->exec_id, NULL, NULL, "Unexpected exec_commit reply: %m");
                work_finish(w);
                return;
        }
        switch (res.outcome) {
        case STORE_COMMIT_OK:
                count(m, COUNTER_COMMITS);
                switch (w->msg->type) {
                case PROTO_TASK_SUCCEEDED:
                        note_task_result(m, w, w->msg->task_succeeded.task_id, true);
                        break;
                case PROTO_TASK_FAILED:
                        note_task_result(m, w, w->msg->task_failed.task_id, false);
                        break;
                case PROTO_SEND_TASK_SUCCESS:
                case PROTO_SEND_TASK_FAILURE:
                        note_task_result(m, w, w->task_id, w->msg->type == PROTO_SEND_TASK_SUCCESS);
                        break;
                default:
                        break;
                }
                if (commit->expected_version == 0) {
                        count(m, COUNTER_STARTED);
                        if (m->m_executions)
                                (void) metric_counter_inc(m->m_executions, (const char *const[]) { "RUNNING" });
                        log_struct_exec(LOG_INFO, w->exec_id, NULL, NULL, "Started execution %s", w->exec_id);
                }
                if (commit->stop_ms > 0) {
                        m->n_finished++;
                        if (m->m_executions && commit->status)
                                (void) metric_counter_inc(m->m_executions,
                                                          (const char *const[]) { commit->status });
                        log_struct_exec(LOG_INFO, w->exec_id, NULL, NULL, "Execution %s %s",
                                        w->exec_id, commit->status);
                }
                produce_outbox(m, w->exec_id, commit);
                states_put(w, commit, res.version);
                work_finish(w);
                return;
        case STORE_COMMIT_CONFLICT:
                count(m, COUNTER_CONFLICTS);
                if (++w->conflicts > CONFLICT_RETRIES_MAX) {
                        log_struct_exec(LOG_ERR, w->exec_id, NULL, NULL,
                                        "Giving up an event after %u version conflicts", w->conflicts);
                        work_finish(w);
                        return;
                }
                store_exec_state_done(&w->st);
                work_run(w);
                return;
        case STORE_COMMIT_MISSING:
                log_struct_exec(LOG_WARNING, w->exec_id, NULL, NULL, "Execution disappeared; event dropped");
                work_finish(w);
                return;
        case STORE_COMMIT_EXISTS:
                work_respond(w, (ProtoResponse){.execution_id = w->exec_id, .date_ms = res.start_ms});
                return;
        case STORE_COMMIT_ALREADY:
                work_refuse(w, "ExecutionAlreadyExists",
                            "an execution with this name exists with a different input or is closed");
                return;
        }
        work_finish(w);
}

static void work_commit(Work *w, StoreCommit *commit) {
        _cleanup_(store_call_done) StoreCall call = {};
        CommitCall *cc;
        int r;

        r = store_commit_call(commit, &call);
        if (r < 0) {
                store_commit_free(commit);
                log_struct_exec_errno(LOG_ERR, r, w->exec_id, NULL, NULL, "Cannot build the commit: %m");
                work_finish(w);
                return;
        }
        cc = xmalloc(sizeof *cc);
        *cc = (CommitCall) { w, commit };
        r = manager_eval(w->m, &call, on_committed, cc);
        if (r < 0) {
                store_commit_free(commit);
                free(cc);
                work_retry_later(w);
        }
}

/* ---- applying ---- */

static bool event_from_message(Work *w, AslEvent *ev) {
        ProtoMessage *msg = w->msg;

        *ev = (AslEvent) {};
        switch (msg->type) {
        case PROTO_TASK_SUCCEEDED:
                ev->type = ASL_EVENT_TASK_SUCCEEDED;
                ev->task_id = msg->task_succeeded.task_id;
                ev->output = msg->task_succeeded.output;
                return true;
        case PROTO_TASK_FAILED:
                ev->type = ASL_EVENT_TASK_FAILED;
                ev->task_id = msg->task_failed.task_id;
                ev->error = msg->task_failed.error;
                ev->cause = msg->task_failed.cause;
                return true;
        case PROTO_TASK_HEARTBEAT:
                ev->type = ASL_EVENT_TASK_HEARTBEAT;
                ev->task_id = msg->task_heartbeat.task_id;
                return true;
        case PROTO_TIMER_FIRED:
                ev->type = ASL_EVENT_TIMER_FIRED;
                ev->timer_id = msg->timer_fired.timer_id;
                return true;
        case PROTO_STOP_EXECUTION:
                ev->type = ASL_EVENT_STOP;
                ev->error = msg->stop_execution.error;
                ev->cause = msg->stop_execution.cause;
                return true;
        case PROTO_SEND_TASK_SUCCESS:
                ev->type = ASL_EVENT_TASK_SUCCEEDED;
                ev->task_id = w->task_id;
                ev->token = msg->send_task_success.task_token;
                ev->output = msg->send_task_success.output;
                return true;
        case PROTO_SEND_TASK_FAILURE:
                ev->type = ASL_EVENT_TASK_FAILED;
                ev->task_id = w->task_id;
                ev->token = msg->send_task_failure.task_token;
                ev->error = msg->send_task_failure.error;
                ev->cause = msg->send_task_failure.cause;
                return true;
        case PROTO_SEND_TASK_HEARTBEAT:
                ev->type = ASL_EVENT_TASK_HEARTBEAT;
                ev->task_id = w->task_id;
                ev->token = msg->send_task_heartbeat.task_token;
                return true;
        default:
                return false;
        }
}

static void work_machine_ready(Work *w, AslMachine *machine) {
        Manager *m = w->m;
        AslEnv env = manager_env(m);
        AslError err = {};
        StoreCommit *commit = NULL;
        int r;

        if (!machine) {
                log_struct_exec(LOG_WARNING, w->exec_id, NULL, NULL, "State machine %s (version %u) not found",
                                w->sm_name, w->sm_version);
                work_refuse(w, "StateMachineDoesNotExist", w->sm_name);
                return;
        }

        if (w->msg->type == PROTO_START_EXECUTION) {
                ProtoStartExecution *s = &w->msg->start_execution;
                json_t *doc = NULL;

                r = apply_start(&m->apply, machine, w->sm_name, w->sm_version, w->exec_name, s->input,
                                s->request_id, &env, &commit, &doc, &err);
                if (r < 0) {
                        log_struct_exec(LOG_WARNING, w->exec_id, NULL, NULL, "Cannot start: %s: %s",
                                        err.error ?: "", err.cause ?: "");
                        work_refuse(w, err.error ?: "InvalidExecutionInput", err.cause);
                        asl_error_clear(&err);
                        return;
                }
                /* The state as created: kept after the commit (states_put),
                 * so the first task's result needs no load from Redis. */
                store_exec_state_done(&w->st);
                w->st = (StoreExecState) {
                        .doc = doc,
                        .state_machine = xstrdup(w->sm_name),
                        .sm_version = w->sm_version,
                        .status = xstrdup("RUNNING"),
                        .name = xstrdup(w->exec_name),
                        .start_ms = env.now_ms,
                };
                work_commit(w, commit);
                return;
        }

        AslEvent ev;
        const char *request_id = proto_message_request_id(w->msg);
        if (!event_from_message(w, &ev)) {
                work_finish(w);
                return;
        }
        if (ev.task_id) {
                /* The document changes in apply_event(): copy the task's state now. */
                json_t *task = json_object_get(json_object_get(w->st.doc, "tasks"), ev.task_id);
                const char *state = json_string_value(json_object_get(task, "state"));
                free(w->state_name);
                w->state_name = state ? xstrdup(state) : NULL;
        }
        r = apply_event(&m->apply, machine, &w->st, w->exec_id, &ev, request_id, &env, &commit, &err);
        if (r != 0 && w->st_cached) {
                /* The cached state may be behind Redis (another coordinator
                 * had the partition meanwhile): decide on the stored one. */
                asl_error_clear(&err);
                store_exec_state_done(&w->st);
                w->st_cached = false;
                work_run(w);
                return;
        }
        if (r != 0) {
                if (r < 0)
                        log_struct_exec(LOG_DEBUG, w->exec_id, w->state_name, ev.task_id, "Event not applied: %s: %s",
                                        err.error ?: "", err.cause ?: "");
                count(m, COUNTER_STALE);
                asl_error_clear(&err);
                if (w->msg->type == PROTO_STOP_EXECUTION)
                        work_refuse(w, "ExecutionNotRunning", w->exec_id);
                else if (proto_type_is_callback(w->msg->type))
                        callback_refuse(w, "TaskDoesNotExist", "the task is closed");
                else
                        work_finish(w);
                return;
        }
        work_commit(w, commit);
}

static void work_state_ready(Work *w);

static void on_loaded(RedisConn *c, redisReply *reply, void *userdata) {
        Work *w = userdata;
        int r;

        if (!reply) {
                work_retry_later(w);
                return;
        }
        store_exec_state_done(&w->st);
        r = store_exec_load_parse(reply, &w->st);
        if (r == -ENOENT) {
                log_struct_exec(LOG_INFO, w->exec_id, NULL, NULL, "Event for an unknown execution dropped");
                if (w->msg->type == PROTO_STOP_EXECUTION)
                        work_refuse(w, "ExecutionDoesNotExist", w->exec_id);
                else if (proto_type_is_callback(w->msg->type))
                        callback_refuse(w, "TaskDoesNotExist", "the task is closed");
                else
                        work_finish(w);
                return;
        }
        if (r < 0) {
                log_struct_exec_errno(LOG_ERR, r, w->exec_id, NULL, NULL, "Cannot load the execution: %m");
                work_finish(w);
                return;
        }
        w->st_cached = false;
        work_state_ready(w);
}

/* w->st holds the execution (read from Redis or from the state cache). */
static void work_state_ready(Work *w) {
        if (!streq(w->st.status, "RUNNING")) {
                count(w->m, COUNTER_STALE);
                if (w->msg->type == PROTO_STOP_EXECUTION)
                        work_refuse(w, "ExecutionNotRunning", w->exec_id);
                else if (proto_type_is_callback(w->msg->type))
                        callback_refuse(w, "TaskDoesNotExist", "the task is closed");
                else
                        work_finish(w);
                return;
        }
        free(w->sm_name);
        w->sm_name = xstrdup(w->st.state_machine);
        w->sm_version = w->st.sm_version;
        if (w->sm_version == 0) {
                work_finish(w);
                return;
        }
        work_get_machine(w);
}

static void work_lookup_token(Work *w);

static void work_run(Work *w) {
        if (!w->exec_id) {
                /* A callback whose token lookup must be retried. */
                work_lookup_token(w);
                return;
        }
        if (w->msg->type == PROTO_START_EXECUTION) {
                work_get_machine(w);
                return;
        }

        _cleanup_(store_argv_done) StoreArgv a = {};
        int r;

        if (states_take(w)) {
                work_state_ready(w);
                return;
        }
        store_exec_load_argv(w->exec_id, &a);
        r = manager_command(w->m, &a, on_loaded, w);
        if (r < 0)
                work_retry_later(w);
}

/* ---- tokens ---- */

/* Tokens are secrets: logs show their first 8 characters only. */
static void callback_refuse(Work *w, const char *error, const char *cause) {
        log_info("Callback %s with task token %.8s... refused: %s",
                 proto_type_to_string(w->msg->type) ?: "?", proto_message_task_token(w->msg), error);
        work_refuse(w, error, cause);
}

static void on_token(RedisConn *c, redisReply *reply, void *userdata) {
        _cleanup_free_ char *closed = NULL;
        Work *w = userdata;
        int r;

        if (!reply) {
                work_retry_later(w);
                return;
        }
        r = store_token_parse_full(reply, &w->exec_id, &w->task_id, &closed);
        if (r == -ESTALE) {
                callback_refuse(w, closed, streq(closed, "TaskTimedOut") ? "the task has timed out"
                                                                         : "the task is closed");
                return;
        }
        if (r < 0) {
                /* The same answer whether or not the execution exists. */
                callback_refuse(w, "InvalidToken", "invalid task token");
                return;
        }
        work_enqueue(w);
}

/* Before a token callback is queued: token -> (exec id, task id). */
static void work_lookup_token(Work *w) {
        _cleanup_(store_argv_done) StoreArgv a = {};
        int r;

        r = store_token_lookup_argv(proto_message_task_token(w->msg), &a);
        if (r >= 0)
                r = manager_command(w->m, &a, on_token, w);
        if (r < 0)
                work_retry_later(w);
}

/* ---- consuming ---- */

static void send_to_dlq(Manager *m, const KafkaMessage *km, const char *reason) {
        dead_letters_publish(m->dead_letters, km, reason);
}

/* A deterministic execution name for a StartExecution without one: the
 * same message redelivered starts the same execution. */
static char *derived_name(const KafkaMessage *km) {
        _cleanup_free_ char *s = xasprintf("%s/%" PRIi32 "/%" PRIi64, km->topic, km->partition,
                                           km->offset);
        uint8_t d[HASH_DIGEST_MAX];
        char uuid[FORMAT_UUID_MAX];

        hash_digest(HASH_SHA1, s, strlen(s), d);
        uuid_set_version(d, 5);
        return xstrdup(format_uuid(d, uuid));
}

static int on_message(KafkaConsumer *k, const KafkaMessage *km, void *userdata) {
        Manager *m = userdata;
        _cleanup_free_ char *reason = NULL;
        ProtoMessage *msg = NULL;
        Work *w;
        int r;

        r = proto_decode(km->payload, km->len, &m->limits, &msg, &reason);
        if (r < 0) {
                send_to_dlq(m, km, reason ? reason : "undecodable message");
                return 0;
        }

        w = xmalloc(sizeof *w);
        *w = (Work) {
                .m = m,
                .topic = xstrdup(km->topic),
                .partition = km->partition,
                .offset = km->offset,
                .msg = msg,
        };

        switch (msg->type) {
        case PROTO_START_EXECUTION: {
                ProtoStartExecution *s = &msg->start_execution;
                r = store_sm_ref_parse(s->state_machine, &w->sm_name, &w->sm_version);
                if (r < 0) {
                        /* Refused before it became work: answered without waiting for the reply. */
                        (void) manager_respond(
                                m, msg,
                                (ProtoResponse){.error = "InvalidArn",
                                                .cause = "invalid state machine name or version"},
                                NULL, NULL);
                        work_free(w);
                        send_to_dlq(m, km, "invalid stateMachine name");
                        return 0;
                }
                w->exec_name = s->name ? xstrdup(s->name) : derived_name(km);
                w->exec_id = store_exec_id(w->sm_name, w->exec_name);
                if (!w->exec_id) {
                        (void) manager_respond(
                                m, msg,
                                (ProtoResponse){.error = "InvalidName",
                                                .cause = "an execution name has 1 to 80 characters, "
                                                         "without whitespace, ':', '|', '{' or '}'"},
                                NULL, NULL);
                        work_free(w);
                        send_to_dlq(m, km, "invalid execution name");
                        return 0;
                }
                break;
        }
        case PROTO_STOP_EXECUTION:
        case PROTO_TASK_SUCCEEDED:
        case PROTO_TASK_FAILED:
        case PROTO_TASK_HEARTBEAT:
        case PROTO_TIMER_FIRED: {
                const char *id = proto_message_execution_id(msg);
                w->exec_id = id ? store_exec_id_normalize(id) : NULL;
                if (!w->exec_id) {
                        work_free(w);
                        send_to_dlq(m, km, "invalid executionId");
                        return 0;
                }
                break;
        }
        case PROTO_SEND_TASK_SUCCESS:
        case PROTO_SEND_TASK_FAILURE:
        case PROTO_SEND_TASK_HEARTBEAT:
                if (strlen(proto_message_task_token(msg)) > STORE_TOKEN_MAX) {
                        work_free(w);
                        send_to_dlq(m, km, "invalid taskToken");
                        return 0;
                }
                break;
        default: {
                _cleanup_free_ char *why = xasprintf("message type %s is not for the coordinator",
                                                     proto_type_to_string(msg->type) ?: "?");
                work_free(w);
                send_to_dlq(m, km, why);
                return 0;
        }
        }

        m->in_flight++;
        if (!m->paused && m->in_flight >= m->max_in_flight) {
                if (kafka_consumer_pause(m->consumer, NULL) >= 0)
                        m->paused = true;
        }
        if (!w->exec_id)
                work_lookup_token(w);
        else
                work_enqueue(w);
        return 0;
}

static void manager_check_ready(Manager *m) {
        if (m->ready || !m->redis_up || !m->kafka_up)
                return;
        m->ready = true;
        (void) service_notify_ready();
        log_info("Coordinator ready");
        /* The first STATUS= right away; then every STATUS_USEC. */
        if (m->t_status)
                (void) sd_event_source_set_time_relative(m->t_status, 0);
}

static void on_rebalance(KafkaConsumer *k, KafkaRebalanceEvent ev,
                         const rd_kafka_topic_partition_list_t *partitions, void *userdata) {
        Manager *m = userdata;

        /* Executions of partitions that come or go may be changed by another
         * coordinator: forget what this one last committed. */
        states_clear(m);
        if (ev == KAFKA_REBALANCE_ASSIGNED) {
                m->kafka_up = true;
                manager_check_ready(m);
        }
        /* STATUS= says how many partitions this one holds now (the timer
         * runs after this callback, once the assignment has changed). */
        if (m->t_status)
                (void) sd_event_source_set_time_relative(m->t_status, 0);
}

static void on_redis_ping(RedisConn *c, redisReply *reply, void *userdata) {
        Manager *m = userdata;
        if (reply && reply->type != REDIS_REPLY_ERROR) {
                m->redis_up = true;
                manager_check_ready(m);
        }
}

static void on_redis_state(RedisConn *c, bool connected, const char *error, void *userdata) {
        Manager *m = userdata;

        if (connected) {
                log_info("Redis connected");
                (void) redis_command(c, on_redis_ping, m, "PING");
        } else
                log_warning("Redis disconnected: %s", error ?: "");
}

/* ---- delivery reports ---- */

static void on_acked(RedisConn *c, redisReply *reply, void *userdata) {
        Manager *m = userdata;

        assert(m->acks_in_flight > 0);
        m->acks_in_flight--;
        /* Not deleted (Redis away): the sweeper sends the items again. */
        if (reply && reply->type == REDIS_REPLY_ERROR)
                log_warning("outbox_ack failed: %s", reply->str);
}

static void acks_flush(Manager *m) {
        if (store_outbox_ack_count(&m->acks) == 0)
                return;
        if (manager_eval(m, &m->acks, on_acked, m) >= 0)
                m->acks_in_flight++;
        /* The vectors keep their room for the next batch: growing them
         * again each time went through realloc()'s slow path. */
        store_call_clear(&m->acks);
        (void) sd_event_source_set_enabled(m->ack_flush, SD_EVENT_OFF);
}

static int on_ack_flush(sd_event_source *s, void *userdata) {
        acks_flush(userdata);
        return 0;
}

static void ack_outbox(Manager *m, const char *exec_id, const char *item_id) {
        store_outbox_ack_add(&m->acks, exec_id, item_id);
        if (store_outbox_ack_count(&m->acks) >= OUTBOX_ACK_BATCH_MAX || !m->ack_flush)
                acks_flush(m);
        else
                (void) sd_event_source_set_enabled(m->ack_flush, SD_EVENT_ONESHOT);
}

static void on_delivery(KafkaProducer *p, int error, const char *errstr, const char *topic,
                        int32_t partition, int64_t offset, void *msg_opaque, void *userdata) {
        Manager *m = userdata;
        Pending *pd = msg_opaque;

        if (!pd || dead_letters_delivered(m->dead_letters, topic, msg_opaque, error, errstr))
                return;
        switch (pd->kind) {
        case PENDING_OUTBOX:
                if (error == 0)
                        ack_outbox(m, pd->a, pd->b);
                else
                        log_struct_exec(LOG_WARNING, pd->a, NULL, NULL, "Delivery of %s to %s failed (%s); the outbox keeps it",
                                        pd->b ?: "?", topic, errstr ?: "");
                break;
        case PENDING_TIMER:
                if (error == 0) {
                        _cleanup_(store_argv_done) StoreArgv a = {};
                        store_timers_ack_argv(pd->a, &a);
                        (void) manager_command(m, &a, NULL, NULL);
                        count(m, COUNTER_TIMERS);
                } else
                        log_warning("TimerFired delivery failed (%s); the lease will expire", errstr ?: "");
                break;
        }
        pending_free(pd);
}

/* ---- timers ---- */

static void on_claimed(RedisConn *c, redisReply *reply, void *userdata) {
        Manager *m = userdata;
        _cleanup_json_ json_t *members = NULL;
        json_t *v;
        size_t i;

        m->claiming = false;
        if (!reply || store_timers_claim_parse(reply, &members) < 0)
                return;
        json_array_foreach(members, i, v) {
                _cleanup_free_ char *exec_id = NULL, *timer_id = NULL, *buf = NULL;
                size_t len;
                const char *member = json_string_value(v);

                if (store_timer_member_split(member, &exec_id, &timer_id) < 0) {
                        _cleanup_(store_argv_done) StoreArgv a = {};
                        store_timers_ack_argv(member, &a);
                        (void) manager_command(m, &a, NULL, NULL);
                        continue;
                }
                ProtoTimerFired t = { .execution_id = exec_id, .timer_id = timer_id };
                if (proto_encode_timer_fired(&t, &m->limits, &buf, &len) < 0)
                        continue;
                manager_produce(m, m->topic_events, exec_id, buf, pending_new(PENDING_TIMER, member, NULL));
        }
        /* A full batch: more may be due; claim again right away. */
        if (json_array_size(members) >= m->timer_batch && m->t_claim)
                (void) sd_event_source_set_time_relative(m->t_claim, 0);
}

static int on_claim_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        _cleanup_(store_call_done) StoreCall call = {};

        (void) sd_event_source_set_time_relative(s, (uint64_t) m->timer_interval_usec);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        if (m->stopping || m->claiming || !redis_conn_is_connected(m->redis))
                return 0;
        store_timers_claim_call(now_ms(CLOCK_REALTIME), TIMER_LEASE_MS, m->timer_batch, &call);
        if (manager_eval(m, &call, on_claimed, m) >= 0)
                m->claiming = true;
        return 0;
}

static int on_reclaim_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        _cleanup_(store_call_done) StoreCall call = {};

        (void) sd_event_source_set_time_relative(s, RECLAIM_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        if (m->stopping || !redis_conn_is_connected(m->redis))
                return 0;
        store_timers_reclaim_call(now_ms(CLOCK_REALTIME), 1000, &call);
        (void) manager_eval(m, &call, NULL, NULL);
        return 0;
}

static void on_swept(RedisConn *c, redisReply *reply, void *userdata) {
        Manager *m = userdata;
        StoreOutboxItem *items = NULL;
        size_t n = 0;

        if (!reply || store_outbox_sweep_parse(reply, &items, &n) < 0)
                return;
        for (size_t i = 0; i < n; i++) {
                log_struct_exec(LOG_INFO, items[i].exec_id, NULL, NULL, "Re-sending unacknowledged %s",
                                items[i].item_id);
                count(m, COUNTER_REDISPATCHED);
                manager_produce(m, items[i].topic, items[i].exec_id, items[i].payload,
                                pending_new(PENDING_OUTBOX, items[i].exec_id, items[i].item_id));
        }
        store_outbox_items_free(items, n);
}

static int on_sweep_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        _cleanup_(store_call_done) StoreCall call = {};
        int64_t now = now_ms(CLOCK_REALTIME);

        (void) sd_event_source_set_time_relative(s, OUTBOX_SWEEP_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        if (m->stopping || !redis_conn_is_connected(m->redis))
                return 0;
        store_outbox_sweep_call(now - OUTBOX_REDISPATCH_MS, now, 100, &call);
        (void) manager_eval(m, &call, on_swept, m);
        return 0;
}

static void on_running_counted(RedisConn *c, redisReply *reply, void *userdata) {
        Manager *m = userdata;

        m->counting = false;
        if (!reply || reply->type != REDIS_REPLY_INTEGER)
                return;
        m->n_running = reply->integer;
        if (m->m_running)
                (void) metric_gauge_set(m->m_running, NULL, (double) m->n_running);
}

/* Executions RUNNING in Redis, for STATUS= and imgflow_executions_running:
 * the size of the set exec_commit keeps (O(1), no scan that would hold
 * Redis up). */
static void count_running(Manager *m) {
        _cleanup_(store_argv_done) StoreArgv a = {};

        if (m->counting || m->stopping || !redis_conn_is_connected(m->redis))
                return;
        store_exec_running_count_argv(&a);
        if (manager_command(m, &a, on_running_counted, m) >= 0)
                m->counting = true;
}

static void on_lag(const char *topic, int64_t lag, void *userdata) {
        Manager *m = userdata;
        (void) metric_gauge_set(m->m_lag, (const char *const[]) { topic }, (double) lag);
}

static int on_status_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        const uint64_t *n = m->counters;
        char running[40], done[32], dispatched[32], started[32], finished[32], dlq[32];

        (void) sd_event_source_set_time_relative(s, STATUS_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        if (m->g_in_flight)
                (void) metric_gauge_set(m->g_in_flight, NULL, (double) m->in_flight);
        if (m->g_active)
                (void) metric_gauge_set(m->g_active, NULL,
                                        (double) (g_hash_table_size(m->queues) - m->n_idle_queues));
        if (m->m_lag && m->consumer)
                (void) kafka_consumer_lag(m->consumer, on_lag, m);
        dispatched_expire(m);
        queues_sweep(m);

        if (m->n_running < 0)
                snprintf(running, sizeof running, "?");
        else
                snprintf(running, sizeof running, "%s", format_count((uint64_t) m->n_running, (char[32]) {}));
        (void) service_notify_status(
                "%s%d partition(s), %s executions running, %s tasks done, %s dispatched, "
                "%zu events in flight, %s started here, %s finished here, %s dead letters",
                m->stopping ? "Stopping: "
                : !m->ready ? "Waiting for Kafka and Redis: "
                            : "",
                m->consumer ? kafka_consumer_assigned_count(m->consumer) : 0, running,
                format_count(m->n_tasks_done, done), format_count(m->n_dispatched, dispatched), m->in_flight,
                format_count(n[COUNTER_STARTED], started), format_count(m->n_finished, finished),
                format_count(dead_letters_count(m->dead_letters), dlq));
        count_running(m);
        return 0;
}

/* ---- stopping and reloading ---- */

static int on_drain_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        bool idle = m->in_flight == 0 && kafka_producer_outq_len(m->producer) == 0 &&
                    store_outbox_ack_count(&m->acks) == 0 && m->acks_in_flight == 0 &&
                    dead_letters_pending(m->dead_letters) == 0;

        if (idle || now_usec(CLOCK_MONOTONIC) >= m->stop_deadline_usec) {
                if (!idle)
                        log_warning("Shutdown timeout: %zu events still in flight", m->in_flight);
                return sd_event_exit(m->event, 0);
        }
        (void) sd_event_source_set_time_relative(s, 50 * 1000);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        return 0;
}

static void manager_stop(void *userdata) {
        Manager *m = userdata;
        uint64_t timeout_ms = config_get_duration_ms(m->config, "coordinator", "shutdown_timeout");

        log_info("Stopping: draining %zu events in flight", m->in_flight);
        (void) service_notify_stopping();
        m->stopping = true;
        m->stop_deadline_usec = now_usec(CLOCK_MONOTONIC) + timeout_ms * 1000;
        if (m->consumer && !m->paused && kafka_consumer_pause(m->consumer, NULL) >= 0)
                m->paused = true;
        if (sd_event_add_time_relative(m->event, &m->t_drain, CLOCK_MONOTONIC, 0, 0, on_drain_timer, m) < 0)
                (void) sd_event_exit(m->event, 0);
}

static void manager_reload(void *userdata) {
        Manager *m = userdata;
        extern char **environ;

        /* service.c sent RELOADING=1 and sends READY=1 after this returns. */
        daemon_config_reload(m->config_args, environ);
}

/* ---- setup ---- */

static int add_resource(const char *key, const char *value, void *userdata) {
        int r = resources_add(userdata, key, value);
        if (r < 0)
                return log_error_errno(r, "Invalid [resources] %s = %s: %m", key, value);
        return 0;
}

static Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        m->tearing_down = true;
        sd_event_source_disable_unref(m->t_claim);
        sd_event_source_disable_unref(m->t_reclaim);
        sd_event_source_disable_unref(m->t_sweep);
        sd_event_source_disable_unref(m->t_status);
        sd_event_source_disable_unref(m->t_drain);
        sd_event_source_disable_unref(m->ack_flush);
        m->dead_letters = dead_letters_free(m->dead_letters);
        m->consumer = kafka_consumer_free(m->consumer);
        m->producer = kafka_producer_free(m->producer);
        /* Pending Redis callbacks run now with NULL replies; works still
         * queued (shutdown timeout) stay in their queues and go below. */
        m->redis = redis_conn_free(m->redis);
        store_call_done(&m->acks);
        if (m->queues) {
                GHashTableIter it;
                void *v;
                g_hash_table_iter_init(&it, m->queues);
                while (g_hash_table_iter_next(&it, NULL, &v)) {
                        ExecQueue *q = v;
                        for (Work *w = q->head, *n; w; w = n) {
                                n = w->next;
                                work_free(w);
                        }
                        q->head = q->tail = NULL;
                }
                g_hash_table_destroy(m->queues);
        }
        if (m->machines)
                g_hash_table_destroy(m->machines);
        if (m->states)
                g_hash_table_destroy(m->states);
        if (m->dispatched)
                g_hash_table_destroy(m->dispatched);
        resources_free(m->resources);
        metrics_free(m->metrics);
        free(m->topic_prefix);
        free(m->role_arn);
        free(m->topic_jobs);
        free(m->topic_events);
        free(m->topic_dlq);
        sd_event_unref(m->event);
        free(m);
        return NULL;
}
static inline void manager_freep(Manager **m) {
        manager_free(*m);
}

static int manager_new(sd_event *e, Config *config, DaemonConfigArgs *config_args, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = xmalloc(sizeof *m);
        *m = (Manager){
                .event = sd_event_ref(e),
                .config = config,
                .config_args = config_args,
                .queues = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, queue_free),
                .machines = g_hash_table_new_full(g_str_hash, g_str_equal, free, machine_free_cb),
                .states = g_hash_table_new_full(g_str_hash, g_str_equal, free, cached_state_free),
                .n_running = -1,
                .dispatched = g_hash_table_new_full(g_str_hash, g_str_equal, free, dispatched_free),
        };
        for (size_t i = 0; i < _STORE_SCRIPT_MAX; i++)
                redis_script_init(&m->scripts[i], store_script(i)->source);

        m->topic_prefix = xstrdup(config_get_string(config, "imgflow", "topic_prefix"));
        if (proto_topic_name(m->topic_prefix, PROTO_TOPIC_JOBS, NULL, &m->topic_jobs) < 0 ||
            proto_topic_name(m->topic_prefix, PROTO_TOPIC_EVENTS, NULL, &m->topic_events) < 0 ||
            proto_topic_name(m->topic_prefix, PROTO_TOPIC_DLQ, NULL, &m->topic_dlq) < 0)
                return log_error_errno(-EINVAL, "Invalid imgflow.topic_prefix \"%s\"", m->topic_prefix);

        m->limits.max_payload_bytes = config_get_size(config, "imgflow", "payload_limit");
        if (!isempty(config_get_string(config, "coordinator", "execution_role_arn")))
                m->role_arn = xstrdup(config_get_string(config, "coordinator", "execution_role_arn"));
        r = resources_new(&m->resources);
        if (r < 0)
                return r;
        r = config_foreach_in_section(config, "resources", add_resource, m->resources);
        if (r < 0)
                return r;

        m->apply = (ApplyConfig) {
                .resources = m->resources,
                .topic_prefix = m->topic_prefix,
                .retention_sec = (int64_t) (config_get_duration_ms(config, "coordinator", "retention") / 1000),
                .history_cap = (unsigned) config_get_int(config, "coordinator", "history_limit"),
                .role_arn = m->role_arn,
                .limits = &m->limits,
        };
        m->max_in_flight = (size_t) config_get_int(config, "coordinator", "max_in_flight");
        if (m->max_in_flight < 2)
                m->max_in_flight = 2;
        m->timer_interval_usec = (int64_t) config_get_duration_ms(config, "coordinator", "timer_interval") * 1000;
        if (m->timer_interval_usec <= 0)
                m->timer_interval_usec = 1000 * 1000;
        m->timer_batch = (unsigned) config_get_int(config, "coordinator", "timer_batch");
        if (m->timer_batch == 0)
                m->timer_batch = 100;

        *ret = TAKE_PTR(m);
        return 0;
}

static int manager_setup_metrics(Manager *m) {
        static const double latency_buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
                                                  300, 3600 };
        static const double redis_buckets[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                0.01,   0.025,   0.05,   0.1,   0.25,   1 };
        const char *address = config_get_string(m->config, "coordinator", "metrics_listen");
        int r;

        if (isempty(address))
                return 0;
        r = metrics_new(&m->metrics);
        if (r < 0)
                return r;
        for (size_t i = 0; i < _COUNTER_MAX; i++) {
                r = metrics_add_counter(m->metrics, counter_table[i].name, counter_table[i].help, NULL,
                                        &m->metric[i]);
                if (r < 0)
                        return r;
        }
        r = metrics_add_gauge(m->metrics, "imgflow_coordinator_events_in_flight",
                              "Consumed messages not yet finished.", NULL, &m->g_in_flight);
        if (r >= 0)
                r = metrics_add_gauge(m->metrics, "imgflow_coordinator_executions_active",
                                      "Executions with events queued or being applied.", NULL, &m->g_active);
        if (r >= 0)
                r = metrics_add_counter(m->metrics, "imgflow_executions_total",
                                        "Executions started (status RUNNING) and finished (SUCCEEDED, FAILED, "
                                        "TIMED_OUT, ABORTED) by this coordinator.",
                                        (const char *const[]) { "status", NULL }, &m->m_executions);
        if (r >= 0)
                r = metrics_add_gauge(m->metrics, "imgflow_executions_running",
                                      "Executions RUNNING in Redis (among the newest 10000).", NULL, &m->m_running);
        if (r >= 0)
                r = metrics_add_counter(m->metrics, "imgflow_tasks_dispatched_total",
                                        "Task messages dispatched (first sends, not re-sends), by operation.",
                                        (const char *const[]) { "operation", NULL }, &m->m_dispatched);
        if (r >= 0)
                r = metrics_add_counter(m->metrics, "imgflow_task_results_total",
                                        "Task results applied, by operation (empty when dispatched elsewhere) "
                                        "and result.",
                                        (const char *const[]) { "operation", "result", NULL }, &m->m_task_results);
        if (r >= 0)
                r = metrics_add_histogram(m->metrics, "imgflow_task_latency_seconds",
                                          "From dispatching a task to applying its result, by operation.",
                                          (const char *const[]) { "operation", NULL }, latency_buckets,
                                          ELEMENTSOF(latency_buckets), &m->m_task_latency);
        if (r >= 0)
                r = metrics_add_histogram(m->metrics, "imgflow_redis_roundtrip_seconds",
                                          "From sending a Redis command or script to its reply.",
                                          (const char *const[]) { "kind", NULL }, redis_buckets,
                                          ELEMENTSOF(redis_buckets), &m->m_redis_rtt);
        if (r >= 0)
                r = metrics_add_gauge(m->metrics, "imgflow_kafka_consumer_lag",
                                      "Messages of the assigned partitions not yet received, by topic.",
                                      (const char *const[]) { "topic", NULL }, &m->m_lag);
        if (r < 0)
                return r;
        r = metrics_listen(m->metrics, m->event, address);
        if (r < 0)
                return log_error_errno(r, "Failed to listen on %s for metrics: %m", address);
        log_info("Metrics on %s (port %d)", address, metrics_port(m->metrics));
        return 0;
}

static int manager_start(Manager *m) {
        char *topics[] = { m->topic_jobs, m->topic_events, NULL };
        int r;

        r = manager_setup_metrics(m);
        if (r < 0)
                return log_error_errno(r, "Failed to set up metrics: %m");

        r = redis_conn_new(m->event, m->config, on_redis_state, m, &m->redis);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the Redis connection: %m");
        r = kafka_producer_new(m->event, m->config, on_delivery, m, &m->producer);
        if (r < 0)
                return log_error_errno(r, "Failed to create the Kafka producer: %m");
        r = kafka_consumer_new(m->event, m->config, config_get_string(m->config, "coordinator", "group"),
                               topics, on_message, on_rebalance, m, &m->consumer);
        if (r < 0)
                return log_error_errno(r, "Failed to create the Kafka consumer: %m");
        r = dead_letters_new(m->event, m->producer, m->consumer, m->topic_dlq, &m->dead_letters);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the dead-letter publisher: %m");
        dead_letters_set_metric(m->dead_letters, m->metric[COUNTER_DLQ]);

        r = sd_event_add_time_relative(m->event, &m->t_claim, CLOCK_MONOTONIC,
                                       (uint64_t) m->timer_interval_usec, 0, on_claim_timer, m);
        if (r >= 0)
                r = sd_event_add_time_relative(m->event, &m->t_reclaim, CLOCK_MONOTONIC, RECLAIM_USEC,
                                               0, on_reclaim_timer, m);
        if (r >= 0)
                r = sd_event_add_time_relative(m->event, &m->t_sweep, CLOCK_MONOTONIC, OUTBOX_SWEEP_USEC,
                                               0, on_sweep_timer, m);
        if (r >= 0)
                r = sd_event_add_time_relative(m->event, &m->t_status, CLOCK_MONOTONIC, STATUS_USEC, 0,
                                               on_status_timer, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add timers: %m");
        /* After the iteration's other events, so that one call deletes all
         * the items whose delivery reports came meanwhile. */
        r = sd_event_add_defer(m->event, &m->ack_flush, on_ack_flush, m);
        if (r >= 0)
                r = sd_event_source_set_priority(m->ack_flush, SD_EVENT_PRIORITY_NORMAL + 10);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->ack_flush, SD_EVENT_OFF);
        if (r < 0)
                return log_error_errno(r, "Failed to add the outbox ack source: %m");
        return 0;
}

/*
 * [coordinator] state_machines: register every <name>.asl.json of the
 * directory (create, or a new version when the definition changed). Runs
 * once before the event loop starts, on a blocking connection. Errors are
 * logged; a definition that does not validate is skipped.
 */
#define STATE_MACHINE_FILE_MAX (1024 * 1024)

static int register_file(redisContext *ctx, const char *dir, const char *file) {
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, file);
        _cleanup_free_ char *name = xstrdup(file), *text = NULL;
        AslDiag d = {};
        unsigned version = 0;
        FILE *f;
        size_t n;
        int r;

        name[strlen(name) - strlen(".asl.json")] = 0;
        f = fopen(path, "re");
        if (!f)
                return log_error_errno(-errno, "Failed to open %s: %m", path);
        text = xmalloc(STATE_MACHINE_FILE_MAX + 1);
        n = fread(text, 1, STATE_MACHINE_FILE_MAX + 1, f);
        fclose(f);
        if (n > STATE_MACHINE_FILE_MAX)
                return log_error_errno(-EFBIG, "%s: larger than %d bytes", path, STATE_MACHINE_FILE_MAX);
        text[n] = 0;

        r = store_sm_create(ctx, name, text, now_ms(CLOCK_REALTIME), &d, &version);
        if (r == -EEXIST)
                r = store_sm_update(ctx, name, text, now_ms(CLOCK_REALTIME), &d, &version);
        if (r == -EINVAL) {
                for (size_t i = 0; i < d.n; i++)
                        log_error("%s: %s: %s", path, d.entries[i].pointer, d.entries[i].message);
                if (d.n == 0)
                        log_error("%s: invalid state machine name \"%s\"", path, name);
        } else if (r < 0)
                log_error_errno(r, "Failed to register %s: %m", path);
        else
                log_info("State machine %s version %u (%s)", name, version, path);
        asl_diag_clear(&d);
        return r;
}

static void register_state_machines(const Config *config) {
        const char *dir = config_get_string(config, "coordinator", "state_machines");
        _cleanup_free_ char *error = NULL;
        redisContext *ctx = NULL;
        struct dirent **entries = NULL;
        int n, r;

        if (isempty(dir))
                return;
        r = redis_sync_connect(config, &ctx, &error);
        if (r < 0) {
                log_error_errno(r, "State machines of %s not registered: Redis: %s", dir, error ?: "");
                return;
        }
        n = scandir(dir, &entries, NULL, alphasort);
        if (n < 0)
                log_error_errno(-errno, "Failed to read %s: %m", dir);
        for (int i = 0; i < n; i++) {
                const char *f = entries[i]->d_name;
                size_t len = strlen(f);

                if (len > strlen(".asl.json") && streq(f + len - strlen(".asl.json"), ".asl.json"))
                        (void) register_file(ctx, dir, f);
                free(entries[i]);
        }
        free(entries);
        redisFree(ctx);
}

/* --check-config: what manager_new() and manager_start() would refuse,
 * without connecting to Kafka or Redis. Returns 0 or -EINVAL (logged). */
static int check_config(const Config *config) {
        _cleanup_(resources_freep) Resources *res = NULL;
        _cleanup_free_ char *topic = NULL, *host = NULL, *path = NULL, *error = NULL;
        const char *prefix = config_get_string(config, "imgflow", "topic_prefix");
        int port, r;

        if (proto_topic_name(prefix, PROTO_TOPIC_JOBS, NULL, &topic) < 0)
                return log_error_errno(-EINVAL, "Invalid imgflow.topic_prefix \"%s\"", prefix);
        r = resources_new(&res);
        if (r < 0)
                return r;
        r = config_foreach_in_section(config, "resources", add_resource, res);
        if (r < 0)
                return r;
        r = redis_parse_address(config_get_string(config, "redis", "address"), &host, &port, &path);
        if (r < 0)
                return log_error_errno(-EINVAL, "Invalid redis.address \"%s\"",
                                       config_get_string(config, "redis", "address"));
        if (config_get_bool(config, "redis", "tls"))
                return log_error_errno(-EINVAL, "redis.tls = true is not supported (hiredis 0.14 has no TLS)");
        for (size_t i = 0; i < 2; i++) {
                rd_kafka_conf_t *conf = NULL;

                r = kafka_conf_from_config(config, i == 0 ? "producer" : "consumer", NULL, &conf, &error);
                if (r < 0)
                        return log_error_errno(r, "%s", error ?: "Invalid Kafka property");
                rd_kafka_conf_destroy(conf);
        }
        return 0;
}

static void help(void) {
        printf("imgflow-coordinator [OPTIONS]\n\n"
               "Advances imgflow executions: consumes jobs and events from Kafka,\n"
               "keeps execution state in Redis, dispatches tasks.\n\n"
               "  -c --config=PATH          configuration file (default $IMGFLOW_CONFIG, else %s)\n"
               "     --check-config         check the configuration (file, environment, flags)\n"
               "                            and exit: 0 if it is valid\n"
               "     --kafka-bootstrap=LIST Kafka bootstrap servers\n"
               "     --redis=ADDRESS        Redis address (host:port or unix:/path)\n"
               "     --log-level=LEVEL      log level\n"
               "  -h --help                 this help\n",
               config_default_path());
}

static int run(int argc, char **argv) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "kafka-bootstrap", required_argument, NULL, 'k' },
                { "redis", required_argument, NULL, 'r' },
                { "log-level", required_argument, NULL, 'l' },
                { "check-config", no_argument, NULL, 'C' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(daemon_config_args_done) DaemonConfigArgs args = {};
        _cleanup_config_ Config *config = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_free_ char *error = NULL;
        extern char **environ;
        bool check = false;
        int r, c;

        log_setup("imgflow-coordinator");
        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0) {
                r = 0;
                switch (c) {
                case 'c':
                        args.config_path = optarg;
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
        if (check) {
                r = check_config(config);
                if (r < 0)
                        return r;
                daemon_config_print_valid(&args);
                return 0;
        }

        register_state_machines(config);

        r = sd_event_default(&e);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        r = manager_new(e, config, &args, &m);
        if (r < 0)
                return r;
        r = service_setup(e, manager_stop, manager_reload, m);
        if (r < 0)
                return log_error_errno(r, "Failed to set up signals: %m");
        r = manager_start(m);
        if (r < 0)
                return r;
        (void) service_notify_status("Connecting to Kafka and Redis");

        r = sd_event_loop(e);
        if (r < 0)
                log_error_errno(r, "Event loop failed: %m");

        /* Drained: flush what is produced (delivery reports ack outbox items
         * and timers), then leave the group, committing offsets. */
        dead_letters_drain(m->dead_letters);
        (void) kafka_producer_flush(m->producer, 5000);
        m = manager_free(TAKE_PTR(m));
        log_info("Stopped");
        return r < 0 ? r : 0;
}

int main(int argc, char **argv) {
        int r = run(argc, argv);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
