#!/bin/bash
# SPDX-License-Identifier: MIT
#
# EXPRESS against STANDARD: the orchestration benchmark's five no-op Tasks
# in a chain (tests/bench/echo-chain.asl.json, test.echo), registered once
# as a STANDARD machine and once as an EXPRESS one, on the same stack
# layout (1 coordinator, 2 workers of 1 task thread each).
#
# Each round starts a fresh stack and warms it up with BENCH_WARMUP
# executions of each type (Apache Kafka's broker is a JVM: a first burst
# on a new stack ran at half the rate of a second one, whatever the type),
# then runs both in turn, STANDARD first in odd rounds and EXPRESS first in
# even ones: BENCH_EXECUTIONS published at once. STANDARD: StartExecution, ends
# read from Redis (deploy/watch-executions.py). EXPRESS: StartSyncExecution
# with a request id, ends read from the answers the coordinator stores
# (startDate, stopDate). tasks/s from the first start to the last stop;
# dispatch latency p50/p90/p99 (Task.dispatchedAtMs to
# TaskSucceeded.startedAtMs, tests/bench/latency.py, queueing included);
# the CPU time each of the stack's processes used during the run (utime +
# stime from /proc: coordinator, workers, Kafka broker, Redis), per task,
# which the machine's other load changes far less than the wall time.
# The medians of the rounds, their ratio, and every round.
#
#   tests/bench/bench-express.sh
#
# BENCH_EXECUTIONS (default 2000), BENCH_ROUNDS (default 3), BENCH_WARMUP
# (default 500),
# BENCH_FETCH_WAIT_MS (default 100 on Apache Kafka, 1 on the mock, as in
# bench-orchestration.sh).
# Target: EXPRESS at least 2x the task rate of STANDARD, its p99 dispatch
# latency no higher.
# Exit status: non-zero only if an execution failed or did not finish.
set -u
. "$(dirname "$0")/bench-lib.sh"

E=${BENCH_EXECUTIONS:-2000}
WARM=${BENCH_WARMUP:-500}
ROUNDS=${BENCH_ROUNDS:-3}
MACHINE=$(machine_json)
FAILED=0
CHAIN=$BENCH_SRC/tests/bench/echo-chain.asl.json
if [ "$BENCH_KAFKA" = mock ]; then FETCH_WAIT=${BENCH_FETCH_WAIT_MS:-1}; else FETCH_WAIT=${BENCH_FETCH_WAIT_MS:-100}; fi
# On Apache Kafka the broker stamps each message when it appends it, and
# each task's dispatch latency comes split at those stamps (latency.py --hops).
HOPS=
if [ "$BENCH_KAFKA" != mock ]; then
        export STACK_KAFKA_PROPERTIES=${STACK_KAFKA_PROPERTIES:-log.message.timestamp.type=LogAppendTime}
        HOPS=--hops
fi
echo "== express: 5-task echo chains, EXPRESS against STANDARD, $E executions, $ROUNDS rounds, Kafka ($BENCH_KAFKA), fetch.wait.max.ms=$FETCH_WAIT"

# publish_sync SM PREFIX COUNT IDS: StartSyncExecution jobs (request id = name).
publish_sync() {
        python3 - "$@" <<'PY' | kcat -P -b "$BOOTSTRAP" -t imgflow.jobs -K '|' 2>>"$BENCH_TMP/kcat.err"
import json, sys
sm, prefix, count, ids = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with open(ids, "w") as f:
    for i in range(count):
        name = "%s-%d" % (prefix, i)
        msg = {"v": 1, "type": "StartSyncExecution", "stateMachine": sm, "name": name, "input": {"i": i},
               "requestId": name}
        sys.stdout.write("%s|%s\n" % (name, json.dumps(msg, separators=(",", ":"))))
        f.write(name + "\n")
PY
}

# wait_sync IDS OUT SECONDS: the answers of the requests of IDS, one JSON
# line each, once all are there (or the time is up: exit 1).
wait_sync() {
        python3 - "$REDIS_PORT" "$@" <<'PY'
import json, subprocess, sys, time
port, ids, out, secs = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
names = [l.strip() for l in open(ids) if l.strip()]
got = {}
end = time.monotonic() + secs
while time.monotonic() < end:
    left = [n for n in names if n not in got]
    if not left:
        break
    for i in range(0, len(left), 500):
        chunk = left[i:i + 500]
        cmd = "MGET " + " ".join("imgflow:response:{%s}" % n for n in chunk) + "\n"
        r = subprocess.run(["redis-cli", "-p", port], input=cmd, capture_output=True, text=True).stdout
        for n, v in zip(chunk, r.splitlines()):
            if v.startswith("{"):
                got[n] = json.loads(v)
    time.sleep(0.2)
with open(out, "w") as f:
    for n in names:
        if n in got:
            f.write(json.dumps(got[n]) + "\n")
sys.exit(0 if len(got) == len(names) else 1)
PY
}

# warm R: a fresh stack with both machines, WARM executions of each.
warm() {
        local r=$1 dir=$BENCH_TMP/stack-$1
        stack_start "$dir" STACK_WORKERS=2 STACK_WORKER_THREADS=1 STACK_RESOURCES= STACK_FETCH_WAIT_MS="$FETCH_WAIT"
        stack_register "$dir" chain "$CHAIN"
        "$IMGFLOW_BUILD/cli/imgflow" create-state-machine --config "$IMGFLOW_CONFIG" --name xchain --type EXPRESS \
                --definition "file://$CHAIN" >/dev/null || exit 1
        : >"$BENCH_TMP/warm-s$r.ids"
        publish_jobs chain "warm$r" 0 "$WARM" '{"i": i}' "$BENCH_TMP/warm-s$r.ids"
        publish_sync xchain "warm$r" "$WARM" "$BENCH_TMP/warm-x$r.ids"
        BENCH_QUIET=1 wait_execs "$BENCH_TMP/warm-s$r.ids" "$BENCH_TMP/warm-s$r.json" 300 &&
                wait_sync "$BENCH_TMP/warm-x$r.ids" "$BENCH_TMP/warm-x$r.json" 300 ||
                { echo "warm-up did not finish"; exit 1; }
}

# cpu_ticks DIR: "name=ticks ..." of the stack's processes (utime + stime,
# clock ticks), workers summed; the mock cluster counts as kafka.
cpu_ticks() {
        local f pid name
        for f in "$1"/pids/*.pid; do
                pid=$(awk '{print $1}' "$f")
                name=$(basename "$f" .pid)
                case "$name" in coordinator*) name=coordinator ;; worker*) name=workers ;; kafka* | mock*) name=kafka ;;
                redis*) name=redis ;; *) continue ;; esac
                echo "$name $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)"
        done | awk '{t[$1] += $2} END {for (k in t) printf "%s=%d ", k, t[k]}'
}

# run KIND R: one run on round R's stack; appends a JSON line to $BENCH_TMP/runs.jsonl.
run() {
        local kind=$1 r=$2 ids=$BENCH_TMP/$1-$2.ids res=$BENCH_TMP/$1-$2.json
        local prefix="$kind$r" sm ok t0 lat cpu0 cpu1
        cpu0=$(cpu_ticks "$BENCH_TMP/stack-$r")
        if [ "$kind" = standard ]; then
                sm=chain
                : >"$ids"
                t0=$(now_ms)
                publish_jobs chain "$prefix" 0 "$E" '{"i": i}' "$ids"
                BENCH_QUIET=1 wait_execs "$ids" "$res" 600 || FAILED=1
                ok=$(count_status "$res" SUCCEEDED)
        else
                sm=xchain
                t0=$(now_ms)
                publish_sync xchain "$prefix" "$E" "$ids"
                wait_sync "$ids" "$res" 600 || FAILED=1
                ok=$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l).get("status") == "SUCCEEDED"))' "$res")
        fi
        cpu1=$(cpu_ticks "$BENCH_TMP/stack-$r")
        [ "$ok" = "$E" ] || { echo "$kind round $r: only $ok of $E executions SUCCEEDED"; FAILED=1; }
        lat=$(python3 "$BENCH_SRC/tests/bench/latency.py" "$BOOTSTRAP" "$sm:$prefix-" $HOPS)
        python3 - "$kind" "$r" "$ok" "$t0" "$res" "$lat" "$cpu0" "$cpu1" "$(getconf CLK_TCK)" \
                "$(cut -d' ' -f1 /proc/loadavg)" >>"$BENCH_TMP/runs.jsonl" <<'PY'
import json, sys
kind, r, ok, t0, res, lat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
ticks = lambda s: {k: int(v) for k, v in (x.split("=") for x in s.split())}
before, after, hz = ticks(sys.argv[7]), ticks(sys.argv[8]), int(sys.argv[9])
cpu = {k: round((after[k] - before.get(k, 0)) * 1000 / hz) for k in after}
cpu["total"] = sum(cpu.values())
rows = [json.loads(l) for l in open(res)]
first = min(x["startDate"] for x in rows)
last = max(x["stopDate"] for x in rows)
ms = max(1, last - first)
print(json.dumps({"kind": kind, "round": r, "succeeded": ok, "ms": ms, "msFromPublish": last - t0,
                  "tasksPerSecond": round(5 * ok * 1000 / ms, 1),
                  "executionsPerSecond": round(ok * 1000 / ms, 1),
                  "dispatchLatencyMs": json.loads(lat), "cpuMs": cpu,
                  "cpuUsPerTask": {k: round(v * 1000 / max(1, 5 * ok), 1) for k, v in cpu.items()},
                  "loadavg": float(sys.argv[10])}))
PY
        tail -1 "$BENCH_TMP/runs.jsonl" | python3 -c '
import json, sys
d = json.load(sys.stdin)
l = d["dispatchLatencyMs"]
c = d["cpuUsPerTask"]
print("round %d %s: %d executions in %d ms: %.0f tasks/s; dispatch p50 %s ms, p99 %s ms; CPU us/task %s (load %.1f)"
      % (d["round"], d["kind"].upper(), d["succeeded"], d["ms"], d["tasksPerSecond"], l.get("p50"), l.get("p99"),
         " ".join("%s %s" % (k, c[k]) for k in sorted(c)), d["loadavg"]))
if l.get("hops"):
    print("  hops p50/p99 ms: " + ", ".join("%s %s/%s" % (k, v.get("p50"), v.get("p99")) for k, v in l["hops"].items()))'
}

: >"$BENCH_TMP/runs.jsonl"
for r in $(seq 1 "$ROUNDS"); do
        warm "$r"
        if [ $((r % 2)) = 1 ]; then run standard "$r"; run express "$r"; else run express "$r"; run standard "$r"; fi
        stack_stop "$BENCH_TMP/stack-$r"
done

write_result express "$(python3 - "$BENCH_TMP/runs.jsonl" "$MACHINE" "$E" "$FETCH_WAIT" "$FAILED" "$WARM" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
def med(kind, f):
    return statistics.median(f(x) for x in runs if x["kind"] == kind)
out = {"benchmark": "express", "machine": json.loads(sys.argv[2]), "executions": int(sys.argv[3]),
       "warmup": int(sys.argv[6]),
       "fetchWaitMs": int(sys.argv[4]), "coordinators": 1, "workers": 2, "statesPerExecution": 5,
       "failed": int(sys.argv[5]), "runs": runs}
for k in ("standard", "express"):
    out[k] = {"tasksPerSecond": med(k, lambda x: x["tasksPerSecond"]),
              "p50Ms": med(k, lambda x: x["dispatchLatencyMs"].get("p50", 0)),
              "p99Ms": med(k, lambda x: x["dispatchLatencyMs"].get("p99", 0)),
              "cpuUsPerTask": {p: med(k, lambda x: x["cpuUsPerTask"].get(p, 0))
                               for p in ("coordinator", "workers", "kafka", "redis", "total")}}
rounds = sorted({x["round"] for x in runs})
ratios = []
for r in rounds:
    s = [x for x in runs if x["round"] == r and x["kind"] == "standard"][0]
    e = [x for x in runs if x["round"] == r and x["kind"] == "express"][0]
    ratios.append(round(e["tasksPerSecond"] / s["tasksPerSecond"], 2))
out["ratioByRound"] = ratios
out["ratio"] = statistics.median(ratios)
out["targets"] = {"ratio": 2.0, "p99NoHigher": True}
print(json.dumps(out))
PY
)" >/dev/null
python3 - "$BENCH_RESULTS/express.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s, e = d["standard"], d["express"]
print("STANDARD %.0f tasks/s (p99 %s ms), EXPRESS %.0f tasks/s (p99 %s ms): x%.2f (rounds %s; target x2.0, p99 no higher)"
      % (s["tasksPerSecond"], s["p99Ms"], e["tasksPerSecond"], e["p99Ms"], d["ratio"], d["ratioByRound"]))
print("CPU us per task (medians), STANDARD: %s; EXPRESS: %s"
      % (s["cpuUsPerTask"], e["cpuUsPerTask"]))
PY
exit $FAILED
