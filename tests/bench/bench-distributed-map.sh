#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A distributed Map's cost per item against the size of the listing: one
# stack (one coordinator, one worker), a directory bucket with prefixes of
# BENCH_DMAP_SIZES objects (default 1000 4000 16000), and a distributed Map
# over each prefix (ItemReader s3:listObjectsV2, the workers' storage.list a
# page of 200 keys at a time) in two variants:
#   batched  ItemBatcher of 100 items, one no-op child (test.echo) per batch,
#            as a manifest of small items is usually run;
#   items    one no-op child per item (MaxConcurrency 500): every item is a
#            task, a result and a change of the execution.
#   standard one no-op child per item, ExecutionType STANDARD: each child an
#            execution of its own (its start, its task, its end told to the
#            parent), MaxConcurrency 500; run against a build where such
#            children run inside the parent, it compares the two.
# and a third over JSONL objects of BENCH_DMAP_JSONL_SIZES lines (default
# 10000 100000; 1000000 is the large case), one object per size:
#   jsonl    ItemReader s3:getObject with InputType JSONL (the workers'
#            storage.items, 200 lines a page), an ItemBatcher of 100 items,
#            one no-op child per batch.
# and a fourth over S3 Inventories of BENCH_DMAP_MANIFEST_SIZES rows (default
# 10000 100000), gzip-compressed CSV data files of 25,000 rows each:
#   manifest ItemReader s3:getObject with ManifestType S3_INVENTORY (the
#            workers' storage.items, 200 rows a page, each page inflating its
#            data file from the start), an ItemBatcher of 100 items.
# BENCH_DMAP_RESULT names the result (default distributed-map).
# BENCH_DMAP_VARIANTS picks the listing's variants (default "batched items
# standard"). Rounds are interleaved (every size and variant once per round,
# BENCH_ROUNDS rounds, default 3). Per run: wall time from the execution's start to its
# end, the coordinator's CPU time (utime+stime of /proc/<pid>/stat) and the
# cost per item of both. Reported: the medians and every round, the cost per
# item of each size as a ratio to the smallest size's (flat = linear), the
# coordinator's peak RSS (VmHWM) and Redis's used_memory_peak at the end.
#
#   tests/bench/bench-distributed-map.sh     (BENCH_KAFKA=mock for the mock cluster)
set -u
. "$(dirname "$0")/bench-lib.sh"

SIZES=${BENCH_DMAP_SIZES:-1000 4000 16000}
JSONL_SIZES=${BENCH_DMAP_JSONL_SIZES:-10000 100000}
MANIFEST_SIZES=${BENCH_DMAP_MANIFEST_SIZES:-10000 100000}
ROUNDS=${BENCH_ROUNDS:-3}
VARIANTS=${BENCH_DMAP_VARIANTS:-batched items standard}
S=$BENCH_TMP/s
stack_start "$S" STACK_WORKERS=1 STACK_COORDINATORS=1
B=$S/buckets/photos
for n in $SIZES; do
        mkdir -p "$B/n$n"
        python3 - "$B/n$n" "$n" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, "o%07d" % i), "w") as f:
        f.write("x")
PY
done

mkdir -p "$B/lists"
for n in $JSONL_SIZES; do
        python3 - "$B/lists/n$n.jsonl" "$n" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for i in range(n):
        f.write('{"Key": "o%07d", "Size": 1}\n' % i)
PY
done

for n in $MANIFEST_SIZES; do
        python3 - "$B/lists" "$n" <<'PY'
import gzip, json, os, sys
d, n = sys.argv[1], int(sys.argv[2])
per = 25000
os.makedirs(os.path.join(d, "inv%d" % n), exist_ok=True)
files = []
for j, first in enumerate(range(0, n, per)):
    key = "lists/inv%d/data-%d.csv.gz" % (n, j)
    rows = "".join('"photos","o%07d","1","2026-12-05T10:00:00.000Z"\n' % i for i in range(first, min(n, first + per)))
    with open(os.path.join(d, "..", key), "wb") as f:
        f.write(gzip.compress(rows.encode(), mtime=0))
    files.append({"key": key})
json.dump({"fileFormat": "CSV", "fileSchema": "Bucket, Key, Size, LastModifiedDate", "files": files},
          open(os.path.join(d, "inv%d" % n, "manifest.json"), "w"))
PY
done

for variant in batched items standard jsonl manifest; do
        python3 - "$variant" >"$BENCH_TMP/$variant.asl.json" <<'PY'
import json, sys
batched = sys.argv[1] in ("batched", "jsonl", "manifest")
m = {"Type": "Map",
     "ItemReader": {"Resource": "arn:aws:states:::s3:listObjectsV2",
                    "Parameters": {"Bucket": "photos", "Prefix.$": "$.prefix"}},
     "MaxConcurrency": 500,
     "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED",
                                           "ExecutionType": "STANDARD" if sys.argv[1] == "standard" else "EXPRESS"},
                       "StartAt": "Noop",
                       "States": {"Noop": {"Type": "Task", "Resource": "imgflow:test.echo",
                                           "Parameters": {"n.$": "States.ArrayLength($.Items)"} if batched
                                           else {"k.$": "$.Key"},
                                           "ResultSelector": {}, "End": True}}},
     "ResultPath": None, "End": True}
if batched:
    m["ItemBatcher"] = {"MaxItemsPerBatch": 100}
if sys.argv[1] == "jsonl":
    m["ItemReader"] = {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSONL"},
                       "Parameters": {"Bucket": "photos", "Key.$": "$.key"}}
if sys.argv[1] == "manifest":
    m["ItemReader"] = {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"ManifestType": "S3_INVENTORY"},
                       "Parameters": {"Bucket": "photos", "Key.$": "$.manifest"}}
print(json.dumps({"StartAt": "M", "States": {"M": m}}))
PY
        stack_register "$S" "dmap-$variant" "$BENCH_TMP/$variant.asl.json"
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
COORD=$(awk '{print $1}' "$S/pids/coordinator-1.pid")
HZ=$(getconf CLK_TCK)
CLI=$IMGFLOW_BUILD/cli/imgflow
: >"$BENCH_TMP/runs.jsonl"
for r in $(seq 1 "$ROUNDS"); do
        runs="$(for n in $SIZES; do for v in $VARIANTS; do echo "$n $v"; done; done) $(for n in $JSONL_SIZES; do echo "$n jsonl"; done)"
        runs="$runs $(for n in $MANIFEST_SIZES; do echo "$n manifest"; done)"
        set -- $runs
        while [ $# -ge 2 ]; do
                n=$1 variant=$2
                shift 2
                {
                        c0=$(cpu_ticks "$COORD")
                        if ! "$CLI" start-execution --config "$IMGFLOW_CONFIG" --state-machine "dmap-$variant" \
                                --name "r$r-$variant-$n" --input "{\"prefix\": \"n$n/\", \"key\": \"lists/n$n.jsonl\", \"manifest\": \"lists/inv$n/manifest.json\"}" --wait --timeout 1200 \
                                >"$BENCH_TMP/d.json" 2>"$BENCH_TMP/d.err"; then
                                echo "run $variant $n failed: $(tail -2 "$BENCH_TMP/d.err") $(head -c 400 "$BENCH_TMP/d.json")"
                                exit 1
                        fi
                        c1=$(cpu_ticks "$COORD")
                        python3 - "$BENCH_TMP/d.json" "$r" "$variant" "$n" "$((c1 - c0))" "$HZ" \
                                >>"$BENCH_TMP/runs.jsonl" <<'PY'
import json, sys
from datetime import datetime
def ts(v):
    return v / 1000.0 if isinstance(v, (int, float)) else datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
d = json.load(open(sys.argv[1]))
r, variant, n, ticks, hz = int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
wall = ts(d["stopDate"]) - ts(d["startDate"])
cpu = ticks / hz
print(json.dumps({"round": r, "variant": variant, "items": n, "wallSec": wall, "coordinatorCpuSec": cpu,
                  "wallUsPerItem": wall * 1e6 / n, "cpuUsPerItem": cpu * 1e6 / n, "itemsPerSec": n / wall}))
PY
                        tail -1 "$BENCH_TMP/runs.jsonl"
                }
        done
done
RSS=$(awk '/VmHWM/ {print $2 * 1024}' "/proc/$COORD/status")
REDIS_PEAK=$(redis-cli -p "$REDIS_PORT" info memory | tr -d '\r' | sed -n 's/^used_memory_peak://p')
RESULT=$(python3 - "$BENCH_TMP/runs.jsonl" "$RSS" "$REDIS_PEAK" "$(machine_json)" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
out = {"benchmark": "distributed-map", "machine": json.loads(sys.argv[4]),
       "coordinatorPeakRssBytes": int(sys.argv[2]), "redisUsedMemoryPeakBytes": int(sys.argv[3]),
       "variants": {}, "runs": runs}
for v in sorted({r["variant"] for r in runs}):
    sizes = sorted({r["items"] for r in runs if r["variant"] == v})
    rows = []
    for n in sizes:
        rs = [r for r in runs if r["variant"] == v and r["items"] == n]
        rows.append({"items": n,
                     "wallUsPerItem": statistics.median(r["wallUsPerItem"] for r in rs),
                     "cpuUsPerItem": statistics.median(r["cpuUsPerItem"] for r in rs),
                     "itemsPerSec": statistics.median(r["itemsPerSec"] for r in rs)})
    for row in rows:
        row["wallRatioToSmallest"] = round(row["wallUsPerItem"] / rows[0]["wallUsPerItem"], 2)
        row["cpuRatioToSmallest"] = round(row["cpuUsPerItem"] / rows[0]["cpuUsPerItem"], 2)
    out["variants"][v] = rows
print(json.dumps(out))
PY
)
write_result "${BENCH_DMAP_RESULT:-distributed-map}" "$RESULT"
