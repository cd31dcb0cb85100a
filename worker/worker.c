/* SPDX-License-Identifier: MIT */
/*
 * imgflow-worker: the stateless worker daemon (worker-daemon.h: the same
 * daemon runs as imgflow-lambda with another flavor).
 *
 * One sd-event loop (STYLE 9/10) owns everything: the Kafka consumer of
 * `<prefix>tasks[.<pool>]`, the producer of `<prefix>events`, the thread
 * pool's eventfd, the heartbeat timers and the signals. The loop never
 * blocks: image work runs on the pool (worker-pool.c) and comes back through
 * the eventfd.
 *
 * The life of one task message:
 *
 *   on_message        decode (bad -> DLQ), drop if past its deadline
 *                     (commit), else: notify -> produce on the loop;
 *                     unknown operation -> TaskFailed; else submit to
 *                     the pool, start its heartbeat timer
 *   on_pool_done      the operation finished on a thread: publish the
 *                     TaskSucceeded / TaskFailed event (key = execution id)
 *   on_delivery       the broker acknowledged the event: only now is the
 *                     task's offset done (kafka_consumer_done() commits up
 *                     to the lowest unfinished offset of the partition)
 *
 * So a task is committed only after its result is durable (at-least-once),
 * and a slow image holds back the commit of its partition but not the
 * processing of the tasks behind it.
 *
 * Backpressure: when more than max_in_flight (default 4 x threads, at least
 * 8) tasks wait in the pool's queue, the consumer pauses; below half of that
 * it resumes, so the threads still have work while the fetch restarts.
 * Rebalance: queued tasks of revoked partitions are dropped (the next owner
 * reads them again from the committed offset); running ones finish and
 * report (their commit is refused: the partition is gone).
 * SIGTERM: stop consuming, drop queued tasks without committing them (they
 * are handed back), let running ones finish within shutdown_timeout,
 * publish and commit their results, flush, exit 0.
 *
 * Layering: links libdaemon (never libdaemon_redis: workers hold no Redis
 * credentials), proto and libworker_ops (libvips).
 */

#include <getopt.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "imgflow-config.h"

#include "clock.h"
#include "config.h"
#include "daemon-config.h"
#include "dead-letter.h"
#include "format.h"
#include "image-ops.h"
#include "kafka.h"
#include "list.h"
#include "log.h"
#include "macro.h"
#include "metrics.h"
#include "notify.h"
#include "proto.h"
#include "service.h"
#include "storage.h"
#include "storage-config.h"
#include "worker-daemon.h"
#include "worker-pool.h"
#include "worker-runner.h"

#define USEC_PER_SEC_ UINT64_C(1000000)
#define WORKER_READY_POLL_USEC (100 * 1000) /* how often READY is checked */
#define WORKER_STATUS_USEC (1000 * 1000)    /* STATUS= refresh */
#define WORKER_RETRY_USEC (1000 * 1000)     /* re-produce after a failed delivery */
#define WORKER_HEARTBEAT_MIN_MS 100
#define WORKER_JOIN_TIMEOUT_MS 5000 /* threads still stuck after the drain */
#define WORKER_FLUSH_TIMEOUT_MS 10000

typedef enum DeliveryKind {
        DELIVERY_RESULT, /* TaskSucceeded/TaskFailed of task */
        DELIVERY_NOTIFY, /* the Notification of a notify task */
} DeliveryKind;

typedef struct Manager Manager;
typedef struct Delivery Delivery;

/* A produced message waiting for its delivery report. Owns its copy of the
 * message, to produce it again after a transient failure. */
struct Delivery {
        DeliveryKind kind;
        Manager *manager;
        WorkerTask *task;        /* borrowed (the task waits for us) */
        char *topic, *key, *buf; /* what was produced */
        int32_t partition;       /* KAFKA_PARTITION_BY_KEY, or the task's replyTo */
        size_t len;
        char *notify_id;        /* NOTIFY */
        sd_event_source *retry; /* pending re-produce */
        Delivery *next, *prev;
};

struct Manager {
        sd_event *event;
        Config *config;
        const WorkerFlavor *flavor; /* borrowed, static */
        void *flavor_data;          /* the flavor's setup(): freed by its teardown() */

        char *prefix, *pool_name, *group, *worker_id;
        char **notify_topics; /* worker.notify_topics: where notify may publish */
        char *tasks_topic, *events_topic, *dlq_topic;

        KafkaProducer *producer;
        KafkaConsumer *consumer;
        DeadLetters *dead_letters;
        WorkerPool *pool;
        Storage *storage;
        OpLimits limits;
        ProtoLimits proto_limits;
        WorkerRunEnv env;
        const Operation *extra;
        size_t n_extra;

        unsigned threads;
        size_t pause_above, resume_below;
        uint64_t heartbeat_interval_ms, shutdown_timeout_ms;

        WorkerTask *tasks; /* every live task */
        size_t n_tasks;
        Delivery *deliveries; /* every delivery not yet reported */
        size_t n_deliveries;

        uint64_t n_done, n_failed, n_expired;
        bool ready, stopping, paused, drained;
        uint64_t start_usec, ready_warned_s; /* CLOCK_MONOTONIC; READY wait */

        sd_event_source *ready_timer, *status_timer, *drain_timer, *pool_source;
        char last_status[256];

        Metrics *metrics;
        Metric *m_tasks, *m_latency, *m_images, *m_bytes_in, *m_bytes_out, *m_msg_bytes_in, *m_msg_bytes_out,
                *m_dlq, *m_running, *m_queued, *m_lag, *m_unsettled, *m_rejoins;
        uint64_t rejoins_counted; /* the part of kafka_consumer_rejoins() in m_rejoins */

        DaemonConfigArgs *config_args; /* borrowed from run(): SIGHUP loads it again */
};

static void manager_check_drained(Manager *m);
static void manager_update_status(Manager *m);
static void manager_publish_result(Manager *m, WorkerTask *t);
static int delivery_schedule_retry(Delivery *d);

#define log_oom_() log_error_errno(-ENOMEM, "Out of memory.")

/* ------------------------------------------------------------------ */
/* Task list */

static void manager_link_task(Manager *m, WorkerTask *t) {
        t->manager = m;
        LIST_PREPEND(m->tasks, t);
        m->n_tasks++;
}

static void manager_free_task(Manager *m, WorkerTask *t) {
        LIST_REMOVE(m->tasks, t);
        m->n_tasks--;
        worker_task_free(t);
}

/* ------------------------------------------------------------------ */
/* Deliveries */

static Delivery *delivery_free(Delivery *d) {
        if (!d)
                return NULL;
        Manager *m = d->manager;
        LIST_REMOVE(m->deliveries, d);
        m->n_deliveries--;
        sd_event_source_disable_unref(d->retry);
        free(d->topic);
        free(d->key);
        free(d->buf);
        free(d->notify_id);
        free(d);
        return NULL;
}

/* Where a task's result and heartbeats go on the events topic: the
 * partition of its replyTo (an EXPRESS execution's coordinator holds it),
 * else the partition of its execution id's key. A replyTo naming another
 * topic is not followed: a worker writes only the events topic. */
static int32_t reply_partition(const Manager *m, const WorkerTask *t) {
        _cleanup_free_ char *topic = NULL;
        int32_t p;

        if (!t->task->reply_to || proto_reply_to_parse(t->task->reply_to, &topic, &p) < 0 ||
            !streq(topic, m->events_topic))
                return KAFKA_PARTITION_BY_KEY;
        return p;
}

/* buf is stolen (also on failure); topic and key copied. */
static int manager_produce(Manager *m, DeliveryKind kind, WorkerTask *t, const char *topic, const char *key,
                           char *buf, size_t len, Delivery **ret) {
        Delivery *d = calloc(1, sizeof(*d));
        if (!d) {
                free(buf);
                return -ENOMEM;
        }
        d->kind = kind;
        d->manager = m;
        d->task = t;
        d->buf = buf;
        d->len = len;
        d->topic = strdup(topic);
        d->key = key ? strdup(key) : NULL;
        LIST_PREPEND(m->deliveries, d);
        m->n_deliveries++;
        if (!d->topic || (key && !d->key)) {
                delivery_free(d);
                return -ENOMEM;
        }

        d->partition = t && streq(topic, m->events_topic) ? reply_partition(m, t) : KAFKA_PARTITION_BY_KEY;
        int r = kafka_produce_partition(m->producer, d->topic, d->partition, d->key, d->buf, d->len, d);
        if (r == -ENOBUFS) {
                /* The local queue is full: keep it and produce it again soon. */
                log_warning("Producer queue full; producing to %s again in 1 s.", d->topic);
                r = delivery_schedule_retry(d);
        }
        if (r < 0) {
                delivery_free(d);
                return r;
        }
        if (ret)
                *ret = d;
        return 0;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Delivery *d = userdata;
        int r = kafka_produce_partition(d->manager->producer, d->topic, d->partition, d->key, d->buf, d->len,
                                        d);
        if (r < 0) {
                log_warning_errno(r, "Failed to produce to %s again, retrying: %m", d->topic);
                (void) sd_event_source_set_time_relative(s, WORKER_RETRY_USEC);
                (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        }
        return 0;
}

static int delivery_schedule_retry(Delivery *d) {
        Manager *m = d->manager;
        int r;
        if (d->retry) {
                r = sd_event_source_set_time_relative(d->retry, WORKER_RETRY_USEC);
                if (r >= 0)
                        r = sd_event_source_set_enabled(d->retry, SD_EVENT_ONESHOT);
                return r;
        }
        return sd_event_add_time_relative(m->event, &d->retry, CLOCK_MONOTONIC, WORKER_RETRY_USEC,
                                          /* accuracy= */ 0, on_retry, d);
}

/* Retry after transient errors; give up on the ones that cannot succeed. */
static bool delivery_error_is_permanent(int error) {
        return error == -EMSGSIZE || error == -ENOENT || error == -EINVAL;
}

/* ------------------------------------------------------------------ */
/* Metrics */

typedef enum MetricKind {
        METRIC_KIND_COUNTER,
        METRIC_KIND_GAUGE,
        METRIC_KIND_HISTOGRAM,
} MetricKind;

static const char *const labels_op[] = {"operation", NULL};
static const char *const labels_op_result[] = {"operation", "result", NULL};
static const char *const labels_topic[] = {"topic", NULL};

/* The worker's metrics (STYLE 11: a table). */
static const struct {
        const char *name;
        const char *help;
        MetricKind kind;
        const char *const *labels;
        size_t offset; /* of the Metric * in Manager */
} worker_metrics[] = {
        {"imgflow_worker_tasks_total",
         "Tasks finished, by operation and result (succeeded, failed, expired).", METRIC_KIND_COUNTER,
         labels_op_result, offsetof(Manager, m_tasks)},
        {"imgflow_worker_task_duration_seconds", "Time from receiving a task to its result, by operation.",
         METRIC_KIND_HISTOGRAM, labels_op, offsetof(Manager, m_latency)},
        {"imgflow_worker_images_processed_total", "Image tasks that succeeded, by operation.",
         METRIC_KIND_COUNTER, labels_op, offsetof(Manager, m_images)},
        {"imgflow_worker_input_bytes_total", "Bytes of input images read, by operation.",
         METRIC_KIND_COUNTER, labels_op, offsetof(Manager, m_bytes_in)},
        {"imgflow_worker_output_bytes_total", "Bytes of output images written, by operation.",
         METRIC_KIND_COUNTER, labels_op, offsetof(Manager, m_bytes_out)},
        {"imgflow_worker_task_message_bytes_total", "Bytes of task messages received, by operation.",
         METRIC_KIND_COUNTER, labels_op, offsetof(Manager, m_msg_bytes_in)},
        {"imgflow_worker_result_message_bytes_total", "Bytes of result events published, by operation.",
         METRIC_KIND_COUNTER, labels_op, offsetof(Manager, m_msg_bytes_out)},
        {"imgflow_worker_dead_letters_total", "Messages sent to the dead-letter topic.", METRIC_KIND_COUNTER,
         NULL, offsetof(Manager, m_dlq)},
        {"imgflow_worker_tasks_running", "Tasks running on the thread pool.", METRIC_KIND_GAUGE, NULL,
         offsetof(Manager, m_running)},
        {"imgflow_worker_tasks_queued", "Tasks waiting for a thread.", METRIC_KIND_GAUGE, NULL,
         offsetof(Manager, m_queued)},
        {"imgflow_kafka_consumer_lag", "Messages of the assigned partitions not yet received, by topic.",
         METRIC_KIND_GAUGE, labels_topic, offsetof(Manager, m_lag)},
        {"imgflow_kafka_group_unsettled_seconds",
         "How long the consumer has had no assignment, once that is over [imgflow] group_settle_timeout "
         "(0 otherwise).",
         METRIC_KIND_GAUGE, NULL, offsetof(Manager, m_unsettled)},
        {"imgflow_kafka_group_rejoins_total",
         "Times the consumer left and joined its group again because it had not settled.",
         METRIC_KIND_COUNTER, NULL, offsetof(Manager, m_rejoins)},
};

static int manager_setup_metrics(Manager *m) {
        static const double latency_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                 1,     2.5,  5,     10,   30,  60,   120};
        const char *listen = config_get_string(m->config, m->flavor->section, "metrics_listen");
        int r;

        if (isempty(listen))
                return 0;

        r = metrics_new(&m->metrics);
        if (r >= 0)
                r = metrics_add_process(m->metrics, IMGFLOW_VERSION);
        if (r < 0)
                return log_error_errno(r, "Failed to create the metrics registry: %m");
        for (size_t i = 0; i < ELEMENTSOF(worker_metrics); i++) {
                Metric **slot = (Metric **) ((char *) m + worker_metrics[i].offset);
                switch (worker_metrics[i].kind) {
                case METRIC_KIND_COUNTER:
                        r = metrics_add_counter(m->metrics, worker_metrics[i].name, worker_metrics[i].help,
                                                worker_metrics[i].labels, slot);
                        break;
                case METRIC_KIND_GAUGE:
                        r = metrics_add_gauge(m->metrics, worker_metrics[i].name, worker_metrics[i].help,
                                              worker_metrics[i].labels, slot);
                        break;
                case METRIC_KIND_HISTOGRAM:
                        r = metrics_add_histogram(m->metrics, worker_metrics[i].name, worker_metrics[i].help,
                                                  worker_metrics[i].labels, latency_buckets,
                                                  ELEMENTSOF(latency_buckets), slot);
                        break;
                }
                if (r < 0)
                        return log_error_errno(r, "Failed to register metric %s: %m",
                                               worker_metrics[i].name);
        }

        /* metrics_listen() logs where it serves, or why it cannot. */
        return metrics_listen(m->metrics, m->event, listen);
}

static void manager_count_task(Manager *m, WorkerTask *t, const char *result) {
        const char *op = worker_task_operation(t);

        if (!m->metrics)
                return;
        const char *const lv[] = {op, result};
        const char *const lo[] = {op};
        (void) metric_counter_inc(m->m_tasks, lv);
        (void) metric_counter_add(m->m_msg_bytes_in, lo, (double) t->message_bytes);
        if (t->image_bytes_in > 0)
                (void) metric_counter_add(m->m_bytes_in, lo, (double) t->image_bytes_in);
        if (t->image_bytes_out > 0)
                (void) metric_counter_add(m->m_bytes_out, lo, (double) t->image_bytes_out);
        if (t->finished_usec >= t->received_usec && t->finished_usec > 0)
                (void) metric_histogram_observe(m->m_latency, lo,
                                                (double) (t->finished_usec - t->received_usec) / 1e6);
        if (t->outcome == WORKER_TASK_SUCCEEDED && strncmp(op, "image.", 6) == 0)
                (void) metric_counter_inc(m->m_images, lo);
}

/* ------------------------------------------------------------------ */
/* Status */

static void on_lag(const char *topic, int64_t lag, void *userdata) {
        Manager *m = userdata;
        const char *const lv[] = {topic};
        (void) metric_gauge_set(m->m_lag, lv, (double) lag);
}

/* Only with metrics on: each count takes the pool's lock. */
static void manager_update_gauges(Manager *m) {
        if (!m->metrics || !m->pool)
                return;
        (void) metric_gauge_set(m->m_running, NULL, (double) worker_pool_running(m->pool));
        (void) metric_gauge_set(m->m_queued, NULL, (double) worker_pool_queued(m->pool));
}

/* STATUS= goes out from the status timer (once a second) and on the
 * daemon's own state changes, never per task: each sd_notify() is a socket
 * and a datagram that the service manager has to read. */
static void manager_update_status(Manager *m) {
        char buf[256], done[32], failed[32], settle[64];
        size_t running = m->pool ? worker_pool_running(m->pool) : 0;
        size_t queued = m->pool ? worker_pool_queued(m->pool) : 0;

        snprintf(buf, sizeof(buf),
                 "%s%s%d partition(s), %zu tasks running, %zu queued, %s done, %s failed%s",
                 m->stopping ? "Stopping: "
                 : !m->ready ? "Waiting for Kafka: "
                             : "",
                 m->consumer ? kafka_consumer_settle_status(m->consumer, settle, sizeof(settle)) : "",
                 m->consumer ? kafka_consumer_assigned_count(m->consumer) : 0, running, queued,
                 format_count(m->n_done, done), format_count(m->n_failed, failed),
                 m->paused ? " (paused)" : "");
        if (!streq(buf, m->last_status)) {
                (void) service_notify_status("%s", buf);
                snprintf(m->last_status, sizeof(m->last_status), "%s", buf);
        }
        manager_update_gauges(m);
}

static int on_status_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        manager_update_status(m);
        if (m->metrics && m->consumer) {
                uint64_t rejoins = kafka_consumer_rejoins(m->consumer);
                (void) kafka_consumer_lag(m->consumer, on_lag, m);
                (void) metric_gauge_set(m->m_unsettled, NULL,
                                        (double) kafka_consumer_unsettled_usec(m->consumer) / 1e6);
                (void) metric_counter_add(m->m_rejoins, NULL, (double) (rejoins - m->rejoins_counted));
                m->rejoins_counted = rejoins;
        }
        (void) sd_event_source_set_time_relative(s, WORKER_STATUS_USEC);
        return 0;
}

/* READY=1 once Kafka answered: a metadata response told us the controller. */
static int on_ready_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        if (rd_kafka_controllerid(kafka_consumer_handle(m->consumer), /* timeout_ms= */ 0) >= 0 ||
            rd_kafka_controllerid(kafka_producer_handle(m->producer), /* timeout_ms= */ 0) >= 0) {
                m->ready = true;
                log_info("Kafka answered; consuming %s as %s in group %s with %u threads.", m->tasks_topic,
                         m->worker_id, m->group, m->threads);
                (void) service_notify_ready();
                manager_update_status(m);
                return sd_event_source_set_enabled(s, SD_EVENT_OFF);
        }
        /* Say so every 10 s: a wrong bootstrap address or a broker that is
         * down should not look like a hang. */
        uint64_t waited_s = (usec - m->start_usec) / USEC_PER_SEC_;
        if (waited_s >= m->ready_warned_s + 10) {
                m->ready_warned_s = waited_s;
                log_warning("Still waiting for Kafka (%s) after %" PRIu64 " s.",
                            strempty(config_get_raw(m->config, "kafka", "bootstrap.servers")), waited_s);
        }
        (void) sd_event_source_set_time_relative(s, WORKER_READY_POLL_USEC);
        return 0;
}

/* ------------------------------------------------------------------ */
/* Backpressure */

static void manager_check_backpressure(Manager *m) {
        if (m->stopping || !m->consumer)
                return;
        size_t queued = worker_pool_queued(m->pool);
        int r;

        if (!m->paused && queued > m->pause_above) {
                r = kafka_consumer_pause(m->consumer, NULL);
                if (r < 0)
                        log_warning_errno(r, "Failed to pause the consumer: %m");
                else {
                        m->paused = true;
                        log_debug("%zu tasks queued, paused consuming.", queued);
                }
        } else if (m->paused && queued < m->resume_below) {
                r = kafka_consumer_resume(m->consumer, NULL);
                if (r < 0)
                        log_warning_errno(r, "Failed to resume the consumer: %m");
                else {
                        m->paused = false;
                        log_debug("%zu tasks queued, resumed consuming.", queued);
                }
        }
}

/* ------------------------------------------------------------------ */
/* Finishing a task */

/* The task's result is durable (or there is none to publish): commit and free. */
static void manager_task_finished(Manager *m, WorkerTask *t, bool commit) {
        if (commit) {
                int r = kafka_consumer_done(m->consumer, t->topic, t->partition, t->offset);
                if (r == -ENOENT)
                        worker_task_log(LOG_INFO, t,
                                        "Partition %s/%" PRIi32 " was revoked, offset %" PRIi64
                                        " not committed.",
                                        t->topic, t->partition, t->offset);
                else if (r < 0)
                        worker_task_log_errno(LOG_WARNING, r, t, "Failed to commit offset %" PRIi64 ": %m",
                                              t->offset);
        }
        manager_free_task(m, t);
        manager_check_drained(m);
}

static void manager_publish_result(Manager *m, WorkerTask *t) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r;

        t->heartbeat = sd_event_source_disable_unref(t->heartbeat);

        r = worker_task_encode_result(t, m->worker_id, &m->proto_limits, &buf, &len);
        if (r < 0) {
                /* Not encodable (e.g. an error name that is not UTF-8): report
                 * that instead, so the coordinator does not wait for a timeout. */
                worker_task_log_errno(LOG_WARNING, r, t, "Failed to encode the result: %m");
                worker_task_fail(t, "States.Runtime", "The worker could not encode the task result");
                r = worker_task_encode_result(t, m->worker_id, &m->proto_limits, &buf, &len);
                if (r < 0) {
                        worker_task_log_errno(LOG_ERR, r, t, "Failed to encode a failure: %m");
                        manager_task_finished(m, t, /* commit= */ true);
                        return;
                }
        }

        if (t->outcome == WORKER_TASK_SUCCEEDED)
                worker_task_log(LOG_INFO, t, "Task succeeded in %.3f s.",
                                (double) (t->finished_usec - t->received_usec) / 1e6);
        else
                worker_task_log(LOG_INFO, t, "Task failed: %s: %s",
                                t->failure.error ? t->failure.error : "?",
                                t->failure.cause ? t->failure.cause : "");

        if (m->metrics) {
                const char *const lo[] = {worker_task_operation(t)};
                (void) metric_counter_add(m->m_msg_bytes_out, lo, (double) len);
        }

        t->delivering = true;
        Delivery *d = NULL;
        r = manager_produce(m, DELIVERY_RESULT, t, m->events_topic, t->task->execution_id, TAKE_PTR(buf),
                            len, &d);
        if (r < 0) {
                /* Cannot be produced at all (over the broker's size limit, no
                 * such topic): commit anyway rather than block the partition;
                 * the coordinator's task timeout applies. */
                worker_task_log_errno(LOG_ERR, r, t, "Failed to produce the result to %s: %m",
                                      m->events_topic);
                t->delivering = false;
                manager_task_finished(m, t, /* commit= */ true);
        }
}

/* ------------------------------------------------------------------ */
/* Delivery reports */

static void on_delivery(KafkaProducer *p, int error, const char *errstr, const char *topic,
                        int32_t partition, int64_t offset, void *msg_opaque, void *userdata) {
        Manager *m = userdata;
        Delivery *d = msg_opaque;

        if (!d)
                return; /* a heartbeat: nothing waits for it */
        if (dead_letters_delivered(m->dead_letters, topic, msg_opaque, error, errstr)) {
                manager_check_drained(m);
                return;
        }

        if (error < 0 && !delivery_error_is_permanent(error) && !m->drained) {
                log_warning("Delivery to %s failed (%s), producing it again in 1 s.", d->topic,
                            errstr ? errstr : "?");
                if (delivery_schedule_retry(d) >= 0)
                        return;
        }

        WorkerTask *t = d->task;
        switch (d->kind) {
        case DELIVERY_RESULT: {
                /* A result that can never be delivered (too large for the
                 * broker, no such topic) is committed anyway: retrying would
                 * block the partition forever, and the coordinator's task
                 * timeout applies. One lost while stopping is not committed:
                 * the task runs again after the restart. */
                bool commit = error >= 0 || !m->drained;
                if (error < 0)
                        worker_task_log(LOG_ERR, t, "Result lost (%s); %s.", errstr ? errstr : "?",
                                        commit ? "committing anyway, the coordinator's timeout applies"
                                               : "not committed, the task will run again");
                if (t->outcome == WORKER_TASK_SUCCEEDED)
                        m->n_done++;
                else
                        m->n_failed++;
                manager_count_task(m, t, worker_task_outcome_to_string(t->outcome));
                delivery_free(d);
                manager_task_finished(m, t, commit);
                break;
        }

        case DELIVERY_NOTIFY:
                if (error < 0)
                        worker_task_fail(t, "Notify.DeliveryFailed", "Publishing to %s failed: %s", d->topic,
                                         errstr ? errstr : "?");
                else {
                        json_t *out = op_notify_result(d->notify_id, d->topic);
                        if (out)
                                worker_task_succeed(t, out);
                        else
                                worker_task_fail(t, "States.Runtime", "out of memory");
                }
                delivery_free(d);
                manager_publish_result(m, t);
                break;
        }
}

/* ------------------------------------------------------------------ */
/* Heartbeats */

static int on_heartbeat(sd_event_source *s, uint64_t usec, void *userdata) {
        WorkerTask *t = userdata;
        Manager *m = t->manager;
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r;

        if (t->task->heartbeat_seconds <= 0) {
                /* No heartbeats asked for: one report that the task started,
                 * for its TaskStarted event, once a thread took it. */
                if (worker_task_started_at_ms(t) == 0) {
                        (void) sd_event_source_set_time_relative(s, WORKER_HEARTBEAT_MIN_MS * 1000);
                        return 0;
                }
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        }
        r = worker_task_encode_heartbeat(t, m->worker_id, &buf, &len);
        if (r >= 0)
                r = kafka_produce_partition(m->producer, m->events_topic, reply_partition(m, t),
                                            t->task->execution_id, buf, len, NULL);
        if (r < 0)
                worker_task_log_errno(LOG_WARNING, r, t, "Failed to send a heartbeat: %m");
        else
                worker_task_log(LOG_DEBUG, t, "Sent a heartbeat.");
        if (t->task->heartbeat_seconds <= 0)
                return 0;

        uint64_t interval_ms = (uint64_t) t->task->heartbeat_seconds * 1000 / 3;
        interval_ms = MIN_(interval_ms, m->heartbeat_interval_ms);
        interval_ms = MAX_(interval_ms, (uint64_t) WORKER_HEARTBEAT_MIN_MS);
        (void) sd_event_source_set_time_relative(s, interval_ms * 1000);
        return 0;
}

/*
 * Heartbeats every heartbeatSeconds / 3 (at most worker.heartbeat_interval)
 * for a task that asked for them. One that did not gets a single heartbeat
 * after worker.heartbeat_interval if it is still running then: the report
 * that it started (startedAtMs), which records its TaskStarted history
 * event while it runs. A shorter task's result reports its start, at no
 * cost of a message of its own.
 */
static int manager_start_heartbeat(Manager *m, WorkerTask *t) {
        uint64_t interval_ms = (uint64_t) t->task->heartbeat_seconds * 1000 / 3;
        if (t->task->heartbeat_seconds <= 0)
                interval_ms = m->heartbeat_interval_ms;
        interval_ms = MIN_(interval_ms, m->heartbeat_interval_ms);
        interval_ms = MAX_(interval_ms, (uint64_t) WORKER_HEARTBEAT_MIN_MS);
        int r = sd_event_add_time_relative(m->event, &t->heartbeat, CLOCK_MONOTONIC, interval_ms * 1000,
                                           /* accuracy= */ 0, on_heartbeat, t);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(t->heartbeat, SD_EVENT_ON);
}

/* ------------------------------------------------------------------ */
/* The pool */

static void pool_run(void *item, void *userdata) {
        Manager *m = userdata;
        worker_task_run(item, &m->env);
}

static void pool_done(void *item, void *userdata) {
        Manager *m = userdata;
        WorkerTask *t = item;

        t->running = false;
        if (t->outcome == WORKER_TASK_EXPIRED) {
                if (task_failure_is_set(&t->failure))
                        worker_task_log(LOG_INFO, t,
                                        "Task stopped at its deadline (%s); not answered: the coordinator "
                                        "times it out.",
                                        t->failure.error);
                else
                        worker_task_log(LOG_INFO, t,
                                        "Task was past its deadline when a thread took it; dropped.");
                m->n_expired++;
                manager_count_task(m, t, "expired");
                manager_task_finished(m, t, /* commit= */ true);
        } else
                manager_publish_result(m, t);
        manager_check_backpressure(m);
}

/* Queued tasks handed back: not run, not committed. */
static void pool_drop(void *item, void *userdata) {
        Manager *m = userdata;
        WorkerTask *t = item;

        t->running = false;
        worker_task_log(LOG_DEBUG, t, "Task handed back without running it.");
        manager_free_task(m, t);
}

static int on_pool_event(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        worker_pool_dispatch(m->pool);
        manager_update_gauges(m);
        return 0;
}

/* ------------------------------------------------------------------ */
/* Messages */

/* Returns 0: the message is handled (its offset is done once the broker has
 * the dead letter). */
static int manager_dead_letter(Manager *m, const KafkaMessage *km, const char *reason) {
        dead_letters_publish(m->dead_letters, km, reason);
        return 0;
}

static void manager_run_notify(Manager *m, WorkerTask *t) {
        _cleanup_free_ char *topic = NULL, *buf = NULL, *id = NULL;
        _cleanup_task_failure_ TaskFailure f = TASK_FAILURE_NULL;
        size_t len;
        int r;

        t->started_at_ms = now_ms(CLOCK_REALTIME);
        r = op_notify_build(t->task, m->prefix, m->notify_topics, &m->proto_limits, &topic, &buf, &len, &id,
                            &f);
        if (r < 0) {
                worker_task_fail(t, f.error ? f.error : "States.Runtime", "%s", f.cause ? f.cause : "");
                manager_publish_result(m, t);
                return;
        }
        Delivery *d = NULL;
        r = manager_produce(m, DELIVERY_NOTIFY, t, topic, t->task->execution_id, TAKE_PTR(buf), len, &d);
        if (r < 0) {
                worker_task_fail(t, "Notify.DeliveryFailed", "Failed to produce to %s: %s", topic,
                                 strerror(-r));
                manager_publish_result(m, t);
                return;
        }
        d->notify_id = TAKE_PTR(id);
        worker_task_log(LOG_DEBUG, t, "Publishing a notification to %s.", topic);
}

static int on_message(KafkaConsumer *k, const KafkaMessage *km, void *userdata) {
        Manager *m = userdata;
        ProtoMessage *msg = NULL;
        _cleanup_free_ char *reason = NULL;
        int r;

        if (m->stopping)
                return 0; /* not taken: left uncommitted for the next owner */

        r = proto_decode(km->payload ? km->payload : "", km->len, &m->proto_limits, &msg, &reason);
        if (r < 0)
                return manager_dead_letter(m, km, reason ? reason : strerror(-r));
        if (msg->type != PROTO_TASK) {
                _cleanup_free_ char *why = NULL;
                if (asprintf(&why, "unexpected message type %s on a tasks topic",
                             proto_type_to_string(msg->type)) < 0)
                        why = NULL;
                proto_message_free(msg);
                return manager_dead_letter(m, km, why ? why : "unexpected message type");
        }

        WorkerTask *t = NULL;
        r = worker_task_new(msg, km->topic, km->partition, km->offset, m->extra, m->n_extra, &t);
        if (r < 0) {
                proto_message_free(msg);
                return manager_dead_letter(m, km, "out of memory taking the task");
        }
        manager_link_task(m, t);
        t->message_bytes = km->len;

        if (worker_task_expired(t, now_ms(CLOCK_REALTIME))) {
                worker_task_log(LOG_INFO, t, "Task is past its deadline (%" PRIi64 "); dropped.",
                                t->task->deadline_ms);
                m->n_expired++;
                t->outcome = WORKER_TASK_EXPIRED;
                manager_count_task(m, t, "expired");
                manager_task_finished(m, t, /* commit= */ true);
                return 0;
        }

        worker_task_log(LOG_DEBUG, t, "Received task %s from %s/%" PRIi32 "@%" PRIi64 ".",
                        worker_task_operation(t), km->topic, km->partition, km->offset);

        if (t->op && !m->flavor->builtin_ops && !(t->op >= m->extra && t->op < m->extra + m->n_extra))
                t->op = NULL; /* a built-in operation: not served by this flavor */
        if (!t->op) {
                worker_task_fail(t, "Worker.UnknownOperation", "No operation '%s' on this worker",
                                 worker_task_operation(t));
                manager_publish_result(m, t);
                return 0;
        }
        if (!t->op->fn) {
                /* Loop operations (only "notify" for now). */
                _cleanup_task_failure_ TaskFailure f = TASK_FAILURE_NULL;
                if (image_ops_validate_params(t->op, t->task->input, &f) < 0) {
                        worker_task_fail(t, f.error ? f.error : "Params.Invalid", "%s",
                                         f.cause ? f.cause : "");
                        manager_publish_result(m, t);
                } else
                        manager_run_notify(m, t);
                return 0;
        }

        r = worker_pool_submit(m->pool, t);
        if (r < 0) {
                worker_task_log_errno(LOG_WARNING, r, t, "Failed to queue the task: %m");
                worker_task_fail(t, "Worker.Overloaded", "The worker could not queue the task: %s",
                                 strerror(-r));
                manager_publish_result(m, t);
                return 0;
        }
        t->running = true;
        r = manager_start_heartbeat(m, t);
        if (r < 0)
                worker_task_log_errno(LOG_WARNING, r, t, "Failed to start heartbeats: %m");
        manager_check_backpressure(m);
        return 0;
}

/* ------------------------------------------------------------------ */
/* Rebalance */

typedef struct RevokeMatch {
        Manager *manager;
        const rd_kafka_topic_partition_list_t *partitions;
} RevokeMatch;

static bool match_revoked(void *item, void *userdata) {
        const RevokeMatch *rm = userdata;
        WorkerTask *t = item;
        for (int i = 0; i < rm->partitions->cnt; i++)
                if (rm->partitions->elems[i].partition == t->partition &&
                    streq(rm->partitions->elems[i].topic, t->topic))
                        return true;
        return false;
}

static void drop_revoked(void *item, void *userdata) {
        const RevokeMatch *rm = userdata;
        WorkerTask *t = item;
        t->running = false;
        worker_task_log(LOG_INFO, t, "Partition revoked; queued task dropped for the next owner.");
        manager_free_task(rm->manager, t);
}

static void on_rebalance(KafkaConsumer *k, KafkaRebalanceEvent ev,
                         const rd_kafka_topic_partition_list_t *partitions, void *userdata) {
        Manager *m = userdata;

        if (ev == KAFKA_REBALANCE_ASSIGNED) {
                log_info("Assigned %d partition(s).", partitions->cnt);
                if (m->paused || m->stopping)
                        (void) kafka_consumer_pause(k, partitions);
                manager_update_status(m);
                return;
        }

        RevokeMatch rm = {m, partitions};
        size_t n = worker_pool_cancel_queued(m->pool, match_revoked, drop_revoked, &rm);
        log_info("%s %d partition(s); dropped %zu queued task(s).",
                 ev == KAFKA_REBALANCE_LOST ? "Lost" : "Revoked", partitions->cnt, n);
        manager_check_backpressure(m);
        /* (the partition count in STATUS= follows with the status timer:
         * librdkafka unassigns them after this callback) */
}

/* ------------------------------------------------------------------ */
/* Stopping */

static void manager_finish(Manager *m) {
        if (m->drained)
                return;
        m->drained = true;
        dead_letters_drain(m->dead_letters);
        int r = kafka_producer_flush(m->producer, WORKER_FLUSH_TIMEOUT_MS);
        if (r < 0)
                log_warning_errno(r, "Failed to flush the producer: %m");
        log_info("Stopped: %" PRIu64 " done, %" PRIu64 " failed, %" PRIu64 " expired, %" PRIu64
                 " dead letters.",
                 m->n_done, m->n_failed, m->n_expired, dead_letters_count(m->dead_letters));
        (void) sd_event_exit(m->event, 0);
}

static void manager_check_drained(Manager *m) {
        if (!m->stopping || m->drained)
                return;
        for (WorkerTask *t = m->tasks; t; t = t->next)
                if (t->running || t->delivering)
                        return;
        if (m->deliveries || dead_letters_pending(m->dead_letters) > 0)
                return; /* a result or dead letter waits for its report */
        manager_finish(m);
}

static int on_drain_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        size_t n = 0;
        for (WorkerTask *t = m->tasks; t; t = t->next)
                if (t->running) {
                        atomic_store(&t->cancel, true);
                        n++;
                }
        log_warning("Shutdown timeout: %zu task(s) still running, %zu result(s) and %zu dead letter(s) "
                    "undelivered; they are left uncommitted and will run again elsewhere.",
                    n, m->n_deliveries, dead_letters_pending(m->dead_letters));
        manager_finish(m);
        return 0;
}

static void manager_stop(void *userdata) {
        Manager *m = userdata;
        int r;

        m->stopping = true;
        if (m->consumer && !m->paused)
                (void) kafka_consumer_pause(m->consumer, NULL);
        size_t n = worker_pool_cancel_queued(m->pool, NULL, NULL, NULL);
        log_info("Stopping: %zu running task(s) may finish, %zu queued task(s) handed back.",
                 worker_pool_running(m->pool), n);
        manager_update_status(m);

        r = sd_event_add_time_relative(m->event, &m->drain_timer, CLOCK_MONOTONIC,
                                       m->shutdown_timeout_ms * 1000, /* accuracy= */ 0, on_drain_timeout,
                                       m);
        if (r < 0)
                log_warning_errno(r, "Failed to arm the shutdown timer: %m");
        manager_check_drained(m);
}

/* ------------------------------------------------------------------ */
/* Manager */

static Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;

        /* Leave the group first: no more messages or rebalances (any that
         * closing still delivers are left uncommitted: stopping). */
        m->stopping = true;
        m->dead_letters = dead_letters_free(m->dead_letters);
        m->consumer = kafka_consumer_free(m->consumer);
        m->ready_timer = sd_event_source_disable_unref(m->ready_timer);
        m->status_timer = sd_event_source_disable_unref(m->status_timer);
        m->drain_timer = sd_event_source_disable_unref(m->drain_timer);
        m->pool_source = sd_event_source_disable_unref(m->pool_source);

        /* Queued and finished tasks come back through pool_drop(); a thread
         * stuck past the timeout keeps its task (left behind on purpose). */
        if (m->pool) {
                for (WorkerTask *t = m->tasks; t; t = t->next)
                        if (t->running)
                                atomic_store(&t->cancel, true);
                worker_pool_free(m->pool, WORKER_JOIN_TIMEOUT_MS);
                m->pool = NULL;
                for (WorkerTask *t = m->tasks; t; t = t->next)
                        if (t->running) {
                                /* A thread is stuck in an operation and still uses
                                 * the storage, limits and its task: freeing them
                                 * would pull them from under it. Results are
                                 * flushed and the consumer is closed; leave now. */
                                log_warning("A task is still running after the shutdown timeout; exiting "
                                            "without it.");
                                _exit(EXIT_SUCCESS);
                        }
        }
        m->producer = kafka_producer_free(m->producer);
        while (m->deliveries)
                delivery_free(m->deliveries);
        for (WorkerTask *t = m->tasks, *next; t; t = next) {
                next = t->next;
                if (!t->running)
                        manager_free_task(m, t);
        }
        if (m->flavor && m->flavor->teardown)
                m->flavor->teardown(m->flavor_data);
        m->metrics = metrics_free(m->metrics);
        m->storage = storage_free(m->storage);
        sd_event_unref(m->event);
        config_free(m->config);
        free(m->prefix);
        strv_free(m->notify_topics);
        free(m->pool_name);
        free(m->group);
        free(m->worker_id);
        free(m->tasks_topic);
        free(m->events_topic);
        free(m->dlq_topic);
        free(m);
        return NULL;
}

static inline void manager_freep(Manager **m) {
        manager_free(*m);
}

static int log_bucket(const char *key, const char *value, void *userdata) {
        Manager *m = userdata;
        if (storage_bucket_kind(m->storage, key) == STORAGE_S3)
                log_info("Bucket %s = %s (S3)", key, value);
        else
                log_info("Bucket %s = %s", key, storage_bucket_root(m->storage, key));
        return 0;
}

/* config is stolen. */
/* worker.notify_topics as a list (notify.h); logged when refused. */
static int notify_topics_from_config(const Config *c, char ***ret) {
        _cleanup_free_ char *error = NULL;
        int r = op_notify_topics_new(config_get_string(c, "worker", "notify_topics"),
                                     config_get_string(c, "imgflow", "topic_prefix"), ret, &error);
        if (r == -ENOMEM)
                return log_oom_();
        if (r < 0)
                return log_error_errno(r, "%sInvalid worker.notify_topics: %s.",
                                       config_where(c, "worker", "notify_topics"),
                                       error ? error : "bad value");
        return 0;
}

static int manager_new(sd_event *e, Config *config, const WorkerFlavor *flavor, const char *instance,
                       Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m) {
                config_free(config);
                return log_oom_();
        }
        m->event = sd_event_ref(e);
        m->config = config;
        m->flavor = flavor;
        const Config *c = config;
        const char *section = flavor->section;

        m->prefix = strdup(config_get_string(c, "imgflow", "topic_prefix"));
        const char *pool = config_get_string(c, section, "pool");
        m->pool_name = isempty(pool) ? NULL : strdup(pool);
        if (!m->prefix || (!isempty(pool) && !m->pool_name))
                return log_oom_();

        r = proto_topic_name(m->prefix, PROTO_TOPIC_TASKS, m->pool_name, &m->tasks_topic);
        if (r < 0)
                return log_error_errno(r, "Invalid topic prefix \"%s\" or pool \"%s\": %m", m->prefix,
                                       strempty(pool));
        if (proto_topic_name(m->prefix, PROTO_TOPIC_EVENTS, NULL, &m->events_topic) < 0 ||
            proto_topic_name(m->prefix, PROTO_TOPIC_DLQ, NULL, &m->dlq_topic) < 0)
                return log_oom_();
        r = notify_topics_from_config(c, &m->notify_topics);
        if (r < 0)
                return r;

        /* One group per pool: "imgflow-workers.gpu" serves imgflow.tasks.gpu. */
        const char *group = config_get_string(c, section, "group");
        if (m->pool_name && streq(group, "imgflow-workers"))
                r = asprintf(&m->group, "%s.%s", group, m->pool_name);
        else
                r = (m->group = strdup(group)) ? 0 : -1;
        if (r < 0)
                return log_oom_();

        const char *id = config_get_string(c, section, "id");
        char host[256] = "localhost";
        (void) gethostname(host, sizeof(host) - 1);
        if (!isempty(id))
                m->worker_id = strdup(id);
        else if (!isempty(instance))
                r = asprintf(&m->worker_id, "%s:%s", host, instance);
        else
                r = asprintf(&m->worker_id, "%s:%d", host, (int) getpid());
        if (r < 0 || !m->worker_id)
                return log_oom_();

        unsigned flavor_threads = 0;
        if (flavor->setup) {
                r = flavor->setup(c, &m->flavor_data, &m->extra, &m->n_extra, &flavor_threads);
                if (r < 0)
                        return r;
        } else
                m->extra = op_notify_table(&m->n_extra);
        int64_t threads =
                flavor_threads > 0 ? (int64_t) flavor_threads : config_get_int(c, "worker", "threads");
        if (threads <= 0) {
                long n = sysconf(_SC_NPROCESSORS_ONLN);
                threads = n > 0 ? n : 1;
        }
        if (threads > WORKER_POOL_THREADS_MAX)
                return log_error_errno(-EINVAL, "%sworker.threads = %" PRIi64 " is over the limit of %d.",
                                       config_where(c, "worker", "threads"), threads,
                                       WORKER_POOL_THREADS_MAX);
        m->threads = (unsigned) threads;
        int64_t max_in_flight = config_get_int(c, "worker", "max_in_flight");
        m->pause_above =
                max_in_flight > 0 ? (size_t) max_in_flight : MAX_(4 * (size_t) m->threads, (size_t) 8);
        m->resume_below = MAX_(m->pause_above / 2, (size_t) 1);
        m->heartbeat_interval_ms = MAX_(config_get_duration_ms(c, "worker", "heartbeat_interval"),
                                        (uint64_t) WORKER_HEARTBEAT_MIN_MS);
        m->shutdown_timeout_ms = MAX_(config_get_duration_ms(c, "worker", "shutdown_timeout"), (uint64_t) 1);

        op_limits_init_default(&m->limits);
        int64_t max_pixels = config_get_int(c, "worker", "max_pixels");
        if (max_pixels > 0)
                m->limits.max_pixels = (uint64_t) max_pixels;
        uint64_t max_bytes = config_get_size(c, "worker", "max_bytes");
        if (max_bytes > 0)
                m->limits.max_input_bytes = max_bytes;
        m->proto_limits.max_payload_bytes = (size_t) config_get_size(c, "imgflow", "payload_limit");

        r = storage_new(&m->storage);
        if (r < 0)
                return log_oom_();
        _cleanup_free_ char *bucket_error = NULL;
        r = storage_add_from_config(m->storage, c, environ, &bucket_error);
        if (r == -ENOMEM)
                return log_oom_();
        if (r < 0)
                return log_error_errno(r, "%s", bucket_error ? bucket_error : "Failed to add the buckets");
        r = config_foreach_in_section(c, "buckets", log_bucket, m);
        if (r < 0)
                return r;
        m->env = (WorkerRunEnv){.storage = m->storage, .limits = &m->limits, .userdata = m->flavor_data};

        r = manager_setup_metrics(m);
        if (r < 0)
                return r;

        r = worker_pool_new(m->threads, pool_run, pool_done, pool_drop, m, &m->pool);
        if (r < 0)
                return log_error_errno(r, "Failed to start %u threads: %m", m->threads);
        r = sd_event_add_io(e, &m->pool_source, worker_pool_get_fd(m->pool), EPOLLIN, on_pool_event, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the thread pool: %m");

        r = kafka_producer_new(e, c, on_delivery, m, &m->producer);
        if (r < 0)
                return log_error_errno(r, "Failed to create the Kafka producer: %m");
        char *topics[] = {m->tasks_topic, NULL};
        r = kafka_consumer_new(e, c, m->group, topics, on_message, on_rebalance, m, &m->consumer);
        if (r < 0)
                return log_error_errno(r, "Failed to create the Kafka consumer: %m");
        r = dead_letters_new(e, m->producer, m->consumer, m->dlq_topic, &m->dead_letters);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the dead-letter publisher: %m");
        dead_letters_set_metric(m->dead_letters, m->m_dlq);

        (void) sd_event_now(e, CLOCK_MONOTONIC, &m->start_usec);
        r = sd_event_add_time_relative(e, &m->ready_timer, CLOCK_MONOTONIC, 0, /* accuracy= */ 0,
                                       on_ready_timer, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add a timer: %m");
        (void) sd_event_source_set_enabled(m->ready_timer, SD_EVENT_ON);
        r = sd_event_add_time_relative(e, &m->status_timer, CLOCK_MONOTONIC, WORKER_STATUS_USEC,
                                       /* accuracy= */ 0, on_status_timer, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add a timer: %m");
        (void) sd_event_source_set_enabled(m->status_timer, SD_EVENT_ON);

        *ret = TAKE_PTR(m);
        return 0;
}

/* ------------------------------------------------------------------ */
/* Command line */

static void help(const WorkerFlavor *flavor) {
        printf("%s [OPTIONS...]\n\n"
               "%s\n\n"
               "  -h --help                    Show this help\n"
               "     --version                 Show the version\n"
               "  -c --config=FILE             Configuration file (default $IMGFLOW_CONFIG, else %s)\n"
               "     --check-config            Check the configuration (file, environment, flags)\n"
               "                               and exit: 0 if it is valid\n"
               "     --instance=N              Instance name (worker id hostname:N)\n"
               "     --pool=NAME               %s\n"
               "     --threads=N               %s\n"
               "     --kafka-bootstrap=H:P     Kafka bootstrap servers (kafka.bootstrap.servers)\n"
               "%s"
               "     --log-level=LEVEL         debug, info, notice, warning, err\n"
               "     --log-target=TARGET       auto, journal, console\n",
               program_invocation_short_name, flavor->description, config_default_path(),
               flavor->pool_option, flavor->threads_option,
               /* only the built-in operations read and write buckets */
               flavor->builtin_ops
                       ? "     --bucket=NAME=/DIR        Map a storage bucket (buckets.NAME), repeatable\n"
                       : "");
}

enum {
        ARG_VERSION = 0x100,
        ARG_INSTANCE,
        ARG_POOL,
        ARG_THREADS,
        ARG_KAFKA_BOOTSTRAP,
        ARG_BUCKET,
        ARG_LOG_LEVEL,
        ARG_LOG_TARGET,
        ARG_CHECK_CONFIG,
};

/* What parse_argv() found besides the configuration (borrowed from argv). */
typedef struct WorkerArgs {
        const char *instance;
} WorkerArgs;

/* The buckets as manager_new() will add them: directories opened, S3
 * settings and credentials read (no request is made). */
static int check_buckets(const Config *c) {
        _cleanup_storage_ Storage *s = NULL;
        _cleanup_free_ char *error = NULL;
        int r = storage_new(&s);
        if (r < 0)
                return log_oom_();
        r = storage_add_from_config(s, c, environ, &error);
        if (r < 0)
                return log_error_errno(r, "%s", error ?: "Failed to add the buckets");
        return 0;
}

/* --check-config: limits, topic names, the metrics address, the buckets
 * and the Kafka properties (librdkafka checks them) as manager_new() will,
 * without connecting to Kafka or S3. Returns 0 or -EINVAL (logged, naming
 * the file and line). */
static int check_config(const Config *c, const WorkerFlavor *flavor) {
        int64_t threads = config_get_int(c, "worker", "threads");
        const char *pool = config_get_string(c, flavor->section, "pool");
        _cleanup_free_ char *topic = NULL;
        const char *listen = config_get_string(c, flavor->section, "metrics_listen");

        if (!isempty(listen)) {
                _cleanup_free_ char *reason = NULL;
                int r = metrics_check_address(listen, &reason);
                if (r < 0)
                        return log_error_errno(r, "%sInvalid %s.metrics_listen \"%s\": %s",
                                               config_where(c, flavor->section, "metrics_listen"),
                                               flavor->section, listen, reason ?: "out of memory");
        }
        if (threads > WORKER_POOL_THREADS_MAX)
                return log_error_errno(-EINVAL, "%sworker.threads = %" PRIi64 " is over the limit of %d.",
                                       config_where(c, "worker", "threads"), threads,
                                       WORKER_POOL_THREADS_MAX);
        if (proto_topic_name(config_get_string(c, "imgflow", "topic_prefix"), PROTO_TOPIC_TASKS,
                             isempty(pool) ? NULL : pool, &topic) < 0)
                return log_error_errno(-EINVAL, "Invalid imgflow.topic_prefix \"%s\" or %s.pool \"%s\".",
                                       config_get_string(c, "imgflow", "topic_prefix"), flavor->section,
                                       pool);
        if (flavor->check_config) {
                int r = flavor->check_config(c);
                if (r < 0)
                        return r;
        }
        _cleanup_strv_free_ char **notify_topics = NULL;
        int k = notify_topics_from_config(c, &notify_topics);
        if (k < 0)
                return k;
        k = check_buckets(c);
        if (k < 0)
                return k;
        for (size_t i = 0; i < 2; i++) {
                _cleanup_free_ char *error = NULL;
                rd_kafka_conf_t *conf = NULL;
                int r = kafka_conf_from_config(c, i == 0 ? "producer" : "consumer", NULL, &conf, &error);
                if (r < 0)
                        return log_error_errno(r, "%s", error ? error : "Invalid Kafka property");
                rd_kafka_conf_destroy(conf);
        }
        return 0;
}

/* Returns 0 to run, 1 to exit successfully (--help, --check-config), <0 on
 * error. *ret_config: new; *ret_args: borrowed from argv; config_args:
 * where the configuration came from, kept for reloads. */
static int parse_argv(int argc, char **argv, const WorkerFlavor *flavor, DaemonConfigArgs *config_args,
                      Config **ret_config, WorkerArgs *ret_args) {
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, ARG_VERSION},
                {"config", required_argument, NULL, 'c'},
                {"instance", required_argument, NULL, ARG_INSTANCE},
                {"pool", required_argument, NULL, ARG_POOL},
                {"threads", required_argument, NULL, ARG_THREADS},
                {"kafka-bootstrap", required_argument, NULL, ARG_KAFKA_BOOTSTRAP},
                {"bucket", required_argument, NULL, ARG_BUCKET},
                {"log-level", required_argument, NULL, ARG_LOG_LEVEL},
                {"log-target", required_argument, NULL, ARG_LOG_TARGET},
                {"check-config", no_argument, NULL, ARG_CHECK_CONFIG},
                {},
        };
        _cleanup_(config_freep) Config *config = NULL;
        _cleanup_free_ char *error = NULL;
        const char *instance = NULL;
        bool check = false;
        int c, r;

        while ((c = getopt_long(argc, argv, "hc:", options, NULL)) >= 0) {
                r = 0;
                switch (c) {
                case 'h':
                        help(flavor);
                        return 1;
                case ARG_VERSION:
                        printf("%s %s\n", flavor->program, IMGFLOW_VERSION);
                        return 1;
                case 'c':
                        config_args->config_path = optarg;
                        break;
                case ARG_INSTANCE:
                        instance = optarg;
                        break;
                case ARG_POOL:
                        r = daemon_config_args_add(config_args, "--pool", flavor->section, "pool", optarg);
                        break;
                case ARG_THREADS:
                        r = daemon_config_args_add(config_args, "--threads", "worker", "threads", optarg);
                        break;
                case ARG_KAFKA_BOOTSTRAP:
                        r = daemon_config_args_add(config_args, "--kafka-bootstrap", "kafka",
                                                   "bootstrap.servers", optarg);
                        break;
                case ARG_BUCKET: {
                        _cleanup_free_ char *name = NULL;
                        char *eq = strchr(optarg, '=');
                        if (!flavor->builtin_ops)
                                return log_error_errno(-EINVAL,
                                                       "%s has no --bucket: its handlers reach buckets "
                                                       "through the S3 API (%s.s3_endpoint).",
                                                       flavor->program, flavor->section);
                        if (!eq || eq == optarg || !eq[1])
                                return log_error_errno(-EINVAL, "--bucket expects NAME=/DIR, not \"%s\".",
                                                       optarg);
                        name = strndup(optarg, (size_t) (eq - optarg));
                        if (!name)
                                return log_oom_();
                        r = daemon_config_args_add(config_args, "--bucket", "buckets", name, eq + 1);
                        break;
                }
                case ARG_LOG_LEVEL:
                        r = daemon_config_args_add(config_args, "--log-level", "imgflow", "log_level",
                                                   optarg);
                        break;
                case ARG_LOG_TARGET:
                        r = daemon_config_args_add(config_args, "--log-target", "imgflow", "log_target",
                                                   optarg);
                        break;
                case ARG_CHECK_CONFIG:
                        check = true;
                        break;
                case '?':
                        return -EINVAL;
                default:
                        return -EINVAL;
                }
                if (r == -E2BIG)
                        return log_error_errno(r, "Too many options.");
                if (r < 0)
                        return log_oom_();
        }
        if (optind < argc)
                return log_error_errno(-EINVAL, "Unexpected argument \"%s\".", argv[optind]);

        r = daemon_config_load(config_args, environ, &config, &error);
        if (r < 0)
                return log_error_errno(r, "%s", error ? error : "Failed to load the configuration");
        r = daemon_config_apply_log(config);
        if (r < 0)
                return log_error_errno(r, "Failed to set up logging: %m");

        if (check) {
                r = check_config(config, flavor);
                if (r < 0)
                        return r;
                (void) daemon_config_warn_secrets(config_args, config, /* redis_allowed= */ false);
                daemon_config_print_valid(config_args);
                return 1;
        }

        *ret_config = TAKE_PTR(config);
        *ret_args = (WorkerArgs){
                .instance = instance,
        };
        return 0;
}

/* libvips (and GLib) warn through g_log, from any thread: "VIPS-WARNING: IDAT:
 * incorrect header check" for each corrupt image. The failure already reaches
 * the task's result, so these go to our log at debug level (errors and
 * criticals stay warnings) instead of stderr. log_*() is thread-safe. */
static void on_glib_log(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer userdata) {
        int l = (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) ? LOG_WARNING : LOG_DEBUG;
        log_full(l, "%s: %s", domain ? domain : "glib", message ? message : "");
}

/* userdata: the Manager ** of run(); signals arrive only inside
 * sd_event_loop(), when the manager exists. */
static void on_stop_signal(void *userdata) {
        Manager **m = userdata;
        if (*m)
                manager_stop(*m);
}

/* SIGHUP (service.c sends RELOADING=1 before and READY=1 after): the
 * configuration is loaded again as at start, and the log level applied
 * (daemon/daemon-config.h says what else needs a restart). */
static void on_reload_signal(void *userdata) {
        Manager **mp = userdata, *m = *mp;

        if (!m)
                return;
        (void) daemon_config_reload(m->config_args, environ, NULL);
}

static int run(int argc, char **argv, const WorkerFlavor *flavor) {
        _cleanup_(daemon_config_args_done) DaemonConfigArgs config_args = {};
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(manager_freep) Manager *m = NULL;
        Config *config = NULL;
        WorkerArgs args = {};
        int r;

        log_setup(flavor->program);

        r = parse_argv(argc, argv, flavor, &config_args, &config, &args);
        if (r != 0)
                return r < 0 ? r : 0;

        r = sd_event_default(&e);
        if (r < 0) {
                config_free(config);
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        }
        /* Signals must be blocked before the pool's threads start. */
        r = service_setup(e, on_stop_signal, on_reload_signal, &m);
        if (r < 0) {
                config_free(config);
                return log_error_errno(r, "Failed to set up signals and the watchdog: %m");
        }

        g_log_set_default_handler(on_glib_log, NULL);
        (void) g_log_set_handler("VIPS", G_LOG_LEVEL_MASK | G_LOG_FLAG_FATAL | G_LOG_FLAG_RECURSION,
                                 on_glib_log, NULL);

        /* Parallelism comes from the pool: one libvips thread per operation. */
        r = image_ops_init(/* concurrency= */ 1);
        if (r < 0) {
                config_free(config);
                return log_error_errno(r, "Failed to initialise libvips: %m");
        }

        r = manager_new(e, config, flavor, args.instance, &m);
        if (r < 0)
                return r;
        m->config_args = &config_args;

        r = sd_event_loop(e);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return 0;
}

int worker_daemon_main(int argc, char **argv, const WorkerFlavor *flavor) {
        int r = run(argc, argv, flavor);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
