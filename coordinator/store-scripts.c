/* SPDX-License-Identifier: MIT */
/*
 * The Lua scripts of the store (a constant table, STYLE 11). Each script is
 * one atomic step; docs/redis.md describes keys and arguments.
 *
 * Scripts take the keys of one execution in KEYS. The global zsets
 * (imgflow:executions, imgflow:timers, imgflow:timers:claimed,
 * imgflow:outbox-pending) are passed in KEYS too; token, response and
 * definition-version keys are built inside the scripts. That is fine on a
 * single primary (the supported deployment); Redis Cluster would need the
 * global keys sharded by hash tag (see docs/redis.md).
 *
 * Arguments that are structured come as one JSON document whose leaves are
 * all strings (cjson would otherwise turn large integers into floats).
 */

#include <stdlib.h>

#include "store.h"

/*
 * exec_commit: the compare-and-set of one execution.
 * KEYS: 1 exec, 2 history, 3 outbox, 4 tokens, 5 exec timers set,
 *       6 imgflow:executions, 7 imgflow:timers, 8 imgflow:timers:claimed,
 *       9 imgflow:outbox-pending, 10 imgflow:running (the ids of RUNNING
 *       executions: added on create, removed when terminal)
 * ARGV: 1 expected version (0 = create), 2 ops JSON, 3 the document,
 *       then ops.historyN history events, then one value per id of
 *       ops.outbox (in that order).
 * Returns {"ok", newVersion} | {"conflict", version} | {"missing", 0} |
 *         {"exists", 1 if same input and RUNNING else 0, startDate}.
 */
static const char exec_commit_lua[] =
        "local exec, hist, outbox, toks, xtimers = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]\n"
        "local index, timers, claimed, pending = KEYS[6], KEYS[7], KEYS[8], KEYS[9]\n"
        "local expected = tonumber(ARGV[1])\n"
        "local ops = cjson.decode(ARGV[2])\n"
        "local id = ops.execId\n"
        "if expected == 0 then\n"
        "  if redis.call('EXISTS', exec) == 1 then\n"
        "    local cur = redis.call('HMGET', exec, 'status', 'input', 'startDate')\n"
        "    local start = tonumber(cur[3]) or 0\n"
        "    if cur[1] == 'RUNNING' and cur[2] == ops.create.input then return {'exists', 1, start} end\n"
        "    return {'exists', 0, start}\n"
        "  end\n"
        "  local c = ops.create\n"
        "  redis.call('HSET', exec, 'stateMachine', c.stateMachine, 'smVersion', c.smVersion,\n"
        "             'name', c.name, 'input', c.input, 'startDate', c.startDate)\n"
        "  redis.call('ZADD', index, c.startDate, id)\n"
        "  redis.call('SADD', KEYS[10], id)\n"
        "else\n"
        "  local v = redis.call('HGET', exec, 'version')\n"
        "  if not v then return {'missing', 0} end\n"
        "  if tonumber(v) ~= expected then return {'conflict', tonumber(v)} end\n"
        "end\n"
        "local nv = expected + 1\n"
        "redis.call('HSET', exec, 'doc', ARGV[3], 'version', nv, 'status', ops.status)\n"
        "for _, f in ipairs(ops.fields or {}) do redis.call('HSET', exec, f[1], f[2]) end\n"
        "local nh = tonumber(ops.historyN) or 0\n"
        "if nh > 0 then\n"
        "  local len = 0\n"
        "  for i = 1, nh, 1000 do\n"
        "    len = redis.call('RPUSH', hist, unpack(ARGV, 3 + i, 3 + math.min(i + 999, nh)))\n"
        "  end\n"
        "  local cap = tonumber(ops.historyCap)\n"
        "  if len > cap then redis.call('LTRIM', hist, -cap, -1) end\n"
        "end\n"
        "for _, t in ipairs(ops.tokens or {}) do\n"
        "  redis.call('HSET', toks, t[1], t[2])\n"
        "  redis.call('SET', 'imgflow:token:' .. t[2], t[3])\n"
        "end\n"
        "for _, task in ipairs(ops.closeTasks or {}) do\n"
        "  local tok = redis.call('HGET', toks, task)\n"
        "  if tok then\n"
        "    redis.call('DEL', 'imgflow:token:' .. tok)\n"
        "    redis.call('HDEL', toks, task)\n"
        "  end\n"
        "end\n"
        "for _, t in ipairs(ops.timers or {}) do\n"
        "  local m = id .. '|' .. t[1]\n"
        "  redis.call('ZADD', timers, t[2], m)\n"
        "  redis.call('ZREM', claimed, m)\n"
        "  redis.call('SADD', xtimers, t[1])\n"
        "end\n"
        "for _, t in ipairs(ops.timersDel or {}) do\n"
        "  local m = id .. '|' .. t\n"
        "  redis.call('ZREM', timers, m)\n"
        "  redis.call('ZREM', claimed, m)\n"
        "  redis.call('SREM', xtimers, t)\n"
        "end\n"
        "for k, o in ipairs(ops.outbox or {}) do redis.call('HSET', outbox, o, ARGV[3 + nh + k]) end\n"
        "for _, o in ipairs(ops.outboxDel or {}) do redis.call('HDEL', outbox, o) end\n"
        "if redis.call('HLEN', outbox) > 0 then\n"
        "  if #(ops.outbox or {}) > 0 then redis.call('ZADD', pending, ops.now, id) end\n"
        "else\n"
        "  redis.call('ZREM', pending, id)\n"
        "end\n"
        "if ops.terminal then\n"
        "  local ttl = tonumber(ops.terminal.retention)\n"
        "  redis.call('HSET', exec, 'stopDate', ops.terminal.stopDate)\n"
        "  redis.call('SREM', KEYS[10], id)\n"
        "  for _, tok in ipairs(redis.call('HVALS', toks)) do redis.call('DEL', 'imgflow:token:' .. tok) end\n"
        "  redis.call('DEL', toks)\n"
        "  for _, t in ipairs(redis.call('SMEMBERS', xtimers)) do\n"
        "    redis.call('ZREM', timers, id .. '|' .. t)\n"
        "    redis.call('ZREM', claimed, id .. '|' .. t)\n"
        "  end\n"
        "  redis.call('DEL', xtimers)\n"
        "  redis.call('EXPIRE', exec, ttl)\n"
        "  redis.call('EXPIRE', hist, ttl)\n"
        "  redis.call('EXPIRE', outbox, ttl)\n"
        "end\n"
        "for _, t in ipairs(ops.tombstones or {}) do\n"
        "  redis.call('SET', 'imgflow:token:' .. t[1], t[2], 'EX', tonumber(t[3]))\n"
        "end\n"
        "if ops.response then\n"
        "  redis.call('SET', ops.response[1], ops.response[2], 'EX', tonumber(ops.response[3]), 'NX')\n"
        "end\n"
        "return {'ok', nv}\n";

/*
 * sm_put: store a new version of a state machine definition.
 * KEYS: 1 imgflow:sm:<name>, 2 imgflow:sms
 * ARGV: 1 name, 2 definition, 3 now ms, 4 mode "create" | "update"
 * Returns {"ok", version} | {"same", version} (create, identical latest) |
 *         {"exists", version} | {"missing", 0}.
 */
static const char sm_put_lua[] =
        "local latest = redis.call('HGET', KEYS[1], 'latestVersion')\n"
        "if ARGV[4] == 'create' and latest then\n"
        "  if redis.call('GET', KEYS[1] .. ':v' .. latest) == ARGV[2] then return {'same', tonumber(latest)} end\n"
        "  return {'exists', tonumber(latest)}\n"
        "end\n"
        "if ARGV[4] == 'update' and not latest then return {'missing', 0} end\n"
        "local v = (tonumber(latest) or 0) + 1\n"
        "redis.call('SET', KEYS[1] .. ':v' .. v, ARGV[2])\n"
        "redis.call('PERSIST', KEYS[1] .. ':v' .. v)\n"
        "if not latest then redis.call('HSET', KEYS[1], 'createdAt', ARGV[3]) end\n"
        "redis.call('HSET', KEYS[1], 'name', ARGV[1], 'latestVersion', v, 'updatedAt', ARGV[3])\n"
        "redis.call('SADD', KEYS[2], ARGV[1])\n"
        "return {'ok', v}\n";

/*
 * sm_delete: KEYS 1 imgflow:sm:<name>, 2 imgflow:sms; ARGV 1 name, 2 retention sec.
 * Returns 1 if deleted, 0 if absent.
 */
static const char sm_delete_lua[] =
        "local latest = redis.call('HGET', KEYS[1], 'latestVersion')\n"
        "if not latest then return 0 end\n"
        "for v = 1, tonumber(latest) do redis.call('EXPIRE', KEYS[1] .. ':v' .. v, tonumber(ARGV[2])) end\n"
        "redis.call('DEL', KEYS[1])\n"
        "redis.call('SREM', KEYS[2], ARGV[1])\n"
        "return 1\n";

/*
 * timers_claim: KEYS 1 imgflow:timers, 2 imgflow:timers:claimed;
 * ARGV 1 now ms, 2 lease ms, 3 limit. Returns the claimed members.
 */
static const char timers_claim_lua[] =
        "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))\n"
        "local lease = tonumber(ARGV[1]) + tonumber(ARGV[2])\n"
        "for _, m in ipairs(due) do\n"
        "  redis.call('ZREM', KEYS[1], m)\n"
        "  redis.call('ZADD', KEYS[2], lease, m)\n"
        "end\n"
        "return due\n";

/*
 * timers_reclaim: KEYS 1 imgflow:timers, 2 imgflow:timers:claimed;
 * ARGV 1 now ms, 2 limit. Expired leases go back, due now, unless the
 * timer was rescheduled meanwhile (ZADD NX). Returns the count.
 */
static const char timers_reclaim_lua[] =
        "local exp = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))\n"
        "for _, m in ipairs(exp) do\n"
        "  redis.call('ZREM', KEYS[2], m)\n"
        "  redis.call('ZADD', KEYS[1], 'NX', ARGV[1], m)\n"
        "end\n"
        "return #exp\n";

/*
 * outbox_sweep: KEYS 1 imgflow:outbox-pending; ARGV 1 cutoff ms, 2 now ms,
 * 3 limit. Returns {execId, {itemId, value, ...}, ...}.
 */
static const char outbox_sweep_lua[] =
        "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))\n"
        "local out = {}\n"
        "for _, id in ipairs(ids) do\n"
        "  local items = redis.call('HGETALL', 'imgflow:{' .. id .. '}:outbox')\n"
        "  if #items == 0 then\n"
        "    redis.call('ZREM', KEYS[1], id)\n"
        "  else\n"
        "    redis.call('ZADD', KEYS[1], ARGV[2], id)\n"
        "    table.insert(out, id)\n"
        "    table.insert(out, items)\n"
        "  end\n"
        "end\n"
        "return out\n";

/*
 * outbox_ack: KEYS 1 imgflow:outbox-pending, then imgflow:{id}:outbox of
 * each acked item; ARGV a pair (exec id, item id) per item, in the order
 * of the keys. One call acks the items of many executions (the delivery
 * reports of one loop iteration). Returns how many items were there.
 */
static const char outbox_ack_lua[] =
        "local n = 0\n"
        "for i = 2, #KEYS do\n"
        "  n = n + redis.call('HDEL', KEYS[i], ARGV[2 * i - 2])\n"
        "  if redis.call('HLEN', KEYS[i]) == 0 then redis.call('ZREM', KEYS[1], ARGV[2 * i - 3]) end\n"
        "end\n"
        "return n\n";

static const StoreScript store_scripts[_STORE_SCRIPT_MAX] = {
        [STORE_SCRIPT_EXEC_COMMIT] = { "exec_commit", exec_commit_lua },
        [STORE_SCRIPT_SM_PUT] = { "sm_put", sm_put_lua },
        [STORE_SCRIPT_SM_DELETE] = { "sm_delete", sm_delete_lua },
        [STORE_SCRIPT_TIMERS_CLAIM] = { "timers_claim", timers_claim_lua },
        [STORE_SCRIPT_TIMERS_RECLAIM] = { "timers_reclaim", timers_reclaim_lua },
        [STORE_SCRIPT_OUTBOX_SWEEP] = { "outbox_sweep", outbox_sweep_lua },
        [STORE_SCRIPT_OUTBOX_ACK] = { "outbox_ack", outbox_ack_lua },
};

const StoreScript *store_script(StoreScriptId id) {
        if ((unsigned) id >= _STORE_SCRIPT_MAX)
                return NULL;
        return &store_scripts[id];
}
