/* SPDX-License-Identifier: MIT */
/*
 * Answers to requests in the store: a StartExecution, StopExecution or
 * SendTask* that carries a requestId is answered at
 * imgflow:response:{<requestId>} (SET NX EX STORE_RESPONSE_TTL_SEC: the
 * first answer stays), where the CLI polls for it. An answer that comes
 * with a change to the execution is written by exec_commit
 * (store_commit_set_response()); the others (a refused request, a stale
 * one) by the command built here. The text is proto_encode_response()'s
 * (docs/redis.md, "Responses").
 */

#include <string.h>

#include "store.h"

static bool request_id_is_valid(const char *request_id) {
        return request_id && *request_id && strlen(request_id) <= STORE_REQUEST_ID_MAX;
}

int store_response_put_argv(const char *request_id, const char *response, StoreArgv *ret) {
        _cleanup_free_ char *key = NULL;

        if (!request_id_is_valid(request_id) || !response)
                return -EINVAL;
        key = store_key_response(request_id);
        store_argv_reserve(ret, 6);
        store_argv_adds(ret, "SET");
        store_argv_adds(ret, key);
        store_argv_adds(ret, response);
        store_argv_adds(ret, "EX");
        store_argv_addf(ret, "%d", STORE_RESPONSE_TTL_SEC);
        store_argv_adds(ret, "NX");
        return 0;
}

int store_response_put(redisContext *c, const char *request_id, const char *response) {
        _cleanup_(store_argv_done) StoreArgv a = {};
        _cleanup_reply_ redisReply *r = NULL;
        int k;

        k = store_response_put_argv(request_id, response, &a);
        if (k < 0)
                return k;
        return store_command_sync(c, &a, &r);
}

int store_response_get(redisContext *c, const char *request_id, json_t **ret) {
        _cleanup_free_ char *key = NULL;
        _cleanup_reply_ redisReply *r = NULL;
        json_t *j;
        int k;

        if (!request_id_is_valid(request_id))
                return -EINVAL;
        key = store_key_response(request_id);
        r = redisCommand(c, "GET %s", key);
        k = store_reply_string(r);
        if (k < 0)
                return k;
        j = json_loadb(r->str, r->len, 0, NULL);
        if (!j)
                return -EBADMSG;
        *ret = j;
        return 0;
}
