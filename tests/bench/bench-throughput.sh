#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Throughput of the seed pipeline (validate -> Parallel(resize 800x600,
# grayscale + 3x3 sharpen) -> optimize JPEG q80, metadata stripped) over
# photos of >= 1 MP, through Kafka + Redis + 2 workers (the local stack),
# against plain-loop (the same libvips work in one process, no
# orchestration), in the same run, alternating, BENCH_ROUNDS times.
# Reports images/s of both (best round) and the ratio.
#
#   tests/bench/bench-throughput.sh
#
# BENCH_IMAGES (default 48), BENCH_SIZE (default 1600x1200), BENCH_ROUNDS
# (default 2), BENCH_WORKERS (default 2). The same number of image threads
# on both sides: nproc in total (each worker gets nproc / workers).
# Exit status: non-zero only if an image or an execution failed.
set -u
. "$(dirname "$0")/bench-lib.sh"

N=${BENCH_IMAGES:-48}
SIZE=${BENCH_SIZE:-1600x1200}
ROUNDS=${BENCH_ROUNDS:-2}
WORKERS=${BENCH_WORKERS:-2}
NPROC=$(nproc)
THREADS=$((NPROC / WORKERS)); [ $THREADS -ge 1 ] || THREADS=1
PLAIN_THREADS=$((THREADS * WORKERS))
MACHINE=$(machine_json)

echo "== seed pipeline throughput: $N photos of $SIZE, $WORKERS workers x $THREADS threads vs plain-loop with $PLAIN_THREADS threads"
B=$BENCH_TMP/photos
mkdir -p "$B/raw"
"$IMGFLOW_BUILD/tests/bench/make-photos" "$B/raw" "$N" "${SIZE%x*}" "${SIZE#*x}" >/dev/null || exit 1

stack_start "$BENCH_TMP/stack" STACK_WORKERS="$WORKERS" STACK_WORKER_THREADS="$THREADS" \
        STACK_BUCKETS="photos=$B" STACK_RESOURCES=
stack_register "$BENCH_TMP/stack" seed "$BENCH_SRC/tests/bench/seed-pipeline.asl.json"

# Warm-up: consumer groups settled, code paths and page cache warm.
publish_jobs seed warm 0 2 '{"bucket": "photos", "key": "raw/photo-%04d.jpg" % i}' "$BENCH_TMP/warm.ids"
BENCH_QUIET=1 wait_execs "$BENCH_TMP/warm.ids" "$BENCH_TMP/warm.json" 120 || { echo "warm-up did not finish"; exit 1; }

FAILED=0
ROUNDS_JSON=
for r in $(seq "$ROUNDS"); do
        # plain loop
        out=$("$IMGFLOW_BUILD/tests/bench/plain-loop" "$B/raw" "$BENCH_TMP/plain-$r" "$PLAIN_THREADS") || FAILED=1
        plain=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["imagesPerSecond"])')
        echo "round $r: plain-loop  $plain images/s"

        # the stack
        ids=$BENCH_TMP/r$r.ids
        : >"$ids"
        t0=$(now_ms)
        publish_jobs seed "r$r" 0 "$N" '{"bucket": "photos", "key": "raw/photo-%04d.jpg" % i}' "$ids"
        BENCH_QUIET=1 wait_execs "$ids" "$BENCH_TMP/r$r.json" 600 || FAILED=1
        ok=$(count_status "$BENCH_TMP/r$r.json" SUCCEEDED)
        [ "$ok" = "$N" ] || { echo "round $r: only $ok of $N executions SUCCEEDED"; FAILED=1; }
        t1=$(last_stop_ms "$BENCH_TMP/r$r.json")
        stack=$(python3 -c "print(round($N * 1000 / max(1, $t1 - $t0), 3))")
        echo "round $r: stack       $stack images/s ($ok/$N SUCCEEDED in $((t1 - t0)) ms)"
        ROUNDS_JSON="$ROUNDS_JSON${ROUNDS_JSON:+,}{\"plain\": $plain, \"stack\": $stack, \"stackMs\": $((t1 - t0))}"
done
stack_stop "$BENCH_TMP/stack"

# Once more with the worker's default backpressure (max_in_flight = 4 x
# threads, at least 8) and librdkafka's default metadata refresh (5 min,
# not the local stack's 200 ms): shows the cost of pausing and resuming the
# consumer with the daemons' own defaults.
stack_start "$BENCH_TMP/stack-d" STACK_WORKERS="$WORKERS" STACK_WORKER_THREADS="$THREADS" \
        STACK_WORKER_MAX_IN_FLIGHT=0 STACK_METADATA_REFRESH_MS=300000 STACK_BUCKETS="photos=$B" STACK_RESOURCES=
stack_register "$BENCH_TMP/stack-d" seed "$BENCH_SRC/tests/bench/seed-pipeline.asl.json"
publish_jobs seed dwarm 0 2 '{"bucket": "photos", "key": "raw/photo-%04d.jpg" % i}' "$BENCH_TMP/dwarm.ids"
BENCH_QUIET=1 wait_execs "$BENCH_TMP/dwarm.ids" "$BENCH_TMP/dwarm.json" 120 || FAILED=1
ids=$BENCH_TMP/d.ids
: >"$ids"
t0=$(now_ms)
publish_jobs seed d 0 "$N" '{"bucket": "photos", "key": "raw/photo-%04d.jpg" % i}' "$ids"
BENCH_QUIET=1 wait_execs "$ids" "$BENCH_TMP/d.json" 600 || FAILED=1
ok=$(count_status "$BENCH_TMP/d.json" SUCCEEDED)
[ "$ok" = "$N" ] || { echo "default backpressure: only $ok of $N executions SUCCEEDED"; FAILED=1; }
t1=$(last_stop_ms "$BENCH_TMP/d.json")
DEFAULT=$(python3 -c "print(round($N * 1000 / max(1, $t1 - $t0), 3))")
echo "stack, worker max_in_flight default (4 x threads, at least 8): $DEFAULT images/s"
stack_stop "$BENCH_TMP/stack-d"

write_result throughput "$(python3 - <<PY
import json
rounds = json.loads('[$ROUNDS_JSON]')
pb = max(r["plain"] for r in rounds); sb = max(r["stack"] for r in rounds)
print(json.dumps({"benchmark": "throughput", "date": "$(date -u +%FT%TZ)", "machine": json.loads('$MACHINE'),
    "images": $N, "size": "$SIZE", "workers": $WORKERS, "threadsPerWorker": $THREADS,
    "plainThreads": $PLAIN_THREADS, "rounds": rounds, "plainImagesPerSecond": pb,
    "stackImagesPerSecond": sb, "ratio": round(sb / pb, 3),
    "stackWorkerMaxInFlight": 64, "stackDefaultBackpressureImagesPerSecond": $DEFAULT, "stackDefaultMetadataRefreshMs": 300000, "target": 0.9, "failed": $FAILED}))
PY
)" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("plain-loop %.2f images/s, stack %.2f images/s, ratio %.2f (target >= 0.9)" % (d["plainImagesPerSecond"], d["stackImagesPerSecond"], d["ratio"]))'
exit $FAILED
