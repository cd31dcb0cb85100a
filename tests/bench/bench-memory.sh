#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Peak memory of one worker process (VmHWM in /proc/<pid>/status) for every
# operation of the seed pipeline (validate, resize 800x600, filter grayscale
# + 3x3 sharpen, optimize JPEG q80 progressive) and image.thumbnail, each on
# a 100-megapixel JPEG (10000 x 10000, made by make-photos), through the
# local stack (1 coordinator, 1 worker with 1 image thread). The worker's
# peak is reset before each operation (`echo 5 > /proc/<pid>/clear_refs`,
# Linux >= 4.0), so each figure is that operation's own peak (from the
# process's size at the reset: memory that malloc kept from an earlier
# operation counts). validate-strict (a full-size decode, what validate did
# for every image before JPEGs were checked at 1/8 scale) is there for its
# CPU seconds against validate's.
#
#   tests/bench/bench-memory.sh
#
# Target: <= 200 MiB for every operation. Exit status: non-zero only if an
# execution failed.
set -u
. "$(dirname "$0")/bench-lib.sh"

MACHINE=$(machine_json)
TARGET_MIB=200
B=$BENCH_TMP/photos
mkdir -p "$B/big"
echo "== memory: one worker, a 10000x10000 JPEG, every operation of the seed pipeline"
"$IMGFLOW_BUILD/tests/bench/make-photos" "$B/big" 1 10000 10000 >/dev/null || exit 1
BYTES=$(stat -c %s "$B/big/photo-0000.jpg")
echo "input: $((BYTES / 1024 / 1024)) MiB JPEG, 100 megapixels"

# name resource parameters (the seed pipeline's, tests/bench/seed-pipeline.asl.json)
CASES=(
        'validate|image.validate|{"bucket.$": "$.bucket", "key.$": "$.key"}'
        'validate-strict|image.validate|{"bucket.$": "$.bucket", "key.$": "$.key", "strict": true}'
        'resize|image.resize|{"bucket.$": "$.bucket", "key.$": "$.key", "width": 800, "height": 600, "format": "jpeg", "quality": 80}'
        'filter|image.filter|{"bucket.$": "$.bucket", "key.$": "$.key", "filters": ["grayscale", {"type": "sharpen", "kernel": true}], "format": "jpeg", "quality": 80}'
        'optimize|image.optimize|{"bucket.$": "$.bucket", "key.$": "$.key", "format": "jpeg", "quality": 80, "keepMetadata": false}'
        'thumbnail|image.thumbnail|{"bucket.$": "$.bucket", "key.$": "$.key", "width": 200, "height": 200}'
)

stack_start "$BENCH_TMP/stack" STACK_WORKERS=1 STACK_WORKER_THREADS=1 STACK_BUCKETS="photos=$B" STACK_RESOURCES=
for c in "${CASES[@]}"; do
        IFS='|' read -r name res params <<<"$c"
        cat >"$BENCH_TMP/$name.asl.json" <<EOF
{"StartAt": "Op", "States": {"Op": {"Type": "Task", "Resource": "imgflow:$res", "Parameters": $params, "End": true}}}
EOF
        stack_register "$BENCH_TMP/stack" "$name" "$BENCH_TMP/$name.asl.json"
done
WPID=$(cut -d' ' -f1 "$BENCH_TMP/stack/pids/worker-1.pid")
hwm() { awk '/^VmHWM:/ {print $2}' "/proc/$WPID/status"; } # KiB
cpu() { python3 -c 'import os,sys; f=open("/proc/%s/stat" % sys.argv[1]).read().rsplit(")",1)[1].split(); print((int(f[11])+int(f[12]))/os.sysconf("SC_CLK_TCK"))' "$WPID"; }
FAILED=0
IDLE=$(hwm)
echo "worker peak RSS idle: $((IDLE / 1024)) MiB"
OPS_JSON=
for c in "${CASES[@]}"; do
        IFS='|' read -r name res params <<<"$c"
        echo 5 >"/proc/$WPID/clear_refs" || { echo "cannot reset the peak of $WPID"; exit 1; }
        base=$(hwm)
        c0=$(cpu)
        publish_jobs "$name" "m-$name" 0 1 '{"bucket": "photos", "key": "big/photo-0000.jpg"}' "$BENCH_TMP/$name.ids"
        BENCH_QUIET=1 wait_execs "$BENCH_TMP/$name.ids" "$BENCH_TMP/$name.json" 300 || FAILED=1
        peak=$(hwm)
        c1=$(cpu)
        status=$(python3 -c 'import json,sys; m=json.loads(open(sys.argv[1]).readline()); print("%s|%s|%d" % (m["status"], m.get("error") or "", m["stopDate"] - m["startDate"]))' "$BENCH_TMP/$name.json")
        IFS='|' read -r st err ms <<<"$status"
        [ "$st" = SUCCEEDED ] || { echo "$name: $st $err"; FAILED=1; }
        cpus=$(python3 -c "print(round($c1 - $c0, 2))")
        echo "$name ($res): peak RSS $((peak / 1024)) MiB (from $((base / 1024)) MiB at the reset), $ms ms, $cpus CPU-s, $st"
        OPS_JSON="$OPS_JSON${OPS_JSON:+,}{\"name\": \"$name\", \"operation\": \"$res\", \"peakMiB\": $(python3 -c "print(round($peak / 1024, 1))"), \"resetMiB\": $(python3 -c "print(round($base / 1024, 1))"), \"ms\": $ms, \"cpuSeconds\": $cpus, \"status\": \"$st\", \"error\": \"$err\"}"
done
stack_stop "$BENCH_TMP/stack"

write_result memory "$(python3 - <<PY
import json
ops = json.loads('''[$OPS_JSON]''')
by = {o["name"]: o for o in ops}
print(json.dumps({"benchmark": "memory", "date": "$(date -u +%FT%TZ)", "machine": json.loads('$MACHINE'),
    "image": "10000x10000 JPEG", "inputBytes": $BYTES, "workerThreads": 1,
    "idlePeakMiB": round($IDLE / 1024, 1), "operations": ops,
    "thumbnailPeakMiB": by["thumbnail"]["peakMiB"], "thumbnailMs": by["thumbnail"]["ms"],
    "validatePeakMiB": by["validate"]["peakMiB"], "maxPeakMiB": max(o["peakMiB"] for o in ops),
    "targetMiB": $TARGET_MIB, "failed": $FAILED}))
PY
)" >/dev/null
echo "largest peak RSS of one operation on 100 MP: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["maxPeakMiB"])' "$BENCH_RESULTS/memory.json") MiB (target <= $TARGET_MIB MiB)"
exit $FAILED
