#!/bin/bash
# SPDX-License-Identifier: MIT
# imgflow-api's web console (docs/console.md) on a stack of its own:
# redis-server and Kafka (tests/helpers/stack.sh), imgflow-coordinator, an
# imgflow-worker with a photos bucket, imgflow-api with two access keys:
#
#   admin    every states:* action, and s3:GetObject in the photos bucket
#            (the console's thumbnails)
#   viewer   List*, Describe* and GetExecutionHistory only
#
# Two executions of the image pipeline: one of a photo that is there
# (succeeds) and one of a key that is not (ValidateImage fails, the Catch
# goes to NotifyFailure and the Fail state); and one of a machine that waits
# 4 s, opened while it runs. tests/integration/console-check.py then checks
# the protocol (login, the cookie's attributes, CSRF, policies through
# /console/api, the graph) and, in headless Chromium driven over the
# DevTools protocol, the page: the failed state is marked failed in the
# graph, clicking it shows its error, a thumbnail of the photo loads (scaled,
# never the original), the execution list counts by status,
# and the running execution's page updates by itself when it ends.
# Screenshots go to $CONSOLE_SHOTS (default: the test's directory).
#
#   test-console.sh COORD WORKER API IMGFLOW MAKE_PHOTOS SRC
set -u
COORD=$1 WORKER=$2 API=$3 IMGFLOW=$4 MAKE_PHOTOS=$5 SRC=$6

# shellcheck source=../helpers/stack.sh
. "$SRC/tests/helpers/stack.sh"
stack_init console

start_infra --partitions 2
APORT=$(free_port)
mkdir -p "$TMP/photos/raw"
"$MAKE_PHOTOS" "$TMP/photos/raw" 1 640 480 >/dev/null || { echo "make-photos failed"; exit 1; }

secret() { head -c 30 /dev/urandom | base64 | tr -d '/+=' | cut -c1-40; }
export ADMIN_KEY=AKIAIMGFLOWCONSOLE01 ADMIN_SECRET=$(secret)
export VIEWER_KEY=AKIAIMGFLOWVIEWER001 VIEWER_SECRET=$(secret)
cat >"$TMP/api-keys.json" <<EOF
{"keys": [
 {"accessKeyId": "$ADMIN_KEY", "secretAccessKey": "$ADMIN_SECRET", "user": "admin",
  "policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "states:*", "Resource": "*"},
   {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"}]}},
 {"accessKeyId": "$VIEWER_KEY", "secretAccessKey": "$VIEWER_SECRET", "user": "viewer",
  "policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
   "Action": ["states:List*", "states:Describe*", "states:GetExecutionHistory"], "Resource": "*"}]}}
]}
EOF
chmod 600 "$TMP/api-keys.json"

stack_conf <<EOF
[api]
listen = 127.0.0.1:$APORT
keys = $TMP/api-keys.json
[worker]
threads = 2
[buckets]
photos = $TMP/photos
$(grep -v '^photos-raw-jpeg' "$SRC/examples/image-pipeline/stack.conf")
EOF

start_coordinator
env IMGFLOW_LOG_TARGET=console "$WORKER" --config "$CONF" >>"$TMP/worker.log" 2>&1 &
PIDS+=($!)
env IMGFLOW_LOG_TARGET=console "$API" --config "$CONF" >>"$TMP/api.log" 2>&1 &
PIDS+=($!)
wait_for 60 grep -qs "Coordinator ready" "$TMP/coordinator.log" || stack_die imgflow-coordinator "$TMP/coordinator.log"
wait_for 60 grep -qs "Kafka answered" "$TMP/worker.log" || stack_die imgflow-worker "$TMP/worker.log"
wait_for 60 grep -qs "imgflow-api ready" "$TMP/api.log" || stack_die imgflow-api "$TMP/api.log"

cli() { "$IMGFLOW" "$@" --config "$CONF"; }
cli create-state-machine --name image-pipeline \
        --definition "file://$SRC/examples/image-pipeline/image-pipeline.asl.json" >/dev/null ||
        { echo "create-state-machine failed"; exit 1; }
cat >"$TMP/wait.asl.json" <<'EOF'
{"StartAt": "Prepare", "States": {
  "Prepare": {"Type": "Pass", "Next": "Pause"},
  "Pause": {"Type": "Wait", "Seconds": 4, "Next": "Done"},
  "Done": {"Type": "Succeed"}}}
EOF
cli create-state-machine --name pause --definition "file://$TMP/wait.asl.json" >/dev/null ||
        { echo "create-state-machine pause failed"; exit 1; }
# A distributed Map of 5 items whose items 1 and 3 fail, within its
# tolerance: the console's Map Runs view shows it with its failed items.
cat >"$TMP/maprun.asl.json" <<'EOF'
{"StartAt": "Thumbs", "States": {"Thumbs": {"Type": "Map", "Label": "thumbs", "ItemsPath": "$.items",
  "MaxConcurrency": 2, "ToleratedFailureCount": 3, "ResultPath": null, "End": true,
  "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
    "StartAt": "Which", "States": {
      "Which": {"Type": "Choice", "Choices": [{"Variable": "$.bad", "BooleanEquals": true, "Next": "Bad"}],
                "Default": "Good"},
      "Bad": {"Type": "Task", "Resource": "imgflow:test.fail",
              "Parameters": {"error": "Image.Invalid", "cause.$": "States.Format('not a JPEG: {}', $.key)"}, "End": true},
      "Good": {"Type": "Task", "Resource": "imgflow:test.echo", "End": true}}}}}}
EOF
cli create-state-machine --name maprun --definition "file://$TMP/maprun.asl.json" >/dev/null ||
        { echo "create-state-machine maprun failed"; exit 1; }
cli start-execution --state-machine-arn maprun --name thumbs --wait --input \
        '{"items": [{"key": "a.jpg", "bad": false}, {"key": "b.jpg", "bad": true}, {"key": "c.jpg", "bad": false}, {"key": "d.jpg", "bad": true}, {"key": "e.jpg", "bad": false}]}' \
        >"$TMP/maprun.out" || { echo "the Map Run's execution did not succeed:"; cat "$TMP/maprun.out"; exit 1; }
PHOTO=$(cd "$TMP/photos" && ls raw/*.jpg | head -1)
cli start-execution --state-machine-arn image-pipeline --name good \
        --input "{\"bucket\":\"photos\",\"key\":\"$PHOTO\"}" --wait >/dev/null ||
        { echo "the good execution did not succeed"; exit 1; }
cli start-execution --state-machine-arn image-pipeline --name missing \
        --input '{"bucket":"photos","key":"raw/not-there.jpg"}' --wait >/dev/null
cli describe-execution --execution-arn image-pipeline:missing | grep -q '"status": "FAILED"' ||
        { echo "the missing photo's execution did not fail"; exit 1; }

export CONSOLE_PHOTO=$PHOTO CONSOLE_URL=http://127.0.0.1:$APORT CONSOLE_SHOTS=${CONSOLE_SHOTS:-$TMP} CONSOLE_TMP=$TMP
export CONSOLE_START="$IMGFLOW start-execution --config $CONF --state-machine-arn pause --name running"
# Debian's python3 (its python3-websocket), not another python3 first in PATH
/usr/bin/python3 "$SRC/tests/integration/console-check.py"
rc=$?
if [ $rc -eq 0 ] && grep -q "$ADMIN_SECRET\|$VIEWER_SECRET" "$TMP/api.log"; then
        echo "FAIL: a secret is in the API's log"; rc=1
fi
[ $rc -ne 0 ] && [ $rc -ne 77 ] && tail -20 "$TMP/api.log"
exit $rc
