#!/bin/bash
# SPDX-License-Identifier: MIT
# Debian's awscli (`aws stepfunctions`) against imgflow-api, as
# tests/integration/test-api.sh starts it (the environment is described
# there). Every call is the aws command itself: its signer, its
# paginators, its error output ("An error occurred (<Error>) when calling
# the <Operation> operation: ...", exit 254).
set -u
AWS=/usr/bin/aws
A=arn:aws:states:$AWS_REGION:$ACCOUNT
ROLE=arn:aws:iam::$ACCOUNT:role/imgflow
T=$(mktemp -d /tmp/imgflow-awscli.XXXXXX)
trap 'rm -rf "$T"' EXIT
OUT=$T/out ERR=$T/err RC=0
FAILS=0
ok() { echo "ok   $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }

# as KEY SECRET ARGS...: the aws command with that key; output in $OUT/$ERR, exit in $RC.
as() {
        local key=$1 secret=$2
        shift 2
        AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret timeout 90 "$AWS" --endpoint-url "$API_ENDPOINT" \
                --output json --cli-read-timeout 70 "$@" >"$OUT" 2>"$ERR"
        RC=$?
}
# skewed SECONDS ARGS...: the aws command itself (awscli.clidriver, as
# /usr/bin/aws runs it) with the admin key, its signer's clock moved by
# SECONDS, and no retry; output in $OUT/$ERR, exit in $RC.
skewed() {
        local shift=$1
        shift
        AWS_ACCESS_KEY_ID=$ADMIN_KEY AWS_SECRET_ACCESS_KEY=$ADMIN_SECRET AWS_MAX_ATTEMPTS=1 timeout 90 /usr/bin/python3 -c '
import datetime, sys
import awscli.clidriver
import botocore.auth as auth  # awscli'"'"'s own botocore, once awscli is imported
skew = datetime.timedelta(seconds=int(sys.argv[1]))
class Clock(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return datetime.datetime.utcnow() + skew
class Module:
    datetime = Clock
auth.datetime = Module
sys.argv = ["aws"] + sys.argv[2:]
sys.exit(awscli.clidriver.main())' "$shift" --endpoint-url "$API_ENDPOINT" --output json "$@" >"$OUT" 2>"$ERR"
        RC=$?
}
admin() { as "$ADMIN_KEY" "$ADMIN_SECRET" stepfunctions "$@"; }
starter() { as "$STARTER_KEY" "$STARTER_SECRET" stepfunctions "$@"; }

# jget PYTHON-EXPRESSION (on j, the last output): prints the value.
jget() {
        /usr/bin/python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
v = eval(sys.argv[2], {"j": j, "json": json})
print(v if isinstance(v, str) else json.dumps(v, sort_keys=True))' "$OUT" "$1" 2>/dev/null
}

expect_ok() { [ "$RC" = 0 ] && ok "$1" || { fail "$1: exit $RC: $(head -c 300 "$ERR")"; }; }
expect_eq() { [ "$2" = "$3" ] && ok "$1: $2" || fail "$1: got '$2', expected '$3'"; }
# expect_error NAME ERROR: exit 254 and AWS's error line naming ERROR.
expect_error() {
        if [ "$RC" = 254 ] && grep -q "An error occurred ($2) when calling" "$ERR"; then
                ok "$1: $(tr -s '\n' ' ' <"$ERR" | head -c 200)"
        else
                fail "$1: exit $RC, expected $2: $(head -c 300 "$ERR")"
        fi
}

wait_status() { # EXECUTION-ARN STATUS
        local s=
        for _ in $(seq 600); do
                admin describe-execution --execution-arn "$1"
                s=$(jget 'j["status"]')
                [ "$s" != RUNNING ] && break
                sleep 0.2
        done
        expect_eq "${1##*:} status" "$s" "$2"
}

echo "--- the image pipeline"
admin create-state-machine --name image-pipeline --role-arn "$ROLE" \
        --definition "file://$EXAMPLES/image-pipeline/image-pipeline.asl.json"
expect_ok "create-state-machine"
SM=$(jget 'j["stateMachineArn"]')
expect_eq "its ARN" "$SM" "$A:stateMachine:image-pipeline"
admin describe-state-machine --state-machine-arn "$SM"
expect_eq "describe-state-machine" "$(jget '[j["status"], j["type"], j["roleArn"]]')" \
        "[\"ACTIVE\", \"STANDARD\", \"$ROLE\"]"
admin list-state-machines --query 'stateMachines[].name'
expect_eq "list-state-machines" "$(jget 'j')" '["image-pipeline"]'

i=0
for key in $PHOTOS; do
        starter start-execution --state-machine-arn "$SM" --name "photo-$i" \
                --input "{\"bucket\": \"photos\", \"key\": \"$key\"}"
        expect_ok "start-execution photo-$i (starter key)"
        i=$((i + 1))
done
for n in 0 1 2; do
        wait_status "$A:execution:image-pipeline:photo-$n" SUCCEEDED
done
starter describe-execution --execution-arn "$A:execution:image-pipeline:photo-0"
expect_eq "describe-execution: input as JSON text" "$(jget 'json.loads(j["input"])["bucket"]')" photos
expect_eq "describe-execution: dates" "$(jget 'j["stopDate"] >= j["startDate"]')" true

echo "--- histories"
admin get-execution-history --execution-arn "$A:execution:image-pipeline:photo-0"
ALL=$(jget '[e["id"] for e in j["events"]]')
expect_eq "get-execution-history: first and last" "$(jget '[j["events"][0]["type"], j["events"][-1]["type"]]')" \
        '["ExecutionStarted", "ExecutionSucceeded"]'
# The CLI's paginator fetches pages of 4 (nextToken) and joins them.
admin get-execution-history --execution-arn "$A:execution:image-pipeline:photo-0" --page-size 4
expect_eq "pages of 4 joined by the paginator" "$(jget '[e["id"] for e in j["events"]]')" "$ALL"
admin get-execution-history --execution-arn "$A:execution:image-pipeline:photo-0" --max-items 3
TOKEN=$(jget 'j["NextToken"]')
admin get-execution-history --execution-arn "$A:execution:image-pipeline:photo-0" --max-items 3 \
        --starting-token "$TOKEN"
expect_eq "--starting-token goes on" "$(jget '[e["id"] for e in j["events"]]')" '[4, 5, 6]'
admin get-execution-history --execution-arn "$A:execution:image-pipeline:photo-0" --reverse-order --max-items 2
expect_eq "--reverse-order" "$(jget '[j["events"][0]["type"], j["events"][0]["id"] - j["events"][1]["id"]]')" \
        '["ExecutionSucceeded", 1]'
admin get-execution-history --execution-arn "$A:execution:image-pipeline:photo-0" --no-include-execution-data
expect_eq "--no-include-execution-data" "$(jget '"input" in j["events"][0]["executionStartedEventDetails"]')" false
admin list-executions --state-machine-arn "$SM" --status-filter SUCCEEDED --query 'executions[].name'
expect_eq "list-executions --status-filter SUCCEEDED" "$(jget 'sorted(j)')" '["photo-0", "photo-1", "photo-2"]'
admin list-executions --state-machine-arn "$SM" --status-filter RUNNING
expect_eq "list-executions --status-filter RUNNING" "$(jget 'j["executions"]')" '[]'
admin list-executions --state-machine-arn "$SM" --page-size 1 --query 'executions[].name'
expect_eq "list-executions in pages of 1" "$(jget 'sorted(j)')" '["photo-0", "photo-1", "photo-2"]'
admin describe-state-machine-for-execution --execution-arn "$A:execution:image-pipeline:photo-1"
expect_eq "describe-state-machine-for-execution" "$(jget 'j["name"]')" image-pipeline
admin describe-execution --execution-arn "$A:execution:image-pipeline:none"
expect_error "describe-execution of an unknown execution" ExecutionDoesNotExist
admin describe-execution --execution-arn "arn:aws:states:eu-west-1:$ACCOUNT:execution:image-pipeline:photo-0"
expect_error "an ARN of another region" InvalidArn

echo "--- human approval with task tokens"
admin create-state-machine --name image-review --role-arn "$ROLE" \
        --definition "file://$EXAMPLES/human-approval/human-approval.asl.json"
expect_ok "create-state-machine image-review"
HA=$A:stateMachine:image-review
INPUT="{\"bucket\": \"photos\", \"key\": \"$WIDE_PHOTO\", \"review\": null, \"reviewTimeoutSeconds\": 120}"
starter start-execution --state-machine-arn "$HA" --name ok-1 --input "$INPUT"
expect_ok "start-execution ok-1"
TOK=$("$REVIEW_TOKEN" image-review:ok-1)
[ ${#TOK} -ge 32 ] && ok "the review request carries a task token" || fail "no review token"
starter send-task-heartbeat --task-token "$TOK"
expect_ok "send-task-heartbeat"
starter send-task-success --task-token "$TOK" --task-output '{"approved": true, "by": "awscli"}'
expect_ok "send-task-success"
wait_status "$A:execution:image-review:ok-1" SUCCEEDED
expect_eq "approved: published" "$(jget 'json.loads(j["output"])["review"]["by"]')" awscli
starter send-task-success --task-token "$TOK" --task-output '{}'
expect_error "the same token again" TaskDoesNotExist
starter start-execution --state-machine-arn "$HA" --name no-1 --input "$INPUT"
TOK=$("$REVIEW_TOKEN" image-review:no-1)
starter send-task-failure --task-token "$TOK" --error Review.Rejected --cause "not wanted"
expect_ok "send-task-failure"
wait_status "$A:execution:image-review:no-1" FAILED
expect_eq "rejected" "$(jget '[j["error"], j["cause"]]')" '["Image.Rejected", "not wanted"]'
starter send-task-success --task-token 00000000000000000000000000000000 --task-output '{}'
expect_error "a token never issued" InvalidToken

echo "--- activities"
admin create-activity --name thumbnail-check
expect_ok "create-activity"
ACT=$(jget 'j["activityArn"]')
expect_eq "its ARN" "$ACT" "$A:activity:thumbnail-check"
cat >"$T/act.json" <<EOF
{"StartAt": "Check", "States": {"Check": {"Type": "Task", "Resource": "$ACT", "TimeoutSeconds": 120,
 "Parameters": {"key.\$": "\$.key"}, "ResultPath": "\$.check", "End": true}}}
EOF
admin create-state-machine --name check-it --role-arn "$ROLE" --definition "file://$T/act.json"
expect_ok "create-state-machine with an activity task"
# A worker polls before the task exists (a long poll) ...
AWS_ACCESS_KEY_ID=$ADMIN_KEY AWS_SECRET_ACCESS_KEY=$ADMIN_SECRET timeout 90 "$AWS" --endpoint-url "$API_ENDPOINT" \
        --output json --cli-read-timeout 70 stepfunctions get-activity-task --activity-arn "$ACT" \
        --worker-name awscli-worker >"$T/task.json" 2>"$T/task.err" &
POLLER=$!
sleep 1
admin start-execution --state-machine-arn "$A:stateMachine:check-it" --name c-1 --input '{"key": "raw/photo-0001.jpg"}'
expect_ok "start-execution c-1"
wait "$POLLER"
cp "$T/task.json" "$OUT"
TOK=$(jget 'j["taskToken"]')
expect_eq "get-activity-task got the task's input" "$(jget 'json.loads(j["input"])')" '{"key": "raw/photo-0001.jpg"}'
admin send-task-success --task-token "$TOK" --task-output '{"ok": true}'
expect_ok "send-task-success with the activity's token"
wait_status "$A:execution:check-it:c-1" SUCCEEDED
expect_eq "the activity's result" "$(jget 'json.loads(j["output"])["check"]')" '{"ok": true}'
admin start-execution --state-machine-arn "$A:stateMachine:check-it" --name c-2 --input '{"key": "x"}'
admin get-activity-task --activity-arn "$ACT"
TOK=$(jget 'j["taskToken"]')
admin stop-execution --execution-arn "$A:execution:check-it:c-2" --error Ops.Cancelled --cause "stop"
expect_ok "stop-execution"
wait_status "$A:execution:check-it:c-2" ABORTED
admin send-task-success --task-token "$TOK" --task-output '{}'
expect_error "the task of a stopped execution" TaskDoesNotExist
admin describe-activity --activity-arn "$ACT"
expect_eq "describe-activity" "$(jget 'j["name"]')" thumbnail-check
admin list-activities --query 'activities[].name'
expect_eq "list-activities" "$(jget 'j')" '["thumbnail-check"]'
admin delete-activity --activity-arn "$ACT"
expect_ok "delete-activity"
admin get-activity-task --activity-arn "$ACT"
expect_error "get-activity-task after delete-activity" ActivityDoesNotExist

echo "--- updates and deletes"
admin update-state-machine --state-machine-arn "$A:stateMachine:check-it" \
        --definition '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}'
expect_ok "update-state-machine"
admin describe-state-machine --state-machine-arn "$A:stateMachine:check-it"
expect_eq "update: the new definition" "$(jget 'json.loads(j["definition"])["StartAt"]')" P
admin describe-state-machine --state-machine-arn "$A:stateMachine:check-it:1"
expect_eq "... and version 1 is still there" "$(jget 'json.loads(j["definition"])["StartAt"]')" Check
admin delete-state-machine --state-machine-arn "$A:stateMachine:check-it"
expect_ok "delete-state-machine"
admin describe-state-machine --state-machine-arn "$A:stateMachine:check-it"
expect_error "describe-state-machine after delete" StateMachineDoesNotExist
admin create-state-machine --name bad --role-arn "$ROLE" \
        --definition '{"StartAt": "Nowhere", "States": {"P": {"Type": "Pass", "End": true}}}'
expect_error "an invalid definition" InvalidDefinition

echo "--- Map Runs"
# A distributed Map of 8 items, one child at a time until update-map-run
# raises it to 4; items 2 and 5 fail (test.fail), within the tolerance of 5.
python3 - >"$T/maprun.asl.json" <<'PY'
import json
child = {"StartAt": "Which", "States": {
    "Which": {"Type": "Choice", "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Bad"}],
              "Default": "Work"},
    "Bad": {"Type": "Task", "Resource": "imgflow:test.fail",
            "Parameters": {"error": "Image.Invalid", "cause": "not a JPEG"}, "End": True},
    "Work": {"Type": "Task", "Resource": "imgflow:test.sleep", "Parameters": {"ms.$": "$.ms"}, "End": True}}}
child["ProcessorConfig"] = {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
print(json.dumps({"StartAt": "M", "States": {"M": {
    "Type": "Map", "Label": "thumbs", "ItemsPath": "$.items", "MaxConcurrency": 1,
    "ToleratedFailureCount": 5, "ItemProcessor": child, "ResultPath": None, "End": True}}}))
PY
ITEMS=$(python3 -c 'import json; print(json.dumps({"items": [{"ms": 4000, "fail": i in (2, 5)} for i in range(8)]}))')
admin create-state-machine --name maprun-demo --role-arn "$ROLE" --definition "file://$T/maprun.asl.json"
expect_ok "create-state-machine maprun-demo"
admin start-execution --state-machine-arn "$A:stateMachine:maprun-demo" --name mr1 --input "$ITEMS"
expect_ok "start-execution maprun-demo"
MR=
for _ in $(seq 300); do
        admin list-map-runs --execution-arn "$A:execution:maprun-demo:mr1"
        MR=$(jget 'j["mapRuns"][0]["mapRunArn"]')
        [ -n "$MR" ] && break
        sleep 0.2
done
case "$MR" in
"$A:mapRun:maprun-demo/thumbs:"*) ok "list-map-runs: $MR" ;;
*) fail "list-map-runs gave no Map Run: $(cat "$OUT" "$ERR")" ;;
esac
expect_eq "list-map-runs: stateMachineArn" "$(jget 'j["mapRuns"][0]["stateMachineArn"]')" \
        "$A:stateMachine:maprun-demo/thumbs"
expect_eq "list-map-runs: executionArn" "$(jget 'j["mapRuns"][0]["executionArn"]')" "$A:execution:maprun-demo:mr1"
admin describe-map-run --map-run-arn "$MR"
expect_ok "describe-map-run"
expect_eq "describe-map-run: status, maxConcurrency, tolerance, total" \
        "$(jget '[j["status"], j["maxConcurrency"], j["toleratedFailureCount"], j["itemCounts"]["total"]]')" \
        '["RUNNING", 1, 5, 8]'
expect_eq "describe-map-run: one child at a time" "$(jget 'j["executionCounts"]["running"]')" 1
admin update-map-run --map-run-arn "$MR" --max-concurrency 4
expect_ok "update-map-run --max-concurrency 4 while it runs"
RUNNING=0
for _ in $(seq 100); do
        admin describe-map-run --map-run-arn "$MR"
        RUNNING=$(jget 'j["executionCounts"]["running"]')
        [ "${RUNNING:-0}" -ge 2 ] || [ "$(jget 'j["status"]')" != RUNNING ] && break
        sleep 0.1
done
expect_eq "describe-map-run: maxConcurrency after the update" "$(jget 'j["maxConcurrency"]')" 4
[ "${RUNNING:-0}" -ge 2 ] && ok "more children run at once after the update: $RUNNING" ||
        fail "still one child at a time after update-map-run: $(cat "$OUT")"
wait_status "$A:execution:maprun-demo:mr1" SUCCEEDED
admin describe-map-run --map-run-arn "$MR"
expect_eq "describe-map-run at the end: status, items succeeded/failed/running/pending/total" \
        "$(jget '[j["status"], j["itemCounts"]["succeeded"], j["itemCounts"]["failed"], j["itemCounts"]["running"], j["itemCounts"]["pending"], j["itemCounts"]["total"]]')" \
        '["SUCCEEDED", 6, 2, 0, 0, 8]'
expect_eq "describe-map-run at the end: child executions succeeded/failed/total" \
        "$(jget '[j["executionCounts"]["succeeded"], j["executionCounts"]["failed"], j["executionCounts"]["total"]]')" \
        '[6, 2, 8]'
[ "$(jget '"stopDate" in j and j["stopDate"] >= j["startDate"]')" = true ] && ok "describe-map-run: stopDate" ||
        fail "no stopDate: $(cat "$OUT")"
admin update-map-run --map-run-arn "$MR" --max-concurrency 2
expect_error "update-map-run of a finished run" ValidationException
admin describe-map-run --map-run-arn "${MR%:*}:00000000-0000-4000-8000-000000000000"
expect_error "describe-map-run of an unknown run" ResourceNotFound
admin describe-map-run --map-run-arn "$A:execution:maprun-demo:mr1"
expect_error "describe-map-run with an execution's ARN" InvalidArn
admin update-map-run --map-run-arn "$MR" --tolerated-failure-percentage 101
expect_error "update-map-run --tolerated-failure-percentage 101" ValidationException
admin list-executions --map-run-arn "$MR"
expect_ok "list-executions --map-run-arn"
expect_eq "list-executions --map-run-arn: the 8 children, each an execution of its own" \
        "$(jget '[len(j["executions"]), sorted(set(e["status"] for e in j["executions"])), all(e["executionArn"].startswith("'"$A"':execution:maprun-demo/thumbs:") and e["stateMachineArn"] == "'"$A"':stateMachine:maprun-demo/thumbs" and e["mapRunArn"] == "'"$MR"'" for e in j["executions"])]')" \
        '[8, ["FAILED", "SUCCEEDED"], true]'
CHILD=$(jget '[e for e in j["executions"] if e["status"] == "FAILED"][0]["executionArn"]')
admin list-executions --map-run-arn "$MR" --status-filter FAILED
expect_eq "list-executions --map-run-arn --status-filter FAILED" "$(jget 'len(j["executions"])')" 2
admin list-executions --map-run-arn "$MR" --max-items 3
expect_eq "list-executions --map-run-arn --max-items 3: a page and a token" \
        "$(jget '[len(j["executions"]), bool(j.get("NextToken"))]')" '[3, true]'
admin describe-execution --execution-arn "$CHILD"
expect_eq "describe-execution of a failed child: status, error, its Map Run" \
        "$(jget '[j["status"], j["error"], j["cause"], j["mapRunArn"], j["stateMachineArn"]]')" \
        '["FAILED", "Image.Invalid", "not a JPEG", "'"$MR"'", "'"$A"':stateMachine:maprun-demo/thumbs"]'
admin get-execution-history --execution-arn "$CHILD"
expect_eq "get-execution-history of a child: its own events" \
        "$(jget '[j["events"][0]["type"], j["events"][-1]["type"], "TaskFailed" in [e["type"] for e in j["events"]]]')" \
        '["ExecutionStarted", "ExecutionFailed", true]'
admin list-map-runs --execution-arn "$A:execution:maprun-demo:nope"
expect_error "list-map-runs of an unknown execution" ExecutionDoesNotExist
starter describe-map-run --map-run-arn "$MR"
expect_error "starter: describe-map-run" AccessDeniedException
grep -q "states:DescribeMapRun on resource: $MR" "$ERR" && ok "... names states:DescribeMapRun and the run" ||
        fail "AccessDeniedException text: $(cat "$ERR")"

echo "--- EXPRESS"
# Step Functions' answers for an Express machine: StartExecution gives an
# "express:<machine>:<name>:<run id>" ARN, which no operation on executions
# takes (InvalidArn and its text; boto3-test.py checks an ended one too);
# ListExecutions refuses the machine (StateMachineTypeNotSupported).
EXPRESS_REFUSED="Invalid Arn: 'Resource type not valid in this context: express'"
admin create-state-machine --name express-cli --role-arn "$ROLE" --type EXPRESS \
        --definition '{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":20,"End":true}}}'
expect_ok "create-state-machine --type EXPRESS"
XSM=$(jget 'j["stateMachineArn"]')
admin start-execution --state-machine-arn "$XSM" --name x1
expect_ok "start-execution of an EXPRESS machine"
XARN=$(jget 'j["executionArn"]')
expect_eq "its ARN is an express: ARN with a run id" \
        "$(jget 'j["executionArn"].rsplit(":", 1)[0] + " " + str(len(j["executionArn"].rsplit(":", 1)[1]))')" \
        "$A:express:express-cli:x1 36"
express_refused() { # WHEN ARN
        local op
        for op in describe-execution get-execution-history redrive-execution \
                describe-state-machine-for-execution stop-execution; do
                admin $op --execution-arn "$2"
                if grep -q "Invalid choice" "$ERR"; then # Debian 12's awscli predates redrive-execution
                        ok "$op: not in this aws command"
                        continue
                fi
                expect_error "$op of $1 EXPRESS execution" InvalidArn
                grep -qF "$EXPRESS_REFUSED" "$ERR" || fail "$op: not Step Functions' text: $(cat "$ERR")"
        done
}
express_refused "a running" "$XARN"
admin list-executions --state-machine-arn "$XSM"
expect_error "list-executions of an EXPRESS machine" StateMachineTypeNotSupported
grep -q "This operation is not supported by this type of state machine" "$ERR" &&
        ok "... with Step Functions' text" || fail "list-executions text: $(cat "$ERR")"

echo "--- refusals"
as AKIAIMGFLOWUNKNOWN01 whatever-whatever-whatever stepfunctions list-state-machines
expect_error "an unknown access key" UnrecognizedClientException
as "$ADMIN_KEY" not-the-secret-not-the-secret stepfunctions list-state-machines
expect_error "a wrong secret" InvalidSignatureException
AWS_ACCESS_KEY_ID=$ADMIN_KEY AWS_SECRET_ACCESS_KEY=$ADMIN_SECRET timeout 90 "$AWS" --endpoint-url "$API_ENDPOINT" \
        --region eu-west-1 stepfunctions list-state-machines >"$OUT" 2>"$ERR"
RC=$?
expect_error "signed for another region" InvalidSignatureException
timeout 90 "$AWS" --endpoint-url "$API_ENDPOINT" --no-sign-request stepfunctions list-state-machines >"$OUT" 2>"$ERR"
RC=$?
expect_error "--no-sign-request" MissingAuthenticationTokenException
skewed 0 stepfunctions list-state-machines
expect_ok "the aws command with its clock moved by 0 s"
skewed -360 stepfunctions list-state-machines
expect_error "a clock 6 minutes behind" InvalidSignatureException
grep -q "Signature expired" "$ERR" && ok "... Signature expired" || fail "not 'Signature expired': $(cat "$ERR")"
skewed 360 stepfunctions list-state-machines
expect_error "a clock 6 minutes ahead" InvalidSignatureException
grep -q "Signature not yet current" "$ERR" && ok "... Signature not yet current" || fail "not 'not yet current': $(cat "$ERR")"
skewed -270 stepfunctions list-state-machines
expect_ok "a clock 4.5 minutes behind is inside the 5 minutes"
starter list-state-machines
expect_error "starter: list-state-machines" AccessDeniedException
grep -q "user/starter is not authorized to perform: states:ListStateMachines on resource: \*" "$ERR" &&
        ok "AccessDeniedException names the user, the action and the resource" || fail "AccessDeniedException text"
starter stop-execution --execution-arn "$A:execution:image-pipeline:photo-0"
expect_error "starter: stop-execution" AccessDeniedException
as "$DENIER_KEY" "$DENIER_SECRET" stepfunctions delete-state-machine --state-machine-arn "$SM"
expect_error "denier: delete-state-machine" AccessDeniedException
grep -q "explicit deny" "$ERR" && ok "... by an explicit deny" || fail "not an explicit deny: $(cat "$ERR")"
as "$DENIER_KEY" "$DENIER_SECRET" stepfunctions describe-state-machine --state-machine-arn "$SM"
expect_ok "denier: describe-state-machine is allowed"

[ $FAILS = 0 ] && echo "all passed" || echo "$FAILS failure(s)"
exit $((FAILS > 0))
