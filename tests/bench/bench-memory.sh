#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Peak memory of one worker process (VmHWM in /proc/<pid>/status) while it
# thumbnails a 100-megapixel JPEG (10000 x 10000, made by make-photos),
# through the local stack (1 coordinator, 1 worker with 1 image thread).
# Then the same worker validates the image (a full decode) and the peak is
# read again.
#
#   tests/bench/bench-memory.sh
#
# Target: <= 200 MB for the thumbnail. Exit status: non-zero only if an
# execution failed.
set -u
. "$(dirname "$0")/bench-lib.sh"

MACHINE=$(machine_json)
B=$BENCH_TMP/photos
mkdir -p "$B/big"
echo "== memory: one worker, a 10000x10000 JPEG"
"$IMGFLOW_BUILD/tests/bench/make-photos" "$B/big" 1 10000 10000 >/dev/null || exit 1
BYTES=$(stat -c %s "$B/big/photo-0000.jpg")
echo "input: $((BYTES / 1024 / 1024)) MiB JPEG, 100 megapixels"

cat >"$BENCH_TMP/thumb.asl.json" <<'EOF'
{"StartAt": "Thumbnail", "States": {"Thumbnail": {"Type": "Task", "Resource": "imgflow:image.thumbnail",
  "Parameters": {"bucket.$": "$.bucket", "key.$": "$.key", "width": 200, "height": 200}, "End": true}}}
EOF
cat >"$BENCH_TMP/validate.asl.json" <<'EOF'
{"StartAt": "Validate", "States": {"Validate": {"Type": "Task", "Resource": "imgflow:image.validate",
  "Parameters": {"bucket.$": "$.bucket", "key.$": "$.key", "failOnInvalid": true}, "End": true}}}
EOF

stack_start "$BENCH_TMP/stack" STACK_WORKERS=1 STACK_WORKER_THREADS=1 STACK_BUCKETS="photos=$B" STACK_RESOURCES=
stack_register "$BENCH_TMP/stack" thumb "$BENCH_TMP/thumb.asl.json"
stack_register "$BENCH_TMP/stack" validate "$BENCH_TMP/validate.asl.json"
WPID=$(cut -d' ' -f1 "$BENCH_TMP/stack/pids/worker-1.pid")
hwm() { awk '/^VmHWM:/ {print $2}' "/proc/$WPID/status"; } # KiB
FAILED=0

IDLE=$(hwm)
publish_jobs thumb t 0 1 '{"bucket": "photos", "key": "big/photo-0000.jpg"}' "$BENCH_TMP/t.ids"
BENCH_QUIET=1 wait_execs "$BENCH_TMP/t.ids" "$BENCH_TMP/t.json" 300 || FAILED=1
[ "$(count_status "$BENCH_TMP/t.json" SUCCEEDED)" = 1 ] || { echo "thumbnail failed: $(cat "$BENCH_TMP/t.json")"; FAILED=1; }
THUMB=$(hwm)
THUMB_MS=$(python3 -c 'import json,sys; m=json.loads(open(sys.argv[1]).readline()); print(m["stopDate"]-m["startDate"])' "$BENCH_TMP/t.json")
echo "worker peak RSS: idle $((IDLE / 1024)) MiB, after the thumbnail $((THUMB / 1024)) MiB (execution $THUMB_MS ms)"

publish_jobs validate v 0 1 '{"bucket": "photos", "key": "big/photo-0000.jpg"}' "$BENCH_TMP/v.ids"
BENCH_QUIET=1 wait_execs "$BENCH_TMP/v.ids" "$BENCH_TMP/v.json" 300 || FAILED=1
[ "$(count_status "$BENCH_TMP/v.json" SUCCEEDED)" = 1 ] || { echo "validate failed: $(cat "$BENCH_TMP/v.json")"; FAILED=1; }
VALID=$(hwm)
echo "worker peak RSS after a full decode (image.validate): $((VALID / 1024)) MiB"
stack_stop "$BENCH_TMP/stack"

write_result memory "$(python3 - <<PY
import json
print(json.dumps({"benchmark": "memory", "date": "$(date -u +%FT%TZ)", "machine": json.loads('$MACHINE'),
    "image": "10000x10000 JPEG", "inputBytes": $BYTES, "workerThreads": 1,
    "idlePeakMiB": round($IDLE / 1024, 1), "thumbnailPeakMiB": round($THUMB / 1024, 1),
    "thumbnailMs": $THUMB_MS, "validatePeakMiB": round($VALID / 1024, 1),
    "targetMiB": 200, "failed": $FAILED}))
PY
)" >/dev/null
echo "peak RSS thumbnailing 100 MP: $((THUMB / 1024)) MiB (target <= 200 MB)"
exit $FAILED
