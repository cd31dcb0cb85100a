#!/bin/bash
# SPDX-License-Identifier: MIT
# History events of Task states and resource checks at creation, on the
# whole system of ops-stack.sh (redis-server, Kafka, imgflow-coordinator,
# imgflow-worker):
#
#   - the "ops" machine's Lambda function ARNs (Validate, Resize) record
#     LambdaFunctionScheduled, LambdaFunctionStarted and LambdaFunctionSucceeded
#     with Step Functions' details; its imgflow:test.echo Task records
#     TaskScheduled, TaskStarted and TaskSucceeded; each started event names
#     the worker that ran the task (workerName);
#   - a Task that runs longer than worker.heartbeat_interval without
#     HeartbeatSeconds has its TaskStarted (with the worker) in the history
#     while it still runs: the worker reports its start once;
#   - a definition in [coordinator] state_machines whose Task maps to
#     nothing is refused when the coordinator registers it, naming the
#     state and the resource, and so is create-state-machine's
#     (InvalidDefinition); a mapped one is created.
#
#   test-history-events.sh MOCK_KAFKA COORDINATOR WORKER IMGFLOW SOURCE_ROOT
set -u
MOCK=$1 COORD=$2 WORKER=$3 IMGFLOW=$4 SRC=$5
EXTRA_CONF="[worker]
heartbeat_interval = 1s"
. "$SRC/tests/integration/ops-stack.sh"

cat >"$TMP/sm/slow.asl.json" <<'JSON'
{"StartAt": "Sleep", "States": {"Sleep": {"Type": "Task", "Resource": "imgflow:test.sleep",
  "Parameters": {"ms": 8000}, "End": true}}}
JSON

cat >"$TMP/sm/unmapped.asl.json" <<'JSON'
{"StartAt": "Call", "States": {"Call": {"Type": "Task",
  "Resource": "arn:aws:lambda:us-east-1:123456789012:function:Unknown", "End": true}}}
JSON

start_coordinator
start_worker
wait_for 60 grep -qs 'State machine ops version' "$TMP/coordinator.log" || fail "ops was not registered"
# The coordinator registers the directory's files one by one: wait for its
# word on unmapped.asl.json before reading it.
wait_for 30 grep -qs 'unmapped.asl.json' "$TMP/coordinator.log" || fail "no word on unmapped.asl.json"
if grep -q "unmapped.asl.json: /States/Call/Resource: State 'Call': Resource 'arn:aws:lambda:us-east-1:123456789012:function:Unknown' maps to nothing" "$TMP/coordinator.log"; then
        ok "the coordinator refuses a state_machines definition whose Task maps to nothing"
else
        fail "unmapped.asl.json not refused with its state and resource: $(grep unmapped "$TMP/coordinator.log")"
fi
[ -z "$(redis-cli -p "$RPORT" EXISTS imgflow:sm:unmapped | grep -v '^0$')" ] || fail "unmapped was registered"

# create-state-machine with the same configuration
if "$IMGFLOW" create-state-machine --config "$CONF" --name unmapped2 \
        --definition "file://$TMP/sm/unmapped.asl.json" >"$TMP/create.out" 2>"$TMP/create.err"; then
        fail "create-state-machine took an unmapped resource: $(cat "$TMP/create.out")"
fi
if grep -q "An error occurred (InvalidDefinition) when calling the CreateStateMachine operation: Invalid State Machine Definition: '/States/Call/Resource: State 'Call': Resource 'arn:aws:lambda:us-east-1:123456789012:function:Unknown' maps to nothing" "$TMP/create.err"; then
        ok "create-state-machine refuses a Task that maps to nothing (InvalidDefinition)"
else
        fail "create-state-machine's error: $(cat "$TMP/create.err")"
fi
"$IMGFLOW" create-state-machine --config "$CONF" --name ops2 --definition "file://$TMP/sm/ops.asl.json" \
        >"$TMP/create.out" 2>"$TMP/create.err" || fail "create-state-machine of a mapped one: $(cat "$TMP/create.err")"
ok "create-state-machine takes Tasks that [resources] maps"

wait_for 60 grep -Eqs 'Kafka: [1-9][0-9]* partition\(s\) assigned' "$TMP/worker.log" || echo "warning: the worker has no partitions yet"
start_execution h1
wait_execution h1 SUCCEEDED 60

redis-cli -p "$RPORT" LRANGE 'imgflow:{ops:h1}:history' 0 -1 >"$TMP/history.json"
if python3 - "$TMP/history.json" "$(hostname):1" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
worker = sys.argv[2]
types = [e["type"] for e in ev]
want = ["LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded"]
assert [t for t in types if t.startswith("LambdaFunction")] == want * 2, types
assert [t for t in types if t.startswith("Task") and not t.startswith("TaskState")] == \
    ["TaskScheduled", "TaskStarted", "TaskSucceeded"], types
sched = [e["lambdaFunctionScheduledEventDetails"] for e in ev if e["type"] == "LambdaFunctionScheduled"]
assert sched[0]["resource"] == "arn:aws:lambda:us-east-1:123456789012:function:ValidateImage", sched
assert json.loads(sched[0]["input"]) == {"bucket": "photos", "key": "raw/good.png"}, sched
assert sched[0]["inputDetails"] == {"truncated": False}, sched
for e in ev:
    if e["type"] == "LambdaFunctionStarted":
        assert e["lambdaFunctionStartedEventDetails"] == {"workerName": worker}, e
    if e["type"] == "TaskStarted":
        assert e["taskStartedEventDetails"] == {"resourceType": "task", "resource": "imgflow:test.echo",
                                                "workerName": worker}, e
    if e["type"] == "LambdaFunctionSucceeded":
        d = e["lambdaFunctionSucceededEventDetails"]
        assert set(d) == {"output", "outputDetails"} and json.loads(d["output"]), d
# each started event lies between its scheduling and its result
for i, t in enumerate(types):
    if t.endswith("Started") and not t.endswith("StateStarted") and t != "ExecutionStarted":
        assert ev[i - 1]["timestamp"] <= ev[i]["timestamp"] <= ev[i + 1]["timestamp"], ev[i - 1:i + 2]
PY
then
        ok "history: LambdaFunction* events for Lambda ARNs, Task* for the rest, started events name the worker"
else
        fail "history of ops:h1: $(cat "$TMP/history.json")"
fi
# A long task without HeartbeatSeconds: TaskStarted while it runs.
printf '%s|{"v":1,"type":"StartExecution","stateMachine":"slow","name":"s1","input":{}}\n' slow:s1 | publish_jobs
history_has_started() {
        redis-cli -p "$RPORT" LRANGE 'imgflow:{slow:s1}:history' 0 -1 | grep -q '"type":"TaskStarted"'
}
if wait_for 30 history_has_started; then
        st=$(redis-cli -p "$RPORT" HGET 'imgflow:{slow:s1}:exec' status)
        [ "$st" = RUNNING ] && ok "a long task's TaskStarted is in the history while it runs" ||
                fail "TaskStarted of slow:s1 came only with its end ($st)"
        redis-cli -p "$RPORT" LRANGE 'imgflow:{slow:s1}:history' 0 -1 | grep '"type":"TaskStarted"' |
                grep -q "\"workerName\":\"$(hostname):1\"" || fail "slow:s1's TaskStarted names no worker"
else
        fail "no TaskStarted for slow:s1: $(redis-cli -p "$RPORT" LRANGE 'imgflow:{slow:s1}:history' 0 -1)"
fi
wait_for 30 sh -c "[ \"\$(redis-cli -p $RPORT HGET 'imgflow:{slow:s1}:exec' status)\" = SUCCEEDED ]" ||
        fail "slow:s1 did not succeed"
n=$(redis-cli -p "$RPORT" LRANGE 'imgflow:{slow:s1}:history' 0 -1 | grep -c '"type":"TaskStarted"')
[ "$n" = 1 ] && ok "one TaskStarted for it" || fail "$n TaskStarted events for slow:s1"
check_sanitizers
exit 0
