#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The JSONata image pipeline (examples/image-pipeline/image-pipeline-jsonata.asl.json)
# end to end on the local stack (deploy/local-stack.sh: redis-server, Kafka, a
# coordinator, two workers; loopback only): two photos SUCCEED with valid
# resized/filtered JPEGs and an optimized WebP (the same outputs as the
# JSONPath pipeline, built from workflow variables), a corrupt JPEG FAILS with
# Image.Invalid through the catchers' Assign and the JSONata Fail state. The
# histories, read back with `imgflow get-execution-history`, carry the
# variables each state assigned (assignedVariables) and no EvaluationFailed;
# `stop` leaves no process of the stack behind.
#
#   test-stack-jsonata.sh SOURCE_ROOT BUILD_DIR
set -u
SRC=$1
BUILD=$(cd "$2" && pwd)
for p in redis-server kcat python3 setsid; do
        command -v $p >/dev/null || { echo "$p missing: skipped"; exit 77; }
done
. "$SRC/tests/helpers/stack.sh"
why=$(kafka_missing)
[ -z "$why" ] || { echo "$why (deploy/setup-debian.sh, or STACK_KAFKA=mock): skipped"; exit 77; }
STACK=$SRC/deploy/local-stack.sh
T=$(mktemp -d /tmp/imgflow-test-stack-jsonata.XXXXXX)
export IMGFLOW_BUILD=$BUILD IMGFLOW_STACK_DIR=$T/s
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok   $*"; }

cleanup() {
        [ -d "$IMGFLOW_STACK_DIR/pids" ] && STACK_STOP_TIMEOUT=5 "$STACK" stop >/dev/null 2>&1
        [ -n "${KEEP_TMP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT

if ! STACK_FRESH=1 "$STACK" start >"$T/start.log" 2>&1; then
        cat "$T/start.log"
        fail "local-stack.sh start"
        exit 1
fi
ok "stack started"
. "$IMGFLOW_STACK_DIR/stack.env"
export IMGFLOW_CONFIG
SM=image-pipeline-jsonata
"$STACK" register $SM "$SRC/examples/image-pipeline/$SM.asl.json" && ok "registered $SM" || fail "register"

B=$IMGFLOW_STACK_DIR/buckets/photos
mkdir -p "$B/raw"
"$BUILD/tests/bench/make-photos" "$B/raw" 2 1600 1200 >/dev/null || fail "make-photos"
head -c 20000 "$B/raw/photo-0000.jpg" >"$B/raw/corrupt.jpg"
: >"$T/ids"
for f in "$B"/raw/*.jpg; do
        n=$(basename "$f" .jpg)
        printf '{"v":1,"type":"StartExecution","stateMachine":"%s","name":"%s","input":{"bucket":"photos","key":"raw/%s.jpg"}}\n' "$SM" "$n" "$n"
        echo "$SM:$n" >>"$T/ids"
done | kcat -P -b "$BOOTSTRAP" -t imgflow.jobs 2>"$T/kcat.err" || fail "kcat: $(cat "$T/kcat.err")"

if python3 "$SRC/deploy/watch-executions.py" --bootstrap "$BOOTSTRAP" --ids "$T/ids" --timeout 180 \
        --json "$T/results.json" --quiet; then
        ok "3 executions finished"
else
        fail "executions did not finish"
fi
python3 "$SRC/tests/integration/pipeline-outputs.py" "$T/results.json" "$B" $SM 2 || FAILS=$((FAILS + 1))

# The histories: what each state assigned, as GetExecutionHistory shows it.
for n in photo-0000 corrupt; do
        "$BUILD/cli/imgflow" get-execution-history --execution-arn "$SM:$n" >"$T/h-$n.json" 2>"$T/h-$n.err" ||
                fail "get-execution-history $n: $(cat "$T/h-$n.err")"
done
python3 - "$T/h-photo-0000.json" "$T/h-corrupt.json" <<'PY' || FAILS=$((FAILS + 1))
import json, sys
bad = 0
def check(cond, msg):
    global bad
    print(("ok   " if cond else "FAIL: ") + msg)
    bad += not cond

def exits(path):
    ev = json.load(open(path))["events"]
    return ev, {e["stateExitedEventDetails"]["name"]: e["stateExitedEventDetails"]
                for e in ev if e["type"].endswith("StateExited")}

ev, ex = exits(sys.argv[1])
av = ex.get("ValidateImage", {}).get("assignedVariables", {})
check(av.get("bucket") == '"photos"' and av.get("key") == '"raw/photo-0000.jpg"',
      "ValidateImage assigned $bucket and $key: %s" % {k: av.get(k) for k in ("bucket", "key")})
check(json.loads(av.get("validation", "null") or "null").get("isValid") is True,
      "ValidateImage assigned $validation")
check(ex.get("ValidateImage", {}).get("assignedVariablesDetails") == {"truncated": False},
      "assignedVariablesDetails")
proc = json.loads(ex.get("ProcessImage", {}).get("assignedVariables", {}).get("processed", "[]"))
check(len(proc) == 2 and "resized" in proc[0] and "filtered" in proc[1], "ProcessImage assigned $processed")
check("optimized" in ex.get("OptimizeImage", {}).get("assignedVariables", {}), "OptimizeImage assigned $optimized")
check("assignedVariables" not in ex.get("IsImageValid", {"assignedVariables": 1}), "IsImageValid assigns nothing")
check(not [e for e in ev if e["type"] == "EvaluationFailed"], "no EvaluationFailed")
sched = [json.loads(e["taskScheduledEventDetails"]["parameters"]) for e in ev if e["type"] == "TaskScheduled"]
check({"bucket": "photos", "key": "raw/photo-0000.jpg", "width": 1024} in [s.get("Payload") for s in sched],
      "the Resize branch read the outer $bucket and $key")

ev, ex = exits(sys.argv[2])
err = [d for d in ex.values() if "error" in d.get("assignedVariables", {})]
check(len(err) == 1 and json.loads(err[0]["assignedVariables"]["error"])["Error"] == "Image.Invalid",
      "corrupt: a catcher assigned $error = Image.Invalid")
check(ev[-1]["type"] == "ExecutionFailed" and ev[-1]["executionFailedEventDetails"]["error"] == "Image.Invalid",
      "corrupt: the JSONata Fail state's Error from $error")
sys.exit(1 if bad else 0)
PY

PIDS=$(cat "$IMGFLOW_STACK_DIR"/pids/*.pid 2>/dev/null)
"$STACK" stop >"$T/stop.log" 2>&1 && ok "stop" || fail "stop: $(cat "$T/stop.log")"
left=0
while read -r pid exe _; do
        [ -n "$pid" ] || continue
        st=$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)
        [ -n "$st" ] && [ "$st" != Z ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ] && left=1
done <<<"$PIDS"
[ $left = 0 ] && ok "no process of the stack left" || fail "processes left after stop"

[ $FAILS = 0 ] || { tail -50 "$IMGFLOW_STACK_DIR"/run/*.log 2>/dev/null | tail -120; exit 1; }
exit 0
