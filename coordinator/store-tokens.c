/* SPDX-License-Identifier: MIT */
/*
 * Task tokens in the store: imgflow:token:<token> holds the record
 * {"executionId","taskId"} of a live .waitForTaskToken task, and once the
 * task closed {"executionId","taskId","closed":<error>} for the retention,
 * so that a late SendTask* is told TaskTimedOut or TaskDoesNotExist rather
 * than InvalidToken. Both records are written by exec_commit (store.c:
 * store_commit_add_token(), store_commit_add_token_tombstone()); this file
 * reads them: the GET the coordinator sends before it queues a callback,
 * and its reply. An activity's delivery token (store-activities.c) has a
 * record of the same shape with "token": the task token it stands for.
 */

#include <string.h>

#include "store.h"

int store_token_lookup_argv(const char *token, StoreArgv *ret) {
        _cleanup_free_ char *key = NULL;

        if (!token || !*token || strlen(token) > STORE_TOKEN_MAX)
                return -EINVAL;
        key = store_key_token(token);
        store_argv_adds(ret, "GET");
        store_argv_adds(ret, key);
        return 0;
}

int store_token_parse(const redisReply *r, char **ret_exec_id, char **ret_task_id) {
        _cleanup_free_ char *e = NULL, *t = NULL, *closed = NULL;
        int k;

        k = store_token_parse_full(r, &e, &t, &closed);
        if (k == -ESTALE)
                return -ENOENT;
        if (k < 0)
                return k;
        *ret_exec_id = TAKE_PTR(e);
        *ret_task_id = TAKE_PTR(t);
        return 0;
}

void store_token_record_done(StoreTokenRecord *t) {
        free(t->exec_id);
        free(t->task_id);
        free(t->closed);
        free(t->alias_of);
        *t = (StoreTokenRecord) {};
}

int store_token_parse_record(const redisReply *r, StoreTokenRecord *ret) {
        _cleanup_json_ json_t *j = NULL;
        const char *e, *t, *closed, *alias;
        int k;

        k = store_reply_string(r);
        if (k < 0)
                return k;
        j = json_loadb(r->str, r->len, 0, NULL);
        e = json_string_value(json_object_get(j, "executionId"));
        t = json_string_value(json_object_get(j, "taskId"));
        if (!e || !t)
                return -EBADMSG;
        closed = json_string_value(json_object_get(j, "closed"));
        alias = json_string_value(json_object_get(j, "token"));
        *ret = (StoreTokenRecord) {
                .exec_id = xstrdup(e),
                .task_id = xstrdup(t),
                .closed = closed ? xstrdup(closed) : NULL,
                .alias_of = alias ? xstrdup(alias) : NULL,
        };
        return 0;
}

int store_token_parse_full(const redisReply *r, char **ret_exec_id, char **ret_task_id,
                           char **ret_closed_error) {
        _cleanup_(store_token_record_done) StoreTokenRecord t = {};
        int k;

        k = store_token_parse_record(r, &t);
        if (k < 0)
                return k;
        *ret_exec_id = TAKE_PTR(t.exec_id);
        *ret_task_id = TAKE_PTR(t.task_id);
        if (t.closed) {
                if (ret_closed_error)
                        *ret_closed_error = TAKE_PTR(t.closed);
                return -ESTALE;
        }
        return 0;
}

int store_token_lookup(redisContext *c, const char *token, char **ret_exec_id, char **ret_task_id) {
        _cleanup_(store_argv_done) StoreArgv a = {};
        _cleanup_reply_ redisReply *r = NULL;
        int k;

        k = store_token_lookup_argv(token, &a);
        if (k < 0)
                return k;
        r = redisCommandArgv(c, (int) a.n, (const char **) a.argv, a.lens);
        if (!r)
                return -EIO;
        return store_token_parse(r, ret_exec_id, ret_task_id);
}
