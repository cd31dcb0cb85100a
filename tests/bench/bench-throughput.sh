#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Throughput of the seed pipeline (validate -> Parallel(resize 800x600,
# grayscale + 3x3 sharpen) -> optimize JPEG q80, metadata stripped) over
# photos of >= 1 MP, through Kafka + Redis + 2 workers (the local stack),
# against plain-loop (the same libvips work in one process, no
# orchestration), and against plain-loop doing what imgflow's operations now
# do to be cheaper ("same-checks": validate decodes a JPEG at 1/8 scale, the
# filter reads its input sequentially), run right after it. Each system has
# the machine to itself: the stack is
# stopped before a plain round, and every stack round starts a fresh stack
# (a warm-up of 2 executions, then a wait until its processes are quiet).
# The order alternates (plain first in odd rounds, the stack first in even
# ones), BENCH_ROUNDS rounds. Reported: the median of each side and of the
# per-round ratios, every round, the load average around each run, CPU
# seconds per image (plain-loop's user + sys against the workers', and the
# coordinator's, Redis's and the broker's), and how the tasks were spread
# over the workers (tests/bench/worker-spread.py: the tail of a batch, when
# one worker has finished and the other still works).
#
#   tests/bench/bench-throughput.sh
#
# BENCH_IMAGES (default 48), BENCH_SIZE (default 1600x1200), BENCH_ROUNDS
# (default 5), BENCH_WORKERS (default 2), BENCH_DEFAULTS_ROUND (default 1:
# one more stack run with the worker's default backpressure; 0 skips it).
# The same number of image threads on both sides: nproc in total (each
# worker gets nproc / workers).
# Target: the median ratio stack / plain >= 1.05.
# Exit status: non-zero only if an image or an execution failed.
set -u
. "$(dirname "$0")/bench-lib.sh"

N=${BENCH_IMAGES:-48}
SIZE=${BENCH_SIZE:-1600x1200}
ROUNDS=${BENCH_ROUNDS:-5}
WORKERS=${BENCH_WORKERS:-2}
NPROC=$(nproc)
THREADS=$((NPROC / WORKERS)); [ $THREADS -ge 1 ] || THREADS=1
PLAIN_THREADS=$((THREADS * WORKERS))
TARGET=1.05
MACHINE=$(machine_json)
CPU=$BENCH_SRC/tests/bench/cpu-sample.py

echo "== seed pipeline throughput: $N photos of $SIZE, $WORKERS workers x $THREADS threads vs plain-loop with $PLAIN_THREADS threads, $ROUNDS rounds, each alone"
B=$BENCH_TMP/photos
mkdir -p "$B/raw"
"$IMGFLOW_BUILD/tests/bench/make-photos" "$B/raw" "$N" "${SIZE%x*}" "${SIZE#*x}" >/dev/null || exit 1

loadavg() { cut -d' ' -f1 /proc/loadavg; }

# stack_named DIR: "name=pid ..." of the stack's processes (the notify
# listener is the stack script's, not imgflow's).
stack_named() {
        local f
        for f in "$1"/pids/*.pid; do
                case "$(basename "$f")" in notify.pid) continue ;; esac
                echo -n "$(basename "$f" .pid)=$(cut -d' ' -f1 "$f") "
        done
}

# quiet_wait DIR: until the stack's processes together use less than 15%
# of a core over 2 s (a fresh broker's JVM compiles for a while), at most
# 60 s. Prints the seconds waited.
quiet_wait() {
        local named i=0 a b pct
        named=$(stack_named "$1")
        while [ $i -lt 30 ]; do
                # shellcheck disable=SC2086
                python3 "$CPU" snap $named >"$BENCH_TMP/q0.json"
                sleep 2
                # shellcheck disable=SC2086
                python3 "$CPU" snap $named >"$BENCH_TMP/q1.json"
                pct=$(python3 "$CPU" diff "$BENCH_TMP/q0.json" "$BENCH_TMP/q1.json" |
                        python3 -c 'import json,sys; print(int(sum(p["percentOfCore"] for p in json.load(sys.stdin)["procs"].values())))')
                i=$((i + 1))
                [ "$pct" -lt 15 ] && break
        done
        echo $((i * 2))
}

# plain_run R [same-checks]: one run of plain-loop with nothing else of
# ours running. Sets RUN_RATE, RUN_CPU (CPU seconds per image), RUN_LOAD.
plain_run() {
        local r=$1 l0 l1 out
        shift
        l0=$(loadavg)
        rm -rf "$BENCH_TMP/plain-$r"
        out=$(python3 - "$IMGFLOW_BUILD/tests/bench/plain-loop" "$B/raw" "$BENCH_TMP/plain-$r" "$PLAIN_THREADS" "$@" <<'PY'
import json, resource, subprocess, sys
p = subprocess.run(sys.argv[1:], capture_output=True, text=True)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
d = json.loads(p.stdout) if p.stdout.strip() else {"imagesPerSecond": 0, "failed": -1}
d["cpuSeconds"] = round(ru.ru_utime + ru.ru_stime, 3)
d["maxRssMiB"] = round(ru.ru_maxrss / 1024, 1)
d["rc"] = p.returncode
sys.stderr.write(p.stderr)
print(json.dumps(d))
PY
)
        l1=$(loadavg)
        RUN_RATE=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["imagesPerSecond"])')
        RUN_CPU=$(printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(round(d["cpuSeconds"] / max(1, d["images"]), 4))')
        printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["rc"] == 0 and d["failed"] == 0 else 1)' || FAILED=1
        RUN_LOAD="[$l0, $l1]"
}

# plain_round R: plain-loop as it is (validate a full decode), then with
# the checks imgflow makes now ("same-checks": validate at 1/8 scale, the
# filter's input read sequentially), one after the other.
plain_round() {
        plain_run "$1"
        PLAIN=$RUN_RATE PLAIN_CPU=$RUN_CPU PLAIN_LOAD=$RUN_LOAD
        echo "round $1: plain-loop  $PLAIN images/s, $PLAIN_CPU CPU-s/image (load ${PLAIN_LOAD//,/ ->})"
        plain_run "$1" same-checks
        SAME=$RUN_RATE SAME_CPU=$RUN_CPU SAME_LOAD=$RUN_LOAD
        echo "round $1: plain-loop, same checks  $SAME images/s, $SAME_CPU CPU-s/image (load ${SAME_LOAD//,/ ->})"
}

# stack_round R: a fresh stack, warm-up, quiet, N executions, spread, stop.
stack_round() {
        local r=$1 dir=$BENCH_TMP/stack-$r ids=$BENCH_TMP/r$r.ids named ok t0 t1 l0 l1 waited
        stack_start "$dir" STACK_WORKERS="$WORKERS" STACK_WORKER_THREADS="$THREADS" \
                STACK_BUCKETS="photos=$B" STACK_RESOURCES=
        stack_register "$dir" seed "$BENCH_SRC/tests/bench/seed-pipeline.asl.json"
        # Warm-up: consumer groups settled, code paths and page cache warm.
        publish_jobs seed warm 0 2 '{"bucket": "photos", "key": "raw/photo-%04d.jpg" % i}' "$BENCH_TMP/warm$r.ids"
        BENCH_QUIET=1 wait_execs "$BENCH_TMP/warm$r.ids" "$BENCH_TMP/warm$r.json" 120 || { echo "warm-up did not finish"; FAILED=1; }
        waited=$(quiet_wait "$dir")
        named=$(stack_named "$dir")
        : >"$ids"
        l0=$(loadavg)
        # shellcheck disable=SC2086
        python3 "$CPU" snap $named >"$BENCH_TMP/s$r-a.json"
        t0=$(now_ms)
        publish_jobs seed "r$r" 0 "$N" '{"bucket": "photos", "key": "raw/photo-%04d.jpg" % i}' "$ids"
        BENCH_QUIET=1 wait_execs "$ids" "$BENCH_TMP/r$r.json" 600 || FAILED=1
        # shellcheck disable=SC2086
        python3 "$CPU" snap $named >"$BENCH_TMP/s$r-b.json"
        l1=$(loadavg)
        ok=$(count_status "$BENCH_TMP/r$r.json" SUCCEEDED)
        [ "$ok" = "$N" ] || { echo "round $r: only $ok of $N executions SUCCEEDED"; FAILED=1; }
        t1=$(last_stop_ms "$BENCH_TMP/r$r.json")
        STACK_RATE=$(python3 -c "print(round($N * 1000 / max(1, $t1 - $t0), 3))")
        STACK_MS=$((t1 - t0))
        STACK_CPU=$(python3 "$CPU" diff "$BENCH_TMP/s$r-a.json" "$BENCH_TMP/s$r-b.json" | python3 -c '
import json, sys
d = json.load(sys.stdin)["procs"]
n = int(sys.argv[1])
out = {}
for name, p in d.items():
    kind = name.split("-")[0]
    out[kind] = out.get(kind, 0) + p["cpu"]
print(json.dumps({k: round(v / n, 4) for k, v in sorted(out.items())}))' "$N")
        SPREAD=$(python3 "$BENCH_SRC/tests/bench/worker-spread.py" "$BOOTSTRAP" "seed:r$r-")
        STACK_LOAD="[$l0, $l1]"
        STACK_QUIET=$waited
        stack_stop "$dir"
        echo "round $r: stack       $STACK_RATE images/s ($ok/$N SUCCEEDED in $STACK_MS ms), CPU-s/image $STACK_CPU (load $l0 -> $l1, quiet after ${waited}s)"
        printf '%s' "$SPREAD" | python3 -c '
import json, sys
d = json.load(sys.stdin)
if d.get("tasks"):
    print("         spread: %s; tail %d ms of %d (%.1f%%), idle share %.1f%%, executions on one partition %d of %d" % (
        ", ".join("%s %d tasks %d ms busy" % (w, v["tasks"], v["busyMs"]) for w, v in d["workers"].items()),
        d["tailMs"], d["batchMs"], 100.0 * d["tailMs"] / d["batchMs"], 100 * d["idleShare"],
        d["executionsOnOnePartition"], d["executions"]))'
}

FAILED=0
ROUNDS_JSON=
for r in $(seq "$ROUNDS"); do
        if [ $((r % 2)) = 1 ]; then
                plain_round "$r"
                stack_round "$r"
                order=plain-first
        else
                stack_round "$r"
                plain_round "$r"
                order=stack-first
        fi
        ROUNDS_JSON="$ROUNDS_JSON${ROUNDS_JSON:+,}{\"order\": \"$order\", \"plain\": $PLAIN, \"stack\": $STACK_RATE, \"stackMs\": $STACK_MS,
          \"plainSameChecks\": $SAME, \"plainSameChecksCpuPerImage\": $SAME_CPU, \"plainSameChecksLoad\": $SAME_LOAD,
          \"plainCpuPerImage\": $PLAIN_CPU, \"stackCpuPerImage\": $STACK_CPU, \"plainLoad\": $PLAIN_LOAD,
          \"stackLoad\": $STACK_LOAD, \"stackQuietWaitSeconds\": $STACK_QUIET, \"spread\": $SPREAD}"
done

# Once more with the worker's default backpressure (max_in_flight = 4 x
# threads, at least 8) and librdkafka's default metadata refresh (5 min,
# not the local stack's): the daemons' own defaults.
DEFAULT=None
if [ "${BENCH_DEFAULTS_ROUND:-1}" = 1 ]; then
        stack_start "$BENCH_TMP/stack-d" STACK_WORKERS="$WORKERS" STACK_WORKER_THREADS="$THREADS" \
                STACK_WORKER_MAX_IN_FLIGHT=0 STACK_METADATA_REFRESH_MS=300000 STACK_BUCKETS="photos=$B" STACK_RESOURCES=
        stack_register "$BENCH_TMP/stack-d" seed "$BENCH_SRC/tests/bench/seed-pipeline.asl.json"
        publish_jobs seed dwarm 0 2 '{"bucket": "photos", "key": "raw/photo-%04d.jpg" % i}' "$BENCH_TMP/dwarm.ids"
        BENCH_QUIET=1 wait_execs "$BENCH_TMP/dwarm.ids" "$BENCH_TMP/dwarm.json" 120 || FAILED=1
        quiet_wait "$BENCH_TMP/stack-d" >/dev/null
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
fi

write_result throughput "$(python3 - <<PY
import json, statistics
rounds = json.loads('''[$ROUNDS_JSON]''')
med = lambda xs: round(statistics.median(xs), 4)
pm = med([r["plain"] for r in rounds]); sm = med([r["stack"] for r in rounds])
ratios = [round(r["stack"] / r["plain"], 3) if r["plain"] else 0 for r in rounds]
workers_cpu = med([r["stackCpuPerImage"].get("worker", 0) for r in rounds])
print(json.dumps({"benchmark": "throughput", "date": "$(date -u +%FT%TZ)", "machine": json.loads('$MACHINE'),
    "images": $N, "size": "$SIZE", "workers": $WORKERS, "threadsPerWorker": $THREADS,
    "plainThreads": $PLAIN_THREADS, "eachAlone": True, "rounds": rounds,
    "plainImagesPerSecond": pm, "stackImagesPerSecond": sm, "ratio": round(sm / pm, 3) if pm else 0,
    "roundRatios": ratios, "medianRoundRatio": med(ratios),
    "plainSameChecksImagesPerSecond": med([r["plainSameChecks"] for r in rounds]),
    "ratioSameChecks": round(sm / med([r["plainSameChecks"] for r in rounds]), 3),
    "roundRatiosSameChecks": [round(r["stack"] / r["plainSameChecks"], 3) if r["plainSameChecks"] else 0 for r in rounds],
    "plainSameChecksCpuPerImage": med([r["plainSameChecksCpuPerImage"] for r in rounds]),
    "plainCpuPerImage": med([r["plainCpuPerImage"] for r in rounds]), "workerCpuPerImage": workers_cpu,
    "tailMs": [r["spread"].get("tailMs") for r in rounds],
    "idleShare": [r["spread"].get("idleShare") for r in rounds],
    "loadDuring": [[r["plainLoad"], r["stackLoad"]] for r in rounds],
    "stackWorkerMaxInFlight": 64, "stackDefaultBackpressureImagesPerSecond": $DEFAULT,
    "stackDefaultMetadataRefreshMs": 300000, "target": $TARGET, "failed": $FAILED}))
PY
)" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("median: plain-loop %.2f images/s, stack %.2f images/s, ratio %.3f (per round %s; target >= %.2f); CPU-s/image plain %.4f, workers %.4f" % (d["plainImagesPerSecond"], d["stackImagesPerSecond"], d["ratio"], ", ".join("%.3f" % x for x in d["roundRatios"]), d["target"], d["plainCpuPerImage"], d["workerCpuPerImage"])); print("against plain-loop with the same checks: %.2f images/s, ratio %.3f (per round %s); CPU-s/image %.4f" % (d["plainSameChecksImagesPerSecond"], d["ratioSameChecks"], ", ".join("%.3f" % x for x in d["roundRatiosSameChecks"]), d["plainSameChecksCpuPerImage"]))'
exit $FAILED
