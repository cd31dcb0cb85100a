/* SPDX-License-Identifier: MIT */
/*
 * Execution verbs: start-execution, start-sync-execution, describe-execution,
 * get-execution-history, list-executions, stop-execution.
 *
 * Reads go to Redis directly (coordinator/store). Changes go through the
 * coordinators, as every other producer's do: StartExecution is published
 * to <prefix>jobs keyed by the execution name, StopExecution to the same
 * topic keyed by the execution id (the events topic refuses both), each
 * with a random requestId;
 * the coordinator that applies it writes its answer to
 * imgflow:response:{<requestId>}, which is polled (bounded by
 * --request-timeout).
 *
 * Output follows the AWS CLI's field names; dates are RFC 3339 strings,
 * input and output are JSON text (strings) as in DescribeExecution.
 */

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "cmd-remote.h"
#include "json-writer.h"

#define CLI_INPUT_MAX (1024 * 1024)
#define WAIT_POLL_MS 250

typedef struct ExecArgs {
        const char *state_machine;
        const char *name;
        const char *input;
        const char *input_file;
        const char *execution;
        const char *error;
        const char *cause;
        const char *client_token;
        const char *status;
        const char *next_token;
        const char *map_run;
        bool wait;
        bool reverse;
        unsigned timeout_sec;
        unsigned max_results;
} ExecArgs;

static const char *const exec_statuses[] = {"RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", NULL};

#define OPTION(name, field)                                                                                 \
        { name, CLI_OPTION_STRING, offsetof(ExecArgs, field) }
#define OPTION_STATE_MACHINE                                                                                \
        OPTION("state-machine", state_machine), OPTION("state-machine-arn", state_machine)
#define OPTION_EXECUTION OPTION("execution-arn", execution)
#define OPTION_MAX_RESULTS                                                                                  \
        {                                                                                                   \
                "max-results", CLI_OPTION_UINT, offsetof(ExecArgs, max_results),                            \
                        .min = 1, .max = STORE_LIST_LIMIT_MAX                                               \
        }

static const char *strip_prefix(const char *s, const char *prefix) {
        size_t n = strlen(prefix);
        return strncmp(s, prefix, n) == 0 ? s + n : s;
}

static int64_t jint(const json_t *o, const char *key) {
        return json_integer_value(json_object_get(o, key));
}

static const char *jstr(const json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

static void set_json_text(json_t *out, const char *key, json_t *value) {
        _cleanup_free_ char *s = NULL;

        if (!value)
                return;
        s = json_writer_dumps(value);
        if (s)
                json_object_set_new(out, key, json_string(s));
}

/* store_exec_describe() -> the DescribeExecution shape. New reference. */
static json_t *describe_output(const json_t *d) {
        const char *sm = jstr(d, "stateMachine") ?: "";
        _cleanup_free_ char *sm_arn = cli_sm_arn(sm);
        json_t *out;

        out = json_pack("{s:s, s:s}", "executionArn", jstr(d, "executionArn") ?: "", "stateMachineArn",
                        jstr(d, "stateMachineArn") ?: sm_arn); /* a Map Run's child: the run's */
        if (jint(d, "stateMachineVersion") > 0) {
                _cleanup_free_ char *v =
                        xasprintf("%s:%lld", sm_arn, (long long) jint(d, "stateMachineVersion"));
                json_object_set_new(out, "stateMachineVersionArn", json_string(v));
        }
        json_object_set_new(out, "name", json_string(jstr(d, "name") ?: ""));
        json_object_set_new(out, "status", json_string(jstr(d, "status") ?: ""));
        json_object_set_new(out, "startDate", cli_date(jint(d, "startDate")));
        if (json_object_get(d, "stopDate"))
                json_object_set_new(out, "stopDate", cli_date(jint(d, "stopDate")));
        if (jstr(d, "mapRunArn"))
                json_object_set_new(out, "mapRunArn", json_string(jstr(d, "mapRunArn")));
        set_json_text(out, "input", json_object_get(d, "input"));
        set_json_text(out, "output", json_object_get(d, "output"));
        if (jstr(d, "error"))
                json_object_set_new(out, "error", json_string(jstr(d, "error")));
        if (jstr(d, "cause"))
                json_object_set_new(out, "cause", json_string(jstr(d, "cause")));
        json_object_set_new(out, "redriveCount", json_integer(jint(d, "redriveCount")));
        if (json_object_get(d, "redriveDate"))
                json_object_set_new(out, "redriveDate", cli_date(jint(d, "redriveDate")));
        if (jstr(d, "redriveStatus"))
                json_object_set_new(out, "redriveStatus", json_string(jstr(d, "redriveStatus")));
        if (jstr(d, "redriveStatusReason"))
                json_object_set_new(out, "redriveStatusReason", json_string(jstr(d, "redriveStatusReason")));
        return out;
}

/* --execution-arn: "<sm>:<name>" or "imgflow:execution:<sm>:<name>"; an
 * EXPRESS execution's "imgflow:express:..." is refused as Step Functions
 * refuses an "express:" ARN. */
static char *execution_id(const char *operation, const char *arn) {
        char *id;

        if (store_exec_arn_is_express(arn)) {
                cli_aws_error(operation, "InvalidArn", STORE_EXPRESS_ARN_REFUSED);
                return NULL;
        }
        id = store_exec_id_normalize(arn);

        if (!id)
                cli_aws_error(operation, "InvalidArn",
                              "expected imgflow:execution:<stateMachine>:<name> or <stateMachine>:<name>");
        return id;
}

/*
 * Options, --execution-arn into *ret_id (a new string), then the connection
 * (with a producer if need_kafka) into *ret_remote. Returns CLI_CONTINUE or
 * the exit code (message printed).
 */
static int exec_open(const Verb *verb, int argc, char *argv[], const CliOption *options,
                     const char *operation, bool need_kafka, ExecArgs *a, CliRemoteArgs *ra, char **ret_id,
                     CliRemote **ret_remote) {
        int r;

        r = cli_parse_options(verb, argc, argv, options, ra, a);
        if (r != CLI_CONTINUE)
                return r;
        if (!a->execution)
                return cli_missing_option(verb, "--execution-arn");
        *ret_id = execution_id(operation, a->execution);
        if (!*ret_id)
                return CLI_EXIT_FAILED;
        if (cli_remote_open(ra, need_kafka, ret_remote) < 0)
                return CLI_EXIT_FAILED;
        return CLI_CONTINUE;
}

/* A failed store read of execution arn (as given) in operation: the exit code. */
static int exec_store_error(const char *operation, int r, const char *arn, CliRemote *remote) {
        if (r == -ENOENT)
                return cli_aws_error(operation, "ExecutionDoesNotExist", arn);
        return cli_store_error(operation, r, remote);
}

/* --wait: poll until the execution is no longer RUNNING (or timeout_sec
 * passed, 0 = no limit), reporting Map progress on stderr. Prints the final
 * description; exit 0 only for SUCCEEDED. */
static int wait_for_execution(CliRemote *remote, const char *exec_id, unsigned timeout_sec) {
        int64_t deadline = timeout_sec ? now_ms(CLOCK_MONOTONIC) + (int64_t) timeout_sec * 1000 : 0;
        size_t last_done = SIZE_MAX, last_total = SIZE_MAX;

        for (;;) {
                _cleanup_json_ json_t *d = NULL, *out = NULL;
                json_t *progress;
                int r;

                r = store_exec_describe(cli_remote_redis(remote), exec_id, &d);
                if (r < 0)
                        return exec_store_error("DescribeExecution", r, exec_id, remote);

                progress = json_object_get(d, "mapProgress");
                if (progress) {
                        size_t done = (size_t) jint(progress, "done"),
                               total = (size_t) jint(progress, "total");
                        if (done != last_done || total != last_total) {
                                fprintf(stderr, "Map: %zu/%zu items done\n", done, total);
                                last_done = done;
                                last_total = total;
                        }
                }
                if (!streq(jstr(d, "status") ?: "", "RUNNING")) {
                        out = describe_output(d);
                        cli_print_json(out);
                        return streq(jstr(d, "status") ?: "", "SUCCEEDED") ? CLI_EXIT_OK : CLI_EXIT_FAILED;
                }
                if (deadline && now_ms(CLOCK_MONOTONIC) >= deadline) {
                        out = describe_output(d);
                        cli_print_json(out);
                        fprintf(stderr, "imgflow: %s still RUNNING after %u s\n", exec_id, timeout_sec);
                        return CLI_EXIT_FAILED;
                }
                usleep(WAIT_POLL_MS * 1000);
        }
}

/* StartSyncExecution's answer as the AWS CLI prints it. */
static json_t *sync_output(const json_t *resp, const char *sm_name, const char *name, const json_t *input) {
        _cleanup_free_ char *sm_arn = cli_sm_arn(sm_name), *in = json_writer_dumps(input);
        json_t *out = json_pack("{s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:{s:b}}", "executionArn",
                                jstr(resp, "executionArn") ?: "", "stateMachineArn", sm_arn, "name", name,
                                "startDate", cli_date(jint(resp, "startDate")), "stopDate",
                                cli_date(jint(resp, "stopDate")), "status", jstr(resp, "status") ?: "",
                                "input", in ?: "{}", "inputDetails", "included", true);

        if (jstr(resp, "error"))
                json_object_set(out, "error", json_object_get(resp, "error"));
        if (jstr(resp, "cause"))
                json_object_set(out, "cause", json_object_get(resp, "cause"));
        if (jstr(resp, "output")) {
                json_object_set(out, "output", json_object_get(resp, "output"));
                json_object_set_new(out, "outputDetails", json_pack("{s:b}", "included", true));
        }
        json_object_set_new(out, "billingDetails",
                            json_pack("{s:I, s:I}", "billedMemoryUsedInMB",
                                      (json_int_t) jint(resp, "billedMemoryUsedInMB"),
                                      "billedDurationInMilliseconds",
                                      (json_int_t) jint(resp, "billedDurationInMilliseconds")));
        return out;
}

/* StartExecution, or StartSyncExecution (sync): the same options but
 * --wait; a synchronous start waits for the answer up to --timeout
 * (default SYNC_TIMEOUT_SEC_DEFAULT), the execution's end. */
#define SYNC_TIMEOUT_SEC_DEFAULT (PROTO_EXPRESS_DURATION_MAX_SEC + 30) /* and some slack */
static int start(const Verb *verb, int argc, char *argv[], bool sync) {
        static const CliOption async_options[] = {
                OPTION_STATE_MACHINE,
                OPTION("name", name),
                OPTION("input", input),
                OPTION("input-file", input_file),
                {"wait", CLI_OPTION_FLAG, offsetof(ExecArgs, wait)},
                {"timeout", CLI_OPTION_UINT, offsetof(ExecArgs, timeout_sec), .min = 1,
                 .max = 7 * 24 * 3600},
                {},
        };
        static const CliOption sync_options[] = {
                OPTION_STATE_MACHINE,
                OPTION("name", name),
                OPTION("input", input),
                OPTION("input-file", input_file),
                {"timeout", CLI_OPTION_UINT, offsetof(ExecArgs, timeout_sec), .min = 1, .max = 3600},
                {},
        };
        const CliOption *options = sync ? sync_options : async_options;
        const char *operation = sync ? "StartSyncExecution" : "StartExecution";
        _cleanup_(cli_remote_freep) CliRemote *remote = NULL;
        _cleanup_json_ json_t *input = NULL, *resp = NULL, *out = NULL;
        _cleanup_free_ char *sm_name = NULL, *name = NULL, *request_id = NULL, *buf = NULL, *exec_id = NULL,
                            *text = NULL, *ref = NULL;
        CliRemoteArgs ra = {};
        ExecArgs a = {};
        unsigned sm_version;
        size_t len;
        int r;

        r = cli_parse_options(verb, argc, argv, options, &ra, &a);
        if (r != CLI_CONTINUE)
                return r;
        if (!a.state_machine)
                return cli_missing_option(verb, "--state-machine");
        if (a.input && strncmp(a.input, "file://", 7) == 0 && !a.input_file) {
                /* As the AWS CLI: --input file://input.json */
                a.input_file = a.input + 7;
                a.input = NULL;
        }
        if (a.input && a.input_file) {
                fprintf(stderr, "imgflow %s: give --input or --input-file, not both\n", verb->name);
                return CLI_EXIT_USAGE;
        }
        if (a.timeout_sec && !a.wait && !sync) {
                fprintf(stderr, "imgflow %s: --timeout goes with --wait\n", verb->name);
                return CLI_EXIT_USAGE;
        }

        ref = xstrdup(strip_prefix(a.state_machine, "imgflow:stateMachine:"));
        if (store_sm_ref_parse(ref, &sm_name, &sm_version) < 0)
                return cli_aws_error(operation, "InvalidArn",
                                     "expected <stateMachine>, <stateMachine>:<version> or "
                                     "imgflow:stateMachine:<stateMachine>[:<version>]");
        name = a.name ? xstrdup(a.name) : cli_uuid_new();
        if (!store_name_is_valid(name))
                return cli_aws_error(operation, "InvalidName",
                                     "an execution name has 1..80 characters, no whitespace, control "
                                     "characters or any of < > { } [ ] ? * \" # % \\ ^ | ~ ` $ & , ; : /");

        if (a.input_file) {
                r = cli_read_file_or_warn(a.input_file, CLI_INPUT_MAX, "larger than 1 MiB", &text, &len);
                if (r < 0)
                        return CLI_EXIT_USAGE;
        } else {
                text = xstrdup(a.input ? a.input : "{}");
                len = strlen(text);
        }
        json_error_t jerr;
        input = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
        if (!input) {
                _cleanup_free_ char *cause = xasprintf("the input is not valid JSON: line %d, column %d: %s",
                                                       jerr.line, jerr.column, jerr.text);
                return cli_aws_error(operation, "InvalidExecutionInput", cause);
        }

        request_id = cli_request_id_new();
        ProtoStartExecution msg = {
                .state_machine = ref,
                .name = name,
                .input = input,
                .request_id = request_id,
        };
        if (cli_remote_open(&ra, /* need_kafka= */ true, &remote) < 0)
                return CLI_EXIT_FAILED;
        r = sync ? proto_encode_start_sync_execution(&msg, cli_remote_limits(remote), &buf, &len)
                 : proto_encode_start_execution(&msg, cli_remote_limits(remote), &buf, &len);
        if (r == -E2BIG)
                return cli_aws_error(operation, "InvalidExecutionInput",
                                     "the input is over the payload limit or nested too deep");
        if (r < 0)
                return cli_aws_error(operation, "InvalidExecutionInput", strerror(-r));
        /* Before any wait (the broker's acknowledgement, the coordinator's
         * answer): a timeout then leaves the user knowing what may have
         * started, by its name (generated or given) and request id. */
        fprintf(stderr, "imgflow %s: starting execution imgflow:execution:%s:%s (request %s)\n", verb->name,
                sm_name, name, request_id);
        fflush(stderr);
        r = cli_remote_request(remote, PROTO_TOPIC_JOBS, name, buf, len, request_id,
                               sync ? (a.timeout_sec ?: SYNC_TIMEOUT_SEC_DEFAULT) : ra.request_timeout_sec,
                               operation, &resp);
        if (r != CLI_EXIT_OK)
                return r;
        if (sync) {
                out = sync_output(resp, sm_name, name, input);
                cli_print_json(out);
                return CLI_EXIT_OK;
        }

        exec_id = xstrdup(jstr(resp, "executionId") ?: "");
        if (a.wait)
                return wait_for_execution(remote, exec_id, a.timeout_sec);

        int64_t start = jint(resp, "startDate");
        if (start == 0) {
                /* The execution existed already (same name and input): its own start date. */
                _cleanup_json_ json_t *d = NULL;
                if (store_exec_describe(cli_remote_redis(remote), exec_id, &d) >= 0)
                        start = jint(d, "startDate");
        }
        out = json_pack("{s:s, s:o}", "executionArn", jstr(resp, "executionArn") ?: "", "startDate",
                        cli_date(start));
        cli_print_json(out);
        return CLI_EXIT_OK;
}

int verb_start_execution(const Verb *verb, int argc, char *argv[]) {
        return start(verb, argc, argv, /* sync= */ false);
}

int verb_start_sync_execution(const Verb *verb, int argc, char *argv[]) {
        return start(verb, argc, argv, /* sync= */ true);
}

int verb_describe_execution(const Verb *verb, int argc, char *argv[]) {
        static const CliOption options[] = {
                OPTION_EXECUTION,
                {},
        };
        _cleanup_(cli_remote_freep) CliRemote *remote = NULL;
        _cleanup_json_ json_t *d = NULL, *out = NULL;
        _cleanup_free_ char *id = NULL;
        CliRemoteArgs ra = {};
        ExecArgs a = {};
        int r;

        r = exec_open(verb, argc, argv, options, "DescribeExecution", /* need_kafka= */ false, &a, &ra, &id,
                      &remote);
        if (r != CLI_CONTINUE)
                return r;
        r = store_exec_describe(cli_remote_redis(remote), id, &d);
        if (r < 0)
                return exec_store_error("DescribeExecution", r, a.execution, remote);
        out = describe_output(d);
        cli_print_json(out);
        return CLI_EXIT_OK;
}

/* Pages of the history of execution id from event start on (0 = the
 * first), up to max events a page, appended to events; every page when
 * all, else one. *ret_next: the next page's start, 0 after the last. 0 or
 * the store's -errno. */
static int history_pages(CliRemote *remote, const char *id, uint64_t start, unsigned max, bool reverse,
                         bool all, json_t *events, uint64_t *ret_next) {
        uint64_t next = 0;
        int r;

        for (;;) {
                _cleanup_(store_call_done) StoreCall call = {};
                _cleanup_reply_ redisReply *reply = NULL;
                _cleanup_json_ json_t *page = NULL;

                store_exec_history_call(id, start, max, reverse, &call);
                r = store_call_sync(cli_remote_redis(remote), &call, &reply, NULL, 0);
                if (r >= 0)
                        r = store_exec_history_parse(reply, max, reverse, &page, &next);
                if (r < 0)
                        return r;
                json_array_extend(events, page);
                if (!all || next == 0)
                        break;
                start = next;
        }
        *ret_next = next;
        return 0;
}

int cli_exec_history(CliRemote *remote, const char *arn, json_t **ret) {
        _cleanup_free_ char *id = execution_id("GetExecutionHistory", arn);
        _cleanup_json_ json_t *events = json_array();
        uint64_t next;
        int r;

        if (!id)
                return CLI_EXIT_FAILED;
        r = history_pages(remote, id, 0, STORE_LIST_LIMIT_MAX, /* reverse= */ false, /* all= */ true, events,
                          &next);
        if (r < 0)
                return exec_store_error("GetExecutionHistory", r, arn, remote);
        *ret = TAKE_PTR(events);
        return CLI_EXIT_OK;
}

int verb_get_execution_history(const Verb *verb, int argc, char *argv[]) {
        static const CliOption options[] = {
                OPTION_EXECUTION,
                {"reverse-order", CLI_OPTION_FLAG, offsetof(ExecArgs, reverse)},
                OPTION_MAX_RESULTS,
                OPTION("next-token", next_token),
                {},
        };
        _cleanup_(cli_remote_freep) CliRemote *remote = NULL;
        _cleanup_json_ json_t *events = json_array(), *out = NULL;
        _cleanup_free_ char *id = NULL;
        CliRemoteArgs ra = {};
        ExecArgs a = {};
        uint64_t start = 0, next = 0;
        bool all;
        int r;

        r = exec_open(verb, argc, argv, options, "GetExecutionHistory", /* need_kafka= */ false, &a, &ra,
                      &id, &remote);
        if (r != CLI_CONTINUE)
                return r;
        if (a.next_token) {
                char *end;
                errno = 0;
                unsigned long long v = strtoull(a.next_token, &end, 10);
                if (errno || *end || v == 0 || a.next_token[0] < '1' || a.next_token[0] > '9')
                        return cli_aws_error("GetExecutionHistory", "InvalidToken",
                                             "Invalid Token: the token is not one this command printed");
                start = v;
        }
        /* As the AWS CLI: without --max-results or --next-token every page,
         * so every event; with them one page and its nextToken. */
        all = !a.max_results && !a.next_token;
        r = history_pages(remote, id, start, a.max_results ?: STORE_LIST_LIMIT_MAX, a.reverse, all, events,
                          &next);
        if (r < 0)
                return exec_store_error("GetExecutionHistory", r, a.execution, remote);
        out = json_pack("{s:O}", "events", events);
        if (!all && next > 0) {
                _cleanup_free_ char *token = xasprintf("%" PRIu64, next);
                json_object_set_new(out, "nextToken", json_string(token));
        }
        cli_print_json(out);
        return CLI_EXIT_OK;
}

int verb_list_executions(const Verb *verb, int argc, char *argv[]) {
        static const CliOption options[] = {
                OPTION_STATE_MACHINE,
                {"status-filter", CLI_OPTION_CHOICE, offsetof(ExecArgs, status), .choices = exec_statuses},
                OPTION_MAX_RESULTS,
                OPTION("next-token", next_token),
                OPTION("map-run-arn", map_run),
                {},
        };
        _cleanup_(cli_remote_freep) CliRemote *remote = NULL;
        _cleanup_free_ char *run_id = NULL, *label = NULL;
        _cleanup_json_ json_t *list = NULL, *items = NULL, *out = NULL;
        _cleanup_(store_call_done) StoreCall call = {};
        _cleanup_reply_ redisReply *reply = NULL;
        _cleanup_free_ char *cursor = NULL;
        const char *sm = NULL;
        CliRemoteArgs ra = {};
        ExecArgs a = {};
        json_t *e;
        size_t i;
        int r;

        r = cli_parse_options(verb, argc, argv, options, &ra, &a);
        if (r != CLI_CONTINUE)
                return r;
        if (a.state_machine) {
                sm = strip_prefix(a.state_machine, "imgflow:stateMachine:");
                if (!store_name_is_valid(sm))
                        return cli_aws_error("ListExecutions", "InvalidArn", a.state_machine);
        }
        if (a.map_run) {
                /* A Map Run's child executions: "imgflow:mapRun:<machine>/<label>:<id>" */
                const char *p = strstr(a.map_run, ":mapRun:"), *end = p ? strrchr(a.map_run, ':') : NULL;

                run_id = store_map_run_id_from_arn(a.map_run);
                if (!run_id || !p || end <= p + 8)
                        return cli_aws_error("ListExecutions", "InvalidArn", a.map_run);
                label = xstrndup(p + 8, (size_t) (end - p - 8));
                sm = NULL;
        }
        if (a.next_token) {
                /* The tokens this verb prints: "<score>|<execution id>". */
                const char *bar = strchr(a.next_token, '|');
                if (!bar || bar == a.next_token || !bar[1] ||
                    strspn(a.next_token, "0123456789.-") != (size_t) (bar - a.next_token))
                        return cli_aws_error("ListExecutions", "InvalidToken",
                                             "Invalid Token: the token is not one this command printed");
        }
        if (cli_remote_open(&ra, /* need_kafka= */ false, &remote) < 0)
                return CLI_EXIT_FAILED;
        /* One page (--max-results, default 100) after --next-token; the
         * next one's token when more follow. */
        if (run_id) {
                _cleanup_json_ json_t *d = NULL;

                r = store_map_run_describe_sync(cli_remote_redis(remote), run_id, &d);
                if (r == -ENOENT)
                        return cli_aws_error("ListExecutions", "ResourceNotFound", a.map_run);
                if (r < 0)
                        return cli_store_error("ListExecutions", r, remote);
        }
        store_exec_list_call(&(StoreExecFilter){.state_machine = sm, .status = a.status, .map_run = run_id,
                                                 .refuse_express = true},
                             a.next_token, a.max_results ?: 100, /* scan_max= */ 0, &call);
        r = store_call_sync(cli_remote_redis(remote), &call, &reply, NULL, 0);
        if (r >= 0)
                r = store_exec_list_parse(reply, &list, &cursor);
        if (r == -EPROTOTYPE)
                return cli_aws_error("ListExecutions", "StateMachineTypeNotSupported",
                                     STORE_TYPE_NOT_SUPPORTED);
        if (r < 0)
                return cli_store_error("ListExecutions", r, remote);

        items = json_array();
        json_array_foreach (list, i, e) {
                _cleanup_free_ char *arn =
                        label ? xasprintf("imgflow:execution:%s:%s", label, jstr(e, "name") ?: "")
                              : cli_exec_arn(jstr(e, "executionId") ?: "");
                _cleanup_free_ char *sm_arn = label ? xasprintf("imgflow:stateMachine:%s", label)
                                                    : cli_sm_arn(jstr(e, "stateMachine") ?: "");
                json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o}", "executionArn", arn, "stateMachineArn",
                                      sm_arn, "name", jstr(e, "name") ?: "", "status",
                                      jstr(e, "status") ?: "", "startDate", cli_date(jint(e, "startDate")));

                if (json_object_get(e, "stopDate"))
                        json_object_set_new(o, "stopDate", cli_date(jint(e, "stopDate")));
                if (label) {
                        json_object_set_new(o, "mapRunArn", json_string(a.map_run));
                        /* as imgflow-api: 1 unless the child kept its batch's count */
                        json_object_set_new(o, "itemCount", json_integer(jint(e, "itemCount") ?: 1));
                }
                json_object_set_new(o, "redriveCount", json_integer(jint(e, "redriveCount")));
                if (json_object_get(e, "redriveDate"))
                        json_object_set_new(o, "redriveDate", cli_date(jint(e, "redriveDate")));
                json_array_append_new(items, o);
        }
        out = json_pack("{s:O}", "executions", items);
        if (cursor)
                json_object_set_new(out, "nextToken", json_string(cursor));
        cli_print_json(out);
        return CLI_EXIT_OK;
}

int verb_redrive_execution(const Verb *verb, int argc, char *argv[]) {
        static const CliOption options[] = {
                OPTION_EXECUTION,
                OPTION("client-token", client_token),
                {},
        };
        _cleanup_(cli_remote_freep) CliRemote *remote = NULL;
        _cleanup_json_ json_t *resp = NULL, *out = NULL;
        _cleanup_free_ char *id = NULL, *request_id = NULL, *buf = NULL;
        CliRemoteArgs ra = {};
        ExecArgs a = {};
        size_t len;
        int r;

        r = exec_open(verb, argc, argv, options, "RedriveExecution", /* need_kafka= */ true, &a, &ra, &id,
                      &remote);
        if (r != CLI_CONTINUE)
                return r;

        request_id = cli_request_id_new();
        ProtoRedriveExecution msg = {
                .execution_id = id,
                .client_token = a.client_token,
                .request_id = request_id,
        };
        r = proto_encode_redrive_execution(&msg, cli_remote_limits(remote), &buf, &len);
        if (r < 0)
                return cli_aws_error("RedriveExecution", "ValidationException",
                                     "--client-token has 1 to 64 characters");
        r = cli_remote_request(remote, PROTO_TOPIC_JOBS, id, buf, len, request_id, ra.request_timeout_sec,
                               "RedriveExecution", &resp);
        if (r != CLI_EXIT_OK)
                return r;
        out = json_pack("{s:o}", "redriveDate", cli_date(jint(resp, "redriveDate")));
        cli_print_json(out);
        return CLI_EXIT_OK;
}

int verb_stop_execution(const Verb *verb, int argc, char *argv[]) {
        static const CliOption options[] = {
                OPTION_EXECUTION,
                OPTION("error", error),
                OPTION("cause", cause),
                {},
        };
        _cleanup_(cli_remote_freep) CliRemote *remote = NULL;
        _cleanup_json_ json_t *resp = NULL, *out = NULL;
        _cleanup_free_ char *id = NULL, *request_id = NULL, *buf = NULL;
        CliRemoteArgs ra = {};
        ExecArgs a = {};
        size_t len;
        int r;

        r = exec_open(verb, argc, argv, options, "StopExecution", /* need_kafka= */ true, &a, &ra, &id,
                      &remote);
        if (r != CLI_CONTINUE)
                return r;
        r = cli_check_error_cause("StopExecution", a.error, a.cause);
        if (r != CLI_CONTINUE)
                return r;

        request_id = cli_request_id_new();
        ProtoStopExecution msg = {
                .execution_id = id,
                .error = a.error,
                .cause = a.cause,
                .request_id = request_id,
        };
        r = proto_encode_stop_execution(&msg, cli_remote_limits(remote), &buf, &len);
        if (r < 0)
                return cli_aws_error("StopExecution", "ValidationException",
                                     "the message is over the payload limit");
        r = cli_remote_request(remote, PROTO_TOPIC_JOBS, id, buf, len, request_id, ra.request_timeout_sec,
                               "StopExecution", &resp);
        if (r != CLI_EXIT_OK)
                return r;
        out = json_pack("{s:o}", "stopDate", cli_date(jint(resp, "stopDate")));
        cli_print_json(out);
        return CLI_EXIT_OK;
}
