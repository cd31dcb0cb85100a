#!/bin/sh
# `imgflow run` and `imgflow validate-state-machine-definition` on every
# example and mock test case: outputs (compared as JSON) and exit codes.
#   test-cli-run.sh IMGFLOW SOURCE_ROOT
set -u
IMGFLOW=$1; SRC=$2
command -v python3 >/dev/null || { echo "python3 missing"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0

# json_eq FILE EXPECTED-JSON: true if FILE holds exactly one line of JSON equal to it
json_eq() {
        python3 - "$1" "$2" <<'PY'
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
ok = len(lines) == 1 and json.loads(lines[0]) == json.loads(sys.argv[2])
if not ok:
    print("    got:      %s" % "".join(lines).strip())
    print("    expected: %s" % sys.argv[2])
sys.exit(0 if ok else 1)
PY
}

# check NAME EXPECTED-EXIT EXPECTED-JSON -- ARGS...
check() {
        name=$1; want_rc=$2; want_json=$3; shift 4
        "$IMGFLOW" "$@" >"$T/out" 2>"$T/err"; rc=$?
        if [ "$rc" -ne "$want_rc" ]; then
                echo "FAIL $name: exit $rc, expected $want_rc"; sed 's/^/    /' "$T/err" "$T/out"; fail=1; return
        fi
        if [ -n "$want_json" ] && ! json_eq "$T/out" "$want_json"; then
                echo "FAIL $name: output"; fail=1; return
        fi
        echo "ok   $name"
}

IP=$SRC/examples/image-pipeline
PIPE="run $IP/image-pipeline.asl.json --input-file $IP/input.json --mock-config $IP/mocks.json"
HAPPY='{"bucket":"photos","key":"raw/cat.jpg","validation":{"isValid":true,"format":"jpeg","width":4032,"height":3024},"processed":[{"resized":"resized/cat-1024.jpg"},{"filtered":"filtered/cat-sharpen-grayscale.jpg"}],"optimized":{"bucket":"photos","key":"optimized/cat.webp","bytes":183211}}'

for f in "$SRC"/examples/*/*.asl.json; do
        check "validate $(basename "$f")" 0 "" -- validate-state-machine-definition "$f"
        "$IMGFLOW" validate-state-machine-definition "$f" | grep -qx OK || { echo "FAIL validate prints OK"; fail=1; }
done

check "pipeline HappyPath" 0 "$HAPPY" -- $PIPE --test-case HappyPath
check "pipeline InvalidImage" 1 '{"Error":"Image.Invalid","Cause":"unsupported format: image/gif"}' -- $PIPE --test-case InvalidImage
check "pipeline TransientFailureRetried" 0 "$HAPPY" -- $PIPE --test-case TransientFailureRetried
check "pipeline TransientFailureExhausted" 1 '{"Error":"Lambda.TooManyRequestsException","Cause":"Rate exceeded"}' -- $PIPE --test-case TransientFailureExhausted
check "pipeline CorruptImage" 1 '{"Error":"Image.Invalid","Cause":"VipsJpeg: premature end of JPEG image"}' -- $PIPE --test-case CorruptImage

# the history of the retried case: Resize scheduled 3 times, the clock jumped 1 s then 2 s
"$IMGFLOW" $PIPE --test-case TransientFailureRetried --history >/dev/null 2>"$T/hist"
if python3 - "$T/hist" <<'PY'
import json, sys, datetime
ev = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
types = [e["type"] for e in ev]
assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded", types
assert [e["id"] for e in ev] == list(range(1, len(ev) + 1))
assert all(e["previousEventId"] == e["id"] - 1 for e in ev)
assert types.count("TaskFailed") == 2 and "ParallelStateStarted" in types and "ParallelStateSucceeded" in types
# every task attempt scheduled was started (Lambda function ARNs: LambdaFunction*)
for kind in ("Task", "LambdaFunction"):
    assert types.count(kind + "Scheduled") == types.count(kind + "Started") > 0, types
entered = [e["stateEnteredEventDetails"]["name"] for e in ev if e["type"].endswith("StateEntered")]
assert entered == ["ValidateImage", "IsImageValid", "ProcessImage", "Resize", "ApplyFilters",
                   "OptimizeImage", "NotifySuccess", "Done"], entered
ts = lambda e: datetime.datetime.strptime(e["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
assert (ts(ev[-1]) - ts(ev[0])).total_seconds() == 3.0, (ev[0]["timestamp"], ev[-1]["timestamp"])
PY
then echo "ok   pipeline history"; else echo "FAIL pipeline history"; fail=1; fi

HE=$SRC/examples/hello/hello.asl.json
check "hello World" 0 '{"greeting":"Hello, World!","name":"World","waitSeconds":3600,"kind":"classic"}' -- run "$HE" --input-file "$SRC/examples/hello/input.json"
check "hello Ada" 0 '{"greeting":"Hello, Ada!","name":"Ada","waitSeconds":5,"kind":"personal"}' -- run "$HE" --input '{"name":"Ada","waitSeconds":5}'
check "hello missing name" 1 "" -- run "$HE" --input '{"waitSeconds":5}'
grep -q '"Error":"States.Runtime"\|"Error":"States.IntrinsicFailure"\|"Error":"States.ParameterPathFailure"' "$T/out" || { echo "FAIL hello missing name: error"; fail=1; }

MP=$SRC/examples/map
MAPRUN="run $MP/thumbnails.asl.json --input-file $MP/input.json"
check "map no mocks" 0 '{"bucket":"photos","count":5,"thumbnails":[{"index":0,"bucket":"photos","key":"raw/a.jpg","width":256},{"index":1,"bucket":"photos","key":"raw/b.jpg","width":256},{"index":2,"bucket":"photos","key":"raw/c.jpg","width":256},{"index":3,"bucket":"photos","key":"raw/d.jpg","width":256},{"index":4,"bucket":"photos","key":"raw/e.jpg","width":256}]}' -- $MAPRUN
check "map OneCorrupt" 0 '{"bucket":"photos","count":5,"thumbnails":[{"thumbnail":"thumbs/a.jpg"},{"Error":"Image.Invalid","Cause":"not a JPEG file"},{"thumbnail":"thumbs/other.jpg"},{"thumbnail":"thumbs/other.jpg"},{"thumbnail":"thumbs/other.jpg"}]}' -- $MAPRUN --mock-config "$MP/mocks.json" --test-case OneCorrupt
check "map TwoCorrupt" 1 '{"Error":"States.ExceedToleratedFailureThreshold","Cause":"The specified tolerated failure threshold was exceeded"}' -- $MAPRUN --mock-config "$MP/mocks.json" --test-case TwoCorrupt

DM=$SRC/examples/distributed-map
DMRUN="run $DM/thumbnails.asl.json --input-file $DM/input.json --mock-config $DM/mocks.json"
check "distributed map ThreeImages" 0 '{"bucket":"photos","prefix":"raw/","count":3,"thumbnails":[{"key":"processed/t/raw/a.jpg","size":4100},{"key":"processed/t/raw/b.jpg","size":4200},{"key":"processed/t/raw/c.jpg","size":4300}]}' -- $DMRUN --test-case ThreeImages
check "distributed map OneOfThreeCorrupt" 1 '{"Error":"States.ExceedToleratedFailureThreshold","Cause":"The specified tolerated failure threshold was exceeded"}' -- $DMRUN --test-case OneOfThreeCorrupt

# invalid definitions, bad arguments, help
printf '{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","Next":"Nowhere"}}}' >"$T/bad.asl.json"
check "validate invalid" 1 "" -- validate-state-machine-definition "$T/bad.asl.json"
grep -q '^/States/A/Next: ' "$T/out" || { echo "FAIL validate invalid: no pointer line"; cat "$T/out"; fail=1; }
printf '{"StartAt":' >"$T/syntax.json"
check "validate syntax error" 1 "" -- validate-state-machine-definition "$T/syntax.json"
check "validate unreadable" 2 "" -- validate-state-machine-definition "$T/does-not-exist.json"
check "validate no args" 2 "" -- validate-state-machine-definition
# --type: the rules of a STANDARD (default) or EXPRESS state machine
HA=$SRC/examples/human-approval/human-approval.asl.json
check "validate --type STANDARD" 0 "" -- validate-state-machine-definition --type STANDARD "$HA"
check "validate --type EXPRESS" 1 "" -- validate-state-machine-definition --type EXPRESS "$HA"
grep -q "/Resource: Express state machine does not support '.waitForTaskToken' service integration" "$T/out" ||
        { echo "FAIL validate --type EXPRESS: no Resource line"; cat "$T/out"; fail=1; }
check "validate --type EXPRESS image-pipeline" 0 "" -- validate-state-machine-definition --type EXPRESS "$IP/image-pipeline.asl.json"
check "validate --type bad" 2 "" -- validate-state-machine-definition --type express "$HA"
# The AWS CLI's form: --definition (JSON or file://), ValidateStateMachineDefinition's answer.
# aws_answer NAME EXPECTED-JSON: the output (pretty-printed) is that JSON.
aws_answer() {
        python3 -c 'import json, sys; sys.exit(json.load(open(sys.argv[1])) != json.loads(sys.argv[2]))' "$T/out" "$2" ||
                { echo "FAIL $1: $(cat "$T/out")"; fail=1; }
}
check "validate --definition file://" 0 "" -- \
        validate-state-machine-definition --definition "file://$IP/image-pipeline.asl.json"
aws_answer "validate --definition file://" '{"result":"OK","diagnostics":[],"truncated":false}'
printf '{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Nowhere"},"B":{"Type":"Succeed"}}}' >"$T/bad2.asl.json"
check "validate --definition, invalid" 0 "" -- validate-state-machine-definition --definition "$(cat "$T/bad2.asl.json")"
aws_answer "validate --definition, invalid" '{"result":"FAIL","diagnostics":[{"severity":"ERROR","code":"SCHEMA_VALIDATION_FAILED","message":"no state named \"Nowhere\" in this state machine","location":"/States/A/Next"},{"severity":"ERROR","code":"SCHEMA_VALIDATION_FAILED","message":"state is not reachable from StartAt","location":"/States/B"}],"truncated":false}'
# The codes of the rules Step Functions names: DUPLICATE_STATE_NAME,
# INVALID_STATE_NAME, MISSING_END_STATE (the others SCHEMA_VALIDATION_FAILED).
check "validate --definition, named codes" 0 "" -- validate-state-machine-definition --definition \
        '{"StartAt":"A","States":{"A":{"Type":"Parallel","Branches":[{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}],"Next":"B"},"B":{"Type":"Pass","Next":"A"},"":{"Type":"Succeed"}}}'
aws_answer "validate --definition, named codes" '{"result":"FAIL","diagnostics":[{"severity":"ERROR","code":"DUPLICATE_STATE_NAME","message":"state name \"A\" is already used at /States/A: state names must be unique in the whole state machine","location":"/States/A/Branches/0/States/A"},{"severity":"ERROR","code":"INVALID_STATE_NAME","message":"a state name must be 1 to 80 characters long","location":"/States/"},{"severity":"ERROR","code":"SCHEMA_VALIDATION_FAILED","message":"state is not reachable from StartAt","location":"/States/"}],"truncated":false}'
check "validate --definition, no terminal state" 0 "" -- validate-state-machine-definition --definition \
        '{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"A"}}}'
aws_answer "validate --definition, no terminal state" '{"result":"FAIL","diagnostics":[{"severity":"ERROR","code":"MISSING_END_STATE","message":"no terminal state: some state must be a Succeed or Fail state or have \"End\": true","location":"/States"}],"truncated":false}'
check "validate --definition, not JSON" 0 "" -- validate-state-machine-definition --definition '{"StartAt":'
aws_answer "validate --definition, not JSON" '{"result":"FAIL","diagnostics":[{"severity":"ERROR","code":"INVALID_JSON_DESCRIPTION","message":"line 1, column 11: unexpected token near end of file"}],"truncated":false}'
check "validate --definition --type EXPRESS" 0 "" -- validate-state-machine-definition --type EXPRESS --definition "file://$HA"
grep -q '"result": "FAIL"' "$T/out" && grep -q '"location": "/States/.*/Resource"' "$T/out" ||
        { echo "FAIL validate --definition --type EXPRESS: $(cat "$T/out")"; fail=1; }
check "run invalid definition" 2 "" -- run "$T/bad.asl.json"
check "run bad input" 2 "" -- run "$HE" --input '{nope'
check "run unknown test case" 2 "" -- $PIPE --test-case NoSuchCase
check "run unknown option" 2 "" -- run "$HE" --frobnicate
check "run --name" 0 "$HAPPY" -- run "$IP/image-pipeline.asl.json" --name image-pipeline --input-file "$IP/input.json" --mock-config "$IP/mocks.json" --test-case HappyPath
check "unknown verb" 2 "" -- no-such-verb
for v in run validate-state-machine-definition; do
        check "$v --help" 0 "" -- $v --help
        grep -q "^Usage: imgflow $v" "$T/out" || { echo "FAIL $v --help text"; fail=1; }
done
check "--help" 0 "" -- --help

# --real-time really waits (a 1 s Wait)
start=$(date +%s%N)
check "hello --real-time" 0 '{"greeting":"Hello, Ada!","name":"Ada","waitSeconds":1,"kind":"personal"}' -- run "$HE" --input '{"name":"Ada","waitSeconds":1}' --real-time
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$elapsed_ms" -ge 950 ] || { echo "FAIL --real-time returned after ${elapsed_ms} ms"; fail=1; }

# the history limit ends an execution cleanly
check "history limit" 1 '{"Error":"States.Runtime","Cause":"history limit of 5 events reached"}' -- run "$HE" --input-file "$SRC/examples/hello/input.json" --max-history-events 5

# an input over the payload limit (256 KiB) fails cleanly
python3 -c 'import json; print(json.dumps({"blob": "x" * 300000}))' >"$T/big.json"
check "input over payload limit" 1 "" -- run "$HE" --input-file "$T/big.json"

# JSONata versions of the examples: the same outputs for every test case, and no warnings
IPJ="run $IP/image-pipeline-jsonata.asl.json --input-file $IP/input.json --mock-config $IP/mocks.json"
check "jsonata pipeline HappyPath" 0 "$HAPPY" -- $IPJ --test-case HappyPath
check "jsonata pipeline InvalidImage" 1 '{"Error":"Image.Invalid","Cause":"unsupported format: image/gif"}' -- $IPJ --test-case InvalidImage
check "jsonata pipeline TransientFailureRetried" 0 "$HAPPY" -- $IPJ --test-case TransientFailureRetried
check "jsonata pipeline TransientFailureExhausted" 1 '{"Error":"Lambda.TooManyRequestsException","Cause":"Rate exceeded"}' -- $IPJ --test-case TransientFailureExhausted
check "jsonata pipeline CorruptImage" 1 '{"Error":"Image.Invalid","Cause":"VipsJpeg: premature end of JPEG image"}' -- $IPJ --test-case CorruptImage
HAE=$SRC/examples/human-approval
HAJ="run $HAE/human-approval-jsonata.asl.json --input-file $HAE/input.json --mock-config $HAE/mocks.json"
check "jsonata human-approval NotFlagged" 0 '{"bucket":"photos","key":"raw/huge-panorama.jpg","published":true,"review":null}' -- $HAJ --test-case NotFlagged
check "jsonata human-approval Approved" 0 '{"bucket":"photos","key":"raw/huge-panorama.jpg","published":true,"review":{"approved":true,"reviewer":"ada"}}' -- $HAJ --test-case Approved
check "jsonata human-approval Rejected" 1 '{"Error":"Image.Rejected","Cause":"not suitable for publication"}' -- $HAJ --test-case Rejected
check "jsonata human-approval TimedOut" 0 '{"bucket":"photos","key":"raw/huge-panorama.jpg","published":false,"status":"review timed out"}' -- $HAJ --test-case TimedOut
for f in "$IP/image-pipeline-jsonata.asl.json" "$HAE/human-approval-jsonata.asl.json"; do
        "$IMGFLOW" validate-state-machine-definition "$f" >"$T/out" 2>&1
        [ "$(cat "$T/out")" = OK ] || { echo "FAIL validate $(basename "$f") prints only OK"; cat "$T/out"; fail=1; }
done
# the variables in the history: the Parallel's branches read $bucket and $key, ProcessImage assigns $processed
"$IMGFLOW" $IPJ --test-case HappyPath --history >/dev/null 2>"$T/hist"
if python3 - "$T/hist" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
exited = {e["stateExitedEventDetails"]["name"]: e["stateExitedEventDetails"] for e in ev if e["type"].endswith("StateExited")}
assert exited["ValidateImage"]["assignedVariables"] == {"bucket": '"photos"', "key": '"raw/cat.jpg"', "validation": '{"isValid":true,"format":"jpeg","width":4032,"height":3024}'}, exited["ValidateImage"]
assert exited["ValidateImage"]["assignedVariablesDetails"] == {"truncated": False}
assert json.loads(exited["ProcessImage"]["assignedVariables"]["processed"]) == [{"resized": "resized/cat-1024.jpg"}, {"filtered": "filtered/cat-sharpen-grayscale.jpg"}]
assert "assignedVariables" not in exited["IsImageValid"]
sched = [json.loads(e["taskScheduledEventDetails"]["parameters"]) for e in ev if e["type"] == "TaskScheduled"]
assert {"bucket": "photos", "key": "raw/cat.jpg", "width": 1024} in [s.get("Payload") for s in sched], sched
PY
then echo "ok   jsonata pipeline history"; else echo "FAIL jsonata pipeline history"; fail=1; fi

# JSONata errors: States.QueryEvaluationError and an EvaluationFailed event; a validation error and a warning
cat >"$T/undef.asl.json" <<'EOF'
{"QueryLanguage": "JSONata", "StartAt": "S", "States": {"S": {"Type": "Pass", "Output": {"v": "{% $states.input.absent %}"}, "End": true}}}
EOF
check "jsonata undefined" 1 '{"Error":"States.QueryEvaluationError","Cause":"An error occurred while executing the state '"'"'S'"'"' (entered at the event id #2). The JSONata expression '"'"'$states.input.absent'"'"' specified for the field '"'"'Output/v'"'"' returned nothing (undefined)."}' -- run "$T/undef.asl.json" --input '{}'
"$IMGFLOW" run "$T/undef.asl.json" --input '{}' --history >/dev/null 2>"$T/hist"
grep -q '"type":"EvaluationFailed","evaluationFailedEventDetails":{"error":"States.QueryEvaluationError",.*"location":"Output/v","state":"S"}' "$T/hist" ||
        { echo "FAIL jsonata undefined: EvaluationFailed event"; cat "$T/hist"; fail=1; }
cat >"$T/toplevel.asl.json" <<'EOF'
{"QueryLanguage": "JSONata", "StartAt": "S", "States": {"S": {"Type": "Pass", "Output": "{% phone %}", "End": true}}}
EOF
check "jsonata top-level name refused" 1 "" -- validate-state-machine-definition "$T/toplevel.asl.json"
grep -qx "/States/S/Output: Reference to 'phone' at the top level is not supported." "$T/out" ||
        { echo "FAIL jsonata top-level name: message"; cat "$T/out"; fail=1; }
cat >"$T/warn.asl.json" <<'EOF'
{"QueryLanguage": "JSONata", "StartAt": "S", "States": {"S": {"Type": "Pass", "Output": "{% $nobody %}", "End": true}}}
EOF
check "jsonata possibly undefined variable: a warning" 0 "" -- validate-state-machine-definition "$T/warn.asl.json"
[ "$(head -1 "$T/out")" = "warning: /States/S/Output: Variable 'nobody' is possibly not defined." ] ||
        { echo "FAIL warning line"; cat "$T/out"; fail=1; }

# time and randomness come from the run: $now() and $millis() follow the virtual clock across a one-hour Wait
cat >"$T/clock.asl.json" <<'EOF'
{"QueryLanguage": "JSONata", "StartAt": "A", "States": {
 "A": {"Type": "Pass", "Assign": {"t0": "{% $millis() %}"}, "Next": "W"},
 "W": {"Type": "Wait", "Seconds": "{% $states.input.s %}", "Next": "B"},
 "B": {"Type": "Pass", "Output": {"elapsed": "{% $millis() - $t0 %}", "uuid": "{% $length($uuid()) %}", "r": "{% $random() < 1 %}"}, "End": true}}}
EOF
check "jsonata virtual clock" 0 '{"elapsed":3600000,"uuid":36,"r":true}' -- run "$T/clock.asl.json" --input '{"s":3600}'

exit $fail
