#!/bin/bash
# Runs pool-worker.sh against Kafka on loopback (deploy/local-stack.sh through
# tests/helpers/stack.sh): Tasks on imgflow.tasks.shell must be answered on
# imgflow.events (TaskSucceeded with the output, TaskFailed for a failing and
# an unknown operation, nothing for a task past its deadline).
#   test-pool-worker.sh MOCK_KAFKA   (its build directory has the programs)
set -u
MOCK=$1
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../../tests/helpers/stack.sh"
stack_init pool-worker
T=$TMP
fail() { echo "FAIL: $*"; echo "--- worker"; cat "$T/worker.log"; exit 1; }

start_infra --partitions 2 --topics imgflow.tasks.shell:2
BS=$BOOT

KAFKA_BOOTSTRAP=$BS POOL=shell WORKER_ID=shell-test "$HERE/pool-worker.sh" >"$T/worker.log" 2>&1 &
WPID=$!
PIDS+=("$WPID")

python3 - >"$T/tasks.txt" <<'PY'
import json, time
now = int(time.time() * 1000)
def task(n, op, inp, **kw):
    m = {"v": 1, "type": "Task", "executionId": "e-%d" % n, "executionName": "n-%d" % n,
         "stateMachine": "sm", "state": "S", "taskId": "t-%d" % n, "attempt": 1,
         "resource": "arn:aws:lambda:eu-west-1:1:function:" + op, "operation": op, "input": inp,
         "deadlineMs": 0, "heartbeatSeconds": 0, "dispatchedAtMs": now}
    m.update(kw)
    print("e-%d|%s" % (n, json.dumps(m)))
task(1, "Uppercase", {"text": "hello pool"})
task(2, "WordCount", {"text": "one two three"})
task(3, "Fail", {"error": "Shell.Boom", "cause": "as asked"})
task(4, "Nope", {})
task(5, "Uppercase", {"text": "late"}, deadlineMs=now - 1000)
print("e-6|not json")
task(7, "Uppercase", {"text": "after the bad one"})
PY
kcat -P -b "$BS" -t imgflow.tasks.shell -K '|' <"$T/tasks.txt" || fail "produce"

check() {
        kcat -C -b "$BS" -t imgflow.events -o beginning -e -q -f '%k\t%s\n' 2>/dev/null >"$T/events.txt"
        python3 - "$T/events.txt" <<'PY'
import json, sys
ev = {}
for line in open(sys.argv[1]):
    if "\t" not in line:
        continue
    key, payload = line.rstrip("\n").split("\t", 1)
    m = json.loads(payload)
    assert key == m["executionId"], (key, m)
    ev.setdefault(m["taskId"], []).append(m)
need = ["t-1", "t-2", "t-3", "t-4", "t-7"]
if not all(t in ev for t in need):
    sys.exit(1)
def one(t):
    assert len(ev[t]) == 1, ev[t]
    m = ev[t][0]
    assert m["v"] == 1 and m["attempt"] == 1 and m["workerId"] == "shell-test", m
    return m
m = one("t-1"); assert m["type"] == "TaskSucceeded" and m["output"] == {"text": "HELLO POOL"}, m
m = one("t-2"); assert m["type"] == "TaskSucceeded" and m["output"] == {"words": 3}, m
m = one("t-3"); assert m["type"] == "TaskFailed" and (m["error"], m["cause"]) == ("Shell.Boom", "as asked"), m
m = one("t-4"); assert m["type"] == "TaskFailed" and m["error"] == "Worker.UnknownOperation", m
m = one("t-7"); assert m["output"] == {"text": "AFTER THE BAD ONE"}, m
assert "t-5" not in ev, "the expired task was answered"
print("pool worker: %d answers ok" % len(ev))
PY
}
i=0
until check 2>"$T/check.err"; do
        i=$((i + 1))
        [ $i -lt 60 ] || fail "no complete answers: $(cat "$T/check.err")"
        grep -q AssertionError "$T/check.err" && fail "$(cat "$T/check.err")"
        sleep 0.5
done
kill -TERM "$WPID"
i=0; while kill -0 "$WPID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
kill -0 "$WPID" 2>/dev/null && fail "pool-worker.sh did not stop on SIGTERM"
echo PASS
