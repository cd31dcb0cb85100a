#!/bin/bash
# SPDX-License-Identifier: MIT
# EXPRESS state machines and StartSyncExecution through the CLI, on the
# whole system of ops-stack.sh (redis-server, Kafka, imgflow-coordinator,
# imgflow-worker; loopback only):
#
#   - create-state-machine --type EXPRESS with a loggingConfiguration (level
#     ALL, no execution data); describe-state-machine shows both; an
#     EXPRESS definition with '.waitForTaskToken' or an activity is refused
#     with Step Functions' message, a bad level with
#     InvalidLoggingConfiguration;
#   - start-sync-execution of a 5-task test.echo chain answers SUCCEEDED
#     with the output, dates and billingDetails, and nothing of the
#     execution is in Redis; its history events are on imgflow.logs,
#     without input or output; a failing one answers FAILED with the
#     task's error and cause; a STANDARD machine is refused with
#     StateMachineTypeNotSupported;
#   - start-execution of an EXPRESS machine answers at once, runs in memory
#     and its ExecutionSucceeded is on imgflow.logs;
#   - kill -9: the coordinator dies while an execution waits for a slow
#     task (test.sleep); a new coordinator consumes the start again (its
#     offset was not committed), runs the execution from the start, and the
#     waiting start-sync-execution gets SUCCEEDED;
#   - billedMemoryUsedInMB: 64 for a small execution, 128 for a Map of 80
#     iterations that each hold a 200 KB input at once (Step Functions'
#     estimate: 50 MB + definition + the data held, in 64 MB steps);
#   - starts answer an "imgflow:express:<machine>:<name>:<run id>" ARN, as
#     Step Functions' "express:" ARNs; describe-execution,
#     get-execution-history, stop-execution, redrive-execution and
#     list-map-runs of it, and StopExecution and RedriveExecution messages
#     naming it, are refused with InvalidArn and Step Functions' text;
#     list-executions of an EXPRESS machine with StateMachineTypeNotSupported;
#   - stop-execution of an EXPRESS execution by <machine>:<name>, running (in
#     the memory of the coordinator that got the stop) or ended (in no
#     memory), is refused with Step Functions' InvalidArn and its text, a
#     STANDARD one that does not exist with ExecutionDoesNotExist;
#   - two coordinators, one partition of each topic each: 16 executions
#     started (keyed by name) and their results (replyTo) reach the
#     coordinator that holds each, all SUCCEEDED, with at most 4 running on
#     each coordinator ([coordinator] express_max_in_flight: the jobs partitions
#     pause, not the results);
#   - [coordinator] express_duration_max = 3s on a new coordinator: an
#     execution waiting 60 s ends TIMED_OUT with States.Timeout after 3 s,
#     what the waiting start-sync-execution gets, and its ExecutionTimedOut
#     is on imgflow.logs; a value over 300s stops the coordinator with a
#     clear error.
#
#   test-express.sh MOCK_KAFKA COORDINATOR WORKER IMGFLOW SOURCE_ROOT
set -u
MOCK=$1 COORD=$2 WORKER=$3 IMGFLOW=$4 SRC=$5
# Few executions at once: the 16 below pass the bound, whose pause must
# hold back starts only, not the results the running ones wait for.
EXTRA_CONF="[coordinator]
max_in_flight = 8
express_max_in_flight = 4"
. "$SRC/tests/integration/ops-stack.sh"

ok() { echo "ok: $*"; }
# cli ARGS...: imgflow with the test's configuration, bounded in time.
OUT=$TMP/out ERR=$TMP/err RC=0
cli() {
        timeout 150 "$IMGFLOW" "$@" --config "$CONF" >"$OUT" 2>"$ERR"
        RC=$?
}
# check TITLE PYTHON-ASSERTIONS (on j, the JSON of $OUT)
check() {
        python3 - "$OUT" "$2" <<'PY' || { cat "$OUT" "$ERR"; fail "$1"; }
import json, sys
j = json.load(open(sys.argv[1]))
exec(sys.argv[2])
PY
        ok "$1"
}

start_coordinator
start_worker
wait_for 60 grep -q '^READY=1' "$TMP/coordinator.notify" || fail "no READY=1 from the coordinator"
wait_for 60 grep -q '^READY=1' "$TMP/worker.notify" || fail "no READY=1 from the worker"

chain() { # chain N RESOURCE-OF-THE-LAST: N tasks, test.echo but the last
        python3 - "$1" "$2" <<'PY'
import json, sys
n, last = int(sys.argv[1]), sys.argv[2]
st = {}
for i in range(n):
    st["T%d" % i] = {"Type": "Task", "Resource": "imgflow:test.echo" if i < n - 1 else last}
    if i < n - 1:
        st["T%d" % i]["Next"] = "T%d" % (i + 1)
    else:
        st["T%d" % i]["End"] = True
print(json.dumps({"StartAt": "T0", "States": st}))
PY
}
LOGGING='{"level":"ALL","includeExecutionData":false,"destinations":[{"cloudWatchLogsLogGroup":{"logGroupArn":"arn:aws:logs:us-east-1:1:log-group:x:*"}}]}'

# --- types and validation ---
cli create-state-machine --name fast --type EXPRESS --definition "$(chain 5 imgflow:test.echo)" \
        --logging-configuration "$LOGGING"
[ $RC = 0 ] || { cat "$ERR"; fail "create-state-machine --type EXPRESS"; }
cli describe-state-machine --name fast
check "describe-state-machine: EXPRESS with its logging configuration" '
assert j["type"] == "EXPRESS", j
assert j["loggingConfiguration"]["level"] == "ALL" and j["loggingConfiguration"]["includeExecutionData"] is False, j'
cli list-state-machines
check "list-state-machines: fast is EXPRESS" '
assert [m["type"] for m in j["stateMachines"] if m["name"] == "fast"] == ["EXPRESS"], j'
cli create-state-machine --name callback --type EXPRESS \
        --definition '{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage.waitForTaskToken","End":true}}}'
[ $RC = 1 ] && grep -q "Express state machine does not support '.waitForTaskToken' service integration" "$ERR" ||
        { cat "$ERR"; fail "an EXPRESS machine with .waitForTaskToken was not refused"; }
ok "EXPRESS with .waitForTaskToken refused"
cli create-state-machine --name act --type EXPRESS \
        --definition '{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:us-east-1:1:activity:a","End":true}}}'
[ $RC = 1 ] && grep -q "Express state machine does not support Activity ARN" "$ERR" ||
        { cat "$ERR"; fail "an EXPRESS machine with an activity was not refused"; }
ok "EXPRESS with an activity refused"
cli create-state-machine --name badlog --type EXPRESS --definition "$(chain 1 imgflow:test.echo)" \
        --logging-configuration '{"level":"LOUD"}'
[ $RC = 1 ] && grep -q "InvalidLoggingConfiguration" "$ERR" || { cat "$ERR"; fail "level LOUD was not refused"; }
ok "logging level LOUD refused"
cli create-state-machine --name std --definition "$(chain 1 imgflow:test.echo)"
[ $RC = 0 ] || fail "create-state-machine std"
cli create-state-machine --name failing --type EXPRESS --definition "$(chain 3 imgflow:test.fail)"
[ $RC = 0 ] || fail "create-state-machine failing"

# --- StartSyncExecution ---
cli start-sync-execution --state-machine fast --name s1 --input '{"n":7}'
[ $RC = 0 ] || { cat "$ERR"; fail "start-sync-execution"; }
check "start-sync-execution: SUCCEEDED with output, dates and billing" '
assert j["status"] == "SUCCEEDED", j
assert json.loads(j["output"])["n"] == 7, j
assert j["executionArn"].startswith("imgflow:express:fast:s1:") and len(j["executionArn"]) == 16 + 8 + 36, j
assert j["name"] == "s1", j
assert j["startDate"] <= j["stopDate"], j
b = j["billingDetails"]
assert b["billedDurationInMilliseconds"] >= 100 and b["billedDurationInMilliseconds"] % 100 == 0, b
assert b["billedMemoryUsedInMB"] == 64, b'
n=$(redis-cli -p "$RPORT" --scan --pattern 'imgflow:{fast:*' | wc -l)
[ "$n" = 0 ] || fail "$n Redis keys of express executions"
ok "no Redis key of the express execution"
S1=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["executionArn"])' "$OUT")

kcat -C -b "$BOOT" -t imgflow.logs -e -q >"$TMP/logs.jsonl" 2>/dev/null
python3 - "$TMP/logs.jsonl" "$S1" <<'PY' || fail "imgflow.logs (above)"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
mine = [r for r in recs if r["execution_arn"] == sys.argv[2]]
types = [r["type"] for r in mine]
print(types)
assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded", types
assert types.count("TaskStateEntered") == 5 and types.count("TaskSucceeded") == 5, types
for r in mine:
    assert "input" not in r["details"] and "output" not in r["details"], r
    assert r["id"] and "previous_event_id" in r and r["event_timestamp"], r
PY
ok "history events on imgflow.logs, without execution data"

# Memory: Step Functions bills 50 MB + definition + the execution data held
# at once, in 64 MB steps: 80 iterations at once, each holding a 200 KB
# input (ItemSelector), hold 16 MB: 66 MB, billed 128.
cli create-state-machine --name wide --type EXPRESS --definition '{"StartAt":"M","States":{"M":{"Type":"Map",
"ItemsPath":"$.items","MaxConcurrency":80,"ItemSelector":{"big.$":"$.big","n.$":"$$.Map.Item.Value"},
"ItemProcessor":{"ProcessorConfig":{"Mode":"INLINE"},"StartAt":"E","States":{"E":{"Type":"Task",
"Resource":"imgflow:test.echo","Parameters":{"n.$":"$.n"},"ResultPath":null,"OutputPath":"$.n","End":true}}},
"OutputPath":"$.ns","ResultPath":"$.ns","End":true}}}'
[ $RC = 0 ] || { cat "$ERR"; fail "create-state-machine wide"; }
python3 -c 'import json; print(json.dumps({"big": "x" * 200000, "items": list(range(80))}))' >"$TMP/wide.json"
cli start-sync-execution --state-machine wide --name m1 --input "file://$TMP/wide.json"
[ $RC = 0 ] || { cat "$ERR"; fail "start-sync-execution of wide"; }
check "start-sync-execution: 80 iterations of 200 KB at once are billed 128 MB" '
assert j["status"] == "SUCCEEDED" and json.loads(j["output"]) == list(range(80)), j.get("status")
assert j["billingDetails"]["billedMemoryUsedInMB"] == 128, j["billingDetails"]'
grep -E 'Express execution wide:m1 SUCCEEDED \(memory [0-9]+ bytes' "$TMP/coordinator.log" | tail -1

# StopExecution: Step Functions cannot stop an Express execution and
# refuses its ARN; so does every coordinator, whether or not it holds it.
cli stop-execution --execution-arn fast:s1
[ $RC = 1 ] && grep -q "An error occurred (InvalidArn) when calling the StopExecution operation: Invalid Arn: 'Resource type not valid in this context: express'" "$ERR" ||
        { cat "$OUT" "$ERR"; fail "stop-execution of an ended EXPRESS execution was not refused with InvalidArn"; }
ok "stop-execution of an ended EXPRESS execution: InvalidArn"
# The express: ARN its start answered: every operation on an execution
# refuses it with Step Functions' InvalidArn and text, in the CLI and on Kafka.
for verb in describe-execution get-execution-history stop-execution redrive-execution list-map-runs; do
        cli $verb --execution-arn "$S1"
        [ $RC = 1 ] && grep -q "(InvalidArn) when calling the .* operation: Invalid Arn: 'Resource type not valid in this context: express'" "$ERR" ||
                { cat "$OUT" "$ERR"; fail "$verb of an EXPRESS execution's ARN was not refused with InvalidArn"; }
done
ok "describe-execution, get-execution-history, stop-execution, redrive-execution, list-map-runs of $S1: InvalidArn"
for t in StopExecution RedriveExecution; do
        printf '{"v":1,"type":"%s","executionId":"%s","requestId":"req-x-%s"}\n' "$t" "$S1" "$t" |
                kcat -P -b "$BOOT" -t imgflow.jobs -k fast:s1 2>>"$TMP/kcat.err"
done
for t in StopExecution RedriveExecution; do
        wait_for 60 sh -c "redis-cli -p $RPORT get 'imgflow:response:{req-x-$t}' | grep -q '\"error\":\"InvalidArn\"'" ||
                fail "Kafka $t of an express: ARN: $(redis-cli -p "$RPORT" get "imgflow:response:{req-x-$t}")"
        redis-cli -p "$RPORT" get "imgflow:response:{req-x-$t}" |
                grep -qF "\"cause\":\"Invalid Arn: 'Resource type not valid in this context: express'\"" ||
                fail "Kafka $t: not Step Functions' text"
done
ok "StopExecution and RedriveExecution messages naming an express: ARN: InvalidArn with Step Functions' text"
cli list-executions --state-machine fast
[ $RC = 1 ] && grep -q "(StateMachineTypeNotSupported) when calling the ListExecutions operation: This operation is not supported by this type of state machine" "$ERR" ||
        { cat "$OUT" "$ERR"; fail "list-executions of an EXPRESS machine"; }
ok "list-executions of an EXPRESS machine: StateMachineTypeNotSupported"
cli list-executions --state-machine std
[ $RC = 0 ] || { cat "$ERR"; fail "list-executions of a STANDARD machine"; }
cli stop-execution --execution-arn std:nothing
[ $RC = 1 ] && grep -q "ExecutionDoesNotExist" "$ERR" ||
        { cat "$OUT" "$ERR"; fail "stop-execution of a missing STANDARD execution"; }
ok "stop-execution of a missing STANDARD execution: ExecutionDoesNotExist"

cli start-sync-execution --state-machine failing --name f1
[ $RC = 0 ] || { cat "$ERR"; fail "start-sync-execution of a failing machine"; }
check "start-sync-execution: FAILED with error and cause" '
assert j["status"] == "FAILED", j
assert j["error"] and "cause" in j and "output" not in j, j'

# A Wait and the execution's TimeoutSeconds: timers of the coordinator's loop.
cli create-state-machine --name waits --type EXPRESS --definition \
        '{"TimeoutSeconds":2,"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":1,"Next":"Long"},"Long":{"Type":"Wait","Seconds":30,"End":true}}}'
[ $RC = 0 ] || { cat "$ERR"; fail "create-state-machine waits"; }
cli start-sync-execution --state-machine waits --name w1
[ $RC = 0 ] || { cat "$ERR"; fail "start-sync-execution of waits"; }
check "start-sync-execution: a Wait, then TimeoutSeconds 2: TIMED_OUT with States.Timeout" '
assert j["status"] == "TIMED_OUT" and j["error"] == "States.Timeout", j'

cli start-sync-execution --state-machine std --name x1
[ $RC = 1 ] && grep -q "StateMachineTypeNotSupported" "$ERR" || { cat "$OUT" "$ERR"; fail "STANDARD was not refused"; }
ok "start-sync-execution of a STANDARD machine: StateMachineTypeNotSupported"

cli start-execution --state-machine fast --name a1
[ $RC = 0 ] || { cat "$ERR"; fail "start-execution of an EXPRESS machine"; }
check "start-execution of an EXPRESS machine answers with its express: ARN" '
assert j["executionArn"].startswith("imgflow:express:fast:a1:"), j'
A1=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["executionArn"])' "$OUT")
wait_for 60 sh -c "kcat -C -b $BOOT -t imgflow.logs -e -q 2>/dev/null |
        grep -q '\"execution_arn\":\"$A1\".*' &&
        kcat -C -b $BOOT -t imgflow.logs -e -q 2>/dev/null | grep '$A1' | grep -q ExecutionSucceeded" ||
        fail "no ExecutionSucceeded of fast:a1 on imgflow.logs"
ok "asynchronous EXPRESS execution succeeded (imgflow.logs)"

# --- kill -9 mid-execution: it runs again from the start ---
cli create-state-machine --name slow --type EXPRESS --definition \
        '{"StartAt":"Sleep","States":{"Sleep":{"Type":"Task","Resource":"imgflow:test.sleep","Parameters":{"ms":4000},"Next":"Echo"},"Echo":{"Type":"Task","Resource":"imgflow:test.echo","End":true}}}'
[ $RC = 0 ] || { cat "$ERR"; fail "create-state-machine slow"; }
timeout 150 "$IMGFLOW" start-sync-execution --state-machine slow --name k1 --timeout 120 --config "$CONF" \
        >"$TMP/k1.out" 2>"$TMP/k1.err" &
SYNC_PID=$!
wait_for 60 grep -q 'Started express execution slow:k1' "$TMP/coordinator.log" ||
        fail "the slow execution did not start"
wait_for 30 grep -q 'Dispatched task .* execution_id=slow:k1 ' "$TMP/coordinator.log" || fail "no task of slow:k1 dispatched"
cli stop-execution --execution-arn imgflow:execution:slow:k1
[ $RC = 1 ] && grep -q "(InvalidArn) when calling the StopExecution operation: Invalid Arn: 'Resource type not valid in this context: express'" "$ERR" ||
        { cat "$OUT" "$ERR"; fail "stop-execution of a running EXPRESS execution was not refused with InvalidArn"; }
ok "stop-execution of a running EXPRESS execution: InvalidArn"
kill9_coordinator
ok "coordinator killed (-9) while slow:k1 runs"
sed -i 's/Started express execution slow:k1/(before the kill) started slow:k1/' "$TMP/coordinator.log"
start_coordinator
wait_for 90 grep -q 'Started express execution slow:k1' "$TMP/coordinator.log" ||
        fail "the new coordinator did not run slow:k1 again"
ok "the new coordinator runs slow:k1 again from the start"
wait "$SYNC_PID"
RC=$?
[ $RC = 0 ] || { cat "$TMP/k1.out" "$TMP/k1.err"; fail "start-sync-execution across the kill: exit $RC"; }
cp "$TMP/k1.out" "$OUT"
check "start-sync-execution across a kill -9: SUCCEEDED" '
assert j["status"] == "SUCCEEDED", j'

# --- two coordinators: results reach the one that holds the execution ---
# Starts are keyed by name, results by execution id: without replyTo a
# result lands on the other coordinator's partition about half the time.
env IMGFLOW_LOG_TARGET=console ${DAEMON_ENV:-} "$COORD" --config "$CONF" >>"$TMP/coordinator2.log" 2>&1 &
COORD2_PID=$!
PIDS+=($!)
wait_for 60 grep -q 'partition(s) assigned' "$TMP/coordinator2.log" || fail "the second coordinator got no partition"
sync_pids=()
for i in $(seq 0 15); do
        timeout 150 "$IMGFLOW" start-sync-execution --state-machine fast --name "p$i" --input "{\"i\":$i}" \
                --timeout 60 --config "$CONF" >"$TMP/p$i.out" 2>"$TMP/p$i.err" &
        sync_pids+=($!)
done
for i in $(seq 0 15); do
        wait "${sync_pids[$i]}" || { cat "$TMP/p$i.out" "$TMP/p$i.err"; fail "start-sync-execution p$i"; }
        grep -q '"status": "SUCCEEDED"' "$TMP/p$i.out" || { cat "$TMP/p$i.out"; fail "p$i did not succeed"; }
done
c1=$(grep -c 'Started express execution fast:p' "$TMP/coordinator.log")
c2=$(grep -c 'Started express execution fast:p' "$TMP/coordinator2.log")
ok "16 executions over two coordinators all SUCCEEDED ($c1 and $c2 started on each)"
[ "$c1" -gt 0 ] && [ "$c2" -gt 0 ] || fail "one coordinator ran every execution: $c1 / $c2"
# Held at once by each coordinator, from its log's starts and ends.
for log in "$TMP/coordinator.log" "$TMP/coordinator2.log"; do
        most=$(grep -E 'Started express execution fast:p|Express execution fast:p[0-9]+ |Partitions revoked' "$log" |
                awk '/revoked/ {n = 0; next} /Started/ {n++} !/Started/ {n--} n > m {m = n} END {print m + 0}')
        [ "$most" -ge 1 ] && [ "$most" -le 4 ] ||
                fail "$(basename "$log"): $most EXPRESS executions held at once, express_max_in_flight is 4"
        ok "$(basename "$log"): at most $most EXPRESS executions held at once (express_max_in_flight = 4)"
done
cat "$TMP/coordinator2.log" >>"$TMP/coordinator.log" # for check_sanitizers

# --- the 5-minute limit, shortened by [coordinator] express_duration_max ---
stop_coordinators() {
        local p
        for p in "$COORD_PID" "$COORD2_PID"; do
                own_pid "$p" && kill -TERM "$p"
        done
        for p in "$COORD_PID" "$COORD2_PID"; do
                [ -n "$p" ] && wait "$p" 2>/dev/null
        done
        COORD_PID=
}
stop_coordinators
cp "$CONF" "$TMP/over.conf"
printf '[coordinator]\nexpress_duration_max = 301s\n' >>"$TMP/over.conf"
timeout 60 env IMGFLOW_LOG_TARGET=console "$COORD" --config "$TMP/over.conf" >"$TMP/over.log" 2>&1
[ $? != 0 ] && grep -q 'coordinator.express_duration_max must be whole seconds from 1s to 300s' "$TMP/over.log" ||
        { cat "$TMP/over.log"; fail "express_duration_max = 301s was not refused"; }
ok "express_duration_max over 300s refused"
printf '[coordinator]\nexpress_duration_max = 3s\n' >>"$CONF"
cli create-state-machine --name long --type EXPRESS --logging-configuration '{"level":"ERROR"}' --definition \
        '{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":60,"End":true}}}'
[ $RC = 0 ] || { cat "$ERR"; fail "create-state-machine long"; }
start_coordinator
cli start-sync-execution --state-machine long --name t1 --timeout 120
[ $RC = 0 ] || { cat "$OUT" "$ERR"; fail "start-sync-execution of long"; }
check "express_duration_max = 3s: a 60 s Wait ends TIMED_OUT with States.Timeout after 3 s" '
assert j["status"] == "TIMED_OUT" and j["error"] == "States.Timeout", j
from datetime import datetime
d = lambda k: datetime.fromisoformat(j[k].replace("Z", "+00:00")).timestamp()
assert 3 <= d("stopDate") - d("startDate") < 30, j'
wait_for 30 sh -c "kcat -C -b $BOOT -t imgflow.logs -e -q 2>/dev/null | grep 'imgflow:express:long:t1:' | grep -q ExecutionTimedOut" ||
        fail "no ExecutionTimedOut of long:t1 on imgflow.logs"
ok "ExecutionTimedOut of long:t1 on imgflow.logs"

check_sanitizers
echo "PASS"
