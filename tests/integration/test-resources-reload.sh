#!/bin/bash
# SPDX-License-Identifier: MIT
#
# [resources] reaches a running coordinator without a restart (SIGHUP, what
# `systemctl reload imgflow-coordinator` sends): a lambda:invoke Task whose
# FunctionName is mapped nowhere fails (States.TaskFailed, no mapping);
# once the file maps it and the coordinator got SIGHUP, the same Task runs
# on the worker and succeeds, with the same coordinator process. A file
# whose [resources] the coordinator would refuse at start is refused by the
# reload too (a log line naming the line) and the mapping loaded before
# keeps working; a file that no longer loads at all changes nothing.
# imgflow-api reloads the mapping its CreateStateMachine checks against: a
# definition naming a function mapped nowhere is InvalidDefinition until the
# file maps it and imgflow-api got SIGHUP (through boto3; that part is
# skipped without Debian's python3-boto3).
#
#   test-resources-reload.sh MOCK_KAFKA COORDINATOR IMGFLOW SRCDIR WORKER API
set -u

MOCK=$1 COORD=$2 IMGFLOW=$3 SRC=$4 WORKER=$5 API=$6
EXTRA_CONF='[resources]
OldFn = test.echo'
. "$SRC/tests/integration/cli-stack.sh"

cat >"$TMP/invoke.json" <<'JSON'
{"StartAt": "Invoke", "States": {"Invoke": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
  "Parameters": {"FunctionName.$": "$.fn", "Payload.$": "$"}, "End": true}}}
JSON

start_coordinator
wait_coordinator_ready || exit 1
env IMGFLOW_LOG_TARGET=console "$WORKER" --config "$CONF" --instance 1 >>"$TMP/worker.log" 2>&1 &
WORKER_PID=$!
wait_for 30 grep -qs "partition(s) assigned" "$TMP/worker.log" || { fail "worker not ready"; tail "$TMP/worker.log"; }
cli create-state-machine --name invoke --definition "$TMP/invoke.json"
expect_rc "create-state-machine (FunctionName from the input)" 0

run() { # NAME FUNCTION WANT-STATUS
        cli start-execution --state-machine invoke --name "$1" --input "{\"fn\": \"$2\"}"
        expect_rc "start $1 ($2)" 0 || return
        wait_status "invoke:$1" "$3" 60
}
# reload WHAT PATTERN: SIGHUP and wait for the coordinator's word on it.
reload() {
        local before
        before=$(grep -c "$2" "$TMP/coordinator.log")
        kill -HUP "$COORD_PID"
        if wait_for 20 sh -c "[ \$(grep -c '$2' '$TMP/coordinator.log') -gt $before ]"; then
                ok "$1: $(grep "$2" "$TMP/coordinator.log" | tail -1)"
        else
                fail "$1: no '$2' in the coordinator's log"; tail -5 "$TMP/coordinator.log"
        fi
}

run old-1 OldFn SUCCEEDED
run new-1 NewFn FAILED
cli describe-execution --execution-arn invoke:new-1
expect_eq "unmapped FunctionName: error" "$(json_get "$OUT" 'j.get("error")')" States.TaskFailed
grep -q "no mapping" "$OUT" && ok "unmapped FunctionName: the cause says no mapping" ||
        fail "cause: $(cat "$OUT")"

# The file maps NewFn now (a section may come again; the coordinator still
# runs with the start's file until SIGHUP).
printf '[resources]\nNewFn = test.echo\n' >>"$CONF"
reload "reload with NewFn mapped" "Reloaded: \[resources\] has 2 mappings (1 before)"
run new-2 NewFn SUCCEEDED
run old-2 OldFn SUCCEEDED

# A [resources] the coordinator would not start with: refused, naming the
# line; the mapping loaded before stays.
cp "$CONF" "$TMP/good.conf"
printf '[resources]\nBroken = pool:\n' >>"$CONF"
reload "reload with a bad [resources]" "Invalid \[resources\] Broken = pool:"
grep -q "the 2 mappings loaded before stay" "$TMP/coordinator.log" && ok "the refusal keeps the mappings" ||
        fail "no 'the 2 mappings loaded before stay' in the coordinator's log"
run new-3 NewFn SUCCEEDED

# A file that no longer loads: nothing changes either.
printf '[resources]\nNewFn = test.echo\n[coordinator]\nno_such_key = 1\n' >"$CONF.tmp"
cat "$TMP/good.conf" "$CONF.tmp" >"$CONF"
sed -i 's/^NewFn = test.echo$/NewFn = test.fail/' "$CONF"
reload "reload of a file that does not load" "Reload failed, nothing changed"
cp "$TMP/good.conf" "$CONF" # for the CLI, which refuses it too; no SIGHUP
run new-4 NewFn SUCCEEDED

kill -0 "$COORD_PID" 2>/dev/null && ok "one coordinator process throughout (pid $COORD_PID)" ||
        fail "the coordinator exited"
[ "$(grep -c "Coordinator ready" "$TMP/coordinator.log")" = 1 ] && ok "the coordinator started once" ||
        fail "the coordinator started more than once"

# imgflow-api: CreateStateMachine checks Lambda Tasks against [resources].
if /usr/bin/python3 -c 'import boto3' 2>/dev/null; then
        APORT=$(free_port)
        cat >"$TMP/api-keys.json" <<JSON
{"keys": [{"accessKeyId": "AKIAIMGFLOWRELOAD001", "secretAccessKey": "reload-test-secret-0123456789",
  "policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "states:*", "Resource": "*"}]}}]}
JSON
        chmod 600 "$TMP/api-keys.json"
        printf '[api]\nlisten = 127.0.0.1:%s\nkeys = %s\n' "$APORT" "$TMP/api-keys.json" >>"$CONF"
        env IMGFLOW_LOG_TARGET=console "$API" --config "$CONF" >>"$TMP/api.log" 2>&1 &
        API_PID=$!
        PIDS+=("$API_PID")
        wait_for 30 grep -qs "imgflow-api ready" "$TMP/api.log" || { fail "imgflow-api not ready"; tail "$TMP/api.log"; }
        create() { # NAME: prints ok or the error's code
                APORT=$APORT NAME=$1 /usr/bin/python3 - <<'PY'
import json, os, boto3, botocore
sfn = boto3.client("stepfunctions", endpoint_url="http://127.0.0.1:%s" % os.environ["APORT"],
                   region_name="us-east-1", aws_access_key_id="AKIAIMGFLOWRELOAD001",
                   aws_secret_access_key="reload-test-secret-0123456789")
definition = {"StartAt": "S", "States": {"S": {"Type": "Task", "End": True,
              "Resource": "arn:aws:lambda:us-east-1:123456789012:function:LaterFn"}}}
try:
    sfn.create_state_machine(name=os.environ["NAME"], definition=json.dumps(definition),
                             roleArn="arn:aws:iam::123456789012:role/r")
    print("ok")
except botocore.exceptions.ClientError as e:
    print(e.response["Error"]["Code"])
PY
        }
        expect_eq "API: LaterFn mapped nowhere" "$(create later-1)" InvalidDefinition
        printf '[resources]\nLaterFn = test.echo\n' >>"$CONF"
        before=$(grep -c "Reloaded: \[resources\]" "$TMP/api.log")
        kill -HUP "$API_PID"
        wait_for 20 sh -c "[ \$(grep -c 'Reloaded: \[resources\]' '$TMP/api.log') -gt $before ]" &&
                ok "API: $(grep "Reloaded: \[resources\]" "$TMP/api.log" | tail -1)" || fail "API: no reload of [resources]"
        expect_eq "API: LaterFn mapped after SIGHUP" "$(create later-2)" ok
        stop_pid "$API_PID" 10
else
        echo "skipped: the imgflow-api part (Debian's python3-boto3 missing)"
fi
stop_pid "$WORKER_PID" 10
stop_coordinator
[ "$FAILS" = 0 ] || { echo "--- coordinator"; tail -30 "$TMP/coordinator.log"; exit 1; }
