/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The coordinator's manager: the one object that owns a coordinator's
 * state (STYLE 3; no global mutable state outside it). It is shared by the
 * files of the daemon, each a part of one event loop:
 *
 *   coordinator.c          run(), the command line, --check-config, the
 *                          state machines registered at start
 *   coordinator-manager.c  new/free/start/stop (drain)/reload, readiness,
 *                          STATUS= and the counters and metrics, the Redis
 *                          and Kafka calls every part makes
 *   coordinator-work.c     a consumed message's way: Work and the
 *                          per-execution queues, token lookup, load ->
 *                          apply -> commit -> respond
 *   coordinator-cache.c    the definitions and state caches (pure)
 *   coordinator-outbox.c   produce a commit's outbox, delivery reports,
 *                          ack batching, the sweep, dead letters
 *   coordinator-timers.c   claim due timers, reclaim expired leases
 *   coordinator-express.c  EXPRESS executions, in memory
 *
 * Everything runs on the event-loop thread.
 */

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include <glib.h>

#include "apply.h"
#include "config.h"
#include "coordinator-cache.h"
#include "daemon-config.h"
#include "dead-letter.h"
#include "kafka.h"
#include "metrics.h"
#include "redis.h"
#include "resources.h"
#include "store.h"

#define STATUS_USEC (5 * 1000 * 1000)
#define DISPATCH_TRACK_MAX 100000     /* tasks remembered for the latency histogram */
#define DISPATCH_TTL_MS (3600 * 1000) /* ... for at most this long */

/* Counters: in the STATUS= line and, with [coordinator] metrics_listen, on
 * the Prometheus endpoint (a table in coordinator-manager.c, STYLE 11). */
typedef enum Counter {
        COUNTER_STARTED,
        COUNTER_COMMITS,
        COUNTER_STALE,
        COUNTER_CONFLICTS,
        COUNTER_TIMERS,
        COUNTER_DLQ, /* incremented by the dead-letter publisher (daemon/dead-letter.c) */
        COUNTER_REDISPATCHED,
        COUNTER_TRIGGER_STARTS,    /* starts sent for S3 event notifications (coordinator-triggers.c) */
        COUNTER_TRIGGER_UNMATCHED, /* ObjectCreated records that no trigger rule matched */
        COUNTER_TRIGGER_IGNORED,   /* other records and test events */
        _COUNTER_MAX,
} Counter;

typedef enum PendingKind {
        PENDING_OUTBOX,  /* a = exec id, b = item id */
        PENDING_TIMER,   /* a = timer member */
        PENDING_TRIGGER, /* a = the job, b = exec id, batch = its notification (coordinator-triggers.c) */
} PendingKind;

/* The opaque of one produced message, owned by its delivery report (dead
 * letters have their own: daemon/dead-letter.c). */
typedef struct Pending {
        PendingKind kind;
        char *a, *b;
        struct TriggerBatch *batch; /* PENDING_TRIGGER: borrowed */
        /* In Manager.producing while librdkafka holds it (manager_produce()
         * to its delivery report): what the producer still holds when it is
         * freed gets no report and is freed with the manager. */
        struct Pending *prev, *next;
} Pending;

typedef struct Manager {
        sd_event *event;
        Config *config;                /* borrowed from run() */
        DaemonConfigArgs *config_args; /* borrowed from run(): for reloads */
        KafkaConsumer *consumer;
        KafkaProducer *producer;
        Pending *producing; /* messages produced, no delivery report yet */
        DeadLetters *dead_letters;
        RedisConn *redis;
        RedisScript scripts[_STORE_SCRIPT_MAX];
        GHashTable *queues;     /* exec id -> ExecQueue (coordinator-work.c) */
        GHashTable *express;    /* exec id -> ExpressExec (coordinator-express.c) */
        MachineCache *machines; /* parsed definitions */
        StateCache *states;     /* executions' state after our last commit */
        Resources *resources;
        ApplyConfig apply;
        ProtoLimits limits;
        char *topic_prefix, *topic_jobs, *topic_events, *topic_dlq;
        char *topic_logs;          /* EXPRESS executions' history events (loggingConfiguration) */
        char *topic_triggers;      /* coordinator.s3_events_topic; NULL: no triggers */
        struct Triggers *triggers; /* the [triggers] rules (triggers.h) */
        char *role_arn;            /* coordinator.execution_role_arn; NULL when empty */
        bool task_key_execution;   /* coordinator.task_key = execution (coordinator-outbox.c) */

        size_t in_flight;     /* Works alive */
        size_t n_idle_queues; /* empty ExecQueues still in queues */
        size_t max_in_flight;
        bool paused, stopping, ready, redis_up, kafka_up;
        bool express_paused; /* the jobs partitions, for EXPRESS executions (coordinator-express.c) */
        size_t express_max_in_flight; /* coordinator.express_max_in_flight (at least 2) */
        /* EXPRESS starts past express_max_in_flight (Work *, FIFO), out of
         * in_flight: each waits for an execution to end (coordinator-work.c). */
        GQueue express_parked;
        size_t result_file_records;       /* coordinator.result_file_records (0: bytes only) */
        int64_t express_duration_max_sec; /* coordinator.express_duration_max (at most 300) */
        /* The partitions of the jobs and events topics held, from the
         * rebalance callbacks (asking librdkafka waits for its thread). */
        bool *held_jobs, *held_events;
        size_t n_held_jobs, n_held_events;
        bool tearing_down; /* manager_free() in progress */
        uint64_t stop_deadline_usec;

        int64_t timer_interval_usec;
        unsigned timer_batch;
        bool claiming; /* a claim is in flight */

        uint64_t counters[_COUNTER_MAX];
        uint64_t n_dispatched, n_tasks_done, n_finished;
        int64_t n_running;      /* RUNNING in Redis; -1 = not counted yet */
        bool counting;          /* a count is in flight */
        GHashTable *dispatched; /* "execId|taskId" -> Dispatched: logs, latency */
        Metrics *metrics;
        Metric *metric[_COUNTER_MAX]; /* borrowed from metrics */
        Metric *g_in_flight, *g_active;
        Metric *m_executions, *m_running, *m_dispatched, *m_task_latency, *m_task_results, *m_redis_rtt,
                *m_lag, *m_unsettled, *m_rejoins;
        uint64_t rejoins_counted; /* the part of kafka_consumer_rejoins() in m_rejoins */

        sd_event_source *t_claim, *t_reclaim, *t_sweep, *t_status, *t_drain;
        unsigned sweep_catchup;   /* sweeps left of items older than OUTBOX_CATCHUP_MS */
        unsigned reclaim_catchup; /* reclaims left of leases older than RECLAIM_CATCHUP_MS */

        /* Outbox items the broker acked, deleted from Redis in one call
         * per loop iteration (or per OUTBOX_ACK_BATCH_MAX items). */
        StoreCall acks;
        sd_event_source *ack_flush; /* defer source, on while acks has items */
        unsigned acks_in_flight;    /* ack calls sent, not answered */
} Manager;

/* ---- life (coordinator.c) ---- */

/* config and config_args are borrowed and must outlive the manager. */
int manager_new(sd_event *e, Config *config, DaemonConfigArgs *config_args, Manager **ret);
Manager *manager_free(Manager *m);
static inline void manager_freep(Manager **m) {
        manager_free(*m);
}
/* Metrics, Redis, Kafka, the timers: the loop runs them from here. */
int manager_start(Manager *m);
/* SIGTERM (service_setup()): stop consuming and claiming, drain, exit the loop. */
void manager_stop(void *userdata);
/* SIGHUP (service_setup()). */
void manager_reload(void *userdata);
/* After the loop: flush what was produced (delivery reports ack outbox
 * items and timers) before manager_free() leaves the group. */
void manager_flush(Manager *m);
/* The [resources] section as a Resources (new). Errors logged, naming the
 * file and line. A target without "pool:" that names no operation of
 * imgflow-worker (proto_worker_operations) is refused when `check` (for
 * --check-config), else logged as a warning (a test worker of the default
 * pool may run its own). */
int manager_resources_from_config(const Config *config, bool check, Resources **ret);

/* ---- what every part uses ---- */

void manager_count(Manager *m, Counter c);
/* The engine's environment now: the clock, randomness and limits. */
AslEnv manager_env(Manager *m);
/* EVALSHA a store call, or a plain command, on the async connection (timed
 * with metrics). -ENOTCONN while there is none. */
int manager_eval(Manager *m, const StoreCall *call, RedisReplyFn cb, void *userdata);
int manager_command(Manager *m, const StoreArgv *a, RedisReplyFn cb, void *userdata);
/* Produces payload to topic under key; exec_id: the execution it is about
 * (for the log; the key unless it is a task, coordinator-outbox.c). Takes p
 * (the delivery report's opaque); on failure logs and frees it. */
void manager_produce(Manager *m, const char *topic, const char *key, const char *exec_id,
                     const char *payload, Pending *p);
Pending *pending_new(PendingKind kind, const char *a, const char *b);
void pending_free(Pending *p);
/* p's delivery report has come (the producer no longer holds it). */
void manager_pending_delivered(Manager *m, Pending *p);
/* Fewer messages in flight: resume the consumer paused for backpressure. */
void manager_maybe_resume(Manager *m);

/* A Task message about to be produced for the first time: logged, counted,
 * remembered (with metrics) for the latency histogram. */
void manager_note_dispatch(Manager *m, const char *exec_id, const StoreOutboxEntry *e);
/* A task result was applied: logged (a failure with its error and cause),
 * counted, its latency observed when this coordinator dispatched the task.
 * All borrowed; error and cause NULL for a success. */
void manager_note_task_result(Manager *m, const char *exec_id, const char *state, const char *task_id,
                              bool succeeded, const char *error, const char *cause);
