/* SPDX-License-Identifier: MIT */
/*
 * Activities in the store: the registry (CreateActivity, DescribeActivity,
 * ListActivities, DeleteActivity) and the queue of each activity's tasks,
 * which a coordinator's commit fills (store_commit_add_activity_task() in
 * store.c: in the same atomic step that opens the task and its token) and
 * imgflow-api empties, one GetActivityTask caller at a time:
 *
 *   claim    the oldest live task is leased under a new delivery token
 *            (an alias of the task token: {"executionId","taskId","token"})
 *   settle   after the answer was written: "ack" ends the lease; if it
 *            could not be written, "release" puts the task back in front
 *            and drops the delivery token
 *   reclaim  a lease that nobody settled (its API process died) expires:
 *            the task goes back in front, the delivery token is closed
 *
 * docs/api.md ("Activities") explains why this loses no task and lets no
 * two callers complete one. The scripts are in store-scripts.c.
 */

#include <inttypes.h>
#include <string.h>

#include "store.h"

char *store_key_activity(const char *name) {
        return xasprintf("imgflow:activity:%s", name);
}

char *store_key_activity_tasks(const char *name) {
        return xasprintf("imgflow:activity:%s:tasks", name);
}

const char *store_activity_name_of_arn(const char *arn) {
        static const char prefix[] = "arn:aws:states:";
        const char *p;

        if (!arn || strncmp(arn, prefix, strlen(prefix)) != 0)
                return NULL;
        p = strstr(arn, ":activity:");
        if (!p)
                return NULL;
        p += strlen(":activity:");
        return store_name_is_valid(p) ? p : NULL;
}

int store_activity_create_call(const char *name, int64_t now_ms, StoreCall *ret) {
        _cleanup_free_ char *key = NULL;

        if (!store_name_is_valid(name))
                return -EINVAL;
        *ret = (StoreCall){.script = STORE_SCRIPT_ACTIVITY_CREATE};
        key = store_key_activity(name);
        store_argv_adds(&ret->keys, key);
        store_argv_adds(&ret->keys, STORE_KEY_ACTIVITIES);
        store_argv_adds(&ret->args, name);
        store_argv_addf(&ret->args, "%" PRIi64, now_ms);
        return 0;
}

int store_activity_create_parse(const redisReply *r, int64_t *ret_created_ms) {
        if (!r || r->type == REDIS_REPLY_ERROR)
                return -EIO;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[1]->type != REDIS_REPLY_STRING)
                return -EBADMSG;
        *ret_created_ms = strtoll(r->element[1]->str, NULL, 10);
        return 0;
}

int store_activity_describe_argv(const char *name, StoreArgv *ret) {
        _cleanup_free_ char *key = NULL;

        if (!store_name_is_valid(name))
                return -EINVAL;
        key = store_key_activity(name);
        store_argv_adds(ret, "HGET");
        store_argv_adds(ret, key);
        store_argv_adds(ret, "createdAt");
        return 0;
}

int store_activity_describe_parse(const redisReply *r, int64_t *ret_created_ms) {
        int k = store_reply_string(r);

        if (k < 0)
                return k;
        *ret_created_ms = strtoll(r->str, NULL, 10);
        return 0;
}

void store_activity_list_call(const char *after, size_t limit, StoreCall *ret) {
        *ret = (StoreCall){.script = STORE_SCRIPT_ACTIVITY_LIST};
        store_argv_adds(&ret->keys, STORE_KEY_ACTIVITIES);
        store_argv_adds(&ret->args, after ? after : "");
        store_argv_addf(&ret->args, "%zu", limit ? limit : 100);
}

int store_activity_list_parse(const redisReply *r, json_t **ret_items, bool *ret_more) {
        _cleanup_json_ json_t *a = NULL;

        if (!r || r->type == REDIS_REPLY_ERROR)
                return -EIO;
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->type != REDIS_REPLY_INTEGER ||
            (r->elements - 1) % 2 != 0)
                return -EBADMSG;
        a = json_array();
        for (size_t i = 1; i < r->elements; i += 2) {
                if (r->element[i]->type != REDIS_REPLY_STRING ||
                    r->element[i + 1]->type != REDIS_REPLY_STRING)
                        return -EBADMSG;
                json_array_append_new(a, json_pack("{s:s, s:I}", "name", r->element[i]->str, "createdAt",
                                                   (json_int_t) strtoll(r->element[i + 1]->str, NULL, 10)));
        }
        *ret_items = TAKE_PTR(a);
        *ret_more = r->element[0]->integer != 0;
        return 0;
}

int store_activity_delete_call(const char *name, StoreCall *ret) {
        _cleanup_free_ char *key = NULL, *tasks = NULL;

        if (!store_name_is_valid(name))
                return -EINVAL;
        *ret = (StoreCall){.script = STORE_SCRIPT_ACTIVITY_DELETE};
        key = store_key_activity(name);
        tasks = store_key_activity_tasks(name);
        store_argv_adds(&ret->keys, key);
        store_argv_adds(&ret->keys, tasks);
        store_argv_adds(&ret->keys, STORE_KEY_ACTIVITIES);
        store_argv_adds(&ret->args, name);
        return 0;
}

int store_activity_delete_parse(const redisReply *r) {
        if (!r || r->type == REDIS_REPLY_ERROR)
                return -EIO;
        if (r->type != REDIS_REPLY_INTEGER)
                return -EBADMSG;
        return r->integer ? 0 : -ENOENT;
}

/* The keys (queue, leases, leased) and first arguments (name, delivery
 * token) of the scripts of one delivery. */
static void delivery_call(StoreScriptId script, const char *name, const char *delivery_token,
                          StoreCall *ret) {
        _cleanup_free_ char *tasks = store_key_activity_tasks(name);

        *ret = (StoreCall){.script = script};
        store_argv_adds(&ret->keys, tasks);
        store_argv_adds(&ret->keys, STORE_KEY_ACTIVITY_LEASES);
        store_argv_adds(&ret->keys, STORE_KEY_ACTIVITY_LEASED);
        store_argv_adds(&ret->args, name);
        store_argv_adds(&ret->args, delivery_token);
}

void store_activity_claim_call(const char *name, const char *delivery_token, int64_t lease_until_ms,
                               int64_t record_ttl_sec, StoreCall *ret) {
        delivery_call(STORE_SCRIPT_ACTIVITY_CLAIM, name, delivery_token, ret);
        store_argv_addf(&ret->args, "%" PRIi64, lease_until_ms);
        store_argv_addf(&ret->args, "%" PRIi64,
                        record_ttl_sec > 0 ? record_ttl_sec : (int64_t) STORE_RETENTION_SEC_DEFAULT);
        store_argv_addf(&ret->args, "%d", STORE_ACTIVITY_CLAIM_SKIP);
}

int store_activity_claim_parse(const redisReply *r, char **ret_message) {
        if (!r || r->type == REDIS_REPLY_ERROR)
                return -EIO;
        if (r->type == REDIS_REPLY_NIL)
                return -ENOENT;
        if (r->type != REDIS_REPLY_STRING)
                return -EBADMSG;
        *ret_message = xstrndup(r->str, r->len);
        return 0;
}

void store_activity_settle_call(const char *name, const char *delivery_token, bool delivered,
                                StoreCall *ret) {
        delivery_call(STORE_SCRIPT_ACTIVITY_SETTLE, name, delivery_token, ret);
        store_argv_adds(&ret->args, delivered ? "ack" : "release");
}

void store_activity_reclaim_call(int64_t now_ms, unsigned limit, StoreCall *ret) {
        *ret = (StoreCall){.script = STORE_SCRIPT_ACTIVITY_RECLAIM};
        store_argv_adds(&ret->keys, STORE_KEY_ACTIVITY_LEASES);
        store_argv_adds(&ret->keys, STORE_KEY_ACTIVITY_LEASED);
        store_argv_addf(&ret->args, "%" PRIi64, now_ms);
        store_argv_addf(&ret->args, "%u", limit);
}
