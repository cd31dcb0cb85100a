/* SPDX-License-Identifier: MIT */
/*
 * The outbox in the store: the messages an exec_commit stored (tasks,
 * notifications) until the broker acknowledged them. Each item is a field
 * of imgflow:{<execId>}:outbox ("<topic>\n<payload>");
 * imgflow:outbox-pending lists the executions with items, scored by the
 * last dispatch attempt. After a delivery report the coordinator deletes
 * the item (outbox_ack, many items in one call); outbox_sweep returns the
 * items of executions older than a cutoff (and bumps their score), so a
 * message whose delivery report never came is sent again.
 */

#include <inttypes.h>
#include <string.h>

#include "store.h"

void store_outbox_sweep_call(int64_t cutoff_ms, int64_t now_ms, unsigned limit, StoreCall *ret) {
        StoreCall call = {.script = STORE_SCRIPT_OUTBOX_SWEEP};

        store_argv_adds(&call.keys, STORE_KEY_OUTBOX_PENDING);
        store_argv_addf(&call.args, "%" PRIi64, cutoff_ms);
        store_argv_addf(&call.args, "%" PRIi64, now_ms);
        store_argv_addf(&call.args, "%u", limit ? limit : 100);
        *ret = call;
}

void store_outbox_ack_add(StoreCall *call, const char *exec_id, const char *item_id) {
        char *key = store_key_outbox(exec_id);

        if (call->keys.n == 0) {
                call->script = STORE_SCRIPT_OUTBOX_ACK;
                store_argv_borrow(&call->keys, STORE_KEY_OUTBOX_PENDING, strlen(STORE_KEY_OUTBOX_PENDING));
        }
        store_argv_take(&call->keys, key, strlen(key));
        store_argv_adds(&call->args, exec_id);
        store_argv_adds(&call->args, item_id);
}

size_t store_outbox_ack_count(const StoreCall *call) {
        return call->keys.n > 0 ? call->keys.n - 1 : 0;
}

int store_outbox_value_split(const char *value, size_t len, char **ret_topic, char **ret_payload) {
        const char *nl;

        if (!value)
                return -EINVAL;
        nl = memchr(value, '\n', len);
        if (!nl || nl == value)
                return -EBADMSG;
        *ret_topic = xstrndup(value, nl - value);
        *ret_payload = xstrndup(nl + 1, len - (size_t) (nl + 1 - value));
        return 0;
}

void store_outbox_items_free(StoreOutboxItem *items, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(items[i].exec_id);
                free(items[i].item_id);
                free(items[i].topic);
                free(items[i].payload);
        }
        free(items);
}

int store_outbox_sweep_parse(const redisReply *r, StoreOutboxItem **ret, size_t *ret_n) {
        StoreOutboxItem *items = NULL;
        size_t n = 0, allocated = 0;

        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0)
                return -EBADMSG;
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
                const redisReply *id = r->element[i], *kv = r->element[i + 1];

                if (id->type != REDIS_REPLY_STRING || kv->type != REDIS_REPLY_ARRAY)
                        continue;
                for (size_t j = 0; j + 1 < kv->elements; j += 2) {
                        StoreOutboxItem it = {};

                        if (kv->element[j]->type != REDIS_REPLY_STRING ||
                            kv->element[j + 1]->type != REDIS_REPLY_STRING)
                                continue;
                        if (store_outbox_value_split(kv->element[j + 1]->str, kv->element[j + 1]->len,
                                                     &it.topic, &it.payload) < 0)
                                continue;
                        it.exec_id = xstrdup(id->str);
                        it.item_id = xstrdup(kv->element[j]->str);
                        if (n >= allocated) {
                                allocated = allocated ? allocated * 2 : 16;
                                items = xrealloc(items, allocated * sizeof *items);
                        }
                        items[n++] = it;
                }
        }
        *ret = items;
        *ret_n = n;
        return 0;
}
