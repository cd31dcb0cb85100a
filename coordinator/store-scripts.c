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
 *       executions: added on create and on reopen, removed when terminal)
 * ARGV: 1 expected version (0 = create), 2 ops JSON, 3 the document,
 *       then ops.historyN history events, then one value per id of
 *       ops.outbox, then one item per name of ops.activities (in that
 *       order): an item is appended to imgflow:activity:<name>:tasks.
 *       Map Runs (ops.mapRunsNew, mapRunFields, mapRunFailures) are keys
 *       of the execution's hash tag built here (imgflow:{id}:maprun:<run>)
 *       and imgflow:maprun:<run>; they expire and persist with the rest.
 * Returns {"ok", newVersion} | {"conflict", version} | {"missing", 0} |
 *         {"exists", 1 if same input and RUNNING else 0, startDate}.
 */
static const char exec_commit_lua[] =
        "local exec, hist, outbox, toks, xtimers = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]\n"
        "local index, timers, claimed, pending = KEYS[6], KEYS[7], KEYS[8], KEYS[9]\n"
        "local expected = tonumber(ARGV[1])\n"
        "local ops = cjson.decode(ARGV[2])\n"
        "local id = ops.execId\n"
        "local mrp = 'imgflow:{' .. id .. '}:'\n"
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
        "  if ops.childOf then\n"
        "    redis.call('ZADD', 'imgflow:maprun:' .. ops.childOf .. ':executions', c.startDate, id)\n"
        "  else\n"
        "    redis.call('ZADD', index, c.startDate, id)\n"
        "  end\n"
        "  redis.call('SADD', KEYS[10], id)\n"
        "else\n"
        "  local v = redis.call('HGET', exec, 'version')\n"
        "  if not v then return {'missing', 0} end\n"
        "  if tonumber(v) ~= expected then return {'conflict', tonumber(v)} end\n"
        "end\n"
        "if ops.reopen then\n"
        "  redis.call('SADD', KEYS[10], id)\n"
        "  redis.call('PERSIST', exec)\n"
        "  redis.call('PERSIST', hist)\n"
        "  redis.call('PERSIST', outbox)\n"
        "  redis.call('HDEL', exec, 'stopDate', 'output', 'error', 'cause')\n"
        "  for _, r in ipairs(redis.call('LRANGE', mrp .. 'mapruns', 0, -1)) do\n"
        "    redis.call('PERSIST', mrp .. 'maprun:' .. r)\n"
        "    redis.call('PERSIST', mrp .. 'maprun:' .. r .. ':failures')\n"
        "    redis.call('PERSIST', 'imgflow:maprun:' .. r)\n"
        "    redis.call('PERSIST', 'imgflow:maprun:' .. r .. ':executions')\n"
        "  end\n"
        "  redis.call('PERSIST', mrp .. 'mapruns')\n"
        "end\n"
        "local nv = expected + 1\n"
        "redis.call('HSET', exec, 'doc', ARGV[3], 'version', nv, 'status', ops.status)\n"
        "for _, f in ipairs(ops.fieldsDel or {}) do redis.call('HDEL', exec, f) end\n"
        "for _, f in ipairs(ops.fields or {}) do redis.call('HSET', exec, f[1], f[2]) end\n"
        "for _, r in ipairs(ops.mapRunsNew or {}) do\n"
        "  redis.call('RPUSH', mrp .. 'mapruns', r)\n"
        "  redis.call('SET', 'imgflow:maprun:' .. r, id)\n"
        "end\n"
        "local mr = {}\n"
        "for _, f in ipairs(ops.mapRunFields or {}) do\n"
        "  local t = mr[f[1]]\n"
        "  if not t then t = {}; mr[f[1]] = t end\n"
        "  t[#t + 1] = f[2]; t[#t + 1] = f[3]\n"
        "end\n"
        "for r, t in pairs(mr) do redis.call('HSET', mrp .. 'maprun:' .. r, unpack(t)) end\n"
        "for _, f in ipairs(ops.mapRunFailures or {}) do\n"
        "  local k = mrp .. 'maprun:' .. f[1] .. ':failures'\n"
        "  if redis.call('LLEN', k) < 1000 then redis.call('RPUSH', k, f[2]) end\n"
        "end\n"
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
        "local no = #(ops.outbox or {})\n"
        "for k, o in ipairs(ops.outbox or {}) do redis.call('HSET', outbox, o, ARGV[3 + nh + k]) end\n"
        "for k, a in ipairs(ops.activities or {}) do\n"
        "  redis.call('RPUSH', 'imgflow:activity:' .. a .. ':tasks', ARGV[3 + nh + no + k])\n"
        "end\n"
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
        "  for _, tok in ipairs(redis.call('HVALS', toks)) do redis.call('DEL', 'imgflow:token:' .. tok) "
        "end\n"
        "  redis.call('DEL', toks)\n"
        "  for _, t in ipairs(redis.call('SMEMBERS', xtimers)) do\n"
        "    redis.call('ZREM', timers, id .. '|' .. t)\n"
        "    redis.call('ZREM', claimed, id .. '|' .. t)\n"
        "  end\n"
        "  redis.call('DEL', xtimers)\n"
        "  redis.call('EXPIRE', exec, ttl)\n"
        "  redis.call('EXPIRE', hist, ttl)\n"
        "  redis.call('EXPIRE', outbox, ttl)\n"
        "  for _, r in ipairs(redis.call('LRANGE', mrp .. 'mapruns', 0, -1)) do\n"
        "    redis.call('EXPIRE', mrp .. 'maprun:' .. r, ttl)\n"
        "    redis.call('EXPIRE', mrp .. 'maprun:' .. r .. ':failures', ttl)\n"
        "    redis.call('EXPIRE', 'imgflow:maprun:' .. r, ttl)\n"
        "    redis.call('EXPIRE', 'imgflow:maprun:' .. r .. ':executions', ttl)\n"
        "  end\n"
        "  redis.call('EXPIRE', mrp .. 'mapruns', ttl)\n"
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
 * ARGV: 1 name, 2 definition, 3 now ms, 4 mode "create" | "update",
 *       5 the role ARN to keep with it ("" = none / unchanged),
 *       6 the type, STANDARD or EXPRESS, kept at creation ("" = STANDARD),
 *       7 the logging configuration's JSON ("" = none / unchanged)
 * Returns {"ok", version, createdAt} | {"same", version, createdAt} (create,
 *         identical latest of the same type) | {"exists", version} |
 *         {"missing", 0}.
 */
static const char sm_put_lua[] =
        "local latest = redis.call('HGET', KEYS[1], 'latestVersion')\n"
        "local ty = (ARGV[6] and ARGV[6] ~= '') and ARGV[6] or 'STANDARD'\n"
        "if ARGV[4] == 'create' and latest then\n"
        "  if redis.call('GET', KEYS[1] .. ':v' .. latest) == ARGV[2] and\n"
        "     (redis.call('HGET', KEYS[1], 'type') or 'STANDARD') == ty then\n"
        "    return {'same', tonumber(latest), redis.call('HGET', KEYS[1], 'createdAt')}\n"
        "  end\n"
        "  return {'exists', tonumber(latest)}\n"
        "end\n"
        "if ARGV[4] == 'update' and not latest then return {'missing', 0} end\n"
        "local v = (tonumber(latest) or 0) + 1\n"
        "redis.call('SET', KEYS[1] .. ':v' .. v, ARGV[2])\n"
        "redis.call('PERSIST', KEYS[1] .. ':v' .. v)\n"
        "if not latest then redis.call('HSET', KEYS[1], 'createdAt', ARGV[3], 'type', ty) end\n"
        "if ARGV[7] and ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'logging', ARGV[7]) end\n"
        "redis.call('HSET', KEYS[1], 'name', ARGV[1], 'latestVersion', v, 'updatedAt', ARGV[3])\n"
        "if ARGV[5] and ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'roleArn', ARGV[5]) end\n"
        "redis.call('SADD', KEYS[2], ARGV[1])\n"
        "return {'ok', v, redis.call('HGET', KEYS[1], 'createdAt')}\n";

/*
 * sm_describe: one version of a machine with the machine's fields.
 * KEYS: 1 imgflow:sm:<name>; ARGV: 1 version (0 = the latest)
 * Returns {"ok", version, latestVersion, createdAt, updatedAt, roleArn,
 * definition, type, logging} (strings "" where the machine's hash is gone:
 * a deleted machine's versions stay for the retention) | {"missing"}.
 */
static const char sm_describe_lua[] =
        "local h = redis.call('HMGET', KEYS[1], 'latestVersion', 'createdAt', 'updatedAt',\n"
        "                     'roleArn', 'type', 'logging')\n"
        "local v = tonumber(ARGV[1])\n"
        "if v == 0 then\n"
        "  if not h[1] then return {'missing'} end\n"
        "  v = tonumber(h[1])\n"
        "end\n"
        "local def = redis.call('GET', KEYS[1] .. ':v' .. v)\n"
        "if not def then return {'missing'} end\n"
        "return {'ok', v, h[1] or '', h[2] or '', h[3] or '', h[4] or '', def, h[5] or '', h[6] or ''}\n";

/*
 * sm_set_role: KEYS 1 imgflow:sm:<name>; ARGV 1 role ARN. Returns 1, or 0
 * when there is no such machine.
 */
static const char sm_set_role_lua[] =
        "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
        "redis.call('HSET', KEYS[1], 'roleArn', ARGV[1])\n"
        "return 1\n";

/*
 * sm_list: a page of the machines, by name.
 * KEYS: 1 imgflow:sms; ARGV: 1 the last name of the previous page ("" =
 * from the start), 2 limit
 * Returns {more (0/1), name, latestVersion, createdAt, updatedAt, type, ...}.
 */
static const char sm_list_lua[] =
        "local names = redis.call('SMEMBERS', KEYS[1])\n"
        "table.sort(names)\n"
        "local out, limit = {0}, tonumber(ARGV[2])\n"
        "for _, n in ipairs(names) do\n"
        "  if n > ARGV[1] then\n"
        "    local h = redis.call('HMGET', 'imgflow:sm:' .. n, 'latestVersion', 'createdAt', 'updatedAt', 'type')\n"
        "    if h[1] then\n"
        "      if (#out - 1) / 5 >= limit then out[1] = 1 break end\n"
        "      table.insert(out, n)\n"
        "      table.insert(out, h[1])\n"
        "      table.insert(out, h[2] or '0')\n"
        "      table.insert(out, h[3] or '0')\n"
        "      table.insert(out, h[4] or 'STANDARD')\n"
        "    end\n"
        "  end\n"
        "end\n"
        "return out\n";

/*
 * exec_history: a page of an execution's history, by event id.
 * KEYS: 1 history, 2 exec; ARGV: 1 the event id to start at (0 = the first,
 * or the last when reverse), 2 limit, 3 reverse ("0"/"1")
 * Returns {"ok", events...} with up to limit + 1 events (the extra one says
 * where the next page starts), oldest first also when reverse (the reader
 * turns them round) | {"missing"}. Ids are consecutive in the list (it is
 * only trimmed at the front), so an id is a position once the first id is
 * known.
 */
static const char exec_history_lua[] =
        "local n = redis.call('LLEN', KEYS[1])\n"
        "if n == 0 then\n"
        "  if redis.call('EXISTS', KEYS[2]) == 0 then return {'missing'} end\n"
        "  return {'ok'}\n"
        "end\n"
        "local first = tonumber(string.match(redis.call('LINDEX', KEYS[1], 0), '\"id\":(%d+)')) or 1\n"
        "local at, limit = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
        "local lo, hi\n"
        "if ARGV[3] == '0' then\n"
        "  lo = at > 0 and math.max(at - first, 0) or 0\n"
        "  hi = lo + limit\n"
        "else\n"
        "  hi = at > 0 and math.min(at - first, n - 1) or n - 1\n"
        "  if hi < 0 then return {'ok'} end\n"
        "  lo = math.max(hi - limit, 0)\n"
        "end\n"
        "local ev = redis.call('LRANGE', KEYS[1], lo, hi)\n"
        "table.insert(ev, 1, 'ok')\n"
        "return ev\n";

/*
 * exec_list: a page of executions, newest first.
 * KEYS: 1 imgflow:executions
 * ARGV: 1 state machine ("" = any), 2 its version ("" = any), 3 status
 *       ("" = any), 4 cursor score ("" = the newest), 5 cursor execution id,
 *       6 limit, 7 most index entries to look at, 8 "1": answer "missing"
 *       when the state machine does not exist, 9 the redrive filter
 *       ("" = any), 10 "1": answer "express" when the machine is EXPRESS
 * Returns {"done" | "more", {id, stateMachine, name, status, startDate,
 * stopDate, smVersion, redriveCount, redriveDate, itemCount ("" unless a
 * Map Run's child kept one), ...}, cursor score, cursor id} | {"missing"} |
 * {"express"}. The
 * cursor is the last entry looked at; the next page starts after it (an
 * entry of the same score comes after it when its id sorts before it, as
 * ZREVRANGEBYSCORE orders them). Expired executions are dropped from the
 * index as they are met.
 */
static const char exec_list_lua[] =
        "local sm, ver, st = ARGV[1], ARGV[2], ARGV[3]\n"
        "local limit, scan = tonumber(ARGV[6]), tonumber(ARGV[7])\n"
        "if ARGV[8] == '1' and sm ~= '' and redis.call('EXISTS', 'imgflow:sm:' .. sm) == 0 then\n"
        "  return {'missing'}\n"
        "end\n"
        "if ARGV[10] == '1' and sm ~= '' and\n"
        "   redis.call('HGET', 'imgflow:sm:' .. sm, 'type') == 'EXPRESS' then\n"
        "  return {'express'}\n"
        "end\n"
        "local max = ARGV[4] == '' and '+inf' or ARGV[4]\n"
        "local out, seen, offset, cs, ci = {}, 0, 0, ARGV[4], ARGV[5]\n"
        "while seen < scan do\n"
        "  local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], max, '-inf', 'WITHSCORES', 'LIMIT', offset, 200)\n"
        "  if #ids == 0 then return {'done', out, cs, ci} end\n"
        "  offset = offset + #ids / 2\n"
        "  for i = 1, #ids, 2 do\n"
        "    local id, score = ids[i], ids[i + 1]\n"
        "    if not (ARGV[4] ~= '' and score == ARGV[4] and id >= ARGV[5]) then\n"
        "      seen = seen + 1\n"
        "      local h = redis.call('HMGET', 'imgflow:{' .. id .. '}:exec', 'stateMachine', 'name', 'status',\n"
        "                           'startDate', 'stopDate', 'smVersion', 'redriveCount', 'redriveDate',\n"
        "                           'itemCount')\n"
        "      local redriven = (tonumber(h[7]) or 0) > 0\n"
        "      if not h[3] then\n"
        "        redis.call('ZREM', KEYS[1], id)\n"
        "        offset = offset - 1\n"
        "      elseif (sm == '' or h[1] == sm) and (ver == '' or h[6] == ver) and (st == '' or h[3] == st) and\n"
        "             (ARGV[9] == '' or (ARGV[9] == 'REDRIVEN') == redriven) then\n"
        "        if #out / 10 >= limit then return {'more', out, cs, ci} end\n"
        "        for _, v in ipairs({id, h[1], h[2], h[3], h[4] or '', h[5] or '', h[6] or '', h[7] or '0',\n"
        "                            h[8] or '', h[9] or ''}) do\n"
        "          table.insert(out, v)\n"
        "        end\n"
        "      end\n"
        "      cs, ci = score, id\n"
        "      if seen >= scan then break end\n"
        "    end\n"
        "  end\n"
        "end\n"
        "return {'more', out, cs, ci}\n";

/*
 * activity_create: KEYS 1 imgflow:activity:<name>, 2 imgflow:activities;
 * ARGV 1 name, 2 now ms. Idempotent by name. Returns {created (0/1),
 * createdAt}.
 */
static const char activity_create_lua[] =
        "local at = redis.call('HGET', KEYS[1], 'createdAt')\n"
        "if at then return {0, at} end\n"
        "redis.call('HSET', KEYS[1], 'name', ARGV[1], 'createdAt', ARGV[2])\n"
        "redis.call('ZADD', KEYS[2], 0, ARGV[1])\n"
        "return {1, ARGV[2]}\n";

/*
 * activity_list: KEYS 1 imgflow:activities; ARGV 1 the last name of the
 * previous page ("" = from the start), 2 limit. Returns {more (0/1), name,
 * createdAt, ...}, by name.
 */
static const char activity_list_lua[] =
        "local from = ARGV[1] == '' and '-' or '(' .. ARGV[1]\n"
        "local limit = tonumber(ARGV[2])\n"
        "local names = redis.call('ZRANGEBYLEX', KEYS[1], from, '+', 'LIMIT', 0, limit + 1)\n"
        "local out = {#names > limit and 1 or 0}\n"
        "for i = 1, math.min(#names, limit) do\n"
        "  table.insert(out, names[i])\n"
        "  table.insert(out, redis.call('HGET', 'imgflow:activity:' .. names[i], 'createdAt') or '0')\n"
        "end\n"
        "return out\n";

/*
 * activity_delete: KEYS 1 imgflow:activity:<name>, 2 its tasks, 3
 * imgflow:activities; ARGV 1 name. The queued tasks go with it (they time
 * out, as in Step Functions). Returns 1, or 0 when it was not there.
 */
static const char activity_delete_lua[] =
        "redis.call('DEL', KEYS[2])\n"
        "redis.call('ZREM', KEYS[3], ARGV[1])\n"
        "return redis.call('DEL', KEYS[1])\n";

/*
 * activity_claim: hand the oldest live task of an activity to one
 * GetActivityTask caller (docs/api.md, "Activities").
 * KEYS: 1 imgflow:activity:<name>:tasks, 2 imgflow:activity-leases,
 *       3 imgflow:activity-leased
 * ARGV: 1 name, 2 the delivery token, 3 lease expiry ms, 4 TTL of the
 *       delivery token's record (s), 5 most items looked at
 * Items are "<task token>\n<Task message>". An item whose task token is
 * closed or gone (the task timed out, the execution stopped) is dropped.
 * For a live one: the delivery token's record {"executionId","taskId",
 * "token": <task token>} is written, the item is leased (lease expiry in
 * KEYS[2] as "<name>|<delivery token>", the item in KEYS[3]) and the Task
 * message returned; nil when there is none.
 */
static const char activity_claim_lua[] =
        "for i = 1, tonumber(ARGV[5]) do\n"
        "  local item = redis.call('LPOP', KEYS[1])\n"
        "  if not item then return false end\n"
        "  local nl = string.find(item, '\\n', 1, true)\n"
        "  if nl then\n"
        "    local t = string.sub(item, 1, nl - 1)\n"
        "    local rec = redis.call('GET', 'imgflow:token:' .. t)\n"
        "    if rec then\n"
        "      local r = cjson.decode(rec)\n"
        "      if not r.closed then\n"
        "        redis.call('SET', 'imgflow:token:' .. ARGV[2],\n"
        "                   cjson.encode({executionId = r.executionId, taskId = r.taskId, token = t}),\n"
        "                   'EX', tonumber(ARGV[4]))\n"
        "        redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1] .. '|' .. ARGV[2])\n"
        "        redis.call('HSET', KEYS[3], ARGV[2], item)\n"
        "        return string.sub(item, nl + 1)\n"
        "      end\n"
        "    end\n"
        "  end\n"
        "end\n"
        "return false\n";

/*
 * activity_settle: the end of a lease.
 * KEYS: 1 imgflow:activity:<name>:tasks, 2 imgflow:activity-leases,
 *       3 imgflow:activity-leased
 * ARGV: 1 name, 2 the delivery token, 3 "ack" (the answer was written:
 *       the caller has the task) | "release" (it was not: the task goes back
 *       to the front of its queue and the delivery token is dropped)
 * Returns 1 when the lease was there.
 */
static const char activity_settle_lua[] =
        "local item = redis.call('HGET', KEYS[3], ARGV[2])\n"
        "redis.call('ZREM', KEYS[2], ARGV[1] .. '|' .. ARGV[2])\n"
        "redis.call('HDEL', KEYS[3], ARGV[2])\n"
        "if not item then return 0 end\n"
        "if ARGV[3] == 'release' then\n"
        "  redis.call('DEL', 'imgflow:token:' .. ARGV[2])\n"
        "  redis.call('LPUSH', KEYS[1], item)\n"
        "end\n"
        "return 1\n";

/*
 * activity_reclaim: leases that expired (the API process that held them
 * died before it could settle them). KEYS 1 imgflow:activity-leases, 2
 * imgflow:activity-leased; ARGV 1 now ms, 2 limit. Each task goes back to
 * the front of its queue; its delivery token is closed (TaskDoesNotExist),
 * since its answer may have reached a caller: the next caller gets a new
 * token, and only that one can complete the task. Returns the count.
 */
static const char activity_reclaim_lua[] =
        "local exp = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))\n"
        "for _, m in ipairs(exp) do\n"
        "  local bar = string.find(m, '|', 1, true)\n"
        "  local name, d = string.sub(m, 1, bar - 1), string.sub(m, bar + 1)\n"
        "  local item = redis.call('HGET', KEYS[2], d)\n"
        "  if item then redis.call('LPUSH', 'imgflow:activity:' .. name .. ':tasks', item) end\n"
        "  local rec = redis.call('GET', 'imgflow:token:' .. d)\n"
        "  if rec then\n"
        "    local r = cjson.decode(rec)\n"
        "    r.closed = 'TaskDoesNotExist'\n"
        "    redis.call('SET', 'imgflow:token:' .. d, cjson.encode(r), 'KEEPTTL')\n"
        "  end\n"
        "  redis.call('ZREM', KEYS[1], m)\n"
        "  redis.call('HDEL', KEYS[2], d)\n"
        "end\n"
        "return #exp\n";

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
 * ARGV 1 the leases' cutoff ms (now: the expired ones), 2 limit, 3 now ms
 * (optional: ARGV 1). Leases up to the cutoff go back, due now, unless the
 * timer was rescheduled meanwhile (ZADD NX). Returns the count.
 */
static const char timers_reclaim_lua[] =
        "local exp = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))\n"
        "local due = ARGV[3] or ARGV[1]\n"
        "for _, m in ipairs(exp) do\n"
        "  redis.call('ZREM', KEYS[2], m)\n"
        "  redis.call('ZADD', KEYS[1], 'NX', due, m)\n"
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

/*
 * map_run_describe: ARGV 1 run id. Returns {"ok", execId, {field, value,
 * ...}} | {"missing"}.
 */
static const char map_run_describe_lua[] =
        "local id = redis.call('GET', 'imgflow:maprun:' .. ARGV[1])\n"
        "if not id then return {'missing'} end\n"
        "local h = redis.call('HGETALL', 'imgflow:{' .. id .. '}:maprun:' .. ARGV[1])\n"
        "if #h == 0 then return {'missing'} end\n"
        "return {'ok', id, h}\n";

/*
 * map_run_list: ARGV 1 exec id, 2 offset, 3 limit. Returns {"ok", more
 * (0/1), {field, value, ...} per run} | {"missing"} (no such execution).
 */
static const char map_run_list_lua[] =
        "local k = 'imgflow:{' .. ARGV[1] .. '}:'\n"
        "if redis.call('EXISTS', k .. 'exec') == 0 then return {'missing'} end\n"
        "local off, lim = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
        "local ids = redis.call('LRANGE', k .. 'mapruns', off, off + lim)\n"
        "local out = {'ok', #ids > lim and 1 or 0}\n"
        "for i = 1, math.min(#ids, lim) do\n"
        "  out[#out + 1] = redis.call('HGETALL', k .. 'maprun:' .. ids[i])\n"
        "end\n"
        "return out\n";

/*
 * map_run_failures: ARGV 1 run id, 2 offset, 3 limit. Returns {"ok",
 * record...} | {"missing"}.
 */
static const char map_run_failures_lua[] =
        "local id = redis.call('GET', 'imgflow:maprun:' .. ARGV[1])\n"
        "if not id then return {'missing'} end\n"
        "local off = tonumber(ARGV[2])\n"
        "local l = redis.call('LRANGE', 'imgflow:{' .. id .. '}:maprun:' .. ARGV[1] .. ':failures',\n"
        "                     off, off + tonumber(ARGV[3]) - 1)\n"
        "table.insert(l, 1, 'ok')\n"
        "return l\n";

static const StoreScript store_scripts[_STORE_SCRIPT_MAX] = {
        [STORE_SCRIPT_EXEC_COMMIT] = {"exec_commit", exec_commit_lua},
        [STORE_SCRIPT_SM_PUT] = {"sm_put", sm_put_lua},
        [STORE_SCRIPT_SM_DELETE] = {"sm_delete", sm_delete_lua},
        [STORE_SCRIPT_TIMERS_CLAIM] = {"timers_claim", timers_claim_lua},
        [STORE_SCRIPT_TIMERS_RECLAIM] = {"timers_reclaim", timers_reclaim_lua},
        [STORE_SCRIPT_OUTBOX_SWEEP] = {"outbox_sweep", outbox_sweep_lua},
        [STORE_SCRIPT_OUTBOX_ACK] = {"outbox_ack", outbox_ack_lua},
        [STORE_SCRIPT_SM_DESCRIBE] = {"sm_describe", sm_describe_lua},
        [STORE_SCRIPT_SM_LIST] = {"sm_list", sm_list_lua},
        [STORE_SCRIPT_SM_SET_ROLE] = {"sm_set_role", sm_set_role_lua},
        [STORE_SCRIPT_EXEC_HISTORY] = {"exec_history", exec_history_lua},
        [STORE_SCRIPT_EXEC_LIST] = {"exec_list", exec_list_lua},
        [STORE_SCRIPT_ACTIVITY_CREATE] = {"activity_create", activity_create_lua},
        [STORE_SCRIPT_ACTIVITY_LIST] = {"activity_list", activity_list_lua},
        [STORE_SCRIPT_ACTIVITY_DELETE] = {"activity_delete", activity_delete_lua},
        [STORE_SCRIPT_ACTIVITY_CLAIM] = {"activity_claim", activity_claim_lua},
        [STORE_SCRIPT_ACTIVITY_SETTLE] = {"activity_settle", activity_settle_lua},
        [STORE_SCRIPT_ACTIVITY_RECLAIM] = {"activity_reclaim", activity_reclaim_lua},
        [STORE_SCRIPT_MAP_RUN_DESCRIBE] = {"map_run_describe", map_run_describe_lua},
        [STORE_SCRIPT_MAP_RUN_LIST] = {"map_run_list", map_run_list_lua},
        [STORE_SCRIPT_MAP_RUN_FAILURES] = {"map_run_failures", map_run_failures_lua},
};

const StoreScript *store_script(StoreScriptId id) {
        if ((unsigned) id >= _STORE_SCRIPT_MAX)
                return NULL;
        return &store_scripts[id];
}
