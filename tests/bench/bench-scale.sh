#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Scaling by processes, through the local stack:
#   - the seed pipeline (images/s) with 1, 2 and 4 worker processes
#     (1 image thread each) and 1 coordinator, and with 2 coordinators;
#   - 5-task echo chains (tasks/s) with 1 and 2 coordinators (2 workers).
# Each configuration is a fresh stack with a warm-up.
#
#   tests/bench/bench-scale.sh
#
# BENCH_IMAGES (default 32, 1600x1200), BENCH_EXECUTIONS (default 1000),
# BENCH_FETCH_WAIT_MS (default 100 on Apache Kafka, 1 on the mock; see
# bench-orchestration.sh).
# Exit status: non-zero only if an execution failed or did not finish.
set -u
. "$(dirname "$0")/bench-lib.sh"
if [ "$BENCH_KAFKA" = mock ]; then FETCH_WAIT=${BENCH_FETCH_WAIT_MS:-1}; else FETCH_WAIT=${BENCH_FETCH_WAIT_MS:-100}; fi

N=${BENCH_IMAGES:-32}
SIZE=${BENCH_SIZE:-1600x1200}
E=${BENCH_EXECUTIONS:-1000}
MACHINE=$(machine_json)
FAILED=0
ROWS=

B=$BENCH_TMP/photos
mkdir -p "$B/raw"
"$IMGFLOW_BUILD/tests/bench/make-photos" "$B/raw" "$N" "${SIZE%x*}" "${SIZE#*x}" >/dev/null || exit 1

# measure KIND WORKERS COORDINATORS -> one JSON row
measure() {
        local kind=$1 w=$2 c=$3 dir=$BENCH_TMP/stack-$1-$2-$3 sm file count input per ids t0 t1 ok rate
        if [ "$kind" = images ]; then
                sm=seed file=$BENCH_SRC/tests/bench/seed-pipeline.asl.json count=$N per=1
                input='{"bucket": "photos", "key": "raw/photo-%04d.jpg" % (i % '"$N"')}'
        else
                sm=chain file=$BENCH_SRC/tests/bench/echo-chain.asl.json count=$E per=5
                input='{"i": i}'
        fi
        stack_start "$dir" STACK_WORKERS="$w" STACK_COORDINATORS="$c" STACK_WORKER_THREADS=1 \
                STACK_FETCH_WAIT_MS="$FETCH_WAIT" \
                STACK_BUCKETS="photos=$B" STACK_RESOURCES=
        stack_register "$dir" "$sm" "$file"
        publish_jobs "$sm" warm 0 $((2 * w + 2)) "$input" "$dir.warm.ids"
        BENCH_QUIET=1 wait_execs "$dir.warm.ids" "$dir.warm.json" 120 || FAILED=1
        sleep 1
        ids=$dir.ids
        : >"$ids"
        t0=$(now_ms)
        publish_jobs "$sm" run 0 "$count" "$input" "$ids"
        BENCH_QUIET=1 wait_execs "$ids" "$dir.json" 600 || FAILED=1
        ok=$(count_status "$dir.json" SUCCEEDED)
        [ "$ok" = "$count" ] || { echo "$kind w=$w c=$c: only $ok of $count SUCCEEDED" >&2; FAILED=1; }
        t1=$(last_stop_ms "$dir.json")
        rate=$(python3 -c "print(round($per * $ok * 1000 / max(1, $t1 - $t0), 2))")
        stack_stop "$dir"
        if [ "$kind" = images ]; then
                echo "images: $w worker(s), $c coordinator(s): $rate images/s" >&2
        else
                echo "echo:   $w worker(s), $c coordinator(s): $rate tasks/s" >&2
        fi
        ROWS="$ROWS${ROWS:+,}{\"kind\": \"$kind\", \"workers\": $w, \"coordinators\": $c, \"rate\": $rate, \"ms\": $((t1 - t0)), \"count\": $count}"
}

echo "== scaling: seed pipeline over $N photos of $SIZE; echo chains x $E"
for w in 1 2 4; do measure images "$w" 1; done
measure images 2 2
measure echo 2 1
measure echo 2 2

write_result scale "$(python3 - <<PY
import json
print(json.dumps({"benchmark": "scale", "date": "$(date -u +%FT%TZ)", "machine": json.loads('$MACHINE'),
    "images": $N, "size": "$SIZE", "executions": $E, "workerThreads": 1,
    "rows": json.loads('[$ROWS]'), "failed": $FAILED}))
PY
)" >/dev/null
exit $FAILED
