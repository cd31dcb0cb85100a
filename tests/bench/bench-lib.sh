# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# Shared by tests/bench/bench-*.sh (sourced, bash). Every stack is started
# with deploy/local-stack.sh in a private state directory and stopped by it
# (by pid) on exit, also on Ctrl-C.
#
# Settings: IMGFLOW_BUILD (default ./build, or ./build-stack if ./build is
# missing), BENCH_RESULTS (default tests/bench/results): where each script
# writes <name>.json; tests/bench/report.py turns them into
# docs/benchmarks.md and docs/benchmarks.png.
# BENCH_KAFKA (default real): Apache Kafka (the local stack's KRaft broker)
# or mock (librdkafka's mock cluster); tests/bench/run-benchmarks.sh runs
# every benchmark on both, one after the other, results in
# tests/bench/results/<kind>/ unless BENCH_RESULTS is set.
# BENCH_BROKERS (default 1), BENCH_PARTITIONS (default 4; 2 in
# bench-orchestration.sh on Apache Kafka, one per worker): the brokers and the
# partitions of every imgflow topic (the local stack's defaults are 1 and 8). On one 2-core host each broker is one more JVM (or thread of the
# mock) and one more thread in every client (librdkafka runs a thread per
# broker), all on the cores the daemons use; a real cluster runs on other
# hosts. 4 partitions is the most consumers any benchmark puts in one group
# (bench-scale's 4 workers); fewer partitions make larger message sets at
# the same linger.ms (docs/benchmarks.md).

BENCH_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [ -z "${IMGFLOW_BUILD:-}" ]; then
        IMGFLOW_BUILD=$BENCH_SRC/build
        [ -x "$IMGFLOW_BUILD/worker/imgflow-worker" ] || IMGFLOW_BUILD=$BENCH_SRC/build-stack
fi
case "$IMGFLOW_BUILD" in /*) ;; *) IMGFLOW_BUILD=$PWD/$IMGFLOW_BUILD ;; esac
export IMGFLOW_BUILD
BENCH_KAFKA=${BENCH_KAFKA:-real}
export STACK_KAFKA=$BENCH_KAFKA
BENCH_RESULTS=${BENCH_RESULTS:-$BENCH_SRC/tests/bench/results/$BENCH_KAFKA}
STACK=$BENCH_SRC/deploy/local-stack.sh
# The benchmark owns its stacks: killed, it leaves none running.
export STACK_OWNER_PID=${STACK_OWNER_PID:-$$}
WATCH=$BENCH_SRC/deploy/watch-executions.py
BENCH_TMP=$(mktemp -d /tmp/imgflow-bench.XXXXXX)
BENCH_STACKS=()
mkdir -p "$BENCH_RESULTS"

bench_cleanup() {
        local d
        for d in "${BENCH_STACKS[@]}"; do
                [ -d "$d/pids" ] && IMGFLOW_STACK_DIR=$d "$STACK" stop >/dev/null 2>&1
        done
        [ -n "${BENCH_KEEP:-}" ] && echo "kept $BENCH_TMP" || rm -rf "$BENCH_TMP"
}
trap bench_cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM

for p in redis-server kcat python3; do
        command -v $p >/dev/null || { echo "$p missing (deploy/setup-debian.sh)"; exit 1; }
done
for p in worker/imgflow-worker coordinator/imgflow-coordinator deploy/imgflow-mock-kafka deploy/imgflow-kafka-topics \
        tests/bench/make-photos; do
        [ -x "$IMGFLOW_BUILD/$p" ] || { echo "$IMGFLOW_BUILD/$p missing: build first (ninja -C $IMGFLOW_BUILD)"; exit 1; }
done

now_ms() { date +%s%3N; }

# machine_json: the machine and its load when the benchmark started.
machine_json() {
        python3 - <<'PY'
import json, os, platform, subprocess
model = ""
try:
    for l in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if l.lower().startswith("model name"):
            model = l.split(":", 1)[1].strip()
except OSError:
    pass
mem = 0
for l in open("/proc/meminfo"):
    if l.startswith("MemTotal:"):
        mem = int(l.split()[1]) * 1024
print(json.dumps({"nproc": os.cpu_count(), "cpu": model, "ramBytes": mem,
                  "kernel": platform.release(), "loadavg": os.getloadavg()[0],
                  "kafka": os.environ.get("STACK_KAFKA", "real")}))
PY
}

# stack_start DIR [VAR=value...]: a fresh stack in DIR with the given
# settings (STACK_WORKERS, STACK_COORDINATORS, ...); sources its stack.env.
stack_try() { # DIR [VAR=value...]
        local dir=$1
        shift
        env STACK_BROKERS="${BENCH_BROKERS:-1}" STACK_PARTITIONS="${BENCH_PARTITIONS:-4}" "$@" IMGFLOW_STACK_DIR="$dir" \
                STACK_FRESH=1 STACK_LOG_LEVEL=${STACK_LOG_LEVEL:-notice} "$STACK" start >"$dir.start.log" 2>&1
}

stack_start() {
        local dir=$1
        BENCH_STACKS+=("$dir")
        # One more try, said out loud. A daemon now and then got no
        # partitions within the stack's readiness wait (2 times in ~100
        # starts, when the wait was 30 s): the mock cluster's group
        # coordinator turns away a follower's late SyncGroup, and the group
        # can take many rebalance rounds (deploy/local-stack.sh, "Readiness").
        if ! stack_try "$@"; then
                sed 's/^/  /' "$dir.start.log"
                echo "stack did not start; once more"
                if ! stack_try "$@"; then
                        cat "$dir.start.log"
                        echo "stack did not start"
                        exit 1
                fi
        fi
        # shellcheck disable=SC1091
        . "$dir/stack.env"
}

stack_stop() {
        IMGFLOW_STACK_DIR=$1 "$STACK" stop >/dev/null 2>&1
}

stack_register() { # DIR NAME FILE
        IMGFLOW_STACK_DIR=$1 "$STACK" register "$2" "$3" || exit 1
}

# publish_jobs SM PREFIX FIRST COUNT INPUT_PYEXPR IDS_FILE [RATE]: StartExecution
# jobs named PREFIX-<i> for i in FIRST..FIRST+COUNT-1; INPUT_PYEXPR is a
# python expression of i giving the input. Appends the ids to IDS_FILE.
# With RATE, RATE jobs a second (paced by the monotonic clock); else all at once.
publish_jobs() {
        python3 - "$@" <<'PY' | kcat -P -b "$BOOTSTRAP" -t imgflow.jobs -K '|' 2>>"$BENCH_TMP/kcat.err"
import json, sys, time
sm, prefix, first, count, expr, ids = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
rate = float(sys.argv[7]) if len(sys.argv) > 7 else 0
t0 = time.monotonic()
with open(ids, "a") as f:
    for i in range(first, first + count):
        if rate > 0:
            d = t0 + (i - first) / rate - time.monotonic()
            if d > 0:
                sys.stdout.flush()
                time.sleep(d)
        name = "%s-%d" % (prefix, i)
        msg = {"v": 1, "type": "StartExecution", "stateMachine": sm, "name": name, "input": eval(expr)}
        sys.stdout.write("%s|%s\n" % (name, json.dumps(msg, separators=(",", ":"))))
        f.write("%s:%s\n" % (sm, name))
PY
}

# wait_execs IDS_FILE RESULTS_JSONL TIMEOUT: 0 when all finished.
wait_execs() {
        python3 "$WATCH" --bootstrap "$BOOTSTRAP" --ids "$1" --json "$2" --timeout "$3" ${BENCH_QUIET:+--quiet}
}

# count_status RESULTS_JSONL STATUS
count_status() {
        python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["status"] == sys.argv[2]))' "$1" "$2"
}

# last_stop_ms RESULTS_JSONL: the latest stopDate.
last_stop_ms() {
        python3 -c 'import json,sys; print(max(json.loads(l)["stopDate"] for l in open(sys.argv[1])))' "$1"
}

# write_result NAME JSON: pretty JSON to $BENCH_RESULTS/NAME.json.
write_result() {
        printf '%s' "$2" | python3 -c 'import json,sys; d=json.load(sys.stdin); json.dump(d, open(sys.argv[1], "w"), indent=1); print(json.dumps(d, indent=1))' \
                "$BENCH_RESULTS/$1.json"
}
