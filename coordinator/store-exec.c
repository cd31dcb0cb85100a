/* SPDX-License-Identifier: MIT */
/*
 * Executions in the store: loading the document for the coordinator,
 * counting the running ones, and the reads of the CLI (DescribeExecution,
 * GetExecutionHistory, ListExecutions).
 *
 * Reads are plain commands; every write goes through exec_commit
 * (store.c, store-scripts.c).
 */

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "asl-engine.h"
#include "store.h"

void store_exec_state_done(StoreExecState *s) {
        json_decref(s->doc);
        free(s->state_machine);
        free(s->status);
        free(s->name);
        *s = (StoreExecState) {};
}

void store_exec_load_argv(const char *exec_id, StoreArgv *ret) {
        _cleanup_free_ char *key = store_key_exec(exec_id);

        store_argv_adds(ret, "HMGET");
        store_argv_adds(ret, key);
        store_argv_adds(ret, "doc");
        store_argv_adds(ret, "version");
        store_argv_adds(ret, "stateMachine");
        store_argv_adds(ret, "smVersion");
        store_argv_adds(ret, "status");
        store_argv_adds(ret, "name");
        store_argv_adds(ret, "startDate");
}

static const char *elem_str(const redisReply *r, size_t i) {
        if (!r || r->type != REDIS_REPLY_ARRAY || i >= r->elements)
                return NULL;
        if (r->element[i]->type != REDIS_REPLY_STRING)
                return NULL;
        return r->element[i]->str;
}

int store_exec_load_parse(const redisReply *r, StoreExecState *ret) {
        const char *doc, *version, *sm, *smv, *status;
        json_t *j;

        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 7)
                return -EBADMSG;
        doc = elem_str(r, 0);
        version = elem_str(r, 1);
        sm = elem_str(r, 2);
        smv = elem_str(r, 3);
        status = elem_str(r, 4);
        if (!doc || !version)
                return -ENOENT;
        j = json_loadb(doc, r->element[0]->len, JSON_DECODE_ANY, NULL);
        if (!j)
                return -EBADMSG;
        *ret = (StoreExecState) {
                .doc = j,
                .version = strtoull(version, NULL, 10),
                .state_machine = xstrdup(sm ? sm : ""),
                .sm_version = smv ? (unsigned) strtoul(smv, NULL, 10) : 0,
                .status = xstrdup(status ? status : ""),
                .name = xstrdup(elem_str(r, 5) ?: ""),
                .start_ms = elem_str(r, 6) ? strtoll(elem_str(r, 6), NULL, 10) : 0,
        };
        return 0;
}

int store_exec_load_sync(redisContext *c, const char *exec_id, StoreExecState *ret) {
        _cleanup_(store_argv_done) StoreArgv a = {};
        _cleanup_reply_ redisReply *r = NULL;
        int k;

        store_exec_load_argv(exec_id, &a);
        k = store_command_sync(c, &a, &r);
        if (k < 0)
                return k;
        return store_exec_load_parse(r, ret);
}

void store_exec_running_count_argv(StoreArgv *ret) {
        store_argv_adds(ret, "SCARD");
        store_argv_adds(ret, STORE_KEY_RUNNING);
}

static json_t *json_from_text(const char *s, size_t len) {
        json_t *j = json_loadb(s, len, JSON_DECODE_ANY, NULL);
        return j ? j : json_stringn(s, len);
}

static void set_ms(json_t *o, const char *key, const char *value) {
        if (value && *value)
                json_object_set_new(o, key, json_integer(strtoll(value, NULL, 10)));
}

int store_exec_describe(redisContext *c, const char *exec_id, json_t **ret) {
        static const char *const fields[] = {
                "stateMachine", "smVersion", "name", "status", "startDate",
                "stopDate", "input", "output", "error", "cause", "doc",
        };
        _cleanup_free_ char *key = NULL, *arn = NULL;
        _cleanup_json_ json_t *o = NULL;
        _cleanup_reply_ redisReply *r = NULL;
        const char *argv[2 + ELEMENTSOF(fields)];
        const char *v;

        if (!exec_id)
                return -EINVAL;
        key = store_key_exec(exec_id);
        argv[0] = "HMGET";
        argv[1] = key;
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                argv[2 + i] = fields[i];
        r = redisCommandArgv(c, (int) ELEMENTSOF(argv), argv, NULL);
        if (!r || r->type == REDIS_REPLY_ERROR)
                return -EIO;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != ELEMENTSOF(fields))
                return -EBADMSG;
        if (!elem_str(r, 3))
                return -ENOENT;

        arn = xasprintf("imgflow:execution:%s", exec_id);
        o = json_pack("{s:s, s:s}", "executionId", exec_id, "executionArn", arn);
        json_object_set_new(o, "stateMachine", json_string(elem_str(r, 0) ?: ""));
        v = elem_str(r, 1);
        json_object_set_new(o, "stateMachineVersion", json_integer(v ? strtoll(v, NULL, 10) : 0));
        json_object_set_new(o, "name", json_string(elem_str(r, 2) ?: ""));
        json_object_set_new(o, "status", json_string(elem_str(r, 3)));
        set_ms(o, "startDate", elem_str(r, 4));
        set_ms(o, "stopDate", elem_str(r, 5));
        if ((v = elem_str(r, 6)))
                json_object_set_new(o, "input", json_from_text(v, r->element[6]->len));
        if ((v = elem_str(r, 7)))
                json_object_set_new(o, "output", json_from_text(v, r->element[7]->len));
        if ((v = elem_str(r, 8)))
                json_object_set_new(o, "error", json_string(v));
        if ((v = elem_str(r, 9)))
                json_object_set_new(o, "cause", json_string(v));
        if ((v = elem_str(r, 10))) {
                _cleanup_json_ json_t *doc = json_loadb(v, r->element[10]->len, 0, NULL);
                size_t done = 0, total = 0;

                if (doc)
                        asl_exec_map_progress(doc, &done, &total);
                if (total > 0)
                        json_object_set_new(o, "mapProgress",
                                            json_pack("{s:I, s:I}", "done", (json_int_t) done,
                                                      "total", (json_int_t) total));
        }
        *ret = TAKE_PTR(o);
        return 0;
}

int store_exec_history(redisContext *c, const char *exec_id, size_t offset, size_t limit,
                       bool reverse, json_t **ret) {
        _cleanup_free_ char *key = NULL;
        _cleanup_reply_ redisReply *r = NULL;
        _cleanup_json_ json_t *a = NULL;
        long long start, stop;

        if (!exec_id)
                return -EINVAL;
        if (limit == 0 || limit > STORE_LIST_LIMIT_MAX)
                limit = STORE_LIST_LIMIT_MAX;
        if (offset > (size_t) INT32_MAX)
                return -EINVAL;
        key = store_key_history(exec_id);
        if (!reverse) {
                start = (long long) offset;
                stop = (long long) (offset + limit) - 1;
        } else {
                start = -(long long) (offset + limit);
                stop = -(long long) offset - 1;
        }
        r = redisCommand(c, "LRANGE %s %lld %lld", key, start, stop);
        if (!r || r->type == REDIS_REPLY_ERROR)
                return -EIO;
        if (r->type != REDIS_REPLY_ARRAY)
                return -EBADMSG;
        if (r->elements == 0) {
                _cleanup_free_ char *ek = store_key_exec(exec_id);
                _cleanup_reply_ redisReply *e = redisCommand(c, "EXISTS %s", ek);
                if (!e || e->type != REDIS_REPLY_INTEGER)
                        return -EIO;
                if (e->integer == 0)
                        return -ENOENT;
        }
        a = json_array();
        for (size_t i = 0; i < r->elements; i++) {
                size_t k = reverse ? r->elements - 1 - i : i;
                if (r->element[k]->type != REDIS_REPLY_STRING)
                        continue;
                json_array_append_new(a, json_from_text(r->element[k]->str, r->element[k]->len));
        }
        *ret = TAKE_PTR(a);
        return 0;
}

int store_exec_list(redisContext *c, const char *state_machine, const char *status, size_t limit,
                    json_t **ret) {
        _cleanup_json_ json_t *a = json_array();
        long long start = 0;
        const long long page = 200;

        if (limit == 0)
                limit = 100;
        if (limit > STORE_LIST_LIMIT_MAX)
                limit = STORE_LIST_LIMIT_MAX;

        /* Walk the index newest first, a page at a time; bounded work per call. */
        for (unsigned pages = 0; json_array_size(a) < limit && pages < 50; pages++) {
                _cleanup_reply_ redisReply *r = NULL;

                r = redisCommand(c, "ZREVRANGE %s %lld %lld", STORE_KEY_EXECUTIONS, start,
                                 start + page - 1);
                if (!r || r->type == REDIS_REPLY_ERROR)
                        return -EIO;
                if (r->type != REDIS_REPLY_ARRAY)
                        return -EBADMSG;
                if (r->elements == 0)
                        break;
                for (size_t i = 0; i < r->elements && json_array_size(a) < limit; i++) {
                        const char *id = r->element[i]->str;
                        _cleanup_free_ char *key = NULL;
                        _cleanup_reply_ redisReply *h = NULL;
                        json_t *o;

                        if (r->element[i]->type != REDIS_REPLY_STRING)
                                continue;
                        key = store_key_exec(id);
                        h = redisCommand(c, "HMGET %s stateMachine name status startDate stopDate",
                                         key);
                        if (!h || h->type != REDIS_REPLY_ARRAY || h->elements != 5)
                                return -EIO;
                        if (!elem_str(h, 2)) {
                                /* Expired: drop it from the index. */
                                _cleanup_reply_ redisReply *z =
                                        redisCommand(c, "ZREM %s %s", STORE_KEY_EXECUTIONS, id);
                                start--;
                                continue;
                        }
                        if (state_machine && !streq(state_machine, elem_str(h, 0) ?: ""))
                                continue;
                        if (status && !streq(status, elem_str(h, 2)))
                                continue;
                        o = json_pack("{s:s, s:s, s:s, s:s}", "executionId", id, "stateMachine",
                                      elem_str(h, 0) ?: "", "name", elem_str(h, 1) ?: "",
                                      "status", elem_str(h, 2));
                        set_ms(o, "startDate", elem_str(h, 3));
                        set_ms(o, "stopDate", elem_str(h, 4));
                        json_array_append_new(a, o);
                }
                start += page;
        }
        *ret = TAKE_PTR(a);
        return 0;
}
