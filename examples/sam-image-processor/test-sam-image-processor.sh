#!/bin/bash
# SPDX-License-Identifier: MIT
# The SAM image processor (template.yaml, its definition and its two Python
# handlers, boto3 + Pillow) on a local stack with an S3-compatible store
# (versitygw on loopback): `imgflow import-sam` registers the state machine
# and writes the functions file and the [resources] lines; the coordinator,
# imgflow-lambda and imgflow-worker run it on sample photos uploaded with
# boto3. The same definition is registered a second time with its two
# functions mapped to the built-in image.validate and image.resize, and both
# run on the same photos: every photo SUCCEEDS in both with the same
# validation metadata and the same thumbnail size, the thumbnails (read back
# from the store) differ by less than 6/255 on average, and a corrupt JPEG
# FAILS with Image.Invalid in both. A second template's handler lists and
# describes state machines with boto3's Step Functions client, through
# imgflow-api (AWS_ENDPOINT_URL_SFN and the handlers' key).
#
# BENCH_ROUNDS=N (tests/bench/bench-sam.sh): N interleaved rounds over the
# photos, each pipeline's wall time per round printed as
# "bench <round> lambda|builtin <seconds>".
#
#   test-sam-image-processor.sh SOURCE_ROOT BUILD_ROOT
set -u
SRC=$1
BUILD=$2
MOCK=$BUILD/deploy/mock-kafka
COORD=$BUILD/coordinator/imgflow-coordinator
IMGFLOW=${TEST_IMGFLOW:-$BUILD/cli/imgflow} # TEST_IMGFLOW, TEST_LAMBDA: other builds of them (ASan)
EX=$SRC/examples/sam-image-processor
PY=/usr/bin/python3
. "$SRC/tests/helpers/stack.sh"
. "$SRC/deploy/s3/s3-env.sh"
[ -x "$PY" ] && "$PY" -c "import boto3, PIL" 2>/dev/null ||
        { echo "$PY with boto3 and Pillow (python3-boto3, python3-pil) missing: skipped"; exit 77; }
versitygw_ok || { echo "versitygw not built (deploy/setup-debian.sh, with Go 1.21+): skipped"; exit 77; }
stack_init sam
T=$TMP
PHOTOS=${SAM_PHOTOS:-4}
fail() { echo "FAIL: $*"; for l in coordinator lambda worker api; do echo "--- $l"; tail -n 30 "$T/$l.log" 2>/dev/null; done; exit 1; }

start_infra --partitions 2 --topics "imgflow.tasks.lambda:2"

S3_ACCESS_KEY_ID=AKIAIMGFLOWSAMTEST01
S3_SECRET_ACCESS_KEY=$(head -c 18 /dev/urandom | base64 | tr '+/' 'AB')
S3_PORT=$(free_port)
versitygw_start "$T/s3" "$S3_PORT" || fail "versitygw did not start"
PIDS+=("$VERSITYGW_PID")
mkdir -p "$T/s3/buckets/photos"
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$S3_SECRET_ACCESS_KEY AWS_DEFAULT_REGION=us-east-1
ENDPOINT=http://127.0.0.1:$S3_PORT

# Sample photos (a gradient and shapes, so that a resize shows) and a
# truncated JPEG, uploaded with PutObject.
"$PY" - "$ENDPOINT" "$PHOTOS" <<'PY' || fail "upload"
import io, sys
import boto3
from PIL import Image, ImageDraw
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
sizes = [(1600, 1200), (1200, 1600), (2000, 1125), (1024, 1024)]
for i in range(int(sys.argv[2])):
    w, h = sizes[i % len(sizes)]
    img = Image.new("RGB", (w, h))
    px = img.load()
    d = ImageDraw.Draw(img)
    img.paste(Image.linear_gradient("L").resize((w, h)).convert("RGB"))
    for k in range(12):
        d.ellipse([k * w // 14, k * h // 16, k * w // 14 + w // 5, k * h // 16 + h // 6],
                  fill=((40 * k + 30 * i) % 256, (90 + 17 * k) % 256, (200 - 13 * k) % 256))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90)
    s3.put_object(Bucket="photos", Key="raw/photo-%d.jpg" % i, Body=out.getvalue())
good = io.BytesIO()
Image.new("RGB", (800, 600), (200, 30, 30)).save(good, "JPEG", quality=90)
s3.put_object(Bucket="photos", Key="raw/corrupt.jpg", Body=good.getvalue()[: len(good.getvalue()) // 3])
PY

stack_conf <<EOF
[s3]
endpoint = $ENDPOINT
region = us-east-1
addressing = path
access_key_id = $S3_ACCESS_KEY_ID
secret_access_key = $S3_SECRET_ACCESS_KEY
[buckets]
photos = s3://photos
[lambda]
functions = $T/functions.json
runtime_dir = $SRC/worker/lambda
python = $PY
[worker]
threads = 4
EOF

# import-sam: the state machine, the functions file, the [resources] lines.
"$IMGFLOW" import-sam "$EX/template.yaml" --config "$CONF" --functions-file "$T/functions.json" \
        --resources-file "$T/resources.conf" --stack-name sam --concurrency 2 >"$T/import.out" 2>&1 ||
        { cat "$T/import.out"; fail "import-sam exit $?"; }
cat "$T/import.out"
grep -q "^state machine sam-image-processor: created (version 1) from ImageProcessorStateMachine" "$T/import.out" ||
        fail "import-sam did not create sam-image-processor"
grep -q "^function ValidateImage: imgflow-lambda (python3.12, app.lambda_handler, " "$T/import.out" ||
        fail "ValidateImage not for imgflow-lambda"
grep -q "Task ResizeImage: arn:aws:lambda:us-east-1:123456789012:function:ResizeImage -> pool:lambda" \
        "$T/import.out" || fail "the ResizeImage Task is not mapped"
grep -qx "ValidateImage = pool:lambda" "$T/resources.conf" && grep -qx "ResizeImage = pool:lambda" "$T/resources.conf" ||
        fail "resources file: $(cat "$T/resources.conf")"
"$PY" - "$T/functions.json" "$EX" <<'PY' || fail "functions file"
import json, os, sys
f = {x["name"]: x for x in json.load(open(sys.argv[1]))["functions"]}
v, r = f["ValidateImage"], f["ResizeImage"]
assert v["codeUri"] == os.path.realpath(sys.argv[2] + "/functions/validate"), v
assert (v["runtime"], v["handler"], v["memorySize"], v["timeout"]) == ("python3.12", "app.lambda_handler", 512, 30), v
assert r["memorySize"] == 1024 and v["concurrency"] == 2, r
assert v["environment"] == {"PHOTOS_BUCKET": "photos"}, v
assert r["environment"] == {"PHOTOS_BUCKET": "photos", "OUTPUT_PREFIX": "processed/sam"}, r
PY
echo "ok: import-sam"

# What import-sam cannot map is said, the rest still done: a function that
# [resources] maps to a built-in operation, code in S3, a Task calling a
# function of nowhere, a Ref without a value; JSON-style intrinsics
# (DefinitionString with Fn::Sub, Fn::Join / Fn::Select / Fn::Split).
mkdir -p "$T/problems"
cat >"$T/problems/template.yaml" <<'EOF'
Parameters:
  NoDefault: {Type: String}
Resources:
  Mapped:
    Type: AWS::Serverless::Function
    Properties: {FunctionName: ResizeBuiltin, Runtime: python3.12, Handler: app.h, CodeUri: .}
  Thumb:
    Type: AWS::Serverless::Function
    Properties: {FunctionName: Thumbnailer, Runtime: python3.12, Handler: app.h, CodeUri: s3://code/t.zip}
  M:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      StateMachineName: !Join ["-", [problems, !Select [1, !Split [",", "a,machine"]]]]
      DefinitionString: !Sub
        - '{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"${R}","End":true}}}'
        - R: !GetAtt Mapped.Arn
  N:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      DefinitionString: !Sub '{"StartAt":"B","States":{"B":{"Type":"Task","Resource":"arn:aws:lambda:${AWS::Region}:${AWS::AccountId}:function:Elsewhere","End":true}}}'
  Bad:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: !Ref NoDefault
      Definition: {StartAt: P, States: {P: {Type: Pass, End: true}}}
EOF
{ cat "$CONF"; printf '[resources]\nResizeBuiltin = image.resize\n'; } >"$T/problems.conf"
"$IMGFLOW" import-sam "$T/problems/template.yaml" --config "$T/problems.conf" \
        --functions-file "$T/problems/functions.json" >"$T/problems.out" 2>&1
rc=$?
cat "$T/problems.out"
[ $rc = 1 ] || fail "import-sam with problems: exit $rc, expected 1"
for want in "^function ResizeBuiltin: image.resize, as \[resources\] maps it$" \
        "^not mapped: function Thumb: CodeUri s3://code/t.zip is an S3 location; only local directories are supported$" \
        "^state machine problems-machine: created (version 1) from M$" \
        "^  Task A: arn:aws:lambda:us-east-1:123456789012:function:ResizeBuiltin -> image.resize$" \
        "^not mapped: state machine N: /States/B/Resource: .*arn:aws:lambda:us-east-1:123456789012:function:Elsewhere" \
        "^not mapped: state machine Bad: Ref NoDefault cannot be resolved" \
        "^3 thing(s) could not be imported or mapped (above).$"; do
        grep -q "$want" "$T/problems.out" || fail "import-sam output lacks: $want"
done
[ ! -e "$T/problems/functions.json" ] || fail "a functions file without functions for imgflow-lambda"
echo "ok: import-sam says what it could not map"

# A handler's Step Functions calls reach imgflow-api (AWS_ENDPOINT_URL_SFN,
# signed with the handlers' key, which the API's keys file knows): a second
# template, imported into the same functions file (the first one's
# functions are kept).
mkdir -p "$T/sfn"
cat >"$T/sfn/template.yaml" <<SFN
Transform: AWS::Serverless-2016-10-31
Resources:
  Probe:
    Type: AWS::Serverless::Function
    Properties: {FunctionName: SfnProbe, Runtime: python3.11, Handler: app.lambda_handler, Timeout: 30,
                 CodeUri: $SRC/tests/integration/lambda/sfn}
  ProbeMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: sfn-probe
      Definition:
        StartAt: Probe
        States:
          Probe: {Type: Task, Resource: !GetAtt Probe.Arn, End: true}
SFN
"$IMGFLOW" import-sam "$T/sfn/template.yaml" --config "$CONF" --functions-file "$T/functions.json" \
        --resources-file "$T/resources-sfn.conf" >"$T/import-sfn.out" 2>&1 || { cat "$T/import-sfn.out"; fail "import-sam sfn"; }
"$PY" -c 'import json, sys; n = sorted(f["name"] for f in json.load(open(sys.argv[1]))["functions"]); assert n == ["ResizeImage", "SfnProbe", "ValidateImage"], n' \
        "$T/functions.json" || fail "the functions file lost the first template's functions"
API_PORT=$(free_port)
cat >"$T/api-keys.json" <<KEYS
{"keys": [{"accessKeyId": "$S3_ACCESS_KEY_ID", "secretAccessKey": "$S3_SECRET_ACCESS_KEY", "user": "lambda",
  "policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["states:List*", "states:Describe*"], "Resource": "*"}]}}]}
KEYS
chmod 600 "$T/api-keys.json"
{ printf '[api]\nlisten = 127.0.0.1:%s\nkeys = %s\n' "$API_PORT" "$T/api-keys.json"; cat "$T/resources-sfn.conf"; } >>"$CONF"

# The same definition on the built-in operations: its function ARNs renamed
# to functions that [resources] maps to image.validate and image.resize.
"$IMGFLOW" describe-state-machine --name sam-image-processor --config "$CONF" >"$T/sm.json" || fail "describe"
"$PY" - "$T/sm.json" >"$T/builtin.asl.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["definition"]
print(d.replace("function:ValidateImage", "function:BuiltinValidateImage")
       .replace("function:ResizeImage", "function:BuiltinResizeImage"))
PY
{ cat "$T/resources.conf"; echo "BuiltinValidateImage = image.validate"; echo "BuiltinResizeImage = image.resize"; } >>"$CONF"
"$IMGFLOW" create-state-machine --name builtin-image-processor --definition "$T/builtin.asl.json" \
        --config "$CONF" >/dev/null || fail "create builtin-image-processor"

start_coordinator
env IMGFLOW_LOG_TARGET=console "${TEST_LAMBDA:-$BUILD/worker/imgflow-lambda}" --config "$CONF" >"$T/lambda.log" 2>&1 &
PIDS+=("$!")
env IMGFLOW_LOG_TARGET=console "$BUILD/worker/imgflow-worker" --config "$CONF" >"$T/worker.log" 2>&1 &
PIDS+=("$!")
env IMGFLOW_LOG_TARGET=console "$BUILD/api/imgflow-api" --config "$CONF" >"$T/api.log" 2>&1 &
PIDS+=("$!")
wait_for 60 grep -qs "Coordinator ready" "$T/coordinator.log" || fail "coordinator not ready"
wait_for 60 grep -qs "imgflow-api ready" "$T/api.log" || fail "imgflow-api not ready"
wait_for 60 grep -qs "Kafka answered" "$T/lambda.log" || fail "imgflow-lambda not ready"
wait_for 60 grep -qs "Kafka answered" "$T/worker.log" || fail "imgflow-worker not ready"

# run MACHINE TAG: every photo and the corrupt one through MACHINE at once;
# the describe-execution answers in $T/TAG/.
run() {
        local m=$1 tag=$2 k pids=()
        mkdir -p "$T/$tag"
        for k in $(seq 0 $((PHOTOS - 1))) corrupt; do
                [ "$k" = corrupt ] && key=raw/corrupt.jpg || key=raw/photo-$k.jpg
                "$IMGFLOW" start-execution --config "$CONF" --state-machine "$m" --name "$tag-$k" \
                        --input "{\"bucket\":\"photos\",\"key\":\"$key\"}" --wait --timeout 180 \
                        >"$T/$tag/$k.json" 2>"$T/$tag/$k.err" &
                pids+=($!)
        done
        for p in "${pids[@]}"; do wait "$p"; done
}

ROUNDS=${BENCH_ROUNDS:-1}
for round in $(seq 1 "$ROUNDS"); do
        for which in lambda builtin; do
                [ $((round % 2)) = 0 ] && which=$([ $which = lambda ] && echo builtin || echo lambda)
                m=$([ $which = lambda ] && echo sam-image-processor || echo builtin-image-processor)
                start=$(date +%s.%N)
                run "$m" "$which-r$round"
                end=$(date +%s.%N)
                [ -n "${BENCH_ROUNDS:-}" ] && echo "bench $round $which $(echo "$end - $start" | bc)"
        done
done

"$PY" - "$T" "$PHOTOS" "$ENDPOINT" <<'PY' || fail "the two pipelines disagree"
import io, json, sys
import boto3
from PIL import Image, ImageChops, ImageStat
t, n, endpoint = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s3 = boto3.client("s3", endpoint_url=endpoint)
def load(tag, k):
    d = json.load(open("%s/%s/%s.json" % (t, tag, k)))
    return d, json.loads(d["output"]) if d.get("output") else None
def thumb(o):
    body = s3.get_object(Bucket=o["bucket"], Key=o["key"])["Body"].read()
    return Image.open(io.BytesIO(body)).convert("RGB")
for k in range(n):
    (dl, ol), (db, ob) = load("lambda-r1", k), load("builtin-r1", k)
    assert dl["status"] == "SUCCEEDED" and db["status"] == "SUCCEEDED", (k, dl, db)
    vl, vb = ol["validation"], ob["validation"]
    assert vl["isValid"] and vb["isValid"], (vl, vb)
    for f in ("format", "width", "height"):
        assert vl["metadata"][f] == vb["metadata"][f], (f, vl, vb)
    tl, tb = ol["thumbnail"], ob["thumbnail"]
    assert (tl["width"], tl["height"]) == (tb["width"], tb["height"]), (tl, tb)
    assert max(tl["width"], tl["height"]) == 320, tl
    assert tl["key"].startswith("processed/sam/raw/photo-%d" % k), tl
    il, ib = thumb(tl), thumb(tb)
    assert il.size == ib.size == (tl["width"], tl["height"]), (il.size, ib.size)
    diff = sum(ImageStat.Stat(ImageChops.difference(il, ib)).mean) / 3
    assert diff < 6, ("mean difference", k, diff)
    print("photo-%d: %dx%d -> %dx%d in both, mean difference %.2f/255" % (
        k, vl["metadata"]["width"], vl["metadata"]["height"], tl["width"], tl["height"], diff))
for tag in ("lambda-r1", "builtin-r1"):
    d, _ = load(tag, "corrupt")
    assert d["status"] == "FAILED" and d["error"] == "Image.Invalid", (tag, d)
print("corrupt.jpg: FAILED with Image.Invalid in both")
PY
echo "ok: the SAM image processor on imgflow-lambda and on the built-in operations agree"

"$IMGFLOW" start-execution --config "$CONF" --state-machine sfn-probe --name probe \
        --input '{"name": "sam-image-processor"}' --wait --timeout 120 >"$T/probe.json" 2>"$T/probe.err" ||
        fail "sfn-probe: $(cat "$T/probe.json" "$T/probe.err")"
"$PY" - "$T/probe.json" <<'PY' || fail "sfn-probe's answer: $(cat "$T/probe.json")"
import json, sys
o = json.loads(json.load(open(sys.argv[1]))["output"])
assert {"sam-image-processor", "builtin-image-processor", "sfn-probe"} <= set(o["names"]), o
assert o["arn"].endswith(":stateMachine:sam-image-processor") and o["status"] == "ACTIVE", o
PY
echo "ok: a handler's boto3 Step Functions client reaches imgflow-api"
