#!/bin/bash
# SPDX-License-Identifier: MIT
#
# imgflow-coordinator end to end, on loopback only: a redis-server on a free
# port, Kafka (tests/helpers/stack.sh), the coordinator and a test worker
# (test-coordinator-worker). Definitions are registered with the store
# library (test-coordinator-tool); jobs are published with kcat. Checks that
# executions finish with the right outputs for Pass/Choice/Fail, Wait,
# Task, Retry, Catch, Parallel, Map, Lambda mapping, an unmapped resource,
# a callback by task token, a duplicate TaskSucceeded applied once, a
# request response, the DLQ, and 50 executions surviving a SIGKILL of the
# coordinator. Every process is started here and killed by pid.
#
#   test-coordinator.sh MOCK_KAFKA COORDINATOR WORKER TOOL SRCDIR
set -u

MOCK=$1 COORD=$2 WORKER=$3 TOOL=$4 SRC=$5
DEFS=$SRC/tests/integration/coordinator

. "$SRC/tests/helpers/stack.sh"
stack_init coordinator
start_infra --partitions 4 --topics imgflow.tasks.approvers:2

mkdir "$TMP/sm"
cp "$DEFS/pass-choice.asl.json" "$TMP/sm/from-dir.asl.json"
echo '{"StartAt":"X","States":{}}' >"$TMP/sm/broken.asl.json"
stack_conf <<EOF
[coordinator]
state_machines = $TMP/sm
metrics_listen = 127.0.0.1:0
[resources]
AddNumbers = add
EOF

# The coordinator runs as the Redis ACL user of deploy/redis-users.acl, its
# password a systemd-style credential ($CREDENTIALS_DIRECTORY), as the
# security guide deploys it: the whole test then shows that the role's
# rights are enough, and below that what it must not do is refused.
mkdir -m 0700 "$TMP/creds"
while read -r _ name rules; do
        pw=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
        printf '%s\n' "$pw" >"$TMP/creds/$name"
        # shellcheck disable=SC2086
        redis-cli -p "$RPORT" ACL SETUSER "$name" ${rules//<*-password>/$pw} >/dev/null ||
                fail "ACL SETUSER $name"
done < <(grep '^user ' "$SRC/deploy/redis-users.acl")
cp "$TMP/creds/imgflow-coordinator" "$TMP/creds/redis-password"
COORD_ENV="CREDENTIALS_DIRECTORY=$TMP/creds IMGFLOW_REDIS_USERNAME=imgflow-coordinator"
as_user() { # USER REDIS-COMMAND...
        local u=$1
        shift
        redis-cli -p "$RPORT" --no-auth-warning --user "$u" --pass "$(cat "$TMP/creds/$u")" "$@" 2>&1
}
for c in "FLUSHALL" "CONFIG GET maxmemory" "GET otherapp:key"; do
        # shellcheck disable=SC2086
        case $(as_user imgflow-coordinator $c) in
        NOPERM*) ok "imgflow-coordinator may not $c" ;;
        *) fail "imgflow-coordinator ran $c" ;;
        esac
done
case $(as_user imgflow-cli HSET 'imgflow:{m:e}:exec' status SUCCEEDED) in
NOPERM*) ok "imgflow-cli may not write an execution" ;;
*) fail "imgflow-cli wrote an execution" ;;
esac
[ "$(as_user imgflow-cli SET imgflow:sm:acl-check 1)" = OK ] && ok "imgflow-cli writes the registry" ||
        fail "imgflow-cli cannot write the registry"
redis-cli -p "$RPORT" DEL imgflow:sm:acl-check >/dev/null

# --- definitions ---
for d in pass-choice wait-task retry-catch parallel-map unmapped callback timeout-stop; do
        "$TOOL" "$RPORT" register "$d" "$DEFS/$d.asl.json" >/dev/null || fail "register $d"
done

"$WORKER" "$BOOT" >"$TMP/worker.log" 2>&1 &
PIDS+=($!)
start_coordinator
# The coordinator connected as its ACL user, the password read from the
# credential (an empty one would have logged in as the default user).
if wait_for 30 sh -c "redis-cli -p $RPORT CLIENT LIST | grep -q 'user=imgflow-coordinator'"; then
        ok "the coordinator is connected as imgflow-coordinator"
else
        fail "no connection as imgflow-coordinator: $(redis-cli -p "$RPORT" CLIENT LIST | head -3)"
fi
# Publish once the worker owns its partitions (its group join can be slow).
wait_for 60 grep -qs 'assigned [1-9]' "$TMP/worker.log" || echo "warning: the test worker has no partitions yet"

job() { # name sm input [requestId]
        local msg
        if [ -n "${4:-}" ]; then
                msg="{\"v\":1,\"type\":\"StartExecution\",\"stateMachine\":\"$2\",\"name\":\"$1\",\"input\":$3,\"requestId\":\"$4\"}"
        else
                msg="{\"v\":1,\"type\":\"StartExecution\",\"stateMachine\":\"$2\",\"name\":\"$1\",\"input\":$3}"
        fi
        printf '%s\n' "$msg" | kcat -P -b "$BOOT" -t imgflow.jobs -k "$1" 2>>"$TMP/kcat.err"
}

expect() { # execId expected-line timeout
        local got
        echo "$(date +%T) waiting for $1"
        got=$("$TOOL" "$RPORT" wait "$1" "${3:-30}")
        if [ "$got" = "$2" ]; then ok "$1: $got"; else fail "$1: got '$got', expected '$2'"; fi
}

job big pass-choice '{"size":200}' req-big
job small pass-choice '{"size":5}'
job w1 wait-task '{"n":1}'
job dup wait-task '{"duplicate":true}'
job retry retry-catch '{"failTimes":2}'
job catch retry-catch '{"failTimes":5}'
job pm parallel-map '{"x":10,"items":[{"a":1,"b":2},{"a":3,"b":4}]}'
job um unmapped '{}'
job cb callback '{}'
job slow timeout-stop '{"mode":"slow","sleepMs":2500}'
job long timeout-stop '{"mode":"long"}'
# Undecodable: goes to the dead-letter topic, the consumer carries on.
printf '%s\n' '{"v":1,"type":"StartExecution"' | kcat -P -b "$BOOT" -t imgflow.jobs -k junk 2>>"$TMP/kcat.err"
job after-junk pass-choice '{"size":300}'
job fd from-dir '{"size":101}'

expect pass-choice:big 'SUCCEEDED {"class":"big","meta":{"kind":"photo"},"size":200}' 60
expect pass-choice:small 'FAILED "Too.Small"'
expect wait-task:w1 'SUCCEEDED {"echoed":{"n":1},"n":1}'
expect wait-task:dup 'SUCCEEDED {"duplicate":true,"echoed":{"duplicate":true}}'
expect retry-catch:retry 'SUCCEEDED {"ok":2}' 60
expect retry-catch:catch 'SUCCEEDED {"caught":{"Cause":"failing on purpose","Error":"Test.Failure"},"failTimes":5,"status":"recovered"}' 60
expect parallel-map:pm 'SUCCEEDED {"items":[{"a":1,"b":2},{"a":3,"b":4}],"mapped":[3.0,7.0],"parallel":[11.0,12.0],"x":10}'
expect unmapped:um 'SUCCEEDED "States.TaskFailed"'
expect callback:cb 'SUCCEEDED {"who":"tester"}'
expect pass-choice:after-junk 'SUCCEEDED {"class":"big","meta":{"kind":"photo"},"size":300}'

expect timeout-stop:slow 'SUCCEEDED "States.Timeout"'
expect from-dir:fd 'SUCCEEDED {"class":"big","meta":{"kind":"photo"},"size":101}'
grep -q 'broken.asl.json: /States' "$TMP/coordinator.log" && ok "invalid definition in the directory refused" ||
        fail "broken.asl.json was not refused with a pointer"

# Prometheus metrics.
mport=$(sed -n 's/.*Serving metrics on .* (port \([0-9]*\)).*/\1/p' "$TMP/coordinator.log" | head -1)
metrics=$(python3 -c "import urllib.request,sys; print(urllib.request.urlopen('http://127.0.0.1:$mport/metrics', timeout=5).read().decode())" 2>&1)
case "$metrics" in
*"imgflow_coordinator_executions_started_total "[1-9]*) ok "metrics on port $mport" ;;
*) fail "metrics: $metrics" ;;
esac

# StopExecution of a waiting execution, with a response.
printf '%s\n' '{"v":1,"type":"StopExecution","executionId":"timeout-stop:long","error":"User.Stop","cause":"test","requestId":"req-stop"}' |
        kcat -P -b "$BOOT" -t imgflow.jobs -k timeout-stop:long 2>>"$TMP/kcat.err"
expect timeout-stop:long 'ABORTED "User.Stop"'
resp=$("$TOOL" "$RPORT" response req-stop 10)
case "$resp" in
*'"ok":true'*StopExecutionResponse*) ok "stop response: $resp" ;;
*) fail "stop response: $resp" ;;
esac
n=$(redis-cli -p "$RPORT" zcard imgflow:timers)
[ "$n" = 0 ] && ok "no timers left behind" || fail "timers left: $n"

# StartExecution again with the same name and input while it runs: the
# original execution is the answer (same start date).
job long2 timeout-stop '{"mode":"long"}' req-l1
r1=$("$TOOL" "$RPORT" response req-l1 20)
job long2 timeout-stop '{"mode":"long"}' req-l2
r2=$("$TOOL" "$RPORT" response req-l2 20)
d1=$(printf '%s' "$r1" | sed -n 's/.*"startDate":\([0-9]*\).*/\1/p')
d2=$(printf '%s' "$r2" | sed -n 's/.*"startDate":\([0-9]*\).*/\1/p')
case "$r2" in
*'"ok":true'*) [ -n "$d1" ] && [ "$d1" = "$d2" ] && ok "idempotent StartExecution (startDate $d1)" ||
                fail "idempotent start: '$r1' vs '$r2'" ;;
*) fail "idempotent start: $r2" ;;
esac
printf '%s\n' '{"v":1,"type":"StopExecution","executionId":"timeout-stop:long2"}' |
        kcat -P -b "$BOOT" -t imgflow.jobs -k timeout-stop:long2 2>>"$TMP/kcat.err"
expect timeout-stop:long2 'ABORTED null'

# Each topic takes only its own kinds: a start or a stop on the events topic
# (which workers write) and a task result on the jobs topic are dead
# letters and change nothing.
job long3 timeout-stop '{"mode":"long"}' req-l3
"$TOOL" "$RPORT" response req-l3 20 >/dev/null
printf '%s\n' '{"v":1,"type":"StartExecution","stateMachine":"pass-choice","name":"onevents","input":{"size":1}}' |
        kcat -P -b "$BOOT" -t imgflow.events -k pass-choice:onevents 2>>"$TMP/kcat.err"
printf '%s\n' '{"v":1,"type":"StopExecution","executionId":"timeout-stop:long3"}' |
        kcat -P -b "$BOOT" -t imgflow.events -k timeout-stop:long3 2>>"$TMP/kcat.err"
printf '%s\n' '{"v":1,"type":"TaskSucceeded","executionId":"timeout-stop:long3","taskId":"1","attempt":0,"output":{}}' |
        kcat -P -b "$BOOT" -t imgflow.jobs -k timeout-stop:long3 2>>"$TMP/kcat.err"
refused() {
        [ "$(timeout 10 kcat -C -b "$BOOT" -t imgflow.dlq -o beginning -e 2>/dev/null |
                grep -c 'is not accepted on imgflow\.')" -ge 3 ]
}
if wait_for 60 refused; then
        ok "start and stop on the events topic, a result on the jobs topic: dead letters"
else
        fail "dead letters for the wrong topics: $(timeout 10 kcat -C -b "$BOOT" -t imgflow.dlq -o beginning -e 2>/dev/null | grep -c 'not accepted')"
fi
n=$(redis-cli -p "$RPORT" exists 'imgflow:{pass-choice:onevents}:exec')
[ "$n" = 0 ] && ok "no execution started from the events topic" || fail "started from the events topic: $n"
n=$("$TOOL" "$RPORT" count-history timeout-stop:long3 ExecutionAborted)
[ "$n" = 0 ] && ok "no execution stopped from the events topic" || fail "stopped from the events topic: $n"
printf '%s\n' '{"v":1,"type":"StopExecution","executionId":"timeout-stop:long3"}' |
        kcat -P -b "$BOOT" -t imgflow.jobs -k timeout-stop:long3 2>>"$TMP/kcat.err"
expect timeout-stop:long3 'ABORTED null'

# The duplicate TaskSucceeded was applied once.
sleep 1
n=$("$TOOL" "$RPORT" count-history wait-task:dup TaskSucceeded)
[ "$n" = "1" ] && ok "duplicate TaskSucceeded applied once" || fail "TaskSucceeded events for dup: $n"
n=$("$TOOL" "$RPORT" count-history retry-catch:retry TaskFailed)
[ "$n" = "2" ] && ok "two failed attempts before success" || fail "TaskFailed events for retry: $n"

# The answer to the request is in Redis.
resp=$("$TOOL" "$RPORT" response req-big 10)
case "$resp" in
*'"executionId":"pass-choice:big"'*'"ok":true'*) ok "response: $resp" ;;
*) fail "response: $resp" ;;
esac

# Starting it again with the same name and input is idempotent (no new
# execution), with another input it is refused.
job big pass-choice '{"size":999}' req-big2
resp=$("$TOOL" "$RPORT" response req-big2 20)
case "$resp" in
*ExecutionAlreadyExists*) ok "same name, other input: ExecutionAlreadyExists" ;;
*) fail "same name, other input: $resp" ;;
esac

echo "$(date +%T) dead letters"
# The dead letter.
dlq=$(timeout 20 kcat -C -b "$BOOT" -t imgflow.dlq -o beginning -e 2>/dev/null | grep '"key":"junk"')
case "$dlq" in
*DeadLetter*imgflow.jobs*) ok "undecodable job in the DLQ" ;;
*) fail "DLQ: '$dlq'" ;;
esac

# Status notifications were published (RUNNING + terminal for each).
notes=$(timeout 20 kcat -C -b "$BOOT" -t imgflow.notifications -o beginning -e 2>/dev/null | grep -c 'pass-choice:big#')
[ "$notes" -ge 2 ] && ok "notifications for pass-choice:big: $notes" || fail "notifications: $notes"

# jobs_many SM PREFIX N INPUT-FIELDS: N executions PREFIX1..PREFIXN of SM in
# one batch, input {"i": i, INPUT-FIELDS}; their ids in the array ids.
jobs_many() {
        local i
        ids=()
        for i in $(seq 1 "$3"); do
                printf '{"v":1,"type":"StartExecution","stateMachine":"%s","name":"%s%d","input":{"i":%d,%s}}\n' \
                        "$1" "$2" "$i" "$i" "$4"
                ids+=("$1:$2$i")
        done >"$TMP/jobs.txt"
        kcat -P -b "$BOOT" -t imgflow.jobs <"$TMP/jobs.txt" 2>>"$TMP/kcat.err"
}

# expect_all WHAT: every execution in ids SUCCEEDED (bounded wait).
expect_all() {
        local out good
        out=$("$TOOL" "$RPORT" wait-all 120 "${ids[@]}")
        good=$(printf '%s\n' "$out" | grep -c '^SUCCEEDED')
        [ "$good" = ${#ids[@]} ] && ok "${#ids[@]} executions finished $1" ||
                { fail "$1: $good of ${#ids[@]}"; printf '%s\n' "$out" | grep -v '^SUCCEEDED' | head; }
}

jobs_many parallel-map spread 10 '"x":1,"items":[{"a":1,"b":2},{"a":3,"b":4}]'
expect_all "with 4 tasks each"
# Task messages are keyed by "<execution id>/<task id>", so the tasks of one execution
# spread over the tasks topic's 4 partitions: 10 executions of 4 tasks each
# (2 branches, 2 items), all on one partition would be a chance of 64^-10.
timeout 60 kcat -C -b "$BOOT" -t imgflow.tasks -o beginning -e -q -f '%p %k %s\n' >"$TMP/tasks.txt" 2>/dev/null
spread=$(python3 - "$TMP/tasks.txt" <<'PY'
import json, sys
bad, parts = 0, {}
for line in open(sys.argv[1]):
    p, k, payload = line.rstrip("\n").split(" ", 2)
    try:
        m = json.loads(payload)
    except ValueError:
        continue
    if m.get("type") != "Task":
        continue
    bad += k != "%s/%s" % (m["executionId"], m["taskId"])
    parts.setdefault(m["executionId"], set()).add(p)
multi = [e for e in parts if e.startswith("parallel-map:spread")]
print(bad, sum(1 for e in multi if len(parts[e]) > 1), len(multi))
PY
)
read -r badkeys spreadexec twoexec <<<"$spread"
[ "$badkeys" = 0 ] && ok "every task message keyed by execution and task id" ||
        fail "task messages not keyed by execution and task id: $badkeys"
[ "${spreadexec:-0}" -gt 0 ] && ok "tasks of one execution on several partitions: $spreadexec of $twoexec executions" ||
        fail "no execution's tasks on more than one partition ($twoexec executions)"

# --- crash in the middle of 50 executions ---
jobs_many wait-task k 50 '"sleepMs":20'
sleep 1.5
kill9_coordinator
echo "$(date +%T) coordinator killed; restarting"
start_coordinator
expect_all "after a SIGKILL"

# Graceful stop.
stop_coordinator() {
        local rc
        stop_pid "$COORD_PID" 10
        rc=$?
        COORD_PID=
        case $rc in
        0) ok "SIGTERM: clean exit" ;;
        124) fail "coordinator did not stop on SIGTERM" ;;
        *) fail "SIGTERM exit code $rc" ;;
        esac
}
stop_coordinator

# Committed but never dispatched (the coordinator died between its commit
# and the broker's acknowledgement): the outbox sweeper sends the task.
"$TOOL" "$RPORT" start-no-dispatch retry-catch lost '{"failTimes":0}' >/dev/null || fail "start-no-dispatch"
start_coordinator
expect retry-catch:lost 'SUCCEEDED {"ok":0}' 60
grep -q "Re-sending unacknowledged task:" "$TMP/coordinator.log" && ok "outbox sweeper re-sent the task" ||
        fail "no re-send in the log"

# Two coordinators share the partitions; one is killed in the middle of 40
# executions (tasks, retries, timers): the other takes its partitions over.
# shellcheck disable=SC2086
env IMGFLOW_LOG_TARGET=console $COORD_ENV "$COORD" --config "$CONF" >>"$TMP/coordinator2.log" 2>&1 &
COORD2_PID=$!
PIDS+=("$COORD2_PID")
wait_for 20 grep -qs 'partition(s) assigned' "$TMP/coordinator2.log"
sleep 1
jobs_many retry-catch two 40 '"failTimes":1'
sleep 0.7
kill9_coordinator
COORD_PID=$COORD2_PID
echo "$(date +%T) one of two coordinators killed"
expect_all "with one of two coordinators killed"
for i in 1 17 40; do
        expect "retry-catch:two$i" 'SUCCEEDED {"ok":1}' 5
done
stop_coordinator

if [ $FAILS -gt 0 ]; then
        echo "--- coordinator log (tail) ---"; tail -40 "$TMP/coordinator.log"
        echo "--- worker log (tail) ---"; tail -10 "$TMP/worker.log"
        exit 1
fi
exit 0
