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
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmd-remote.h"

#define CLI_TOKEN_MAX 1024 /* as Step Functions: 1..1024 characters */
#define CLI_ERROR_MAX 256
#define CLI_CAUSE_MAX 32768

typedef struct CallbackArgs {
        const char *token;
        const char *output;
        const char *output_file;
        const char *error;
        const char *cause;
} CallbackArgs;

enum {
        OPT_TOKEN = CLI_OPT_FIRST_VERB_OPTION,
        OPT_OUTPUT,
        OPT_OUTPUT_FILE,
        OPT_ERROR,
        OPT_CAUSE,
};

static int callback_option(int c, const char *arg, void *userdata) {
        CallbackArgs *a = userdata;

        switch (c) {
        case OPT_TOKEN:
                a->token = arg;
                return 0;
        case OPT_OUTPUT:
                a->output = arg;
                return 0;
        case OPT_OUTPUT_FILE:
                a->output_file = arg;
                return 0;
        case OPT_ERROR:
                a->error = arg;
                return 0;
        case OPT_CAUSE:
                a->cause = arg;
                return 0;
        default:
                return -EINVAL;
        }
}

/* Publish buf, wait for the answer, print it as an exit code. */
static int send_and_wait(CliRemote *remote, const CliRemoteArgs *ra, const char *operation,
                         const char *token, const char *request_id, const char *buf, size_t len) {
        _cleanup_json_ json_t *resp = NULL;

        if (cli_remote_produce(remote, PROTO_TOPIC_EVENTS, token, buf, len) < 0)
                return CLI_EXIT_FAILED;
        if (cli_remote_wait_response(remote, request_id, ra->request_timeout_sec, &resp) < 0)
                return CLI_EXIT_FAILED;
        if (!json_is_true(json_object_get(resp, "ok")))
                return cli_aws_error(operation,
                                     json_string_value(json_object_get(resp, "error")) ?: "InternalError",
                                     json_string_value(json_object_get(resp, "cause")));
        return CLI_EXIT_OK;
}

static int check_token(const char *operation, const char *token) {
        size_t n = strlen(token);

        if (n == 0 || n > CLI_TOKEN_MAX)
                return cli_aws_error(operation, "InvalidToken", "a task token has 1..1024 characters");
        return CLI_CONTINUE;
}

#define TOKEN_OPTION                                                                                        \
        { "task-token", required_argument, NULL, OPT_TOKEN }

int verb_send_task_success(const Verb *verb, int argc, char *argv[]) {
        static const struct option options[] = {
                TOKEN_OPTION,
                {"task-output", required_argument, NULL, OPT_OUTPUT},
                {"task-output-file", required_argument, NULL, OPT_OUTPUT_FILE},
                {},
        };
        _cleanup_(cli_remote_freep) CliRemote *remote = NULL;
        _cleanup_free_ char *text = NULL, *request_id = NULL, *buf = NULL;
        _cleanup_json_ json_t *output = NULL;
        CliRemoteArgs ra = {};
        CallbackArgs a = {};
        size_t len;
        int r;

        r = cli_parse_options(verb, argc, argv, options, &ra, callback_option, &a);
        if (r != CLI_CONTINUE)
                return r;
        if (!a.token)
                return cli_missing_option(verb, "--task-token");
        if (!a.output == !a.output_file) {
                fprintf(stderr, "imgflow %s: give one of --task-output and --task-output-file\n",
                        verb->name);
                return CLI_EXIT_USAGE;
        }
        r = check_token("SendTaskSuccess", a.token);
        if (r != CLI_CONTINUE)
                return r;
        if (a.output_file) {
                r = cli_read_file(a.output_file, 4 * PROTO_MAX_PAYLOAD_BYTES_DEFAULT, &text, &len);
                if (r == -EFBIG)
                        return cli_aws_error("SendTaskSuccess", "InvalidOutput",
                                             "the output is over the payload limit");
                if (r < 0) {
                        fprintf(stderr, "imgflow: cannot read %s: %s\n", a.output_file, strerror(-r));
                        return CLI_EXIT_USAGE;
                }
        } else {
                text = asl_xstrdup(a.output);
                len = strlen(text);
        }
        output = json_loadb(text, len, JSON_DECODE_ANY, NULL);
        if (!output)
                return cli_aws_error("SendTaskSuccess", "InvalidOutput", "the output is not valid JSON");

        if (cli_remote_open(&ra, /* need_kafka= */ true, &remote) < 0)
                return CLI_EXIT_FAILED;
        request_id = cli_request_id_new();
        ProtoSendTaskSuccess msg = {
                .task_token = a.token,
                .output = output,
                .request_id = request_id,
        };
        r = proto_encode_send_task_success(&msg, cli_remote_limits(remote), &buf, &len);
        if (r == -E2BIG)
                return cli_aws_error("SendTaskSuccess", "InvalidOutput",
                                     "the output is over the payload limit or nested too deep");
        if (r < 0)
                return cli_aws_error("SendTaskSuccess", "InvalidOutput", strerror(-r));
        return send_and_wait(remote, &ra, "SendTaskSuccess", a.token, request_id, buf, len);
}

int verb_send_task_failure(const Verb *verb, int argc, char *argv[]) {
        static const struct option options[] = {
                TOKEN_OPTION,
                {"error", required_argument, NULL, OPT_ERROR},
                {"cause", required_argument, NULL, OPT_CAUSE},
                {},
        };
        _cleanup_(cli_remote_freep) CliRemote *remote = NULL;
        _cleanup_free_ char *request_id = NULL, *buf = NULL;
        CliRemoteArgs ra = {};
        CallbackArgs a = {};
        size_t len;
        int r;

        r = cli_parse_options(verb, argc, argv, options, &ra, callback_option, &a);
        if (r != CLI_CONTINUE)
                return r;
        if (!a.token)
                return cli_missing_option(verb, "--task-token");
        r = check_token("SendTaskFailure", a.token);
        if (r != CLI_CONTINUE)
                return r;
        if ((a.error && strlen(a.error) > CLI_ERROR_MAX) || (a.cause && strlen(a.cause) > CLI_CAUSE_MAX)) {
                fprintf(stderr, "imgflow %s: --error is at most %d bytes, --cause at most %d\n", verb->name,
                        CLI_ERROR_MAX, CLI_CAUSE_MAX);
                return CLI_EXIT_USAGE;
        }

        if (cli_remote_open(&ra, /* need_kafka= */ true, &remote) < 0)
                return CLI_EXIT_FAILED;
        request_id = cli_request_id_new();
        ProtoSendTaskFailure msg = {
                .task_token = a.token,
                .error = a.error && *a.error ? a.error : NULL,
                .cause = a.cause,
                .request_id = request_id,
        };
        r = proto_encode_send_task_failure(&msg, cli_remote_limits(remote), &buf, &len);
        if (r < 0) {
                fprintf(stderr, "imgflow %s: cannot encode the message: %s\n", verb->name, strerror(-r));
                return CLI_EXIT_USAGE;
        }
        return send_and_wait(remote, &ra, "SendTaskFailure", a.token, request_id, buf, len);
}

int verb_send_task_heartbeat(const Verb *verb, int argc, char *argv[]) {
        static const struct option options[] = {
                TOKEN_OPTION,
                {},
        };
        _cleanup_(cli_remote_freep) CliRemote *remote = NULL;
        _cleanup_free_ char *request_id = NULL, *buf = NULL;
        CliRemoteArgs ra = {};
        CallbackArgs a = {};
        size_t len;
        int r;

        r = cli_parse_options(verb, argc, argv, options, &ra, callback_option, &a);
        if (r != CLI_CONTINUE)
                return r;
        if (!a.token)
                return cli_missing_option(verb, "--task-token");
        r = check_token("SendTaskHeartbeat", a.token);
        if (r != CLI_CONTINUE)
                return r;

        if (cli_remote_open(&ra, /* need_kafka= */ true, &remote) < 0)
                return CLI_EXIT_FAILED;
        request_id = cli_request_id_new();
        ProtoSendTaskHeartbeat msg = {
                .task_token = a.token,
                .request_id = request_id,
        };
        r = proto_encode_send_task_heartbeat(&msg, cli_remote_limits(remote), &buf, &len);
        if (r < 0) {
                fprintf(stderr, "imgflow %s: cannot encode the message: %s\n", verb->name, strerror(-r));
                return CLI_EXIT_USAGE;
        }
        return send_and_wait(remote, &ra, "SendTaskHeartbeat", a.token, request_id, buf, len);
}
