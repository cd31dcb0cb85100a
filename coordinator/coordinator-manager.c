/* SPDX-License-Identifier: MIT */
/*
 * The coordinator's manager (coordinator-manager.h): its life (new, start,
 * stop and drain, reload, free), readiness (READY=1 once Kafka assigned
 * partitions and Redis answered), STATUS= and the metrics, and the calls
 * every part of the daemon makes (Redis commands and scripts, timed with
 * metrics; produce).
 *
 * Observability: every per-execution log line carries EXECUTION_ID (and
 * STATE_NAME, TASK_ID, IMAGE_KEY, OPERATION for tasks); STATUS= says how
 * many executions run (counted in Redis, bounded, every STATUS_USEC) and
 * how many tasks are done; with [coordinator] metrics_listen the counters,
 * the dispatch -> result latency per operation (tasks this coordinator
 * dispatched, remembered in memory for at most DISPATCH_TTL_MS), the Redis
 * round-trip time and the Kafka consumer lag are on /metrics.
 *
 * SIGTERM drains: stop consuming and claiming, finish in-flight work, flush
 * the producer, commit offsets. SIGHUP reloads the configuration
 * (daemon/daemon-config.h).
 */

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "coordinator-express.h"
#include "coordinator-manager.h"
#include "coordinator-outbox.h"
#include "coordinator-timers.h"
#include "coordinator-triggers.h"
#include "coordinator-work.h"
#include "format.h"
#include "imgflow-config.h"
#include "list.h"
#include "log.h"
#include "random.h"
#include "service.h"
#include "triggers.h"

static const struct {
        const char *name;
        const char *help;
} counter_table[_COUNTER_MAX] = {
        [COUNTER_STARTED] = {"imgflow_coordinator_executions_started_total", "Executions started."},
        [COUNTER_COMMITS] = {"imgflow_coordinator_commits_total", "Execution changes committed to Redis."},
        [COUNTER_STALE] = {"imgflow_coordinator_stale_events_total",
                           "Events that changed nothing (duplicates, late results, finished executions)."},
        [COUNTER_CONFLICTS] = {"imgflow_coordinator_commit_conflicts_total",
                               "Commits refused by the version check (reloaded and retried)."},
        [COUNTER_TIMERS] = {"imgflow_coordinator_timers_fired_total",
                            "TimerFired messages acknowledged by Kafka."},
        [COUNTER_DLQ] = {"imgflow_coordinator_dead_letters_total",
                         "Messages sent to the dead-letter topic."},
        [COUNTER_TRIGGER_STARTS] = {"imgflow_coordinator_trigger_starts_total",
                                    "Executions started for S3 event notifications by [triggers] rules "
                                    "(before deduplication)."},
        [COUNTER_TRIGGER_UNMATCHED] = {"imgflow_coordinator_trigger_unmatched_total",
                                       "ObjectCreated event records that no [triggers] rule matched."},
        [COUNTER_TRIGGER_IGNORED] = {"imgflow_coordinator_trigger_ignored_total",
                                     "Event records that are not ObjectCreated, and test events."},
        [COUNTER_REDISPATCHED] = {"imgflow_coordinator_outbox_resent_total",
                                  "Outbox messages sent again because no delivery report came."},
};

void manager_count(Manager *m, Counter c) {
        m->counters[c]++;
        if (m->metric[c])
                (void) metric_counter_inc(m->metric[c], NULL);
}

/* A log line about one task: EXECUTION_ID, STATE_NAME, TASK_ID, IMAGE_KEY
 * and OPERATION, each omitted when NULL (all borrowed). */
_printf_(7, 8) static void log_task(int level, const char *exec_id, const char *state, const char *task_id,
                                    const char *image_key, const char *operation, const char *format, ...) {
        const char *names[] = {"EXECUTION_ID=", "STATE_NAME=", "TASK_ID=", "IMAGE_KEY=", "OPERATION="};
        const char *values[] = {exec_id, state, task_id, image_key, operation};
        char *fields[ELEMENTSOF(names) + 1] = {};
        size_t n = 0;
        va_list ap;

        if (level > log_get_max_level())
                return;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (values[i])
                        fields[n++] = xasprintf("%s%s", names[i], values[i]);
        va_start(ap, format);
        (void) log_internalv(level, 0, (const char *const *) fields, __FILE__, __LINE__, __func__, format,
                             ap);
        va_end(ap);
        for (size_t i = 0; i < n; i++)
                free(fields[i]);
}

/* A task this coordinator dispatched, until its result comes. */
typedef struct Dispatched {
        char *operation;
        char *image_key; /* NULL when the input names no image */
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
        const char *kind; /* "command", "script" (static) */
} RedisTimed;

static void on_redis_timed(RedisConn *c, redisReply *reply, void *userdata);

/* With metrics: replaces *cb and *userdata by the timing wrapper and returns it
 * (free it if the command is not sent); without: NULL, nothing changed. */
static RedisTimed *redis_timed_wrap(Manager *m, const char *kind, RedisReplyFn *cb, void **userdata) {
        RedisTimed *t;

        if (!m->m_redis_rtt)
                return NULL;
        t = xmalloc(sizeof *t);
        *t = (RedisTimed){m, *cb, *userdata, now_usec(CLOCK_MONOTONIC), kind};
        *cb = on_redis_timed;
        *userdata = t;
        return t;
}

AslEnv manager_env(Manager *m) {
        return (AslEnv){
                .now_ms = now_ms(CLOCK_REALTIME),
                .random = random_fill,
                .max_payload_bytes = m->limits.max_payload_bytes,
                .max_history_events = m->apply.history_cap,
                .map_child_executions = true,
                .writer_file_records = m->result_file_records,
        };
}

Pending *pending_new(PendingKind kind, const char *a, const char *b) {
        Pending *p = xmalloc(sizeof *p);
        *p = (Pending){.kind = kind, .a = a ? xstrdup(a) : NULL, .b = b ? xstrdup(b) : NULL};
        return p;
}

void pending_free(Pending *p) {
        if (!p)
                return;
        free(p->a);
        free(p->b);
        free(p);
}

int manager_eval(Manager *m, const StoreCall *call, RedisReplyFn cb, void *userdata) {
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

int manager_command(Manager *m, const StoreArgv *a, RedisReplyFn cb, void *userdata) {
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
                const char *const lv[] = {t->kind};
                (void) metric_histogram_observe(t->m->m_redis_rtt, lv,
                                                (double) (now_usec(CLOCK_MONOTONIC) - t->start_usec) / 1e6);
        }
        free(t);
        if (cb)
                cb(c, reply, ud);
}

void manager_produce(Manager *m, const char *topic, const char *key, const char *exec_id,
                     const char *payload, Pending *p) {
        int r = kafka_produce(m->producer, topic, key, payload, strlen(payload), p);
        if (r < 0) {
                /* The outbox sweeper / timer reclaim will try again. */
                log_struct_exec_errno(LOG_WARNING, r, exec_id, NULL, NULL, "Failed to produce to %s: %m",
                                      topic);
                pending_free(p);
                return;
        }
        if (p)
                LIST_PREPEND(m->producing, p);
}

void manager_pending_delivered(Manager *m, Pending *p) {
        LIST_REMOVE(m->producing, p);
}

void manager_maybe_resume(Manager *m) {
        if (m->paused && !m->stopping && m->consumer && m->in_flight <= m->max_in_flight / 2) {
                if (kafka_consumer_resume(m->consumer, NULL) >= 0)
                        m->paused = false;
        }
}

/* The commit's outbox entry carries what the log line and metrics need. */
void manager_note_dispatch(Manager *m, const char *exec_id, const StoreOutboxEntry *e) {
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

/* The longest cause quoted in a log line; the history has all of it. */
#define LOG_CAUSE_MAX 300

void manager_note_task_result(Manager *m, const char *exec_id, const char *state, const char *task_id,
                              bool succeeded, const char *error, const char *cause) {
        _cleanup_free_ char *k = xasprintf("%s|%s", exec_id, task_id ?: "");
        Dispatched *d = g_hash_table_lookup(m->dispatched, k);
        const char *result = succeeded ? "succeeded" : "failed";

        m->n_tasks_done++;
        if (succeeded)
                log_task(LOG_INFO, exec_id, state, task_id, d ? d->image_key : NULL, d ? d->operation : NULL,
                         "Task %s succeeded", task_id ?: "?");
        else
                log_task(LOG_INFO, exec_id, state, task_id, d ? d->image_key : NULL, d ? d->operation : NULL,
                         "Task %s failed: %s%s%.*s%s", task_id ?: "?",
                         error && *error ? error : "(no error name)", cause && *cause ? ": " : "",
                         LOG_CAUSE_MAX, cause ?: "", cause && strlen(cause) > LOG_CAUSE_MAX ? "..." : "");
        if (m->metrics) {
                const char *const lr[] = {d ? d->operation : "", result};
                (void) metric_counter_inc(m->m_task_results, lr);
        }
        if (d) {
                const char *const lo[] = {d->operation};
                int64_t ms = now_ms(CLOCK_REALTIME) - d->dispatched_ms;
                if (m->metrics)
                        (void) metric_histogram_observe(m->m_task_latency, lo,
                                                        ms > 0 ? (double) ms / 1000.0 : 0.0);
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
        state_cache_clear(m->states);
        if (ev != KAFKA_REBALANCE_ASSIGNED)
                express_drop_all(m);
        express_on_rebalance(m, ev == KAFKA_REBALANCE_ASSIGNED, partitions);
        if (ev == KAFKA_REBALANCE_ASSIGNED) {
                m->kafka_up = true;
                manager_check_ready(m);
                outbox_sweep_catchup(m);
                timers_reclaim_catchup(m);
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

        /* The connection logs its own state, naming the address. */
        if (connected)
                (void) redis_command(c, on_redis_ping, m, "PING");
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
        (void) metric_gauge_set(m->m_lag, (const char *const[]){topic}, (double) lag);
}

static int on_status_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        const uint64_t *n = m->counters;
        char running[40], done[32], dispatched[32], started[32], finished[32], dlq[32], settle[64];

        (void) sd_event_source_set_time_relative(s, STATUS_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        if (m->g_in_flight)
                (void) metric_gauge_set(m->g_in_flight, NULL, (double) m->in_flight);
        if (m->g_active)
                (void) metric_gauge_set(m->g_active, NULL,
                                        (double) (g_hash_table_size(m->queues) - m->n_idle_queues));
        if (m->m_lag && m->consumer)
                (void) kafka_consumer_lag(m->consumer, on_lag, m);
        if (m->m_unsettled && m->consumer) {
                uint64_t rejoins = kafka_consumer_rejoins(m->consumer);
                (void) metric_gauge_set(m->m_unsettled, NULL,
                                        (double) kafka_consumer_unsettled_usec(m->consumer) / 1e6);
                (void) metric_counter_add(m->m_rejoins, NULL, (double) (rejoins - m->rejoins_counted));
                m->rejoins_counted = rejoins;
        }
        dispatched_expire(m);
        exec_queues_sweep(m);

        if (m->n_running < 0)
                snprintf(running, sizeof running, "?");
        else
                snprintf(running, sizeof running, "%s", format_count((uint64_t) m->n_running, (char[32]){}));
        (void) service_notify_status(
                "%s%s%d partition(s), %s executions running, %s tasks done, %s dispatched, "
                "%zu events in flight, %s started here, %s finished here, %s dead letters",
                m->stopping ? "Stopping: "
                : !m->ready ? "Waiting for Kafka and Redis: "
                            : "",
                m->consumer ? kafka_consumer_settle_status(m->consumer, settle, sizeof settle) : "",
                m->consumer ? kafka_consumer_assigned_count(m->consumer) : 0, running,
                format_count(m->n_tasks_done, done), format_count(m->n_dispatched, dispatched), m->in_flight,
                format_count(n[COUNTER_STARTED], started), format_count(m->n_finished, finished),
                format_count(dead_letters_count(m->dead_letters), dlq));
        count_running(m);
        return 0;
}

static int on_drain_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        bool idle = m->in_flight == 0 && kafka_producer_outq_len(m->producer) == 0 && outbox_idle(m);

        if (idle || now_usec(CLOCK_MONOTONIC) >= m->stop_deadline_usec) {
                if (!idle)
                        log_warning("Shutdown timeout: %zu events still in flight", m->in_flight);
                return sd_event_exit(m->event, 0);
        }
        (void) sd_event_source_set_time_relative(s, 50 * 1000);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        return 0;
}

void manager_stop(void *userdata) {
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

/* SIGHUP (`systemctl reload`): the configuration file is read again; the
 * log level and the [resources] mapping change without a restart. A
 * [resources] section that would not start the daemon is refused (logged,
 * naming the line) and the mapping loaded before stays. Everything else in
 * m keeps the configuration of the start (m->config). The mapping is only
 * read on the loop's thread, by the dispatches that follow: the next Task
 * resolves its Resource with the new one. */
void manager_reload(void *userdata) {
        Manager *m = userdata;
        _cleanup_config_ Config *c = NULL;
        _cleanup_(resources_freep) Resources *res = NULL;
        extern char **environ;

        /* service.c sent RELOADING=1 and sends READY=1 after this returns. */
        if (daemon_config_reload(m->config_args, environ, &c) < 0)
                return;
        if (manager_resources_from_config(c, /* check= */ false, &res) < 0) {
                log_error("Reload: the [resources] section is refused; the %zu mappings loaded before stay.",
                          resources_count(m->resources));
                return;
        }
        log_notice("Reloaded: [resources] has %zu mappings (%zu before).", resources_count(res),
                   resources_count(m->resources));
        resources_free(m->resources);
        m->resources = TAKE_PTR(res);
        m->apply.resources = m->resources;
}

typedef struct AddResource {
        const Config *config;
        Resources *res;
        bool check;
} AddResource;

static int add_resource(const char *key, const char *value, void *userdata) {
        AddResource *a = userdata;
        const char *where = config_where(a->config, "resources", key);
        _cleanup_free_ char *problem = resources_target_problem(value);
        int r;

        if (problem)
                return log_error_errno(-EINVAL, "%sInvalid [resources] %s = %s: %s", where, key, value,
                                       problem);
        if (strncmp(value, "pool:", 5) != 0 && !proto_worker_operation_is_known(value)) {
                _cleanup_free_ char *known = NULL;
                for (size_t i = 0; proto_worker_operations[i]; i++) {
                        char *k = xasprintf("%s%s%s", strempty(known), known ? ", " : "",
                                            proto_worker_operations[i]);
                        free(known);
                        known = k;
                }
                if (a->check)
                        return log_error_errno(
                                -EINVAL,
                                "%sInvalid [resources] %s = %s: imgflow-worker has no operation "
                                "\"%s\" (it runs %s); a worker of your own needs pool:<pool>",
                                where, key, value, value, known);
                log_warning(
                        "%s[resources] %s = %s: imgflow-worker has no operation \"%s\"; only a worker of "
                        "your own on the default tasks topic can run it",
                        where, key, value, value);
        }
        r = resources_add(a->res, key, value);
        if (r < 0)
                return log_error_errno(r, "%sInvalid [resources] %s = %s: %s", where, key, value,
                                       r == -E2BIG ? "too many resources" : "bad value");
        return 0;
}

int manager_resources_from_config(const Config *config, bool check, Resources **ret) {
        _cleanup_(resources_freep) Resources *res = NULL;
        AddResource a = {.config = config, .check = check};
        int r;

        r = resources_new(&res);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the resource mapping: %m");
        a.res = res;
        r = config_foreach_in_section(config, "resources", add_resource, &a);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(res);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        m->tearing_down = true;
        timers_stop(m);
        sd_event_source_disable_unref(m->t_status);
        sd_event_source_disable_unref(m->t_drain);
        outbox_stop(m);
        m->consumer = kafka_consumer_free(m->consumer);
        m->producer = kafka_producer_free(m->producer);
        /* What the producer still held (a fatal Kafka error, brokers away at
         * the stop) got no delivery report: the outbox and the timer leases
         * send it again after a restart. */
        while (m->producing) {
                Pending *p = m->producing;

                manager_pending_delivered(m, p);
                pending_free(p);
        }
        /* Pending Redis callbacks run now with NULL replies; works still
         * queued (shutdown timeout) stay in their queues and go below. */
        m->redis = redis_conn_free(m->redis);
        if (m->queues) {
                exec_queues_free_works(m);
                g_hash_table_destroy(m->queues);
        }
        g_queue_clear(&m->express_parked); /* its Works were freed with the queues */
        if (m->express)
                g_hash_table_destroy(m->express);
        machine_cache_free(m->machines);
        state_cache_free(m->states);
        if (m->dispatched)
                g_hash_table_destroy(m->dispatched);
        resources_free(m->resources);
        metrics_free(m->metrics);
        free(m->topic_prefix);
        free(m->role_arn);
        free(m->topic_jobs);
        free(m->topic_events);
        free(m->topic_dlq);
        free(m->topic_logs);
        free(m->held_jobs);
        free(m->held_events);
        free(m->topic_triggers);
        triggers_free(m->triggers);
        sd_event_unref(m->event);
        free(m);
        return NULL;
}

int manager_new(sd_event *e, Config *config, DaemonConfigArgs *config_args, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = xmalloc(sizeof *m);
        *m = (Manager){
                .event = sd_event_ref(e),
                .config = config,
                .config_args = config_args,
                .queues = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, exec_queue_free),
                .express = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, express_exec_free),
                .express_parked = G_QUEUE_INIT,
                .machines = machine_cache_new(MACHINE_CACHE_MAX),
                .states = state_cache_new(STATE_CACHE_MAX, STATE_CACHE_BYTES_MAX),
                .n_running = -1,
                .dispatched = g_hash_table_new_full(g_str_hash, g_str_equal, free, dispatched_free),
        };
        for (size_t i = 0; i < _STORE_SCRIPT_MAX; i++)
                redis_script_init(&m->scripts[i], store_script(i)->source);

        m->topic_prefix = xstrdup(config_get_string(config, "imgflow", "topic_prefix"));
        if (proto_topic_name(m->topic_prefix, PROTO_TOPIC_JOBS, NULL, &m->topic_jobs) < 0 ||
            proto_topic_name(m->topic_prefix, PROTO_TOPIC_EVENTS, NULL, &m->topic_events) < 0 ||
            proto_topic_name(m->topic_prefix, PROTO_TOPIC_DLQ, NULL, &m->topic_dlq) < 0 ||
            proto_topic_name(m->topic_prefix, PROTO_TOPIC_LOGS, NULL, &m->topic_logs) < 0)
                return log_error_errno(-EINVAL, "Invalid imgflow.topic_prefix \"%s\"", m->topic_prefix);

        if (streq(config_get_string(config, "coordinator", "task_key"), "execution"))
                m->task_key_execution = true;
        else if (!streq(config_get_string(config, "coordinator", "task_key"), "task"))
                return log_error_errno(-EINVAL, "coordinator.task_key must be task or execution, not \"%s\"",
                                       config_get_string(config, "coordinator", "task_key"));
        m->limits.max_payload_bytes = config_get_size(config, "imgflow", "payload_limit");
        if (config_get_int(config, "coordinator", "result_file_records") < 0)
                return log_error_errno(-EINVAL, "coordinator.result_file_records must be 0 or more");
        m->result_file_records = (size_t) config_get_int(config, "coordinator", "result_file_records");
        uint64_t express_ms = config_get_duration_ms(config, "coordinator", "express_duration_max");
        if (express_ms < 1000 || express_ms > (uint64_t) EXPRESS_DURATION_MAX_SEC * 1000 || express_ms % 1000)
                return log_error_errno(-EINVAL,
                                       "coordinator.express_duration_max must be whole seconds from 1s to %ds",
                                       EXPRESS_DURATION_MAX_SEC);
        m->express_duration_max_sec = (int64_t) (express_ms / 1000);
        if (!isempty(config_get_string(config, "coordinator", "execution_role_arn")))
                m->role_arn = xstrdup(config_get_string(config, "coordinator", "execution_role_arn"));
        r = manager_resources_from_config(config, /* check= */ false, &m->resources);
        if (r < 0)
                return r;
        r = triggers_setup(m);
        if (r < 0)
                return r;

        m->apply = (ApplyConfig){
                .resources = m->resources,
                .topic_prefix = m->topic_prefix,
                .retention_sec =
                        (int64_t) (config_get_duration_ms(config, "coordinator", "retention") / 1000),
                .history_cap = (unsigned) config_get_int(config, "coordinator", "history_limit"),
                .role_arn = m->role_arn,
                .limits = &m->limits,
        };
        m->max_in_flight = (size_t) config_get_int(config, "coordinator", "max_in_flight");
        if (m->max_in_flight < 2)
                m->max_in_flight = 2;
        m->express_max_in_flight = (size_t) config_get_int(config, "coordinator", "express_max_in_flight");
        if (m->express_max_in_flight < 2)
                m->express_max_in_flight = 2;
        m->timer_interval_usec =
                (int64_t) config_get_duration_ms(config, "coordinator", "timer_interval") * 1000;
        if (m->timer_interval_usec <= 0)
                m->timer_interval_usec = 1000 * 1000;
        m->timer_batch = (unsigned) config_get_int(config, "coordinator", "timer_batch");
        if (m->timer_batch == 0)
                m->timer_batch = 100;

        *ret = TAKE_PTR(m);
        return 0;
}

static int manager_setup_metrics(Manager *m) {
        static const double latency_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                 2.5,   5,    10,    30,   60,  300,  3600};
        static const double redis_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                               0.01,   0.025,   0.05,   0.1,   0.25,   1};
        const char *address = config_get_string(m->config, "coordinator", "metrics_listen");
        int r;

        if (isempty(address))
                return 0;
        r = metrics_new(&m->metrics);
        if (r >= 0)
                r = metrics_add_process(m->metrics, IMGFLOW_VERSION);
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
                r = metrics_add_counter(
                        m->metrics, "imgflow_executions_total",
                        "Executions started (status RUNNING) and finished (SUCCEEDED, FAILED, "
                        "TIMED_OUT, ABORTED) by this coordinator.",
                        (const char *const[]){"status", NULL}, &m->m_executions);
        if (r >= 0)
                r = metrics_add_gauge(
                        m->metrics, "imgflow_executions_running",
                        "Executions RUNNING in Redis, all of them (the same on every coordinator), "
                        "counted every 5 s.",
                        NULL, &m->m_running);
        if (r >= 0)
                r = metrics_add_counter(
                        m->metrics, "imgflow_tasks_dispatched_total",
                        "Task messages dispatched (first sends, not re-sends), by operation.",
                        (const char *const[]){"operation", NULL}, &m->m_dispatched);
        if (r >= 0)
                r = metrics_add_counter(
                        m->metrics, "imgflow_task_results_total",
                        "Task results applied, by operation (empty when dispatched elsewhere) "
                        "and result.",
                        (const char *const[]){"operation", "result", NULL}, &m->m_task_results);
        if (r >= 0)
                r = metrics_add_histogram(m->metrics, "imgflow_task_latency_seconds",
                                          "From dispatching a task to applying its result, by operation.",
                                          (const char *const[]){"operation", NULL}, latency_buckets,
                                          ELEMENTSOF(latency_buckets), &m->m_task_latency);
        if (r >= 0)
                r = metrics_add_histogram(m->metrics, "imgflow_redis_roundtrip_seconds",
                                          "From sending a Redis command or script to its reply.",
                                          (const char *const[]){"kind", NULL}, redis_buckets,
                                          ELEMENTSOF(redis_buckets), &m->m_redis_rtt);
        if (r >= 0)
                r = metrics_add_gauge(m->metrics, "imgflow_kafka_consumer_lag",
                                      "Messages of the assigned partitions not yet received, by topic.",
                                      (const char *const[]){"topic", NULL}, &m->m_lag);
        if (r >= 0)
                r = metrics_add_gauge(m->metrics, "imgflow_kafka_group_unsettled_seconds",
                                      "How long the consumer has had no assignment, once that is over "
                                      "[imgflow] group_settle_timeout (0 otherwise).",
                                      NULL, &m->m_unsettled);
        if (r >= 0)
                r = metrics_add_counter(m->metrics, "imgflow_kafka_group_rejoins_total",
                                        "Times the consumer left and joined its group again because it "
                                        "had not settled.",
                                        NULL, &m->m_rejoins);
        if (r < 0)
                return r;
        /* metrics_listen() logs where it serves, or why it cannot. */
        return metrics_listen(m->metrics, m->event, address);
}

int manager_start(Manager *m) {
        char *topics[] = {m->topic_jobs, m->topic_events, m->topic_triggers, NULL};
        int r;

        r = manager_setup_metrics(m);
        if (r < 0)
                return log_error_errno(r, "Failed to set up metrics: %m");

        r = redis_conn_new(m->event, m->config, on_redis_state, m, &m->redis);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the Redis connection: %m");
        if (m->metrics) {
                r = redis_conn_set_metrics(m->redis, m->metrics);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up the Redis metrics: %m");
        }
        r = kafka_producer_new(m->event, m->config, outbox_on_delivery, m, &m->producer);
        if (r < 0)
                return log_error_errno(r, "Failed to create the Kafka producer: %m");
        r = kafka_consumer_new(m->event, m->config, config_get_string(m->config, "coordinator", "group"),
                               topics, work_on_message, on_rebalance, m, &m->consumer);
        if (r < 0)
                return log_error_errno(r, "Failed to create the Kafka consumer: %m");
        r = outbox_start(m);
        if (r < 0)
                return r;
        r = timers_start(m);
        if (r < 0)
                return r;
        r = sd_event_add_time_relative(m->event, &m->t_status, CLOCK_MONOTONIC, STATUS_USEC, 0,
                                       on_status_timer, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the status timer: %m");
        return 0;
}

void manager_flush(Manager *m) {
        dead_letters_drain(m->dead_letters);
        (void) kafka_producer_flush(m->producer, 5000);
}
