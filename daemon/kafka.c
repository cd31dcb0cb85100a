/* SPDX-License-Identifier: MIT */
/*
 * librdkafka on sd-event; the one boundary file for librdkafka (STYLE 5).
 * See kafka.h for the design.
 *
 * KafkaLoop is the part both clients share: the pipe librdkafka signals,
 * the io source on it, a defer source to continue a drain that hit
 * KAFKA_DRAIN_BATCH, and a safety-net timer. The drain function is the
 * client's: rd_kafka_poll() for the producer (delivery reports, logs,
 * errors), rd_kafka_consumer_poll() for the consumer (messages, rebalances,
 * commit results, logs, errors; its main queue is forwarded into the
 * consumer queue by rd_kafka_poll_set_consumer()).
 *
 * Commits are batched: kafka_consumer_done() records the committable offset
 * of the partition in `pending` and arms a one-shot timer that sends one
 * async commit for everything finished meanwhile, auto.commit.interval.ms
 * later (librdkafka's own property, read back from the configuration; its
 * auto commit itself stays off). Each commit is an OffsetCommit round trip
 * through librdkafka's main and broker threads and back into this loop: one
 * per loop pass cost more wakeups than the messages themselves. The interval
 * only bounds what a crash makes run again (at least once, as always): a
 * revoke sends what is pending at once, and closing sends it synchronously.
 *
 * Resume: librdkafka 2.0.2 handles rd_kafka_resume_partitions() on its main
 * thread without waking the broker threads; a broker thread whose
 * partitions were all paused sleeps until its next wakeup (up to 1 s, or the
 * next metadata refresh), so the first fetch after a resume came that late.
 * A seek does wake them. The consumer therefore remembers, per partition,
 * the offset after the last message it handed out (`positions`) and, right
 * after resuming, seeks each resumed partition to it: the fetch restarts at
 * once from exactly the next message. The order matters: a seek served
 * before the resume wakes the broker thread while the partition is still
 * paused, and it goes back to sleep. librdkafka's main thread serves the two
 * back to back; a fetch in between could only hand out the same messages
 * again (at least once, as always). rd_kafka_position() cannot replace
 * `positions`: a seek resets it until the next message arrives. Partitions
 * with no message since their assignment are resumed without a seek.
 *
 * Assignor: "range" (eager), not "cooperative-sticky". librdkafka before
 * 2.3.0 (Debian 12 ships 2.0.2) aborts in rd_kafka_destroy() when a
 * cooperative-sticky consumer is destroyed after its JoinGroup but before
 * its first assignment (rd_kafka_sticky_assignor_state_destroy: Assertion
 * `assignor_state' failed; librdkafka issue 4312, fixed in 2.3.0): a daemon
 * stopped around its first group join (after the JoinGroup answer, before
 * the first SyncGroup answer) died with SIGABRT after "Stopped" (4 of 20
 * stops at a random moment of the first 3 s against the mock cluster). The
 * range assignor keeps no assignor state. The price of an eager protocol:
 * every rebalance revokes all partitions of every member, which drops
 * queued tasks and re-delivers in-flight messages of partitions that could
 * have stayed (at least once, as always). A consumer configured with
 * cooperative-sticky on an older librdkafka gets a warning at start.
 * docs/operations-guide.md says the same for operators.
 *
 * Settling: a consumer that joined (or whose partitions were revoked or
 * lost) and got no assignment within [imgflow] group_settle_timeout says so
 * (a warning, kafka_consumer_unsettled_usec() for STATUS= and metrics) and
 * joins the group again as a new member, every bound, until an assignment
 * (maybe an empty one) arrives. Seen with librdkafka 2.0.2 against the mock
 * cluster (tests/integration/chaos/settle.py): a consumer started while the
 * broker was stopped (SIGSTOP) never got an assignment while the rest of
 * its group settled without it, and in 1 of 4 runs no worker at all did; a
 * coordinator in that state never became ready, and every execution stayed
 * RUNNING. Leaving and joining with the same client (unsubscribe,
 * subscribe) did not help there: 8 rejoins in 120 s, no assignment. What
 * does is a new client: the handle is destroyed without a consumer close
 * (it has no partitions to commit or hand back, and a close would wait for
 * a group coordinator that does not answer) and created again from a copy
 * of its configuration, on the same queue pipe, and subscribes again.
 */

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <time.h>

#include "clock.h"
#include "kafka.h"
#include "log.h"
#include "offsets.h"

#define KAFKA_SAFETY_POLL_USEC (250 * 1000ULL)
#define KAFKA_COMMIT_INTERVAL_MS "100" /* default of auto.commit.interval.ms */
#define KAFKA_ASSIGNOR "range"         /* see the top of the file */
#define KAFKA_STICKY_FIXED_VERSION 0x020300ff /* librdkafka 2.3.0 */

typedef struct KafkaLoop {
        sd_event *event;
        int pipe[2];
        sd_event_source *io, *defer, *timer;
        /* Serves up to `max` events; returns how many. */
        size_t (*drain)(void *client, size_t max);
        void *client;
} KafkaLoop;

struct KafkaProducer {
        KafkaLoop loop;
        rd_kafka_t *rk;
        rd_kafka_queue_t *queue;
        KafkaDeliveryFn dr;
        void *userdata;
};

struct KafkaConsumer {
        KafkaLoop loop;
        rd_kafka_t *rk;
        rd_kafka_queue_t *queue;
        KafkaMessageFn on_msg;
        KafkaRebalanceFn on_rebalance;
        void *userdata;
        OffsetTracker *offsets;
        rd_kafka_topic_partition_list_t *pending; /* commits not yet sent */
        rd_kafka_topic_partition_list_t *positions; /* next offset to hand out, per partition */
        sd_event_source *commit_timer;
        uint64_t commit_interval_usec;
        /* Settling (see the top of the file). */
        rd_kafka_conf_t *conf; /* a copy, for a new client */
        rd_kafka_topic_partition_list_t *subscription;
        char *group_id;
        sd_event_source *settle_timer;
        uint64_t settle_usec;     /* the bound; 0 = never rejoin */
        uint64_t unsettled_since; /* CLOCK_MONOTONIC; 0 = settled */
        uint64_t rejoins;
        bool paused_all;
        bool closing;
};

int kafka_errno(rd_kafka_resp_err_t err) {
        switch (err) {
        case RD_KAFKA_RESP_ERR_NO_ERROR:
                return 0;
        case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
        case RD_KAFKA_RESP_ERR__TIMED_OUT:
        case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
                return -ETIMEDOUT;
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
                return -EMSGSIZE;
        case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
        case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
                return -ENOENT;
        case RD_KAFKA_RESP_ERR__QUEUE_FULL:
                return -ENOBUFS;
        case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
                return -ENOTCONN;
        case RD_KAFKA_RESP_ERR__TRANSPORT:
                return -ECONNRESET;
        case RD_KAFKA_RESP_ERR__INVALID_ARG:
                return -EINVAL;
        case RD_KAFKA_RESP_ERR__FATAL:
                return -ENOTRECOVERABLE;
        case RD_KAFKA_RESP_ERR__DESTROY:
                return -ECANCELED;
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR__AUTHENTICATION:
                return -EACCES;
        default:
                return -EIO;
        }
}

/* ------------------------------------------------------------ conf */

typedef struct ConfSetCtx {
        rd_kafka_conf_t *conf;
        const char *section;
        char **ret_error;
        int r;
} ConfSetCtx;

static int conf_set_one(const char *key, const char *value, void *userdata) {
        ConfSetCtx *ctx = userdata;
        char errstr[512];

        if (rd_kafka_conf_set(ctx->conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
                if (ctx->ret_error) {
                        free(*ctx->ret_error);
                        if (asprintf(ctx->ret_error, "%s.%s: %s", ctx->section, key, errstr) < 0)
                                *ctx->ret_error = NULL;
                }
                return ctx->r = -EINVAL;
        }
        return 0;
}

int kafka_conf_from_config(const Config *c, const char *role, const char *const *defaults,
                           rd_kafka_conf_t **ret, char **ret_error) {
        _cleanup_(rd_kafka_conf_destroyp) rd_kafka_conf_t *conf = NULL;
        char section[64];
        ConfSetCtx ctx = { .ret_error = ret_error };
        int r;

        conf = rd_kafka_conf_new();
        if (!conf)
                return -ENOMEM;
        ctx.conf = conf;

        ctx.section = "(default)";
        for (size_t i = 0; defaults && defaults[i]; i += 2) {
                r = conf_set_one(defaults[i], defaults[i + 1], &ctx);
                if (r < 0)
                        return r;
        }
        ctx.section = "kafka";
        r = config_foreach_in_section(c, "kafka", conf_set_one, &ctx);
        if (r < 0)
                return r;
        if (role) {
                snprintf(section, sizeof(section), "kafka.%s", role);
                ctx.section = section;
                r = config_foreach_in_section(c, section, conf_set_one, &ctx);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(conf);
        return 0;
}

/* Callbacks common to both clients. They run on the loop thread: logs are
 * queued (log.queue=true) and errors are served by the poll. */
static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
        /* librdkafka logs routine trouble (a broker connection refused) at
         * LOG_ERR; errors that matter reach us through error_cb and the
         * delivery reports, so its log lines are warnings at most. A failed
         * connection ("FAIL") is error_cb's _TRANSPORT too: logged there. */
        if (streq(fac, "FAIL"))
                level = LOG_DEBUG;
        log_full(level < LOG_WARNING ? LOG_WARNING : level > LOG_DEBUG ? LOG_DEBUG : level,
                 "rdkafka %s %s: %s", rd_kafka_name(rk), fac, buf);
}

/* A fatal error leaves the client unusable: an idempotent producer whose
 * sequence the broker no longer accepts (librdkafka: "the application must
 * terminate or recreate the instance"), or a fenced static group member.
 * The daemon ends its event loop with an error and exits non-zero; systemd
 * (Restart=on-failure) starts it again, with a new producer id. Nothing is
 * lost: what was not acknowledged is still in the outbox, or not committed. */
static void kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
        if (err == RD_KAFKA_RESP_ERR__FATAL) {
                KafkaLoop *l = opaque; /* the first member of KafkaProducer and KafkaConsumer */
                char fatal[512];
                rd_kafka_resp_err_t ferr = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
                log_error("Kafka client %s: fatal error %s: %s; exiting", rd_kafka_name(rk),
                          rd_kafka_err2name(ferr), fatal);
                if (l && l->event)
                        (void) sd_event_exit(l->event, -ENOTRECOVERABLE);
                return;
        }
        /* Brokers going up and down is routine; librdkafka retries, with
         * its reconnect backoff (reconnect.backoff.ms doubling up to
         * reconnect.backoff.max.ms). One line per failed attempt per
         * broker: the producer's. The consumer connects to the same
         * brokers and says the same; "all brokers are down" follows from
         * the lines before it. Both stay at debug level. */
        if (err == RD_KAFKA_RESP_ERR__TRANSPORT && rd_kafka_type(rk) == RD_KAFKA_PRODUCER) {
                log_warning("Cannot connect to Kafka: %s; retrying", reason);
                return;
        }
        log_full(err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__TRANSPORT ? LOG_DEBUG
                                                                                                   : LOG_NOTICE,
                 "Kafka client %s: %s: %s", rd_kafka_name(rk), rd_kafka_err2name((rd_kafka_resp_err_t) err),
                 reason);
}

/* ------------------------------------------------------------ loop */

static int loop_run(KafkaLoop *l) {
        size_t n = l->drain(l->client, KAFKA_DRAIN_BATCH);
        if (n >= KAFKA_DRAIN_BATCH)
                /* More may be waiting: continue on the next iteration, after
                 * other sources had their turn. */
                return sd_event_source_set_enabled(l->defer, SD_EVENT_ONESHOT);
        return 0;
}

static int on_loop_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        char buf[256];

        while (read(fd, buf, sizeof(buf)) > 0)
                ;
        return loop_run(userdata);
}

static int on_loop_defer(sd_event_source *s, void *userdata) {
        return loop_run(userdata);
}

static int on_loop_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        KafkaLoop *l = userdata;
        int r;

        r = sd_event_source_set_time_relative(s, KAFKA_SAFETY_POLL_USEC);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        return loop_run(l);
}

static int loop_init(KafkaLoop *l, sd_event *e, rd_kafka_queue_t *q,
                     size_t (*drain)(void *, size_t), void *client) {
        int r;

        l->drain = drain;
        l->client = client;
        l->pipe[0] = l->pipe[1] = -1;
        if (pipe2(l->pipe, O_NONBLOCK | O_CLOEXEC) < 0)
                return -errno;
        rd_kafka_queue_io_event_enable(q, l->pipe[1], "1", 1);

        r = sd_event_add_io(e, &l->io, l->pipe[0], EPOLLIN, on_loop_io, l);
        if (r < 0)
                return r;
        r = sd_event_add_defer(e, &l->defer, on_loop_defer, l);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(l->defer, SD_EVENT_OFF);
        if (r < 0)
                return r;
        r = sd_event_add_time_relative(e, &l->timer, CLOCK_MONOTONIC, KAFKA_SAFETY_POLL_USEC,
                                       0, on_loop_timer, l);
        if (r < 0)
                return r;
        l->event = sd_event_ref(e);
        return 0;
}

static void loop_done(KafkaLoop *l, rd_kafka_queue_t *q) {
        if (q && l->pipe[1] >= 0)
                rd_kafka_queue_io_event_enable(q, -1, NULL, 0);
        l->io = sd_event_source_disable_unref(l->io);
        l->defer = sd_event_source_disable_unref(l->defer);
        l->timer = sd_event_source_disable_unref(l->timer);
        if (l->pipe[0] >= 0)
                close(l->pipe[0]);
        if (l->pipe[1] >= 0)
                close(l->pipe[1]);
        l->pipe[0] = l->pipe[1] = -1;
        l->event = sd_event_unref(l->event);
}

/* ------------------------------------------------------------ producer */

static void producer_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
        KafkaProducer *p = opaque;
        const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
        int error = kafka_errno(m->err);
        const char *errstr = m->err ? rd_kafka_err2str(m->err) : NULL;

        if (!p->dr) {
                if (error < 0)
                        log_warning("Kafka delivery to %s failed: %s", topic, errstr);
                return;
        }
        p->dr(p, error, errstr, topic, error < 0 ? -1 : m->partition, error < 0 ? -1 : m->offset,
              m->_private, p->userdata);
}

static size_t producer_drain(void *client, size_t max) {
        KafkaProducer *p = client;
        size_t n = 0;

        while (n < max) {
                int k = rd_kafka_poll(p->rk, 0);
                if (k <= 0)
                        break;
                n += (size_t) k;
        }
        return n;
}

int kafka_producer_new(sd_event *e, const Config *c, KafkaDeliveryFn dr, void *userdata,
                       KafkaProducer **ret) {
        static const char *const defaults[] = {
                "enable.idempotence", "true",
                "acks", "all",
                "client.id", "imgflow",
                NULL,
        };
        _cleanup_(kafka_producer_freep) KafkaProducer *p = NULL;
        _cleanup_(rd_kafka_conf_destroyp) rd_kafka_conf_t *conf = NULL;
        _cleanup_free_ char *error = NULL;
        char errstr[512];
        int r;

        if (!e || !c || !ret)
                return -EINVAL;
        p = calloc(1, sizeof(KafkaProducer));
        if (!p)
                return -ENOMEM;
        p->loop.pipe[0] = p->loop.pipe[1] = -1;
        p->dr = dr;
        p->userdata = userdata;

        r = kafka_conf_from_config(c, "producer", defaults, &conf, &error);
        if (r < 0)
                return log_error_errno(r, "Bad Kafka producer setting %s", strempty(error));
        if (rd_kafka_conf_set(conf, "log.queue", "true", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
                return log_error_errno(-EINVAL, "Kafka: log.queue: %s", errstr);
        rd_kafka_conf_set_dr_msg_cb(conf, producer_dr_cb);
        rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
        rd_kafka_conf_set_error_cb(conf, kafka_error_cb);
        rd_kafka_conf_set_opaque(conf, p);

        p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!p->rk)
                return log_error_errno(-EINVAL, "Failed to create Kafka producer: %s", errstr);
        conf = NULL; /* owned by rk now */

        (void) rd_kafka_set_log_queue(p->rk, NULL); /* logs -> main queue */
        p->queue = rd_kafka_queue_get_main(p->rk);
        r = loop_init(&p->loop, e, p->queue, producer_drain, p);
        if (r < 0)
                return log_error_errno(r, "Failed to hook Kafka producer into the event loop: %m");

        *ret = TAKE_PTR(p);
        return 0;
}

KafkaProducer *kafka_producer_free(KafkaProducer *p) {
        if (!p)
                return NULL;
        loop_done(&p->loop, p->queue);
        if (p->queue)
                rd_kafka_queue_destroy(p->queue);
        if (p->rk) {
                /* No delivery reports after free: drop the callback. */
                p->dr = NULL;
                rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
                rd_kafka_destroy(p->rk);
        }
        free(p);
        return NULL;
}

int kafka_produce(KafkaProducer *p, const char *topic, const char *key, const void *buf,
                  size_t len, void *msg_opaque) {
        return kafka_produce_partition(p, topic, KAFKA_PARTITION_BY_KEY, key, buf, len, msg_opaque);
}

int kafka_produce_partition(KafkaProducer *p, const char *topic, int32_t partition, const char *key,
                            const void *buf, size_t len, void *msg_opaque) {
        rd_kafka_resp_err_t err;

        if (!p || !topic || (!buf && len > 0) || partition < KAFKA_PARTITION_BY_KEY)
                return -EINVAL;
        err = rd_kafka_producev(
                p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                RD_KAFKA_V_KEY(key, key ? strlen(key) : 0), RD_KAFKA_V_VALUE((void *) buf, len),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
        return kafka_errno(err);
}

int kafka_producer_flush(KafkaProducer *p, int timeout_ms) {
        rd_kafka_resp_err_t err = rd_kafka_flush(p->rk, timeout_ms);
        /* Serve what flush left in the queue (delivery reports). */
        (void) producer_drain(p, SIZE_MAX);
        return err ? kafka_errno(err) : 0;
}

int kafka_producer_outq_len(KafkaProducer *p) {
        return rd_kafka_outq_len(p->rk);
}

rd_kafka_t *kafka_producer_handle(KafkaProducer *p) {
        return p->rk;
}

/* ------------------------------------------------------------ consumer */

static int consumer_flush_commits(KafkaConsumer *k, bool async) {
        rd_kafka_resp_err_t err;

        if (!k->pending || k->pending->cnt == 0)
                return 0;
        err = rd_kafka_commit(k->rk, k->pending, async);
        rd_kafka_topic_partition_list_destroy(k->pending);
        k->pending = NULL;
        if (err)
                log_warning("Kafka commit failed: %s", rd_kafka_err2str(err));
        return kafka_errno(err);
}

static int on_commit_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) consumer_flush_commits(userdata, /* async= */ 1);
        return 0;
}

static void consumer_offset_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                      rd_kafka_topic_partition_list_t *offsets, void *opaque) {
        if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
                return;
        if (err) {
                log_warning("Kafka offset commit failed: %s", rd_kafka_err2str(err));
                return;
        }
        for (int i = 0; offsets && i < offsets->cnt; i++)
                if (offsets->elems[i].err)
                        log_warning("Kafka offset commit of %s[%d]@%lld failed: %s",
                                    offsets->elems[i].topic, (int) offsets->elems[i].partition,
                                    (long long) offsets->elems[i].offset,
                                    rd_kafka_err2str(offsets->elems[i].err));
}

static void log_rk_error(rd_kafka_error_t *error, const char *what) {
        if (!error)
                return;
        log_error("Kafka %s failed: %s", what, rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
}

/* No assignment since now (or since earlier): the settle timer runs. */
static void consumer_unsettled(KafkaConsumer *k) {
        if (!k->unsettled_since)
                k->unsettled_since = now_usec(CLOCK_MONOTONIC);
        if (!k->settle_timer || !k->settle_usec || k->closing)
                return;
        if (sd_event_source_get_enabled(k->settle_timer, NULL) > 0)
                return;
        (void) sd_event_source_set_time(k->settle_timer, k->unsettled_since + k->settle_usec);
        (void) sd_event_source_set_enabled(k->settle_timer, SD_EVENT_ONESHOT);
}

static void consumer_settled(KafkaConsumer *k) {
        if (k->unsettled_since && k->rejoins)
                log_info("Kafka: consumer group %s settled after %.1f s", k->group_id,
                         (double) (now_usec(CLOCK_MONOTONIC) - k->unsettled_since) / 1e6);
        k->unsettled_since = 0;
        if (k->settle_timer)
                (void) sd_event_source_set_enabled(k->settle_timer, SD_EVENT_OFF);
}

/* A new client (rk, its consumer queue on the loop's pipe), subscribed.
 * Returns 0 or -errno (logged). */
static int consumer_client_open(KafkaConsumer *k) {
        rd_kafka_conf_t *conf;
        rd_kafka_resp_err_t err;
        char errstr[512];

        conf = rd_kafka_conf_dup(k->conf);
        if (!conf)
                return -ENOMEM;
        k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
        if (!k->rk) {
                rd_kafka_conf_destroy(conf);
                return log_error_errno(-EINVAL, "Failed to create Kafka consumer: %s", errstr);
        }
        (void) rd_kafka_set_log_queue(k->rk, NULL); /* logs -> main queue */
        (void) rd_kafka_poll_set_consumer(k->rk);   /* main queue -> consumer queue */
        k->queue = rd_kafka_queue_get_consumer(k->rk);
        if (!k->queue)
                return -EIO;
        if (k->loop.pipe[1] >= 0)
                rd_kafka_queue_io_event_enable(k->queue, k->loop.pipe[1], "1", 1);
        err = rd_kafka_subscribe(k->rk, k->subscription);
        if (err)
                return log_error_errno(kafka_errno(err), "Failed to subscribe to %s...: %s",
                                       k->subscription->elems[0].topic, rd_kafka_err2str(err));
        return 0;
}

/* Join the group again as a new member (see the top of the file). */
static int on_settle_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        KafkaConsumer *k = userdata;
        int r;

        if (k->closing || !k->unsettled_since)
                return 0;
        k->rejoins++;
        log_warning("Kafka: consumer group %s has not settled: no assignment for %.0f s (bound %.0f s, "
                    "[imgflow] group_settle_timeout); joining it again as a new member (rejoin %" PRIu64 ")",
                    k->group_id, (double) (now_usec(CLOCK_MONOTONIC) - k->unsettled_since) / 1e6,
                    (double) k->settle_usec / 1e6, k->rejoins);
        /* Nothing is assigned: nothing to commit, revoke or forget. */
        rd_kafka_queue_io_event_enable(k->queue, -1, NULL, 0);
        rd_kafka_queue_destroy(k->queue);
        k->queue = NULL;
        if (k->pending) {
                rd_kafka_topic_partition_list_destroy(k->pending);
                k->pending = NULL;
        }
        rd_kafka_destroy_flags(k->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        k->rk = NULL;
        r = consumer_client_open(k);
        if (r < 0)
                /* Without a consumer the daemon cannot go on: exit, and
                 * systemd (Restart=on-failure) starts it again. */
                return sd_event_exit(sd_event_source_get_event(s), r);
        (void) sd_event_source_set_time_relative(s, k->settle_usec);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static void consumer_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                  rd_kafka_topic_partition_list_t *parts, void *opaque) {
        KafkaConsumer *k = opaque;
        bool coop = streq(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");

        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                log_info("Kafka: %d partition(s) assigned (%s)", parts->cnt, coop ? "cooperative" : "eager");
                if (coop)
                        log_rk_error(rd_kafka_incremental_assign(rk, parts), "incremental assign");
                else {
                        rd_kafka_resp_err_t e = rd_kafka_assign(rk, parts);
                        if (e)
                                log_error("Kafka assign failed: %s", rd_kafka_err2str(e));
                }
                if (k->paused_all)
                        (void) rd_kafka_pause_partitions(rk, parts);
                consumer_settled(k);
                if (k->on_rebalance && !k->closing)
                        k->on_rebalance(k, KAFKA_REBALANCE_ASSIGNED, parts, k->userdata);
                return;
        }

        bool lost = err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS || rd_kafka_assignment_lost(rk);
        if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
                log_error("Kafka rebalance error: %s", rd_kafka_err2str(err));
        log_info("Kafka: %d partition(s) %s", parts ? parts->cnt : 0, lost ? "lost" : "revoked");

        /* Send what is finished while we still own the partitions. */
        if (!lost)
                (void) consumer_flush_commits(k, /* async= */ 1);
        else if (k->pending) {
                rd_kafka_topic_partition_list_destroy(k->pending);
                k->pending = NULL;
        }

        if (k->on_rebalance && !k->closing)
                k->on_rebalance(k, lost ? KAFKA_REBALANCE_LOST : KAFKA_REBALANCE_REVOKED, parts,
                                k->userdata);
        for (int i = 0; parts && i < parts->cnt; i++) {
                offsets_forget(k->offsets, parts->elems[i].topic, parts->elems[i].partition);
                if (k->positions)
                        (void) rd_kafka_topic_partition_list_del(k->positions, parts->elems[i].topic,
                                                                 parts->elems[i].partition);
        }

        if (coop)
                log_rk_error(rd_kafka_incremental_unassign(rk, parts), "incremental unassign");
        else
                (void) rd_kafka_assign(rk, NULL);
        /* Eager: nothing is left until the next assignment. Cooperative: a
         * revoke is followed by an assignment (maybe empty) as well. */
        consumer_unsettled(k);
}

/* The message at `offset` is handed out: the fetch resumes after it. */
static void consumer_note_position(KafkaConsumer *k, const char *topic, int32_t partition, int64_t offset) {
        rd_kafka_topic_partition_t *tp;

        if (!k->positions) {
                k->positions = rd_kafka_topic_partition_list_new(8);
                if (!k->positions)
                        return;
        }
        tp = rd_kafka_topic_partition_list_find(k->positions, topic, partition);
        if (!tp)
                tp = rd_kafka_topic_partition_list_add(k->positions, topic, partition);
        tp->offset = offset + 1;
}

static void consumer_handle_message(KafkaConsumer *k, rd_kafka_message_t *rkm) {
        rd_kafka_timestamp_type_t tstype;
        KafkaMessage m;
        const char *topic;
        int r;

        topic = rkm->rkt ? rd_kafka_topic_name(rkm->rkt) : "";
        if (rkm->err) {
                if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        return;
                log_full(rkm->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                                         rkm->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART
                                 ? LOG_WARNING
                                 : LOG_ERR,
                         "Kafka consumer error %s[%d]: %s", topic, (int) rkm->partition,
                         rd_kafka_message_errstr(rkm));
                return;
        }

        m = (KafkaMessage) {
                .topic = topic,
                .partition = rkm->partition,
                .offset = rkm->offset,
                .key = rkm->key,
                .key_len = rkm->key_len,
                .payload = rkm->payload,
                .len = rkm->len,
                .timestamp_ms = rd_kafka_message_timestamp(rkm, &tstype),
        };
        consumer_note_position(k, topic, rkm->partition, rkm->offset);
        r = offsets_begin(k->offsets, topic, rkm->partition, rkm->offset);
        if (r < 0 && r != -EEXIST)
                log_warning_errno(r, "Offset tracking of %s[%d]@%lld failed: %m", topic,
                                  (int) rkm->partition, (long long) rkm->offset);
        r = k->on_msg(k, &m, k->userdata);
        if (r < 0)
                log_warning_errno(r, "Handling message %s[%d]@%lld failed: %m", topic,
                                  (int) rkm->partition, (long long) rkm->offset);
}

static size_t consumer_drain(void *client, size_t max) {
        KafkaConsumer *k = client;
        size_t n = 0;

        /* No client: a new one could not be made (on_settle_timer()), and
         * the loop is ending. */
        while (n < max && !k->closing && k->rk) {
                rd_kafka_message_t *rkm = rd_kafka_consumer_poll(k->rk, 0);
                if (!rkm)
                        break;
                consumer_handle_message(k, rkm);
                rd_kafka_message_destroy(rkm);
                n++;
        }
        return n;
}

/* A cooperative-sticky consumer configured on a librdkafka that aborts when
 * it is closed before its first assignment (see the top of the file). */
static void consumer_check_assignor(rd_kafka_conf_t *conf) {
        char v[256] = "";
        size_t vlen = sizeof(v);

        if (rd_kafka_version() >= KAFKA_STICKY_FIXED_VERSION ||
            rd_kafka_conf_get(conf, "partition.assignment.strategy", v, &vlen) != RD_KAFKA_CONF_OK ||
            !strstr(v, "cooperative-sticky"))
                return;
        log_warning("Kafka consumer: partition.assignment.strategy=%s with librdkafka %s: a consumer "
                    "stopped before its first assignment aborts (fixed in librdkafka 2.3.0); "
                    "the default \"" KAFKA_ASSIGNOR "\" does not",
                    v, rd_kafka_version_str());
}

int kafka_consumer_new(sd_event *e, const Config *c, const char *group_id, char **topics,
                       KafkaMessageFn on_msg, KafkaRebalanceFn on_rebalance, void *userdata,
                       KafkaConsumer **ret) {
        static const char *const defaults[] = {
                "enable.auto.commit", "false",
                "enable.auto.offset.store", "false",
                "auto.offset.reset", "earliest",
                "partition.assignment.strategy", KAFKA_ASSIGNOR,
                "auto.commit.interval.ms", KAFKA_COMMIT_INTERVAL_MS,
                "client.id", "imgflow",
                NULL,
        };
        _cleanup_(kafka_consumer_freep) KafkaConsumer *k = NULL;
        _cleanup_(rd_kafka_conf_destroyp) rd_kafka_conf_t *conf = NULL;
        _cleanup_(rd_kafka_topic_partition_list_destroyp) rd_kafka_topic_partition_list_t *subs = NULL;
        _cleanup_free_ char *error = NULL;
        rd_kafka_resp_err_t err;
        char errstr[512];
        int r;

        if (!e || !c || !group_id || !topics || !topics[0] || !on_msg || !ret)
                return -EINVAL;
        k = calloc(1, sizeof(KafkaConsumer));
        if (!k)
                return -ENOMEM;
        k->loop.pipe[0] = k->loop.pipe[1] = -1;
        k->on_msg = on_msg;
        k->on_rebalance = on_rebalance;
        k->userdata = userdata;
        r = offsets_new(&k->offsets);
        if (r < 0)
                return r;

        r = kafka_conf_from_config(c, "consumer", defaults, &conf, &error);
        if (r < 0)
                return log_error_errno(r, "Bad Kafka consumer setting %s", strempty(error));
        if (rd_kafka_conf_set(conf, "group.id", group_id, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(conf, "log.queue", "true", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
                return log_error_errno(-EINVAL, "Kafka consumer: %s", errstr);
        rd_kafka_conf_set_rebalance_cb(conf, consumer_rebalance_cb);
        rd_kafka_conf_set_offset_commit_cb(conf, consumer_offset_commit_cb);
        rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
        rd_kafka_conf_set_error_cb(conf, kafka_error_cb);
        rd_kafka_conf_set_opaque(conf, k);
        {
                char v[32] = KAFKA_COMMIT_INTERVAL_MS;
                size_t vlen = sizeof(v);
                (void) rd_kafka_conf_get(conf, "auto.commit.interval.ms", v, &vlen);
                k->commit_interval_usec = (uint64_t) strtoul(v, NULL, 10) * 1000;
        }
        consumer_check_assignor(conf);
        k->conf = rd_kafka_conf_dup(conf);
        if (!k->conf)
                return -ENOMEM;

        k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
        if (!k->rk)
                return log_error_errno(-EINVAL, "Failed to create Kafka consumer: %s", errstr);
        conf = NULL; /* owned by rk now */

        (void) rd_kafka_set_log_queue(k->rk, NULL); /* logs -> main queue */
        (void) rd_kafka_poll_set_consumer(k->rk);   /* main queue -> consumer queue */
        k->queue = rd_kafka_queue_get_consumer(k->rk);
        if (!k->queue)
                return -EIO;
        r = loop_init(&k->loop, e, k->queue, consumer_drain, k);
        if (r < 0)
                return log_error_errno(r, "Failed to hook Kafka consumer into the event loop: %m");
        r = sd_event_add_time_relative(e, &k->commit_timer, CLOCK_MONOTONIC, k->commit_interval_usec,
                                       0, on_commit_timer, k);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(k->commit_timer, SD_EVENT_OFF);
        k->group_id = strdup(group_id);
        if (!k->group_id)
                return -ENOMEM;
        k->settle_usec = config_get_duration_ms(c, "imgflow", "group_settle_timeout") * 1000;
        r = sd_event_add_time(e, &k->settle_timer, CLOCK_MONOTONIC, UINT64_MAX, 0, on_settle_timer, k);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(k->settle_timer, SD_EVENT_OFF);

        size_t n = 0;
        while (topics[n])
                n++;
        subs = rd_kafka_topic_partition_list_new((int) n);
        for (size_t i = 0; i < n; i++)
                rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
        err = rd_kafka_subscribe(k->rk, subs);
        if (err)
                return log_error_errno(kafka_errno(err), "Failed to subscribe to %s...: %s", topics[0],
                                       rd_kafka_err2str(err));
        k->subscription = TAKE_PTR(subs);
        consumer_unsettled(k);
        *ret = TAKE_PTR(k);
        return 0;
}

KafkaConsumer *kafka_consumer_free(KafkaConsumer *k) {
        if (!k)
                return NULL;
        k->closing = true;
        if (k->rk) {
                (void) consumer_flush_commits(k, /* async= */ 0);
                (void) rd_kafka_consumer_close(k->rk);
        }
        loop_done(&k->loop, k->queue);
        k->commit_timer = sd_event_source_disable_unref(k->commit_timer);
        k->settle_timer = sd_event_source_disable_unref(k->settle_timer);
        if (k->subscription)
                rd_kafka_topic_partition_list_destroy(k->subscription);
        if (k->conf)
                rd_kafka_conf_destroy(k->conf);
        free(k->group_id);
        if (k->queue)
                rd_kafka_queue_destroy(k->queue);
        if (k->pending)
                rd_kafka_topic_partition_list_destroy(k->pending);
        if (k->positions)
                rd_kafka_topic_partition_list_destroy(k->positions);
        if (k->rk)
                rd_kafka_destroy(k->rk);
        offsets_free(k->offsets);
        free(k);
        return NULL;
}

int kafka_consumer_commit(KafkaConsumer *k, const char *topic, int32_t partition,
                          int64_t next_offset) {
        rd_kafka_topic_partition_t *tp;
        int r;

        if (!k || !topic || partition < 0 || next_offset < 0)
                return -EINVAL;
        if (!k->pending) {
                k->pending = rd_kafka_topic_partition_list_new(8);
                if (!k->pending)
                        return -ENOMEM;
        }
        tp = rd_kafka_topic_partition_list_find(k->pending, topic, partition);
        if (!tp)
                tp = rd_kafka_topic_partition_list_add(k->pending, topic, partition);
        if (tp->offset < next_offset)
                tp->offset = next_offset;
        if (k->closing)
                return 0;
        r = sd_event_source_get_enabled(k->commit_timer, NULL);
        if (r != 0) /* armed already (or an error) */
                return r < 0 ? r : 0;
        r = sd_event_source_set_time_relative(k->commit_timer, k->commit_interval_usec);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(k->commit_timer, SD_EVENT_ONESHOT);
}

int kafka_consumer_done(KafkaConsumer *k, const char *topic, int32_t partition, int64_t offset) {
        int64_t commit;
        int r;

        if (!k || !topic)
                return -EINVAL;
        r = offsets_done(k->offsets, topic, partition, offset, &commit);
        if (r <= 0)
                return r;
        return kafka_consumer_commit(k, topic, partition, commit);
}

/* After a resume: seek the partitions to the offset after the last message
 * handed out (see the top of the file). Partitions with none since their
 * assignment are left alone (their resume starts from the committed offset,
 * and librdkafka looks that up itself). Asynchronous (timeout 0): never
 * blocks; a failed seek only means the old, slow resume. */
static void consumer_seek_positions(KafkaConsumer *k, const rd_kafka_topic_partition_list_t *list) {
        _cleanup_(rd_kafka_topic_partition_list_destroyp) rd_kafka_topic_partition_list_t *seek = NULL;
        rd_kafka_error_t *error;

        if (!k->positions || k->positions->cnt == 0)
                return;
        seek = rd_kafka_topic_partition_list_new(list->cnt);
        if (!seek)
                return;
        for (int i = 0; i < list->cnt; i++) {
                rd_kafka_topic_partition_t *tp =
                        rd_kafka_topic_partition_list_find(k->positions, list->elems[i].topic,
                                                           list->elems[i].partition);
                if (tp && tp->offset >= 0)
                        rd_kafka_topic_partition_list_add(seek, tp->topic, tp->partition)->offset = tp->offset;
        }
        if (seek->cnt == 0)
                return;
        error = rd_kafka_seek_partitions(k->rk, seek, /* timeout_ms= */ 0);
        if (error) {
                log_debug("Kafka seek before resume failed: %s", rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
        }
}

static int pause_resume(KafkaConsumer *k, const rd_kafka_topic_partition_list_t *partitions,
                        bool pause) {
        _cleanup_(rd_kafka_topic_partition_list_destroyp) rd_kafka_topic_partition_list_t *list = NULL;
        rd_kafka_resp_err_t err;

        if (!k)
                return -EINVAL;
        if (!k->rk)
                return -ENOTCONN;
        if (partitions)
                list = rd_kafka_topic_partition_list_copy(partitions);
        else {
                err = rd_kafka_assignment(k->rk, &list);
                if (err)
                        return kafka_errno(err);
                k->paused_all = pause;
        }
        if (!list)
                return -ENOMEM;
        if (list->cnt == 0)
                return 0;
        err = pause ? rd_kafka_pause_partitions(k->rk, list) : rd_kafka_resume_partitions(k->rk, list);
        if (!pause && !err)
                consumer_seek_positions(k, list);
        return kafka_errno(err);
}

int kafka_consumer_pause(KafkaConsumer *k, const rd_kafka_topic_partition_list_t *partitions) {
        return pause_resume(k, partitions, true);
}

int kafka_consumer_resume(KafkaConsumer *k, const rd_kafka_topic_partition_list_t *partitions) {
        return pause_resume(k, partitions, false);
}

bool kafka_consumer_is_paused(const KafkaConsumer *k) {
        return k && k->paused_all;
}

size_t kafka_consumer_in_flight(const KafkaConsumer *k) {
        return k ? offsets_in_flight_total(k->offsets) : 0;
}

rd_kafka_t *kafka_consumer_handle(KafkaConsumer *k) {
        return k->rk;
}

int kafka_consumer_assigned_count(KafkaConsumer *k) {
        rd_kafka_topic_partition_list_t *list = NULL;
        int n;

        if (!k || !k->rk || rd_kafka_assignment(k->rk, &list) != RD_KAFKA_RESP_ERR_NO_ERROR || !list)
                return 0;
        n = list->cnt;
        rd_kafka_topic_partition_list_destroy(list);
        return n;
}

uint64_t kafka_consumer_unsettled_usec(const KafkaConsumer *k) {
        if (!k || !k->unsettled_since || !k->settle_usec)
                return 0;
        uint64_t d = now_usec(CLOCK_MONOTONIC) - k->unsettled_since;
        return d >= k->settle_usec ? d : 0;
}

uint64_t kafka_consumer_rejoins(const KafkaConsumer *k) {
        return k ? k->rejoins : 0;
}

const char *kafka_consumer_settle_status(const KafkaConsumer *k, char *buf, size_t size) {
        uint64_t d = kafka_consumer_unsettled_usec(k);

        if (size == 0)
                return buf;
        buf[0] = '\0';
        if (d)
                snprintf(buf, size, "Kafka group not settled for %" PRIu64 " s: ", d / 1000000);
        return buf;
}

int kafka_consumer_lag(KafkaConsumer *k, KafkaLagFn cb, void *userdata) {
        _cleanup_(rd_kafka_topic_partition_list_destroyp) rd_kafka_topic_partition_list_t *list = NULL;
        rd_kafka_resp_err_t err;

        if (!k || !cb)
                return -EINVAL;
        if (!k->rk)
                return -ENOTCONN;
        err = rd_kafka_assignment(k->rk, &list);
        if (err)
                return kafka_errno(err);
        if (!list)
                return -ENOMEM;
        (void) rd_kafka_position(k->rk, list);
        /* Few topics per consumer: one pass per distinct topic. */
        for (int i = 0; i < list->cnt; i++) {
                const char *topic = list->elems[i].topic;
                bool seen = false;
                int64_t lag = 0;

                for (int j = 0; j < i && !seen; j++)
                        seen = streq(list->elems[j].topic, topic);
                if (seen)
                        continue;
                for (int j = i; j < list->cnt; j++) {
                        int64_t lo = -1, hi = -1, pos = list->elems[j].offset;

                        if (!streq(list->elems[j].topic, topic))
                                continue;
                        if (pos < 0 && k->positions) {
                                /* Unknown right after a seek (resume): ours. */
                                rd_kafka_topic_partition_t *tp =
                                        rd_kafka_topic_partition_list_find(k->positions, topic,
                                                                           list->elems[j].partition);
                                if (tp)
                                        pos = tp->offset;
                        }
                        if (rd_kafka_get_watermark_offsets(k->rk, topic, list->elems[j].partition, &lo,
                                                           &hi) != RD_KAFKA_RESP_ERR_NO_ERROR)
                                continue;
                        if (hi >= 0 && pos >= 0 && hi > pos)
                                lag += hi - pos;
                }
                cb(topic, lag, userdata);
        }
        return 0;
}
