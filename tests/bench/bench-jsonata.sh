#!/bin/bash
# SPDX-License-Identifier: MIT
#
# What JSONata states cost: the no-op chain of bench-orchestration
# (tests/bench/echo-chain.asl.json, five test.echo Tasks) against the same
# chain in JSONata (tests/bench/echo-chain-jsonata.asl.json: each Task's
# Arguments from $states.input and Output from $states.result, two
# expressions a state), in the same run: BENCH_ROUNDS rounds, each on a fresh
# stack (1 coordinator, 2 workers x 1 thread, as bench-orchestration) with
# both machines registered, BENCH_EXECUTIONS executions of one then of the
# other, the order alternating from round to round (interleaved, so both see
# the same machine load).
#
# The measure is the coordinator's CPU per task (user + system time of the
# imgflow-coordinator process during the batch, over 5 x executions): the
# coordinator is where the states are evaluated, and its CPU time barely
# depends on what else runs on this shared machine, where tasks/s do. Both
# are reported for every round; the result is the median of the rounds'
# ratios (JSONata / JSONPath). Target: at most 2.
#
#   tests/bench/bench-jsonata.sh
#
# BENCH_EXECUTIONS (default 2000), BENCH_ROUNDS (default 5).
# Exit status: non-zero only if an execution failed or did not finish.
set -u
. "$(dirname "$0")/bench-lib.sh"

E=${BENCH_EXECUTIONS:-2000}
ROUNDS=${BENCH_ROUNDS:-5}
MACHINE=$(machine_json)
FAILED=0
if [ "$BENCH_KAFKA" = mock ]; then FETCH_WAIT=${BENCH_FETCH_WAIT_MS:-1}; else FETCH_WAIT=${BENCH_FETCH_WAIT_MS:-100}; fi
echo "== jsonata: 5-task echo chains, JSONPath against JSONata, $E executions each, $ROUNDS rounds, Kafka ($BENCH_KAFKA)"

# coord_ticks DIR: user + system clock ticks of the coordinator.
coord_ticks() {
        awk '{print $14 + $15}' "/proc/$(cut -d' ' -f1 "$1/pids/coordinator-1.pid")/stat"
}

# batch DIR ROUND LANG MACHINE: one batch of E executions; appends a JSON line
# to $BENCH_TMP/batches.jsonl.
batch() {
        local dir=$1 r=$2 lang=$3 sm=$4 ids=$BENCH_TMP/$3-$2.ids res=$BENCH_TMP/$3-$2.json c0 c1 t0 t1 ok
        : >"$ids"
        c0=$(coord_ticks "$dir")
        t0=$(now_ms)
        publish_jobs "$sm" "$lang$r" 0 "$E" '{"i": i, "name": "photo-%d.jpg" % i, "tags": ["a", "b"]}' "$ids"
        BENCH_QUIET=1 wait_execs "$ids" "$res" 600 || FAILED=1
        t1=$(last_stop_ms "$res")
        c1=$(coord_ticks "$dir")
        ok=$(count_status "$res" SUCCEEDED)
        [ "$ok" = "$E" ] || { echo "$lang round $r: only $ok of $E executions SUCCEEDED"; FAILED=1; }
        python3 - "$r" "$lang" "$ok" "$((c1 - c0))" "$((t1 - t0))" >>"$BENCH_TMP/batches.jsonl" <<'PY'
import json, os, sys
r, lang, ok, ticks, ms = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
hz = os.sysconf("SC_CLK_TCK")
tasks = 5 * ok
print(json.dumps({"round": int(r), "lang": lang, "succeeded": ok, "coordinatorCpuSeconds": round(ticks / hz, 2),
                  "coordinatorCpuUsPerTask": round(1e6 * ticks / hz / max(1, tasks), 1),
                  "ms": ms, "tasksPerSecond": round(tasks * 1000 / max(1, ms), 1)}))
PY
        tail -1 "$BENCH_TMP/batches.jsonl" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("round %d %-8s: %d executions, coordinator CPU %.2f s = %.0f us/task; %.0f tasks/s" % (
      d["round"], d["lang"], d["succeeded"], d["coordinatorCpuSeconds"], d["coordinatorCpuUsPerTask"], d["tasksPerSecond"]))'
}

: >"$BENCH_TMP/batches.jsonl"
for r in $(seq 1 "$ROUNDS"); do
        dir=$BENCH_TMP/stack-$r
        stack_start "$dir" STACK_WORKERS=2 STACK_WORKER_THREADS=1 STACK_RESOURCES= STACK_FETCH_WAIT_MS="$FETCH_WAIT"
        stack_register "$dir" chain "$BENCH_SRC/tests/bench/echo-chain.asl.json"
        stack_register "$dir" chainj "$BENCH_SRC/tests/bench/echo-chain-jsonata.asl.json"
        for sm in chain chainj; do
                publish_jobs $sm "warm$sm$r" 0 20 '{"i": i}' "$BENCH_TMP/warm$sm$r.ids"
                BENCH_QUIET=1 wait_execs "$BENCH_TMP/warm$sm$r.ids" "$BENCH_TMP/warm$sm$r.json" 120 ||
                        { echo "warm-up did not finish"; exit 1; }
        done
        if [ $((r % 2)) = 1 ]; then order="jsonpath:chain jsonata:chainj"; else order="jsonata:chainj jsonpath:chain"; fi
        for x in $order; do
                batch "$dir" "$r" "${x%%:*}" "${x#*:}"
        done
        stack_stop "$dir"
done

RESULT=$(python3 - "$BENCH_TMP/batches.jsonl" <<'PY'
import json, statistics, sys
bs = [json.loads(l) for l in open(sys.argv[1])]
rounds = []
for r in sorted({b["round"] for b in bs}):
    p = next(b for b in bs if b["round"] == r and b["lang"] == "jsonpath")
    j = next(b for b in bs if b["round"] == r and b["lang"] == "jsonata")
    rounds.append({"round": r, "jsonpathUsPerTask": p["coordinatorCpuUsPerTask"],
                   "jsonataUsPerTask": j["coordinatorCpuUsPerTask"],
                   "cpuRatio": round(j["coordinatorCpuUsPerTask"] / max(0.1, p["coordinatorCpuUsPerTask"]), 2),
                   "jsonpathTasksPerSecond": p["tasksPerSecond"], "jsonataTasksPerSecond": j["tasksPerSecond"],
                   "throughputRatio": round(p["tasksPerSecond"] / max(0.1, j["tasksPerSecond"]), 2)})
print(json.dumps({"rounds": rounds,
                  "medianCpuRatio": statistics.median(x["cpuRatio"] for x in rounds),
                  "medianThroughputRatio": statistics.median(x["throughputRatio"] for x in rounds),
                  "medianJsonpathUsPerTask": statistics.median(x["jsonpathUsPerTask"] for x in rounds),
                  "medianJsonataUsPerTask": statistics.median(x["jsonataUsPerTask"] for x in rounds)}))
PY
)
write_result jsonata "$(python3 - <<PY
import json
d = json.loads('$RESULT')
d.update({"benchmark": "jsonata", "date": "$(date -u +%FT%TZ)", "machine": json.loads('$MACHINE'),
          "executionsPerBatch": $E, "statesPerExecution": 5, "expressionsPerState": 2,
          "coordinators": 1, "workers": 2, "fetchWaitMs": $FETCH_WAIT,
          "partitions": ${BENCH_PARTITIONS:-4}, "brokers": ${BENCH_BROKERS:-1},
          "target": {"cpuRatio": 2.0}, "failed": $FAILED})
print(json.dumps(d))
PY
)" >/dev/null
python3 - "$BENCH_RESULTS/jsonata.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for x in d["rounds"]:
    print("round %d: coordinator CPU per task JSONPath %.0f us, JSONata %.0f us (x%.2f); tasks/s %.0f / %.0f (x%.2f)" % (
          x["round"], x["jsonpathUsPerTask"], x["jsonataUsPerTask"], x["cpuRatio"],
          x["jsonpathTasksPerSecond"], x["jsonataTasksPerSecond"], x["throughputRatio"]))
print("median: JSONata states cost x%.2f the coordinator CPU of JSONPath ones (target <= 2), throughput x%.2f" % (
      d["medianCpuRatio"], d["medianThroughputRatio"]))
PY
exit $FAILED
