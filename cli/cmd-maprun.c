/* SPDX-License-Identifier: MIT */
/*
 * Map Run verbs: describe-map-run, list-map-runs, update-map-run.
 *
 * Reads go to Redis directly (coordinator/store-maprun.c), as the other
 * read verbs do. update-map-run is a change: an UpdateMapRun message to
 * <prefix>jobs keyed by the execution id (found from the run's record),
 * with a request id whose answer the coordinator that owns the execution
 * writes, as stop-execution does. Output follows the AWS CLI's field
 * names; dates are RFC 3339 strings.
 */

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd-remote.h"

typedef struct MapRunArgs {
        const char *map_run;
        const char *execution;
        const char *max_concurrency;
        const char *tolerated_count;
        const char *tolerated_pct;
        const char *next_token;
        unsigned max_results;
} MapRunArgs;

#define OPTION(name, field)                                                                                 \
        { name, CLI_OPTION_STRING, offsetof(MapRunArgs, field) }

static const char *jstr(const json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

/* store_map_run_describe()'s object as the AWS CLI prints DescribeMapRun
 * (new). */
static json_t *map_run_output(json_t *d) {
        json_t *o = json_deep_copy(d);

        json_object_del(o, "executionId");
        json_object_del(o, "stateName");
        json_object_set_new(o, "startDate", cli_date(json_integer_value(json_object_get(d, "startDate"))));
        if (json_object_get(d, "stopDate"))
                json_object_set_new(o, "stopDate",
                                    cli_date(json_integer_value(json_object_get(d, "stopDate"))));
        if (json_object_get(d, "redriveDate"))
                json_object_set_new(o, "redriveDate",
                                    cli_date(json_integer_value(json_object_get(d, "redriveDate"))));
        return o;
}

/* Options, then --map-run-arn's run id (new) and the connection. */
static int map_run_open(const Verb *verb, int argc, char *argv[], const CliOption *options,
                        const char *operation, bool need_kafka, MapRunArgs *a, CliRemoteArgs *ra,
                        char **ret_id, CliRemote **ret_remote) {
        int r;

        r = cli_parse_options(verb, argc, argv, options, ra, a);
        if (r != CLI_CONTINUE)
                return r;
        if (!a->map_run)
                return cli_missing_option(verb, "--map-run-arn");
        *ret_id = store_map_run_id_from_arn(a->map_run);
        if (!*ret_id)
                return cli_aws_error(operation, "InvalidArn",
                                     "expected imgflow:mapRun:<stateMachine>/<label>:<run id>");
        if (cli_remote_open(ra, need_kafka, ret_remote) < 0)
                return CLI_EXIT_FAILED;
        return CLI_CONTINUE;
}

/* The record of the run named by arn (as given): 0, or the exit code
 * (message printed). */
static int map_run_read(CliRemote *remote, const char *operation, const char *run_id, const char *arn,
                        json_t **ret) {
        int r = store_map_run_describe_sync(cli_remote_redis(remote), run_id, ret);

        if (r == -ENOENT)
                return cli_aws_error(operation, "ResourceNotFound", arn);
        if (r < 0)
                return cli_store_error(operation, r, remote);
        if (!streq_ptr(jstr(*ret, "mapRunArn"), arn) &&
            !(strstr(arn, ":mapRun:") &&
              streq_ptr(strstr(jstr(*ret, "mapRunArn") ?: "", ":mapRun:"), strstr(arn, ":mapRun:")))) {
                json_decref(TAKE_PTR(*ret));
                return cli_aws_error(operation, "ResourceNotFound", arn);
        }
        return 0;
}

int verb_describe_map_run(const Verb *verb, int argc, char *argv[]) {
        static const CliOption options[] = {
                OPTION("map-run-arn", map_run),
                {},
        };
        _cleanup_(cli_remote_freep) CliRemote *remote = NULL;
        _cleanup_json_ json_t *d = NULL, *out = NULL;
        _cleanup_free_ char *id = NULL;
        CliRemoteArgs ra = {};
        MapRunArgs a = {};
        int r;

        r = map_run_open(verb, argc, argv, options, "DescribeMapRun", /* need_kafka= */ false, &a, &ra, &id,
                         &remote);
        if (r != CLI_CONTINUE)
                return r;
        r = map_run_read(remote, "DescribeMapRun", id, a.map_run, &d);
        if (r != 0)
                return r;
        out = map_run_output(d);
        cli_print_json(out);
        return CLI_EXIT_OK;
}

int verb_list_map_runs(const Verb *verb, int argc, char *argv[]) {
        static const CliOption options[] = {
                OPTION("execution-arn", execution),
                {"max-results", CLI_OPTION_UINT, offsetof(MapRunArgs, max_results), .min = 1,
                 .max = STORE_LIST_LIMIT_MAX},
                OPTION("next-token", next_token),
                {},
        };
        _cleanup_(cli_remote_freep) CliRemote *remote = NULL;
        _cleanup_json_ json_t *items = NULL, *out = NULL;
        _cleanup_free_ char *id = NULL;
        CliRemoteArgs ra = {};
        MapRunArgs a = {};
        size_t offset = 0, limit;
        bool more = false;
        json_t *list, *it;
        size_t i;
        int r;

        r = cli_parse_options(verb, argc, argv, options, &ra, &a);
        if (r != CLI_CONTINUE)
                return r;
        if (!a.execution)
                return cli_missing_option(verb, "--execution-arn");
        if (store_exec_arn_is_express(a.execution))
                return cli_aws_error("ListMapRuns", "InvalidArn", STORE_EXPRESS_ARN_REFUSED);
        id = store_exec_id_normalize(a.execution);
        if (!id)
                return cli_aws_error(
                        "ListMapRuns", "InvalidArn",
                        "expected imgflow:execution:<stateMachine>:<name> or <stateMachine>:<name>");
        if (a.next_token) {
                if (strspn(a.next_token, "0123456789") != strlen(a.next_token) || strlen(a.next_token) > 9)
                        return cli_aws_error("ListMapRuns", "InvalidToken", a.next_token);
                offset = strtoul(a.next_token, NULL, 10);
        }
        limit = a.max_results ? a.max_results : 100;
        if (cli_remote_open(&ra, /* need_kafka= */ false, &remote) < 0)
                return CLI_EXIT_FAILED;
        r = store_map_run_list_sync(cli_remote_redis(remote), id, offset, limit, &items, &more);
        if (r == -ENOENT)
                return cli_aws_error("ListMapRuns", "ExecutionDoesNotExist", a.execution);
        if (r < 0)
                return cli_store_error("ListMapRuns", r, remote);
        list = json_array();
        json_array_foreach (items, i, it) {
                _cleanup_free_ char *sm = store_map_run_state_machine_arn(jstr(it, "mapRunArn"));
                json_t *o = json_pack("{s:s, s:s, s:s, s:o}", "executionArn", jstr(it, "executionArn") ?: "",
                                      "mapRunArn", jstr(it, "mapRunArn") ?: "", "stateMachineArn",
                                      sm ? sm : "", "startDate",
                                      cli_date(json_integer_value(json_object_get(it, "startDate"))));

                if (json_object_get(it, "stopDate"))
                        json_object_set_new(o, "stopDate",
                                            cli_date(json_integer_value(json_object_get(it, "stopDate"))));
                json_array_append_new(list, o);
        }
        out = json_pack("{s:o}", "mapRuns", list);
        if (more) {
                _cleanup_free_ char *next = xasprintf("%zu", offset + limit);
                json_object_set_new(out, "nextToken", json_string(next));
        }
        cli_print_json(out);
        return CLI_EXIT_OK;
}

/* A setting's value, or NULL when not given; *ret_bad when it is not a
 * number in min..max (integer unless real). New reference. */
static json_t *setting(const char *text, bool real, double max, bool *ret_bad) {
        char *end;
        double d;

        if (!text)
                return NULL;
        errno = 0;
        d = strtod(text, &end);
        if (errno || end == text || *end || d < 0 || d > max || (!real && d != (double) (long long) d)) {
                *ret_bad = true;
                return NULL;
        }
        return real ? json_real(d) : json_integer((json_int_t) d);
}

int verb_update_map_run(const Verb *verb, int argc, char *argv[]) {
        static const CliOption options[] = {
                OPTION("map-run-arn", map_run),
                OPTION("max-concurrency", max_concurrency),
                OPTION("tolerated-failure-count", tolerated_count),
                OPTION("tolerated-failure-percentage", tolerated_pct),
                {},
        };
        _cleanup_(cli_remote_freep) CliRemote *remote = NULL;
        _cleanup_json_ json_t *d = NULL, *resp = NULL, *mc = NULL, *tc = NULL, *tp = NULL;
        _cleanup_free_ char *id = NULL, *request_id = NULL, *buf = NULL;
        CliRemoteArgs ra = {};
        MapRunArgs a = {};
        bool bad = false;
        size_t len;
        int r;

        r = map_run_open(verb, argc, argv, options, "UpdateMapRun", /* need_kafka= */ true, &a, &ra, &id,
                         &remote);
        if (r != CLI_CONTINUE)
                return r;
        mc = setting(a.max_concurrency, false, 2147483647.0, &bad);
        tc = setting(a.tolerated_count, false, 9007199254740992.0, &bad);
        tp = setting(a.tolerated_pct, true, 100.0, &bad);
        if (bad)
                return cli_aws_error("UpdateMapRun", "ValidationException",
                                     "--max-concurrency and --tolerated-failure-count take integers >= 0, "
                                     "--tolerated-failure-percentage a number from 0 to 100");
        r = map_run_read(remote, "UpdateMapRun", id, a.map_run, &d);
        if (r != 0)
                return r;
        if (!streq_ptr(jstr(d, "status"), "RUNNING"))
                return cli_aws_error("UpdateMapRun", "ValidationException", "the Map Run is not running");

        request_id = cli_request_id_new();
        ProtoUpdateMapRun msg = {
                .execution_id = jstr(d, "executionId"),
                .map_run_arn = jstr(d, "mapRunArn"),
                .max_concurrency = mc,
                .tolerated_failure_count = tc,
                .tolerated_failure_percentage = tp,
                .request_id = request_id,
        };
        r = proto_encode_update_map_run(&msg, cli_remote_limits(remote), &buf, &len);
        if (r < 0)
                return cli_aws_error("UpdateMapRun", "ValidationException", "the message cannot be encoded");
        r = cli_remote_request(remote, PROTO_TOPIC_JOBS, msg.execution_id, buf, len, request_id,
                               ra.request_timeout_sec, "UpdateMapRun", &resp);
        if (r != CLI_EXIT_OK)
                return r;
        json_decref(resp);
        resp = json_object();
        cli_print_json(resp);
        return CLI_EXIT_OK;
}
