/* SPDX-License-Identifier: MIT */

/*
 * Tests of proto/: every message type round-trips (struct -> JSON -> struct
 * and JSON -> struct -> JSON), and every rejection (not JSON, not an object,
 * missing/unknown version or type, missing fields, wrong types, too long,
 * too big, too deep) is refused with the expected errno and reason.
 */

#include <errno.h>
#include <string.h>

#include "json-writer.h"
#include "proto-schema.h"
#include "proto.h"
#include "test.h"

/* A valid example of each type, with every field present. */
static const char *const examples[_PROTO_TYPE_MAX] = {
        [PROTO_START_EXECUTION] =
                "{\"v\":1,\"type\":\"StartExecution\",\"stateMachine\":\"thumbs:3\",\"name\":\"run-1\","
                "\"input\":{\"bucket\":\"photos\",\"key\":\"raw/cat.jpg\"},\"requestId\":\"req-1\"}",
        [PROTO_STOP_EXECUTION] =
                "{\"v\":1,\"type\":\"StopExecution\",\"executionId\":\"e1\",\"error\":\"User.Stop\","
                "\"cause\":\"because\",\"requestId\":\"r\"}",
        [PROTO_REDRIVE_EXECUTION] =
                "{\"v\":1,\"type\":\"RedriveExecution\",\"executionId\":\"e1\",\"clientToken\":\"c-1\","
                "\"requestId\":\"r\"}",
        [PROTO_UPDATE_MAP_RUN] = "{\"v\":1,\"type\":\"UpdateMapRun\",\"executionId\":\"e1\","
                                 "\"mapRunArn\":\"imgflow:mapRun:sm/"
                                 "M:0a1b\",\"maxConcurrency\":4,\"toleratedFailureCount\":2,"
                                 "\"toleratedFailurePercentage\":12.5,\"requestId\":\"r\"}",
        [PROTO_MAP_CHILD_ENDED] = "{\"v\":1,\"type\":\"MapChildEnded\",\"executionId\":\"sm:p\","
                                  "\"childName\":\"0a1b-3\",\"mapRunArn\":\"imgflow:mapRun:sm/M:0a1b\","
                                  "\"status\":\"FAILED\",\"error\":\"Image.Invalid\",\"cause\":\"bad\","
                                  "\"startDate\":1000,\"stopDate\":2000,\"redriveCount\":1}",
        [PROTO_START_SYNC_EXECUTION] =
                "{\"v\":1,\"type\":\"StartSyncExecution\",\"stateMachine\":\"fast\",\"name\":\"s-1\","
                "\"input\":{\"n\":1},\"requestId\":\"req-2\"}",
        [PROTO_TASK] =
                "{\"v\":1,\"type\":\"Task\",\"executionId\":\"e1\",\"executionName\":\"run-1\","
                "\"stateMachine\":\"thumbs\",\"state\":\"Resize\",\"taskId\":\"t1\",\"attempt\":2,"
                "\"resource\":\"arn:aws:lambda:us-east-1:1:function:resize\",\"operation\":\"image.resize\","
                "\"input\":{\"width\":100},\"deadlineMs\":1700000000000,\"heartbeatSeconds\":30,"
                "\"taskToken\":\"tok\",\"dispatchedAtMs\":1699999999000,\"replyTo\":\"imgflow.events:3\"}",
        [PROTO_TASK_SUCCEEDED] =
                "{\"v\":1,\"type\":\"TaskSucceeded\",\"executionId\":\"e1\",\"taskId\":\"t1\","
                "\"attempt\":0,\"output\":[1,\"a\",null,true,0.7,1e-7],\"workerId\":\"w1\",\"startedAtMs\":"
                "5,"
                "\"finishedAtMs\":9}",
        [PROTO_TASK_FAILED] =
                "{\"v\":1,\"type\":\"TaskFailed\",\"executionId\":\"e1\",\"taskId\":\"t1\",\"attempt\":1,"
                "\"error\":\"Image.Invalid\",\"cause\":\"not a JPEG\",\"workerId\":\"w1\"}",
        [PROTO_TASK_HEARTBEAT] =
                "{\"v\":1,\"type\":\"TaskHeartbeat\",\"executionId\":\"e1\",\"taskId\":\"t1\","
                "\"attempt\":1,\"workerId\":\"w1\"}",
        [PROTO_SEND_TASK_SUCCESS] =
                "{\"v\":1,\"type\":\"SendTaskSuccess\",\"taskToken\":\"tok\",\"output\":\"ok\","
                "\"requestId\":\"r\"}",
        [PROTO_SEND_TASK_FAILURE] =
                "{\"v\":1,\"type\":\"SendTaskFailure\",\"taskToken\":\"tok\",\"error\":\"E\","
                "\"cause\":\"c\",\"requestId\":\"r\"}",
        [PROTO_SEND_TASK_HEARTBEAT] =
                "{\"v\":1,\"type\":\"SendTaskHeartbeat\",\"taskToken\":\"tok\",\"requestId\":\"r\"}",
        [PROTO_TIMER_FIRED] =
                "{\"v\":1,\"type\":\"TimerFired\",\"executionId\":\"e1\",\"timerId\":\"wait:7\"}",
        [PROTO_EXECUTION_STATUS_CHANGED] =
                "{\"v\":1,\"type\":\"ExecutionStatusChanged\",\"id\":\"e1#FAILED\",\"executionId\":\"e1\","
                "\"executionName\":\"run-1\",\"stateMachine\":\"thumbs\",\"status\":\"FAILED\","
                "\"startDate\":1,"
                "\"stopDate\":2,\"output\":{\"x\":1},\"error\":\"States.Timeout\",\"cause\":\"slow\"}",
        [PROTO_NOTIFICATION] = "{\"v\":1,\"type\":\"Notification\",\"id\":\"n1\",\"executionId\":\"e1\","
                               "\"message\":\"done\"}",
        [PROTO_DEAD_LETTER] =
                "{\"v\":1,\"type\":\"DeadLetter\",\"reason\":\"not JSON\",\"topic\":\"imgflow.events\","
                "\"partition\":3,\"offset\":42,\"key\":\"e1\",\"payload\":\"{oops\","
                "\"payloadLength\":5}",
};

static void *xmalloc(size_t n) {
        void *p = malloc(n);
        if (!p)
                abort();
        return p;
}

static int decode_str(const char *s, ProtoMessage **ret, char **ret_reason) {
        return proto_decode(s, strlen(s), NULL, ret, ret_reason);
}

/* Decodes s, expects failure r with a reason containing `want`. */
#define ASSERT_REJECTS(s, r, want)                                                                          \
        do {                                                                                                \
                ProtoMessage *m_ = NULL;                                                                    \
                char *why_ = NULL;                                                                          \
                int rr_ = decode_str((s), &m_, &why_);                                                      \
                if (rr_ != (r) || !why_ || !strstr(why_, (want))) {                                         \
                        fprintf(stderr, "  input: %.200s\n  r=%d reason=%s\n", (s), rr_,                    \
                                why_ ? why_ : "(null)");                                                    \
                        free(why_);                                                                         \
                        proto_message_free(m_);                                                             \
                        TEST_FAIL_("expected %s with reason containing \"%s\"", #r, (want));                \
                }                                                                                           \
                ASSERT_NULL(m_);                                                                            \
                free(why_);                                                                                 \
        } while (0)

TEST(examples_roundtrip_json) {
        /* JSON -> struct -> JSON gives the same object, for every type. */
        for (int t = 0; t < _PROTO_TYPE_MAX; t++) {
                ProtoMessage *m = NULL;
                char *why = NULL, *buf = NULL;
                size_t len = 0;
                json_t *again;

                ASSERT_NOT_NULL(examples[t]);
                ASSERT_INT_EQ(decode_str(examples[t], &m, &why), 0);
                ASSERT_NULL(why);
                ASSERT_INT_EQ(m->type, t);
                ASSERT_INT_EQ(proto_encode(m, NULL, &buf, &len), 0);
                ASSERT_INT_EQ(len, strlen(buf));
                again = json_loads(buf, 0, NULL);
                ASSERT_NOT_NULL(again);
                ASSERT_JSON_EQ(again, examples[t]);
                /* "v" and "type" lead. */
                ASSERT_TRUE(strncmp(buf, "{\"v\":1,\"type\":\"", 15) == 0);
                /* The text is written without building the object: byte
                 * for byte the object's canonical dump (reals in their
                 * shortest form: 0.7, where json_dumps() writes
                 * 0.69999999999999996). */
                json_t *o = NULL;
                ASSERT_INT_EQ(proto_encode_json(m, NULL, &o), 0);
                char *dumped = json_writer_dumpn(o, NULL);
                ASSERT_STR_EQ(buf, dumped);
                if (t == PROTO_TASK_SUCCEEDED)
                        ASSERT_NOT_NULL(strstr(buf, "\"output\":[1,\"a\",null,true,0.7,1e-7]"));
                free(dumped);
                json_decref(o);
                json_decref(again);
                free(buf);
                proto_message_free(m);
        }
}

TEST(decoded_fields) {
        ProtoMessage *m = NULL;

        ASSERT_INT_EQ(decode_str(examples[PROTO_TASK], &m, NULL), 0);
        ASSERT_STR_EQ(m->task.execution_id, "e1");
        ASSERT_STR_EQ(m->task.execution_name, "run-1");
        ASSERT_STR_EQ(m->task.state_machine, "thumbs");
        ASSERT_STR_EQ(m->task.state, "Resize");
        ASSERT_STR_EQ(m->task.task_id, "t1");
        ASSERT_INT_EQ(m->task.attempt, 2);
        ASSERT_STR_EQ(m->task.resource, "arn:aws:lambda:us-east-1:1:function:resize");
        ASSERT_STR_EQ(m->task.operation, "image.resize");
        ASSERT_JSON_EQ(m->task.input, "{\"width\":100}");
        ASSERT_INT_EQ(m->task.deadline_ms, 1700000000000LL);
        ASSERT_INT_EQ(m->task.heartbeat_seconds, 30);
        ASSERT_STR_EQ(m->task.task_token, "tok");
        ASSERT_INT_EQ(m->task.dispatched_at_ms, 1699999999000LL);
        ASSERT_STR_EQ(proto_message_execution_id(m), "e1");
        ASSERT_STR_EQ(proto_message_key(m), "e1");
        m = proto_message_free(m);

        ASSERT_INT_EQ(decode_str(examples[PROTO_DEAD_LETTER], &m, NULL), 0);
        ASSERT_STR_EQ(m->dead_letter.reason, "not JSON");
        ASSERT_STR_EQ(m->dead_letter.topic, "imgflow.events");
        ASSERT_INT_EQ(m->dead_letter.partition, 3);
        ASSERT_INT_EQ(m->dead_letter.offset, 42);
        ASSERT_STR_EQ(m->dead_letter.key, "e1");
        ASSERT_STR_EQ(m->dead_letter.payload, "{oops");
        ASSERT_NULL(m->dead_letter.payload_base64);
        ASSERT_INT_EQ(m->dead_letter.payload_length, 5);
        ASSERT_FALSE(m->dead_letter.truncated);
        m = proto_message_free(m);

        ASSERT_INT_EQ(decode_str(examples[PROTO_SEND_TASK_SUCCESS], &m, NULL), 0);
        ASSERT_STR_EQ(m->send_task_success.task_token, "tok");
        ASSERT_JSON_EQ(m->send_task_success.output, "\"ok\"");
        ASSERT_NULL(proto_message_execution_id(m));
        ASSERT_STR_EQ(proto_message_key(m), "tok");
        proto_message_free(m);
}

TEST(roundtrip_structs) {
        /* struct -> JSON -> struct, one per type, optional fields absent. */
        json_t *input = json_pack("{s:s, s:[i,i]}", "key", "raw/cat.jpg", "size", 10, 20);
        char *buf = NULL;
        size_t len;
        ProtoMessage *m = NULL;

        ProtoStartExecution se = {.state_machine = "thumbs", .input = input};
        ASSERT_INT_EQ(proto_encode_start_execution(&se, NULL, &buf, &len), 0);
        ASSERT_INT_EQ(proto_decode(buf, len, NULL, &m, NULL), 0);
        ASSERT_INT_EQ(m->type, PROTO_START_EXECUTION);
        ASSERT_STR_EQ(m->start_execution.state_machine, "thumbs");
        ASSERT_NULL(m->start_execution.name);
        ASSERT_NULL(m->start_execution.request_id);
        ASSERT_TRUE(json_equal(m->start_execution.input, input));
        ASSERT_NULL(proto_message_key(m));
        m = proto_message_free(m);
        free(buf);

        /* No input: {} both ways. */
        se.input = NULL;
        ASSERT_INT_EQ(proto_encode_start_execution(&se, NULL, &buf, &len), 0);
        ASSERT_STR_EQ(buf, "{\"v\":1,\"type\":\"StartExecution\",\"stateMachine\":\"thumbs\",\"input\":{}}");
        free(buf);
        ASSERT_INT_EQ(decode_str("{\"v\":1,\"type\":\"StartExecution\",\"stateMachine\":\"s\"}", &m, NULL),
                      0);
        ASSERT_JSON_EQ(m->start_execution.input, "{}");
        m = proto_message_free(m);

        ProtoStopExecution st = {.execution_id = "e9"};
        ASSERT_INT_EQ(proto_encode_stop_execution(&st, NULL, &buf, &len), 0);
        ASSERT_STR_EQ(buf, "{\"v\":1,\"type\":\"StopExecution\",\"executionId\":\"e9\"}");
        free(buf);

        ProtoTask t = {
                .execution_id = "e1",
                .execution_name = "n",
                .state_machine = "sm",
                .state = "S",
                .task_id = "t",
                .attempt = 0,
                .resource = "r",
                .operation = "image.resize",
                .input = input,
                .dispatched_at_ms = 7,
        };
        ASSERT_INT_EQ(proto_encode_task(&t, NULL, &buf, &len), 0);
        ASSERT_INT_EQ(proto_decode(buf, len, NULL, &m, NULL), 0);
        ASSERT_INT_EQ(m->type, PROTO_TASK);
        ASSERT_INT_EQ(m->task.deadline_ms, 0);
        ASSERT_INT_EQ(m->task.heartbeat_seconds, 0);
        ASSERT_INT_EQ(m->task.dispatched_at_ms, 7);
        ASSERT_NULL(m->task.task_token);
        ASSERT_TRUE(json_equal(m->task.input, input));
        /* Required integers are written even when 0. */
        ASSERT_TRUE(strstr(buf, "\"deadlineMs\":0") != NULL);
        /* No indexPath at the top level. */
        ASSERT_NULL(m->task.index_path);
        ASSERT_NULL(strstr(buf, "indexPath"));
        m = proto_message_free(m);
        free(buf);

        t.index_path = "12.0.3";
        ASSERT_INT_EQ(proto_encode_task(&t, NULL, &buf, &len), 0);
        ASSERT_INT_EQ(proto_decode(buf, len, NULL, &m, NULL), 0);
        ASSERT_STR_EQ(m->task.index_path, "12.0.3");
        m = proto_message_free(m);
        free(buf);
        /* Only decimal indices joined by '.' can be sent. */
        t.index_path = "1/../2";
        ASSERT_INT_EQ(proto_encode_task(&t, NULL, &buf, &len), -EINVAL);
        t.index_path = NULL;

        ProtoTaskSucceeded ts = {.execution_id = "e", .task_id = "t", .attempt = 3, .output = json_null()};
        ASSERT_INT_EQ(proto_encode_task_succeeded(&ts, NULL, &buf, &len), 0);
        ASSERT_INT_EQ(proto_decode(buf, len, NULL, &m, NULL), 0);
        ASSERT_INT_EQ(m->task_succeeded.attempt, 3);
        ASSERT_TRUE(json_is_null(m->task_succeeded.output));
        ASSERT_INT_EQ(m->task_succeeded.started_at_ms, 0);
        m = proto_message_free(m);
        free(buf);

        ProtoTaskFailed tf = {
                .execution_id = "e", .task_id = "t", .attempt = 1, .error = "Image.Invalid", .cause = ""};
        ASSERT_INT_EQ(proto_encode_task_failed(&tf, NULL, &buf, &len), 0);
        ASSERT_INT_EQ(proto_decode(buf, len, NULL, &m, NULL), 0);
        ASSERT_STR_EQ(m->task_failed.error, "Image.Invalid");
        ASSERT_STR_EQ(m->task_failed.cause, "");
        m = proto_message_free(m);
        free(buf);

        ProtoTaskHeartbeat th = {.execution_id = "e", .task_id = "t", .attempt = 1, .worker_id = "w"};
        ASSERT_INT_EQ(proto_encode_task_heartbeat(&th, NULL, &buf, &len), 0);
        ASSERT_STR_EQ(
                buf,
                "{\"v\":1,\"type\":\"TaskHeartbeat\",\"executionId\":\"e\",\"taskId\":\"t\",\"attempt\":1,"
                "\"workerId\":\"w\"}");
        free(buf);

        ProtoSendTaskSuccess ss = {.task_token = "tok", .output = input};
        ASSERT_INT_EQ(proto_encode_send_task_success(&ss, NULL, &buf, &len), 0);
        ASSERT_INT_EQ(proto_decode(buf, len, NULL, &m, NULL), 0);
        ASSERT_TRUE(json_equal(m->send_task_success.output, input));
        m = proto_message_free(m);
        free(buf);

        ProtoSendTaskFailure sf = {.task_token = "tok"};
        ASSERT_INT_EQ(proto_encode_send_task_failure(&sf, NULL, &buf, &len), 0);
        ASSERT_STR_EQ(buf, "{\"v\":1,\"type\":\"SendTaskFailure\",\"taskToken\":\"tok\"}");
        free(buf);

        ProtoSendTaskHeartbeat sh = {.task_token = "tok", .request_id = "r"};
        ASSERT_INT_EQ(proto_encode_send_task_heartbeat(&sh, NULL, &buf, &len), 0);
        ASSERT_STR_EQ(buf,
                      "{\"v\":1,\"type\":\"SendTaskHeartbeat\",\"taskToken\":\"tok\",\"requestId\":\"r\"}");
        free(buf);

        ProtoTimerFired tm = {.execution_id = "e", .timer_id = "x"};
        ASSERT_INT_EQ(proto_encode_timer_fired(&tm, NULL, &buf, &len), 0);
        ASSERT_STR_EQ(buf, "{\"v\":1,\"type\":\"TimerFired\",\"executionId\":\"e\",\"timerId\":\"x\"}");
        free(buf);

        /* The dedup id is computed when not given. */
        ProtoExecutionStatusChanged esc = {
                .execution_id = "e1",
                .execution_name = "n",
                .state_machine = "sm",
                .status = "SUCCEEDED",
                .start_date = 10,
                .stop_date = 20,
                .output = input,
        };
        ASSERT_INT_EQ(proto_encode_execution_status_changed(&esc, NULL, &buf, &len), 0);
        ASSERT_INT_EQ(proto_decode(buf, len, NULL, &m, NULL), 0);
        ASSERT_STR_EQ(m->execution_status_changed.id, "e1#SUCCEEDED");
        ASSERT_STR_EQ(m->execution_status_changed.status, "SUCCEEDED");
        ASSERT_INT_EQ(m->execution_status_changed.stop_date, 20);
        ASSERT_TRUE(json_equal(m->execution_status_changed.output, input));
        ASSERT_NULL(m->execution_status_changed.error);
        m = proto_message_free(m);
        free(buf);

        /* Notification: free-form members pass through. */
        {
                json_t *body = json_pack("{s:s, s:i, s:s}", "subject", "done", "v", 7, "id", "ignored");
                ProtoNotification n = {.id = "n-1", .execution_id = "e1", .body = body};
                ASSERT_INT_EQ(proto_encode_notification(&n, NULL, &buf, &len), 0);
                ASSERT_INT_EQ(proto_decode(buf, len, NULL, &m, NULL), 0);
                ASSERT_JSON_EQ(m->root,
                               "{\"v\":1,\"type\":\"Notification\",\"subject\":\"done\",\"id\":\"n-1\","
                               "\"executionId\":\"e1\"}");
                ASSERT_TRUE(m->notification.body == m->root);
                m = proto_message_free(m);
                free(buf);
                json_decref(body);
        }

        ProtoDeadLetter dl = {
                .reason = "r", .topic = "t", .partition = -1, .offset = -1001, .payload_base64 = "AA=="};
        ASSERT_INT_EQ(proto_encode_dead_letter_message(&dl, NULL, &buf, &len), 0);
        ASSERT_INT_EQ(proto_decode(buf, len, NULL, &m, NULL), 0);
        ASSERT_INT_EQ(m->dead_letter.partition, -1);
        ASSERT_INT_EQ(m->dead_letter.offset, -1001);
        ASSERT_STR_EQ(m->dead_letter.payload_base64, "AA==");
        m = proto_message_free(m);
        free(buf);

        json_decref(input);
}

TEST(reject_not_json) {
        ASSERT_REJECTS("", -EBADMSG, "empty message");
        ASSERT_REJECTS(" ", -EBADMSG, "not JSON");
        {
                ProtoMessage *m = NULL;
                char *why = NULL;
                ASSERT_INT_EQ(proto_decode(NULL, 0, NULL, &m, &why), -EBADMSG); /* Kafka null value */
                ASSERT_STR_EQ(why, "empty message");
                free(why);
        }
        ASSERT_REJECTS("{", -EBADMSG, "not JSON");
        ASSERT_REJECTS("{\"v\":1,", -EBADMSG, "not JSON");
        ASSERT_REJECTS("{'v':1}", -EBADMSG, "not JSON");
        ASSERT_REJECTS("{\"v\":1} trailing", -EBADMSG, "not JSON");
        ASSERT_REJECTS("\xff\xfe", -EBADMSG, "not JSON");
        ASSERT_REJECTS("{\"v\":1,\"type\":\"TimerFired\",\"executionId\":\"a\\u0000b\",\"timerId\":\"t\"}",
                       -EBADMSG, "not JSON");
        /* Duplicate keys are ambiguous: refused. */
        ASSERT_REJECTS("{\"v\":1,\"type\":\"TimerFired\",\"executionId\":\"a\",\"executionId\":\"b\","
                       "\"timerId\":\"t\"}",
                       -EBADMSG, "not JSON");
        /* Not NUL-terminated input is fine: only len bytes are read. */
        {
                const char s[] =
                        "{\"v\":1,\"type\":\"TimerFired\",\"executionId\":\"e\",\"timerId\":\"t\"}XXXX";
                ProtoMessage *m = NULL;
                ASSERT_INT_EQ(proto_decode(s, strlen(s) - 4, NULL, &m, NULL), 0);
                proto_message_free(m);
        }
}

TEST(reject_not_object) {
        ASSERT_REJECTS("[1,2]", -EBADMSG, "not a JSON object");
        ASSERT_REJECTS("\"Task\"", -EBADMSG, "not a JSON object");
        ASSERT_REJECTS("42", -EBADMSG, "not a JSON object");
        ASSERT_REJECTS("null", -EBADMSG, "not a JSON object");
}

TEST(reject_version) {
        ASSERT_REJECTS("{\"type\":\"TimerFired\",\"executionId\":\"e\",\"timerId\":\"t\"}", -EBADMSG,
                       "missing field 'v'");
        ASSERT_REJECTS("{\"v\":\"1\",\"type\":\"TimerFired\",\"executionId\":\"e\",\"timerId\":\"t\"}",
                       -EBADMSG, "field 'v': expected integer");
        ASSERT_REJECTS("{\"v\":1.0,\"type\":\"TimerFired\",\"executionId\":\"e\",\"timerId\":\"t\"}",
                       -EBADMSG, "field 'v': expected integer");
        ASSERT_REJECTS("{\"v\":2,\"type\":\"TimerFired\",\"executionId\":\"e\",\"timerId\":\"t\"}",
                       -EPROTONOSUPPORT, "unsupported version 2");
        ASSERT_REJECTS("{\"v\":0,\"type\":\"TimerFired\",\"executionId\":\"e\",\"timerId\":\"t\"}",
                       -EPROTONOSUPPORT, "unsupported version 0");
}

TEST(reject_type) {
        ASSERT_REJECTS("{\"v\":1}", -EBADMSG, "missing field 'type'");
        ASSERT_REJECTS("{\"v\":1,\"type\":7}", -EBADMSG, "field 'type': expected string");
        ASSERT_REJECTS("{\"v\":1,\"type\":\"Bogus\"}", -EBADMSG, "unknown type 'Bogus'");
        ASSERT_REJECTS("{\"v\":1,\"type\":\"task\"}", -EBADMSG, "unknown type 'task'");
        /* The quoted name in the reason is cut and made printable. */
        {
                char big[400];
                char *why = NULL;
                ProtoMessage *m = NULL;
                int n = snprintf(big, sizeof big, "{\"v\":1,\"type\":\"%0200d\\n\"}", 0);
                ASSERT_INT_EQ(proto_decode(big, (size_t) n, NULL, &m, &why), -EBADMSG);
                ASSERT_NOT_NULL(why);
                ASSERT_TRUE(strlen(why) < 100);
                ASSERT_TRUE(strstr(why, "...") != NULL);
                free(why);
        }
}

/* Builds a message from the example of `t` with field `name` replaced by
 * `value` (NULL = removed) and returns its text. */
static char *example_with(ProtoType t, const char *name, json_t *value) {
        json_t *o = json_loads(examples[t], 0, NULL);
        char *s;

        if (value)
                json_object_set(o, name, value);
        else
                json_object_del(o, name);
        s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        return s;
}

TEST(reject_missing_and_wrong_types_every_type) {
        /* For every type and every schema field: removing a required field and
         * giving any field a value of the wrong JSON type is refused, naming
         * the field. */
        json_t *a_string = json_string("x"), *an_int = json_integer(5), *an_array = json_array();
        size_t checked = 0;

        for (int t = 0; t < _PROTO_TYPE_MAX; t++) {
                const ProtoSchema *s = &proto_schemas[t];

                for (size_t i = 0; i < s->n_fields; i++) {
                        const ProtoField *f = &s->fields[i];
                        char want[128], *text = NULL;

                        if (f->required) {
                                text = example_with(t, f->name, NULL);
                                snprintf(want, sizeof want, "missing field '%s'", f->name);
                                ASSERT_REJECTS(text, -EBADMSG, want);
                                free(text);
                                /* null is not a value for a required field */
                                if (f->kind != PROTO_FIELD_ANY) {
                                        json_t *null = json_null();
                                        text = example_with(t, f->name, null);
                                        snprintf(want, sizeof want, "field '%s': expected", f->name);
                                        ASSERT_REJECTS(text, -EBADMSG, want);
                                        free(text);
                                }
                                checked++;
                        }
                        switch (f->kind) {
                        case PROTO_FIELD_STRING:
                                text = example_with(t, f->name, an_int);
                                snprintf(want, sizeof want, "field '%s': expected string", f->name);
                                break;
                        case PROTO_FIELD_INT:
                                text = example_with(t, f->name, a_string);
                                snprintf(want, sizeof want, "field '%s': expected integer", f->name);
                                ASSERT_REJECTS(text, -EBADMSG, want);
                                free(text);
                                /* reals are not integers */
                                {
                                        json_t *real = json_real(1.5);
                                        text = example_with(t, f->name, real);
                                        json_decref(real);
                                }
                                break;
                        case PROTO_FIELD_BOOL:
                                text = example_with(t, f->name, an_int);
                                snprintf(want, sizeof want, "field '%s': expected boolean", f->name);
                                break;
                        case PROTO_FIELD_ANY:
                                continue; /* any JSON value is right */
                        }
                        ASSERT_REJECTS(text, -EBADMSG, want);
                        free(text);
                        checked++;
                }
        }
        ASSERT_TRUE(checked > 60);
        json_decref(a_string);
        json_decref(an_int);
        json_decref(an_array);
}

/* An empty stateMachine or name decodes: the coordinator refuses it with
 * InvalidArn / InvalidName and so answers the requestId. */
TEST(start_execution_empty_names_decode) {
        ProtoMessage *m = NULL;

        ASSERT_INT_EQ(decode_str("{\"v\":1,\"type\":\"StartExecution\",\"stateMachine\":\"\",\"name\":\"\","
                                 "\"requestId\":\"r-1\"}",
                                 &m, NULL),
                      0);
        ASSERT_STR_EQ(m->start_execution.state_machine, "");
        ASSERT_STR_EQ(m->start_execution.name, "");
        ASSERT_STR_EQ(m->start_execution.request_id, "r-1");
        proto_message_free(m);
        ASSERT_REJECTS("{\"v\":1,\"type\":\"StartExecution\",\"stateMachine\":\"s\",\"requestId\":\"\"}",
                       -EBADMSG, "field 'requestId': must not be empty");
}

TEST(reject_field_values) {
        ASSERT_REJECTS("{\"v\":1,\"type\":\"TimerFired\",\"executionId\":\"\",\"timerId\":\"t\"}", -EBADMSG,
                       "field 'executionId': must not be empty");
        ASSERT_REJECTS(
                "{\"v\":1,\"type\":\"TaskHeartbeat\",\"executionId\":\"e\",\"taskId\":\"t\",\"attempt\":-1}",
                -EBADMSG, "field 'attempt': must be >= 0");
        ASSERT_REJECTS("{\"v\":1,\"type\":\"ExecutionStatusChanged\",\"id\":\"e#X\",\"executionId\":\"e\","
                       "\"executionName\":\"n\",\"stateMachine\":\"s\",\"status\":\"DONE\",\"startDate\":1}",
                       -EBADMSG,
                       "field 'status': must be one of RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED");
        ASSERT_REJECTS("{\"v\":1,\"type\":\"DeadLetter\",\"reason\":\"r\",\"topic\":\"t\",\"partition\":0,"
                       "\"offset\":0}",
                       -EBADMSG, "exactly one of 'payload' and 'payloadBase64'");
        /* Task.indexPath: decimal indices without leading zeros, joined by '.'. */
        static const char *const bad_paths[] = {"01", "1.", ".1", "1..2", "a", "1.-2", "1/2", "+1", "1 "};
        for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
                char msg[512];
                snprintf(msg, sizeof(msg),
                         "{\"v\":1,\"type\":\"Task\",\"executionId\":\"e\",\"executionName\":\"n\","
                         "\"stateMachine\":\"s\",\"state\":\"S\",\"taskId\":\"t\",\"attempt\":0,"
                         "\"resource\":\"r\",\"operation\":\"o\",\"input\":{},\"deadlineMs\":0,"
                         "\"heartbeatSeconds\":0,\"dispatchedAtMs\":1,\"indexPath\":\"%s\"}",
                         bad_paths[i]);
                ASSERT_REJECTS(msg, -EBADMSG, "field 'indexPath': must be decimal indices joined by '.'");
        }
        ASSERT_REJECTS("{\"v\":1,\"type\":\"DeadLetter\",\"reason\":\"r\",\"topic\":\"t\",\"partition\":0,"
                       "\"offset\":0,\"payload\":\"\",\"payloadBase64\":\"\"}",
                       -EBADMSG, "exactly one of 'payload' and 'payloadBase64'");
}

TEST(optional_null_and_unknown_fields) {
        ProtoMessage *m = NULL;

        /* null in an optional field means absent; unknown fields are ignored. */
        ASSERT_INT_EQ(decode_str("{\"v\":1,\"type\":\"StopExecution\",\"executionId\":\"e\",\"error\":null,"
                                 "\"futureField\":{\"a\":1}}",
                                 &m, NULL),
                      0);
        ASSERT_NULL(m->stop_execution.error);
        ASSERT_STR_EQ(m->stop_execution.execution_id, "e");
        proto_message_free(m);
}

TEST(reject_string_too_long) {
        char *id = xmalloc(PROTO_MAX_ID_BYTES + 2);
        json_t *v;
        char *text;

        memset(id, 'a', PROTO_MAX_ID_BYTES + 1);
        id[PROTO_MAX_ID_BYTES + 1] = '\0';
        v = json_string(id);
        text = example_with(PROTO_TASK, "taskId", v);
        ASSERT_REJECTS(text, -EBADMSG, "field 'taskId': longer than 1024 bytes");
        free(text);
        json_decref(v);

        /* Exactly at the limit is fine. */
        id[PROTO_MAX_ID_BYTES] = '\0';
        v = json_string(id);
        text = example_with(PROTO_TASK, "taskId", v);
        {
                ProtoMessage *m = NULL;
                ASSERT_INT_EQ(decode_str(text, &m, NULL), 0);
                ASSERT_INT_EQ(strlen(m->task.task_id), PROTO_MAX_ID_BYTES);
                proto_message_free(m);
        }
        free(text);
        json_decref(v);

        /* The encoder refuses it too. */
        {
                ProtoTimerFired tm = {.execution_id = "e", .timer_id = id};
                char *buf = NULL;
                size_t len;
                id[PROTO_MAX_ID_BYTES] = 'a';
                ASSERT_INT_EQ(proto_encode_timer_fired(&tm, NULL, &buf, &len), -ENAMETOOLONG);
                ASSERT_NULL(buf);
        }
        free(id);

        /* error names are limited to 256 bytes */
        {
                char err[300];
                memset(err, 'E', 257);
                err[257] = '\0';
                v = json_string(err);
                text = example_with(PROTO_TASK_FAILED, "error", v);
                ASSERT_REJECTS(text, -EBADMSG, "field 'error': longer than 256 bytes");
                free(text);
                json_decref(v);
        }
}

TEST(reject_over_payload_limit) {
        size_t n = PROTO_MAX_PAYLOAD_BYTES_DEFAULT + 1;
        char *big = xmalloc(n + 1), *why = NULL;
        ProtoMessage *m = NULL;
        ProtoLimits small = {.max_payload_bytes = 64};
        int k;

        /* A valid message whose "input" makes it one byte too big. */
        k = snprintf(big, n + 1, "{\"v\":1,\"type\":\"StartExecution\",\"stateMachine\":\"s\",\"input\":\"");
        memset(big + k, 'x', n - k - 2);
        memcpy(big + n - 2, "\"}", 2);
        big[n] = '\0';
        ASSERT_INT_EQ(proto_decode(big, n, NULL, &m, &why), -E2BIG);
        ASSERT_STR_EQ(why, "payload is 262145 bytes, over the limit of 262144");
        ASSERT_NULL(m);
        free(why);
        why = NULL;
        /* One byte less is accepted. */
        memmove(big + n - 3, "\"}", 2);
        ASSERT_INT_EQ(proto_decode(big, n - 1, NULL, &m, &why), 0);
        m = proto_message_free(m);

        /* Configurable. */
        ASSERT_INT_EQ(proto_decode(examples[PROTO_TASK], strlen(examples[PROTO_TASK]), &small, &m, &why),
                      -E2BIG);
        ASSERT_TRUE(strstr(why, "over the limit of 64") != NULL);
        free(why);
        free(big);

        /* The encoder refuses a message over the limit. */
        {
                ProtoTimerFired tm = {.execution_id = "e", .timer_id = "t"};
                ProtoLimits tiny = {.max_payload_bytes = 20};
                char *buf = NULL;
                size_t len;
                ASSERT_INT_EQ(proto_encode_timer_fired(&tm, &tiny, &buf, &len), -E2BIG);
                ASSERT_NULL(buf);
        }
}

static char *nested(size_t depth, char open, char close, const char *prefix, const char *suffix) {
        size_t pl = strlen(prefix), sl = strlen(suffix);
        char *s = xmalloc(pl + 2 * depth + sl + 1), *p = s;

        memcpy(p, prefix, pl);
        p += pl;
        memset(p, open, depth);
        p += depth;
        memset(p, close, depth);
        p += depth;
        memcpy(p, suffix, sl);
        p[sl] = '\0';
        return s;
}

TEST(reject_deep_nesting) {
        const char *pre = "{\"v\":1,\"type\":\"StartExecution\",\"stateMachine\":\"s\",\"input\":";
        char *s;

        /* 10,000 deep: refused by the scanner before parsing. */
        s = nested(10000, '[', ']', "", "");
        ASSERT_REJECTS(s, -E2BIG, "nested deeper than 64 levels");
        free(s);
        s = nested(10000, '[', ']', pre, "}");
        ASSERT_REJECTS(s, -E2BIG, "nested deeper than 64 levels");
        free(s);
        /* Unbalanced (never closed) deep input too. */
        {
                char *open = xmalloc(10001);
                memset(open, '{', 10000);
                open[10000] = '\0';
                ASSERT_REJECTS(open, -E2BIG, "nested deeper than 64 levels");
                free(open);
        }

        /* "input" of depth 64 (63 arrays around a scalar) is fine ... */
        {
                char *inner = nested(63, '[', ']', "", "");
                size_t n = strlen(inner);
                char *msg = xmalloc(strlen(pre) + n + 4);
                ProtoMessage *m = NULL;
                /* put a scalar in the middle: [[[...1...]]] */
                char *with = xmalloc(n + 2);
                memcpy(with, inner, 63);
                with[63] = '1';
                memcpy(with + 64, inner + 63, 63);
                with[127] = '\0';
                sprintf(msg, "%s%s}", pre, with);
                ASSERT_INT_EQ(decode_str(msg, &m, NULL), 0);
                proto_message_free(m);
                /* ... depth 65 (64 arrays around a scalar) is not. */
                free(msg);
                free(with);
                free(inner);
                inner = nested(64, '[', ']', "", "");
                msg = xmalloc(strlen(pre) + 2 * 64 + 4);
                with = xmalloc(2 * 64 + 2);
                memcpy(with, inner, 64);
                with[64] = '1';
                memcpy(with + 65, inner + 64, 64);
                with[129] = '\0';
                sprintf(msg, "%s%s}", pre, with);
                ASSERT_REJECTS(msg, -E2BIG, "field 'input': nested deeper than 64 levels");
                free(msg);
                free(with);
                free(inner);
        }

        /* Brackets inside strings (with escapes) do not count. */
        {
                char *str = nested(5000, '[', '{', "", "");
                size_t n = strlen(str);
                char *msg = xmalloc(strlen(pre) + n + 16);
                ProtoMessage *m = NULL;
                sprintf(msg, "%s\"\\\"\\\\%s\"}", pre, str);
                ASSERT_INT_EQ(decode_str(msg, &m, NULL), 0);
                ASSERT_TRUE(json_is_string(m->start_execution.input));
                proto_message_free(m);
                free(msg);
                free(str);
        }
        ASSERT_INT_EQ(proto_scan_depth("\"[[[\" [[]] {\"a\\\"[\":[[[]]]}", 26, 100), 4);
        ASSERT_INT_EQ(proto_scan_depth("[[[[[[[[[[", 10, 3), 4);

        /* The encoder refuses values nested deeper than the limit. */
        {
                json_t *deep = json_array(), *cur = deep;
                char *buf = NULL;
                size_t len;
                for (int i = 0; i < 100; i++) {
                        json_t *c = json_array();
                        json_array_append_new(cur, c);
                        cur = c;
                }
                ProtoSendTaskSuccess ss = {.task_token = "t", .output = deep};
                ASSERT_INT_EQ(proto_encode_send_task_success(&ss, NULL, &buf, &len), -E2BIG);
                ASSERT_NULL(buf);
                json_decref(deep);
        }
}

TEST(encode_rejects_invalid) {
        char *buf = NULL;
        size_t len;

        ProtoTimerFired tm = {.execution_id = "e"};
        ASSERT_INT_EQ(proto_encode_timer_fired(&tm, NULL, &buf, &len), -EINVAL);
        tm.timer_id = "\xff";
        ASSERT_INT_EQ(proto_encode_timer_fired(&tm, NULL, &buf, &len), -EINVAL);
        tm.timer_id = "";
        ASSERT_INT_EQ(proto_encode_timer_fired(&tm, NULL, &buf, &len), -EINVAL);

        ProtoTaskSucceeded ts = {.execution_id = "e", .task_id = "t"};
        ASSERT_INT_EQ(proto_encode_task_succeeded(&ts, NULL, &buf, &len), -EINVAL); /* no output */

        ProtoExecutionStatusChanged esc = {.execution_id = "e",
                                           .execution_name = "n",
                                           .state_machine = "s",
                                           .status = "DONE",
                                           .start_date = 1};
        ASSERT_INT_EQ(proto_encode_execution_status_changed(&esc, NULL, &buf, &len), -EINVAL);

        ProtoDeadLetter dl = {.reason = "r", .topic = "t", .payload = "a", .payload_base64 = "YQ=="};
        ASSERT_INT_EQ(proto_encode_dead_letter_message(&dl, NULL, &buf, &len), -EINVAL);

        ProtoMessage bad = {.type = _PROTO_TYPE_MAX};
        ASSERT_INT_EQ(proto_encode(&bad, NULL, &buf, &len), -EINVAL);
        ASSERT_NULL(buf);
}

static ProtoMessage *decode_dlq(const char *buf, size_t len) {
        ProtoMessage *m = NULL;
        char *why = NULL;
        int r = proto_decode(buf, len, NULL, &m, &why);
        if (r < 0)
                fprintf(stderr, "  DLQ message does not decode: %s\n", why ? why : "?");
        free(why);
        return m;
}

TEST(dead_letter_text) {
        char *buf = NULL;
        size_t len;
        ProtoMessage *m;

        ASSERT_INT_EQ(proto_encode_dead_letter("not JSON: x", "imgflow.events", 2, 77, "exec-1", 6, "{nope",
                                               5, &buf, &len),
                      0);
        m = decode_dlq(buf, len);
        ASSERT_NOT_NULL(m);
        ASSERT_INT_EQ(m->type, PROTO_DEAD_LETTER);
        ASSERT_JSON_EQ(
                m->root,
                "{\"v\":1,\"type\":\"DeadLetter\",\"reason\":\"not JSON: x\",\"topic\":\"imgflow.events\","
                "\"partition\":2,\"offset\":77,\"key\":\"exec-1\",\"payload\":\"{nope\","
                "\"payloadLength\":5}");
        ASSERT_STR_EQ(proto_message_key(m), "exec-1");
        proto_message_free(m);
        free(buf);

        /* No key, empty payload, no reason. */
        ASSERT_INT_EQ(proto_encode_dead_letter(NULL, NULL, 0, 0, NULL, 0, NULL, 0, &buf, &len), 0);
        m = decode_dlq(buf, len);
        ASSERT_NOT_NULL(m);
        ASSERT_JSON_EQ(m->root, "{\"v\":1,\"type\":\"DeadLetter\",\"reason\":\"unknown\",\"topic\":\"\","
                                "\"partition\":0,\"offset\":0,\"payload\":\"\"}");
        proto_message_free(m);
        free(buf);
}

TEST(dead_letter_binary_and_hostile) {
        char *buf = NULL;
        size_t len;
        ProtoMessage *m;

        /* Not UTF-8 (and a NUL): base64, for both key and payload. */
        ASSERT_INT_EQ(proto_encode_dead_letter("bad \xff reason", "t\xc3", 0, 1, "k\xff", 2, "hello\xff", 6,
                                               &buf, &len),
                      0);
        m = decode_dlq(buf, len);
        ASSERT_NOT_NULL(m);
        ASSERT_STR_EQ(m->dead_letter.payload_base64, "aGVsbG//");
        ASSERT_NULL(m->dead_letter.payload);
        ASSERT_STR_EQ(m->dead_letter.key_base64, "a/8=");
        ASSERT_NULL(m->dead_letter.key);
        ASSERT_STR_EQ(m->dead_letter.reason, "bad ? reason");
        ASSERT_STR_EQ(m->dead_letter.topic, "t?");
        proto_message_free(m);
        free(buf);

        ASSERT_INT_EQ(proto_encode_dead_letter("r", "t", 0, 1, NULL, 0, "a\0b", 3, &buf, &len), 0);
        m = decode_dlq(buf, len);
        ASSERT_NOT_NULL(m);
        ASSERT_STR_EQ(m->dead_letter.payload_base64, "YQBi");
        proto_message_free(m);
        free(buf);
}

TEST(dead_letter_truncated) {
        size_t n = 300 * 1024;
        char *payload = xmalloc(n), *buf = NULL;
        size_t len;
        ProtoMessage *m;

        /* Text: cut to 64 KiB, and not inside a UTF-8 sequence. */
        for (size_t i = 0; i < n; i += 2)
                memcpy(payload + i, "\xc3\xa9", 2); /* é */
        ASSERT_INT_EQ(
                proto_encode_dead_letter("too big", "imgflow.jobs", 0, 5, NULL, 0, payload, n, &buf, &len),
                0);
        ASSERT_TRUE(len <= PROTO_MAX_PAYLOAD_BYTES_DEFAULT);
        m = decode_dlq(buf, len);
        ASSERT_NOT_NULL(m);
        ASSERT_TRUE(m->dead_letter.truncated);
        ASSERT_INT_EQ(m->dead_letter.payload_length, n);
        ASSERT_INT_EQ(strlen(m->dead_letter.payload), PROTO_DLQ_MAX_PAYLOAD_BYTES);
        proto_message_free(m);
        free(buf);

        /* Odd cut point: the é across the 64 KiB boundary is dropped. */
        payload[0] = 'x';
        for (size_t i = 1; i + 1 < n; i += 2)
                memcpy(payload + i, "\xc3\xa9", 2);
        ASSERT_INT_EQ(
                proto_encode_dead_letter("too big", "imgflow.jobs", 0, 5, NULL, 0, payload, n, &buf, &len),
                0);
        m = decode_dlq(buf, len);
        ASSERT_NOT_NULL(m);
        ASSERT_TRUE(m->dead_letter.payload != NULL);
        ASSERT_INT_EQ(strlen(m->dead_letter.payload), PROTO_DLQ_MAX_PAYLOAD_BYTES - 1);
        proto_message_free(m);
        free(buf);

        /* Control characters escape to 6 bytes each; the envelope switches to
         * base64 so that it still fits the payload limit. */
        memset(payload, 0x01, n);
        ASSERT_INT_EQ(proto_encode_dead_letter("ctl", "t", 0, 5, NULL, 0, payload, n, &buf, &len), 0);
        ASSERT_TRUE(len <= PROTO_MAX_PAYLOAD_BYTES_DEFAULT);
        m = decode_dlq(buf, len);
        ASSERT_NOT_NULL(m);
        ASSERT_NOT_NULL(m->dead_letter.payload_base64);
        ASSERT_INT_EQ(strlen(m->dead_letter.payload_base64), PROTO_DLQ_MAX_PAYLOAD_BASE64_BYTES);
        ASSERT_TRUE(m->dead_letter.truncated);
        proto_message_free(m);
        free(buf);

        /* A huge invalid-UTF-8 reason is sanitized and cut. */
        {
                char *r = xmalloc(10001);
                memset(r, 0xff, 10000);
                r[10000] = '\0';
                ASSERT_INT_EQ(proto_encode_dead_letter(r, "t", 0, 0, NULL, 0, "x", 1, &buf, &len), 0);
                m = decode_dlq(buf, len);
                ASSERT_NOT_NULL(m);
                ASSERT_INT_EQ(strlen(m->dead_letter.reason), PROTO_MAX_REASON_BYTES);
                proto_message_free(m);
                free(buf);
                free(r);
        }
        free(payload);
}

TEST(dead_letter_of_rejected_message) {
        /* What a consumer does: decode fails, the reason goes to the DLQ. */
        const char *bad = "{\"v\":2,\"type\":\"Task\"}";
        ProtoMessage *m = NULL;
        char *why = NULL, *buf = NULL;
        size_t len;

        ASSERT_INT_EQ(decode_str(bad, &m, &why), -EPROTONOSUPPORT);
        ASSERT_INT_EQ(
                proto_encode_dead_letter(why, "imgflow.tasks", 1, 9, "e", 1, bad, strlen(bad), &buf, &len),
                0);
        m = decode_dlq(buf, len);
        ASSERT_NOT_NULL(m);
        ASSERT_STR_EQ(m->dead_letter.reason, why);
        ASSERT_STR_EQ(m->dead_letter.payload, bad);
        proto_message_free(m);
        free(buf);
        free(why);
}

TEST(dead_letter_masks_tokens) {
        /* A SendTaskSuccess refused for its size: its live token must not
         * reach the readers of the dead-letter topic, nor a copy of it in a
         * parameter of another name, nor the key it was sent with. */
        const char *tok = "0123456789abcdef0123456789abcdef";
        size_t n = 300 * 1024;
        char *payload = xmalloc(n + 1), *buf = NULL;
        const char *head;
        size_t len;
        ProtoMessage *m;

        head = "{\"v\":1,\"type\":\"SendTaskSuccess\",\"taskToken\" : \"0123456789abcdef0123456789abcdef\","
               "\"output\":{\"copy\":\"token=0123456789abcdef0123456789abcdef\",\"pad\":\"";
        memset(payload, 'x', n);
        memcpy(payload, head, strlen(head));
        payload[n] = '\0';
        ASSERT_INT_EQ(proto_encode_dead_letter("too big", "imgflow.events", 0, 5, tok, strlen(tok), payload,
                                               n, &buf, &len),
                      0);
        ASSERT_NULL(strstr(buf, tok));
        m = decode_dlq(buf, len);
        ASSERT_NOT_NULL(m);
        ASSERT_STR_EQ(m->dead_letter.key, "01234567************************");
        ASSERT_NOT_NULL(
                strstr(m->dead_letter.payload, "\"taskToken\" : \"01234567************************\""));
        ASSERT_NOT_NULL(strstr(m->dead_letter.payload, "token=01234567************************\""));
        ASSERT_INT_EQ(m->dead_letter.payload_length, n);
        proto_message_free(m);
        free(buf);

        /* Any shape of token under "taskToken", even in cut JSON; short hex
         * runs and hex inside words stay. */
        {
                char t[] = "{\"taskToken\":\"abc\\\"defghijklmno\", \"etag\":\"d41d8cd9\", "
                           "\"w\":\"x0123456789abcdef0123456789abcdef\", \"taskToken\":\"cut-in-the-midd";
                proto_mask_secrets(t, strlen(t));
                ASSERT_STR_EQ(
                        t, "{\"taskToken\":\"abc\\\"def*********\", \"etag\":\"d41d8cd9\", "
                           "\"w\":\"x0123456789abcdef0123456789abcdef\", \"taskToken\":\"cut-in-t*******");
        }
        /* A token across the 64 KiB cut is masked too. */
        memset(payload, 'x', n);
        payload[PROTO_DLQ_MAX_PAYLOAD_BYTES - 11] = ' ';
        memcpy(payload + PROTO_DLQ_MAX_PAYLOAD_BYTES - 10, tok, strlen(tok));
        payload[PROTO_DLQ_MAX_PAYLOAD_BYTES - 10 + strlen(tok)] = ' ';
        ASSERT_INT_EQ(
                proto_encode_dead_letter("too big", "imgflow.events", 0, 5, NULL, 0, payload, n, &buf, &len),
                0);
        m = decode_dlq(buf, len);
        ASSERT_NOT_NULL(m);
        ASSERT_TRUE(m->dead_letter.truncated);
        ASSERT_NOT_NULL(strstr(m->dead_letter.payload, " 01234567**"));
        ASSERT_NULL(strstr(m->dead_letter.payload, " 012345678"));
        proto_message_free(m);
        free(buf);
        free(payload);
}

TEST(notification_id) {
        char *id = NULL;

        ASSERT_INT_EQ(proto_notification_id("exec-1", "SUCCEEDED", &id), 0);
        ASSERT_STR_EQ(id, "exec-1#SUCCEEDED");
        free(id);
        id = NULL;
        ASSERT_INT_EQ(proto_notification_id("exec-1", "DONE", &id), -EINVAL);
        ASSERT_INT_EQ(proto_notification_id("", "FAILED", &id), -EINVAL);
        ASSERT_NULL(id);
        ASSERT_TRUE(proto_execution_status_is_valid("TIMED_OUT"));
        ASSERT_FALSE(proto_execution_status_is_valid("timed_out"));
}

static bool same_str(const char *a, const char *b) {
        return a == b || (a && b && strcmp(a, b) == 0);
}

/* Requests: what the coordinator reads of them comes from the schema table. */
TEST(requests) {
        static const struct {
                ProtoType type;
                const char *request_id, *token, *response;
                bool callback;
        } want[] = {
                {PROTO_START_EXECUTION, "req-1", NULL, "StartExecutionResponse", false},
                {PROTO_STOP_EXECUTION, "r", NULL, "StopExecutionResponse", false},
                {PROTO_REDRIVE_EXECUTION, "r", NULL, "RedriveExecutionResponse", false},
                {PROTO_UPDATE_MAP_RUN, "r", NULL, "UpdateMapRunResponse", false},
                {PROTO_START_SYNC_EXECUTION, "req-2", NULL, "StartSyncExecutionResponse", false},
                {PROTO_TASK, NULL, "tok", NULL, false},
                {PROTO_TASK_SUCCEEDED, NULL, NULL, NULL, false},
                {PROTO_SEND_TASK_SUCCESS, "r", "tok", "SendTaskSuccessResponse", true},
                {PROTO_SEND_TASK_FAILURE, "r", "tok", "SendTaskFailureResponse", true},
                {PROTO_SEND_TASK_HEARTBEAT, "r", "tok", "SendTaskHeartbeatResponse", true},
                {PROTO_TIMER_FIRED, NULL, NULL, NULL, false},
                {PROTO_DEAD_LETTER, NULL, NULL, NULL, false},
        };

        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
                ProtoMessage *m = NULL;

                ASSERT_INT_EQ(decode_str(examples[want[i].type], &m, NULL), 0);
                ASSERT_TRUE(same_str(proto_message_request_id(m), want[i].request_id));
                ASSERT_TRUE(same_str(proto_message_task_token(m), want[i].token));
                ASSERT_TRUE(same_str(proto_response_type(m->type), want[i].response));
                ASSERT_INT_EQ(proto_type_is_callback(m->type), want[i].callback);
                proto_message_free(m);
        }
        ASSERT_NULL(proto_message_request_id(NULL));
        ASSERT_NULL(proto_response_type(_PROTO_TYPE_MAX));
        ASSERT_FALSE(proto_type_is_callback(_PROTO_TYPE_INVALID));
}

static char *response_text(ProtoResponse r) {
        char *text = NULL;
        size_t len = 0;

        ASSERT_INT_EQ(proto_encode_response(&r, &text, &len), 0);
        ASSERT_INT_EQ(len, strlen(text));
        return text;
}

/* The answers' bytes (docs/redis.md, "Responses"). */
TEST(responses) {
        char *s, *text = NULL;
        size_t len;

        s = response_text((ProtoResponse){PROTO_START_EXECUTION, "r-1", .execution_id = "sm:e1",
                                          .date_ms = 1700000000123});
        ASSERT_STR_EQ(s, "{\"v\":1,\"type\":\"StartExecutionResponse\",\"requestId\":\"r-1\",\"ok\":true,"
                         "\"executionId\":\"sm:e1\",\"executionArn\":\"imgflow:execution:sm:e1\","
                         "\"startDate\":1700000000123}");
        free(s);
        /* An EXPRESS execution's start: Step Functions' "express:" ARN with the run id. */
        s = response_text((ProtoResponse){PROTO_START_EXECUTION, "r-x", .execution_id = "sm:e1",
                                          .run_id = "0f8e4c1a-9b5d-4e2f-8a7c-3d6b1e9f2a40", .date_ms = 7});
        ASSERT_STR_EQ(s, "{\"v\":1,\"type\":\"StartExecutionResponse\",\"requestId\":\"r-x\",\"ok\":true,"
                         "\"executionId\":\"sm:e1\","
                         "\"executionArn\":\"imgflow:express:sm:e1:0f8e4c1a-9b5d-4e2f-8a7c-3d6b1e9f2a40\","
                         "\"startDate\":7}");
        free(s);
        s = response_text(
                (ProtoResponse){PROTO_STOP_EXECUTION, "r-2", .execution_id = "sm:e1", .date_ms = 5});
        ASSERT_STR_EQ(s, "{\"v\":1,\"type\":\"StopExecutionResponse\",\"requestId\":\"r-2\",\"ok\":true,"
                         "\"executionId\":\"sm:e1\",\"stopDate\":5}");
        free(s);
        s = response_text(
                (ProtoResponse){PROTO_REDRIVE_EXECUTION, "r-5", .execution_id = "sm:e1", .date_ms = 7});
        ASSERT_STR_EQ(s, "{\"v\":1,\"type\":\"RedriveExecutionResponse\",\"requestId\":\"r-5\",\"ok\":true,"
                         "\"executionId\":\"sm:e1\",\"redriveDate\":7}");
        free(s);
        s = response_text((ProtoResponse){PROTO_START_SYNC_EXECUTION, "r-6", .execution_id = "fast:s1",
                                          .date_ms = 10, .status = "FAILED", .exec_error = "E",
                                          .exec_cause = "c", .stop_ms = 250, .billed_ms = 300,
                                          .billed_mb = 64});
        ASSERT_STR_EQ(
                s, "{\"v\":1,\"type\":\"StartSyncExecutionResponse\",\"requestId\":\"r-6\",\"ok\":true,"
                   "\"executionId\":\"fast:s1\",\"executionArn\":\"imgflow:execution:fast:s1\","
                   "\"startDate\":10,\"stopDate\":250,\"status\":\"FAILED\",\"error\":\"E\",\"cause\":\"c\","
                   "\"billedDurationInMilliseconds\":300,\"billedMemoryUsedInMB\":64}");
        free(s);
        s = response_text(
                (ProtoResponse){PROTO_SEND_TASK_HEARTBEAT, "r-3", .execution_id = "sm:e1", .date_ms = 5});
        ASSERT_STR_EQ(s, "{\"v\":1,\"type\":\"SendTaskHeartbeatResponse\",\"requestId\":\"r-3\",\"ok\":true,"
                         "\"executionId\":\"sm:e1\"}");
        free(s);
        s = response_text((ProtoResponse){PROTO_SEND_TASK_FAILURE, "r-4", .error = "TaskTimedOut"});
        ASSERT_STR_EQ(s, "{\"v\":1,\"type\":\"SendTaskFailureResponse\",\"requestId\":\"r-4\",\"ok\":false,"
                         "\"error\":\"TaskTimedOut\",\"cause\":\"\"}");
        free(s);
        s = response_text((ProtoResponse){PROTO_STOP_EXECUTION, "r\"5", .error = "ExecutionNotRunning",
                                          .cause = "sm:e1 \u00e9\n"});
        ASSERT_STR_EQ(s, "{\"v\":1,\"type\":\"StopExecutionResponse\",\"requestId\":\"r\\\"5\",\"ok\":false,"
                         "\"error\":\"ExecutionNotRunning\",\"cause\":\"sm:e1 \u00e9\\n\"}");
        free(s);

        /* No answer to a message that is no request, nor without an id or an execution. */
        ASSERT_INT_EQ(
                proto_encode_response(&(ProtoResponse){PROTO_TASK, "r", .execution_id = "e"}, &text, &len),
                -EINVAL);
        ASSERT_INT_EQ(proto_encode_response(&(ProtoResponse){PROTO_STOP_EXECUTION, "", .execution_id = "e"},
                                            &text, &len),
                      -EINVAL);
        ASSERT_INT_EQ(proto_encode_response(&(ProtoResponse){PROTO_STOP_EXECUTION, "r"}, &text, &len),
                      -EINVAL);
        ASSERT_INT_EQ(proto_encode_response(
                              &(ProtoResponse){PROTO_STOP_EXECUTION, "r", .error = "E", .cause = "\xff"},
                              &text, &len),
                      -EINVAL);
        ASSERT_NULL(text);
}

TEST(type_names) {
        for (int t = 0; t < _PROTO_TYPE_MAX; t++)
                ASSERT_INT_EQ(proto_type_from_string(proto_type_to_string(t)), t);
        ASSERT_STR_EQ(proto_type_to_string(PROTO_TASK_SUCCEEDED), "TaskSucceeded");
        ASSERT_INT_EQ(proto_type_from_string("Nope"), _PROTO_TYPE_INVALID);
        ASSERT_NULL(proto_type_to_string(_PROTO_TYPE_MAX));
}

TEST(topic_names) {
        char *s = NULL;

        ASSERT_INT_EQ(proto_topic_name(NULL, PROTO_TOPIC_JOBS, NULL, &s), 0);
        ASSERT_STR_EQ(s, "imgflow.jobs");
        free(s);
        ASSERT_INT_EQ(proto_topic_name("acme.", PROTO_TOPIC_TASKS, "gpu", &s), 0);
        ASSERT_STR_EQ(s, "acme.tasks.gpu");
        free(s);
        ASSERT_INT_EQ(proto_topic_name("", PROTO_TOPIC_DLQ, NULL, &s), 0);
        ASSERT_STR_EQ(s, "dlq");
        free(s);
        s = NULL;
        ASSERT_INT_EQ(proto_topic_name(NULL, PROTO_TOPIC_EVENTS, "gpu", &s), -EINVAL);
        ASSERT_INT_EQ(proto_topic_name(NULL, PROTO_TOPIC_TASKS, "a/b", &s), -EINVAL);
        ASSERT_INT_EQ(proto_topic_name("bad prefix", PROTO_TOPIC_TASKS, NULL, &s), -EINVAL);
        ASSERT_NULL(s);
}

TEST(utf8) {
        ASSERT_TRUE(proto_utf8_is_valid("h\xc3\xa9llo \xf0\x9f\x98\x80", 11));
        ASSERT_FALSE(proto_utf8_is_valid("\xc0\xaf", 2));         /* overlong */
        ASSERT_FALSE(proto_utf8_is_valid("\xed\xa0\x80", 3));     /* surrogate */
        ASSERT_FALSE(proto_utf8_is_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
        ASSERT_FALSE(proto_utf8_is_valid("\xc3", 1));             /* cut */
        ASSERT_FALSE(proto_utf8_is_valid("a\0b", 3));
        ASSERT_TRUE(proto_utf8_is_valid("", 0));
}

TEST(reply_to) {
        char *topic = NULL;
        int32_t p = -1;

        ASSERT_INT_EQ(proto_reply_to_parse("imgflow.events:12", &topic, &p), 0);
        ASSERT_STR_EQ(topic, "imgflow.events");
        ASSERT_INT_EQ(p, 12);
        free(topic);
        ASSERT_INT_EQ(proto_reply_to_parse("imgflow.events", NULL, NULL), -EINVAL);
        ASSERT_INT_EQ(proto_reply_to_parse(":1", NULL, NULL), -EINVAL);
        ASSERT_INT_EQ(proto_reply_to_parse("a:-1", NULL, NULL), -EINVAL);
        ASSERT_INT_EQ(proto_reply_to_parse("a:2147483648", NULL, NULL), -EINVAL);
        ASSERT_INT_EQ(proto_reply_to_parse("a/b:1", NULL, NULL), -EINVAL);
        ASSERT_INT_EQ(proto_reply_to_parse("a:1x", NULL, NULL), -EINVAL);
}

TEST(update_map_run_settings) {
        /* the ranges of Step Functions' UpdateMapRun */
        static const char *const bad[] = {
                "\"maxConcurrency\":-1",
                "\"maxConcurrency\":1.5",
                "\"toleratedFailureCount\":-3",
                "\"toleratedFailurePercentage\":100.5",
                "\"toleratedFailurePercentage\":\"5\"",
        };
        ProtoMessage *m = NULL;

        ASSERT_INT_EQ(decode_str(examples[PROTO_UPDATE_MAP_RUN], &m, NULL), 0);
        ASSERT_INT_EQ(json_integer_value(m->update_map_run.max_concurrency), 4);
        ASSERT_TRUE(json_number_value(m->update_map_run.tolerated_failure_percentage) == 12.5);
        ASSERT_STR_EQ(proto_message_execution_id(m), "e1");
        proto_message_free(m);
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                char *text = NULL;

                ASSERT_TRUE(asprintf(&text,
                                     "{\"v\":1,\"type\":\"UpdateMapRun\",\"executionId\":\"e1\","
                                     "\"mapRunArn\":\"a\",%s}",
                                     bad[i]) > 0);
                ASSERT_INT_EQ(decode_str(text, &m, NULL), -EBADMSG);
                free(text);
        }
}

TEST(map_child_messages) {
        /* A child's StartExecution names parent, Map Run and ItemProcessor
         * (all or none, and a name); its end goes to the parent. */
        static const char *const bad[] = {
                "\"name\":\"c\",\"parentExecutionId\":\"sm:p\"",
                "\"parentExecutionId\":\"sm:p\",\"mapRunArn\":\"a\",\"itemProcessor\":\"/States/M/"
                "ItemProcessor\"",
                "\"name\":\"c\",\"parentExecutionId\":\"sm:p\",\"mapRunArn\":\"a\",\"itemProcessor\":"
                "\"States\"",
                "\"itemCount\":-1",
        };
        ProtoMessage *m = NULL;
        char *buf = NULL;
        size_t len;

        ASSERT_INT_EQ(
                decode_str("{\"v\":1,\"type\":\"StartExecution\",\"stateMachine\":\"sm:2\",\"name\":\"c\","
                           "\"parentExecutionId\":\"sm:p\",\"mapRunArn\":\"a\","
                           "\"itemProcessor\":\"/States/M/ItemProcessor\",\"childIndex\":7,\"itemCount\":3}",
                           &m, NULL),
                0);
        ASSERT_STR_EQ(m->start_execution.parent_execution_id, "sm:p");
        ASSERT_STR_EQ(m->start_execution.item_processor, "/States/M/ItemProcessor");
        ASSERT_INT_EQ(m->start_execution.child_index, 7);
        ASSERT_INT_EQ(m->start_execution.item_count, 3);
        /* encoded back with its item count; a start that says none has none */
        ASSERT_INT_EQ(proto_encode_start_execution(&m->start_execution, NULL, &buf, &len), 0);
        ASSERT_TRUE(strstr(buf, "\"itemCount\":3") != NULL);
        free(buf);
        m->start_execution.item_count = 0;
        ASSERT_INT_EQ(proto_encode_start_execution(&m->start_execution, NULL, &buf, &len), 0);
        ASSERT_NULL(strstr(buf, "itemCount"));
        free(buf);
        buf = NULL;
        proto_message_free(m);
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                char *text = NULL;

                ASSERT_TRUE(asprintf(&text,
                                     "{\"v\":1,\"type\":\"StartExecution\",\"stateMachine\":\"sm\",%s}",
                                     bad[i]) > 0);
                ASSERT_INT_EQ(decode_str(text, &m, NULL), -EBADMSG);
                free(text);
        }
        ASSERT_INT_EQ(decode_str(examples[PROTO_MAP_CHILD_ENDED], &m, NULL), 0);
        ASSERT_STR_EQ(proto_message_execution_id(m), "sm:p");
        ASSERT_STR_EQ(m->map_child_ended.child_name, "0a1b-3");
        ASSERT_INT_EQ(m->map_child_ended.redrive_count, 1);
        proto_message_free(m);
        ASSERT_INT_EQ(
                decode_str(
                        "{\"v\":1,\"type\":\"MapChildEnded\",\"executionId\":\"sm:p\",\"childName\":\"c\","
                        "\"mapRunArn\":\"a\",\"status\":\"RUNNING\",\"startDate\":1,\"stopDate\":2}",
                        &m, NULL),
                -EBADMSG);
        ASSERT_INT_EQ(proto_encode_map_child_ended(&(ProtoMapChildEnded){.execution_id = "sm:p",
                                                                         .child_name = "c",
                                                                         .map_run_arn = "a",
                                                                         .status = "SUCCEEDED",
                                                                         .output = json_null(),
                                                                         .start_date = 1,
                                                                         .stop_date = 2},
                                                   NULL, &buf, &len),
                      0);
        ASSERT_NOT_NULL(strstr(buf, "\"type\":\"MapChildEnded\""));
        free(buf);
}
