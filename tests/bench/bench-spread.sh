#!/bin/bash
# SPDX-License-Identifier: MIT
#
# How the seed pipeline's tasks spread over 2 workers, with task messages
# keyed by "<execution id>/<task id>" (coordinator.task_key = task, the
# default) against keyed by the execution id (task_key = execution, as
# before), on fresh stacks, alternating, BENCH_ROUNDS rounds of each. Per
# round (tests/bench/worker-spread.py): images/s, the tail (how long the
# batch ran on after the first worker finished its last task), the share of
# the workers' time without a task, and the executions whose tasks all went
# to one partition.
#
#   tests/bench/bench-spread.sh
#
# BENCH_IMAGES (default 48), BENCH_SIZE (default 1600x1200), BENCH_ROUNDS
# (default 2). Exit status: non-zero only if an execution failed.
set -u
. "$(dirname "$0")/bench-lib.sh"

N=${BENCH_IMAGES:-48}
SIZE=${BENCH_SIZE:-1600x1200}
ROUNDS=${BENCH_ROUNDS:-2}
THREADS=$(($(nproc) / 2)); [ $THREADS -ge 1 ] || THREADS=1
MACHINE=$(machine_json)
FAILED=0
echo "== spread: $N photos of $SIZE, 2 workers x $THREADS threads, task_key task vs execution, $ROUNDS rounds"
B=$BENCH_TMP/photos
mkdir -p "$B/raw"
"$IMGFLOW_BUILD/tests/bench/make-photos" "$B/raw" "$N" "${SIZE%x*}" "${SIZE#*x}" >/dev/null || exit 1

# spread_round KEY R: one fresh stack with coordinator.task_key = KEY.
spread_round() {
        local key=$1 r=$2 dir=$BENCH_TMP/stack-$1-$2 ids l0 l1 t0 t1 ok rate sp
        printf '[coordinator]\ntask_key = %s\n' "$key" >"$BENCH_TMP/key-$key.conf"
        stack_start "$dir" STACK_WORKERS=2 STACK_WORKER_THREADS="$THREADS" STACK_BUCKETS="photos=$B" \
                STACK_RESOURCES="$BENCH_TMP/key-$key.conf"
        stack_register "$dir" seed "$BENCH_SRC/tests/bench/seed-pipeline.asl.json"
        publish_jobs seed "w$key$r" 0 2 '{"bucket": "photos", "key": "raw/photo-%04d.jpg" % i}' "$BENCH_TMP/w$key$r.ids"
        BENCH_QUIET=1 wait_execs "$BENCH_TMP/w$key$r.ids" "$BENCH_TMP/w$key$r.json" 120 || FAILED=1
        sleep 5
        ids=$BENCH_TMP/$key$r.ids
        : >"$ids"
        l0=$(cut -d' ' -f1 /proc/loadavg)
        t0=$(now_ms)
        publish_jobs seed "$key$r" 0 "$N" '{"bucket": "photos", "key": "raw/photo-%04d.jpg" % i}' "$ids"
        BENCH_QUIET=1 wait_execs "$ids" "$BENCH_TMP/$key$r.json" 600 || FAILED=1
        l1=$(cut -d' ' -f1 /proc/loadavg)
        ok=$(count_status "$BENCH_TMP/$key$r.json" SUCCEEDED)
        [ "$ok" = "$N" ] || { echo "round $r ($key): only $ok of $N executions SUCCEEDED"; FAILED=1; }
        t1=$(last_stop_ms "$BENCH_TMP/$key$r.json")
        rate=$(python3 -c "print(round($N * 1000 / max(1, $t1 - $t0), 3))")
        sp=$(python3 "$BENCH_SRC/tests/bench/worker-spread.py" "$BOOTSTRAP" "seed:$key$r-")
        stack_stop "$dir"
        printf '{"key": "%s", "round": %d, "imagesPerSecond": %s, "load": [%s, %s], "spread": %s}\n' \
                "$key" "$r" "$rate" "$l0" "$l1" "$sp" >>"$BENCH_TMP/spread.jsonl"
        printf '%s' "$sp" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("round %s, task_key %-9s: %s images/s, tail %d ms of %d (%.1f%%), workers idle %.1f%%, executions on one partition %d of %d (load %s -> %s)" % (
    sys.argv[1], sys.argv[2], sys.argv[3], d["tailMs"], d["batchMs"], 100.0 * d["tailMs"] / d["batchMs"],
    100 * d["idleShare"], d["executionsOnOnePartition"], d["executions"], sys.argv[4], sys.argv[5]))' "$r" "$key" "$rate" "$l0" "$l1"
}

for r in $(seq "$ROUNDS"); do
        if [ $((r % 2)) = 1 ]; then
                spread_round execution "$r"
                spread_round task "$r"
        else
                spread_round task "$r"
                spread_round execution "$r"
        fi
done

write_result spread "$(python3 - "$BENCH_TMP/spread.jsonl" <<PY
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
out = {"benchmark": "spread", "date": "$(date -u +%FT%TZ)", "machine": json.loads('$MACHINE'), "images": $N,
       "size": "$SIZE", "threadsPerWorker": $THREADS, "rounds": rows, "failed": $FAILED}
for k in ("execution", "task"):
    rs = [x for x in rows if x["key"] == k]
    out[k] = {"imagesPerSecond": statistics.median(x["imagesPerSecond"] for x in rs),
              "tailShare": round(statistics.median(x["spread"]["tailMs"] / x["spread"]["batchMs"] for x in rs), 4),
              "idleShare": round(statistics.median(x["spread"]["idleShare"] for x in rs), 4)}
print(json.dumps(out))
PY
)" | python3 -c 'import json,sys; d=json.load(sys.stdin); e, t = d["execution"], d["task"]; print("medians, task_key execution -> task: %.2f -> %.2f images/s, tail %.1f%% -> %.1f%% of the batch, workers idle %.1f%% -> %.1f%%" % (e["imagesPerSecond"], t["imagesPerSecond"], 100 * e["tailShare"], 100 * t["tailShare"], 100 * e["idleShare"], 100 * t["idleShare"]))'
exit $FAILED
