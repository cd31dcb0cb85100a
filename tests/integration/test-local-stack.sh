#!/bin/bash
# SPDX-License-Identifier: MIT
#
# deploy/local-stack.sh and deploy/demo.sh end to end, on loopback only:
#
#   1. `local-stack.sh start` (redis-server, Kafka, a coordinator, two
#      workers), register examples/image-pipeline, one execution for each of
#      3 photos and a corrupt JPEG; the photos SUCCEED with valid JPEG/WebP
#      outputs of the right dimensions, the corrupt one FAILS with
#      Image.Invalid; `stop` leaves no process of the stack behind. `start`
#      returns only once the consumer groups settled (each worker holds
#      partitions).
#   2. `local-stack.sh run` interrupted with SIGINT stops everything too.
#   3. deploy/demo.sh (2 photos, no build) exits 0, its copies of the files
#      into the bucket started one execution each (imgflow-watch and the
#      trigger rule), and it stops its stack; it ran imgflow-api with the
#      stack's access key (api-keys.json, mode 0600), printed the `aws
#      stepfunctions list-executions` command, and that command (Debian's
#      awscli, when installed) listed the 3 executions through the API.
#   4. After the programs were rebuilt (replaced) under a running stack,
#      `status` and `stop` still find its daemons, and stop them.
#
#   test-local-stack.sh SOURCE_ROOT BUILD_DIR
# Every process is started by the scripts under test in private state
# directories and checked by pid; every wait is bounded.
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
T=$(mktemp -d /tmp/imgflow-test-local-stack.XXXXXX)
export IMGFLOW_BUILD=$BUILD
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok   $*"; }

# Safety net: whatever a failed step left running, stopped by the script
# itself (pid files), for each state directory used.
cleanup() {
        for d in "$T"/s1 "$T"/s2 "$T"/s3 "$T"/s4; do
                [ -d "$d/pids" ] && IMGFLOW_STACK_DIR=$d STACK_STOP_TIMEOUT=5 "$STACK" stop >/dev/null 2>&1
        done
        [ -n "${KEEP_TMP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT

# pids_of DIR: "pid exe start" lines of the stack's pid files.
pids_of() { cat "$1"/pids/*.pid 2>/dev/null; }

# none_left "pid exe start" lines: true if none of them still runs its program
# (a zombie waiting for a parent that does not reap counts as gone; a
# program replaced on disk since, "<path> (deleted)", still counts).
none_left() {
        local pid exe st cur left=0
        while read -r pid exe _; do
                [ -n "$pid" ] || continue
                st=$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)
                cur=$(readlink "/proc/$pid/exe" 2>/dev/null)
                if [ -n "$st" ] && [ "$st" != Z ] && { [ "$cur" = "$exe" ] || [ "$cur" = "$exe (deleted)" ]; }; then
                        echo "    still running: $pid $exe"
                        left=1
                fi
        done
        return $left
}

# ---- 1. start, pipeline, stop
export IMGFLOW_STACK_DIR=$T/s1
if ! STACK_FRESH=1 "$STACK" start >"$T/start.log" 2>&1; then
        cat "$T/start.log"
        fail "local-stack.sh start"
        exit 1
fi
ok "stack started"
"$STACK" status >"$T/status.out" 2>&1 && ok "status" || fail "status: $(cat "$T/status.out")"
n=$(grep -c ' running ' "$T/status.out")
[ "$n" = 6 ] && ok "6 processes running (notify, redis, kafka, coordinator, 2 workers)" ||
        fail "status shows $n running processes"
# `start` returns once the consumer groups settled: each worker holds some
# of the tasks topic's 8 partitions, the coordinator all 20 of jobs+events
# (8 each) and imgflow.s3-events (4; the stack sets s3_events_topic) (the
# last "N partition(s)" of each one's STATUS=).
parts=$(awk '$2 ~ /^STATUS=/ && match($0, /[0-9]+ partition/) { n[$1] = substr($0, RSTART, RLENGTH) + 0 }
        END { printf "%s %s %s", n["coordinator-1"], n["worker-1"], n["worker-2"] }' \
        "$IMGFLOW_STACK_DIR/run/notify.log")
read -r pc pw1 pw2 <<<"$parts"
[ "${pc:-0}" = 20 ] && [ "${pw1:-0}" -gt 0 ] && [ "${pw2:-0}" -gt 0 ] && [ $((pw1 + pw2)) = 8 ] &&
        ok "groups settled at start: coordinator 20 partitions, workers $pw1 + $pw2" ||
        fail "groups not settled when start returned: coordinator/worker-1/worker-2 partitions '$parts'"
PIDS=$(pids_of "$IMGFLOW_STACK_DIR")
. "$IMGFLOW_STACK_DIR/stack.env"
grep -q '^appendonly yes' <(redis-cli -p "$REDIS_PORT" config get appendonly | paste - - | tr '\t' ' ') &&
        ok "redis: AOF on" || fail "redis: AOF not on"

"$STACK" register image-pipeline "$SRC/examples/image-pipeline/image-pipeline.asl.json" &&
        ok "registered image-pipeline" || fail "register"

B=$IMGFLOW_STACK_DIR/buckets/photos
mkdir -p "$B/raw"
"$BUILD/tests/bench/make-photos" "$B/raw" 3 1600 1200 >/dev/null || fail "make-photos"
head -c 20000 "$B/raw/photo-0000.jpg" >"$B/raw/corrupt.jpg"
: >"$T/ids"
for f in "$B"/raw/*.jpg; do
        n=$(basename "$f" .jpg)
        printf '{"v":1,"type":"StartExecution","stateMachine":"image-pipeline","name":"%s","input":{"bucket":"photos","key":"raw/%s.jpg"}}\n' "$n" "$n"
        echo "image-pipeline:$n" >>"$T/ids"
done | kcat -P -b "$BOOTSTRAP" -t imgflow.jobs 2>"$T/kcat.err" || fail "kcat: $(cat "$T/kcat.err")"

if python3 "$SRC/deploy/watch-executions.py" --bootstrap "$BOOTSTRAP" --ids "$T/ids" --timeout 120 \
        --json "$T/results.json" --quiet; then
        ok "4 executions finished"
else
        fail "executions did not finish"
fi

python3 "$SRC/tests/integration/pipeline-outputs.py" "$T/results.json" "$B" image-pipeline 3 || FAILS=$((FAILS + 1))

"$STACK" stop >"$T/stop.log" 2>&1 && ok "stop" || fail "stop: $(cat "$T/stop.log")"
if printf '%s\n' "$PIDS" | none_left; then ok "no process of the stack left"; else fail "processes left after stop"; fi
[ -z "$(ls "$IMGFLOW_STACK_DIR/pids" 2>/dev/null)" ] && ok "pid files removed" || fail "pid files left"
grep -q "SIGKILL" "$T/stop.log" && fail "a daemon needed SIGKILL: $(cat "$T/stop.log")"
"$STACK" status >/dev/null 2>&1 && fail "status after stop says running" || ok "status after stop: nothing runs"

# ---- 2. `run` and Ctrl-C
export IMGFLOW_STACK_DIR=$T/s2
# A background job of a non-interactive shell starts with SIGINT ignored
# (and bash cannot trap a signal ignored on entry): restore the default, as
# in a terminal.
STACK_WORKERS=1 python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' \
        "$STACK" run >"$T/run.log" 2>&1 &
RUN_PID=$!
# (As long as `start` may wait for readiness: the machine may be busy.)
for _ in $(seq 1200); do grep -q "Ctrl-C stops it" "$T/run.log" && break; sleep 0.1; done
if grep -q "Ctrl-C stops it" "$T/run.log"; then
        ok "run: stack up"
        PIDS=$(pids_of "$IMGFLOW_STACK_DIR")
        kill -INT "$RUN_PID"
        for _ in $(seq 300); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$RUN_PID" 2>/dev/null; then
                fail "run: still running 30 s after SIGINT"
                kill -TERM "$RUN_PID"
        fi
        wait "$RUN_PID" 2>/dev/null
        if printf '%s\n' "$PIDS" | none_left; then ok "run: SIGINT stopped every process"; else fail "run: processes left after SIGINT"; fi
else
        fail "run: the stack did not come up: $(tail -5 "$T/run.log")"
        kill -TERM "$RUN_PID" 2>/dev/null
fi

# ---- 3. the demo
export IMGFLOW_STACK_DIR=$T/s3
if DEMO_NO_BUILD=1 DEMO_IMAGES=2 DEMO_SIZE=1200x900 DEMO_TIMEOUT=120 "$SRC/deploy/demo.sh" >"$T/demo.log" 2>&1; then
        ok "demo.sh exits 0"
else
        fail "demo.sh"
        tail -30 "$T/demo.log"
fi
grep -q "3 executions started by 3 uploads" "$T/demo.log" && ok "demo: each file copied into the bucket started one execution" ||
        fail "demo: executions started by the uploads: $(grep 'executions started' "$T/demo.log")"
grep -q "3 executions, 3 as expected" "$T/demo.log" && ok "demo summary" || fail "demo summary missing"
[ -z "$(ls "$IMGFLOW_STACK_DIR/pids" 2>/dev/null)" ] && ok "demo stopped its stack" || fail "demo left pid files"
grep -q "imgflow-api ready on 127.0.0.1:" "$IMGFLOW_STACK_DIR/logs/api-1.log" && ok "demo ran imgflow-api" ||
        fail "no imgflow-api in the demo's stack"
[ "$(stat -c %a "$IMGFLOW_STACK_DIR/api-keys.json" 2>/dev/null)" = 600 ] &&
        grep -q "Loaded 1 access keys from $IMGFLOW_STACK_DIR/api-keys.json" "$IMGFLOW_STACK_DIR/logs/api-1.log" &&
        ok "the API used the stack's key (api-keys.json, mode 600)" || fail "the stack's API key"
grep -q "aws stepfunctions list-executions --endpoint-url http://127.0.0.1:" "$T/demo.log" &&
        ok "demo printed the aws command" || fail "no aws command in the demo's output"
if [ -x /usr/bin/aws ]; then
        n=$(grep -cE '^ +\| +(photo-[0-9]+\.jpg-[^ ]+ +\| +SUCCEEDED|corrupt\.jpg-[^ ]+ +\| +FAILED) +\|' "$T/demo.log")
        [ "$n" = 3 ] && ok "aws stepfunctions list-executions listed the 3 executions through the API" ||
                fail "aws list-executions in the demo: $n of 3 rows: $(grep -A12 'through the Step Functions API' "$T/demo.log")"
fi

# ---- 4. a rebuild while the stack runs: `stop` still stops the daemons
# (the kernel shows a replaced program as "<path> (deleted)").
export IMGFLOW_STACK_DIR=$T/s4
mkdir -p "$T/b4/coordinator" "$T/b4/worker" "$T/b4/deploy"
cp "$BUILD/coordinator/imgflow-coordinator" "$T/b4/coordinator/"
cp "$BUILD/worker/imgflow-worker" "$T/b4/worker/"
cp "$BUILD/deploy/imgflow-mock-kafka" "$BUILD/deploy/imgflow-kafka-topics" "$T/b4/deploy/"
if IMGFLOW_BUILD=$T/b4 STACK_WORKERS=1 STACK_RESOURCES= STACK_FRESH=1 "$STACK" start >"$T/start4.log" 2>&1; then
        PIDS=$(pids_of "$IMGFLOW_STACK_DIR")
        for b in coordinator/imgflow-coordinator worker/imgflow-worker deploy/imgflow-mock-kafka; do
                rm "$T/b4/$b" && cp "$BUILD/$b" "$T/b4/$b" # as the linker does: a new file
        done
        IMGFLOW_BUILD=$T/b4 "$STACK" status >"$T/status4.out" 2>&1
        n=$(grep -c ' running ' "$T/status4.out")
        [ "$n" = 5 ] && ok "after a rebuild: status still shows the 5 processes" ||
                fail "after a rebuild: status shows $n running processes"
        IMGFLOW_BUILD=$T/b4 STACK_STOP_TIMEOUT=10 "$STACK" stop >/dev/null 2>&1
        if printf '%s\n' "$PIDS" | none_left; then ok "after a rebuild: stop stopped every process"; else
                fail "after a rebuild: processes left after stop"
                printf '%s\n' "$PIDS" | while read -r pid _; do [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; done
        fi
else
        fail "start from a copied build: $(tail -5 "$T/start4.log")"
fi

if [ $FAILS -gt 0 ]; then
        for f in "$T"/s1/logs/*.log; do echo "--- $f (tail)"; tail -15 "$f"; done
        exit 1
fi
exit 0
