/* SPDX-License-Identifier: MIT */
/*
 * Timers and the outbox in the store.
 *
 * Timers: one global zset imgflow:timers ("<execId>|<timerId>" scored by
 * due ms). A coordinator claims due members atomically (timers_claim moves
 * them to imgflow:timers:claimed, scored by lease expiry), publishes
 * TimerFired to the events topic keyed by the execution id, and removes
 * the claimed member only once the broker acknowledged the message. A
 * periodic timers_reclaim puts expired leases back, so a coordinator killed
 * after claiming loses nothing. A timer firing twice is harmless: the
 * engine reports the second firing as stale.
 *
 * Outbox: messages an exec_commit stored (tasks, notifications) until the
 * broker acknowledged them. imgflow:outbox-pending lists executions with
 * items, scored by the last dispatch attempt; outbox_sweep returns the
 * items of executions older than a cutoff (and bumps their score), so a
 * message whose delivery report never came is sent again.
 */

#include <inttypes.h>
#include <string.h>

#include "store.h"

void store_timers_claim_call(int64_t now_ms, int64_t lease_ms, unsigned limit, StoreCall *ret) {
        StoreCall call = { .script = STORE_SCRIPT_TIMERS_CLAIM };

        store_argv_adds(&call.keys, STORE_KEY_TIMERS);
        store_argv_adds(&call.keys, STORE_KEY_TIMERS_CLAIMED);
        store_argv_addf(&call.args, "%" PRIi64, now_ms);
        store_argv_addf(&call.args, "%" PRIi64, lease_ms);
        store_argv_addf(&call.args, "%u", limit ? limit : 100);
        *ret = call;
}

void store_timers_reclaim_call(int64_t now_ms, unsigned limit, StoreCall *ret) {
        StoreCall call = { .script = STORE_SCRIPT_TIMERS_RECLAIM };

        store_argv_adds(&call.keys, STORE_KEY_TIMERS);
        store_argv_adds(&call.keys, STORE_KEY_TIMERS_CLAIMED);
        store_argv_addf(&call.args, "%" PRIi64, now_ms);
        store_argv_addf(&call.args, "%u", limit ? limit : 1000);
        *ret = call;
}

void store_timers_ack_argv(const char *member, StoreArgv *ret) {
        store_argv_adds(ret, "ZREM");
        store_argv_adds(ret, STORE_KEY_TIMERS_CLAIMED);
        store_argv_adds(ret, member);
}

int store_timer_member_split(const char *member, char **ret_exec_id, char **ret_timer_id) {
        const char *bar;
        char *e;

        if (!member)
                return -EINVAL;
        bar = strchr(member, '|');
        if (!bar || bar == member || !bar[1])
                return -EINVAL;
        e = xstrndup(member, bar - member);
        *ret_exec_id = e;
        *ret_timer_id = xstrdup(bar + 1);
        return 0;
}

int store_timers_claim_parse(const redisReply *r, json_t **ret) {
        json_t *a;

        if (!r || r->type != REDIS_REPLY_ARRAY)
                return -EBADMSG;
        a = json_array();
        for (size_t i = 0; i < r->elements; i++)
                if (r->element[i]->type == REDIS_REPLY_STRING)
                        json_array_append_new(a, json_stringn(r->element[i]->str,
                                                              r->element[i]->len));
        *ret = a;
        return 0;
}

int store_timers_claim_sync(redisContext *c, int64_t now_ms, int64_t lease_ms, unsigned limit,
                            json_t **ret) {
        _cleanup_(store_call_done) StoreCall call = {};
        _cleanup_reply_ redisReply *r = NULL;
        int k;

        store_timers_claim_call(now_ms, lease_ms, limit, &call);
        k = store_call_sync(c, &call, &r, NULL, 0);
        if (k < 0)
                return k;
        return store_timers_claim_parse(r, ret);
}

int store_timers_reclaim_sync(redisContext *c, int64_t now_ms, unsigned limit, long long *ret) {
        _cleanup_(store_call_done) StoreCall call = {};
        _cleanup_reply_ redisReply *r = NULL;
        int k;

        store_timers_reclaim_call(now_ms, limit, &call);
        k = store_call_sync(c, &call, &r, NULL, 0);
        if (k < 0)
                return k;
        if (r->type != REDIS_REPLY_INTEGER)
                return -EBADMSG;
        if (ret)
                *ret = r->integer;
        return 0;
}

/* ---- outbox ---- */

void store_outbox_sweep_call(int64_t cutoff_ms, int64_t now_ms, unsigned limit, StoreCall *ret) {
        StoreCall call = { .script = STORE_SCRIPT_OUTBOX_SWEEP };

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

int store_outbox_value_split(const char *value, size_t len, char **ret_topic,
                             char **ret_payload) {
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
                        if (store_outbox_value_split(kv->element[j + 1]->str,
                                                     kv->element[j + 1]->len, &it.topic,
                                                     &it.payload) < 0)
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
