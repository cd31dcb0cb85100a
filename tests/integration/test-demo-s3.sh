#!/bin/bash
# SPDX-License-Identifier: MIT
# deploy/demo.sh with STACK_STORAGE=s3: the "photos" bucket is an S3 bucket
# of versitygw on loopback (SigV4 verified); the demo uploads 2 photos and a
# corrupt JPEG with PutObject, and the server's own notifications, through
# the [triggers] rule of examples/image-pipeline/stack.conf, start one
# execution per upload (no job is published by hand). The photos SUCCEED
# with their outputs written to the S3 bucket (the demo checks each output
# object in the server's store), the corrupt one FAILS with Image.Invalid,
# and the demo stops its stack. Skipped without versitygw or Apache Kafka.
# Bounded: the demo's own timeout (120 s) plus the stack's start and stop.
#
#   test-demo-s3.sh SOURCE_ROOT BUILD_DIR
set -u
SRC=$1
BUILD=$(cd "$2" && pwd)
for p in redis-server kcat python3 curl; do
        command -v $p >/dev/null || { echo "SKIP: $p missing"; exit 77; }
done
. "$SRC/tests/helpers/stack.sh"
. "$SRC/deploy/s3/s3-env.sh"
why=$(kafka_missing)
[ -z "$why" ] || { echo "SKIP: $why (deploy/setup-debian.sh)"; exit 77; }
versitygw_ok || { echo "SKIP: versitygw not built (deploy/setup-debian.sh, with Go 1.21+)"; exit 77; }

T=$(mktemp -d /tmp/imgflow-test-demo-s3.XXXXXX)
export IMGFLOW_BUILD=$BUILD IMGFLOW_STACK_DIR=$T/stack
cleanup() {
        "$SRC/deploy/local-stack.sh" stop >/dev/null 2>&1
        [ -n "${KEEP_TMP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

if STACK_STORAGE=s3 DEMO_NO_BUILD=1 DEMO_IMAGES=2 DEMO_SIZE=1200x900 DEMO_TIMEOUT=120 \
        "$SRC/deploy/demo.sh" >"$T/demo.log" 2>&1; then
        ok "STACK_STORAGE=s3 demo.sh exits 0"
else
        fail "STACK_STORAGE=s3 demo.sh"
        tail -30 "$T/demo.log"
fi
grep -q "3 objects under s3://photos/raw/" "$T/demo.log" && ok "3 PutObjects to the S3 bucket" ||
        fail "the demo did not upload to the S3 bucket"
grep -q "3 executions started by 3 uploads" "$T/demo.log" && ok "each upload started one execution" ||
        fail "executions started by the uploads: $(grep 'executions started' "$T/demo.log")"
grep -q "3 executions, 3 as expected" "$T/demo.log" && ok "demo summary (outputs in the S3 bucket)" ||
        fail "demo summary missing"
# The outputs are objects of the server's bucket, under processed/.
n=$(find "$IMGFLOW_STACK_DIR/s3/buckets/photos/processed" -name '*.webp' 2>/dev/null | wc -l)
[ "$n" = 2 ] && ok "2 optimized outputs in s3://photos/processed/" || fail "$n optimized outputs in the S3 bucket"
[ -z "$(ls "$IMGFLOW_STACK_DIR/pids" 2>/dev/null)" ] && ok "demo stopped its stack" || fail "demo left pid files"

echo "$((FAILS == 0 ? 1 : 0)) passed, $((FAILS > 0 ? 1 : 0)) failed"
[ $FAILS = 0 ]
