/* SPDX-License-Identifier: MIT */
/*
 * Map Run operations: DescribeMapRun, ListMapRuns, UpdateMapRun.
 *
 * A distributed Map's record is the store's (coordinator/store-maprun.c),
 * written in the execution's own commits; reads are one script each. A
 * Map Run's ARN, "arn:aws:states:<region>:<account>:mapRun:<machine>/<label>:<run id>",
 * does not name its execution: the store keeps the run id's execution.
 * UpdateMapRun goes to the coordinator that owns the execution, as
 * StopExecution does (an UpdateMapRun message to <prefix>jobs keyed by the
 * execution id, with a request id whose answer the call waits for), and
 * the engine applies it to the running Map at once.
 */

#include <errno.h>
#include <string.h>

#include "api-internal.h"
#include "api.h"

typedef struct MapRunState {
        char *arn;     /* as given */
        char *run_id;  /* DescribeMapRun, UpdateMapRun */
        char *exec_id; /* ListMapRuns; UpdateMapRun once read */
        size_t limit, offset;
        json_t *max_concurrency, *tolerated_count, *tolerated_pct; /* UpdateMapRun, borrowed */
} MapRunState;

static void map_run_state_free(void *p) {
        MapRunState *s = p;

        if (!s)
                return;
        free(s->arn);
        free(s->run_id);
        free(s->exec_id);
        free(s);
}

static MapRunState *state_new(ApiCall *c) {
        MapRunState *s = xmalloc(sizeof *s);

        *s = (MapRunState){};
        api_call_set_state(c, s, map_run_state_free);
        return s;
}

static const char *jstr(const json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

/* "arn:aws:states:...:<type>:<rest>" of the store's "imgflow:<type>:<rest>" (new). */
static char *api_arn_of(ApiCall *c, const char *type, const char *stored) {
        _cleanup_free_ char *prefix = xasprintf("imgflow:%s:", type);

        if (stored && strncmp(stored, prefix, strlen(prefix)) == 0)
                stored += strlen(prefix);
        return aws_arn(api_region(c->m), api_account(c->m), type, stored ? stored : "");
}

/* mapRunArn of the input into s: InvalidArn unless it is one of this
 * region and account with a run id. */
static int parse_map_run_arn(ApiCall *c, MapRunState *s, char **ret_resource, AwsError *e) {
        _cleanup_free_ char *rest = NULL, *full = NULL;
        const char *arn;
        int k;

        if ((k = aws_get_string(c->input, "mapRunArn", true, 1, 2000, &arn, e)) < 0 ||
            (k = aws_arn_parse(arn, api_region(c->m), api_account(c->m), "mapRun", &rest, e)) < 0)
                return k;
        full = xasprintf("imgflow:mapRun:%s", rest);
        s->run_id = store_map_run_id_from_arn(full);
        if (!s->run_id)
                return aws_error_set(e, "InvalidArn", "Invalid Arn: '%.2048s'", arn);
        s->arn = xstrdup(arn);
        *ret_resource = xstrdup(arn);
        return 0;
}

/* The stored record (as store_map_run_describe_parse() gives it) is the
 * run the caller named: the same machine and label too. */
static bool record_matches(ApiCall *c, MapRunState *s, json_t *d) {
        _cleanup_free_ char *arn = api_arn_of(c, "mapRun", jstr(d, "mapRunArn"));

        return streq(arn, s->arn);
}

static void fail_no_map_run(ApiCall *c, int k) {
        MapRunState *s = c->state;

        if (k == -ENOENT)
                return api_fail(c, "ResourceNotFound", "Map Run Does Not Exist: '%s'", s->arn);
        api_fail_store(c, k);
}

/* The record of a read (store_map_run_describe_call()) in *ret_d: true,
 * or false after failing the call (unknown, or not the run the caller
 * named). */
static bool record_read(ApiCall *c, redisReply *reply, json_t **ret_d) {
        MapRunState *s = c->state;
        int k;

        k = store_map_run_describe_parse(reply, ret_d);
        if (k == 0 && !record_matches(c, s, *ret_d)) {
                json_decref(TAKE_PTR(*ret_d));
                k = -ENOENT;
        }
        if (k < 0) {
                fail_no_map_run(c, k);
                return false;
        }
        return true;
}

/* A record in the API's shape (new): ARNs of this region and account,
 * dates in seconds. */
static json_t *map_run_output(ApiCall *c, json_t *d) {
        _cleanup_free_ char *arn = api_arn_of(c, "mapRun", jstr(d, "mapRunArn"));
        _cleanup_free_ char *exec = api_arn_of(c, "execution", jstr(d, "executionArn"));
        json_t *o = json_deep_copy(d);

        json_object_del(o, "executionId");
        json_object_del(o, "stateName");
        json_object_set_new(o, "mapRunArn", json_string(arn));
        json_object_set_new(o, "executionArn", json_string(exec));
        json_object_set_new(o, "startDate",
                            aws_timestamp(json_integer_value(json_object_get(d, "startDate"))));
        if (json_object_get(d, "stopDate"))
                json_object_set_new(o, "stopDate",
                                    aws_timestamp(json_integer_value(json_object_get(d, "stopDate"))));
        if (json_object_get(d, "redriveDate"))
                json_object_set_new(o, "redriveDate",
                                    aws_timestamp(json_integer_value(json_object_get(d, "redriveDate"))));
        return o;
}

/* ---- DescribeMapRun ---- */

static int describe_parse(ApiCall *c, char **ret_resource, AwsError *e) {
        return parse_map_run_arn(c, state_new(c), ret_resource, e);
}

static void describe_done(ApiCall *c, redisReply *reply) {
        _cleanup_json_ json_t *d = NULL;

        if (!record_read(c, reply, &d))
                return;
        api_reply(c, map_run_output(c, d));
}

static void describe_run(ApiCall *c) {
        MapRunState *s = c->state;
        _cleanup_(store_call_done) StoreCall call = {};

        store_map_run_describe_call(s->run_id, &call);
        (void) api_redis_eval(c, &call, describe_done);
}

/* ---- ListMapRuns ---- */

static int list_parse(ApiCall *c, char **ret_resource, AwsError *e) {
        MapRunState *s = state_new(c);
        _cleanup_free_ char *cursor = NULL;
        const char *arn;
        int k;

        if ((k = aws_get_string(c->input, "executionArn", true, 1, API_ARN_MAX, &arn, e)) < 0 ||
            (k = api_parse_exec_arn(c, arn, &s->exec_id, e)) < 0 ||
            (k = api_get_page(c, "mr", &s->limit, &cursor, e)) < 0)
                return k;
        if (cursor) {
                if (strspn(cursor, "0123456789") != strlen(cursor) || strlen(cursor) > 9)
                        return aws_error_set(e, "InvalidToken", "Invalid Token: 'not a Map Run position'");
                s->offset = strtoul(cursor, NULL, 10);
        }
        s->arn = xstrdup(arn);
        *ret_resource = xstrdup(arn);
        return 0;
}

static void list_done(ApiCall *c, redisReply *reply) {
        MapRunState *s = c->state;
        _cleanup_json_ json_t *items = NULL;
        json_t *list, *out, *it;
        bool more = false;
        size_t i;
        int k;

        k = store_map_run_list_parse(reply, &items, &more);
        if (k == -ENOENT)
                return api_fail(c, "ExecutionDoesNotExist", "Execution Does Not Exist: '%s'", s->arn);
        if (k < 0)
                return api_fail_store(c, k);
        list = json_array();
        json_array_foreach (items, i, it) {
                _cleanup_free_ char *arn = api_arn_of(c, "mapRun", jstr(it, "mapRunArn"));
                _cleanup_free_ char *sm = store_map_run_state_machine_arn(jstr(it, "mapRunArn"));
                _cleanup_free_ char *sm_arn = api_arn_of(c, "stateMachine", sm);
                json_t *o = json_pack("{s:s, s:s, s:s, s:o}", "executionArn", s->arn, "mapRunArn", arn,
                                      "stateMachineArn", sm_arn, "startDate",
                                      aws_timestamp(json_integer_value(json_object_get(it, "startDate"))));

                if (json_object_get(it, "stopDate"))
                        json_object_set_new(
                                o, "stopDate",
                                aws_timestamp(json_integer_value(json_object_get(it, "stopDate"))));
                json_array_append_new(list, o);
        }
        out = json_pack("{s:o}", "mapRuns", list);
        if (more) {
                _cleanup_free_ char *cursor = xasprintf("%zu", s->offset + s->limit);
                api_set_next_token(out, "mr", cursor);
        }
        api_reply(c, out);
}

static void list_run(ApiCall *c) {
        MapRunState *s = c->state;
        _cleanup_(store_call_done) StoreCall call = {};

        store_map_run_list_call(s->exec_id, s->offset, s->limit, &call);
        (void) api_redis_eval(c, &call, list_done);
}

/* ---- UpdateMapRun ---- */

static int update_parse(ApiCall *c, char **ret_resource, AwsError *e) {
        MapRunState *s = state_new(c);
        json_t *pct;
        int64_t v;
        int k;

        if ((k = parse_map_run_arn(c, s, ret_resource, e)) < 0 ||
            (k = aws_get_int(c->input, "maxConcurrency", 0, INT32_MAX, -1, &v, e)) < 0)
                return k;
        s->max_concurrency = v >= 0 ? json_object_get(c->input, "maxConcurrency") : NULL;
        if ((k = aws_get_int(c->input, "toleratedFailureCount", 0, INT64_MAX, -1, &v, e)) < 0)
                return k;
        s->tolerated_count = v >= 0 ? json_object_get(c->input, "toleratedFailureCount") : NULL;
        pct = json_object_get(c->input, "toleratedFailurePercentage");
        if (pct && !json_is_null(pct)) {
                if (!json_is_number(pct))
                        return aws_error_set(e, "SerializationException",
                                             "Member 'toleratedFailurePercentage' must be a number");
                if (json_number_value(pct) < 0 || json_number_value(pct) > 100)
                        return aws_error_set(e, "ValidationException",
                                             "1 validation error detected: Value '%g' at "
                                             "'toleratedFailurePercentage' failed to satisfy constraint: "
                                             "Member must have value %s",
                                             json_number_value(pct),
                                             json_number_value(pct) < 0 ? "greater than or equal to 0"
                                                                        : "less than or equal to 100");
                s->tolerated_pct = pct;
        }
        return 0;
}

static void update_answered(ApiCall *c, json_t *answer) {
        MapRunState *s = c->state;
        const char *error = jstr(answer, "error");

        if (json_is_true(json_object_get(answer, "ok")))
                return api_reply(c, json_object());
        if (streq_ptr(error, "ResourceNotFound") || streq_ptr(error, "ExecutionDoesNotExist"))
                return api_fail(c, "ResourceNotFound", "Map Run Does Not Exist: '%s'", s->arn);
        api_fail(c, "InternalFailure", "%s: %s", strempty(error), strempty(jstr(answer, "cause")));
}

static void update_read(ApiCall *c, redisReply *reply) {
        MapRunState *s = c->state;
        _cleanup_json_ json_t *d = NULL;
        _cleanup_free_ char *request_id = api_random_hex(), *buf = NULL;
        size_t len;
        int k;

        if (!record_read(c, reply, &d))
                return;
        if (!streq_ptr(jstr(d, "status"), "RUNNING"))
                return api_fail(c, "ValidationException", "Map Run is not running: '%s' is %s", s->arn,
                                strempty(jstr(d, "status")));
        s->exec_id = xstrdup(jstr(d, "executionId"));
        ProtoUpdateMapRun msg = {
                .execution_id = s->exec_id,
                .map_run_arn = jstr(d, "mapRunArn"),
                .max_concurrency = s->max_concurrency,
                .tolerated_failure_count = s->tolerated_count,
                .tolerated_failure_percentage = s->tolerated_pct,
                .request_id = request_id,
        };
        k = proto_encode_update_map_run(&msg, api_limits(c->m), &buf, &len);
        if (k < 0)
                return api_fail(c, "ValidationException", "The Map Run's update cannot be sent");
        api_coordinator_request(c, PROTO_TOPIC_JOBS, s->exec_id, buf, len, request_id, update_answered);
}

static void update_run(ApiCall *c) {
        MapRunState *s = c->state;
        _cleanup_(store_call_done) StoreCall call = {};

        store_map_run_describe_call(s->run_id, &call);
        (void) api_redis_eval(c, &call, update_read);
}

/* ---- the console's failed items (named DescribeMapRun for the policy) ---- */

#define FAILURES_MAX 1000

static void failures_done(ApiCall *c, redisReply *reply) {
        _cleanup_json_ json_t *list = NULL;
        json_t *f;
        size_t i;
        int k;

        k = store_map_run_failures_parse(reply, &list);
        if (k < 0)
                return fail_no_map_run(c, k);
        json_array_foreach (list, i, f)
                if (json_is_integer(json_object_get(f, "date")))
                        json_object_set_new(f, "date",
                                            aws_timestamp(json_integer_value(json_object_get(f, "date"))));
        api_reply(c, json_pack("{s:O}", "failures", list));
}

/* The record first: the ARN must name the run, machine and label too. */
static void failures_read(ApiCall *c, redisReply *reply) {
        MapRunState *s = c->state;
        _cleanup_json_ json_t *d = NULL;
        _cleanup_(store_call_done) StoreCall call = {};

        if (!record_read(c, reply, &d))
                return;
        store_map_run_failures_call(s->run_id, 0, FAILURES_MAX, &call);
        (void) api_redis_eval(c, &call, failures_done);
}

static void failures_run(ApiCall *c) {
        MapRunState *s = c->state;
        _cleanup_(store_call_done) StoreCall call = {};

        store_map_run_describe_call(s->run_id, &call);
        (void) api_redis_eval(c, &call, failures_read);
}

const ApiOp api_op_map_run_failures = {"DescribeMapRun", describe_parse, failures_run};
const ApiOp api_op_describe_map_run = {"DescribeMapRun", describe_parse, describe_run};
const ApiOp api_op_list_map_runs = {"ListMapRuns", list_parse, list_run};
const ApiOp api_op_update_map_run = {"UpdateMapRun", update_parse, update_run};
