#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A distributed Map over a directory bucket of small images, a thumbnail
# child per image: examples/distributed-map/thumbnails-export.asl.json as
# it is (ItemReader s3:listObjectsV2 over a prefix, image.thumbnail 128 px
# wide, MaxConcurrency 50, a ResultWriter writing every child's output to
# results/<Map Run id>/ as JSON lines) over prefixes of BENCH_DMAP_THUMB_SIZES
# images (default 10000; 100000 is the large case), one stack (1
# coordinator, BENCH_DMAP_THUMB_WORKERS workers, default 1, of as many image
# threads as CPUs).
#
# The images are 96x72 JPEGs from make-photos (a gradient and noise, so
# they decode as photos do), made once by two processes and kept in
# BENCH_DMAP_PHOTOS (default tests/bench/results/photos-cache/96x72, not in
# git); a prefix is hard links to them (copies across file systems).
#
# BENCH_DMAP_THUMB_BATCH=N (default 0: the example as it is) runs it with an
# ItemBatcher of N images instead, each child an inline Map making the
# thumbnails of its batch (MaxConcurrency 10 children, 10 images at once in
# each), no ResultWriter: one child per N images, its output their count.
# The result is then distributed-map-thumbnails-batched.json.
#
# The sizes run smallest first, BENCH_ROUNDS rounds (default 1). Per run:
# wall time from the execution's start to its end, items/s, the CPU time of
# the coordinator, the workers and redis-server (utime + stime of
# /proc/<pid>/stat) per item, the coordinator's peak RSS during the run
# (VmHWM, reset before it through /proc/<pid>/clear_refs) and Redis's
# used_memory_peak after it (never reset, so with the sizes ascending it is
# the largest run's). Checked: the execution SUCCEEDED, its ResultWriter's
# manifest lists files holding one JSON line per image (batched: the
# children's counts add up to the images).
#
#   tests/bench/bench-distributed-map-thumbnails.sh   (BENCH_KAFKA=mock for the mock cluster)
set -u
. "$(dirname "$0")/bench-lib.sh"

SIZES=${BENCH_DMAP_THUMB_SIZES:-10000}
ROUNDS=${BENCH_ROUNDS:-1}
WORKERS=${BENCH_DMAP_THUMB_WORKERS:-1}
PHOTOS=${BENCH_DMAP_PHOTOS:-$BENCH_SRC/tests/bench/results/photos-cache/96x72}
TIMEOUT=${BENCH_DMAP_THUMB_TIMEOUT:-3600}
BATCH=${BENCH_DMAP_THUMB_BATCH:-0}
MAX=$(printf '%s\n' $SIZES | sort -n | tail -1)

# The images, made once: two make-photos processes, each half of the set.
have=$(cat "$PHOTOS/.count" 2>/dev/null || echo 0)
if [ "$have" -lt "$MAX" ]; then
        mkdir -p "$PHOTOS"
        t0=$(now_ms)
        half=$(((MAX + have) / 2))
        nice "$IMGFLOW_BUILD/tests/bench/make-photos" "$PHOTOS" "$half" 96 72 "$have" &
        p1=$!
        nice "$IMGFLOW_BUILD/tests/bench/make-photos" "$PHOTOS" "$MAX" 96 72 "$half" || exit 1
        wait $p1 || exit 1
        echo "$MAX" >"$PHOTOS/.count"
        echo "made $((MAX - have)) images in $PHOTOS in $((($(now_ms) - t0) / 1000)) s"
fi

S=$BENCH_TMP/s
stack_start "$S" STACK_WORKERS="$WORKERS" STACK_COORDINATORS=1
B=$S/buckets/photos
for n in $SIZES; do
        mkdir -p "$B/n$n"
        python3 - "$PHOTOS" "$B/n$n" "$n" <<'PY' || exit 1
import os, shutil, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(n):
    name = "photo-%04d.jpg" % i
    try:
        os.link(os.path.join(src, name), os.path.join(dst, name))
    except OSError:
        shutil.copyfile(os.path.join(src, name), os.path.join(dst, name))
PY
done
DEF=$BENCH_SRC/examples/distributed-map/thumbnails-export.asl.json NAME=distributed-map-thumbnails
if [ "$BATCH" -gt 0 ]; then
        DEF=$BENCH_TMP/batched.asl.json NAME=distributed-map-thumbnails-batched
        python3 - "$BENCH_SRC/examples/distributed-map/thumbnails-export.asl.json" "$BATCH" >"$DEF" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
m = d["States"]["Thumbnails"]
task = m["ItemProcessor"]["States"]["MakeThumbnail"]
task["ResultSelector"] = {"size.$": "$.size"}
m["ItemBatcher"] = {"MaxItemsPerBatch": int(sys.argv[2])}
m["MaxConcurrency"] = 10
m["ItemProcessor"]["StartAt"] = "Each"
m["ItemProcessor"]["States"] = {"Each": {
    "Type": "Map", "ItemsPath": "$.Items", "MaxConcurrency": 10,
    "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "MakeThumbnail",
                      "States": {"MakeThumbnail": task}},
    "ResultSelector": {"n.$": "States.ArrayLength($)"}, "End": True}}
del m["ResultWriter"]
m["ResultPath"] = "$.batches"
print(json.dumps(d))
PY
fi
stack_register "$S" dmap-thumbnails "$DEF"

pid_of() { awk '{print $1}' "$S/pids/$1.pid"; }
COORD=$(pid_of coordinator-1)
PIDS="$COORD"
for i in $(seq 1 "$WORKERS"); do PIDS="$PIDS $(pid_of worker-$i)"; done
REDIS_PID=$(redis-cli -p "$REDIS_PORT" info server | tr -d '\r' | sed -n 's/^process_id://p')
ticks() { for p in "$@"; do awk '{print $14 + $15}' "/proc/$p/stat"; done | awk '{s += $1} END {print s + 0}'; }
HZ=$(getconf CLK_TCK)
CLI=$IMGFLOW_BUILD/cli/imgflow
MACHINE=$(machine_json)
: >"$BENCH_TMP/runs.jsonl"
for r in $(seq 1 "$ROUNDS"); do
        for n in $(printf '%s\n' $SIZES | sort -n); do
                echo 5 >"/proc/$COORD/clear_refs" 2>/dev/null # VmHWM from here
                c0=$(ticks "$COORD") w0=$(ticks ${PIDS#"$COORD"}) r0=$(ticks "$REDIS_PID")
                load=$(cut -d' ' -f1 /proc/loadavg)
                if ! "$CLI" start-execution --config "$IMGFLOW_CONFIG" --state-machine dmap-thumbnails \
                        --name "r$r-n$n" --input "{\"bucket\": \"photos\", \"prefix\": \"n$n/\"}" --wait \
                        --timeout "$TIMEOUT" >"$BENCH_TMP/d.json" 2>"$BENCH_TMP/d.err"; then
                        echo "run $n failed: $(tail -2 "$BENCH_TMP/d.err") $(head -c 400 "$BENCH_TMP/d.json")"
                        exit 1
                fi
                c1=$(ticks "$COORD") w1=$(ticks ${PIDS#"$COORD"}) r1=$(ticks "$REDIS_PID")
                rss=$(awk '/VmHWM/ {print $2 * 1024}' "/proc/$COORD/status")
                peak=$(redis-cli -p "$REDIS_PORT" info memory | tr -d '\r' | sed -n 's/^used_memory_peak://p')
                python3 - "$BENCH_TMP/d.json" "$B" "$r" "$n" "$((c1 - c0))" "$((w1 - w0))" "$((r1 - r0))" "$HZ" \
                        "$rss" "$peak" "$load" >>"$BENCH_TMP/runs.jsonl" <<'PY' || exit 1
import json, os, sys
from datetime import datetime
def ts(v):
    return v / 1000.0 if isinstance(v, (int, float)) else datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
d = json.load(open(sys.argv[1]))
bdir = sys.argv[2]
r, n = int(sys.argv[3]), int(sys.argv[4])
coord, work, redis = (int(x) / int(sys.argv[8]) for x in sys.argv[5:8])
if d.get("status") != "SUCCEEDED":
    sys.exit("run %d: %s %s %s" % (n, d.get("status"), d.get("error"), (d.get("cause") or "")[:300]))
out = json.loads(d["output"])
if "batches" in out:  # batched: the children's counts add up to the images
    files, lines = len(out["batches"]), sum(b["n"] for b in out["batches"])
    if lines != n:
        sys.exit("run %d: the batches made %d thumbnails" % (n, lines))
else:  # the ResultWriter's manifest and files: one JSON line per image
    man = json.load(open(os.path.join(bdir, out["ResultWriterDetails"]["Key"])))
    files = len(man["ResultFiles"]["SUCCEEDED"])
    lines = sum(1 for f in man["ResultFiles"]["SUCCEEDED"] for _ in open(os.path.join(bdir, f["Key"])))
    if lines != n or man["ResultFiles"]["FAILED"]:
        sys.exit("run %d: %d results written, %d files of failures" % (n, lines, len(man["ResultFiles"]["FAILED"])))
wall = ts(d["stopDate"]) - ts(d["startDate"])
print(json.dumps({"round": r, "items": n, "wallSec": wall, "itemsPerSec": n / wall,
                  "wallUsPerItem": wall * 1e6 / n, "coordinatorCpuUsPerItem": coord * 1e6 / n,
                  "workerCpuUsPerItem": work * 1e6 / n, "redisCpuUsPerItem": redis * 1e6 / n,
                  "coordinatorCpuSec": coord, "workerCpuSec": work, "redisCpuSec": redis,
                  "coordinatorPeakRssBytes": int(sys.argv[9]), "redisUsedMemoryPeakBytes": int(sys.argv[10]),
                  "resultFiles": files, "loadavg": float(sys.argv[11])}))
PY
                tail -1 "$BENCH_TMP/runs.jsonl"
        done
done
RESULT=$(python3 - "$BENCH_TMP/runs.jsonl" "$MACHINE" "$WORKERS" "$NAME" "$BATCH" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
rows = []
for n in sorted({r["items"] for r in runs}):
    rs = [r for r in runs if r["items"] == n]
    row = {"items": n}
    for k in ("itemsPerSec", "wallUsPerItem", "coordinatorCpuUsPerItem", "workerCpuUsPerItem", "redisCpuUsPerItem"):
        row[k] = statistics.median(r[k] for r in rs)
    row["coordinatorPeakRssBytes"] = max(r["coordinatorPeakRssBytes"] for r in rs)
    row["redisUsedMemoryPeakBytes"] = max(r["redisUsedMemoryPeakBytes"] for r in rs)
    rows.append(row)
for row in rows:
    row["wallRatioToSmallest"] = round(row["wallUsPerItem"] / rows[0]["wallUsPerItem"], 2)
    row["coordinatorCpuRatioToSmallest"] = round(row["coordinatorCpuUsPerItem"] / rows[0]["coordinatorCpuUsPerItem"], 2)
print(json.dumps({"benchmark": sys.argv[4], "machine": json.loads(sys.argv[2]), "batch": int(sys.argv[5]),
                  "workers": int(sys.argv[3]), "imageSize": "96x72", "sizes": rows, "runs": runs}))
PY
)
write_result "$NAME" "$RESULT"
