#!/bin/bash
# SPDX-License-Identifier: MIT
# Redrive end to end on the whole system of ops-stack.sh (redis-server,
# Kafka, imgflow-coordinator, imgflow-worker; loopback only):
#
#   - the seed pipeline (examples/image-pipeline/image-pipeline.asl.json,
#     with OptimizeImage writing to the bucket "optimized" and without its
#     Catch, so that the execution fails there) runs 50 photos while that
#     bucket's directory is missing: all 50 FAIL at OptimizeImage with a
#     Storage.* error, after ResizeImage and ApplyFilters wrote their files;
#   - describe-execution says REDRIVABLE, redriveCount 0;
#   - the bucket is created (its directory made again) and
#     `imgflow redrive-execution` redrives all 50: each SUCCEEDS, its history
#     after ExecutionRedriven {"redriveCount":1} enters only OptimizeImage,
#     NotifySuccess and Done, the files of ResizeImage and ApplyFilters are
#     the same files (inode and modification time), 50 optimized WebPs are
#     in the new bucket, and describe-execution shows redriveCount 1 and a
#     redriveDate;
#   - a SUCCEEDED execution is refused (ExecutionNotRedrivable, "Execution
#     is SUCCEEDED and cannot be redriven"), an unknown one
#     ExecutionDoesNotExist.
#
#   test-redrive.sh MOCK_KAFKA COORDINATOR WORKER IMGFLOW MAKE_PHOTOS SOURCE_ROOT
set -u
MOCK=$1 COORD=$2 WORKER=$3 IMGFLOW=$4 MAKE_PHOTOS=$5 SRC=$6
N=50
OPT_DIR=/tmp/imgflow-redrive-optimized.$$
EXTRA_CONF="[buckets]
optimized = $OPT_DIR
[resources]
ApplyFilters = image.filter
OptimizeImage = image.optimize
arn:aws:states:::sns:publish = notify"
mkdir -p "$OPT_DIR"
. "$SRC/tests/integration/ops-stack.sh"
trap 'rm -rf "$OPT_DIR"; stack_cleanup' EXIT

mkdir -p "$TMP/photos/raw"
"$MAKE_PHOTOS" "$TMP/photos/raw" $N 640 480 >/dev/null || fail "make-photos"
python3 - "$SRC/examples/image-pipeline/image-pipeline.asl.json" "$TMP/sm/image-pipeline.asl.json" <<'PY' ||
import json, sys
d = json.load(open(sys.argv[1]))
o = d["States"]["OptimizeImage"]
del o["Catch"]                      # the execution fails at OptimizeImage
o["Parameters"]["outputBucket"] = "optimized"
json.dump(d, open(sys.argv[2], "w"), indent=1)
PY
        fail "could not write the pipeline variant"

start_coordinator
start_worker
wait_for 60 grep -q '^READY=1' "$TMP/coordinator.notify" || fail "no READY=1 from the coordinator"
wait_for 60 grep -q '^READY=1' "$TMP/worker.notify" || fail "no READY=1 from the worker"
rmdir "$OPT_DIR" || fail "could not remove the bucket's directory"

for ((i = 0; i < N; i++)); do
        n=$(printf 'photo-%04d' $i)
        printf 'image-pipeline:%s|{"v":1,"type":"StartExecution","stateMachine":"image-pipeline","name":"%s","input":{"bucket":"photos","key":"raw/%s.jpg"}}\n' "$n" "$n" "$n"
done | publish_jobs

# count_status STATUS: how many of the N executions have it.
count_status() {
        local i k=0
        for ((i = 0; i < N; i++)); do
                echo "HGET imgflow:{image-pipeline:$(printf 'photo-%04d' $i)}:exec status"
        done | redis-cli -p "$RPORT" 2>/dev/null | grep -c "^$1\$" || true
}
wait_for 300 sh -c "[ \"\$(N=$N; for i in \$(seq 0 \$((N - 1))); do printf 'HGET imgflow:{image-pipeline:photo-%04d}:exec status\n' \$i; done |
        redis-cli -p $RPORT 2>/dev/null | grep -c '^FAILED\$')\" = $N ]" ||
        fail "$(count_status FAILED) of $N executions FAILED, $(count_status SUCCEEDED) SUCCEEDED"
ok "$N executions FAILED with the bucket missing"

"$IMGFLOW" describe-execution --config "$CONF" --execution-arn image-pipeline:photo-0000 >"$TMP/d0.json" ||
        fail "describe-execution"
python3 - "$TMP/d0.json" <<'PY' || fail "describe-execution before the redrive (above)"
import json, sys
d = json.load(open(sys.argv[1]))
print(d)
assert d["status"] == "FAILED" and d["error"].startswith("Storage."), d
assert d["redriveCount"] == 0 and d["redriveStatus"] == "REDRIVABLE" and "redriveDate" not in d, d
PY
ok "FAILED with $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["error"])' "$TMP/d0.json"), REDRIVABLE"

# What ResizeImage and ApplyFilters wrote: path -> inode and mtime.
snapshot() {
        python3 - "$TMP/photos" >"$1" <<'PY'
import json, os, sys
root = sys.argv[1]
out = {}
for d, _, files in os.walk(root):
    for f in files:
        p = os.path.join(d, f)
        rel = os.path.relpath(p, root)
        if not rel.startswith("raw/"):
            st = os.stat(p)
            out[rel] = [st.st_ino, st.st_mtime_ns]
json.dump(out, sys.stdout, sort_keys=True)
PY
}
snapshot "$TMP/before.json"
written=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$TMP/before.json")
[ "$written" -ge $((2 * N)) ] || fail "only $written files written before the failure, expected $((2 * N))"

mkdir "$OPT_DIR" || fail "could not create the bucket's directory"
for ((i = 0; i < N; i++)); do
        n=$(printf 'photo-%04d' $i)
        "$IMGFLOW" redrive-execution --config "$CONF" --execution-arn "image-pipeline:$n" >"$TMP/r.json" 2>"$TMP/r.err" ||
                fail "redrive-execution $n: $(cat "$TMP/r.err")"
done
grep -q '"redriveDate"' "$TMP/r.json" || fail "redrive-execution printed $(cat "$TMP/r.json")"
ok "$N redrives accepted"

wait_for 300 sh -c "[ \"\$(N=$N; for i in \$(seq 0 \$((N - 1))); do printf 'HGET imgflow:{image-pipeline:photo-%04d}:exec status\n' \$i; done |
        redis-cli -p $RPORT 2>/dev/null | grep -c '^SUCCEEDED\$')\" = $N ]" ||
        fail "$(count_status SUCCEEDED) of $N redriven executions SUCCEEDED, $(count_status FAILED) FAILED"
ok "$N redriven executions SUCCEEDED"

snapshot "$TMP/after.json"
for ((i = 0; i < N; i++)); do
        n=$(printf 'photo-%04d' $i)
        redis-cli -p "$RPORT" LRANGE "imgflow:{image-pipeline:$n}:history" 0 -1 >"$TMP/h-$n.txt"
done
"$IMGFLOW" get-execution-history --config "$CONF" --execution-arn image-pipeline:photo-0007 >"$TMP/h7.json" ||
        fail "get-execution-history"
"$IMGFLOW" describe-execution --config "$CONF" --execution-arn image-pipeline:photo-0007 >"$TMP/d7.json" ||
        fail "describe-execution"
python3 - "$TMP" $N "$OPT_DIR" <<'PY' || fail "the redriven executions (above)"
import json, os, sys
tmp, n, opt = sys.argv[1], int(sys.argv[2]), sys.argv[3]
bad = 0
def check(cond, msg):
    global bad
    if not cond:
        print("FAIL: " + msg)
    bad += not cond

for i in range(n):
    name = "photo-%04d" % i
    ev = [json.loads(l) for l in open(os.path.join(tmp, "h-%s.txt" % name)) if l.strip()]
    types = [e["type"] for e in ev]
    check(types.count("ExecutionRedriven") == 1, "%s: one ExecutionRedriven" % name)
    if "ExecutionRedriven" not in types:
        continue
    k = types.index("ExecutionRedriven")
    before, after = ev[:k], ev[k + 1:]
    check(ev[k].get("executionRedrivenEventDetails") == {"redriveCount": 1}, "%s: redriveCount 1" % name)
    check(before[-1]["type"] == "ExecutionFailed" and
          before[-1]["executionFailedEventDetails"]["error"].startswith("Storage."),
          "%s: failed with a Storage error before" % name)
    entered = [e["stateEnteredEventDetails"]["name"] for e in after if "stateEnteredEventDetails" in e]
    check(entered == ["OptimizeImage", "NotifySuccess", "Done"],
          "%s: after the redrive entered %s" % (name, entered))
    sched = [e for e in after if e["type"] in ("TaskScheduled", "LambdaFunctionScheduled")]
    check(len(sched) == 2, "%s: %d tasks scheduled after the redrive" % (name, len(sched)))
    first = [x["stateEnteredEventDetails"]["name"] for x in before if "stateEnteredEventDetails" in x]
    check("ResizeImage" not in entered and "Resize" not in entered and "ApplyFilters" not in entered,
          "%s: the branches did not run again" % name)
    check(first[-1] == "OptimizeImage" and "Resize" in first and "ApplyFilters" in first,
          "%s: before, the branches ran and OptimizeImage failed (%s)" % (name, first))
    check(after[-1]["type"] == "ExecutionSucceeded", "%s: ExecutionSucceeded last" % name)
    ids = [e["id"] for e in ev]
    check(ids == list(range(1, len(ev) + 1)), "%s: event ids continue across the redrive" % name)

b = json.load(open(os.path.join(tmp, "before.json")))
a = json.load(open(os.path.join(tmp, "after.json")))
check(b == a, "the outputs of ResizeImage and ApplyFilters were written again: %d changed" %
      len([k for k in set(a) | set(b) if a.get(k) != b.get(k)]))
webps = [f for d, _, fs in os.walk(opt) for f in fs if f.endswith(".webp")]
check(len(webps) == n, "%d optimized WebPs in the new bucket, expected %d" % (len(webps), n))

h = json.load(open(os.path.join(tmp, "h7.json")))["events"]
check([e["type"] for e in h].count("ExecutionRedriven") == 1, "get-execution-history shows ExecutionRedriven")
d = json.load(open(os.path.join(tmp, "d7.json")))
check(d["status"] == "SUCCEEDED" and d["redriveCount"] == 1 and "redriveDate" in d and "error" not in d
      and d["redriveStatus"] == "NOT_REDRIVABLE"
      and d["redriveStatusReason"] == "Execution is SUCCEEDED and cannot be redriven",
      "describe-execution after: %s" % d)
sys.exit(1 if bad else 0)
PY
ok "each re-ran only OptimizeImage and NotifySuccess; ResizeImage's and ApplyFilters' files untouched"

"$IMGFLOW" redrive-execution --config "$CONF" --execution-arn image-pipeline:photo-0001 >"$TMP/r.json" 2>"$TMP/r.err" &&
        fail "a SUCCEEDED execution was redriven"
grep -q 'ExecutionNotRedrivable' "$TMP/r.err" && grep -q 'Execution is SUCCEEDED and cannot be redriven' "$TMP/r.err" ||
        fail "SUCCEEDED: $(cat "$TMP/r.err")"
"$IMGFLOW" redrive-execution --config "$CONF" --execution-arn image-pipeline:nope >"$TMP/r.json" 2>"$TMP/r.err" &&
        fail "an unknown execution was redriven"
grep -q 'ExecutionDoesNotExist' "$TMP/r.err" || fail "unknown: $(cat "$TMP/r.err")"
ok "refusals: ExecutionNotRedrivable, ExecutionDoesNotExist"

check_sanitizers
exit 0
