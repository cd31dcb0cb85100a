/* SPDX-License-Identifier: MIT */
/*
 * A tiny worker for the coordinator's integration test: consumes
 * <prefix>tasks and <prefix>tasks.* (group "test-coordinator-worker") and
 * answers on <prefix>events according to the task input:
 *
 *   operation "add"            output {"sum": input.a + input.b}
 *   anything else              output = input (echo)
 *   {"failTimes": N}           TaskFailed ("failError", default
 *                              "Test.Failure") while attempt < N
 *   {"sleepMs": N}             sleep first (bounded to 10 s)
 *   {"duplicate": true}        send the TaskSucceeded twice
 *   a task token               answer with SendTaskSuccess by token instead
 *
 *   test-coordinator-worker BOOTSTRAP [PREFIX]
 *   (TEST_WORKER_FETCH_WAIT_MS in the environment: the consumer's fetch.wait.max.ms)
 *
 * Runs until SIGTERM/SIGINT. A blocking test helper, not a daemon.
 */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
        stop = 1;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                rd_kafka_assign(rk, parts);
                /* The test waits for this line before it publishes jobs. */
                fprintf(stderr, "test-worker: assigned %d\n", parts->cnt);
        } else
                rd_kafka_assign(rk, NULL);
}

static void produce(rd_kafka_t *p, const char *topic, const char *key, json_t *msg) {
        char *buf = json_dumps(msg, JSON_COMPACT);
        rd_kafka_resp_err_t e;

        for (int i = 0; i < 100; i++) {
                e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                                      RD_KAFKA_V_VALUE(buf, strlen(buf)),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
                if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        break;
                rd_kafka_poll(p, 100);
        }
        if (e)
                fprintf(stderr, "test-worker: produce failed: %s\n", rd_kafka_err2str(e));
        free(buf);
}

static void handle(rd_kafka_t *p, const char *events, json_t *task) {
        const char *exec_id = json_string_value(json_object_get(task, "executionId"));
        const char *task_id = json_string_value(json_object_get(task, "taskId"));
        const char *op = json_string_value(json_object_get(task, "operation"));
        const char *token = json_string_value(json_object_get(task, "taskToken"));
        json_t *input = json_object_get(task, "input");
        json_int_t attempt = json_integer_value(json_object_get(task, "attempt"));
        json_int_t fail_times = json_integer_value(json_object_get(input, "failTimes"));
        json_int_t sleep_ms = json_integer_value(json_object_get(input, "sleepMs"));
        json_t *msg, *output;

        if (!exec_id || !task_id)
                return;
        if (sleep_ms > 0)
                usleep((useconds_t) (sleep_ms > 10000 ? 10000 : sleep_ms) * 1000);

        if (attempt < fail_times) {
                const char *err = json_string_value(json_object_get(input, "failError"));
                msg = json_pack("{s:i, s:s, s:s, s:s, s:I, s:s, s:s}", "v", 1, "type", "TaskFailed",
                                "executionId", exec_id, "taskId", task_id, "attempt", attempt,
                                "error", err ? err : "Test.Failure", "cause", "failing on purpose");
                produce(p, events, exec_id, msg);
                json_decref(msg);
                return;
        }

        if (op && strcmp(op, "add") == 0)
                output = json_pack("{s:f}", "sum",
                                   json_number_value(json_object_get(input, "a")) +
                                           json_number_value(json_object_get(input, "b")));
        else
                output = json_incref(input ? input : json_null());

        if (token)
                msg = json_pack("{s:i, s:s, s:s, s:O}", "v", 1, "type", "SendTaskSuccess", "taskToken",
                                token, "output", output);
        else
                msg = json_pack("{s:i, s:s, s:s, s:s, s:I, s:O, s:s}", "v", 1, "type", "TaskSucceeded",
                                "executionId", exec_id, "taskId", task_id, "attempt", attempt,
                                "output", output, "workerId", "test-worker");
        produce(p, events, exec_id, msg);
        if (json_is_true(json_object_get(input, "duplicate")))
                produce(p, events, exec_id, msg);
        json_decref(msg);
        json_decref(output);
}

int main(int argc, char **argv) {
        const char *prefix = argc > 2 ? argv[2] : "imgflow.";
        char errstr[512], events[256], pattern[256];
        rd_kafka_conf_t *pc, *cc;
        rd_kafka_t *p, *c;
        rd_kafka_topic_partition_list_t *topics;

        if (argc < 2) {
                fprintf(stderr, "usage: %s BOOTSTRAP [PREFIX]\n", argv[0]);
                return 2;
        }
        signal(SIGTERM, on_signal);
        signal(SIGINT, on_signal);
        snprintf(events, sizeof events, "%sevents", prefix);
        snprintf(pattern, sizeof pattern, "^%stasks.*", prefix);
        for (char *s = pattern + 1; *s; s++)
                if (*s == '.' && s[1] != '*') {
                        memmove(s + 1, s, strlen(s) + 1);
                        *s++ = '\\';
                }

        pc = rd_kafka_conf_new();
        rd_kafka_conf_set(pc, "bootstrap.servers", argv[1], errstr, sizeof errstr);
        rd_kafka_conf_set(pc, "linger.ms", "1", errstr, sizeof errstr);
        p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof errstr);
        if (!p) {
                fprintf(stderr, "producer: %s\n", errstr);
                return 1;
        }
        cc = rd_kafka_conf_new();
        rd_kafka_conf_set(cc, "bootstrap.servers", argv[1], errstr, sizeof errstr);
        rd_kafka_conf_set(cc, "group.id", "test-coordinator-worker", errstr, sizeof errstr);
        rd_kafka_conf_set(cc, "auto.offset.reset", "earliest", errstr, sizeof errstr);
        /* The mock cluster answers an empty fetch only after fetch.wait.max.ms
         * (500 ms by default), new messages or not: set by tests that measure. */
        if (getenv("TEST_WORKER_FETCH_WAIT_MS"))
                rd_kafka_conf_set(cc, "fetch.wait.max.ms", getenv("TEST_WORKER_FETCH_WAIT_MS"), errstr,
                                  sizeof errstr);
        rd_kafka_conf_set(cc, "topic.metadata.refresh.interval.ms", "1000", errstr, sizeof errstr);
        rd_kafka_conf_set_rebalance_cb(cc, on_rebalance);
        c = rd_kafka_new(RD_KAFKA_CONSUMER, cc, errstr, sizeof errstr);
        if (!c) {
                fprintf(stderr, "consumer: %s\n", errstr);
                return 1;
        }
        rd_kafka_poll_set_consumer(c);
        topics = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(topics, pattern, RD_KAFKA_PARTITION_UA);
        if (rd_kafka_subscribe(c, topics)) {
                fprintf(stderr, "subscribe failed\n");
                return 1;
        }
        rd_kafka_topic_partition_list_destroy(topics);
        fprintf(stderr, "test-worker: consuming %s\n", pattern);

        while (!stop) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
                rd_kafka_poll(p, 0);
                if (!m)
                        continue;
                if (!m->err && m->payload) {
                        json_t *task = json_loadb(m->payload, m->len, 0, NULL);
                        if (task)
                                handle(p, events, task);
                        json_decref(task);
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
        rd_kafka_flush(p, 2000);
        rd_kafka_destroy(p);
        return 0;
}
