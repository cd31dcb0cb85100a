/* SPDX-License-Identifier: MIT */
/*
 * Execution operations: StartExecution, StartSyncExecution (an EXPRESS
 * machine's execution, answered when it ends: docs/express.md),
 * DescribeExecution, ListExecutions, GetExecutionHistory, StopExecution,
 * RedriveExecution.
 *
 * Reads are the store's (coordinator/store-exec.c) on the asynchronous
 * connection: one HMGET, or one script for a page of the history or of the
 * executions. Starts and stops go to the coordinators like any producer's
 * (docs/messages.md): a StartExecution to <prefix>jobs keyed by the
 * execution name, a StopExecution or RedriveExecution to <prefix>jobs too,
 * keyed by the execution id, each with a request id whose answer the call
 * waits for
 * (api-answers.c).
 *
 * Dates in the store are epoch milliseconds, or (in history events)
 * RFC 3339 text; the API gives both as epoch seconds, as the SDKs read
 * them. Input and output are JSON text, as DescribeExecution gives them.
 */

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <systemd/sd-id128.h>

#include "api.h"
#include "asl-util.h"
#include "format.h"
#include "json-writer.h"

#define LIST_SCAN_MAX 10000 /* index entries one ListExecutions call looks at */

static const char *const exec_statuses[] = {"RUNNING", "SUCCEEDED",       "FAILED", "TIMED_OUT",
                                            "ABORTED", "PENDING_REDRIVE", NULL};
static const char *const redrive_filters[] = {"REDRIVEN", "NOT_REDRIVEN", NULL};

typedef struct ExecState {
        char *arn; /* as given */
        char *exec_id;
        char *sm_name;
        unsigned sm_version;
        char *name;
        json_t *input;             /* StartExecution */
        const char *status;        /* borrowed from the table */
        const char *redrive;       /* ListExecutions' redriveFilter, borrowed from the table */
        const char *error, *cause; /* borrowed from the input */
        size_t limit;
        char *cursor;
        char *map_run_id; /* ListExecutions with a mapRunArn */
        char *map_run_arn; /* ... and its stored form ("imgflow:mapRun:...") */
        bool reverse, include_data;
} ExecState;

static void exec_state_free(void *p) {
        ExecState *s = p;

        if (!s)
                return;
        free(s->arn);
        free(s->exec_id);
        free(s->sm_name);
        free(s->name);
        json_decref(s->input);
        free(s->cursor);
        free(s->map_run_id);
        free(s->map_run_arn);
        free(s);
}

static ExecState *state_new(ApiCall *c) {
        ExecState *s = xmalloc(sizeof *s);

        *s = (ExecState){};
        api_call_set_state(c, s, exec_state_free);
        return s;
}

/* A Map Run's child: "<machine>/<label>", the part of the run's ARN (stored,
 * "imgflow:mapRun:<machine>/<label>:<id>") before its id. New string, or
 * NULL. */
static char *child_sm_label(const char *map_run_arn) {
        const char *p = map_run_arn ? strstr(map_run_arn, ":mapRun:") : NULL;
        const char *end = p ? strrchr(map_run_arn, ':') : NULL;

        if (!p || end <= p + 8)
                return NULL;
        return xstrndup(p + 8, (size_t) (end - p - 8));
}

/* The ARNs of a Map Run's child as Step Functions names them: execution
 * "...:execution:<machine>/<label>:<name>", state machine
 * "...:stateMachine:<machine>/<label>", Map Run "...:mapRun:...". */
static void child_arns(ApiCall *c, const char *map_run_arn, const char *name, char **ret_exec, char **ret_sm,
                       char **ret_run) {
        _cleanup_free_ char *label = child_sm_label(map_run_arn);
        _cleanup_free_ char *rest = xasprintf("%s:%s", label ? label : "", name ? name : "");
        const char *p = map_run_arn ? strstr(map_run_arn, ":mapRun:") : NULL;

        *ret_exec = aws_arn(api_region(c->m), api_account(c->m), "execution", rest);
        *ret_sm = aws_arn(api_region(c->m), api_account(c->m), "stateMachine", label ? label : "");
        *ret_run = aws_arn(api_region(c->m), api_account(c->m), "mapRun", p ? p + 8 : "");
}

static int64_t jint(const json_t *o, const char *key) {
        return json_integer_value(json_object_get(o, key));
}

static const char *jstr(const json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

/* executionArn of the input into s. */
static int parse_exec_arn(ApiCall *c, ExecState *s, char **ret_resource, AwsError *e) {
        const char *arn;
        int k;

        if ((k = aws_get_string(c->input, "executionArn", true, 1, API_ARN_MAX, &arn, e)) < 0 ||
            (k = api_parse_exec_arn(c, arn, &s->exec_id, e)) < 0)
                return k;
        s->arn = xstrdup(arn);
        *ret_resource = xstrdup(arn);
        return 0;
}

static void fail_no_execution(ApiCall *c, int k) {
        ExecState *s = c->state;

        if (k == -ENOENT)
                return api_fail(c, "ExecutionDoesNotExist", "Execution Does Not Exist: '%s'", s->arn);
        api_fail_store(c, k);
}

/* ---- StartExecution ---- */

static int start_parse(ApiCall *c, char **ret_resource, AwsError *e) {
        ExecState *s = state_new(c);
        const char *arn, *name, *input;
        json_error_t je;
        int k;

        if ((k = aws_get_string(c->input, "stateMachineArn", true, 1, API_ARN_MAX, &arn, e)) < 0 ||
            (k = aws_get_string(c->input, "name", false, 1, API_NAME_MAX, &name, e)) < 0 ||
            (k = aws_get_string(c->input, "input", false, 0, SIZE_MAX, &input, e)) < 0 ||
            (k = api_parse_sm_arn(c, arn, &s->sm_name, &s->sm_version, e)) < 0)
                return k;
        if (name && !store_name_is_valid(name))
                return aws_error_set(e, "InvalidName", "Invalid Name: '%s'", name);
        if (input && strlen(input) > API_DATA_MAX)
                return aws_error_set(
                        e, "InvalidExecutionInput",
                        "Invalid State Machine Execution Input: 'the input is larger than %d bytes'",
                        API_DATA_MAX);
        s->input = json_loads(input ? input : "{}", JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
        if (!s->input)
                return aws_error_set(e, "InvalidExecutionInput",
                                     "Invalid State Machine Execution Input: '%s'", je.text);
        if (name)
                s->name = xstrdup(name);
        else {
                char uuid[FORMAT_UUID_MAX];
                sd_id128_t id;

                if (sd_id128_randomize(&id) < 0)
                        abort();
                s->name = xstrdup(format_uuid(id.bytes, uuid));
        }
        s->arn = xstrdup(arn);
        *ret_resource = api_sm_arn(c->m, s->sm_name);
        return 0;
}

static void start_reply(ApiCall *c, int64_t start_ms, const json_t *answer) {
        ExecState *s = c->state;
        _cleanup_free_ char *arn = api_exec_arn_of_answer(c->m, s->exec_id, answer);

        api_reply(c, json_pack("{s:s, s:o}", "executionArn", arn, "startDate", aws_timestamp(start_ms)));
}

/* The execution existed already (the same name and input, still running):
 * Step Functions answers with its own start. */
static void start_existing(ApiCall *c, redisReply *reply) {
        _cleanup_json_ json_t *d = NULL;
        ExecState *s = c->state;
        int k;

        k = store_exec_describe_parse(reply, s->exec_id, &d);
        if (k < 0)
                return api_fail_store(c, k);
        start_reply(c, jint(d, "startDate"), NULL);
}

static void start_answered(ApiCall *c, json_t *answer) {
        ExecState *s = c->state;
        const char *error = jstr(answer, "error");
        _cleanup_free_ char *sm_arn = NULL, *exec_arn = NULL;

        if (!json_is_true(json_object_get(answer, "ok"))) {
                exec_arn = api_exec_arn(c->m, s->exec_id);
                sm_arn = s->sm_version ? api_sm_version_arn(c->m, s->sm_name, s->sm_version)
                                       : api_sm_arn(c->m, s->sm_name);
                if (streq_ptr(error, "ExecutionAlreadyExists"))
                        return api_fail(c, "ExecutionAlreadyExists", "Execution Already Exists: '%s'",
                                        exec_arn);
                if (streq_ptr(error, "StateMachineDoesNotExist"))
                        return api_fail(c, "StateMachineDoesNotExist", "State Machine Does Not Exist: '%s'",
                                        sm_arn);
                if (streq_ptr(error, "InvalidArn") || streq_ptr(error, "InvalidName"))
                        return api_fail(c, error, "%s", strempty(jstr(answer, "cause")));
                /* The engine refused the input (States.Runtime, ...). */
                return api_fail(c, "InvalidExecutionInput",
                                "Invalid State Machine Execution Input: '%s: %s'", strempty(error),
                                strempty(jstr(answer, "cause")));
        }
        if (jint(answer, "startDate") > 0)
                return start_reply(c, jint(answer, "startDate"), answer);
        {
                _cleanup_(store_argv_done) StoreArgv a = {};
                store_exec_describe_argv(s->exec_id, &a);
                (void) api_redis_command(c, &a, start_existing);
        }
}

/* ---- StartSyncExecution ---- */

/* An EXPRESS execution's 5 minutes and some slack. */
#define SYNC_TIMEOUT_USEC ((uint64_t) (PROTO_EXPRESS_DURATION_MAX_SEC + 30) * 1000 * 1000)

static void sync_answered(ApiCall *c, json_t *answer) {
        ExecState *s = c->state;
        const char *error = jstr(answer, "error");
        _cleanup_free_ char *sm_arn = NULL, *exec_arn = NULL, *input = NULL;
        json_t *out;

        sm_arn = s->sm_version ? api_sm_version_arn(c->m, s->sm_name, s->sm_version) : api_sm_arn(c->m, s->sm_name);
        if (!json_is_true(json_object_get(answer, "ok"))) {
                if (streq_ptr(error, "StateMachineTypeNotSupported"))
                        return api_fail(c, "StateMachineTypeNotSupported", "%s", strempty(jstr(answer, "cause")));
                if (streq_ptr(error, "ExecutionAlreadyExists")) {
                        exec_arn = api_exec_arn(c->m, s->exec_id);
                        return api_fail(c, "ExecutionAlreadyExists", "Execution Already Exists: '%s'", exec_arn);
                }
                if (streq_ptr(error, "StateMachineDoesNotExist"))
                        return api_fail(c, "StateMachineDoesNotExist", "State Machine Does Not Exist: '%s'",
                                        sm_arn);
                if (streq_ptr(error, "InvalidArn") || streq_ptr(error, "InvalidName"))
                        return api_fail(c, error, "%s", strempty(jstr(answer, "cause")));
                return api_fail(c, "InvalidExecutionInput", "Invalid State Machine Execution Input: '%s: %s'",
                                strempty(error), strempty(jstr(answer, "cause")));
        }
        exec_arn = api_exec_arn_of_answer(c->m, s->exec_id, answer);
        input = json_writer_dumps(s->input);
        out = json_pack("{s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:{s:b}, s:{s:I, s:I}}", "executionArn", exec_arn,
                        "stateMachineArn", sm_arn, "name", s->name, "startDate",
                        aws_timestamp(jint(answer, "startDate")), "stopDate", aws_timestamp(jint(answer, "stopDate")),
                        "status", jstr(answer, "status") ?: "FAILED", "input", input ?: "{}", "inputDetails",
                        "included", true, "billingDetails", "billedMemoryUsedInMB",
                        (json_int_t) jint(answer, "billedMemoryUsedInMB"), "billedDurationInMilliseconds",
                        (json_int_t) jint(answer, "billedDurationInMilliseconds"));
        if (jstr(answer, "output")) {
                json_object_set(out, "output", json_object_get(answer, "output"));
                json_object_set_new(out, "outputDetails", json_pack("{s:b}", "included", true));
        }
        if (jstr(answer, "error"))
                json_object_set(out, "error", json_object_get(answer, "error"));
        if (jstr(answer, "cause"))
                json_object_set(out, "cause", json_object_get(answer, "cause"));
        api_reply(c, out);
}

/* Both starts: the message to the coordinators, then their answer (a sync
 * start's comes when the EXPRESS execution has ended). */
static void start_send(ApiCall *c, bool sync) {
        ExecState *s = c->state;
        _cleanup_free_ char *ref = NULL, *request_id = api_random_hex(), *buf = NULL;
        size_t len;
        int k;

        s->exec_id = store_exec_id(s->sm_name, s->name);
        ref = s->sm_version ? xasprintf("%s:%u", s->sm_name, s->sm_version) : xstrdup(s->sm_name);
        ProtoStartExecution msg = {
                .state_machine = ref,
                .name = s->name,
                .input = s->input,
                .request_id = request_id,
        };
        k = sync ? proto_encode_start_sync_execution(&msg, api_limits(c->m), &buf, &len)
                 : proto_encode_start_execution(&msg, api_limits(c->m), &buf, &len);
        if (k == -E2BIG)
                return api_fail(
                        c, "InvalidExecutionInput",
                        "Invalid State Machine Execution Input: 'larger than the payload limit or nested "
                        "deeper than %zu levels'",
                        api_limits(c->m)->max_depth ? api_limits(c->m)->max_depth : (size_t) 64);
        if (k < 0)
                return api_fail(c, "InvalidExecutionInput", "Invalid State Machine Execution Input: '%s'",
                                strerror(-k));
        if (sync)
                api_coordinator_request_timeout(c, PROTO_TOPIC_JOBS, s->name, buf, len, request_id,
                                                SYNC_TIMEOUT_USEC, sync_answered);
        else
                api_coordinator_request(c, PROTO_TOPIC_JOBS, s->name, buf, len, request_id, start_answered);
}

static void start_run(ApiCall *c) {
        start_send(c, false);
}

static void sync_run(ApiCall *c) {
        start_send(c, true);
}

/* ---- DescribeExecution ---- */

static int describe_parse(ApiCall *c, char **ret_resource, AwsError *e) {
        return parse_exec_arn(c, state_new(c), ret_resource, e);
}

static void describe_done(ApiCall *c, redisReply *reply) {
        ExecState *s = c->state;
        _cleanup_json_ json_t *d = NULL;
        _cleanup_free_ char *sm_arn = NULL;
        json_t *out, *v;
        int k;

        k = store_exec_describe_parse(reply, s->exec_id, &d);
        if (k < 0)
                return fail_no_execution(c, k);
        sm_arn = api_sm_arn(c->m, jstr(d, "stateMachine") ?: "");
        out = json_pack("{s:s, s:s, s:s, s:s, s:o}", "executionArn", s->arn, "stateMachineArn", sm_arn,
                        "name", jstr(d, "name") ?: "", "status", jstr(d, "status") ?: "", "startDate",
                        aws_timestamp(jint(d, "startDate")));
        if (jstr(d, "mapRunArn")) {
                /* a Map Run's child: its own ARNs and the run's */
                _cleanup_free_ char *earn = NULL, *smarn = NULL, *rarn = NULL;

                child_arns(c, jstr(d, "mapRunArn"), jstr(d, "name"), &earn, &smarn, &rarn);
                json_object_set_new(out, "executionArn", json_string(earn));
                json_object_set_new(out, "stateMachineArn", json_string(smarn));
                json_object_set_new(out, "mapRunArn", json_string(rarn));
        }
        if (json_object_get(d, "stopDate"))
                json_object_set_new(out, "stopDate", aws_timestamp(jint(d, "stopDate")));
        if ((v = json_object_get(d, "input"))) {
                json_object_set_new(out, "input", api_json_text(v));
                json_object_set_new(out, "inputDetails", json_pack("{s:b}", "included", 1));
        }
        if ((v = json_object_get(d, "output"))) {
                json_object_set_new(out, "output", api_json_text(v));
                json_object_set_new(out, "outputDetails", json_pack("{s:b}", "included", 1));
        }
        if (jstr(d, "error"))
                json_object_set_new(out, "error", json_string(jstr(d, "error")));
        if (jstr(d, "cause"))
                json_object_set_new(out, "cause", json_string(jstr(d, "cause")));
        if (jint(d, "stateMachineVersion") > 0) {
                _cleanup_free_ char *varn = api_sm_version_arn(c->m, jstr(d, "stateMachine") ?: "",
                                                               (unsigned) jint(d, "stateMachineVersion"));
                json_object_set_new(out, "stateMachineVersionArn", json_string(varn));
        }
        json_object_set_new(out, "redriveCount", json_integer(jint(d, "redriveCount")));
        if (json_object_get(d, "redriveDate"))
                json_object_set_new(out, "redriveDate", aws_timestamp(jint(d, "redriveDate")));
        if (jstr(d, "redriveStatus"))
                json_object_set_new(out, "redriveStatus", json_string(jstr(d, "redriveStatus")));
        if (jstr(d, "redriveStatusReason"))
                json_object_set_new(out, "redriveStatusReason", json_string(jstr(d, "redriveStatusReason")));
        api_reply(c, out);
}

static void describe_run(ApiCall *c) {
        ExecState *s = c->state;
        _cleanup_(store_argv_done) StoreArgv a = {};

        store_exec_describe_argv(s->exec_id, &a);
        (void) api_redis_command(c, &a, describe_done);
}

/* ---- ListExecutions ---- */

static int list_parse(ApiCall *c, char **ret_resource, AwsError *e) {
        ExecState *s = state_new(c);
        const char *arn, *map_run;
        int k;

        if ((k = aws_get_string(c->input, "stateMachineArn", false, 1, API_ARN_MAX, &arn, e)) < 0 ||
            (k = aws_get_string(c->input, "mapRunArn", false, 1, 2000, &map_run, e)) < 0 ||
            (k = aws_get_enum(c->input, "statusFilter", exec_statuses, &s->status, e)) < 0 ||
            (k = aws_get_enum(c->input, "redriveFilter", redrive_filters, &s->redrive, e)) < 0 ||
            (k = api_get_page(c, "ex", &s->limit, &s->cursor, e)) < 0)
                return k;
        if (map_run) {
                /* A Map Run's children are not executions of their own here
                 * (docs/api.md, "Map Runs"): a run that exists has none to list. */
                _cleanup_free_ char *rest = NULL, *full = NULL;

                if ((k = aws_arn_parse(map_run, api_region(c->m), api_account(c->m), "mapRun", &rest, e)) <
                    0)
                        return k;
                full = xasprintf("imgflow:mapRun:%s", rest);
                s->map_run_id = store_map_run_id_from_arn(full);
                s->map_run_arn = xstrdup(full);
                if (!s->map_run_id)
                        return aws_error_set(e, "InvalidArn", "Invalid Arn: '%.2048s'", map_run);
                s->arn = xstrdup(map_run);
                *ret_resource = xstrdup(map_run);
                return 0;
        }
        if (!arn)
                return aws_error_set(e, "ValidationException",
                                     "Must provide a StateMachine ARN or MapRun ARN");
        if ((k = api_parse_sm_arn(c, arn, &s->sm_name, &s->sm_version, e)) < 0)
                return k;
        s->arn = xstrdup(arn);
        *ret_resource = xstrdup(arn);
        return 0;
}

static void list_done(ApiCall *c, redisReply *reply) {
        ExecState *s = c->state;
        _cleanup_json_ json_t *items = NULL;
        _cleanup_free_ char *cursor = NULL;
        json_t *list, *out, *it;
        size_t i;
        int k;

        k = store_exec_list_parse(reply, &items, &cursor);
        if (k == -ENOENT)
                return api_fail(c, "StateMachineDoesNotExist", "State Machine Does Not Exist: '%s'", s->arn);
        if (k == -EPROTOTYPE)
                /* Step Functions lists no Express executions (docs/express.md). */
                return api_fail(c, "StateMachineTypeNotSupported", STORE_TYPE_NOT_SUPPORTED);
        if (k < 0)
                return api_fail_store(c, k);
        list = json_array();
        json_array_foreach (items, i, it) {
                _cleanup_free_ char *arn = NULL, *sm_arn = NULL, *run_arn = NULL;
                json_t *o;

                if (s->map_run_arn)
                        child_arns(c, s->map_run_arn, jstr(it, "name"), &arn, &sm_arn, &run_arn);
                else {
                        arn = api_exec_arn(c->m, jstr(it, "executionId"));
                        sm_arn = api_sm_arn(c->m, jstr(it, "stateMachine"));
                }
                o = json_pack("{s:s, s:s, s:s, s:s, s:o}", "executionArn", arn, "stateMachineArn", sm_arn,
                              "name", jstr(it, "name"), "status", jstr(it, "status"), "startDate",
                              aws_timestamp(jint(it, "startDate")));
                if (run_arn) {
                        /* the items the child processes: 1, or its batch's
                         * (a child started before imgflow kept it: 1) */
                        json_object_set_new(o, "mapRunArn", json_string(run_arn));
                        json_object_set_new(o, "itemCount", json_integer(jint(it, "itemCount") ?: 1));
                }

                if (json_object_get(it, "stopDate"))
                        json_object_set_new(o, "stopDate", aws_timestamp(jint(it, "stopDate")));
                if (jint(it, "stateMachineVersion") > 0 && !s->map_run_arn) {
                        _cleanup_free_ char *varn = api_sm_version_arn(
                                c->m, jstr(it, "stateMachine"), (unsigned) jint(it, "stateMachineVersion"));
                        json_object_set_new(o, "stateMachineVersionArn", json_string(varn));
                }
                json_object_set_new(o, "redriveCount", json_integer(jint(it, "redriveCount")));
                if (json_object_get(it, "redriveDate"))
                        json_object_set_new(o, "redriveDate", aws_timestamp(jint(it, "redriveDate")));
                json_array_append_new(list, o);
        }
        out = json_pack("{s:o}", "executions", list);
        if (cursor)
                api_set_next_token(out, "ex", cursor);
        api_reply(c, out);
}

static void list_map_run_done(ApiCall *c, redisReply *reply) {
        ExecState *s = c->state;
        _cleanup_json_ json_t *d = NULL;
        int k;

        _cleanup_(store_call_done) StoreCall call = {};
        StoreExecFilter f = {.map_run = s->map_run_id, .status = s->status};

        k = store_map_run_describe_parse(reply, &d);
        if (k == -ENOENT)
                return api_fail(c, "ResourceNotFound", "Map Run Does Not Exist: '%s'", s->arn);
        if (k < 0)
                return api_fail_store(c, k);
        /* its child executions (an EXPRESS Map Run's children run in the parent: none) */
        store_exec_list_call(&f, s->cursor, s->limit, LIST_SCAN_MAX, &call);
        (void) api_redis_eval(c, &call, list_done);
}

static void list_run(ApiCall *c) {
        ExecState *s = c->state;
        _cleanup_(store_call_done) StoreCall call = {};
        StoreExecFilter f = {
                .state_machine = s->sm_name,
                .version = s->sm_version,
                .status = s->status,
                .machine_must_exist = true,
                .redrive = s->redrive,
                .refuse_express = true,
        };

        if (s->map_run_id) {
                store_map_run_describe_call(s->map_run_id, &call);
                (void) api_redis_eval(c, &call, list_map_run_done);
                return;
        }
        store_exec_list_call(&f, s->cursor, s->limit, LIST_SCAN_MAX, &call);
        (void) api_redis_eval(c, &call, list_done);
}

/* ---- GetExecutionHistory ---- */

static int history_parse(ApiCall *c, char **ret_resource, AwsError *e) {
        ExecState *s = state_new(c);
        int k;

        if ((k = parse_exec_arn(c, s, ret_resource, e)) < 0 ||
            (k = aws_get_bool(c->input, "reverseOrder", false, &s->reverse, e)) < 0 ||
            (k = aws_get_bool(c->input, "includeExecutionData", true, &s->include_data, e)) < 0 ||
            (k = api_get_page(c, "hist", &s->limit, &s->cursor, e)) < 0)
                return k;
        if (s->cursor && (strspn(s->cursor, "0123456789") != strlen(s->cursor) || strlen(s->cursor) > 18))
                return aws_error_set(e, "InvalidToken", "Invalid Token: 'not a history position'");
        return 0;
}

/* A stored event in the shape of the API: the timestamp in seconds, and
 * without the data when the caller asked so. */
static void history_event(json_t *ev, bool include_data) {
        const char *ts = jstr(ev, "timestamp"), *key;
        json_t *details;
        int64_t ms;

        if (ts && asl_parse_timestamp(ts, &ms) >= 0)
                json_object_set_new(ev, "timestamp", aws_timestamp(ms));
        if (include_data)
                return;
        json_object_foreach (ev, key, details)
                if (json_is_object(details)) {
                        json_object_del(details, "input");
                        json_object_del(details, "output");
                }
}

static void history_done(ApiCall *c, redisReply *reply) {
        ExecState *s = c->state;
        json_t *events = NULL, *ev, *out;
        uint64_t next;
        size_t i;
        int k;

        k = store_exec_history_parse(reply, s->limit, s->reverse, &events, &next);
        if (k < 0)
                return fail_no_execution(c, k);
        json_array_foreach (events, i, ev)
                history_event(ev, s->include_data);
        out = json_pack("{s:o}", "events", events);
        if (next > 0) {
                char n[32];
                snprintf(n, sizeof n, "%" PRIu64, next);
                api_set_next_token(out, "hist", n);
        }
        api_reply(c, out);
}

static void history_run(ApiCall *c) {
        ExecState *s = c->state;
        _cleanup_(store_call_done) StoreCall call = {};

        store_exec_history_call(s->exec_id, s->cursor ? strtoull(s->cursor, NULL, 10) : 0, s->limit,
                                s->reverse, &call);
        (void) api_redis_eval(c, &call, history_done);
}

/* ---- StopExecution ---- */

static int stop_parse(ApiCall *c, char **ret_resource, AwsError *e) {
        ExecState *s = state_new(c);
        int k;

        if ((k = parse_exec_arn(c, s, ret_resource, e)) < 0 ||
            (k = aws_get_string(c->input, "error", false, 0, API_ERROR_MAX, &s->error, e)) < 0 ||
            (k = aws_get_string(c->input, "cause", false, 0, API_CAUSE_MAX, &s->cause, e)) < 0)
                return k;
        return 0;
}

/* The execution had ended: Step Functions answers with its stop date. */
static void stop_finished(ApiCall *c, redisReply *reply) {
        _cleanup_json_ json_t *d = NULL;
        ExecState *s = c->state;
        int k;

        k = store_exec_describe_parse(reply, s->exec_id, &d);
        if (k < 0)
                return fail_no_execution(c, k);
        api_reply(c, json_pack("{s:o}", "stopDate", aws_timestamp(jint(d, "stopDate"))));
}

static void stop_answered(ApiCall *c, json_t *answer) {
        const char *error = jstr(answer, "error");

        if (json_is_true(json_object_get(answer, "ok")))
                return api_reply(c, json_pack("{s:o}", "stopDate", aws_timestamp(jint(answer, "stopDate"))));
        if (streq_ptr(error, "ExecutionDoesNotExist"))
                return fail_no_execution(c, -ENOENT);
        if (streq_ptr(error, "InvalidArn"))
                /* An EXPRESS machine's execution (docs/express.md). */
                return api_fail(c, "InvalidArn", "%s", strempty(jstr(answer, "cause")));
        if (streq_ptr(error, "ExecutionNotRunning")) {
                ExecState *s = c->state;
                _cleanup_(store_argv_done) StoreArgv a = {};

                store_exec_describe_argv(s->exec_id, &a);
                (void) api_redis_command(c, &a, stop_finished);
                return;
        }
        api_fail(c, "InternalFailure", "%s: %s", strempty(error), strempty(jstr(answer, "cause")));
}

static void stop_run(ApiCall *c) {
        ExecState *s = c->state;
        _cleanup_free_ char *request_id = api_random_hex(), *buf = NULL;
        size_t len;
        int k;

        ProtoStopExecution msg = {
                .execution_id = s->exec_id,
                .error = s->error && *s->error ? s->error : NULL,
                .cause = s->cause,
                .request_id = request_id,
        };
        k = proto_encode_stop_execution(&msg, api_limits(c->m), &buf, &len);
        if (k < 0)
                return api_fail(c, "ValidationException", "The error or the cause is too long");
        api_coordinator_request(c, PROTO_TOPIC_JOBS, s->exec_id, buf, len, request_id, stop_answered);
}

/* ---- RedriveExecution ---- */

static int redrive_parse(ApiCall *c, char **ret_resource, AwsError *e) {
        ExecState *s = state_new(c);
        int k;

        if ((k = parse_exec_arn(c, s, ret_resource, e)) < 0 ||
            (k = aws_get_string(c->input, "clientToken", false, 1, 64, &s->cause, e)) < 0)
                return k;
        return 0;
}

static void redrive_answered(ApiCall *c, json_t *answer) {
        const char *error = jstr(answer, "error");

        if (json_is_true(json_object_get(answer, "ok")))
                return api_reply(
                        c, json_pack("{s:o}", "redriveDate", aws_timestamp(jint(answer, "redriveDate"))));
        if (streq_ptr(error, "ExecutionDoesNotExist"))
                return fail_no_execution(c, -ENOENT);
        if (streq_ptr(error, "ExecutionNotRedrivable"))
                return api_fail(c, "ExecutionNotRedrivable", "%s", strempty(jstr(answer, "cause")));
        api_fail(c, "InternalFailure", "%s: %s", strempty(error), strempty(jstr(answer, "cause")));
}

static void redrive_run(ApiCall *c) {
        ExecState *s = c->state;
        _cleanup_free_ char *request_id = api_random_hex(), *buf = NULL;
        size_t len;
        int k;

        ProtoRedriveExecution msg = {
                .execution_id = s->exec_id,
                .client_token = s->cause, /* the clientToken (redrive_parse) */
                .request_id = request_id,
        };
        k = proto_encode_redrive_execution(&msg, api_limits(c->m), &buf, &len);
        if (k < 0)
                return api_fail(c, "ValidationException", "The clientToken is too long");
        api_coordinator_request(c, PROTO_TOPIC_JOBS, s->exec_id, buf, len, request_id, redrive_answered);
}

const ApiOp api_op_redrive_execution = {"RedriveExecution", redrive_parse, redrive_run};
const ApiOp api_op_start_execution = {"StartExecution", start_parse, start_run};
const ApiOp api_op_start_sync_execution = {"StartSyncExecution", start_parse, sync_run};
const ApiOp api_op_describe_execution = {"DescribeExecution", describe_parse, describe_run};
const ApiOp api_op_list_executions = {"ListExecutions", list_parse, list_run};
const ApiOp api_op_get_execution_history = {"GetExecutionHistory", history_parse, history_run};
const ApiOp api_op_stop_execution = {"StopExecution", stop_parse, stop_run};
