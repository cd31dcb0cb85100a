/* SPDX-License-Identifier: MIT */
/*
 * Callback verbs for `.waitForTaskToken` tasks: send-task-success,
 * send-task-failure, send-task-heartbeat.
 *
 * Each publishes a SendTask* message with a random requestId to
 * <prefix>events, keyed by the token (the sender does not know the
 * execution), and waits for the coordinator's answer at
 * imgflow:response:{<requestId>}: {"ok":true} or an AWS error name:
 *
 *   InvalidToken      the token was never issued (forged, altered, or its
 *                     record expired): the same answer whether or not some
 *                     execution exists
 *   TaskDoesNotExist  the token's task is closed (a result arrived already,
 *                     it was cancelled, the execution stopped or finished)
 *   TaskTimedOut      the task timed out (TimeoutSeconds/HeartbeatSeconds);
 *                     a Retry gives the next attempt a new token
 *   InvalidOutput     (checked here) the output is not JSON or over the limit
 *
 * Exit codes: 0 accepted, 1 an AWS error (or no answer), 2 bad usage.
 */

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmd-remote.h"

#define CLI_TOKEN_MAX 1024 /* as Step Functions: 1..1024 characters */

typedef struct CallbackArgs {
        const char *token;
        const char *output;
        const char *output_file;
        const char *error;
        const char *cause;
} CallbackArgs;

/*
 * What differs between the three verbs. check: the verb's own checks after
 * the options are parsed (CLI_CONTINUE or the exit code; may set *output, a
 * new reference). encode: the message into *ret_buf / *ret_len (CLI_CONTINUE
 * or the exit code, message printed).
 */
typedef struct CallbackVerb {
        const char *operation;
        const CliOption *options;
        int (*check)(const Verb *verb, const char *operation, const CallbackArgs *a, json_t **output);
        int (*encode)(const Verb *verb, const CallbackArgs *a, json_t *output, const char *request_id,
                      const ProtoLimits *limits, char **ret_buf, size_t *ret_len);
} CallbackVerb;

#define OPTION(name, field) { name, CLI_OPTION_STRING, offsetof(CallbackArgs, field) }
#define TOKEN_OPTION OPTION("task-token", token)

static int check_token(const char *operation, const char *token) {
        size_t n = strlen(token);

        if (n == 0 || n > CLI_TOKEN_MAX)
                return cli_aws_error(operation, "InvalidToken", "a task token has 1..1024 characters");
        return CLI_CONTINUE;
}

static int encode_error(const Verb *verb, int r) {
        fprintf(stderr, "imgflow %s: cannot encode the message: %s\n", verb->name, strerror(-r));
        return CLI_EXIT_USAGE;
}

/* Options, checks, then publish the message and wait for the answer. */
static int callback_run(const Verb *verb, int argc, char *argv[], const CallbackVerb *cv) {
        _cleanup_(cli_remote_freep) CliRemote *remote = NULL;
        _cleanup_free_ char *request_id = NULL, *buf = NULL;
        _cleanup_json_ json_t *output = NULL;
        CliRemoteArgs ra = {};
        CallbackArgs a = {};
        size_t len;
        int r;

        r = cli_parse_options(verb, argc, argv, cv->options, &ra, &a);
        if (r != CLI_CONTINUE)
                return r;
        if (!a.token)
                return cli_missing_option(verb, "--task-token");
        r = cv->check(verb, cv->operation, &a, &output);
        if (r != CLI_CONTINUE)
                return r;

        if (cli_remote_open(&ra, /* need_kafka= */ true, &remote) < 0)
                return CLI_EXIT_FAILED;
        request_id = cli_request_id_new();
        r = cv->encode(verb, &a, output, request_id, cli_remote_limits(remote), &buf, &len);
        if (r != CLI_CONTINUE)
                return r;
        return cli_remote_request(remote, PROTO_TOPIC_EVENTS, a.token, buf, len, request_id,
                                  ra.request_timeout_sec, cv->operation, /* ret= */ NULL);
}

static int success_check(const Verb *verb, const char *operation, const CallbackArgs *a, json_t **output) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        if (!a->output == !a->output_file) {
                fprintf(stderr, "imgflow %s: give one of --task-output and --task-output-file\n",
                        verb->name);
                return CLI_EXIT_USAGE;
        }
        r = check_token(operation, a->token);
        if (r != CLI_CONTINUE)
                return r;
        if (a->output_file) {
                r = cli_read_file(a->output_file, 4 * PROTO_MAX_PAYLOAD_BYTES_DEFAULT, &text, &len);
                if (r == -EFBIG)
                        return cli_aws_error(operation, "InvalidOutput", "the output is over the payload limit");
                if (r < 0) {
                        fprintf(stderr, "imgflow: cannot read %s: %s\n", a->output_file, strerror(-r));
                        return CLI_EXIT_USAGE;
                }
        } else {
                text = xstrdup(a->output);
                len = strlen(text);
        }
        json_error_t jerr;
        *output = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
        if (!*output) {
                _cleanup_free_ char *cause = xasprintf("the output is not valid JSON: line %d, column %d: %s",
                                                       jerr.line, jerr.column, jerr.text);
                return cli_aws_error(operation, "InvalidOutput", cause);
        }
        return CLI_CONTINUE;
}

static int success_encode(const Verb *verb, const CallbackArgs *a, json_t *output, const char *request_id,
                          const ProtoLimits *limits, char **ret_buf, size_t *ret_len) {
        ProtoSendTaskSuccess msg = {
                .task_token = a->token,
                .output = output,
                .request_id = request_id,
        };
        int r = proto_encode_send_task_success(&msg, limits, ret_buf, ret_len);

        if (r == -E2BIG)
                return cli_aws_error("SendTaskSuccess", "InvalidOutput",
                                     "the output is over the payload limit or nested too deep");
        if (r < 0)
                return cli_aws_error("SendTaskSuccess", "InvalidOutput", strerror(-r));
        return CLI_CONTINUE;
}

int verb_send_task_success(const Verb *verb, int argc, char *argv[]) {
        static const CliOption options[] = {
                TOKEN_OPTION,
                OPTION("task-output", output),
                OPTION("task-output-file", output_file),
                {},
        };
        static const CallbackVerb cv = { "SendTaskSuccess", options, success_check, success_encode };

        return callback_run(verb, argc, argv, &cv);
}

static int failure_check(const Verb *verb, const char *operation, const CallbackArgs *a, json_t **output) {
        int r = check_token(operation, a->token);

        if (r != CLI_CONTINUE)
                return r;
        return cli_check_error_cause(operation, a->error, a->cause);
}

static int failure_encode(const Verb *verb, const CallbackArgs *a, json_t *output, const char *request_id,
                          const ProtoLimits *limits, char **ret_buf, size_t *ret_len) {
        ProtoSendTaskFailure msg = {
                .task_token = a->token,
                .error = a->error && *a->error ? a->error : NULL,
                .cause = a->cause,
                .request_id = request_id,
        };
        int r = proto_encode_send_task_failure(&msg, limits, ret_buf, ret_len);

        return r < 0 ? encode_error(verb, r) : CLI_CONTINUE;
}

int verb_send_task_failure(const Verb *verb, int argc, char *argv[]) {
        static const CliOption options[] = {
                TOKEN_OPTION,
                OPTION("error", error),
                OPTION("cause", cause),
                {},
        };
        static const CallbackVerb cv = { "SendTaskFailure", options, failure_check, failure_encode };

        return callback_run(verb, argc, argv, &cv);
}

static int heartbeat_check(const Verb *verb, const char *operation, const CallbackArgs *a, json_t **output) {
        return check_token(operation, a->token);
}

static int heartbeat_encode(const Verb *verb, const CallbackArgs *a, json_t *output, const char *request_id,
                            const ProtoLimits *limits, char **ret_buf, size_t *ret_len) {
        ProtoSendTaskHeartbeat msg = {
                .task_token = a->token,
                .request_id = request_id,
        };
        int r = proto_encode_send_task_heartbeat(&msg, limits, ret_buf, ret_len);

        return r < 0 ? encode_error(verb, r) : CLI_CONTINUE;
}

int verb_send_task_heartbeat(const Verb *verb, int argc, char *argv[]) {
        static const CliOption options[] = {
                TOKEN_OPTION,
                {},
        };
        static const CallbackVerb cv = { "SendTaskHeartbeat", options, heartbeat_check, heartbeat_encode };

        return callback_run(verb, argc, argv, &cv);
}
