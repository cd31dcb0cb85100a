#!/bin/bash
# SPDX-License-Identifier: MIT
# Output keys end to end (docs/image-operations.md, "Output keys") on the
# whole system of ops-stack.sh (redis-server, Kafka, imgflow-coordinator,
# imgflow-worker):
#
#   - one 200x150 image fanned out through a Map to widths [32, 64, 128]:
#     the execution reports three different keys (Resize@0, @1, @2), and each
#     file exists with its own width and size;
#   - a state after the Map reads iteration 0's output and writes under the
#     original object's key, not nested under Resize's;
#   - three executions named c(1), c_1_ and c@1! (the same after a plain
#     reduction to [A-Za-z0-9._-]) leave three files.
#
#   test-outputs.sh MOCK_KAFKA COORDINATOR WORKER SOURCE_ROOT
set -u
MOCK=$1 COORD=$2 WORKER=$3 SRC=$4
. "$SRC/tests/integration/ops-stack.sh"

python3 - "$TMP/photos/raw/big.png" <<'PY' || fail "could not make the image"
import struct, sys, zlib
def chunk(kind, data):
    c = struct.pack(">I", len(data)) + kind + data
    return c + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
w, h = 200, 150
raw = b"".join(b"\0" + bytes(v for x in range(w) for v in (x % 256, y % 256, (x * y) % 256)) for y in range(h))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
                              chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY

cat >"$TMP/sm/fanout.asl.json" <<'JSON'
{
  "StartAt": "Sizes",
  "States": {
    "Sizes": {
      "Type": "Map",
      "ItemsPath": "$.widths",
      "ItemSelector": {"key.$": "$.key", "width.$": "$$.Map.Item.Value"},
      "ItemProcessor": {
        "StartAt": "Resize",
        "States": {
          "Resize": {
            "Type": "Task",
            "Resource": "imgflow:image.resize",
            "Parameters": {"bucket": "photos", "key.$": "$.key", "width.$": "$.width", "format": "png"},
            "End": true
          }
        }
      },
      "ResultPath": "$.resized",
      "Next": "Optimize"
    },
    "Optimize": {
      "Type": "Task",
      "Resource": "imgflow:image.optimize",
      "Parameters": {"bucket": "photos", "key.$": "$.resized[0].key"},
      "ResultPath": "$.optimized",
      "End": true
    }
  }
}
JSON
cat >"$TMP/sm/one.asl.json" <<'JSON'
{
  "StartAt": "Resize",
  "States": {
    "Resize": {
      "Type": "Task",
      "Resource": "imgflow:image.resize",
      "Parameters": {"bucket": "photos", "key.$": "$.key", "width": 40},
      "End": true
    }
  }
}
JSON

start_coordinator
start_worker
wait_for 60 grep -q '^READY=1' "$TMP/coordinator.notify" || fail "no READY=1 from the coordinator"
wait_for 60 grep -q '^READY=1' "$TMP/worker.notify" || fail "no READY=1 from the worker"

{
        printf '%s|{"v":1,"type":"StartExecution","stateMachine":"fanout","name":"f1","input":{"key":"raw/big.png","widths":[32,64,128]}}\n' "fanout:f1"
        for n in 'c(1)' 'c_1_' 'c@1!'; do
                printf '%s|{"v":1,"type":"StartExecution","stateMachine":"one","name":"%s","input":{"key":"raw/big.png"}}\n' "one:$n" "$n"
        done
} | publish_jobs

status_of() { redis-cli -p "$RPORT" HGET "imgflow:{$1}:exec" status 2>/dev/null; }
for id in 'fanout:f1' 'one:c(1)' 'one:c_1_' 'one:c@1!'; do
        wait_for 60 sh -c "[ \"\$(redis-cli -p $RPORT HGET 'imgflow:{$id}:exec' status 2>/dev/null)\" = SUCCEEDED ]" ||
                fail "execution $id: status '$(status_of "$id")', expected SUCCEEDED"
done
ok "4 executions succeeded"
for id in 'fanout:f1' 'one:c(1)' 'one:c_1_' 'one:c@1!'; do
        redis-cli -p "$RPORT" HGET "imgflow:{$id}:exec" output >"$TMP/out-$id.json"
done

python3 - "$TMP" <<'PY' || fail "the outputs are not as the output-key rule says (above)"
import json, os, re, struct, sys
tmp = sys.argv[1]
bucket = os.path.join(tmp, "photos")
bad = []

def out(exec_id):
    return json.load(open(os.path.join(tmp, "out-%s.json" % exec_id)))

def png_size(key):
    with open(os.path.join(bucket, key), "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", head[16:24])

def check(what, cond):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        bad.append(what)

o = out("fanout:f1")
keys = [r["key"] for r in o["resized"]]
check("three Map outputs with three keys: %s" % keys, len(set(keys)) == 3)
for i, (r, w) in enumerate(zip(o["resized"], (32, 64, 128))):
    k = r["key"]
    check("iteration %d: %s is processed/f1/Resize@%d/raw/big.<tag>.png" % (i, k, i),
          re.fullmatch(r"processed/f1/Resize@%d/raw/big\.[0-9a-f]{8}\.png" % i, k) is not None)
    size = png_size(k) if os.path.exists(os.path.join(bucket, k)) else None
    check("iteration %d: the file is %dx%d (%s), as reported" % (i, w, w * 3 // 4, size),
          size == (w, w * 3 // 4) and r["width"] == w)
    check("iteration %d: its size on disk is the reported %s bytes" % (i, r["size"]),
          os.path.getsize(os.path.join(bucket, k)) == r["size"])
files = sorted(os.path.relpath(os.path.join(d, f), bucket)
               for d, _, fs in os.walk(os.path.join(bucket, "processed", "f1")) for f in fs)
check("f1 left 4 files (3 sizes and the optimized one): %s" % files, len(files) == 4)
k = o["optimized"]["key"]
check("Optimize writes from the original object's key, not nested: %s" % k,
      re.fullmatch(r"processed/f1/Optimize/raw/big\.[0-9a-f]{8}\.png", k) is not None and os.path.exists(os.path.join(bucket, k)))

keys = {n: out("one:" + n)["key"] for n in ("c(1)", "c_1_", "c@1!")}
check("c(1), c_1_ and c@1! report three keys: %s" % keys, len(set(keys.values())) == 3)
check("c_1_ is kept as it is", keys["c_1_"].startswith("processed/c_1_/Resize/raw/big."))
for n in ("c(1)", "c@1!"):
    check("%s is reduced with a hash: %s" % (n, keys[n]),
          re.fullmatch(r"processed/c_1_~[0-9a-f]{8}/Resize/raw/big\.[0-9a-f]{8}\.png", keys[n]) is not None)
files = [os.path.relpath(os.path.join(d, f), bucket)
         for d, _, fs in os.walk(os.path.join(bucket, "processed")) for f in fs if "/c_1_" in "/" + os.path.relpath(d, os.path.join(bucket, "processed"))]
check("they leave three files: %s" % sorted(files), sorted(files) == sorted(keys.values()))
sys.exit(1 if bad else 0)
PY
check_sanitizers
ok "output keys"
exit 0
