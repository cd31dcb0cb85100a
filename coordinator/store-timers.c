/* SPDX-License-Identifier: MIT */
/*
 * Timers in the store: one global zset imgflow:timers ("<execId>|<timerId>" scored by
 * due ms). A coordinator claims due members atomically (timers_claim moves
 * them to imgflow:timers:claimed, scored by lease expiry), publishes
 * TimerFired to the events topic keyed by the execution id, and removes
 * the claimed member only once the broker acknowledged the message. A
 * periodic timers_reclaim puts expired leases back, so a coordinator killed
 * after claiming loses nothing. A timer firing twice is harmless: the
 * engine reports the second firing as stale.
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

void store_timers_reclaim_before_call(int64_t cutoff_ms, int64_t now_ms, unsigned limit, StoreCall *ret) {
        StoreCall call = { .script = STORE_SCRIPT_TIMERS_RECLAIM };

        store_argv_adds(&call.keys, STORE_KEY_TIMERS);
        store_argv_adds(&call.keys, STORE_KEY_TIMERS_CLAIMED);
        store_argv_addf(&call.args, "%" PRIi64, cutoff_ms);
        store_argv_addf(&call.args, "%u", limit ? limit : 1000);
        store_argv_addf(&call.args, "%" PRIi64, now_ms);
        *ret = call;
}

void store_timers_reclaim_call(int64_t now_ms, unsigned limit, StoreCall *ret) {
        store_timers_reclaim_before_call(now_ms, now_ms, limit, ret);
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
