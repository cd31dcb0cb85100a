/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * librdkafka on sd-event (STYLE 9): the boundary file for librdkafka. Its
 * error style (rd_kafka_resp_err_t, errstr buffers) is translated here, once,
 * into -errno plus a message.
 *
 * Every queue of a client (main, consumer, log) is forwarded into one queue;
 * rd_kafka_queue_io_event_enable() makes librdkafka write to a pipe when
 * that queue becomes non-empty; an sd_event io source on the pipe drains it
 * with zero-timeout polls (bounded per wakeup, continued from a defer source),
 * so callbacks run on the event-loop thread and the loop never blocks. A 1 s
 * timer polls too, as a safety net.
 *
 * Configuration: every key of [kafka] is passed to rd_kafka_conf_set()
 * unchanged, then [kafka.producer] or [kafka.consumer]; a failure names the
 * property. Defaults set before that (so they can be overridden):
 *   producer: enable.idempotence=true, acks=all
 *   consumer: enable.auto.commit=false, enable.auto.offset.store=false,
 *             auto.offset.reset=earliest, partition.assignment.strategy=
 *             range (eager: see kafka.c on cooperative-sticky),
 *             auto.commit.interval.ms=100 (the cadence of imgflow's own
 *             commits)
 * Forced: log.queue=true (logs go through log.c on the loop thread).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "macro.h"

/* Cleanup helpers for librdkafka objects (STYLE 7). */
static inline void rd_kafka_destroyp(rd_kafka_t **p) {
        if (*p)
                rd_kafka_destroy(*p);
}
static inline void rd_kafka_conf_destroyp(rd_kafka_conf_t **p) {
        if (*p)
                rd_kafka_conf_destroy(*p);
}
static inline void rd_kafka_topic_partition_list_destroyp(rd_kafka_topic_partition_list_t **p) {
        if (*p)
                rd_kafka_topic_partition_list_destroy(*p);
}
static inline void rd_kafka_queue_destroyp(rd_kafka_queue_t **p) {
        if (*p)
                rd_kafka_queue_destroy(*p);
}

/* Messages handled per wakeup before yielding to other event sources. */
#define KAFKA_DRAIN_BATCH 256

/* librdkafka error -> -errno (ETIMEDOUT, EMSGSIZE, ENOENT, ENOBUFS, ECONNREFUSED, EIO, ...). */
int kafka_errno(rd_kafka_resp_err_t err);

/*
 * Builds a rd_kafka_conf_t from the config: [kafka] then [kafka.<role>]
 * ("producer" or "consumer") on top of the given defaults (NULL-terminated
 * key, value pairs; may be NULL). New conf in *ret. On a rejected property
 * returns -EINVAL and a new message naming it in *ret_error.
 */
int kafka_conf_from_config(const Config *c, const char *role, const char *const *defaults,
                           rd_kafka_conf_t **ret, char **ret_error);

/* ------------------------------------------------------------------ */
/* Producer */

typedef struct KafkaProducer KafkaProducer;

/*
 * Delivery report, on the loop thread, once per kafka_produce() that
 * returned 0: error is 0 when the broker acknowledged the message, else
 * -errno (-ETIMEDOUT for message.timeout.ms, -EMSGSIZE, -ENOENT for an
 * unknown topic, -EIO ...) with errstr (borrowed) saying what failed.
 * msg_opaque is what was passed to kafka_produce(); the callback owns
 * whatever it points to (re-dispatch or free it). partition/offset are -1
 * when not delivered.
 */
typedef void (*KafkaDeliveryFn)(KafkaProducer *p, int error, const char *errstr,
                                const char *topic, int32_t partition, int64_t offset,
                                void *msg_opaque, void *userdata);

/* dr may be NULL (reports only logged on failure). e is referenced. */
int kafka_producer_new(sd_event *e, const Config *c, KafkaDeliveryFn dr, void *userdata,
                       KafkaProducer **ret);
/* Does not flush (call kafka_producer_flush() first on shutdown); messages
 * still queued get no delivery report. Accepts NULL; returns NULL. */
KafkaProducer *kafka_producer_free(KafkaProducer *p);
static inline void kafka_producer_freep(KafkaProducer **p) {
        kafka_producer_free(*p);
}

/*
 * Queues a message (copies key and payload; key may be NULL). Never blocks.
 * Returns 0 (a delivery report will follow), -ENOBUFS when the local queue
 * is full (retry later), -EMSGSIZE, -ENOENT, -EINVAL.
 */
int kafka_produce(KafkaProducer *p, const char *topic, const char *key, const void *buf,
                  size_t len, void *msg_opaque);
/* The same to one partition (KAFKA_PARTITION_BY_KEY: the partitioner's
 * choice for key, as kafka_produce()). */
#define KAFKA_PARTITION_BY_KEY RD_KAFKA_PARTITION_UA
int kafka_produce_partition(KafkaProducer *p, const char *topic, int32_t partition, const char *key,
                            const void *buf, size_t len, void *msg_opaque);

/* Blocks up to timeout_ms waiting for outstanding deliveries (their reports
 * are called). Only for shutdown. Returns 0 or -ETIMEDOUT. */
int kafka_producer_flush(KafkaProducer *p, int timeout_ms);
/* Messages queued or in flight. */
int kafka_producer_outq_len(KafkaProducer *p);
/* The underlying handle (borrowed), e.g. for metadata queries. */
rd_kafka_t *kafka_producer_handle(KafkaProducer *p);

/* ------------------------------------------------------------------ */
/* Consumer */

typedef struct KafkaConsumer KafkaConsumer;

/* A received message; everything borrowed, valid during the callback only. */
typedef struct KafkaMessage {
        const char *topic;
        int32_t partition;
        int64_t offset;
        const void *key; /* may be NULL */
        size_t key_len;
        const void *payload; /* may be NULL for an empty message */
        size_t len;
        int64_t timestamp_ms; /* -1 when unknown */
} KafkaMessage;

/*
 * Called on the loop thread for each message. Before the call the message's
 * offset is in flight in the consumer's offset tracker; the caller must
 * finish it with kafka_consumer_done() (now or later, e.g. when a worker
 * thread finished it), which commits up to the lowest unfinished offset.
 * The return value is ignored except that a negative value is logged.
 */
typedef int (*KafkaMessageFn)(KafkaConsumer *k, const KafkaMessage *m, void *userdata);

typedef enum KafkaRebalanceEvent {
        KAFKA_REBALANCE_ASSIGNED, /* partitions were added (after assign) */
        KAFKA_REBALANCE_REVOKED,  /* partitions go away (before unassign) */
        KAFKA_REBALANCE_LOST,     /* partitions were lost (before unassign);
                                   * another member may own them already */
} KafkaRebalanceEvent;

/*
 * Called for rebalances with the partitions concerned (borrowed). For
 * REVOKED/LOST the wrapper has committed what can be committed; after the
 * callback returns the partitions are forgotten by the offset tracker, so
 * kafka_consumer_done() for their in-flight messages returns -ENOENT and
 * commits nothing (another consumer will redeliver them: at-least-once).
 * Eager and cooperative (incremental) protocols are both handled.
 */
typedef void (*KafkaRebalanceFn)(KafkaConsumer *k, KafkaRebalanceEvent ev,
                                 const rd_kafka_topic_partition_list_t *partitions,
                                 void *userdata);

/* topics: NULL-terminated (borrowed); group_id borrowed (copied into the
 * conf). on_rebalance may be NULL. Subscribes immediately. */
int kafka_consumer_new(sd_event *e, const Config *c, const char *group_id, char **topics,
                       KafkaMessageFn on_msg, KafkaRebalanceFn on_rebalance, void *userdata,
                       KafkaConsumer **ret);
/* Commits what is finished (synchronously), closes the consumer (leaves the
 * group: this blocks briefly in librdkafka; call it at shutdown) and frees
 * it. on_msg/on_rebalance are not called from here. Accepts NULL; returns
 * NULL. */
KafkaConsumer *kafka_consumer_free(KafkaConsumer *k);
static inline void kafka_consumer_freep(KafkaConsumer **k) {
        kafka_consumer_free(*k);
}

/* Message finished: offsets_done() + async commit when the committable
 * offset advanced. Returns 0, or -ENOENT (not in flight / revoked). */
int kafka_consumer_done(KafkaConsumer *k, const char *topic, int32_t partition, int64_t offset);

/* Async commit of next_offset (the offset of the next message to read). */
int kafka_consumer_commit(KafkaConsumer *k, const char *topic, int32_t partition,
                          int64_t next_offset);

/* Backpressure: stop/restart fetching. partitions NULL = all currently
 * assigned. Resume also seeks each partition to the offset after the last
 * message handed out, which makes librdkafka 2.0.2 fetch again at once
 * (without it the first fetch waits for the broker thread's next wakeup, up
 * to a second). Returns 0 or -errno. */
int kafka_consumer_pause(KafkaConsumer *k, const rd_kafka_topic_partition_list_t *partitions);
int kafka_consumer_resume(KafkaConsumer *k, const rd_kafka_topic_partition_list_t *partitions);
bool kafka_consumer_is_paused(const KafkaConsumer *k); /* all paused by pause(NULL) */

/* Messages received and not yet done (all partitions). */
size_t kafka_consumer_in_flight(const KafkaConsumer *k);
/* The underlying handle (borrowed). */
rd_kafka_t *kafka_consumer_handle(KafkaConsumer *k);

/*
 * Consumer lag per topic, from librdkafka's local state only (never blocks:
 * no broker round trip): for each assigned partition, the last known high
 * watermark (updated by fetch responses) minus the position (the next
 * offset to receive). Partitions without both yet are skipped. cb is called
 * once per topic of the assignment (topic borrowed for the call) with the
 * sum over its partitions. Returns 0 or -errno.
 */
typedef void (*KafkaLagFn)(const char *topic, int64_t lag, void *userdata);
int kafka_consumer_lag(KafkaConsumer *k, KafkaLagFn cb, void *userdata);

/* How many partitions the group assigned to this consumer now (librdkafka's
 * current assignment; 0 when it has none or cannot say). For STATUS=. */
int kafka_consumer_assigned_count(KafkaConsumer *k);

/* Group settling (kafka.c): how long this consumer has been without an
 * assignment since it joined or lost its partitions, when that is longer
 * than [imgflow] group_settle_timeout (0 otherwise, and once an assignment
 * came), and how often it left and joined its group again for that. For
 * STATUS= and metrics. */
uint64_t kafka_consumer_unsettled_usec(const KafkaConsumer *k);
uint64_t kafka_consumer_rejoins(const KafkaConsumer *k);
/* "Kafka group not settled for N s: " (the start of STATUS=) into buf, or
 * "" while settled; returns buf. */
const char *kafka_consumer_settle_status(const KafkaConsumer *k, char *buf, size_t size);
