#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A Task state's TimeoutSeconds shorter than its Lambda function's Timeout,
# on the running system (coordinator, imgflow-lambda, Kafka, Redis): Step
# Functions times the state out (States.Timeout; the history has
# LambdaFunctionTimedOut for a function ARN); imgflow-lambda kills the
# handler at the same deadline rather than letting it run its Timeout out,
# and does not answer the task (its Sandbox.Timedout would race the
# coordinator's timer, and reached the coordinator first with Apache Kafka),
# so the function's one runtime is free for the next execution at once
# (which a handler still sleeping its 60 s would keep busy past that
# execution's own TimeoutSeconds).
#
#   test-lambda-timeout.sh MOCK_KAFKA COORDINATOR IMGFLOW SRCDIR LAMBDA
set -u

MOCK=$1 COORD=$2 IMGFLOW=$3 SRC=$4 LAMBDA=$5
MOCK_TOPICS=imgflow.tasks.lambda:2
. "$SRC/tests/integration/cli-stack.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || { echo "$PY missing: skipped"; exit 77; }

cat >"$TMP/functions.json" <<JSON
{"functions": [
 {"name": "Slow", "runtime": "python3.11", "handler": "app.slow", "codeUri": "$SRC/tests/integration/lambda/py",
  "timeout": 120, "concurrency": 1}
]}
JSON
cat >>"$CONF" <<CONF
[resources]
Slow = pool:lambda
[lambda]
functions = $TMP/functions.json
runtime_dir = $SRC/worker/lambda
python = $PY
s3_endpoint = http://127.0.0.1:9
CONF
ARN=arn:aws:lambda:eu-west-1:111122223333:function:Slow
for t in 10 60; do
        cat >"$TMP/slow-$t.json" <<JSON
{"StartAt": "Resize", "States": {"Resize": {"Type": "Task", "Resource": "$ARN", "TimeoutSeconds": $t,
  "End": true}}}
JSON
done
# The history's event types (LambdaFunctionStarted left out: the worker
# reports a start with its first heartbeat, after worker.heartbeat_interval,
# so a task that ends sooner has none).
HISTORY="ExecutionStarted TaskStateEntered LambdaFunctionScheduled LambdaFunctionTimedOut ExecutionFailed"
TYPES='" ".join(e["type"] for e in j["events"] if e["type"] != "LambdaFunctionStarted")'

start_coordinator
wait_coordinator_ready || exit 1
env IMGFLOW_LOG_TARGET=console "$LAMBDA" --config "$CONF" --instance 1 >>"$TMP/lambda.log" 2>&1 &
WORKER_PID=$!
wait_for 30 grep -qs "partition(s) assigned" "$TMP/lambda.log" || { fail "imgflow-lambda not ready"; tail "$TMP/lambda.log"; }
for t in 10 60; do
        cli create-state-machine --name "slow-$t" --definition "$TMP/slow-$t.json"
        expect_rc "create-state-machine slow-$t" 0
done

# TimeoutSeconds 10 < Timeout 120: the handler would sleep 60 s. (10 s: the
# task must reach imgflow-lambda before its deadline, which took 2.5 s with
# Apache Kafka on a loaded machine; a task that arrives later is dropped
# unrun, which is right too but not what this shows.)
cli start-execution --state-machine slow-10 --name late --input '{"seconds": 60}'
expect_rc "start late" 0
wait_status slow-10:late FAILED 60
cli describe-execution --execution-arn slow-10:late
expect_eq "late: error" "$(json_get "$OUT" 'j.get("error")')" States.Timeout
cli get-execution-history --execution-arn slow-10:late
expect_eq "late: history" "$(json_get "$OUT" "$TYPES")" "$HISTORY"
if wait_for 30 grep -qs "Function Slow timed out after .* (the task's deadline); its runtime was killed" "$TMP/lambda.log"; then
        ok "imgflow-lambda killed the handler at the task's deadline: $(grep -o "Function Slow timed out after [0-9.]* s" "$TMP/lambda.log")"
else
        fail "no kill at the task's deadline in imgflow-lambda's log"
fi
grep -q "Task stopped at its deadline (Sandbox.Timedout); not answered" "$TMP/lambda.log" &&
        ok "imgflow-lambda did not answer the timed-out task" || fail "imgflow-lambda answered the timed-out task"

# The one runtime of Slow is free: the next execution runs now, well within
# its 60 s (the first handler's sleep would have held it for 60 s).
cli start-execution --state-machine slow-60 --name next --input '{"seconds": 0}'
expect_rc "start next" 0
wait_status slow-60:next SUCCEEDED 60
cli describe-execution --execution-arn slow-60:next
expect_eq "next: output" "$(json_get "$OUT" 'json.loads(j["output"])["slept"]')" 0
# Still the same history once the function's runtime has run "next".
cli get-execution-history --execution-arn slow-10:late
expect_eq "late: history afterwards" "$(json_get "$OUT" "$TYPES")" "$HISTORY"

stop_pid "$WORKER_PID" 10
WORKER_PID=
stop_coordinator
[ "$FAILS" = 0 ] || { echo "--- imgflow-lambda"; tail -30 "$TMP/lambda.log"; exit 1; }
