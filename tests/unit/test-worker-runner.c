/* SPDX-License-Identifier: MIT */
/*
 * worker-runner and the notify operation: a decoded Task runs through its operation and
 * encodes the right event (TaskSucceeded / TaskFailed, echoing executionId,
 * taskId and attempt), deadlines, unknown operations, outputs over the
 * payload limit, and the Notification a notify task publishes.
 */

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "test.h"

#include "image-ops.h"
#include "macro.h"
#include "notify.h"
#include "proto.h"
#include "clock.h"
#include "worker-runner.h"

/* A decoded Task message for op with input (JSON text). */
static ProtoMessage *make_task(const char *op, const char *input, int64_t deadline_ms) {
        char buf[4096];
        snprintf(buf, sizeof(buf),
                 "{\"v\":1,\"type\":\"Task\",\"executionId\":\"ex-1\",\"executionName\":\"run-1\","
                 "\"stateMachine\":\"sm\",\"state\":\"Resize\",\"taskId\":\"task-7\",\"attempt\":2,"
                 "\"resource\":\"arn:aws:lambda:r:1:function:F\",\"operation\":\"%s\",\"input\":%s,"
                 "\"deadlineMs\":%lld,\"heartbeatSeconds\":0,\"dispatchedAtMs\":1}",
                 op, input, (long long) deadline_ms);
        ProtoMessage *m = NULL;
        char *reason = NULL;
        int r = proto_decode(buf, strlen(buf), NULL, &m, &reason);
        if (r < 0)
                fprintf(stderr, "decode: %s\n", reason ? reason : "?");
        free(reason);
        return m;
}

static WorkerTask *make_worker_task(const char *op, const char *input, int64_t deadline_ms) {
        size_t n_extra;
        const Operation *extra = op_notify_table(&n_extra);
        ProtoMessage *m = make_task(op, input, deadline_ms);
        WorkerTask *t = NULL;
        if (!m || worker_task_new(m, "imgflow.tasks", 3, 42, extra, n_extra, &t) < 0) {
                proto_message_free(m);
                return NULL;
        }
        return t;
}

static ProtoMessage *encode_and_decode(WorkerTask *t, const ProtoLimits *lim) {
        char *buf = NULL;
        size_t len = 0;
        if (worker_task_encode_result(t, "host:1", lim, &buf, &len) < 0)
                return NULL;
        ProtoMessage *m = NULL;
        int r = proto_decode(buf, len, NULL, &m, NULL);
        free(buf);
        return r < 0 ? NULL : m;
}

static WorkerRunEnv env(OpLimits *l) {
        op_limits_init_default(l);
        return (WorkerRunEnv){.storage = NULL, .limits = l};
}

TEST(echo_succeeds_and_echoes_the_task_ids) {
        ASSERT_INT_EQ(image_ops_init(1), 0);
        OpLimits l;
        WorkerRunEnv e = env(&l);
        WorkerTask *t = make_worker_task("test.echo", "{\"a\":[1,2],\"key\":\"raw/cat.jpg\"}", 0);
        ASSERT_NOT_NULL(t);
        ASSERT_STR_EQ(t->image_key, "raw/cat.jpg");
        ASSERT_STR_EQ(t->topic, "imgflow.tasks");
        ASSERT_INT_EQ(t->partition, 3);
        ASSERT_INT_EQ(t->offset, 42);

        worker_task_run(t, &e);
        ASSERT_INT_EQ(t->outcome, WORKER_TASK_SUCCEEDED);
        ASSERT_TRUE(t->started_at_ms > 0 && t->finished_at_ms >= t->started_at_ms);

        ProtoMessage *m = encode_and_decode(t, NULL);
        ASSERT_NOT_NULL(m);
        ASSERT_INT_EQ(m->type, PROTO_TASK_SUCCEEDED);
        ASSERT_STR_EQ(m->task_succeeded.execution_id, "ex-1");
        ASSERT_STR_EQ(m->task_succeeded.task_id, "task-7");
        ASSERT_INT_EQ(m->task_succeeded.attempt, 2);
        ASSERT_STR_EQ(m->task_succeeded.worker_id, "host:1");
        ASSERT_JSON_EQ(m->task_succeeded.output, "{\"a\":[1,2],\"key\":\"raw/cat.jpg\"}");
        ASSERT_INT_EQ(m->task_succeeded.started_at_ms, t->started_at_ms);
        proto_message_free(m);
        worker_task_free(t);
}

TEST(attempt_is_one_based_for_operations) {
        WorkerTask *t = make_worker_task("test.echo", "{}", 0);
        ASSERT_NOT_NULL(t);
        OpContext c = worker_task_context(t, NULL);
        ASSERT_INT_EQ(c.attempt, 3); /* Task.attempt 2 = the third try */
        ASSERT_STR_EQ(c.execution_name, "run-1");
        ASSERT_STR_EQ(c.state_name, "Resize");
        ASSERT_TRUE(c.cancel == &t->cancel);
        worker_task_free(t);
}

TEST(index_path_reaches_the_operation) {
        const char *text = "{\"v\":1,\"type\":\"Task\",\"executionId\":\"ex-1\",\"executionName\":\"run-1\","
                           "\"stateMachine\":\"sm\",\"state\":\"Resize\",\"taskId\":\"task-7\",\"attempt\":0,"
                           "\"resource\":\"r\",\"operation\":\"test.echo\",\"input\":{},\"deadlineMs\":0,"
                           "\"heartbeatSeconds\":0,\"dispatchedAtMs\":1,\"indexPath\":\"3.1\"}";
        ProtoMessage *m = NULL;
        WorkerTask *t = NULL;

        ASSERT_INT_EQ(proto_decode(text, strlen(text), NULL, &m, NULL), 0);
        ASSERT_INT_EQ(worker_task_new(m, "imgflow.tasks", 0, 1, NULL, 0, &t), 0);
        OpContext c = worker_task_context(t, NULL);
        ASSERT_STR_EQ(c.index_path, "3.1");
        worker_task_free(t);

        t = make_worker_task("test.echo", "{}", 0);
        ASSERT_NOT_NULL(t);
        c = worker_task_context(t, NULL);
        ASSERT_NULL(c.index_path); /* top level */
        worker_task_free(t);
}

TEST(a_failing_operation_reports_its_error_name) {
        OpLimits l;
        WorkerRunEnv e = env(&l);
        WorkerTask *t =
                make_worker_task("test.fail", "{\"error\":\"Image.Invalid\",\"cause\":\"bad bytes\"}", 0);
        ASSERT_NOT_NULL(t);
        worker_task_run(t, &e);
        ASSERT_INT_EQ(t->outcome, WORKER_TASK_FAILED);
        ProtoMessage *m = encode_and_decode(t, NULL);
        ASSERT_NOT_NULL(m);
        ASSERT_INT_EQ(m->type, PROTO_TASK_FAILED);
        ASSERT_STR_EQ(m->task_failed.error, "Image.Invalid");
        ASSERT_STR_EQ(m->task_failed.cause, "bad bytes");
        ASSERT_INT_EQ(m->task_failed.attempt, 2);
        proto_message_free(m);
        worker_task_free(t);
}

TEST(bad_parameters_are_params_invalid) {
        OpLimits l;
        WorkerRunEnv e = env(&l);
        WorkerTask *t = make_worker_task("test.sleep", "{\"ms\":\"soon\"}", 0);
        ASSERT_NOT_NULL(t);
        worker_task_run(t, &e);
        ASSERT_INT_EQ(t->outcome, WORKER_TASK_FAILED);
        ASSERT_STR_EQ(t->failure.error, "Params.Invalid");
        worker_task_free(t);
}

TEST(unknown_operation) {
        OpLimits l;
        WorkerRunEnv e = env(&l);
        WorkerTask *t = make_worker_task("image.teleport", "{}", 0);
        ASSERT_NOT_NULL(t);
        ASSERT_NULL(t->op);
        worker_task_run(t, &e);
        ASSERT_INT_EQ(t->outcome, WORKER_TASK_FAILED);
        ASSERT_STR_EQ(t->failure.error, "Worker.UnknownOperation");
        ASSERT_TRUE(strstr(t->failure.cause, "image.teleport") != NULL);
        worker_task_free(t);
}

TEST(past_deadline_is_expired_not_run_not_encoded) {
        OpLimits l;
        WorkerRunEnv e = env(&l);
        WorkerTask *t = make_worker_task("test.sleep", "{\"ms\":5000}", now_ms(CLOCK_REALTIME) - 1);
        ASSERT_NOT_NULL(t);
        ASSERT_TRUE(worker_task_expired(t, now_ms(CLOCK_REALTIME)));
        worker_task_run(t, &e); /* would sleep 5 s if it ran */
        ASSERT_INT_EQ(t->outcome, WORKER_TASK_EXPIRED);
        char *buf = NULL;
        size_t len;
        ASSERT_INT_EQ(worker_task_encode_result(t, NULL, NULL, &buf, &len), -EINVAL);
        worker_task_free(t);

        t = make_worker_task("test.echo", "{}", now_ms(CLOCK_REALTIME) + 60000);
        ASSERT_FALSE(worker_task_expired(t, now_ms(CLOCK_REALTIME)));
        worker_task_free(t);
        t = make_worker_task("test.echo", "{}", 0);
        ASSERT_FALSE(worker_task_expired(t, INT64_MAX));
        worker_task_free(t);
}

TEST(cancel_stops_a_sleeping_task) {
        OpLimits l;
        WorkerRunEnv e = env(&l);
        WorkerTask *t = make_worker_task("test.sleep", "{\"ms\":5000}", 0);
        ASSERT_NOT_NULL(t);
        atomic_store(&t->cancel, true);
        worker_task_run(t, &e);
        ASSERT_INT_EQ(t->outcome, WORKER_TASK_FAILED);
        ASSERT_TRUE(t->finished_usec - t->started_usec < 1000000);
        worker_task_free(t);
}

TEST(output_over_the_payload_limit_becomes_data_limit_exceeded) {
        OpLimits l;
        WorkerRunEnv e = env(&l);
        char input[3000];
        snprintf(input, sizeof(input), "{\"blob\":\"%02000d\"}", 0);
        WorkerTask *t = make_worker_task("test.echo", input, 0);
        ASSERT_NOT_NULL(t);
        worker_task_run(t, &e);
        ASSERT_INT_EQ(t->outcome, WORKER_TASK_SUCCEEDED);

        ProtoLimits lim = {.max_payload_bytes = 1024};
        ProtoMessage *m = encode_and_decode(t, &lim);
        ASSERT_NOT_NULL(m);
        ASSERT_INT_EQ(m->type, PROTO_TASK_FAILED);
        ASSERT_STR_EQ(m->task_failed.error, "States.DataLimitExceeded");
        proto_message_free(m);

        m = encode_and_decode(t, NULL); /* fits in 256 KiB */
        ASSERT_NOT_NULL(m);
        ASSERT_INT_EQ(m->type, PROTO_TASK_SUCCEEDED);
        proto_message_free(m);
        worker_task_free(t);
}

TEST(fail_and_succeed_from_the_loop) {
        WorkerTask *t = make_worker_task("notify", "{}", 0);
        ASSERT_NOT_NULL(t);
        ASSERT_NOT_NULL(t->op);
        ASSERT_NULL(t->op->fn); /* runs on the loop */
        worker_task_fail(t, "Notify.DeliveryFailed", "topic %s", "x");
        ASSERT_INT_EQ(t->outcome, WORKER_TASK_FAILED);
        ASSERT_STR_EQ(t->failure.cause, "topic x");
        worker_task_succeed(t, json_pack("{s:s}", "MessageId", "m"));
        ASSERT_INT_EQ(t->outcome, WORKER_TASK_SUCCEEDED);
        ASSERT_NULL(t->failure.error);
        ProtoMessage *m = encode_and_decode(t, NULL);
        ASSERT_NOT_NULL(m);
        ASSERT_JSON_EQ(m->task_succeeded.output, "{\"MessageId\":\"m\"}");
        proto_message_free(m);
        worker_task_free(t);
}

TEST(heartbeat_encodes) {
        WorkerTask *t = make_worker_task("test.echo", "{}", 0);
        char *buf = NULL;
        size_t len;
        ASSERT_INT_EQ(worker_task_encode_heartbeat(t, "w", &buf, &len), 0);
        ProtoMessage *m = NULL;
        ASSERT_INT_EQ(proto_decode(buf, len, NULL, &m, NULL), 0);
        ASSERT_INT_EQ(m->type, PROTO_TASK_HEARTBEAT);
        ASSERT_STR_EQ(m->task_heartbeat.task_id, "task-7");
        ASSERT_INT_EQ(m->task_heartbeat.attempt, 2);
        proto_message_free(m);
        free(buf);
        worker_task_free(t);
}

/* ---- notify */

static int notify_allowed(const char *input, const char *prefix, char *const *allowed, char **topic, json_t **msg,
                          char **id, TaskFailure *f) {
        ProtoMessage *m = make_task("notify", input, 0);
        char *buf = NULL;
        size_t len;
        int r = op_notify_build(&m->task, prefix, allowed, NULL, topic, &buf, &len, id, f);
        if (r >= 0) {
                *msg = json_loadb(buf, len, 0, NULL);
                free(buf);
        }
        proto_message_free(m);
        return r;
}

/* With the default allow-list (<prefix>notifications only). */
static int notify(const char *input, const char *prefix, char **topic, json_t **msg, char **id, TaskFailure *f) {
        return notify_allowed(input, prefix, NULL, topic, msg, id, f);
}

TEST(notify_publishes_the_input_as_a_notification) {
        char *topic = NULL, *id = NULL;
        json_t *msg = NULL;
        TaskFailure f = TASK_FAILURE_NULL;
        ASSERT_INT_EQ(notify("{\"subject\":\"done\",\"n\":1}", NULL, &topic, &msg, &id, &f), 0);
        ASSERT_STR_EQ(topic, "imgflow.notifications");
        ASSERT_STR_EQ(id, "ex-1#task-7");
        ASSERT_JSON_EQ(msg, "{\"v\":1,\"type\":\"Notification\",\"id\":\"ex-1#task-7\","
                            "\"executionId\":\"ex-1\",\"subject\":\"done\",\"n\":1}");
        /* It is a valid Notification for the decoder too. */
        char *text = json_dumps(msg, JSON_COMPACT);
        ProtoMessage *m = NULL;
        ASSERT_INT_EQ(proto_decode(text, strlen(text), NULL, &m, NULL), 0);
        ASSERT_INT_EQ(m->type, PROTO_NOTIFICATION);
        proto_message_free(m);
        free(text);

        json_t *out = op_notify_result(id, topic);
        ASSERT_JSON_EQ(out, "{\"MessageId\":\"ex-1#task-7\",\"Topic\":\"imgflow.notifications\"}");
        json_decref(out);
        json_decref(msg);
        free(topic);
        free(id);
}

TEST(notify_topic_id_and_non_object_input) {
        char *topic = NULL, *id = NULL;
        json_t *msg = NULL;
        TaskFailure f = TASK_FAILURE_NULL;
        char **allowed = NULL;
        ASSERT_INT_EQ(op_notify_topics_new("team.alerts, acme.notifications", "acme.", &allowed, NULL), 0);
        ASSERT_INT_EQ(notify_allowed("{\"topic\":\"team.alerts\",\"id\":\"n-1\",\"executionId\":\"other\"}",
                                     "acme.", allowed, &topic, &msg, &id, &f),
                      0);
        ASSERT_STR_EQ(topic, "team.alerts");
        ASSERT_STR_EQ(id, "n-1");
        ASSERT_JSON_EQ(msg, "{\"v\":1,\"type\":\"Notification\",\"id\":\"n-1\",\"executionId\":\"other\"}");
        json_decref(msg);
        free(topic);
        free(id);

        ASSERT_INT_EQ(notify_allowed("[1,2]", "acme.", allowed, &topic, &msg, &id, &f), 0);
        ASSERT_STR_EQ(topic, "acme.notifications");
        ASSERT_JSON_EQ(msg, "{\"v\":1,\"type\":\"Notification\",\"id\":\"ex-1#task-7\","
                            "\"executionId\":\"ex-1\",\"message\":[1,2]}");
        json_decref(msg);
        free(topic);
        free(id);
        strv_free(allowed);
}

TEST(notify_refuses_bad_and_reserved_topics) {
        static const char *const bad[] = {
                "{\"topic\":\"imgflow.events\"}",
                "{\"topic\":\"imgflow.tasks\"}",
                "{\"topic\":\"imgflow.tasks.gpu\"}",
                "{\"topic\":\"imgflow.jobs\"}",
                "{\"topic\":\"imgflow.dlq\"}",
                "{\"topic\":\"has space\"}",
                "{\"topic\":\"\"}",
                "{\"topic\":\"..\"}",
                "{\"topic\":7}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char *topic = NULL, *id = NULL;
                json_t *msg = NULL;
                TaskFailure f = TASK_FAILURE_NULL;
                ASSERT_TRUE(notify(bad[i], NULL, &topic, &msg, &id, &f) < 0);
                ASSERT_STR_EQ(f.error, "Params.Invalid");
                ASSERT_NULL(topic);
                task_failure_clear(&f);
        }
}

/* Only the topics of worker.notify_topics: by default the notifications
 * topic, so not another deployment's jobs nor Kafka's own topics. */
TEST(notify_publishes_only_to_allowed_topics) {
        static const char *const refused[] = {
                "{\"topic\":\"otherdeploy.jobs\"}",
                "{\"topic\":\"__consumer_offsets\"}",
                "{\"topic\":\"imgflow.notifications2\"}",
        };
        char **allowed = NULL, *topic = NULL, *id = NULL;
        json_t *msg = NULL;
        TaskFailure f = TASK_FAILURE_NULL;

        for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
                ASSERT_TRUE(notify(refused[i], NULL, &topic, &msg, &id, &f) < 0);
                ASSERT_STR_EQ(f.error, "Params.Invalid");
                ASSERT_TRUE(strstr(f.cause, "worker.notify_topics: imgflow.notifications") != NULL);
                ASSERT_NULL(topic);
                task_failure_clear(&f);
        }
        /* Another prefix's own topics are not allowed either. */
        ASSERT_TRUE(notify("{\"topic\":\"imgflow.events\"}", "other.", &topic, &msg, &id, &f) < 0);
        ASSERT_STR_EQ(f.error, "Params.Invalid");
        task_failure_clear(&f);
        /* The named topic is allowed by default. */
        ASSERT_INT_EQ(notify("{\"topic\":\"imgflow.notifications\"}", NULL, &topic, &msg, &id, &f), 0);
        ASSERT_STR_EQ(topic, "imgflow.notifications");
        json_decref(msg);
        free(topic);
        free(id);

        /* A configured list replaces the default: the notifications topic
         * must be in it for tasks that name no topic. */
        ASSERT_INT_EQ(op_notify_topics_new("team.alerts", NULL, &allowed, NULL), 0);
        ASSERT_INT_EQ(notify_allowed("{\"topic\":\"team.alerts\"}", NULL, allowed, &topic, &msg, &id, &f), 0);
        ASSERT_STR_EQ(topic, "team.alerts");
        json_decref(msg);
        free(topic);
        free(id);
        topic = NULL;
        ASSERT_TRUE(notify_allowed("{}", NULL, allowed, &topic, &msg, &id, &f) < 0);
        ASSERT_STR_EQ(f.error, "Params.Invalid");
        ASSERT_TRUE(strstr(f.cause, "imgflow.notifications is not one this worker may publish to") != NULL);
        ASSERT_NULL(topic);
        task_failure_clear(&f);
        strv_free(allowed);
}

TEST(notify_topics_configuration) {
        char **l = NULL, *error = NULL;
        char many[64 * 8 + 16] = "";

        ASSERT_INT_EQ(op_notify_topics_new("", "acme.", &l, &error), 0);
        ASSERT_STR_EQ(l[0], "acme.notifications");
        ASSERT_NULL(l[1]);
        strv_free(l);
        ASSERT_INT_EQ(op_notify_topics_new(NULL, NULL, &l, &error), 0);
        ASSERT_STR_EQ(l[0], "imgflow.notifications");
        strv_free(l);
        ASSERT_INT_EQ(op_notify_topics_new(" a.b,c_d ,, e-f\tg ", NULL, &l, &error), 0);
        ASSERT_STR_EQ(l[0], "a.b");
        ASSERT_STR_EQ(l[1], "c_d");
        ASSERT_STR_EQ(l[2], "e-f");
        ASSERT_STR_EQ(l[3], "g");
        ASSERT_NULL(l[4]);
        strv_free(l);
        l = NULL;

        ASSERT_INT_EQ(op_notify_topics_new("alerts imgflow.jobs", NULL, &l, &error), -EINVAL);
        ASSERT_NULL(l);
        ASSERT_STR_EQ(error, "\"imgflow.jobs\" is one of imgflow's own topics");
        free(error);
        ASSERT_INT_EQ(op_notify_topics_new("alerts bad/topic", NULL, &l, &error), -EINVAL);
        ASSERT_TRUE(strstr(error, "\"bad/topic\" is not a Kafka topic name") != NULL);
        free(error);
        for (int i = 0; i < 65; i++)
                snprintf(many + strlen(many), sizeof(many) - strlen(many), "t%d ", i);
        ASSERT_INT_EQ(op_notify_topics_new(many, NULL, &l, &error), -EINVAL);
        ASSERT_STR_EQ(error, "more than 64 topics");
        free(error);
}
