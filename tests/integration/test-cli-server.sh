#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The imgflow verbs that talk to a running system, end to end on loopback:
# redis-server, the mock Kafka cluster and imgflow-coordinator started here
# (tests/integration/cli-stack.sh). Every verb, its output fields, its
# errors (unknown machine, invalid definition, ExecutionAlreadyExists,
# ExecutionDoesNotExist, ExecutionNotRunning), --wait exit codes and Map
# progress, stop-execution -> ABORTED, configuration from file, environment
# and flags, and a bounded wait when no coordinator answers.
#
#   test-cli-server.sh MOCK_KAFKA COORDINATOR IMGFLOW SRCDIR
set -u

MOCK=$1 COORD=$2 IMGFLOW=$3 SRC=$4
. "$SRC/tests/integration/cli-stack.sh"

D=$TMP/defs
mkdir -p "$D"
cat >"$D/hello-v1.json" <<'EOF'
{"StartAt": "Hello", "States": {"Hello": {"Type": "Pass", "Parameters": {"greeting.$": "States.Format('Hello, {}!', $.who)", "version": 1}, "End": true}}}
EOF
cat >"$D/hello-v2.json" <<'EOF'
{"StartAt": "Hello", "States": {"Hello": {"Type": "Pass", "Parameters": {"greeting.$": "States.Format('Hi, {}!', $.who)", "version": 2}, "End": true}}}
EOF
cat >"$D/invalid.json" <<'EOF'
{"StartAt": "Nowhere", "States": {"A": {"Type": "Pass", "End": true}, "B": {"Type": "Wait", "End": true}}}
EOF
cat >"$D/map.json" <<'EOF'
{"StartAt": "Each", "States": {"Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 1,
  "ItemProcessor": {"StartAt": "Pause", "States": {"Pause": {"Type": "Wait", "Seconds": 1, "Next": "Double"},
    "Double": {"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($.n, $.n)"}, "End": true}}},
  "End": true}}}
EOF
cat >"$D/fails.json" <<'EOF'
{"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Custom.Error", "Cause": "failing on purpose"}}}
EOF
cat >"$D/sleepy.json" <<'EOF'
{"StartAt": "Sleep", "States": {"Sleep": {"Type": "Wait", "Seconds": 600, "End": true}}}
EOF

start_coordinator
wait_coordinator_ready || exit 1

echo "--- --help and usage"
for v in create-state-machine update-state-machine describe-state-machine list-state-machines \
        delete-state-machine start-execution describe-execution get-execution-history list-executions \
        stop-execution send-task-success send-task-failure send-task-heartbeat; do
        "$IMGFLOW" "$v" --help >"$OUT" 2>"$ERR"; RC=$?
        if [ $RC = 0 ] && grep -q "^Usage: imgflow $v" "$OUT"; then :; else fail "$v --help: exit $RC"; fi
done
ok "--help on every verb"
cli create-state-machine --definition "$D/hello-v1.json"
expect_err "create without --name" 2 "--name is required"
cli describe-execution --execution-arn x --bogus
expect_rc "unknown option" 2
cli list-executions --status-filter SLEEPING
expect_err "bad --status-filter" 2 "status-filter"

echo "--- state machines"
cli create-state-machine --name hello --definition "$D/hello-v1.json"
expect_rc "create hello" 0
expect_eq "create: stateMachineArn" "$(json_get "$OUT" 'j["stateMachineArn"]')" "imgflow:stateMachine:hello"
expect_eq "create: version ARN" "$(json_get "$OUT" 'j["stateMachineVersionArn"]')" "imgflow:stateMachine:hello:1"
cli create-state-machine --name hello --definition "file://$D/hello-v1.json"
expect_rc "create again, same definition (idempotent)" 0
cli create-state-machine --name hello --definition "$D/hello-v2.json"
expect_err "create again, other definition" 1 "(StateMachineAlreadyExists)"
cli create-state-machine --name broken --definition "$D/invalid.json"
expect_err "create an invalid definition" 1 "^/StartAt: "
"$IMGFLOW" validate-state-machine-definition "$D/invalid.json" >"$TMP/validate.out"
if diff -q "$TMP/validate.out" "$ERR" >/dev/null; then ok "create prints the errors as validate does"; else
        fail "create's errors differ from validate's"; diff "$TMP/validate.out" "$ERR"; fi
cli describe-state-machine --name broken
expect_err "the invalid one was not stored" 1 "(StateMachineDoesNotExist)"
cli create-state-machine --name "bad name" --definition "$D/hello-v1.json"
expect_err "invalid name" 1 "(InvalidName)"
cli create-state-machine --name hello --definition "$TMP/no-such-file.json"
expect_err "unreadable definition" 2 "cannot read"
cli update-state-machine --name hello --definition "$D/hello-v2.json"
expect_rc "update hello" 0
expect_eq "update: version ARN" "$(json_get "$OUT" 'j["stateMachineVersionArn"]')" "imgflow:stateMachine:hello:2"
json_get "$OUT" 'j["updateDate"]' | grep -q '^20[0-9][0-9]-..-..T..:..:..\....Z$' && ok "update: updateDate" || fail "updateDate"
cli update-state-machine --name nosuch --definition "$D/hello-v2.json"
expect_err "update an unknown machine" 1 "(StateMachineDoesNotExist)"
cli describe-state-machine --name hello
expect_rc "describe hello" 0
expect_eq "describe: version" "$(json_get "$OUT" '[j["version"], j["latestVersion"], j["status"], j["name"]]')" '[2, 2, "ACTIVE", "hello"]'
expect_eq "describe: definition text" "$(json_get "$OUT" 'json.loads(j["definition"])["States"]["Hello"]["Parameters"]["version"]')" "2"
cli describe-state-machine --name hello --version 1
expect_eq "describe --version 1" "$(json_get "$OUT" '[j["version"], json.loads(j["definition"])["States"]["Hello"]["Parameters"]["version"], j["stateMachineVersionArn"]]')" '[1, 1, "imgflow:stateMachine:hello:1"]'
cli describe-state-machine --name hello --version 9
expect_err "describe an unknown version" 1 "(StateMachineDoesNotExist)"
cli describe-state-machine --name nosuch
expect_err "describe an unknown machine" 1 "(StateMachineDoesNotExist)"
for m in map fails sleepy; do
        cli create-state-machine --name "$m" --definition "$D/$m.json"
        expect_rc "create $m" 0
done
cli list-state-machines
expect_rc "list-state-machines" 0
expect_eq "list: names" "$(json_get "$OUT" '[m["name"] for m in j["stateMachines"]]')" '["fails", "hello", "map", "sleepy"]'
expect_eq "list: hello's ARN and version" "$(json_get "$OUT" '[(m["stateMachineArn"], m["latestVersion"]) for m in j["stateMachines"] if m["name"] == "hello"][0]')" '["imgflow:stateMachine:hello", 2]'
# Pages: --max-results gives one page and its nextToken, --next-token the
# page after it; a token it did not print is InvalidToken.
cli list-state-machines --max-results 3
expect_eq "list: a page of 3 and its token" "$(json_get "$OUT" '[[m["name"] for m in j["stateMachines"]], j.get("nextToken")]')" '[["fails", "hello", "map"], "map"]'
cli list-state-machines --max-results 3 --next-token map
expect_eq "list: the page after it, the last" "$(json_get "$OUT" '[[m["name"] for m in j["stateMachines"]], j.get("nextToken")]')" '[["sleepy"], null]'
cli list-state-machines --next-token 'not a name'
expect_err "list with a token it did not print" 1 "(InvalidToken)"

echo "--- start-execution"
cli start-execution --state-machine hello:1 --name e1 --input '{"who":"Ada"}'
expect_rc "start hello:1 e1" 0
expect_eq "start: executionArn" "$(json_get "$OUT" 'j["executionArn"]')" "imgflow:execution:hello:e1"
json_get "$OUT" 'j["startDate"]' | grep -q '^20[0-9][0-9]-..-..T..:..:..\....Z$' && ok "start: startDate" || fail "startDate: $(cat "$OUT")"
wait_status hello:e1 SUCCEEDED
expect_eq "e1 ran version 1" "$(json_get "$OUT" 'json.loads(j["output"])')" '{"greeting": "Hello, Ada!", "version": 1}'
expect_eq "describe: fields" "$(json_get "$OUT" '[j["executionArn"], j["stateMachineArn"], j["stateMachineVersionArn"], j["name"], json.loads(j["input"]), "stopDate" in j]')" '["imgflow:execution:hello:e1", "imgflow:stateMachine:hello", "imgflow:stateMachine:hello:1", "e1", {"who": "Ada"}, true]'
cli start-execution --state-machine hello --name e1 --input '{"who":"Bob"}'
expect_err "same name, other input" 1 "(ExecutionAlreadyExists)"
cli start-execution --state-machine nosuch --name x1 --input '{}'
expect_err "unknown state machine" 1 "(StateMachineDoesNotExist)"
cli start-execution --state-machine hello --name x2 --input '{not json'
expect_err "input not JSON" 1 "(InvalidExecutionInput)"
cli start-execution --state-machine hello --name x2 --input $'{"who": "Ada",\n "age": }'
expect_err "input not JSON: where" 1 "(InvalidExecutionInput).*: the input is not valid JSON: line 2, column 9: "
cli send-task-success --task-token 0123456789abcdef0123456789abcdef --task-output $'{\n\n  "ok": tru }'
expect_err "task output not JSON: where" 1 "(InvalidOutput).*: the output is not valid JSON: line 3, column [0-9]*: "
cli start-execution --state-machine hello --input '{"who":"Uuid"}'
expect_rc "start without --name" 0
json_get "$OUT" 'j["executionArn"]' | grep -Eq '^imgflow:execution:hello:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' &&
        ok "generated name is a UUID" || fail "generated name: $(cat "$OUT")"
printf '{"who":"File"}' >"$TMP/input.json"
cli start-execution --state-machine-arn imgflow:stateMachine:hello --name e2 --input "file://$TMP/input.json" --wait
expect_rc "--wait, latest version, input from a file" 0
expect_eq "--wait prints the description" "$(json_get "$OUT" '[j["status"], json.loads(j["output"])]')" '["SUCCEEDED", {"greeting": "Hi, File!", "version": 2}]'

cli start-execution --state-machine map --name m1 --input '{"items":[{"n":1},{"n":2},{"n":3}]}' --wait --timeout 60
expect_rc "--wait on a Map" 0
expect_eq "map output" "$(json_get "$OUT" 'json.loads(j["output"])')" '[{"v": 2}, {"v": 4}, {"v": 6}]'
if grep -q "^Map: [0-9]/3 items done" "$ERR"; then ok "--wait reports Map progress: $(tr '\n' ' ' <"$ERR")"; else
        fail "no Map progress on stderr"; cat "$ERR"; fi

# An inline Map over 300 items records about 1,200 history events in one
# transition, each an argument of one Redis command: over a per-command
# argument limit, the commit was retried forever and the start never
# answered.
python3 -c 'import json; print(json.dumps({"items": [{"n": i} for i in range(300)]}))' >"$TMP/items300.json"
cat >"$D/many.json" <<'EOF'
{"StartAt": "Each", "States": {"Each": {"Type": "Map", "ItemsPath": "$.items",
  "ItemProcessor": {"StartAt": "Keep", "States": {"Keep": {"Type": "Pass", "End": true}}}, "End": true}}}
EOF
cli create-state-machine --name many --definition "$D/many.json"
expect_rc "create a Map over many items" 0
cli start-execution --state-machine many --name n300 --input "file://$TMP/items300.json" --wait --timeout 25 --request-timeout 30
expect_rc "--wait on a Map of 300 items in one transition" 0
expect_eq "Map of 300 items: status and output length" "$(json_get "$OUT" '[j["status"], len(json.loads(j["output"]))]')" '["SUCCEEDED", 300]'
cli get-execution-history --execution-arn many:n300
expect_eq "Map of 300 items: every history event kept" "$(json_get "$OUT" '[len(j["events"]), j["events"][-1]["type"]]')" '[1206, "ExecutionSucceeded"]'

cli start-execution --state-machine fails --name f1 --wait
expect_rc "--wait on a failing execution" 1
expect_eq "failed: status and error" "$(json_get "$OUT" '[j["status"], j["error"], j["cause"]]')" '["FAILED", "Custom.Error", "failing on purpose"]'

cli start-execution --state-machine sleepy --name s1 --input '{}' --wait --timeout 1
expect_err "--wait --timeout on a long execution" 1 "still RUNNING"
cli start-execution --state-machine sleepy --name s1 --input '{}'
expect_rc "same name and input while RUNNING: the same execution" 0
expect_eq "idempotent start" "$(json_get "$OUT" 'j["executionArn"]')" "imgflow:execution:sleepy:s1"

echo "--- stop-execution"
cli stop-execution --execution-arn imgflow:execution:sleepy:s1 --error Ops.Cancelled --cause "no longer needed"
expect_rc "stop s1" 0
json_get "$OUT" 'j["stopDate"]' | grep -q '^20[0-9][0-9]-' && ok "stop: stopDate" || fail "stopDate: $(cat "$OUT")"
cli describe-execution --execution-arn sleepy:s1
expect_eq "stopped: ABORTED" "$(json_get "$OUT" '[j["status"], j["error"], j["cause"]]')" '["ABORTED", "Ops.Cancelled", "no longer needed"]'
cli stop-execution --execution-arn sleepy:s1
expect_err "stop again" 1 "(ExecutionNotRunning)"
cli stop-execution --execution-arn sleepy:nosuch
expect_err "stop an unknown execution" 1 "(ExecutionDoesNotExist)"

echo "--- describe-execution, get-execution-history, list-executions"
cli describe-execution --execution-arn hello:nosuch
expect_err "describe an unknown execution" 1 "(ExecutionDoesNotExist)"
cli describe-execution --execution-arn "not an arn"
expect_err "describe a malformed ARN" 1 "(InvalidArn)"
cli get-execution-history --execution-arn imgflow:execution:hello:e1
expect_rc "history e1" 0
expect_eq "history: types" "$(json_get "$OUT" '[e["type"] for e in j["events"]]')" '["ExecutionStarted", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"]'
expect_eq "history: ids" "$(json_get "$OUT" '[(e["id"], e["previousEventId"]) for e in j["events"]]')" '[[1, 0], [2, 1], [3, 2], [4, 3]]'
expect_eq "history: details" "$(json_get "$OUT" 'j["events"][1]["stateEnteredEventDetails"]["name"]')" "Hello"
cli get-execution-history --execution-arn hello:e1 --reverse-order --max-results 2
expect_eq "history --reverse-order --max-results 2" "$(json_get "$OUT" '[e["id"] for e in j["events"]]')" '[4, 3]'
cli get-execution-history --execution-arn hello:nosuch
expect_err "history of an unknown execution" 1 "(ExecutionDoesNotExist)"

# A history of more than one page: 1,500 events of one execution in the
# store (written here as the coordinator writes them, one JSON event per
# list element): all of it by default, or a page at a time with nextToken.
python3 -c '
import json, sys
for i in range(1, 1501):
    t = "ExecutionStarted" if i == 1 else "ExecutionSucceeded" if i == 1500 else "PassStateEntered"
    args = [b"RPUSH", b"imgflow:{wide:w1}:history", json.dumps(
        {"id": i, "previousEventId": i - 1, "timestamp": 1700000000000 + i, "type": t}, separators=(",", ":")).encode()]
    sys.stdout.buffer.write(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in args))
' | redis-cli -p "$RPORT" --pipe >/dev/null
cli get-execution-history --execution-arn wide:w1
expect_eq "history over several pages: every event, in order" \
        "$(json_get "$OUT" '[len(j["events"]), [e["id"] for e in j["events"]] == list(range(1, 1501)), j["events"][-1]["type"], "nextToken" in j]')" \
        '[1500, true, "ExecutionSucceeded", false]'
for order in "" --reverse-order; do
        ids=() token=
        for page in $(seq 1 10); do
                cli get-execution-history --execution-arn wide:w1 --max-results 400 $order ${token:+--next-token "$token"}
                ids+=($(json_get "$OUT" '" ".join(str(e["id"]) for e in j["events"])'))
                token=$(json_get "$OUT" 'j.get("nextToken", "")')
                [ -n "$token" ] || break
        done
        want=$(if [ -z "$order" ]; then seq 1 1500; else seq 1500 -1 1; fi | tr '\n' ' ')
        if [ "$page ${ids[*]} " = "4 $want" ]; then
                ok "history in pages of 400 ${order:-(oldest first)}: 4 pages, every event once"
        else
                fail "history in pages of 400 ${order:-(oldest first)}: $page pages, ${#ids[@]} events: ${ids[*]:0:5} ..."
        fi
done
cli get-execution-history --execution-arn wide:w1 --next-token nonsense
expect_err "history with a token it did not print" 1 "(InvalidToken)"
cli list-executions --state-machine hello
expect_rc "list-executions --state-machine hello" 0
expect_eq "list: hello's executions" "$(json_get "$OUT" 'sorted(e["name"] for e in j["executions"] if not e["name"].count("-"))')" '["e1", "e2"]'
expect_eq "list: fields" "$(json_get "$OUT" '[(e["executionArn"], e["stateMachineArn"], e["status"], "startDate" in e, "stopDate" in e) for e in j["executions"] if e["name"] == "e1"][0]')" '["imgflow:execution:hello:e1", "imgflow:stateMachine:hello", "SUCCEEDED", true, true]'
cli list-executions --status-filter ABORTED
expect_eq "list --status-filter ABORTED" "$(json_get "$OUT" '[e["executionArn"] for e in j["executions"]]')" '["imgflow:execution:sleepy:s1"]'
cli list-executions --max-results 2
expect_eq "list --max-results 2: newest first" "$(json_get "$OUT" '[e["name"] for e in j["executions"]]')" '["s1", "f1"]'
# Pages with nextToken: one execution a page, newest first, every one once.
cli list-executions
all=$(json_get "$OUT" '" ".join(e["name"] for e in j["executions"])')
names=() token=
for page in $(seq 1 20); do
        cli list-executions --max-results 1 ${token:+--next-token "$token"}
        names+=($(json_get "$OUT" '" ".join(e["name"] for e in j["executions"])'))
        token=$(json_get "$OUT" 'j.get("nextToken", "")')
        [ -n "$token" ] || break
done
expect_eq "list in pages of 1 with nextToken: every execution once, in order" "${names[*]}" "$all"
cli list-executions --next-token nonsense
expect_err "list with a token it did not print" 1 "(InvalidToken)"

echo "--- configuration: environment and flags"
IMGFLOW_REDIS_ADDRESS=127.0.0.1:$RPORT timeout 30 "$IMGFLOW" describe-execution --execution-arn hello:e1 >"$OUT" 2>"$ERR"; RC=$?
expect_rc "IMGFLOW_REDIS_ADDRESS" 0
IMGFLOW_REDIS_ADDRESS=127.0.0.1:$RPORT IMGFLOW_KAFKA_BOOTSTRAP_SERVERS=$BOOT timeout 60 \
        "$IMGFLOW" start-execution --state-machine hello --name env1 --input '{"who":"Env"}' --wait >"$OUT" 2>"$ERR"; RC=$?
expect_rc "start-execution with the environment only" 0
timeout 60 "$IMGFLOW" start-execution --redis "127.0.0.1:$RPORT" --kafka "$BOOT" --state-machine hello --name flags1 \
        --input '{"who":"Flags"}' --wait >"$OUT" 2>"$ERR"; RC=$?
expect_rc "start-execution with --redis/--kafka" 0
expect_eq "flags1 output" "$(json_get "$OUT" 'json.loads(j["output"])["greeting"]')" "Hi, Flags!"
IMGFLOW_CONFIG=$CONF timeout 30 "$IMGFLOW" describe-execution --execution-arn hello:e1 >"$OUT" 2>"$ERR"; RC=$?
expect_rc "IMGFLOW_CONFIG names the file" 0
DEAD=$(free_port)
timeout 30 "$IMGFLOW" list-state-machines --redis "127.0.0.1:$DEAD" >"$OUT" 2>"$ERR"; RC=$?
expect_err "Redis not reachable" 1 "cannot connect to Redis"
printf '[redis]\nadress = x\n' >"$TMP/bad.conf"
timeout 30 "$IMGFLOW" list-state-machines --config "$TMP/bad.conf" >"$OUT" 2>"$ERR"; RC=$?
expect_err "bad configuration file" 1 "unknown key"

echo "--- delete-state-machine"
cli delete-state-machine --name hello
expect_rc "delete hello" 0
cli describe-state-machine --name hello
expect_err "deleted: describe" 1 "(StateMachineDoesNotExist)"
cli delete-state-machine --name hello
expect_err "delete again" 1 "(StateMachineDoesNotExist)"
cli start-execution --state-machine hello --name after-delete
expect_err "start a deleted machine" 1 "(StateMachineDoesNotExist)"
cli describe-execution --execution-arn hello:e1
expect_rc "executions of a deleted machine stay readable" 0

echo "--- AWS CLI's flags of create-state-machine"
cli create-state-machine --name inline --definition ' {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": 7, "End": true}}}' \
        --role-arn arn:aws:iam::123456789012:role/imgflow-runner --type STANDARD
expect_rc "create with the definition inline, --role-arn and --type STANDARD" 0
cli describe-state-machine --name inline
expect_eq "described: role and definition" "$(json_get "$OUT" '[j.get("roleArn"), json.loads(j["definition"])["States"]["A"]["Result"], j["type"]]')" \
        '["arn:aws:iam::123456789012:role/imgflow-runner", 7, "STANDARD"]'
cli create-state-machine --name express --definition "file://$D/hello-v1.json" --type EXPRESS
expect_rc "--type EXPRESS" 0
cli describe-state-machine --name express
expect_eq "described: EXPRESS, logging OFF" "$(json_get "$OUT" '[j["type"], j["loggingConfiguration"]["level"]]')" \
        '["EXPRESS", "OFF"]'
cli create-state-machine --name express --definition "file://$D/hello-v1.json"
expect_err "the same definition as STANDARD: another machine" 1 "(StateMachineAlreadyExists)"
cli create-state-machine --name badrole --definition "$D/hello-v1.json" --role-arn imgflow-runner
expect_err "--role-arn that is not an ARN" 1 "(InvalidArn)"
cli create-state-machine --name badjson --definition '{"StartAt": "A", "States": {'
expect_err "inline definition that is not JSON" 1 "line 1"

echo "--- no coordinator"
stop_coordinator
cli start-execution --state-machine map --name nobody --input '{"items":[]}' --request-timeout 2
expect_err "no coordinator: bounded wait" 1 "no answer from a coordinator within 2 s"
# What may have started is known before the wait: its name and request id
# (the same request id as the timeout's message).
rid=$(sed -n 's/.*starting execution imgflow:execution:map:nobody (request \([^)]*\)).*/\1/p' "$ERR")
if [ -n "$rid" ] && [ "$(head -1 "$ERR")" != "$(grep 'no answer' "$ERR")" ] && grep -q "no answer.*(request $rid)" "$ERR"; then
        ok "no coordinator: the execution's name and request id before the wait"
else
        fail "no coordinator: no name and request id before the wait"; sed 's/^/    err: /' "$ERR"
fi
cli start-execution --state-machine map --input '{"items":[]}' --request-timeout 1
expect_err "no coordinator, no --name: the generated name" 1 \
        "starting execution imgflow:execution:map:[0-9a-f]\{8\}-[0-9a-f]\{4\}-[0-9a-f]\{4\}-[0-9a-f]\{4\}-[0-9a-f]\{12\} (request "

if [ $FAILS -gt 0 ]; then
        echo "--- coordinator log (tail) ---"; tail -30 "$TMP/coordinator.log"
        echo "$FAILS failure(s)"
        exit 1
fi
exit 0
