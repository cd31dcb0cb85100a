/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * imgflow message formats (v1): decode, validate and encode the JSON messages
 * that travel on the Kafka topics (docs/messages.md is the contract).
 *
 * Layering: proto/ uses jansson only. It knows nothing of Kafka, Redis, ASL or
 * images; daemon/, coordinator/, worker/ and cli/ build on it.
 *
 * Every message type has one schema, a table of fields (proto-schema.c); one
 * table drives both the decoder and the encoder, so they cannot disagree.
 *
 * Decoding is for untrusted bytes: the payload size is checked first, then the
 * nesting depth is checked on the raw bytes by a small scanner (jansson parses
 * recursively, so a 10,000-deep payload never reaches it), then the value is
 * parsed and every field is checked against its schema. Each rejection comes
 * with a one-line reason, which is what goes into the dead-letter envelope.
 *
 * Ownership: a decoded ProtoMessage owns the parsed JSON (`root`); all its
 * `const char *` and `json_t *` fields are borrowed from it and live as long
 * as the message (json_incref() what you keep longer). For encoding, callers
 * fill a ProtoMessage (or one of the per-type structs) with borrowed pointers;
 * the encoder never takes ownership of them.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define PROTO_VERSION 1

/* Defaults of ProtoLimits (0 in a ProtoLimits field means the default). */
#define PROTO_MAX_PAYLOAD_BYTES_DEFAULT (256 * 1024)
#define PROTO_MAX_DEPTH_DEFAULT 64
/* max_depth is clamped to this so that jansson's recursion stays shallow. */
#define PROTO_MAX_DEPTH_CAP 512

/* Per-field string limits, in bytes (docs/messages.md, "Limits"). */
#define PROTO_MAX_ID_BYTES 1024        /* ids, names, tokens, operations */
#define PROTO_MAX_RESOURCE_BYTES 2048  /* Task.resource (an ARN's limit) */
#define PROTO_MAX_ERROR_BYTES 256      /* error names, as in Step Functions */
#define PROTO_MAX_CAUSE_BYTES 32768    /* causes, as in Step Functions */
#define PROTO_MAX_REASON_BYTES 4096    /* DeadLetter.reason */
#define PROTO_MAX_TOPIC_BYTES 249      /* Kafka's limit on topic names */
#define PROTO_MAX_INDEX_PATH_BYTES 256 /* Task.indexPath: about 25 levels of nesting */
/* DeadLetter: the original payload is kept up to this many bytes. */
#define PROTO_DLQ_MAX_PAYLOAD_BYTES (64 * 1024)
#define PROTO_DLQ_MAX_PAYLOAD_BASE64_BYTES (4 * ((PROTO_DLQ_MAX_PAYLOAD_BYTES + 2) / 3))
#define PROTO_DLQ_MAX_KEY_BYTES 1024
#define PROTO_DLQ_MAX_KEY_BASE64_BYTES (4 * ((PROTO_DLQ_MAX_KEY_BYTES + 2) / 3))

typedef struct ProtoLimits {
        size_t max_payload_bytes; /* whole message, 0 = 256 KiB */
        size_t max_depth;         /* of "input"/"output" values, 0 = 64 */
} ProtoLimits;

typedef enum ProtoType {
        PROTO_START_EXECUTION,
        PROTO_STOP_EXECUTION,
        PROTO_TASK,
        PROTO_TASK_SUCCEEDED,
        PROTO_TASK_FAILED,
        PROTO_TASK_HEARTBEAT,
        PROTO_SEND_TASK_SUCCESS,
        PROTO_SEND_TASK_FAILURE,
        PROTO_SEND_TASK_HEARTBEAT,
        PROTO_TIMER_FIRED,
        PROTO_EXECUTION_STATUS_CHANGED,
        PROTO_NOTIFICATION,
        PROTO_DEAD_LETTER,
        PROTO_REDRIVE_EXECUTION,
        PROTO_START_SYNC_EXECUTION, /* ProtoStartExecution's fields: start_execution */
        PROTO_UPDATE_MAP_RUN,
        PROTO_MAP_CHILD_ENDED,
        _PROTO_TYPE_MAX,
        _PROTO_TYPE_INVALID = -EINVAL,
} ProtoType;

/*
 * Per-type fields. Strings are NULL when an optional field is absent (JSON
 * null counts as absent for optional fields). Optional integers are 0 when
 * absent and are not written when 0. json_t fields hold any JSON value.
 */
typedef struct ProtoStartExecution {
        const char *state_machine; /* "<name>" or "<name>:<version>" */
        const char *name;          /* optional: execution name */
        json_t *input;             /* decoded: never NULL ({} when absent); encode: NULL = {} */
        const char *request_id;    /* optional */
        /* A distributed Map's child execution (all three, and a name, or
         * none): the parent's execution id, its Map Run's ARN and the JSON
         * pointer of the ItemProcessor the child runs; its index in the run */
        const char *parent_execution_id;
        const char *map_run_arn;
        const char *item_processor;
        int64_t child_index;
        int64_t item_count; /* a child: the items it processes (0: not said) */
} ProtoStartExecution;

/* MapChildEnded: a distributed Map's child execution ended (its final
 * commit publishes it, keyed by the parent); the parent's coordinator
 * applies it once. */
typedef struct ProtoMapChildEnded {
        const char *execution_id; /* the parent's */
        const char *child_name;   /* the child execution's name */
        const char *map_run_arn;
        const char *status;    /* SUCCEEDED|FAILED|TIMED_OUT|ABORTED */
        json_t *output;        /* optional: SUCCEEDED */
        const char *error;     /* optional */
        const char *cause;     /* optional */
        int64_t start_date;    /* epoch ms */
        int64_t stop_date;     /* epoch ms */
        int64_t redrive_count; /* optional: the child's redriveCount (0: never redriven) */
} ProtoMapChildEnded;

typedef struct ProtoStopExecution {
        const char *execution_id;
        const char *error;      /* optional */
        const char *cause;      /* optional */
        const char *request_id; /* optional */
} ProtoStopExecution;

/* RedriveExecution: a FAILED, TIMED_OUT or ABORTED execution continues
 * from the states that did not succeed. */
typedef struct ProtoRedriveExecution {
        const char *execution_id;
        const char *client_token; /* optional: AWS's idempotency token (1..64) */
        const char *request_id;   /* optional */
} ProtoRedriveExecution;

/* UpdateMapRun: a running distributed Map's settings change. The
 * coordinator that owns the execution applies it. Each setting is a JSON
 * number or NULL (unchanged): maxConcurrency and toleratedFailureCount
 * integers >= 0, toleratedFailurePercentage 0..100. */
typedef struct ProtoUpdateMapRun {
        const char *execution_id;
        const char *map_run_arn;
        json_t *max_concurrency;              /* optional */
        json_t *tolerated_failure_count;      /* optional */
        json_t *tolerated_failure_percentage; /* optional */
        const char *request_id;               /* optional */
} ProtoUpdateMapRun;

typedef struct ProtoTask {
        const char *execution_id;
        const char *execution_name;
        const char *state_machine;
        const char *state;
        const char *task_id;
        int64_t attempt;           /* >= 0 */
        const char *resource;      /* the Resource string of the definition */
        const char *operation;     /* e.g. "image.resize" */
        json_t *input;             /* the effective parameters */
        int64_t deadline_ms;       /* epoch ms, 0 = none */
        int64_t heartbeat_seconds; /* 0 = none */
        const char *task_token;    /* optional: only for .waitForTaskToken */
        int64_t dispatched_at_ms;  /* epoch ms */
        const char *index_path;    /* optional: Parallel branch / Map iteration indices, "1.0" */
        const char *reply_to;      /* optional: "<events topic>:<partition>", where the result and
                                    * heartbeats go (an EXPRESS execution's coordinator); NULL = by key */
} ProtoTask;

typedef struct ProtoTaskSucceeded {
        const char *execution_id;
        const char *task_id;
        int64_t attempt;
        json_t *output;
        const char *worker_id;  /* optional */
        int64_t started_at_ms;  /* optional */
        int64_t finished_at_ms; /* optional */
} ProtoTaskSucceeded;

typedef struct ProtoTaskFailed {
        const char *execution_id;
        const char *task_id;
        int64_t attempt;
        const char *error; /* the name Retry/Catch match on, e.g. "Image.Invalid" */
        const char *cause;
        const char *worker_id; /* optional */
        int64_t started_at_ms; /* optional: when the worker started the task */
} ProtoTaskFailed;

typedef struct ProtoTaskHeartbeat {
        const char *execution_id;
        const char *task_id;
        int64_t attempt;
        const char *worker_id; /* optional */
        int64_t started_at_ms; /* optional: the worker started the task then (0: not yet) */
} ProtoTaskHeartbeat;

typedef struct ProtoSendTaskSuccess {
        const char *task_token;
        json_t *output;
        const char *request_id; /* optional */
} ProtoSendTaskSuccess;

typedef struct ProtoSendTaskFailure {
        const char *task_token;
        const char *error;      /* optional */
        const char *cause;      /* optional */
        const char *request_id; /* optional */
} ProtoSendTaskFailure;

typedef struct ProtoSendTaskHeartbeat {
        const char *task_token;
        const char *request_id; /* optional */
} ProtoSendTaskHeartbeat;

typedef struct ProtoTimerFired {
        const char *execution_id;
        const char *timer_id;
} ProtoTimerFired;

typedef struct ProtoExecutionStatusChanged {
        const char *id; /* dedup id "<executionId>#<status>"; encode: NULL = computed */
        const char *execution_id;
        const char *execution_name;
        const char *state_machine;
        const char *status; /* RUNNING|SUCCEEDED|FAILED|TIMED_OUT|ABORTED */
        int64_t start_date; /* epoch ms */
        int64_t stop_date;  /* optional, epoch ms */
        json_t *output;     /* optional */
        const char *error;  /* optional */
        const char *cause;  /* optional */
} ProtoExecutionStatusChanged;

/* What a notify task publishes: free-form apart from "v" and "type"; these two
 * optional fields are checked if present. */
typedef struct ProtoNotification {
        const char *id;           /* optional dedup id */
        const char *execution_id; /* optional */
        json_t *body;             /* decoded: the whole object (== root); encode: an
                                   * object whose members are written too (may be NULL) */
} ProtoNotification;

typedef struct ProtoDeadLetter {
        const char *reason;
        const char *topic;
        int64_t partition;
        int64_t offset;
        const char *key;            /* optional: the original key, when UTF-8 */
        const char *key_base64;     /* optional: the original key, when not UTF-8 */
        const char *payload;        /* the original bytes (truncated), when UTF-8 ... */
        const char *payload_base64; /* ... or else base64; exactly one of the two */
        int64_t payload_length;     /* optional: original length in bytes */
        bool truncated;             /* optional: payload was cut to 64 KiB */
} ProtoDeadLetter;

typedef struct ProtoMessage {
        ProtoType type;
        json_t *root; /* decoded: the whole message object (owned); encode: ignored */
        union {
                ProtoStartExecution start_execution;
                ProtoStopExecution stop_execution;
                ProtoTask task;
                ProtoTaskSucceeded task_succeeded;
                ProtoTaskFailed task_failed;
                ProtoTaskHeartbeat task_heartbeat;
                ProtoSendTaskSuccess send_task_success;
                ProtoSendTaskFailure send_task_failure;
                ProtoSendTaskHeartbeat send_task_heartbeat;
                ProtoTimerFired timer_fired;
                ProtoExecutionStatusChanged execution_status_changed;
                ProtoNotification notification;
                ProtoDeadLetter dead_letter;
                ProtoRedriveExecution redrive_execution;
                ProtoUpdateMapRun update_map_run;
                ProtoMapChildEnded map_child_ended;
        };
} ProtoMessage;

/* "Task" <-> PROTO_TASK. to_string returns NULL for an invalid type;
 * from_string returns _PROTO_TYPE_INVALID for an unknown name. */
const char *proto_type_to_string(ProtoType t);
ProtoType proto_type_from_string(const char *s);

/*
 * Decode untrusted bytes (need not be NUL-terminated).
 * lim: borrowed, may be NULL (defaults).
 * On success returns 0 and *ret (new, free with proto_message_free()).
 * On failure returns a negative errno, leaves *ret untouched and, if
 * ret_reason is non-NULL, sets *ret_reason to a new string (free()) saying why:
 *   -E2BIG            payload over max_payload_bytes, or nested too deep
 *   -EPROTONOSUPPORT  "v" is not 1
 *   -EBADMSG          anything else: not JSON, not an object, missing "type",
 *                     unknown type, missing field, wrong type, string too long
 *   -ENOMEM           out of memory (*ret_reason may then be NULL)
 * Every error except -ENOMEM means: send it to the dead-letter topic.
 * Unknown fields are ignored (forward compatibility within v1).
 */
int proto_decode(const void *buf, size_t len, const ProtoLimits *lim, ProtoMessage **ret, char **ret_reason);

/* Accepts NULL; returns NULL. */
ProtoMessage *proto_message_free(ProtoMessage *m);
static inline void proto_message_freep(ProtoMessage **m) {
        proto_message_free(*m);
}

/*
 * Encode a message (fields borrowed; m->root is ignored).
 * lim: borrowed, may be NULL. On success *ret_buf is a new NUL-terminated
 * compact JSON string (free()) and *ret_len its length without the NUL.
 * Errors: -EINVAL (missing required field, bad type, string not UTF-8, status
 * not one of the allowed values), -ENAMETOOLONG (a string over its field's
 * limit), -E2BIG (result over max_payload_bytes or a value nested deeper than
 * max_depth), -ENOMEM. Outputs untouched on failure.
 */
int proto_encode(const ProtoMessage *m, const ProtoLimits *lim, char **ret_buf, size_t *ret_len);

/* The same, as a JSON object: *ret is a new reference. */
int proto_encode_json(const ProtoMessage *m, const ProtoLimits *lim, json_t **ret);

/* Per-type encoders: proto_encode() of a message of that type. */
int proto_encode_start_execution(const ProtoStartExecution *x, const ProtoLimits *lim, char **ret_buf,
                                 size_t *ret_len);
int proto_encode_stop_execution(const ProtoStopExecution *x, const ProtoLimits *lim, char **ret_buf,
                                size_t *ret_len);
int proto_encode_start_sync_execution(const ProtoStartExecution *x, const ProtoLimits *lim, char **ret_buf,
                                      size_t *ret_len);
int proto_encode_map_child_ended(const ProtoMapChildEnded *x, const ProtoLimits *lim, char **ret_buf,
                                 size_t *ret_len);
int proto_encode_update_map_run(const ProtoUpdateMapRun *x, const ProtoLimits *lim, char **ret_buf,
                                size_t *ret_len);
int proto_encode_redrive_execution(const ProtoRedriveExecution *x, const ProtoLimits *lim, char **ret_buf,
                                   size_t *ret_len);
int proto_encode_task(const ProtoTask *x, const ProtoLimits *lim, char **ret_buf, size_t *ret_len);
int proto_encode_task_succeeded(const ProtoTaskSucceeded *x, const ProtoLimits *lim, char **ret_buf,
                                size_t *ret_len);
int proto_encode_task_failed(const ProtoTaskFailed *x, const ProtoLimits *lim, char **ret_buf,
                             size_t *ret_len);
int proto_encode_task_heartbeat(const ProtoTaskHeartbeat *x, const ProtoLimits *lim, char **ret_buf,
                                size_t *ret_len);
int proto_encode_send_task_success(const ProtoSendTaskSuccess *x, const ProtoLimits *lim, char **ret_buf,
                                   size_t *ret_len);
int proto_encode_send_task_failure(const ProtoSendTaskFailure *x, const ProtoLimits *lim, char **ret_buf,
                                   size_t *ret_len);
int proto_encode_send_task_heartbeat(const ProtoSendTaskHeartbeat *x, const ProtoLimits *lim, char **ret_buf,
                                     size_t *ret_len);
int proto_encode_timer_fired(const ProtoTimerFired *x, const ProtoLimits *lim, char **ret_buf,
                             size_t *ret_len);
int proto_encode_execution_status_changed(const ProtoExecutionStatusChanged *x, const ProtoLimits *lim,
                                          char **ret_buf, size_t *ret_len);
int proto_encode_notification(const ProtoNotification *x, const ProtoLimits *lim, char **ret_buf,
                              size_t *ret_len);
int proto_encode_dead_letter_message(const ProtoDeadLetter *x, const ProtoLimits *lim, char **ret_buf,
                                     size_t *ret_len);

/* What proto_mask_secrets() leaves of a secret, and the shortest hex run it
 * takes for one (a task token or task id is hex of 128 random bits). */
#define PROTO_SECRET_SHOWN 8
#define PROTO_SECRET_HEX_MIN 32

/*
 * Mask secrets in buf[0, len) in place, keeping the length: the value of
 * every "taskToken" member, and every run of at least PROTO_SECRET_HEX_MIN
 * hex digits between non-alphanumerics (a token a workflow copied into a
 * parameter of any name), keep their first PROTO_SECRET_SHOWN bytes, the
 * rest becomes '*'. Works on bytes, so also on invalid or cut JSON. Used for
 * dead letters (docs/security.md).
 */
void proto_mask_secrets(char *buf, size_t len);

/*
 * Build the dead-letter envelope for a message that could not be handled.
 * Never fails on hostile input: reason and topic are cut to their limits (and
 * made valid UTF-8), the key and payload are kept as strings when they are
 * valid UTF-8 without NUL bytes, else as base64; the payload is cut to 64 KiB
 * ("truncated": true, "payloadLength": original length). Task tokens in the
 * reason, key and payload are masked (proto_mask_secrets()). The result always
 * decodes with the default limits.
 * All inputs borrowed; key/payload may be NULL with length 0; reason/topic
 * may be NULL (""). *ret_buf: new string (free()). Errors: -ENOMEM only.
 */
int proto_encode_dead_letter(const char *reason, const char *topic, int32_t partition, int64_t offset,
                             const void *key, size_t key_len, const void *payload, size_t payload_len,
                             char **ret_buf, size_t *ret_len);

/* Execution statuses of ExecutionStatusChanged. */
bool proto_execution_status_is_valid(const char *status);

/* The notification dedup id "<executionId>#<status>" (new string, free()).
 * Returns -EINVAL for a NULL/empty id or an invalid status, -ENOMEM. */
int proto_notification_id(const char *execution_id, const char *status, char **ret);

/* The execution id a message refers to, or NULL (SendTask*, DeadLetter, a
 * StartExecution before the coordinator named it). Borrowed from m. */
const char *proto_message_execution_id(const ProtoMessage *m);

/* The Kafka key to publish m with (docs/messages.md): the execution id;
 * StartExecution: the execution name; SendTask*: the task token (callers that
 * know the token's execution id use that instead); DeadLetter: the original
 * key. May be NULL (publish without a key). Borrowed from m. */
const char *proto_message_key(const ProtoMessage *m);

/*
 * Requests: StartExecution, StopExecution, RedriveExecution and the callbacks SendTaskSuccess,
 * SendTaskFailure, SendTaskHeartbeat. One with a "requestId" is answered at
 * the Redis key imgflow:response:{<requestId>} (docs/redis.md, "Responses")
 * with a message of type "<Type>Response". What is known of them is in the
 * schema table: these read it from there.
 */

/* The "requestId" of a request, or NULL (absent, or m is no request).
 * Borrowed from m. */
const char *proto_message_request_id(const ProtoMessage *m);
/* The "taskToken" m carries (a callback's; a Task's of a .waitForTaskToken
 * resource), or NULL. Borrowed from m. */
const char *proto_message_task_token(const ProtoMessage *m);
/* A callback: a request that names its task by the task token. */
bool proto_type_is_callback(ProtoType t);
/* "StartExecutionResponse", ... for a request type; NULL for other types.
 * A constant string. */
const char *proto_response_type(ProtoType t);

/*
 * An answer (fields borrowed). Written, in this order:
 *   {"v":1,"type":"<Type>Response","requestId","ok":false,"error","cause"}
 * when error is set, else "ok":true and
 *   StartExecution:  "executionId","executionArn","startDate": date_ms
 *   StopExecution:   "executionId","stopDate": date_ms
 *   RedriveExecution: "executionId","redriveDate": date_ms
 *   UpdateMapRun:    "executionId"
 *   SendTask*:       "executionId"
 */
typedef struct ProtoResponse {
        ProtoType request;        /* the type of the request answered */
        const char *request_id;   /* required */
        const char *error;        /* NULL: the request succeeded */
        const char *cause;        /* with error; NULL = "" */
        const char *execution_id; /* without error: the execution ("<machine>:<name>") */
        /* An EXPRESS execution's start: its run id (a UUID), so that the
         * executionArn is "imgflow:express:<machine>:<name>:<run id>" as
         * Step Functions' "express:" ARNs; NULL: "imgflow:execution:<id>". */
        const char *run_id;
        int64_t date_ms; /* without error: start (StartExecution), stop or redrive date */
        /* StartSyncExecution, without error: the execution's end. */
        const char *status;     /* SUCCEEDED, FAILED, TIMED_OUT (ABORTED) */
        const char *output;     /* JSON text, or NULL */
        const char *exec_error; /* the execution's error and cause, or NULL */
        const char *exec_cause;
        int64_t stop_ms;   /* and date_ms: the start */
        int64_t billed_ms; /* billingDetails */
        int64_t billed_mb;
} ProtoResponse;

/* *ret_buf: the answer's text (new string, compact) and *ret_len its
 * length. -EINVAL for a type that is no request, a missing request id or
 * execution id, or a string that is not UTF-8; -ENOMEM. */
int proto_encode_response(const ProtoResponse *r, char **ret_buf, size_t *ret_len);

/* Topics. */
typedef enum ProtoTopic {
        PROTO_TOPIC_JOBS,
        PROTO_TOPIC_TASKS,
        PROTO_TOPIC_EVENTS,
        PROTO_TOPIC_NOTIFICATIONS,
        PROTO_TOPIC_DLQ,
        PROTO_TOPIC_LOGS, /* EXPRESS executions' history events */
        _PROTO_TOPIC_MAX,
} ProtoTopic;

#define PROTO_TOPIC_PREFIX_DEFAULT "imgflow."

/* "<prefix>tasks" or, with a pool, "<prefix>tasks.<pool>" (pool only for
 * PROTO_TOPIC_TASKS, may be NULL). prefix NULL = "imgflow.". The result must be
 * a legal Kafka topic name ([A-Za-z0-9._-], at most 249 bytes) else -EINVAL.
 * *ret: new string. */
int proto_topic_name(const char *prefix, ProtoTopic topic, const char *pool, char **ret);

/* The longest run of an EXPRESS execution (States.Timeout past it): the
 * coordinator ends it then, a StartSyncExecution caller waits a little more. */
#define PROTO_EXPRESS_DURATION_MAX_SEC 300

/* A Task's replyTo, "<topic>:<partition>": *ret_topic (new string) and
 * *ret_partition (0 .. INT32_MAX); either may be NULL. -EINVAL when s is
 * not one. */
int proto_reply_to_parse(const char *s, char **ret_topic, int32_t *ret_partition);

/* The operations imgflow-worker runs for tasks of "<prefix>tasks" (the
 * default pool): its built-in table plus its own "notify". A [resources]
 * target without "pool:" must name one of them. NULL-terminated. */
extern const char *const proto_worker_operations[];
bool proto_worker_operation_is_known(const char *name);

/* Valid UTF-8 without NUL bytes (what a JSON string field may hold). */
bool proto_utf8_is_valid(const void *s, size_t len);

/* Nesting depth of the raw JSON text (brackets outside strings), counting no
 * further than limit + 1; used before parsing. */
size_t proto_scan_depth(const void *buf, size_t len, size_t limit);
