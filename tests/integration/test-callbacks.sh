#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Callbacks with task tokens, end to end on loopback (redis-server, mock
# Kafka, imgflow-coordinator; tests/integration/cli-stack.sh) through the
# imgflow CLI: approve (send-task-success), reject (send-task-failure),
# heartbeats keep a task alive, a missed heartbeat times it out and Retry
# issues a new token while the old one is refused (TaskTimedOut), a task
# timeout caught by Catch, forged and altered tokens (InvalidToken), a token
# used twice and a callback after stop-execution (TaskDoesNotExist), invalid
# output, tokens never logged in full; then examples/human-approval with
# its review.sh (approve, reject, review timeout).
#
#   test-callbacks.sh MOCK_KAFKA COORDINATOR IMGFLOW SRCDIR
set -u

MOCK=$1 COORD=$2 IMGFLOW=$3 SRC=$4
MOCK_TOPICS=imgflow.tasks.reviewers:2,imgflow.tasks.validators:2
EXTRA_CONF='[resources]
ValidateImage = pool:validators'
. "$SRC/tests/integration/cli-stack.sh"

D=$TMP/defs
mkdir -p "$D"
cat >"$D/approve.json" <<'EOF'
{"StartAt": "Ask", "States": {"Ask": {"Type": "Task", "Resource": "imgflow:pool:reviewers.waitForTaskToken",
  "Parameters": {"token.$": "$$.Task.Token", "who.$": "$.who"}, "TimeoutSeconds": 120,
  "ResultPath": "$.answer", "End": true}}}
EOF
cat >"$D/heartbeat.json" <<'EOF'
{"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": "imgflow:pool:reviewers.waitForTaskToken",
  "Parameters": {"token.$": "$$.Task.Token"}, "TimeoutSeconds": 120, "HeartbeatSeconds": 3, "End": true}}}
EOF
cat >"$D/hb-retry.json" <<'EOF'
{"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": "imgflow:pool:reviewers.waitForTaskToken",
  "Parameters": {"token.$": "$$.Task.Token"}, "TimeoutSeconds": 120, "HeartbeatSeconds": 2,
  "Retry": [{"ErrorEquals": ["States.HeartbeatTimeout"], "IntervalSeconds": 1, "MaxAttempts": 1}],
  "End": true}}}
EOF
cat >"$D/timeout.json" <<'EOF'
{"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": "imgflow:pool:reviewers.waitForTaskToken",
  "Parameters": {"token.$": "$$.Task.Token"}, "TimeoutSeconds": 2,
  "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "TimedOut"}], "End": true},
  "TimedOut": {"Type": "Pass", "Parameters": {"timedOut": true, "error.$": "$.error.Error"}, "End": true}}}
EOF

start_coordinator
wait_coordinator_ready || exit 1
for m in approve heartbeat hb-retry timeout; do
        cli create-state-machine --name "$m" --definition "$D/$m.json"
        [ $RC = 0 ] || fail "create $m: $(cat "$ERR")"
done

# token EXEC-ID [NOT-THIS-ONE]: the live task token of the execution (from
# imgflow:{<exec>}:tokens), waiting up to 15 s for one (other than $2).
token() {
        local t=
        for _ in $(seq 150); do
                t=$(redis-cli -p "$RPORT" HVALS "imgflow:{$1}:tokens" | head -1)
                if [ -n "$t" ] && [ "$t" != "${2:-}" ]; then
                        echo "$t"
                        return 0
                fi
                sleep 0.1
        done
        echo "no-token-for-$1"
}

start() { # sm name input
        cli start-execution --state-machine "$1" --name "$2" --input "$3"
        [ $RC = 0 ] || fail "start $1:$2: $(cat "$ERR")"
}

echo "--- approve"
start approve a1 '{"who":"ada"}'
T=$(token approve:a1)
[ ${#T} -ge 32 ] && ok "token has ${#T} hex digits (>= 128 bits)" || fail "short token '$T'"
# The Task message on the pool topic carries the token, in taskToken and in the Parameters.
msg=
for _ in $(seq 50); do
        msg=$(timeout 20 kcat -C -b "$BOOT" -t imgflow.tasks.reviewers -o beginning -e -q -f '%s\n' 2>/dev/null |
                grep '"executionId":"approve:a1"' | head -1)
        [ -n "$msg" ] && break
        sleep 0.2
done
printf '%s' "$msg" >"$TMP/task.json"
expect_eq "Task message: token and input" "$(json_get "$TMP/task.json" '[j["taskToken"] == j["input"]["token"], j["input"]["token"] == "'"$T"'", j["operation"]]')" '[true, true, "reviewers"]'
# The pool worker's own answer (it delivered the task): TaskStarted naming it
# and TaskSubmitted with its output; the task waits on for its token.
now=$(date +%s%3N)
printf 'approve:a1|{"v":1,"type":"TaskSucceeded","executionId":"approve:a1","taskId":"%s","attempt":0,"output":{"delivered":true},"workerId":"reviewers-1","startedAtMs":%s,"finishedAtMs":%s}\n' \
        "$(json_get "$TMP/task.json" 'j["taskId"]')" $((now - 50)) "$now" | kcat -P -b "$BOOT" -t imgflow.events -K '|'
for _ in $(seq 75); do
        cli get-execution-history --execution-arn approve:a1
        grep -q TaskSubmitted "$OUT" && break
        sleep 0.2
done
expect_eq "a1 history after the worker's answer" "$(json_get "$OUT" '[e["type"] for e in j["events"]][2:]')" '["TaskScheduled", "TaskStarted", "TaskSubmitted"]'
expect_eq "a1 TaskStarted and TaskSubmitted details" "$(json_get "$OUT" '[[e.get("taskStartedEventDetails", {}).get("workerName"), e.get("taskSubmittedEventDetails", {}).get("output")] for e in j["events"] if e["type"] in ("TaskStarted", "TaskSubmitted")]')" '[["reviewers-1", null], [null, "{\"delivered\":true}"]]'
cli describe-execution --execution-arn approve:a1
expect_eq "a1 still waits for its token" "$(json_get "$OUT" 'j["status"]')" RUNNING
cli send-task-success --task-token "$T" --task-output '{"approved":true}'
expect_rc "send-task-success" 0
wait_status approve:a1 SUCCEEDED
expect_eq "a1 output" "$(json_get "$OUT" 'json.loads(j["output"])')" '{"answer": {"approved": true}, "who": "ada"}'
cli send-task-success --task-token "$T" --task-output '{"approved":false}'
expect_err "the same token twice" 1 "(TaskDoesNotExist)"
cli send-task-heartbeat --task-token "$T"
expect_err "heartbeat with a used token" 1 "(TaskDoesNotExist)"

echo "--- reject"
start approve r1 '{"who":"bob"}'
T=$(token approve:r1)
cli send-task-failure --task-token "$T" --error Review.Rejected --cause "too blurry"
expect_rc "send-task-failure" 0
wait_status approve:r1 FAILED
expect_eq "r1 error" "$(json_get "$OUT" '[j["error"], j["cause"]]')" '["Review.Rejected", "too blurry"]'
cli get-execution-history --execution-arn approve:r1
expect_eq "r1 history: TaskFailed" "$(json_get "$OUT" '[e["taskFailedEventDetails"]["error"] for e in j["events"] if e["type"] == "TaskFailed"]')" '["Review.Rejected"]'

echo "--- forged and altered tokens"
cli send-task-success --task-token 0123456789abcdef0123456789abcdef --task-output '{}'
expect_err "forged token" 1 "(InvalidToken)"
start approve f1 '{"who":"eve"}'
T=$(token approve:f1)
ALT=${T%?}$([ "${T: -1}" = 0 ] && echo 1 || echo 0)
cli send-task-success --task-token "$ALT" --task-output '{}'
expect_err "altered token (the execution exists)" 1 "(InvalidToken)"
cli send-task-failure --task-token "approve:f1"
expect_err "an execution id as token" 1 "(InvalidToken)"
cli send-task-success --task-token "$(head -c 1100 /dev/zero | tr '\0' a)" --task-output '{}'
expect_err "token over 1024 characters" 1 "(InvalidToken)"
cli describe-execution --execution-arn approve:f1
expect_eq "f1 untouched by the forgeries" "$(json_get "$OUT" 'j["status"]')" "RUNNING"

echo "--- invalid output and usage"
cli send-task-success --task-token "$T" --task-output '{oops'
expect_err "output not JSON" 1 "(InvalidOutput)"
python3 -c 'import json; print(json.dumps({"big": "x" * 300000}))' >"$TMP/big.json"
cli send-task-success --task-token "$T" --task-output-file "$TMP/big.json"
expect_err "output over the payload limit" 1 "(InvalidOutput)"
cli send-task-success --task-output '{}'
expect_err "no --task-token" 2 "--task-token is required"
cli send-task-success --task-token "$T"
expect_rc "no output" 2
cli send-task-success --task-token "$T" --task-output '{"late":false}'
expect_rc "f1 still answers after the refusals" 0
wait_status approve:f1 SUCCEEDED

echo "--- callback after stop-execution"
start approve s1 '{"who":"sam"}'
T=$(token approve:s1)
cli stop-execution --execution-arn approve:s1
expect_rc "stop s1" 0
cli send-task-success --task-token "$T" --task-output '{}'
expect_err "callback after stop-execution" 1 "(TaskDoesNotExist)"
wait_status approve:s1 ABORTED

echo "--- heartbeats keep a task alive"
start heartbeat h1 '{}'
T=$(token heartbeat:h1)
hb_fail=0 hb_n=0
hb_end=$((SECONDS + 8))
while [ $SECONDS -lt $hb_end ]; do
        cli send-task-heartbeat --task-token "$T"
        [ $RC = 0 ] || { hb_fail=1; cat "$ERR"; }
        hb_n=$((hb_n + 1))
        sleep 0.5
done
[ $hb_fail = 0 ] && ok "$hb_n heartbeats accepted over 8 s (HeartbeatSeconds 3)" || fail "a heartbeat was refused"
cli describe-execution --execution-arn heartbeat:h1
expect_eq "h1 still RUNNING" "$(json_get "$OUT" 'j["status"]')" "RUNNING"
cli send-task-success --task-token "$T" --task-output '{"done":true}'
expect_rc "h1 success after heartbeats" 0
wait_status heartbeat:h1 SUCCEEDED
cli get-execution-history --execution-arn heartbeat:h1
expect_eq "h1: no TaskTimedOut" "$(json_get "$OUT" 'sum(e["type"] == "TaskTimedOut" for e in j["events"])')" "0"

echo "--- a missed heartbeat times out; Retry issues a new token"
start hb-retry hr1 '{}'
T1=$(token hb-retry:hr1)
T2=$(token hb-retry:hr1 "$T1")
[ "$T2" != "$T1" ] && [ "${T2#no-token}" = "$T2" ] && ok "the retry has a new token" || fail "no new token: $T1 / $T2"
cli send-task-success --task-token "$T2" --task-output '{"attempt":2}'
expect_rc "the retry's token" 0
cli send-task-success --task-token "$T1" --task-output '{"attempt":1}'
expect_err "the timed-out attempt's token" 1 "(TaskTimedOut)"
wait_status hb-retry:hr1 SUCCEEDED
expect_eq "hr1 output" "$(json_get "$OUT" 'json.loads(j["output"])')" '{"attempt": 2}'
cli get-execution-history --execution-arn hb-retry:hr1
expect_eq "hr1: one TaskTimedOut (States.HeartbeatTimeout)" "$(json_get "$OUT" '[e["taskTimedOutEventDetails"]["error"] for e in j["events"] if e["type"] == "TaskTimedOut"]')" '["States.HeartbeatTimeout"]'

echo "--- TimeoutSeconds, caught"
start timeout t1 '{}'
T=$(token timeout:t1)
wait_status timeout:t1 SUCCEEDED 15
expect_eq "t1 output" "$(json_get "$OUT" 'json.loads(j["output"])')" '{"error": "States.Timeout", "timedOut": true}'
cli send-task-success --task-token "$T" --task-output '{}'
expect_err "callback after the task timed out" 1 "(TaskTimedOut)"

echo "--- examples/human-approval"
EX=$SRC/examples/human-approval
export IMGFLOW_REDIS_ADDRESS=127.0.0.1:$RPORT IMGFLOW_KAFKA_BOOTSTRAP_SERVERS=$BOOT
export KAFKA_BOOTSTRAP=$BOOT
# First without any server: imgflow run with the example's mocks.
for tc in NotFlagged:0:true Approved:0:true Rejected:1:Image.Rejected TimedOut:0:false; do
        IFS=: read -r name want_rc want <<<"$tc"
        "$IMGFLOW" run "$EX/human-approval.asl.json" --input-file "$EX/input.json" \
                --mock-config "$EX/mocks.json" --test-case "$name" >"$OUT" 2>"$ERR"; RC=$?
        got=$(json_get "$OUT" 'j.get("published", j.get("Error"))')
        [ "$RC" = "$want_rc" ] && [ "$got" = "$want" ] && ok "imgflow run human-approval $name: $got" ||
                fail "imgflow run human-approval $name: exit $RC, $got"
done
cli create-state-machine --name human-approval --definition "$EX/human-approval.asl.json"
expect_rc "create human-approval" 0

# answer_validation EXEC-ID OUTPUT-JSON: play the validators' pool for one task.
answer_validation() {
        local line=
        for _ in $(seq 100); do
                line=$(timeout 10 kcat -C -b "$BOOT" -t imgflow.tasks.validators -o beginning -e -q -f '%s\n' 2>/dev/null |
                        grep "\"executionId\":\"$1\"" | head -1)
                [ -n "$line" ] && break
                sleep 0.2
        done
        [ -n "$line" ] || { fail "no validation task for $1"; return; }
        printf '%s' "$line" | python3 -c '
import json, sys
t = json.load(sys.stdin)
print(json.dumps({"v": 1, "type": "TaskSucceeded", "executionId": t["executionId"], "taskId": t["taskId"],
                  "attempt": t["attempt"], "output": json.loads(sys.argv[1])}))' "$2" |
                kcat -P -b "$BOOT" -t imgflow.events -k "$1" 2>>"$TMP/kcat.err"
}

# review_token EXEC-ID: the token of its review request, as review.sh lists it.
review_token() {
        local t=
        for _ in $(seq 100); do
                t=$("$EX/review.sh" list 2>/dev/null | awk -F'\t' -v e="$1" '$2 == e { print $1 }' | tail -1)
                [ -n "$t" ] && break
                sleep 0.2
        done
        echo "$t"
}

VALID='{"isValid":true,"metadata":{"format":"jpeg","width":800,"height":600}}'
FLAGGED='{"isValid":false,"error":"Image.TooLarge","reason":"12000x4000 is larger than the maximum"}'
start human-approval ok1 '{"bucket":"photos","key":"raw/small.jpg","review":null,"reviewTimeoutSeconds":60}'
answer_validation human-approval:ok1 "$VALID"
wait_status human-approval:ok1 SUCCEEDED
expect_eq "not flagged: published without review" "$(json_get "$OUT" 'json.loads(j["output"])')" '{"bucket": "photos", "key": "raw/small.jpg", "published": true, "review": null}'

start human-approval yes1 '{"bucket":"photos","key":"raw/pano.jpg","review":null,"reviewTimeoutSeconds":60}'
answer_validation human-approval:yes1 "$FLAGGED"
T=$(review_token human-approval:yes1)
IMGFLOW=$IMGFLOW "$EX/review.sh" approve "$T" "looks fine" >"$OUT" 2>"$ERR"; RC=$?
expect_rc "review.sh approve" 0
wait_status human-approval:yes1 SUCCEEDED
expect_eq "approved: published with the review" "$(json_get "$OUT" 'json.loads(j["output"])')" '{"bucket": "photos", "key": "raw/pano.jpg", "published": true, "review": {"approved": true, "note": "looks fine"}}'

start human-approval no1 '{"bucket":"photos","key":"raw/odd.jpg","review":null,"reviewTimeoutSeconds":60}'
answer_validation human-approval:no1 "$FLAGGED"
T=$(review_token human-approval:no1)
IMGFLOW=$IMGFLOW "$EX/review.sh" reject "$T" "not suitable" >"$OUT" 2>"$ERR"; RC=$?
expect_rc "review.sh reject" 0
wait_status human-approval:no1 FAILED
expect_eq "rejected: Fail state" "$(json_get "$OUT" '[j["error"], j["cause"]]')" '["Image.Rejected", "not suitable"]'
IMGFLOW=$IMGFLOW "$EX/review.sh" approve "$T" >"$OUT" 2>"$ERR"; RC=$?
expect_err "approving a rejected one" 1 "(TaskDoesNotExist)"

start human-approval late1 '{"bucket":"photos","key":"raw/late.jpg","review":null,"reviewTimeoutSeconds":2}'
answer_validation human-approval:late1 "$FLAGGED"
T=$(review_token human-approval:late1)
wait_status human-approval:late1 SUCCEEDED 20
expect_eq "review timed out" "$(json_get "$OUT" 'json.loads(j["output"])')" '{"bucket": "photos", "key": "raw/late.jpg", "published": false, "status": "review timed out"}'
IMGFLOW=$IMGFLOW "$EX/review.sh" approve "$T" >"$OUT" 2>"$ERR"; RC=$?
expect_err "approving after the review timed out" 1 "(TaskTimedOut)"

# The JSONata version against the coordinator: the token from $states.context.Task.Token, the deadline from
# a TimeoutSeconds expression, approved through review.sh, the output built from the variables.
cli create-state-machine --name human-approval-jsonata --definition "$EX/human-approval-jsonata.asl.json"
expect_rc "create human-approval-jsonata" 0
start human-approval-jsonata yes2 '{"bucket":"photos","key":"raw/pano2.jpg","review":null,"reviewTimeoutSeconds":60}'
answer_validation human-approval-jsonata:yes2 "$FLAGGED"
T=$(review_token human-approval-jsonata:yes2)
IMGFLOW=$IMGFLOW "$EX/review.sh" approve "$T" "fine too" >"$OUT" 2>"$ERR"; RC=$?
expect_rc "jsonata: review.sh approve" 0
wait_status human-approval-jsonata:yes2 SUCCEEDED
expect_eq "jsonata approved: published with the review" "$(json_get "$OUT" 'json.loads(j["output"])')" '{"bucket": "photos", "key": "raw/pano2.jpg", "published": true, "review": {"approved": true, "note": "fine too"}}'

echo "--- tokens in the coordinator's log"
leaked=0
ALL_TOKENS=($(redis-cli -p "$RPORT" --scan --pattern 'imgflow:token:*' | sed 's/^imgflow:token://'))
[ ${#ALL_TOKENS[@]} -ge 12 ] || fail "only ${#ALL_TOKENS[@]} token records in Redis"
for t in "${ALL_TOKENS[@]}"; do
        grep -qF "$t" "$TMP/coordinator.log" && { leaked=1; echo "    token $t in the log"; }
done
[ $leaked = 0 ] && ok "no full token in the log (${#ALL_TOKENS[@]} tokens checked)" || fail "tokens logged in full"
grep -q "task token [0-9a-f]\{8\}\.\.\. refused: InvalidToken" "$TMP/coordinator.log" &&
        ok "refusals are logged with a token prefix" || fail "no refusal line with a token prefix"

if [ $FAILS -gt 0 ]; then
        echo "--- coordinator log (tail) ---"; tail -30 "$TMP/coordinator.log"
        echo "$FAILS failure(s)"
        exit 1
fi
exit 0
