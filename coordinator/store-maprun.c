/* SPDX-License-Identifier: MIT */
/*
 * Map Run records in the store: the reads of DescribeMapRun, ListMapRuns
 * and a run's failed children, as script calls and reply parsers for
 * imgflow-api's asynchronous connection and the CLI's synchronous one.
 *
 * The record is written by exec_commit in the same commit as the
 * execution's events (the engine's MAP_RUN effects, apply.c), in the
 * execution's hash slot: imgflow:{<execId>}:maprun:<runId>, a hash of the
 * run's settings and raw counters (asl-engine.h, AslMapRun). A child's
 * event changes the few integer fields that moved, never a whole document.
 * The AWS counts (itemCounts, executionCounts) are derived here when the
 * record is read. A run's ARN does not name its execution, so
 * imgflow:maprun:<runId> holds the execution id for DescribeMapRun.
 */

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "store.h"

static json_int_t num(json_t *h, const char *k) {
        const char *s = json_string_value(json_object_get(h, k));

        return s ? (json_int_t) strtoll(s, NULL, 10) : 0;
}

static json_int_t nonneg(json_int_t v) {
        return v > 0 ? v : 0;
}

bool store_map_run_id_is_valid(const char *run_id) {
        size_t n = run_id ? strlen(run_id) : 0;

        if (n < 1 || n > 64)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!strchr("0123456789abcdefABCDEF-", run_id[i]))
                        return false;
        return true;
}

char *store_map_run_id_from_arn(const char *arn) {
        const char *at = arn ? strstr(arn, ":mapRun:") : NULL, *last;

        if (!at)
                return NULL;
        last = strrchr(at + 8, ':');
        if (!last || last == at + 7 || !store_map_run_id_is_valid(last + 1))
                return NULL;
        /* "<machine>/<label>" between the two */
        if (!memchr(at + 8, '/', (size_t) (last - (at + 8))))
                return NULL;
        return xstrdup(last + 1);
}

char *store_map_run_state_machine_arn(const char *map_run_arn) {
        const char *at = map_run_arn ? strstr(map_run_arn, ":mapRun:") : NULL;
        const char *last = map_run_arn ? strrchr(map_run_arn, ':') : NULL;

        if (!at || !last || last <= at + 8)
                return NULL;
        return xasprintf("%.*s:stateMachine:%.*s", (int) (at - map_run_arn), map_run_arn,
                         (int) (last - (at + 8)), at + 8);
}

json_t *store_map_run_from_fields(json_t *h) {
        json_int_t total = num(h, "total"), next = num(h, "next"), done = num(h, "done");
        json_int_t failed = num(h, "failed"), aborted = num(h, "aborted");
        const char *pct = json_string_value(json_object_get(h, "toleratedFailurePercentage"));
        json_t *o;

        o = json_pack(
                "{s:s, s:s, s:s, s:I, s:I, s:f, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, "
                "s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:I}",
                "mapRunArn", json_string_value(json_object_get(h, "mapRunArn")) ?: "", "executionArn",
                json_string_value(json_object_get(h, "executionArn")) ?: "", "status",
                json_string_value(json_object_get(h, "status")) ?: "RUNNING", "startDate",
                num(h, "startDate"), "maxConcurrency", num(h, "maxConcurrency"),
                "toleratedFailurePercentage", pct ? strtod(pct, NULL) : 0.0, "toleratedFailureCount",
                num(h, "toleratedFailureCount"), "itemCounts", "pending", nonneg(total - next), "running",
                nonneg(next - done - failed - aborted), "succeeded", done, "failed", failed, "timedOut",
                (json_int_t) 0, "aborted", aborted, "total", total, "resultsWritten",
                num(h, "resultsWritten"), "failuresNotRedrivable", (json_int_t) 0, "pendingRedrive",
                num(h, "pendingRedrive"), "executionCounts", "pending", (json_int_t) 0, "running",
                num(h, "childRunning"), "succeeded", num(h, "childDone"), "failed", num(h, "childFailed"),
                "timedOut", (json_int_t) 0, "aborted", num(h, "childAborted"), "total", num(h, "children"),
                "resultsWritten", num(h, "childResultsWritten"), "failuresNotRedrivable", (json_int_t) 0,
                "pendingRedrive", num(h, "childPendingRedrive"), "redriveCount", num(h, "redriveCount"));
        if (!o)
                return NULL;
        if (num(h, "stopDate") > 0)
                json_object_set_new(o, "stopDate", json_integer(num(h, "stopDate")));
        if (num(h, "redriveDate") > 0)
                json_object_set_new(o, "redriveDate", json_integer(num(h, "redriveDate")));
        if (json_string_value(json_object_get(h, "stateName")))
                json_object_set(o, "stateName", json_object_get(h, "stateName"));
        return o;
}

void store_map_run_describe_call(const char *run_id, StoreCall *ret) {
        *ret = (StoreCall){.script = STORE_SCRIPT_MAP_RUN_DESCRIBE};
        store_argv_adds(&ret->args, run_id);
}

int store_map_run_describe_parse(const redisReply *r, json_t **ret) {
        _cleanup_json_ json_t *h = json_object();
        const redisReply *a;

        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
            r->element[0]->type != REDIS_REPLY_STRING)
                return -EBADMSG;
        if (streq(r->element[0]->str, "missing"))
                return -ENOENT;
        if (r->elements != 3 || r->element[1]->type != REDIS_REPLY_STRING ||
            r->element[2]->type != REDIS_REPLY_ARRAY)
                return -EBADMSG;
        a = r->element[2];
        for (size_t i = 0; i + 1 < a->elements; i += 2) {
                if (a->element[i]->type != REDIS_REPLY_STRING ||
                    a->element[i + 1]->type != REDIS_REPLY_STRING)
                        return -EBADMSG;
                json_object_set_new(h, a->element[i]->str,
                                    json_stringn(a->element[i + 1]->str, a->element[i + 1]->len));
        }
        *ret = store_map_run_from_fields(h);
        if (!*ret)
                return -EBADMSG;
        json_object_set_new(*ret, "executionId", json_stringn(r->element[1]->str, r->element[1]->len));
        return 0;
}

void store_map_run_list_call(const char *exec_id, size_t offset, size_t limit, StoreCall *ret) {
        *ret = (StoreCall){.script = STORE_SCRIPT_MAP_RUN_LIST};
        store_argv_adds(&ret->args, exec_id);
        store_argv_addf(&ret->args, "%zu", offset);
        store_argv_addf(&ret->args, "%zu", limit);
}

int store_map_run_list_parse(const redisReply *r, json_t **ret_items, bool *ret_more) {
        _cleanup_json_ json_t *items = json_array();

        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
            r->element[0]->type != REDIS_REPLY_STRING)
                return -EBADMSG;
        if (streq(r->element[0]->str, "missing"))
                return -ENOENT;
        if (r->elements < 2 || r->element[1]->type != REDIS_REPLY_INTEGER)
                return -EBADMSG;
        for (size_t i = 2; i < r->elements; i++) {
                const redisReply *a = r->element[i];
                _cleanup_json_ json_t *h = json_object();

                if (a->type != REDIS_REPLY_ARRAY)
                        return -EBADMSG;
                for (size_t k = 0; k + 1 < a->elements; k += 2)
                        if (a->element[k]->type == REDIS_REPLY_STRING &&
                            a->element[k + 1]->type == REDIS_REPLY_STRING)
                                json_object_set_new(
                                        h, a->element[k]->str,
                                        json_stringn(a->element[k + 1]->str, a->element[k + 1]->len));
                if (!json_object_get(h, "mapRunArn"))
                        continue; /* a run whose record expired */
                json_array_append_new(items, store_map_run_from_fields(h));
        }
        *ret_items = TAKE_PTR(items);
        *ret_more = r->element[1]->integer != 0;
        return 0;
}

void store_map_run_failures_call(const char *run_id, size_t offset, size_t limit, StoreCall *ret) {
        *ret = (StoreCall){.script = STORE_SCRIPT_MAP_RUN_FAILURES};
        store_argv_adds(&ret->args, run_id);
        store_argv_addf(&ret->args, "%zu", offset);
        store_argv_addf(&ret->args, "%zu", limit);
}

int store_map_run_failures_parse(const redisReply *r, json_t **ret) {
        _cleanup_json_ json_t *items = json_array();

        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
            r->element[0]->type != REDIS_REPLY_STRING)
                return -EBADMSG;
        if (streq(r->element[0]->str, "missing"))
                return -ENOENT;
        for (size_t i = 1; i < r->elements; i++) {
                json_t *f;

                if (r->element[i]->type != REDIS_REPLY_STRING)
                        return -EBADMSG;
                f = json_loadb(r->element[i]->str, r->element[i]->len, 0, NULL);
                if (f)
                        json_array_append_new(items, f);
        }
        *ret = TAKE_PTR(items);
        return 0;
}

int store_map_run_describe_sync(redisContext *c, const char *run_id, json_t **ret) {
        _cleanup_(store_call_done) StoreCall call = {};
        _cleanup_reply_ redisReply *r = NULL;
        int k;

        store_map_run_describe_call(run_id, &call);
        k = store_call_sync(c, &call, &r, NULL, 0);
        if (k < 0)
                return k;
        return store_map_run_describe_parse(r, ret);
}

int store_map_run_list_sync(redisContext *c, const char *exec_id, size_t offset, size_t limit,
                            json_t **ret_items, bool *ret_more) {
        _cleanup_(store_call_done) StoreCall call = {};
        _cleanup_reply_ redisReply *r = NULL;
        int k;

        store_map_run_list_call(exec_id, offset, limit, &call);
        k = store_call_sync(c, &call, &r, NULL, 0);
        if (k < 0)
                return k;
        return store_map_run_list_parse(r, ret_items, ret_more);
}

int store_map_run_failures_sync(redisContext *c, const char *run_id, size_t offset, size_t limit,
                                json_t **ret) {
        _cleanup_(store_call_done) StoreCall call = {};
        _cleanup_reply_ redisReply *r = NULL;
        int k;

        store_map_run_failures_call(run_id, offset, limit, &call);
        k = store_call_sync(c, &call, &r, NULL, 0);
        if (k < 0)
                return k;
        return store_map_run_failures_parse(r, ret);
}

/* ---- a child's record (store.h, StoreChildRecord) ---- */

int store_child_record_argv(const char *exec_id, StoreArgv *ret) {
        _cleanup_free_ char *key = NULL;

        if (!exec_id || !*exec_id)
                return -EINVAL;
        key = store_key_exec(exec_id);
        store_argv_adds(ret, "HMGET");
        store_argv_adds(ret, key);
        store_argv_adds(ret, "status");
        store_argv_adds(ret, "parent");
        store_argv_adds(ret, "mapRunArn");
        store_argv_adds(ret, "output");
        return 0;
}

int store_child_record_parse(const redisReply *r, StoreChildRecord *ret) {
        char **fields[] = {&ret->status, &ret->parent, &ret->map_run_arn, &ret->output};

        if (!r || r->type == REDIS_REPLY_ERROR)
                return -EIO;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != ELEMENTSOF(fields))
                return -EBADMSG;
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                if (r->element[i]->type != REDIS_REPLY_STRING && r->element[i]->type != REDIS_REPLY_NIL)
                        return -EBADMSG;
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                *fields[i] = r->element[i]->type == REDIS_REPLY_STRING
                                     ? xstrndup(r->element[i]->str, r->element[i]->len)
                                     : NULL;
        return 0;
}

void store_child_record_done(StoreChildRecord *r) {
        free(r->status);
        free(r->parent);
        free(r->map_run_arn);
        free(r->output);
        *r = (StoreChildRecord){};
}

/* ---- a refused child start (store.h) ---- */

char *store_key_child_refused(const char *exec_id) {
        return xasprintf("imgflow:{%s}:refused", exec_id);
}

int store_child_refused_set_argv(const char *exec_id, const char *parent, const char *map_run_arn,
                                 int64_t retention_sec, StoreArgv *ret) {
        _cleanup_free_ char *key = NULL;

        if (!exec_id || !*exec_id || !parent || !map_run_arn || strchr(parent, '\n'))
                return -EINVAL;
        key = store_key_child_refused(exec_id);
        store_argv_adds(ret, "SET");
        store_argv_adds(ret, key);
        store_argv_addf(ret, "%s\n%s", parent, map_run_arn);
        store_argv_adds(ret, "EX");
        store_argv_addf(ret, "%" PRIi64, retention_sec > 0 ? retention_sec : (int64_t) STORE_RETENTION_SEC_DEFAULT);
        return 0;
}

int store_child_refused_get_argv(const char *exec_id, StoreArgv *ret) {
        _cleanup_free_ char *key = NULL;

        if (!exec_id || !*exec_id)
                return -EINVAL;
        key = store_key_child_refused(exec_id);
        store_argv_adds(ret, "GET");
        store_argv_adds(ret, key);
        return 0;
}

int store_child_refused_parse(const redisReply *r, const char *parent, const char *map_run_arn) {
        _cleanup_free_ char *want = NULL;

        if (!r || r->type == REDIS_REPLY_ERROR)
                return -EIO;
        if (r->type == REDIS_REPLY_NIL)
                return 0;
        if (r->type != REDIS_REPLY_STRING)
                return -EBADMSG;
        if (!parent || !map_run_arn)
                return 0;
        /* the value store_child_refused_set_argv() writes */
        want = xasprintf("%s\n%s", parent, map_run_arn);
        return r->len == strlen(want) && memcmp(r->str, want, r->len) == 0;
}
