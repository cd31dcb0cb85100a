#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The demo: build imgflow, make a folder of sample photos (and one corrupt
# image), start the local stack (redis-server, Apache Kafka, a coordinator, two
# workers, imgflow-watch, and imgflow-api, the Step Functions API, with an
# access key made for the stack), register the Step Functions guide's image pipeline
# (examples/image-pipeline, its Lambda functions mapped to built-in operations
# by examples/image-pipeline/stack.conf), copy the images into the "photos"
# bucket under raw/ (the upload is what starts one execution per image: the
# bucket's S3 event notifications and the [triggers] rule of stack.conf),
# follow them, print where the results are and a summary, print the `aws
# stepfunctions list-executions` command that lists them through the API
# (and run it when Debian's awscli is there), and stop the stack.
#
#   deploy/demo.sh
#
# Settings (environment): IMGFLOW_BUILD (build directory, default ./build),
# IMGFLOW_STACK_DIR (default ./.stack), DEMO_IMAGES (number of photos,
# default 8), DEMO_SIZE (WxH, default 2048x1536), DEMO_NO_BUILD=1 (use the
# build as it is), DEMO_TIMEOUT (seconds, default 300), DEMO_KEEP=1 (leave
# the stack running at the end, to look at the executions with the CLI),
# STACK_STORAGE=s3 (the "photos" bucket is an S3 bucket of a local
# S3-compatible server, see deploy/local-stack.sh, which publishes the
# notifications itself; without it, imgflow-watch publishes them for the
# directory bucket).
# Exit status: 0 when every execution finished as expected (the photos
# SUCCEEDED, the corrupt image FAILED with Image.Invalid), 1 otherwise.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
ROOT=$(pwd)
export IMGFLOW_BUILD=${IMGFLOW_BUILD:-build}
case "$IMGFLOW_BUILD" in /*) ;; *) IMGFLOW_BUILD=$ROOT/$IMGFLOW_BUILD ;; esac
export IMGFLOW_STACK_DIR=${IMGFLOW_STACK_DIR:-$ROOT/.stack}
COUNT=${DEMO_IMAGES:-8}
SIZE=${DEMO_SIZE:-2048x1536}
TIMEOUT=${DEMO_TIMEOUT:-300}
STACK=$ROOT/deploy/local-stack.sh
SM=image-pipeline

step() { printf '\n== %s\n' "$*"; }

# ---- build
if [ -z "${DEMO_NO_BUILD:-}" ]; then
        step "Building in $IMGFLOW_BUILD"
        if [ ! -f "$IMGFLOW_BUILD/build.ninja" ]; then
                meson setup "$IMGFLOW_BUILD" >"$IMGFLOW_BUILD.setup.log" 2>&1 ||
                        { cat "$IMGFLOW_BUILD.setup.log"; exit 1; }
        fi
        ninja -C "$IMGFLOW_BUILD" >"$IMGFLOW_BUILD.build.log" 2>&1 ||
                { tail -30 "$IMGFLOW_BUILD.build.log"; echo "build failed"; exit 1; }
        echo "built (log: $IMGFLOW_BUILD.build.log)"
fi
for p in kcat redis-server python3; do
        command -v $p >/dev/null || { echo "$p is missing: run deploy/setup-debian.sh"; exit 1; }
done

# ---- sample images, made in a folder of their own, uploaded to the stack's
# "photos" bucket once it runs
STORAGE=${STACK_STORAGE:-dir}
PHOTOS=$IMGFLOW_STACK_DIR/demo-photos
if [ "$STORAGE" = s3 ]; then
        BUCKET=$IMGFLOW_STACK_DIR/s3/buckets/photos
else
        BUCKET=$IMGFLOW_STACK_DIR/buckets/photos
        export STACK_WATCH=1
fi
step "Making $COUNT sample photos ($SIZE) and one corrupt image in $PHOTOS/raw"
if "$STACK" status >/dev/null 2>&1; then
        echo "a stack is already running in $IMGFLOW_STACK_DIR: stop it first ($STACK stop)"
        exit 1
fi
rm -rf "$BUCKET" "$PHOTOS"
mkdir -p "$PHOTOS/raw"
"$IMGFLOW_BUILD/tests/bench/make-photos" "$PHOTOS/raw" "$COUNT" "${SIZE%x*}" "${SIZE#*x}" >/dev/null ||
        { echo "make-photos failed"; exit 1; }
# A JPEG cut off after 20 KB: the header is fine, the pixel data is not.
first=$(ls "$PHOTOS/raw" | head -1)
head -c 20000 "$PHOTOS/raw/$first" >"$PHOTOS/raw/corrupt.jpg"
ls -l "$PHOTOS/raw" | tail -n +2 | awk '{printf "  %-20s %8d bytes\n", $9, $5}'

# ---- the stack
step "Starting the local stack in $IMGFLOW_STACK_DIR"
STACK_FRESH=1 STACK_API=1 "$STACK" start || exit 1
trap '"$STACK" stop' EXIT
trap 'echo; echo "interrupted"; exit 130' INT TERM
# shellcheck disable=SC1091
. "$IMGFLOW_STACK_DIR/stack.env"
"$STACK" status | sed 's/^/  /'
CLI=$IMGFLOW_BUILD/cli/imgflow

step "Registering $SM (examples/image-pipeline/image-pipeline.asl.json)"
"$STACK" register "$SM" "$ROOT/examples/image-pipeline/image-pipeline.asl.json" || exit 1
echo "  Lambda functions mapped to operations, and the rule that starts it"
echo "  (examples/image-pipeline/stack.conf):"
sed -n '/^\[resources\]/,$p' "$ROOT/examples/image-pipeline/stack.conf" | grep -v '^#' | grep -v '^$' |
        grep -v '^\[resources\]' | sed 's/^/    /'

# ---- one execution per image, started by its upload
n_photos=$(ls "$PHOTOS"/raw/*.jpg | wc -l)
if [ "$STORAGE" = s3 ]; then
        step "Uploading the images to the S3 bucket 'photos' ($S3_ENDPOINT, PutObject signed with SigV4)"
        # shellcheck source=s3/s3-env.sh
        . "$ROOT/deploy/s3/s3-env.sh"
        for f in "$PHOTOS"/raw/*.jpg; do
                s3_put "$f" photos "raw/$(basename "$f")" || { echo "upload of $f failed"; exit 1; }
        done
        echo "  $n_photos objects under s3://photos/raw/; the server publishes an ObjectCreated:Put"
        echo "  notification of each to imgflow.s3-events"
else
        step "Copying the images into the bucket 'photos' ($BUCKET/raw)"
        mkdir -p "$BUCKET/raw"
        cp "$PHOTOS"/raw/*.jpg "$BUCKET/raw/" || exit 1
        echo "  $n_photos files under $BUCKET/raw; imgflow-watch publishes an ObjectCreated:Put"
        echo "  notification of each to imgflow.s3-events"
fi

step "Executions started by the uploads (the rule photos-raw-jpeg, named from bucket, key and eTag)"
IDS=$IMGFLOW_STACK_DIR/demo-ids.txt
end=$(($(date +%s) + TIMEOUT))
while :; do
        "$CLI" list-executions --config "$IMGFLOW_CONFIG" --state-machine "$SM" --max-results 1000 2>/dev/null |
                python3 -c 'import json, sys; [print(sys.argv[1] + ":" + e["name"]) for e in json.load(sys.stdin)["executions"]]' \
                        "$SM" 2>/dev/null | sort >"$IDS"
        [ "$(wc -l <"$IDS")" -ge "$n_photos" ] && break
        [ "$(date +%s)" -lt "$end" ] || { echo "  only $(wc -l <"$IDS") of $n_photos executions started"; break; }
        sleep 0.5
done
sed 's/^/  /' "$IDS"
echo "  $(wc -l <"$IDS") executions started by $n_photos uploads"

step "Progress (ExecutionStatusChanged on imgflow.notifications)"
RESULTS=$IMGFLOW_STACK_DIR/demo-results.json
python3 "$ROOT/deploy/watch-executions.py" --bootstrap "$BOOTSTRAP" --ids "$IDS" \
        --timeout "$TIMEOUT" --json "$RESULTS"
watch_rc=$?

# ---- results
step "Results"
if [ "$STORAGE" = s3 ]; then
        echo "  bucket 'photos' = s3://photos at $S3_ENDPOINT (the server keeps its objects in $BUCKET)"
else
        echo "  bucket 'photos' = $BUCKET"
fi
echo "  outputs under   $BUCKET/processed/<execution>/<state>/..."
echo
python3 - "$RESULTS" "$IDS" "$BUCKET" "$n_photos" <<'PY'
import json, os, sys
res = {}
for line in open(sys.argv[1]):
    m = json.loads(line)
    res[m["executionId"]] = m
ids = [l.strip() for l in open(sys.argv[2]) if l.strip()]
bucket = sys.argv[3]
bad = abs(int(sys.argv[4]) - len(ids))  # an upload that started none, or two
print("  %-36s %-10s %6s  %s" % ("execution", "status", "ms", "error / output files"))
print("  %-36s %-10s %6s  %s" % ("-" * 36, "-" * 10, "-" * 6, "-" * 40))
for eid in ids:
    name = eid.split(":", 1)[1]
    corrupt = name.startswith("corrupt.jpg-")
    m = res.get(eid)
    if not m:
        print("  %-36s %-10s %6s  %s" % (name, "UNFINISHED", "", ""))
        bad += 1
        continue
    ms = m["stopDate"] - m["startDate"] if m.get("stopDate") else 0
    if m["status"] == "SUCCEEDED":
        o = m.get("output") or {}
        keys = [p.get("resized") or p.get("filtered") for p in o.get("processed", [])]
        keys.append((o.get("optimized") or {}).get("key"))
        keys = [k for k in keys if k]
        missing = [k for k in keys if not os.path.isfile(os.path.join(bucket, k))]
        detail = "  ".join(k.split("/")[2] + ": " + os.path.basename(k) for k in keys)
        if missing:
            detail += "  (missing: %s)" % ", ".join(missing)
            bad += 1
        if corrupt:
            bad += 1
    else:
        detail = "%s: %s" % (m.get("error", ""), (m.get("cause") or "")[:70])
        if not corrupt or m.get("error") != "Image.Invalid":
            bad += 1
    print("  %-36s %-10s %6d  %s" % (name, m["status"], ms, detail))
print()
print("  %d executions, %d as expected (the corrupt image is meant to fail with Image.Invalid)"
      % (len(ids), len(ids) - bad))
sys.exit(1 if bad else 0)
PY
table_rc=$?
echo
echo "  Full results: $RESULTS; logs: $IMGFLOW_STACK_DIR/logs/"

# ---- the same executions through the Step Functions API
step "The executions through the Step Functions API ($API_ENDPOINT, imgflow-api)"
AWS_CMD="AWS_ACCESS_KEY_ID=$API_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$API_SECRET_ACCESS_KEY \\
    aws stepfunctions list-executions --endpoint-url $API_ENDPOINT --region $API_REGION \\
    --state-machine-arn arn:aws:states:$API_REGION:$API_ACCOUNT:stateMachine:$SM"
echo "  $AWS_CMD"
api_rc=0
if [ -x /usr/bin/aws ]; then
        echo
        # The same command, shown as a table of names and statuses.
        AWS_ACCESS_KEY_ID=$API_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$API_SECRET_ACCESS_KEY \
                AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER= \
                timeout 120 /usr/bin/aws stepfunctions list-executions --endpoint-url "$API_ENDPOINT" \
                --region "$API_REGION" --state-machine-arn "arn:aws:states:$API_REGION:$API_ACCOUNT:stateMachine:$SM" \
                --query 'executions[].[name,status]' --output table >"$IMGFLOW_STACK_DIR/demo-aws.txt" 2>&1
        api_rc=$?
        sed 's/^/  /' "$IMGFLOW_STACK_DIR/demo-aws.txt"
        [ $api_rc = 0 ] || echo "  aws stepfunctions list-executions failed (exit $api_rc)"
else
        echo "  (Debian's awscli is not installed: deploy/setup-debian.sh installs it)"
fi
if [ -n "${DEMO_KEEP:-}" ]; then
        trap - EXIT
        step "The stack keeps running (DEMO_KEEP); look around with the CLI:"
        echo "  $CLI list-executions --config $IMGFLOW_CONFIG --state-machine $SM"
        echo "  $CLI describe-execution --config $IMGFLOW_CONFIG --execution-arn $(grep ':corrupt' "$IDS" | head -1)"
        echo "  $CLI get-execution-history --config $IMGFLOW_CONFIG --execution-arn $(grep -v ':corrupt' "$IDS" | head -1)"
        echo "  or with any AWS SDK or the aws command, as above ($API_ENDPOINT, key in $IMGFLOW_STACK_DIR/api-keys.json)"
        echo "  IMGFLOW_STACK_DIR=$IMGFLOW_STACK_DIR deploy/local-stack.sh stop"
else
        echo "  (DEMO_KEEP=1 deploy/demo.sh keeps the stack running to look at the executions"
        echo "   with $CLI describe-execution / get-execution-history)"
        step "Stopping the stack"
        # (the EXIT trap stops it)
fi
[ $watch_rc = 0 ] && [ $table_rc = 0 ] && [ $api_rc = 0 ]
