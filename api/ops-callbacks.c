/* SPDX-License-Identifier: MIT */
/*
 * Callback operations: SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat.
 *
 * As `imgflow send-task-*` (cli/cmd-callbacks.c): a SendTask* message with
 * a request id to <prefix>events, keyed by the token (the caller does not
 * know the execution), and the coordinator's answer: accepted, or
 * InvalidToken (never issued), TaskDoesNotExist (the task is closed),
 * TaskTimedOut. The token may be one a Task state's .waitForTaskToken
 * issued ($$.Task.Token) or one GetActivityTask handed out (an activity
 * task's delivery token, docs/api.md).
 */

#include <errno.h>
#include <string.h>

#include "api.h"

typedef struct CallbackState CallbackState;

/* The operation's message (into *ret_buf, *ret_len): proto_encode_*(). */
typedef int (*EncodeFn)(const CallbackState *s, const char *request_id, const ProtoLimits *limits,
                        char **ret_buf, size_t *ret_len);

struct CallbackState {
        const char *token; /* borrowed from the input */
        json_t *output;
        const char *error, *cause;
        EncodeFn encode;
};

static void callback_state_free(void *p) {
        CallbackState *s = p;

        if (!s)
                return;
        json_decref(s->output);
        free(s);
}

static CallbackState *state_new(ApiCall *c, EncodeFn encode) {
        CallbackState *s = xmalloc(sizeof *s);

        *s = (CallbackState){.encode = encode};
        api_call_set_state(c, s, callback_state_free);
        return s;
}

static int parse_token(ApiCall *c, CallbackState *s, char **ret_resource, AwsError *e) {
        int k;

        if ((k = aws_get_string(c->input, "taskToken", true, 1, API_TOKEN_MAX, &s->token, e)) < 0)
                return k;
        /* Tokens have no resource of their own (IAM: "*"). */
        *ret_resource = xstrdup("*");
        return 0;
}

static void answered(ApiCall *c, json_t *answer) {
        const char *error = json_string_value(json_object_get(answer, "error"));
        const char *cause = json_string_value(json_object_get(answer, "cause"));

        if (json_is_true(json_object_get(answer, "ok")))
                return api_reply(c, NULL);
        if (streq_ptr(error, "InvalidToken"))
                return api_fail(c, "InvalidToken", "Invalid Token: '%s'", strempty(cause));
        if (streq_ptr(error, "TaskDoesNotExist"))
                return api_fail(c, "TaskDoesNotExist", "Task Does Not Exist: '%s'", strempty(cause));
        if (streq_ptr(error, "TaskTimedOut"))
                return api_fail(c, "TaskTimedOut", "Task Timed Out: '%s'", strempty(cause));
        api_fail(c, "InternalFailure", "%s: %s", strempty(error), strempty(cause));
}

/* A token longer than any issued cannot name a task (the store keeps at
 * most STORE_TOKEN_MAX bytes): InvalidToken without asking. */
static bool token_too_long(ApiCall *c, CallbackState *s) {
        if (strlen(s->token) <= STORE_TOKEN_MAX)
                return false;
        api_fail(c, "InvalidToken", "Invalid Token: 'invalid task token'");
        return true;
}

/* Every callback: the message with a new request id, sent, and the
 * coordinator's answer. */
static void callback_run(ApiCall *c) {
        CallbackState *s = c->state;
        _cleanup_free_ char *request_id = api_random_hex(), *buf = NULL;
        size_t len = 0;
        int k;

        if (token_too_long(c, s))
                return;
        k = s->encode(s, request_id, api_limits(c->m), &buf, &len);
        if (k == -E2BIG)
                return api_fail(c, "InvalidOutput",
                                "Invalid Output: 'larger than the payload limit or nested too deep'");
        if (k < 0)
                return api_fail(c, "ValidationException", "The message cannot be encoded: %s", strerror(-k));
        api_coordinator_request(c, PROTO_TOPIC_EVENTS, s->token, buf, len, request_id, answered);
}

/* ---- SendTaskSuccess ---- */

static int encode_success(const CallbackState *s, const char *request_id, const ProtoLimits *limits,
                          char **ret_buf, size_t *ret_len) {
        ProtoSendTaskSuccess msg = {.task_token = s->token, .output = s->output, .request_id = request_id};

        return proto_encode_send_task_success(&msg, limits, ret_buf, ret_len);
}

static int success_parse(ApiCall *c, char **ret_resource, AwsError *e) {
        CallbackState *s = state_new(c, encode_success);
        const char *output;
        json_error_t je;
        int k;

        if ((k = parse_token(c, s, ret_resource, e)) < 0 ||
            (k = aws_get_string(c->input, "output", true, 0, SIZE_MAX, &output, e)) < 0)
                return k;
        if (strlen(output) > API_DATA_MAX)
                return aws_error_set(e, "InvalidOutput", "Invalid Output: 'larger than %d bytes'",
                                     API_DATA_MAX);
        s->output = json_loads(output, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
        if (!s->output)
                return aws_error_set(e, "InvalidOutput", "Invalid Output: '%s'", je.text);
        return 0;
}

/* ---- SendTaskFailure ---- */

static int encode_failure(const CallbackState *s, const char *request_id, const ProtoLimits *limits,
                          char **ret_buf, size_t *ret_len) {
        ProtoSendTaskFailure msg = {
                .task_token = s->token,
                .error = s->error && *s->error ? s->error : NULL,
                .cause = s->cause,
                .request_id = request_id,
        };

        return proto_encode_send_task_failure(&msg, limits, ret_buf, ret_len);
}

static int failure_parse(ApiCall *c, char **ret_resource, AwsError *e) {
        CallbackState *s = state_new(c, encode_failure);
        int k;

        if ((k = parse_token(c, s, ret_resource, e)) < 0 ||
            (k = aws_get_string(c->input, "error", false, 0, API_ERROR_MAX, &s->error, e)) < 0 ||
            (k = aws_get_string(c->input, "cause", false, 0, API_CAUSE_MAX, &s->cause, e)) < 0)
                return k;
        return 0;
}

/* ---- SendTaskHeartbeat ---- */

static int encode_heartbeat(const CallbackState *s, const char *request_id, const ProtoLimits *limits,
                            char **ret_buf, size_t *ret_len) {
        ProtoSendTaskHeartbeat msg = {.task_token = s->token, .request_id = request_id};

        return proto_encode_send_task_heartbeat(&msg, limits, ret_buf, ret_len);
}

static int heartbeat_parse(ApiCall *c, char **ret_resource, AwsError *e) {
        return parse_token(c, state_new(c, encode_heartbeat), ret_resource, e);
}

const ApiOp api_op_send_task_success = {"SendTaskSuccess", success_parse, callback_run};
const ApiOp api_op_send_task_failure = {"SendTaskFailure", failure_parse, callback_run};
const ApiOp api_op_send_task_heartbeat = {"SendTaskHeartbeat", heartbeat_parse, callback_run};
