/* SPDX-License-Identifier: MIT */

/*
 * The schema of every imgflow message type (docs/messages.md is the prose
 * version of these tables; keep them in step). Field limits are in bytes.
 * A field's `offset` points into the union of ProtoMessage, so one table
 * drives decoding and encoding.
 */

#include <stddef.h>
#include <stdint.h>

#include "proto-schema.h"

#define STR(n, req, max, member)                                                                            \
        {                                                                                                   \
                .name = (n), .kind = PROTO_FIELD_STRING, .required = (req), .max_length = (max),            \
                .offset = offsetof(ProtoMessage, member)                                                    \
        }
/* A name or id: when present, it must not be empty. */
#define NAME(n, req, max, member)                                                                           \
        {                                                                                                   \
                .name = (n), .kind = PROTO_FIELD_STRING, .required = (req), .max_length = (max),            \
                .nonempty = true, .offset = offsetof(ProtoMessage, member)                                  \
        }
#define ENUM(n, req, values, member)                                                                        \
        {                                                                                                   \
                .name = (n), .kind = PROTO_FIELD_STRING, .required = (req),                                 \
                .max_length = PROTO_MAX_ID_BYTES, .one_of = (values),                                       \
                .offset = offsetof(ProtoMessage, member)                                                    \
        }
#define INT(n, req, minimum, member)                                                                        \
        {                                                                                                   \
                .name = (n), .kind = PROTO_FIELD_INT, .required = (req), .min = (minimum),                  \
                .offset = offsetof(ProtoMessage, member)                                                    \
        }
#define BOOL(n, member)                                                                                     \
        { .name = (n), .kind = PROTO_FIELD_BOOL, .offset = offsetof(ProtoMessage, member) }
#define ANY(n, req, member)                                                                                 \
        { .name = (n), .kind = PROTO_FIELD_ANY, .required = (req), .offset = offsetof(ProtoMessage, member) }
/* Optional, {} when absent. */
#define ANY_OBJ(n, member)                                                                                  \
        {                                                                                                   \
                .name = (n), .kind = PROTO_FIELD_ANY, .default_object = true,                               \
                .offset = offsetof(ProtoMessage, member)                                                    \
        }

#define ID PROTO_MAX_ID_BYTES
#define REQ true
#define OPT false

const char *const proto_execution_statuses[] = {
        "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", NULL,
};

/* stateMachine and name may be empty here: the coordinator refuses an empty
 * one as it refuses any invalid name (InvalidArn, InvalidName), which answers
 * a requestId; a decoding error would leave the caller without an answer. */
static const ProtoField start_execution_fields[] = {
        STR("stateMachine", REQ, ID, start_execution.state_machine),
        STR("name", OPT, ID, start_execution.name),
        ANY_OBJ("input", start_execution.input),
        NAME("requestId", OPT, ID, start_execution.request_id),
        NAME("parentExecutionId", OPT, ID, start_execution.parent_execution_id),
        NAME("mapRunArn", OPT, 2000, start_execution.map_run_arn),
        NAME("itemProcessor", OPT, PROTO_MAX_RESOURCE_BYTES, start_execution.item_processor),
        INT("childIndex", OPT, 0, start_execution.child_index),
        INT("itemCount", OPT, 0, start_execution.item_count),
};

/* A child execution names its parent, Map Run and ItemProcessor, and itself. */
static const char *check_start_execution(const ProtoMessage *m) {
        const ProtoStartExecution *s = &m->start_execution;
        int n = !!s->parent_execution_id + !!s->map_run_arn + !!s->item_processor;

        if (n != 0 && (n != 3 || !s->name))
                return "a child execution has 'parentExecutionId', 'mapRunArn', 'itemProcessor' and 'name'";
        if (s->item_processor && s->item_processor[0] != '/')
                return "field 'itemProcessor': must be a JSON pointer";
        return NULL;
}

static const char *const map_child_statuses[] = {
        "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", NULL,
};

static const ProtoField map_child_ended_fields[] = {
        NAME("executionId", REQ, ID, map_child_ended.execution_id),
        NAME("childName", REQ, ID, map_child_ended.child_name),
        NAME("mapRunArn", REQ, 2000, map_child_ended.map_run_arn),
        ENUM("status", REQ, map_child_statuses, map_child_ended.status),
        ANY("output", OPT, map_child_ended.output),
        NAME("error", OPT, PROTO_MAX_ERROR_BYTES, map_child_ended.error),
        STR("cause", OPT, PROTO_MAX_CAUSE_BYTES, map_child_ended.cause),
        INT("startDate", REQ, 0, map_child_ended.start_date),
        INT("stopDate", REQ, 0, map_child_ended.stop_date),
        INT("redriveCount", OPT, 0, map_child_ended.redrive_count),
};

static const ProtoField redrive_execution_fields[] = {
        NAME("executionId", REQ, ID, redrive_execution.execution_id),
        NAME("clientToken", OPT, 64, redrive_execution.client_token),
        NAME("requestId", OPT, ID, redrive_execution.request_id),
};

static const ProtoField stop_execution_fields[] = {
        NAME("executionId", REQ, ID, stop_execution.execution_id),
        NAME("error", OPT, PROTO_MAX_ERROR_BYTES, stop_execution.error),
        STR("cause", OPT, PROTO_MAX_CAUSE_BYTES, stop_execution.cause),
        NAME("requestId", OPT, ID, stop_execution.request_id),
};

static const ProtoField update_map_run_fields[] = {
        NAME("executionId", REQ, ID, update_map_run.execution_id),
        STR("mapRunArn", REQ, 2000, update_map_run.map_run_arn),
        ANY("maxConcurrency", OPT, update_map_run.max_concurrency),
        ANY("toleratedFailureCount", OPT, update_map_run.tolerated_failure_count),
        ANY("toleratedFailurePercentage", OPT, update_map_run.tolerated_failure_percentage),
        NAME("requestId", OPT, ID, update_map_run.request_id),
};

/* UpdateMapRun's settings: the ranges of Step Functions' API. */
static const char *check_update_map_run(const ProtoMessage *m) {
        const ProtoUpdateMapRun *u = &m->update_map_run;

        if (u->max_concurrency &&
            (!json_is_integer(u->max_concurrency) || json_integer_value(u->max_concurrency) < 0 ||
             json_integer_value(u->max_concurrency) > INT32_MAX))
                return "field 'maxConcurrency': must be an integer >= 0";
        if (u->tolerated_failure_count && (!json_is_integer(u->tolerated_failure_count) ||
                                           json_integer_value(u->tolerated_failure_count) < 0))
                return "field 'toleratedFailureCount': must be an integer >= 0";
        if (u->tolerated_failure_percentage && (!json_is_number(u->tolerated_failure_percentage) ||
                                                json_number_value(u->tolerated_failure_percentage) < 0 ||
                                                json_number_value(u->tolerated_failure_percentage) > 100))
                return "field 'toleratedFailurePercentage': must be a number from 0 to 100";
        return NULL;
}

static const ProtoField task_fields[] = {
        NAME("executionId", REQ, ID, task.execution_id),
        NAME("executionName", REQ, ID, task.execution_name),
        NAME("stateMachine", REQ, ID, task.state_machine),
        NAME("state", REQ, ID, task.state),
        NAME("taskId", REQ, ID, task.task_id),
        INT("attempt", REQ, 0, task.attempt),
        NAME("resource", REQ, PROTO_MAX_RESOURCE_BYTES, task.resource),
        NAME("operation", REQ, ID, task.operation),
        ANY("input", REQ, task.input),
        INT("deadlineMs", REQ, 0, task.deadline_ms),
        INT("heartbeatSeconds", REQ, 0, task.heartbeat_seconds),
        NAME("taskToken", OPT, ID, task.task_token),
        INT("dispatchedAtMs", REQ, 0, task.dispatched_at_ms),
        NAME("indexPath", OPT, PROTO_MAX_INDEX_PATH_BYTES, task.index_path),
        NAME("replyTo", OPT, PROTO_MAX_TOPIC_BYTES + 12, task.reply_to),
};

/* indexPath: decimal indices joined by '.', without leading zeros ("2",
 * "1.0"), so that it can be part of a storage key as it is. replyTo: a
 * topic, ':' and a partition number (proto_reply_to_parse()). */
static const char *check_task(const ProtoMessage *m) {
        const char *p = m->task.index_path;

        if (m->task.reply_to && proto_reply_to_parse(m->task.reply_to, NULL, NULL) < 0)
                return "field 'replyTo': must be a topic, ':' and a partition number";
        if (!p)
                return NULL;
        for (;;) {
                if (*p < '0' || *p > '9' || (*p == '0' && p[1] >= '0' && p[1] <= '9'))
                        return "field 'indexPath': must be decimal indices joined by '.'";
                while (*p >= '0' && *p <= '9')
                        p++;
                if (!*p)
                        return NULL;
                if (*p != '.')
                        return "field 'indexPath': must be decimal indices joined by '.'";
                p++;
        }
}

static const ProtoField task_succeeded_fields[] = {
        NAME("executionId", REQ, ID, task_succeeded.execution_id),
        NAME("taskId", REQ, ID, task_succeeded.task_id),
        INT("attempt", REQ, 0, task_succeeded.attempt),
        ANY("output", REQ, task_succeeded.output),
        NAME("workerId", OPT, ID, task_succeeded.worker_id),
        INT("startedAtMs", OPT, 0, task_succeeded.started_at_ms),
        INT("finishedAtMs", OPT, 0, task_succeeded.finished_at_ms),
};

static const ProtoField task_failed_fields[] = {
        NAME("executionId", REQ, ID, task_failed.execution_id),
        NAME("taskId", REQ, ID, task_failed.task_id),
        INT("attempt", REQ, 0, task_failed.attempt),
        NAME("error", REQ, PROTO_MAX_ERROR_BYTES, task_failed.error),
        STR("cause", REQ, PROTO_MAX_CAUSE_BYTES, task_failed.cause),
        NAME("workerId", OPT, ID, task_failed.worker_id),
        INT("startedAtMs", OPT, 0, task_failed.started_at_ms),
};

static const ProtoField task_heartbeat_fields[] = {
        NAME("executionId", REQ, ID, task_heartbeat.execution_id),
        NAME("taskId", REQ, ID, task_heartbeat.task_id),
        INT("attempt", REQ, 0, task_heartbeat.attempt),
        NAME("workerId", OPT, ID, task_heartbeat.worker_id),
        INT("startedAtMs", OPT, 0, task_heartbeat.started_at_ms),
};

static const ProtoField send_task_success_fields[] = {
        NAME("taskToken", REQ, ID, send_task_success.task_token),
        ANY("output", REQ, send_task_success.output),
        NAME("requestId", OPT, ID, send_task_success.request_id),
};

static const ProtoField send_task_failure_fields[] = {
        NAME("taskToken", REQ, ID, send_task_failure.task_token),
        NAME("error", OPT, PROTO_MAX_ERROR_BYTES, send_task_failure.error),
        STR("cause", OPT, PROTO_MAX_CAUSE_BYTES, send_task_failure.cause),
        NAME("requestId", OPT, ID, send_task_failure.request_id),
};

static const ProtoField send_task_heartbeat_fields[] = {
        NAME("taskToken", REQ, ID, send_task_heartbeat.task_token),
        NAME("requestId", OPT, ID, send_task_heartbeat.request_id),
};

static const ProtoField timer_fired_fields[] = {
        NAME("executionId", REQ, ID, timer_fired.execution_id),
        NAME("timerId", REQ, ID, timer_fired.timer_id),
};

static const ProtoField execution_status_changed_fields[] = {
        NAME("id", REQ, 2 * ID, execution_status_changed.id),
        NAME("executionId", REQ, ID, execution_status_changed.execution_id),
        NAME("executionName", REQ, ID, execution_status_changed.execution_name),
        NAME("stateMachine", REQ, ID, execution_status_changed.state_machine),
        ENUM("status", REQ, proto_execution_statuses, execution_status_changed.status),
        INT("startDate", REQ, 0, execution_status_changed.start_date),
        INT("stopDate", OPT, 0, execution_status_changed.stop_date),
        ANY("output", OPT, execution_status_changed.output),
        NAME("error", OPT, PROTO_MAX_ERROR_BYTES, execution_status_changed.error),
        STR("cause", OPT, PROTO_MAX_CAUSE_BYTES, execution_status_changed.cause),
};

static const ProtoField notification_fields[] = {
        NAME("id", OPT, 2 * ID, notification.id),
        NAME("executionId", OPT, ID, notification.execution_id),
};

static const ProtoField dead_letter_fields[] = {
        NAME("reason", REQ, PROTO_MAX_REASON_BYTES, dead_letter.reason),
        STR("topic", REQ, PROTO_MAX_TOPIC_BYTES, dead_letter.topic),
        INT("partition", REQ, INT64_MIN, dead_letter.partition),
        INT("offset", REQ, INT64_MIN, dead_letter.offset),
        STR("key", OPT, PROTO_DLQ_MAX_KEY_BYTES, dead_letter.key),
        STR("keyBase64", OPT, PROTO_DLQ_MAX_KEY_BASE64_BYTES, dead_letter.key_base64),
        STR("payload", OPT, PROTO_DLQ_MAX_PAYLOAD_BYTES, dead_letter.payload),
        STR("payloadBase64", OPT, PROTO_DLQ_MAX_PAYLOAD_BASE64_BYTES, dead_letter.payload_base64),
        INT("payloadLength", OPT, 0, dead_letter.payload_length),
        BOOL("truncated", dead_letter.truncated),
};

static const char *check_dead_letter(const ProtoMessage *m) {
        const ProtoDeadLetter *d = &m->dead_letter;

        if (!d->payload == !d->payload_base64)
                return "exactly one of 'payload' and 'payloadBase64' is required";
        if (d->key && d->key_base64)
                return "at most one of 'key' and 'keyBase64' is allowed";
        return NULL;
}

#define SCHEMA(t, n, f, c)                                                                                  \
        [t] = {.type = (t), .name = (n), .fields = (f), .n_fields = sizeof(f) / sizeof((f)[0]), .check = (c)}
/* A request: answered at imgflow:response:{<requestId>} with a message of type `r`. */
#define REQUEST(t, n, r, f)                                                                                 \
        [t] = {.type = (t),                                                                                 \
               .name = (n),                                                                                 \
               .response = (r),                                                                             \
               .fields = (f),                                                                               \
               .n_fields = sizeof(f) / sizeof((f)[0])}

const ProtoSchema proto_schemas[_PROTO_TYPE_MAX] = {
        [PROTO_START_EXECUTION] = {.type = PROTO_START_EXECUTION,
                                   .name = "StartExecution",
                                   .response = "StartExecutionResponse",
                                   .fields = start_execution_fields,
                                   .n_fields = sizeof(start_execution_fields) /
                                               sizeof(start_execution_fields[0]),
                                   .check = check_start_execution},
        REQUEST(PROTO_STOP_EXECUTION, "StopExecution", "StopExecutionResponse", stop_execution_fields),
        SCHEMA(PROTO_TASK, "Task", task_fields, check_task),
        SCHEMA(PROTO_TASK_SUCCEEDED, "TaskSucceeded", task_succeeded_fields, NULL),
        SCHEMA(PROTO_TASK_FAILED, "TaskFailed", task_failed_fields, NULL),
        SCHEMA(PROTO_TASK_HEARTBEAT, "TaskHeartbeat", task_heartbeat_fields, NULL),
        REQUEST(PROTO_SEND_TASK_SUCCESS, "SendTaskSuccess", "SendTaskSuccessResponse",
                send_task_success_fields),
        REQUEST(PROTO_SEND_TASK_FAILURE, "SendTaskFailure", "SendTaskFailureResponse",
                send_task_failure_fields),
        REQUEST(PROTO_SEND_TASK_HEARTBEAT, "SendTaskHeartbeat", "SendTaskHeartbeatResponse",
                send_task_heartbeat_fields),
        SCHEMA(PROTO_TIMER_FIRED, "TimerFired", timer_fired_fields, NULL),
        SCHEMA(PROTO_EXECUTION_STATUS_CHANGED, "ExecutionStatusChanged", execution_status_changed_fields,
               NULL),
        SCHEMA(PROTO_NOTIFICATION, "Notification", notification_fields, NULL),
        SCHEMA(PROTO_DEAD_LETTER, "DeadLetter", dead_letter_fields, check_dead_letter),
        REQUEST(PROTO_REDRIVE_EXECUTION, "RedriveExecution", "RedriveExecutionResponse",
                redrive_execution_fields),
        REQUEST(PROTO_START_SYNC_EXECUTION, "StartSyncExecution", "StartSyncExecutionResponse",
                start_execution_fields),
        [PROTO_UPDATE_MAP_RUN] = {.type = PROTO_UPDATE_MAP_RUN,
                                  .name = "UpdateMapRun",
                                  .response = "UpdateMapRunResponse",
                                  .fields = update_map_run_fields,
                                  .n_fields =
                                          sizeof(update_map_run_fields) / sizeof(update_map_run_fields[0]),
                                  .check = check_update_map_run},
        SCHEMA(PROTO_MAP_CHILD_ENDED, "MapChildEnded", map_child_ended_fields, NULL),
};
