/* SPDX-License-Identifier: MIT */
/*
 * The Kafka wrappers (daemon/kafka) on sd-event against librdkafka's mock
 * cluster, in-process on loopback: produce with delivery reports, consume in
 * a group, commits that never pass an unfinished message, pause/resume, and
 * the pass-through of [kafka] properties (a bad one is named).
 */

#include <inttypes.h>
#include <time.h>

#include "kafka.h"

#include <librdkafka/rdkafka_mock.h>
#include "clock.h"
#include "log.h"
#include "test.h"

#define TOPIC "imgflow.test"
#define N_MSG 20

static uint64_t mono_ms(void) {
        return now_usec(CLOCK_MONOTONIC) / 1000;
}

static bool run_until(sd_event *e, const int *counter, int target, uint64_t timeout_ms) {
        uint64_t end = mono_ms() + timeout_ms;
        while (*counter < target) {
                if (mono_ms() > end)
                        return false;
                if (sd_event_run(e, 50 * 1000) < 0)
                        return false;
        }
        return true;
}

static void run_for(sd_event *e, uint64_t ms) {
        uint64_t end = mono_ms() + ms;
        while (mono_ms() < end)
                sd_event_run(e, 50 * 1000);
}

typedef struct Msg {
        int32_t partition;
        int64_t offset;
        char payload[64];
        char key[64];
} Msg;

typedef struct State {
        int delivered, delivery_errors;
        int opaque_sum;
        int received;
        Msg msgs[256];
        int assigned, revoked;
        int held_after_revoke; /* most partitions still held after a revoke */
        int last_error, last_opaque;
} State;

static void on_delivery(KafkaProducer *p, int error, const char *errstr, const char *topic,
                        int32_t partition, int64_t offset, void *msg_opaque, void *userdata) {
        State *s = userdata;
        s->last_error = error;
        s->last_opaque = (int) (intptr_t) msg_opaque;
        if (error < 0)
                s->delivery_errors++;
        else
                s->opaque_sum += (int) (intptr_t) msg_opaque;
        s->delivered++;
}

static int on_msg(KafkaConsumer *k, const KafkaMessage *m, void *userdata) {
        State *s = userdata;
        if (s->received < 256) {
                Msg *x = &s->msgs[s->received];
                x->partition = m->partition;
                x->offset = m->offset;
                snprintf(x->payload, sizeof(x->payload), "%.*s", (int) m->len, (const char *) m->payload);
                snprintf(x->key, sizeof(x->key), "%.*s", (int) m->key_len, (const char *) m->key);
        }
        s->received++;
        return 0;
}

static void on_rebalance(KafkaConsumer *k, KafkaRebalanceEvent ev,
                         const rd_kafka_topic_partition_list_t *parts, void *userdata) {
        State *s = userdata;
        if (ev == KAFKA_REBALANCE_ASSIGNED)
                s->assigned += parts->cnt;
        else {
                s->revoked += parts->cnt;
                if (s->assigned - s->revoked > s->held_after_revoke)
                        s->held_after_revoke = s->assigned - s->revoked;
        }
}

/* Committed offset of the group for TOPIC[partition] (blocking: tests only). */
/* The committed offset of a partition, asked of the group coordinator: -2
 * when it did not answer. A consumer just created may not know its
 * coordinator yet, and on a loaded machine (tests in parallel) the first
 * OffsetFetch can time out: asked up to 3 times, as a client would. */
static int64_t committed(KafkaConsumer *k, int32_t partition) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
        int64_t o = -2;

        rd_kafka_topic_partition_list_add(l, TOPIC, partition);
        for (int attempt = 0; attempt < 3; attempt++) {
                err = rd_kafka_committed(kafka_consumer_handle(k), l, 5000);
                if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                        o = l->elems[0].offset;
                        break;
                }
        }
        if (o == -2)
                fprintf(stderr, "committed offset of partition %d: %s\n", (int) partition, rd_kafka_err2str(err));
        rd_kafka_topic_partition_list_destroy(l);
        return o;
}

static void produce_n(sd_event *e, KafkaProducer *p, State *s, int from, int n) {
        int target = s->delivered + n;
        for (int i = from; i < from + n; i++) {
                char payload[32], key[32];
                snprintf(payload, sizeof(payload), "msg-%d", i);
                snprintf(key, sizeof(key), "exec-%d", i % 5);
                if (kafka_produce(p, TOPIC, key, payload, strlen(payload), (void *) (intptr_t) (i + 1)) != 0)
                        TEST_FAIL_("produce %d failed", i);
        }
        if (!run_until(e, &s->delivered, target, 20000))
                TEST_FAIL_("deliveries: %d of %d", s->delivered, target);
}

/* A one-broker mock cluster in this process with TOPIC (2 partitions), and
 * a configuration for it: session.timeout.ms 6000, producers' linger.ms 1. */
typedef struct Mock {
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *mc;
} Mock;

static void mock_start(Mock *m, Config **ret_cfg) {
        char errstr[256];

        m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), errstr, sizeof(errstr));
        ASSERT_NOT_NULL(m->rk);
        m->mc = rd_kafka_mock_cluster_new(m->rk, 1);
        ASSERT_NOT_NULL(m->mc);
        ASSERT_INT_EQ(rd_kafka_mock_topic_create(m->mc, TOPIC, 2, 1), 0);
        ASSERT_INT_EQ(config_new(ret_cfg), 0);
        ASSERT_INT_EQ(config_set(*ret_cfg, "kafka", "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(m->mc), NULL), 0);
        ASSERT_INT_EQ(config_set(*ret_cfg, "kafka.consumer", "session.timeout.ms", "6000", NULL), 0);
        ASSERT_INT_EQ(config_set(*ret_cfg, "kafka.producer", "linger.ms", "1", NULL), 0);
}

static void mock_stop(Mock *m) {
        rd_kafka_mock_cluster_destroy(m->mc);
        rd_kafka_destroy(m->rk);
}

/* A producer and N_MSG messages, then a consumer in "test-group" that
 * received them all. */
static void produce_and_consume(sd_event *e, const Config *cfg, State *s, KafkaProducer **p, KafkaConsumer **k) {
        char *topics[] = { TOPIC, NULL };

        ASSERT_INT_EQ(kafka_producer_new(e, cfg, on_delivery, s, p), 0);
        produce_n(e, *p, s, 0, N_MSG);
        ASSERT_INT_EQ(kafka_consumer_new(e, cfg, "test-group", topics, on_msg, on_rebalance, s, k), 0);
        ASSERT_TRUE(run_until(e, &s->received, N_MSG, 30000));
}

TEST(produce_consume_commit_pause) {
        _cleanup_config_ Config *cfg = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        KafkaProducer *p = NULL;
        KafkaConsumer *k = NULL;
        State s = {};
        Mock mock = {};

        mock_start(&mock, &cfg);
        ASSERT_INT_EQ(config_set(cfg, "kafka.consumer", "topic.metadata.refresh.interval.ms", "500", NULL), 0);
        ASSERT_INT_EQ(sd_event_new(&e), 0);

        ASSERT_INT_EQ(kafka_producer_new(e, cfg, on_delivery, &s, &p), 0);
        produce_n(e, p, &s, 0, N_MSG);
        ASSERT_INT_EQ(s.delivery_errors, 0);
        ASSERT_INT_EQ(s.opaque_sum, N_MSG * (N_MSG + 1) / 2);

        char *topics[] = { TOPIC, NULL };
        ASSERT_INT_EQ(kafka_consumer_new(e, cfg, "test-group", topics, on_msg, on_rebalance, &s, &k), 0);
        ASSERT_TRUE(run_until(e, &s.received, N_MSG, 30000));
        ASSERT_INT_EQ(s.assigned, 2);
        ASSERT_INT_EQ(kafka_consumer_assigned_count(k), 2);
        ASSERT_INT_EQ(kafka_consumer_in_flight(k), N_MSG);

        /* keys and payloads arrive intact */
        bool seen[N_MSG] = {};
        for (int i = 0; i < N_MSG; i++) {
                int n = -1;
                ASSERT_INT_EQ(sscanf(s.msgs[i].payload, "msg-%d", &n), 1);
                ASSERT_TRUE(n >= 0 && n < N_MSG);
                seen[n] = true;
                char key[32];
                snprintf(key, sizeof(key), "exec-%d", n % 5);
                ASSERT_STR_EQ(s.msgs[i].key, key);
        }
        for (int i = 0; i < N_MSG; i++)
                ASSERT_TRUE(seen[i]);

        /* Finish everything except the first message of the partition of
         * msgs[0]: its commit must stay at that message's offset. */
        int32_t hold_p = s.msgs[0].partition;
        int64_t hold_o = s.msgs[0].offset, max_o[2] = { -1, -1 };
        for (int i = 0; i < N_MSG; i++) {
                if (s.msgs[i].offset > max_o[s.msgs[i].partition])
                        max_o[s.msgs[i].partition] = s.msgs[i].offset;
                if (i != 0)
                        ASSERT_INT_EQ(kafka_consumer_done(k, TOPIC, s.msgs[i].partition, s.msgs[i].offset), 0);
        }
        ASSERT_INT_EQ(kafka_consumer_done(k, TOPIC, s.msgs[1].partition, s.msgs[1].offset), -ENOENT);
        run_for(e, 500);
        ASSERT_INT_EQ(kafka_consumer_in_flight(k), 1);
        int64_t c_hold = committed(k, hold_p);
        ASSERT_TRUE(c_hold == hold_o || c_hold == RD_KAFKA_OFFSET_INVALID);
        if (max_o[1 - hold_p] >= 0)
                ASSERT_INT_EQ(committed(k, 1 - hold_p), max_o[1 - hold_p] + 1);

        ASSERT_INT_EQ(kafka_consumer_done(k, TOPIC, hold_p, hold_o), 0);
        run_for(e, 500);
        ASSERT_INT_EQ(committed(k, hold_p), max_o[hold_p] + 1);
        ASSERT_INT_EQ(kafka_consumer_in_flight(k), 0);

        /* Backpressure: paused, nothing arrives; resumed, it does. */
        ASSERT_INT_EQ(kafka_consumer_pause(k, NULL), 0);
        ASSERT_TRUE(kafka_consumer_is_paused(k));
        produce_n(e, p, &s, N_MSG, 5);
        run_for(e, 1500);
        ASSERT_INT_EQ(s.received, N_MSG);
        ASSERT_INT_EQ(kafka_consumer_resume(k, NULL), 0);
        ASSERT_FALSE(kafka_consumer_is_paused(k));
        ASSERT_TRUE(run_until(e, &s.received, N_MSG + 5, 10000));

        ASSERT_INT_EQ(kafka_producer_flush(p, 5000), 0);
        ASSERT_INT_EQ(kafka_producer_outq_len(p), 0);

        /* free closes the consumer (leaves the group) without calling back */
        k = kafka_consumer_free(k);
        ASSERT_INT_EQ(s.revoked, 0);
        p = kafka_producer_free(p);
        mock_stop(&mock);
}

/* Finished messages are committed once per auto.commit.interval.ms, not
 * once per loop pass; closing the consumer sends what is still pending. */
TEST(commits_follow_the_interval) {
        _cleanup_config_ Config *cfg = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        KafkaProducer *p = NULL;
        KafkaConsumer *k = NULL;
        State s = {};
        Mock mock = {};

        mock_start(&mock, &cfg);
        ASSERT_INT_EQ(config_set(cfg, "kafka.consumer", "auto.commit.interval.ms", "2000", NULL), 0);
        ASSERT_INT_EQ(sd_event_new(&e), 0);

        char *topics[] = { TOPIC, NULL };
        produce_and_consume(e, cfg, &s, &p, &k);

        int64_t max_o[2] = { -1, -1 };
        for (int i = 0; i < N_MSG; i++) {
                if (s.msgs[i].offset > max_o[s.msgs[i].partition])
                        max_o[s.msgs[i].partition] = s.msgs[i].offset;
                ASSERT_INT_EQ(kafka_consumer_done(k, TOPIC, s.msgs[i].partition, s.msgs[i].offset), 0);
        }
        ASSERT_TRUE(max_o[0] >= 0 && max_o[1] >= 0);
        /* Within the interval: nothing sent yet. */
        run_for(e, 300);
        for (int32_t q = 0; q < 2; q++)
                ASSERT_INT_EQ(committed(k, q), RD_KAFKA_OFFSET_INVALID);
        /* After it: one commit with everything. */
        run_for(e, 2500);
        for (int32_t q = 0; q < 2; q++)
                ASSERT_INT_EQ(committed(k, q), max_o[q] + 1);

        /* Finished but not yet due when the consumer closes: sent on close. */
        produce_n(e, p, &s, N_MSG, 6);
        ASSERT_TRUE(run_until(e, &s.received, N_MSG + 6, 10000));
        for (int i = N_MSG; i < N_MSG + 6; i++) {
                if (s.msgs[i].offset > max_o[s.msgs[i].partition])
                        max_o[s.msgs[i].partition] = s.msgs[i].offset;
                ASSERT_INT_EQ(kafka_consumer_done(k, TOPIC, s.msgs[i].partition, s.msgs[i].offset), 0);
        }
        k = kafka_consumer_free(k);
        int assigned = s.assigned;
        ASSERT_INT_EQ(kafka_consumer_new(e, cfg, "test-group", topics, on_msg, on_rebalance, &s, &k), 0);
        for (int32_t q = 0; q < 2; q++)
                ASSERT_INT_EQ(committed(k, q), max_o[q] + 1);
        /* It joins the group again and gets both partitions. */
        ASSERT_TRUE(run_until(e, &s.assigned, assigned + 2, 30000));

        k = kafka_consumer_free(k);
        p = kafka_producer_free(p);
        mock_stop(&mock);
}

/* A resumed consumer fetches again at once, from exactly the next message:
 * librdkafka 2.0.2 alone waits for the broker thread's next wakeup (up to
 * 1 s, or the next metadata refresh, which is far away here). */
TEST(resume_fetches_at_once) {
        _cleanup_config_ Config *cfg = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        KafkaProducer *p = NULL;
        KafkaConsumer *k = NULL;
        State s = {};
        Mock mock = {};

        mock_start(&mock, &cfg);
        ASSERT_INT_EQ(config_set(cfg, "kafka", "topic.metadata.refresh.interval.ms", "300000", NULL), 0);
        ASSERT_INT_EQ(config_set(cfg, "kafka.consumer", "fetch.wait.max.ms", "10", NULL), 0);
        ASSERT_INT_EQ(sd_event_new(&e), 0);

        produce_and_consume(e, cfg, &s, &p, &k);
        int64_t last[2] = { -1, -1 };
        for (int i = 0; i < N_MSG; i++)
                if (s.msgs[i].offset > last[s.msgs[i].partition])
                        last[s.msgs[i].partition] = s.msgs[i].offset;
        ASSERT_TRUE(last[0] >= 0 && last[1] >= 0);

        for (int round = 0; round < 3; round++) {
                int before = s.received;

                ASSERT_INT_EQ(kafka_consumer_pause(k, NULL), 0);
                run_for(e, 200);
                produce_n(e, p, &s, N_MSG + 10 * round, 10);
                run_for(e, 300);
                ASSERT_INT_EQ(s.received, before);

                uint64_t t0 = mono_ms();
                ASSERT_INT_EQ(kafka_consumer_resume(k, NULL), 0);
                ASSERT_TRUE(run_until(e, &s.received, before + 10, 10000));
                uint64_t waited = mono_ms() - t0;
                log_info("round %d: the 10 messages arrived %" PRIu64 " ms after the resume", round, waited);
                ASSERT_TRUE(waited < 300);

                /* Nothing skipped, nothing twice. */
                run_for(e, 200);
                ASSERT_INT_EQ(s.received, before + 10);
                for (int i = before; i < before + 10; i++) {
                        ASSERT_INT_EQ(s.msgs[i].offset, last[s.msgs[i].partition] + 1);
                        last[s.msgs[i].partition] = s.msgs[i].offset;
                }
        }

        k = kafka_consumer_free(k);
        p = kafka_producer_free(p);
        mock_stop(&mock);
}

/* How many of a's first 10 messages a (after them) or b received again. */
static int again_count(const State *a, const State *b) {
        int n = 0;

        for (int i = 0; i < 10; i++) {
                bool seen = false;
                for (int j = 10; j < a->received && !seen; j++)
                        seen = a->msgs[j].partition == a->msgs[i].partition && a->msgs[j].offset == a->msgs[i].offset;
                for (int j = 0; j < b->received && !seen; j++)
                        seen = b->msgs[j].partition == a->msgs[i].partition && b->msgs[j].offset == a->msgs[i].offset;
                n += seen;
        }
        return n;
}

/* A second consumer joins the group: the first one has its partitions
 * revoked (the default range assignor is eager: all of them), its in-flight
 * messages are forgotten (done -> -ENOENT, no commit); it gets one partition
 * back, the second one gets the other, and every message is delivered again
 * to its partition's new owner, once. */
TEST(rebalance_revokes_in_flight) {
        rd_kafka_conf_t *mconf = rd_kafka_conf_new();
        char errstr[256];
        rd_kafka_t *mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, mconf, errstr, sizeof(errstr));
        rd_kafka_mock_cluster_t *mc;
        _cleanup_config_ Config *cfg = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        KafkaProducer *p = NULL;
        KafkaConsumer *a = NULL, *b = NULL;
        State s = {}, sa = {}, sb = {};
        char *topics[] = { TOPIC, NULL };

        ASSERT_NOT_NULL(mock_rk);
        mc = rd_kafka_mock_cluster_new(mock_rk, 1);
        ASSERT_INT_EQ(rd_kafka_mock_topic_create(mc, TOPIC, 2, 1), 0);
        ASSERT_INT_EQ(config_new(&cfg), 0);
        ASSERT_INT_EQ(config_set(cfg, "kafka", "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mc), NULL), 0);
        ASSERT_INT_EQ(config_set(cfg, "kafka.consumer", "session.timeout.ms", "6000", NULL), 0);
        ASSERT_INT_EQ(config_set(cfg, "kafka.consumer", "heartbeat.interval.ms", "200", NULL), 0);
        ASSERT_INT_EQ(sd_event_new(&e), 0);
        ASSERT_INT_EQ(kafka_producer_new(e, cfg, on_delivery, &s, &p), 0);
        produce_n(e, p, &s, 0, 10);

        ASSERT_INT_EQ(kafka_consumer_new(e, cfg, "rebalance-group", topics, on_msg, on_rebalance, &sa, &a), 0);
        ASSERT_TRUE(run_until(e, &sa.received, 10, 30000));
        ASSERT_INT_EQ(sa.assigned, 2);
        ASSERT_INT_EQ(kafka_consumer_in_flight(a), 10);

        ASSERT_INT_EQ(kafka_consumer_new(e, cfg, "rebalance-group", topics, on_msg, on_rebalance, &sb, &b), 0);
        ASSERT_TRUE(run_until(e, &sb.assigned, 1, 30000));
        ASSERT_TRUE(run_until(e, &sa.assigned, 3, 30000));
        /* The group may take more than one round under load (the mock
         * cluster): wait until each holds one partition. */
        uint64_t settle = mono_ms() + 30000;
        while ((sa.assigned - sa.revoked != 1 || sb.assigned - sb.revoked != 1) && mono_ms() < settle)
                sd_event_run(e, 50 * 1000);
        ASSERT_TRUE(sa.revoked >= 2);
        ASSERT_INT_EQ(sa.held_after_revoke, 0); /* eager: every revoke gives back every partition */
        ASSERT_INT_EQ(sa.assigned - sa.revoked, 1);
        ASSERT_INT_EQ(sb.assigned - sb.revoked, 1);

        /* a's first 10 messages: all forgotten. One a already received
         * again from a partition it got back (on a loaded machine that can
         * happen before this check) may be in flight anew, and only that:
         * it is forgotten again if the group took one more round after. */
        for (int i = 0; i < 10; i++) {
                bool again = false;
                int r;
                for (int j = 10; j < sa.received; j++)
                        if (sa.msgs[j].partition == sa.msgs[i].partition &&
                            sa.msgs[j].offset == sa.msgs[i].offset)
                                again = true;
                r = kafka_consumer_done(a, TOPIC, sa.msgs[i].partition, sa.msgs[i].offset);
                if (!again)
                        ASSERT_INT_EQ(r, -ENOENT);
                else
                        ASSERT_TRUE(r == 0 || r == -ENOENT);
        }
        /* Each partition's messages again, to its new owner (nothing was
         * committed): each of the 10 again, nothing else. When the group
         * took one round, 10 in all, none twice, each partition to one
         * owner; a group that took more rounds under load (the mock
         * cluster) may deliver a message once per round. */
        uint64_t end = mono_ms() + 30000;
        while (again_count(&sa, &sb) < 10 && mono_ms() < end)
                sd_event_run(e, 50 * 1000);
        run_for(e, 300);
        ASSERT_INT_EQ(again_count(&sa, &sb), 10);
        ASSERT_TRUE(sb.received > 0 && sa.received > 10);
        if (sa.revoked == 2 && sb.revoked == 0) {
                ASSERT_INT_EQ(sa.received - 10 + sb.received, 10);
                for (int i = 10; i < sa.received; i++)
                        ASSERT_TRUE(sa.msgs[i].partition != sb.msgs[0].partition);
                for (int i = 1; i < sb.received; i++)
                        ASSERT_INT_EQ(sb.msgs[i].partition, sb.msgs[0].partition);
        }

        b = kafka_consumer_free(b);
        a = kafka_consumer_free(a);
        p = kafka_producer_free(p);
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(mock_rk);
}

/* Broker down: produce does not block the loop; the message is delivered
 * once the broker is back (librdkafka retries; idempotent producer). */
TEST(broker_down_and_up) {
        rd_kafka_conf_t *mconf = rd_kafka_conf_new();
        char errstr[256];
        rd_kafka_t *mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, mconf, errstr, sizeof(errstr));
        rd_kafka_mock_cluster_t *mc;
        _cleanup_config_ Config *cfg = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        KafkaProducer *p = NULL;
        State s = {};

        ASSERT_NOT_NULL(mock_rk);
        mc = rd_kafka_mock_cluster_new(mock_rk, 1);
        ASSERT_NOT_NULL(mc);
        ASSERT_INT_EQ(rd_kafka_mock_topic_create(mc, TOPIC, 1, 1), 0);
        ASSERT_INT_EQ(config_new(&cfg), 0);
        ASSERT_INT_EQ(config_set(cfg, "kafka", "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mc), NULL), 0);
        ASSERT_INT_EQ(sd_event_new(&e), 0);
        ASSERT_INT_EQ(kafka_producer_new(e, cfg, on_delivery, &s, &p), 0);
        produce_n(e, p, &s, 0, 1);

        ASSERT_INT_EQ(rd_kafka_mock_broker_set_down(mc, 1), 0);
        uint64_t start = mono_ms();
        ASSERT_INT_EQ(kafka_produce(p, TOPIC, "k", "while-down", 10, (void *) (intptr_t) 100), 0);
        ASSERT_TRUE(mono_ms() - start < 100); /* never blocks */
        run_for(e, 1500);
        ASSERT_INT_EQ(s.delivered, 1); /* not yet */
        ASSERT_INT_EQ(rd_kafka_mock_broker_set_up(mc, 1), 0);
        ASSERT_TRUE(run_until(e, &s.delivered, 2, 30000));
        ASSERT_INT_EQ(s.delivery_errors, 0);
        ASSERT_INT_EQ(s.opaque_sum, 1 + 100);

        p = kafka_producer_free(p);
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(mock_rk);
}

/* A message that cannot be delivered in message.timeout.ms is reported
 * with -ETIMEDOUT and its opaque, so the caller can re-dispatch it. */
TEST(delivery_timeout_reported) {
        rd_kafka_conf_t *mconf = rd_kafka_conf_new();
        char errstr[256];
        rd_kafka_t *mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, mconf, errstr, sizeof(errstr));
        rd_kafka_mock_cluster_t *mc;
        _cleanup_config_ Config *cfg = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        KafkaProducer *p = NULL;
        State s = {};

        ASSERT_NOT_NULL(mock_rk);
        mc = rd_kafka_mock_cluster_new(mock_rk, 1);
        ASSERT_INT_EQ(rd_kafka_mock_topic_create(mc, TOPIC, 1, 1), 0);
        ASSERT_INT_EQ(config_new(&cfg), 0);
        ASSERT_INT_EQ(config_set(cfg, "kafka", "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mc), NULL), 0);
        ASSERT_INT_EQ(config_set(cfg, "kafka.producer", "message.timeout.ms", "1000", NULL), 0);
        ASSERT_INT_EQ(sd_event_new(&e), 0);
        ASSERT_INT_EQ(kafka_producer_new(e, cfg, on_delivery, &s, &p), 0);
        ASSERT_INT_EQ(rd_kafka_mock_broker_set_down(mc, 1), 0);
        ASSERT_INT_EQ(kafka_produce(p, TOPIC, NULL, "x", 1, (void *) (intptr_t) 7), 0);
        ASSERT_TRUE(run_until(e, &s.delivered, 1, 10000));
        ASSERT_INT_EQ(s.delivery_errors, 1);
        ASSERT_INT_EQ(s.last_error, -ETIMEDOUT);
        ASSERT_INT_EQ(s.last_opaque, 7);

        p = kafka_producer_free(p);
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(mock_rk);
}

static int on_give_up(sd_event_source *s, uint64_t usec, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

/* A fatal error (here an idempotent producer's, raised with librdkafka's
 * test hook) ends the daemon's event loop with -ENOTRECOVERABLE: the
 * producer cannot be used again, systemd starts the daemon anew. */
TEST(fatal_error_ends_the_loop) {
        Mock m;
        _cleanup_config_ Config *cfg = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        KafkaProducer *p = NULL;
        State s = {};

        mock_start(&m, &cfg);
        ASSERT_INT_EQ(sd_event_new(&e), 0);
        ASSERT_INT_EQ(kafka_producer_new(e, cfg, on_delivery, &s, &p), 0);
        produce_n(e, p, &s, 0, 1);
        ASSERT_INT_EQ(sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 10 * 1000 * 1000ULL, 0, on_give_up,
                                                 NULL),
                      0);
        ASSERT_INT_EQ(rd_kafka_test_fatal_error(kafka_producer_handle(p),
                                                RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, "test"),
                      RD_KAFKA_RESP_ERR_NO_ERROR);
        ASSERT_INT_EQ(sd_event_loop(e), -ENOTRECOVERABLE);
        p = kafka_producer_free(p);
        mock_stop(&m);
}

TEST(bad_property_named) {
        _cleanup_config_ Config *cfg = NULL;
        _cleanup_free_ char *err = NULL;
        rd_kafka_conf_t *conf = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        KafkaProducer *p = NULL;

        ASSERT_INT_EQ(config_new(&cfg), 0);
        ASSERT_INT_EQ(config_set(cfg, "kafka", "security.protocol", "SASL_SSL", NULL), 0);
        ASSERT_INT_EQ(config_set(cfg, "kafka.producer", "no.such.property", "1", NULL), 0);
        ASSERT_INT_EQ(kafka_conf_from_config(cfg, "producer", NULL, &conf, &err), -EINVAL);
        ASSERT_NULL(conf);
        ASSERT_TRUE(strstr(err, "kafka.producer.no.such.property") != NULL);
        ASSERT_INT_EQ(sd_event_new(&e), 0);
        ASSERT_INT_EQ(kafka_producer_new(e, cfg, NULL, NULL, &p), -EINVAL);
        ASSERT_NULL(p);
}

TEST(passthrough_and_defaults) {
        _cleanup_config_ Config *cfg = NULL;
        _cleanup_free_ char *err = NULL;
        rd_kafka_conf_t *conf = NULL;
        char buf[256];
        size_t len;
        static const char *const defaults[] = { "acks", "all", "linger.ms", "7", NULL };

        ASSERT_INT_EQ(config_new(&cfg), 0);
        ASSERT_INT_EQ(config_set(cfg, "kafka", "client.id", "from-kafka", NULL), 0);
        ASSERT_INT_EQ(config_set(cfg, "kafka", "linger.ms", "9", NULL), 0);
        ASSERT_INT_EQ(config_set(cfg, "kafka.consumer", "client.id", "from-consumer", NULL), 0);
        ASSERT_INT_EQ(kafka_conf_from_config(cfg, "consumer", defaults, &conf, &err), 0);
        len = sizeof(buf);
        ASSERT_INT_EQ(rd_kafka_conf_get(conf, "client.id", buf, &len), RD_KAFKA_CONF_OK);
        ASSERT_STR_EQ(buf, "from-consumer"); /* role section wins */
        len = sizeof(buf);
        ASSERT_INT_EQ(rd_kafka_conf_get(conf, "linger.ms", buf, &len), RD_KAFKA_CONF_OK);
        ASSERT_STR_EQ(buf, "9"); /* config overrides our defaults */
        len = sizeof(buf);
        ASSERT_INT_EQ(rd_kafka_conf_get(conf, "acks", buf, &len), RD_KAFKA_CONF_OK);
        ASSERT_STR_EQ(buf, "-1"); /* "all" */
        rd_kafka_conf_destroy(conf);
}

TEST(errno_mapping) {
        ASSERT_INT_EQ(kafka_errno(RD_KAFKA_RESP_ERR_NO_ERROR), 0);
        ASSERT_INT_EQ(kafka_errno(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT), -ETIMEDOUT);
        ASSERT_INT_EQ(kafka_errno(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE), -EMSGSIZE);
        ASSERT_INT_EQ(kafka_errno(RD_KAFKA_RESP_ERR__QUEUE_FULL), -ENOBUFS);
        ASSERT_INT_EQ(kafka_errno(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC), -ENOENT);
        ASSERT_INT_EQ(kafka_errno(RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE), -EIO);
}

__attribute__((constructor)) static void setup(void) {
        log_set_target(LOG_TARGET_CONSOLE);
        log_set_max_level(LOG_NOTICE);
}
