#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A distributed Map over a bucket listing, end to end on the local stack
# (deploy/local-stack.sh, loopback only), with the buckets as directories
# (MODE dir) or on versitygw, an S3-compatible server that checks SigV4
# (MODE s3: skipped where versitygw is not built):
# examples/distributed-map/thumbnails.asl.json lists photos/raw/ with
# ItemReader (arn:aws:states:::s3:listObjectsV2), read by the workers'
# storage.list a page of 200 keys at a time, and makes a 128-pixel
# thumbnail of each of 450 photos (3 pages), 50 at once. Checked: the
# execution SUCCEEDS with 450 results, one per key of the listing in S3's
# order, each a thumbnail that exists in the bucket; the parent's history
# is the Map Run's (MapRunStarted with a Map Run ARN, MapRunSucceeded),
# none of its 450 children's events; a second execution
# with MaxItems 7 (a variant) lists 7 keys; one over a bucket that does not
# exist fails with States.ItemReaderFailed naming the storage failure.
# Then ItemReader over objects (arn:aws:states:::s3:getObject, the workers'
# storage.items): examples/distributed-map/thumbnails-from-csv.asl.json
# makes a thumbnail per row of a CSV (FIRST_ROW header, quoted fields) at
# the row's width; a JSON array and a JSONL file of 450 items come back
# whole and in order, the JSONL's also exported by a ResultWriter (the
# manifest and SUCCEEDED_n files under results/<Map Run id>/, one record
# per child, written 4 records a file while the Map runs: the stack's
# coordinator.result_file_records), and
# examples/distributed-map/thumbnails-export.asl.json makes 100 thumbnails
# whose outputs its ResultWriter writes a JSON line each; a run whose item 5
# fails writes SUCCEEDED_0 (while it runs), SUCCEEDED_1, FAILED_0 and
# PENDING_0 (the children it stopped) and the manifest before it fails, and its Map Run
# record counts them (list-map-runs, describe-map-run); a missing object
# fails with States.ItemReaderFailed. Then an S3 Inventory (manifest.json
# and gzip-compressed CSV data files): its rows whole and in order, the
# examples/distributed-map/thumbnails-from-inventory.asl.json thumbnails,
# and bad inventories failing with States.ItemReaderFailed.
#
# Children as executions of their own (ExecutionType STANDARD): 100
# thumbnails, each child listed by list-executions --map-run-arn (pages of
# 30, newest first, by status), described and with its own history, the
# parent alone under its state machine; a child that fails the run leaves
# it FAILED and the others ABORTED, and cannot be redriven on its own; a
# child stopped by StopExecution ends ABORTED and fails its item; a redrive
# of the parent redrives its failed child itself (redriveCount 1).
#
#   test-distributed-map.sh MODE BUILD_DIR SOURCE_ROOT
set -u
MODE=$1 BUILD=$(cd "$2" && pwd) SRC=$3
. "$SRC/tests/helpers/common.sh"
. "$SRC/deploy/s3/s3-env.sh"
. "$SRC/tests/helpers/stack.sh"
for p in redis-server kcat python3 curl; do
        command -v $p >/dev/null || { echo "SKIP: $p missing"; exit 77; }
done
why=$(kafka_missing)
[ -z "$why" ] || { echo "$why (deploy/setup-debian.sh, or STACK_KAFKA=mock): skipped"; exit 77; }
if [ "$MODE" = s3 ] && [ "${STACK_KAFKA:-real}" = mock ]; then
        echo "SKIP: versitygw publishes its notifications to a real broker only (STACK_KAFKA=mock)"
        exit 77
fi
if [ "$MODE" = s3 ] && ! versitygw_ok; then
        echo "SKIP: versitygw not built (deploy/setup-debian.sh, with Go 1.21+)"
        exit 77
fi
N=450
TMP=$(mktemp -d /tmp/imgflow-test-dmap-$MODE.XXXXXX)
export IMGFLOW_BUILD=$BUILD IMGFLOW_STACK_DIR=$TMP/stack
STACK=$SRC/deploy/local-stack.sh
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok   $*"; }
cleanup() {
        [ -d "$IMGFLOW_STACK_DIR/pids" ] && STACK_STOP_TIMEOUT=5 "$STACK" stop >/dev/null 2>&1
        [ -n "${KEEP_TMP:-}" ] && echo "kept $TMP" || rm -rf "$TMP"
}
trap cleanup EXIT

export STACK_WORKERS=2 STACK_FRESH=1
# An exporting ResultWriter writes a SUCCEEDED_n file of 4 records as soon as
# 4 children have succeeded, while its Map runs, instead of keeping them.
export STACK_EXTRA_CONFIG="[coordinator]
result_file_records = 4"
[ "$MODE" = s3 ] && export STACK_STORAGE=s3
"$STACK" start >"$TMP/start.log" 2>&1 || { tail -30 "$TMP/start.log"; exit 1; }
eval "$("$STACK" env)"
export IMGFLOW_CONFIG
CLI=$BUILD/cli/imgflow
EX=$SRC/examples/distributed-map/thumbnails.asl.json
"$STACK" register thumbnails "$EX" >/dev/null || { fail "register"; exit 1; }
python3 - "$EX" >"$TMP/max7.asl.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["States"]["Thumbnails"]["ItemReader"]["ReaderConfig"] = {"MaxItems": 7}
print(json.dumps(d))
PY
"$STACK" register thumbnails-7 "$TMP/max7.asl.json" >/dev/null || fail "register thumbnails-7"

# N small photos under raw/, and one object beside the prefix.
mkdir -p "$TMP/photos"
"$BUILD/tests/bench/make-photos" "$TMP/photos" $N 64 48 >/dev/null || { fail "make-photos"; exit 1; }
printf 'not listed' >"$TMP/other.txt"
if [ "$MODE" = s3 ]; then
        for f in "$TMP"/photos/*.jpg; do
                s3_put "$f" photos "raw/$(basename "$f")" || { fail "upload of $f"; break; }
        done
        s3_put "$TMP/other.txt" photos other.txt || fail "upload of other.txt"
else
        mkdir -p "$IMGFLOW_STACK_DIR/buckets/photos/raw"
        cp "$TMP"/photos/*.jpg "$IMGFLOW_STACK_DIR/buckets/photos/raw/"
        cp "$TMP/other.txt" "$IMGFLOW_STACK_DIR/buckets/photos/"
fi
[ "$MODE" = s3 ] && BDIR=$IMGFLOW_STACK_DIR/s3/buckets/photos || BDIR=$IMGFLOW_STACK_DIR/buckets/photos
ok "$N photos in photos/raw/ ($MODE)"

run() { # SM NAME INPUT -> $TMP/NAME.json (describe-execution), exit status of --wait
        "$CLI" start-execution --state-machine "$1" --name "$2" --input "$3" --wait --timeout 300 \
                >"$TMP/$2.json" 2>"$TMP/$2.err"
}
# first_map_run FILE: the mapRunArn of the first Map Run in FILE
# (list-map-runs); nothing if there is none.
first_map_run() {
        python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mapRuns"][0]["mapRunArn"])' "$1" 2>/dev/null
}
# wait_ended ARN FILE: describe-execution of ARN into FILE until it is no
# longer RUNNING (at most 120 s).
wait_ended() {
        local i
        for i in $(seq 1 240); do
                "$CLI" describe-execution --execution-arn "$1" >"$2" 2>/dev/null
                grep -q '"status": "RUNNING"' "$2" || return 0
                sleep 0.5
        done
}
t0=$(date +%s.%N)
run thumbnails all '{"bucket": "photos", "prefix": "raw/"}' && ok "thumbnails SUCCEEDED" ||
        fail "thumbnails: $(tail -3 "$TMP/all.err") $(head -c 600 "$TMP/all.json")"
t1=$(date +%s.%N)
echo "     $N items in $(python3 -c "print(round($t1 - $t0, 1))") s"
"$CLI" get-execution-history --execution-arn thumbnails:all --max-results 20 >"$TMP/all-history.json" 2>"$TMP/h.err" ||
        fail "get-execution-history: $(cat "$TMP/h.err")"
"$CLI" get-execution-history --execution-arn thumbnails:all --max-results 20 --reverse-order \
        >"$TMP/all-history-end.json" 2>"$TMP/h.err" || fail "get-execution-history: $(cat "$TMP/h.err")"
python3 - "$TMP/all.json" "$TMP/all-history.json" "$BDIR" $N "$TMP/all-history-end.json" <<'PY' || FAILS=$((FAILS + 1))
import json, os, sys
desc, hist, bdir, n = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3], int(sys.argv[4])
bad = 0
def check(cond, msg):
    global bad
    print(("ok   " if cond else "FAIL: ") + msg)
    bad += not cond
out = json.loads(desc.get("output") or "{}")
th = out.get("thumbnails", [])
check(out.get("count") == n and len(th) == n, "%d results (count %s)" % (len(th), out.get("count")))
# one child per key, in the listing's order (S3 orders keys by their bytes)
srcs = [t.get("key", "") for t in th]
check(all(t.get("size", 0) > 0 for t in th), "every result is a thumbnail with a size")
missing = [k for k in srcs if not os.path.isfile(os.path.join(bdir, k))]
check(not missing, "every thumbnail is in the bucket (%d missing)" % len(missing))
check(len(set(srcs)) == n, "%d distinct thumbnails" % len(set(srcs)))
stems = [k.split("/raw/")[-1].split(".")[0] for k in srcs]
check(stems == sorted(stems) and stems[0] == "photo-0000", "results in the listing's order")
ev = hist["events"] + json.load(open(sys.argv[5]))["events"]
types = [e["type"] for e in ev]
started = [e for e in ev if e["type"] == "MapRunStarted"]
arn = started[0]["mapRunStartedEventDetails"]["mapRunArn"] if started else ""
check(":mapRun:thumbnails/thumbnails:" in arn, "MapRunStarted with the Map Run's ARN: " + arn)
check("MapRunSucceeded" in types and "MapStateStarted" not in types, "MapRunSucceeded, no MapStateStarted")
# the children's events are theirs: the parent's history is the Map Run's
check(len(hist["events"]) == 8 and types[:8] == ["ExecutionStarted", "MapStateEntered", "MapRunStarted",
      "MapRunSucceeded", "MapStateExited", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"],
      "the parent's history: %d events %s" % (len(hist["events"]), ",".join(types[:10])))
sys.exit(1 if bad else 0)
PY

run thumbnails-7 seven '{"bucket": "photos", "prefix": "raw/"}' && ok "thumbnails-7 SUCCEEDED" ||
        fail "thumbnails-7: $(tail -3 "$TMP/seven.err")"
python3 -c 'import json,sys; o=json.loads(json.load(open(sys.argv[1]))["output"]); sys.exit(0 if o["count"] == 7 else 1)' \
        "$TMP/seven.json" && ok "MaxItems 7: 7 results" || fail "MaxItems 7: $(head -c 300 "$TMP/seven.json")"

run thumbnails nobucket '{"bucket": "nosuchbucket", "prefix": "raw/"}'
python3 - "$TMP/nobucket.json" <<'PY' && ok "no such bucket: States.ItemReaderFailed" || fail "no such bucket: $(head -c 400 "$TMP/nobucket.json")"
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d.get("status") == "FAILED" and d.get("error") == "States.ItemReaderFailed" and
         "Storage." in (d.get("cause") or "") else 1)
PY

# ItemReader over objects (s3:getObject): the workers' storage.items reads
# a page of 200 items at a time from where the last page stopped. A CSV
# (header in the first row, fields quoted with the delimiter, quotes and a
# newline) names each photo and a width: a thumbnail per row at its width.
# A JSON array and a JSONL file of N items through Pass children come back
# whole and in order; the listing's items carry LastModified and StorageClass.
python3 - "$TMP" $N <<'PY'
import json, sys
tmp, n = sys.argv[1], int(sys.argv[2])
with open(tmp + "/photos.csv", "w", newline="") as f:
    f.write("key,width,note\r\n")
    for i in range(n):
        note = '"row %d, ""quoted""\nsecond line"' % i if i % 50 == 7 else "plain %d" % i
        f.write("raw/photo-%04d.jpg,%d,%s\r\n" % (i, 16 + i % 40, note))
items = [{"i": i, "s": "x" * (i % 17), "nested": {"a": [i, "]", ","]}} for i in range(n)]
json.dump(items, open(tmp + "/items.json", "w"), indent=1)
with open(tmp + "/items.jsonl", "w") as f:
    for it in items:
        f.write(json.dumps(it) + "\n")
def variant(name, reader, sel=None):
    d = {"StartAt": "M", "States": {"M": {"Type": "Map", "ItemReader": reader, "End": True,
         "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                           "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}}}}
    json.dump(d, open(tmp + "/" + name + ".asl.json", "w"))
variant("items-json", {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSON"},
                       "Parameters": {"Bucket": "photos", "Key": "lists/items.json"}})
variant("items-jsonl", {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSONL"},
                        "Parameters": {"Bucket": "photos", "Key": "lists/items.jsonl"}})
variant("listing-3", {"Resource": "arn:aws:states:::s3:listObjectsV2", "ReaderConfig": {"MaxItems": 3},
                      "Parameters": {"Bucket": "photos", "Prefix": "raw/"}})
d = json.load(open(tmp + "/items-jsonl.asl.json"))
d["States"]["M"]["ResultWriter"] = {"Resource": "arn:aws:states:::s3:putObject",
                                    "Parameters": {"Bucket": "photos", "Prefix": "results"}}
json.dump(d, open(tmp + "/items-export.asl.json", "w"))
# ... and a run that fails: item 5 fails its child (no failure tolerated),
# 3 children at a time; its results are written before it fails
d["States"]["M"]["MaxConcurrency"] = 3
d["States"]["M"]["ItemProcessor"]["StartAt"] = "Which"
d["States"]["M"]["ItemProcessor"]["States"] = {
    "Which": {"Type": "Choice", "Choices": [{"Variable": "$.i", "NumericEquals": 5, "Next": "Bad"}],
              "Default": "P"},
    "Bad": {"Type": "Fail", "Error": "Item.Bad", "Cause": "item 5"},
    "P": {"Type": "Pass", "End": True}}
json.dump(d, open(tmp + "/items-failing.asl.json", "w"))
PY
for f in photos.csv items.json items.jsonl; do
        if [ "$MODE" = s3 ]; then
                s3_put "$TMP/$f" photos "lists/$f" || fail "upload of $f"
        else
                mkdir -p "$BDIR/lists" && cp "$TMP/$f" "$BDIR/lists/"
        fi
done
"$STACK" register thumbnails-csv "$SRC/examples/distributed-map/thumbnails-from-csv.asl.json" >/dev/null ||
        fail "register thumbnails-csv"
"$STACK" register thumbnails-export "$SRC/examples/distributed-map/thumbnails-export.asl.json" >/dev/null ||
        fail "register thumbnails-export"
for v in items-json items-jsonl listing-3 items-export items-failing; do
        "$STACK" register $v "$TMP/$v.asl.json" >/dev/null || fail "register $v"
done
run thumbnails-csv csv '{"bucket": "photos", "list": "lists/photos.csv"}' && ok "thumbnails-csv SUCCEEDED" ||
        fail "thumbnails-csv: $(tail -3 "$TMP/csv.err") $(head -c 600 "$TMP/csv.json")"
run items-json json '{}' && ok "items-json SUCCEEDED" || fail "items-json: $(head -c 600 "$TMP/json.json")"
run items-jsonl jsonl '{}' && ok "items-jsonl SUCCEEDED" || fail "items-jsonl: $(head -c 600 "$TMP/jsonl.json")"
run listing-3 listing '{}' && ok "listing-3 SUCCEEDED" || fail "listing-3: $(head -c 600 "$TMP/listing.json")"
run items-export export '{}' && ok "items-export SUCCEEDED" || fail "items-export: $(head -c 600 "$TMP/export.json")"
run thumbnails-export thexport '{"bucket": "photos", "prefix": "raw/photo-00"}' && ok "thumbnails-export SUCCEEDED" ||
        fail "thumbnails-export: $(head -c 600 "$TMP/thexport.json")"
python3 - "$TMP" "$BDIR" $N <<'PY' || FAILS=$((FAILS + 1))
import json, os, sys, time
tmp, bdir, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
bad = 0
def check(cond, msg):
    global bad
    print(("ok   " if cond else "FAIL: ") + msg)
    bad += not cond
def output(name):
    return json.loads(json.load(open(tmp + "/" + name + ".json")).get("output") or "null")
out = output("csv") or {}
th = out.get("thumbnails", [])
check(out.get("count") == n and len(th) == n, "CSV: %d rows, %d thumbnails" % (n, len(th)))
check([t.get("key") for t in th] == ["raw/photo-%04d.jpg" % i for i in range(n)], "CSV: the rows in order")
check(all(t.get("thumbnail", {}).get("width") == 16 + i % 40 for i, t in enumerate(th)),
      "CSV: each thumbnail at its row's width (States.StringToJson of the field)")
check(all(os.path.isfile(os.path.join(bdir, t.get("thumbnail", {}).get("key", "-"))) for t in th),
      "CSV: every thumbnail is in the bucket")
check(th[7].get("note") == 'row 7, "quoted"\nsecond line' and th[8].get("note") == "plain 8",
      "CSV: a quoted field keeps its delimiter, quotes and newline: %r" % th[7].get("note"))
items = json.load(open(tmp + "/items.json"))
check(output("json") == items, "JSON: the %d elements of the array, in order" % n)
check(output("jsonl") == items, "JSONL: the %d lines, in order" % n)
listed = output("listing") or []
check(len(listed) == 3 and all(set(it) == {"Key", "Size", "Etag", "LastModified", "StorageClass"} for it in listed),
      "listObjectsV2 items: %s" % (listed[:1]))
check(all(it.get("StorageClass") == "STANDARD" and isinstance(it.get("LastModified"), int) and
          abs(it["LastModified"] - time.time()) < 86400 for it in listed),
      "LastModified in seconds since the epoch, StorageClass STANDARD")
# S3 quotes an ETag; a directory bucket has none
check(all(it["Etag"] == "" or (len(it["Etag"]) > 2 and it["Etag"][0] == it["Etag"][-1] == '"') for it in listed),
      "Etag quoted as S3 gives it: %s" % listed[0].get("Etag") if listed else "-")
# ResultWriter: the output points at the manifest, which lists the files of
# records (Step Functions' layout: <Prefix>/<Map Run id>/manifest.json)
exp = output("export") or {}
det = exp.get("ResultWriterDetails", {})
run_id = exp.get("MapRunArn", "").rsplit(":", 1)[-1]
check(det.get("Bucket") == "photos" and det.get("Key") == "results/%s/manifest.json" % run_id,
      "ResultWriter: the output is the Map Run's ARN and the manifest's place: %s" % det)
try:
    man = json.load(open(os.path.join(bdir, det.get("Key", "-"))))
except Exception as e:
    man = {}
    check(False, "manifest: %s" % e)
rf = man.get("ResultFiles", {})
check(man.get("DestinationBucket") == "photos" and man.get("MapRunArn") == exp.get("MapRunArn") and
      rf.get("FAILED") == [] and rf.get("PENDING") == [] and len(rf.get("SUCCEEDED", [])) >= 1,
      "manifest: %d SUCCEEDED files, no FAILED or PENDING" % len(rf.get("SUCCEEDED", [])))
recs, sizes = [], []
for f in rf.get("SUCCEEDED", []):
    path = os.path.join(bdir, f["Key"])
    if not (os.path.getsize(path) == f["Size"] and f["Key"].startswith("results/%s/SUCCEEDED_" % run_id)):
        check(False, "%s: %d bytes, as the manifest says" % (f["Key"], f["Size"]))
    sizes.append(len(json.load(open(path))))
    recs += json.load(open(path))
# written while the Map ran, 4 records a file (coordinator.result_file_records),
# numbered from 0; the files' order is the order the children ended in
check([f["Key"] for f in rf.get("SUCCEEDED", [])] ==
      ["results/%s/SUCCEEDED_%d.json" % (run_id, i) for i in range(len(sizes))] and
      len(sizes) == (n + 3) // 4 and all(k == 4 for k in sizes[:-1]) and 1 <= sizes[-1] <= 4,
      "SUCCEEDED_0 .. _%d: files of 4 records, each its size as the manifest says" % (len(sizes) - 1))
check(sorted(recs, key=lambda r: int(r["Name"])) and
      [json.loads(r["Output"]) for r in sorted(recs, key=lambda r: int(r["Name"]))] == items and
      all(r["Status"] == "SUCCEEDED" and json.loads(r["Input"]) == json.loads(r["Output"]) for r in recs),
      "the files hold one record per child, each once, with its input and output (%d)" % len(recs))
# the example: 100 thumbnails (raw/photo-00..), their outputs a JSON line each (COMPACT, JSONL)
exp = output("thexport") or {}
key = exp.get("ResultWriterDetails", {}).get("Key", "-")
try:
    man = json.load(open(os.path.join(bdir, key)))
    lines = [json.loads(l) for f in man["ResultFiles"]["SUCCEEDED"] for l in open(os.path.join(bdir, f["Key"]))]
except Exception as e:
    lines = []
    print("     thumbnails-export: %s" % e)
check(key.startswith("results/") and len(lines) == 100 and
      sorted(l.get("key", "").split("/raw/")[-1].split(".")[0] for l in lines) == ["photo-%04d" % i for i in range(100)] and
      all(os.path.isfile(os.path.join(bdir, l["key"])) for l in lines),
      "thumbnails-export: 100 thumbnails, their outputs a JSON line each in %s's files" % key)
sys.exit(1 if bad else 0)
PY
# A failed Map Run with a ResultWriter: SUCCEEDED_0, FAILED_0 and PENDING_0
# (the children still running when it failed) and the manifest, then
# FAILED; its Map Run record says so (imgflow list-map-runs, describe-map-run).
run items-failing failing '{}'
"$CLI" list-map-runs --execution-arn items-failing:failing >"$TMP/failing-runs.json" 2>&1
MRF=$(first_map_run "$TMP/failing-runs.json")
"$CLI" describe-map-run --map-run-arn "$MRF" >"$TMP/failing-run.json" 2>&1
python3 - "$TMP" "$BDIR" "$MRF" <<'PY' || FAILS=$((FAILS + 1))
import json, os, sys
tmp, bdir, arn = sys.argv[1], sys.argv[2], sys.argv[3]
bad = 0
def check(cond, msg):
    global bad
    print(("ok   " if cond else "FAIL: ") + msg)
    bad += not cond
d = json.load(open(tmp + "/failing.json"))
check(d.get("status") == "FAILED" and d.get("error") == "States.ExceedToleratedFailureThreshold",
      "a failing Map Run with a ResultWriter: FAILED %s" % d.get("error"))
run_id = arn.rsplit(":", 1)[-1]
try:
    man = json.load(open(os.path.join(bdir, "results", run_id, "manifest.json")))
except Exception as e:
    man = {}
    print("     manifest of %s: %s" % (arn, e))
rf = man.get("ResultFiles", {})
def records(status):
    out, names = [], []
    for f in rf.get(status, []):
        path = os.path.join(bdir, f["Key"])
        check(os.path.getsize(path) == f["Size"] and f["Key"] == "results/%s/%s_%d.json" % (run_id, status, len(names)),
              "%s: %d bytes, as the manifest says" % (f["Key"], f["Size"]))
        out += [json.loads(l) for l in open(path)] if f["Key"].endswith(".jsonl") else json.load(open(path))
        names.append(f["Key"])
    return out
ok, failed, pending = records("SUCCEEDED"), records("FAILED"), records("PENDING")
check(sorted(json.loads(r["Input"])["i"] for r in ok) == [0, 1, 2, 3, 4] and all(r["Status"] == "SUCCEEDED" for r in ok)
      and len(rf.get("SUCCEEDED", [])) == 2,
      "SUCCEEDED_0.json (4 written while the run went on) and _1.json: the 5 children that succeeded")
check(len(failed) == 1 and failed[0]["Status"] == "FAILED" and failed[0]["Error"] == "Item.Bad" and
      failed[0]["Cause"] == "item 5" and json.loads(failed[0]["Input"])["i"] == 5,
      "FAILED_0.json: the failed child with its error and cause")
check(sorted(json.loads(r["Input"])["i"] for r in pending) == [6, 7] and
      all(r["Status"] == "ABORTED" and "StopDate" not in r and "Output" not in r for r in pending),
      "PENDING_0.json: the 2 children still running when the run failed (%s)" % [r.get("Name") for r in pending])
try:
    mr = json.load(open(tmp + "/failing-run.json"))
except Exception:
    mr = {}
c = mr.get("itemCounts", {})
check(mr.get("status") == "FAILED" and [c.get(k) for k in ("succeeded", "failed", "aborted", "resultsWritten")] ==
      [5, 1, 2, 8], "describe-map-run: FAILED, 5 succeeded, 1 failed, 2 aborted, 8 results written (%s)" % c)
sys.exit(1 if bad else 0)
PY
run thumbnails-csv missing '{"bucket": "photos", "list": "lists/none.csv"}'
python3 - "$TMP/missing.json" <<'PY' && ok "missing object: States.ItemReaderFailed" || fail "missing object: $(head -c 400 "$TMP/missing.json")"
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d.get("status") == "FAILED" and d.get("error") == "States.ItemReaderFailed" and
         "Storage.NotFound" in (d.get("cause") or "") else 1)
PY

# ItemReader over an S3 Inventory (ReaderConfig ManifestType S3_INVENTORY or
# InputType MANIFEST): a manifest.json whose files are gzip-compressed CSV
# without a header, keyed by its fileSchema. All N photos in 3 data files
# (the second two gzip members) through Pass children come back whole and
# in order, each row an object of strings; the example makes a thumbnail of
# each of the 60 photos a second inventory lists; a manifest that is not
# JSON, a schema without Key, a missing data file and a corrupt one fail the
# Map with States.ItemReaderFailed naming what is wrong.
python3 - "$TMP" "$TMP/photos" $N <<'PY' || fail "inventory generation"
import gzip, json, os, sys
tmp, photos, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
schema = ["Bucket", "Key", "Size", "LastModifiedDate", "ETag", "StorageClass"]
def row(i):
    size = os.path.getsize(os.path.join(photos, "photo-%04d.jpg" % i))
    return ["photos", "raw/photo-%04d.jpg" % i, str(size), "2026-12-05T10:%02d:00.000Z" % (i % 60),
            "%032x" % i, "STANDARD"]
def csv(rows):
    return "".join(",".join('"%s"' % f for f in r) + "\n" for r in rows).encode()
def inventory(name, parts, members=()):
    d = os.path.join(tmp, "inventory", name)
    os.makedirs(os.path.join(d, "data"), exist_ok=True)
    files = []
    for j, rows in enumerate(parts):
        key = "inventory/%s/data/part-%d.csv.gz" % (name, j)
        text = csv(rows)
        if j in members:  # two gzip members, as gzip(1) concatenates them
            half = text.index(b"\n", len(text) // 2) + 1
            blob = gzip.compress(text[:half], mtime=0) + gzip.compress(text[half:], mtime=0)
        else:
            blob = gzip.compress(text, mtime=0)
        open(os.path.join(tmp, key), "wb").write(blob)
        files.append({"key": key, "size": len(blob), "MD5checksum": "0" * 32})
    man = {"sourceBucket": "photos", "destinationBucket": "arn:aws:s3:::photos", "version": "2016-11-30",
           "creationTimestamp": "1764928800000", "fileFormat": "CSV", "fileSchema": ", ".join(schema),
           "files": files}
    json.dump(man, open(os.path.join(d, "manifest.json"), "w"))
    return man
rows = [row(i) for i in range(n)]
inventory("all", [rows[:150], rows[150:300], rows[300:]], members=(1,))
json.dump([dict(zip(schema, r)) for r in rows], open(tmp + "/inventory-all.json", "w"))
inventory("some", [rows[:25], rows[25:60]])
bad = os.path.join(tmp, "inventory", "bad")
os.makedirs(bad, exist_ok=True)
open(bad + "/notjson.json", "w").write('{"fileSchema": "Bucket, Key", "files": [')
json.dump({"fileFormat": "CSV", "fileSchema": "Bucket, Size", "files": []}, open(bad + "/nokey.json", "w"))
json.dump({"fileFormat": "CSV", "fileSchema": "Bucket, Key",
           "files": [{"key": "inventory/bad/data/gone.csv.gz"}]}, open(bad + "/missing.json", "w"))
json.dump({"fileFormat": "CSV", "fileSchema": "Bucket, Key",
           "files": [{"key": "inventory/bad/data/corrupt.csv.gz"}]}, open(bad + "/corrupt.json", "w"))
blob = bytearray(gzip.compress(csv(rows), mtime=0))
blob[len(blob) // 2] ^= 0x55
os.makedirs(bad + "/data", exist_ok=True)
open(bad + "/data/corrupt.csv.gz", "wb").write(bytes(blob))
d = {"StartAt": "M", "States": {"M": {"Type": "Map", "End": True,
     "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "MANIFEST"},
                    "Parameters": {"Bucket": "photos", "Key.$": "$.manifest"}},
     "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                       "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}}}}
json.dump(d, open(tmp + "/inventory.asl.json", "w"))
PY
(cd "$TMP" && find inventory -type f) | while read -r f; do
        if [ "$MODE" = s3 ]; then
                s3_put "$TMP/$f" photos "$f" || fail "upload of $f"
        else
                mkdir -p "$BDIR/$(dirname "$f")" && cp "$TMP/$f" "$BDIR/$f"
        fi
done
"$STACK" register inventory "$TMP/inventory.asl.json" >/dev/null || fail "register inventory"
"$STACK" register thumbnails-inventory "$SRC/examples/distributed-map/thumbnails-from-inventory.asl.json" \
        >/dev/null || fail "register thumbnails-inventory"
run inventory inv-all '{"manifest": "inventory/all/manifest.json"}' && ok "inventory SUCCEEDED" ||
        fail "inventory: $(head -c 600 "$TMP/inv-all.json")"
run thumbnails-inventory inv-thumbs '{"bucket": "photos", "manifest": "inventory/some/manifest.json"}' &&
        ok "thumbnails-inventory SUCCEEDED" || fail "thumbnails-inventory: $(head -c 600 "$TMP/inv-thumbs.json")"
for b in notjson nokey missing corrupt; do
        run inventory inv-$b "{\"manifest\": \"inventory/bad/$b.json\"}"
done
python3 - "$TMP" "$BDIR" <<'PY' || FAILS=$((FAILS + 1))
import json, os, sys
tmp, bdir = sys.argv[1], sys.argv[2]
bad = 0
def check(cond, msg):
    global bad
    print(("ok   " if cond else "FAIL: ") + msg)
    bad += not cond
def desc(name):
    return json.load(open(tmp + "/" + name + ".json"))
want = json.load(open(tmp + "/inventory-all.json"))
got = json.loads(desc("inv-all").get("output") or "null")
check(got == want, "inventory: the %d rows of 3 data files, in order, keyed by the fileSchema (%s)" %
      (len(want), (got or [None])[0]))
out = json.loads(desc("inv-thumbs").get("output") or "{}")
th = out.get("thumbnails", [])
check(out.get("count") == 60 and [t.get("key") for t in th] == ["raw/photo-%04d.jpg" % i for i in range(60)] and
      all(t.get("thumbnail", {}).get("width") == 64 and
          os.path.isfile(os.path.join(bdir, t["thumbnail"].get("key", "-"))) for t in th),
      "thumbnails-inventory: 60 thumbnails of the rows' Bucket and Key, each in the bucket")
for name, what in (("notjson", "the manifest is not JSON"), ("nokey", "no Key column"),
                   ("missing", "the manifest's data file inventory/bad/data/gone.csv.gz"),
                   ("corrupt", "the manifest's data file inventory/bad/data/corrupt.csv.gz")):
    d = desc("inv-" + name)
    check(d.get("status") == "FAILED" and d.get("error") == "States.ItemReaderFailed" and
          what in (d.get("cause") or ""), "inventory %s: States.ItemReaderFailed: %s" % (name, d.get("cause")))
sys.exit(1 if bad else 0)
PY

# Children as executions of their own (ExecutionType STANDARD): each a
# durable execution with its id, status and history, run by the ordinary
# machinery; ListExecutions by the Map Run lists them (paged, by status),
# not by the state machine; DescribeExecution and GetExecutionHistory of a
# child; a child that fails is FAILED, and the run's failure stops the
# ones still running (ABORTED).
python3 - "$EX" "$TMP" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
m = d["States"]["Thumbnails"]
m["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] = "STANDARD"
m["MaxConcurrency"] = 10
json.dump(d, open(sys.argv[2] + "/thumbs-std.asl.json", "w"))
f = json.load(open(sys.argv[2] + "/items-failing.asl.json"))
f["States"]["M"]["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] = "STANDARD"
del f["States"]["M"]["ResultWriter"]
f["States"]["M"]["MaxConcurrency"] = 8
# the others wait, so that the failure finds them running
f["States"]["M"]["ItemProcessor"]["States"]["P"] = {"Type": "Wait", "Seconds": 30, "End": True}
json.dump(f, open(sys.argv[2] + "/std-failing.asl.json", "w"))
PY
"$STACK" register thumbs-std "$TMP/thumbs-std.asl.json" >/dev/null || fail "register thumbs-std"
"$STACK" register std-failing "$TMP/std-failing.asl.json" >/dev/null || fail "register std-failing"
run thumbs-std std '{"bucket": "photos", "prefix": "raw/photo-00"}' && ok "thumbs-std SUCCEEDED" ||
        fail "thumbs-std: $(tail -3 "$TMP/std.err") $(head -c 600 "$TMP/std.json")"
"$CLI" list-map-runs --execution-arn thumbs-std:std >"$TMP/std-runs.json" 2>&1 || fail "list-map-runs: $(cat "$TMP/std-runs.json")"
MRS=$(first_map_run "$TMP/std-runs.json")
# every page of the run's children, 30 at a time
token= page=0
: >"$TMP/std-children.jsonl"
while [ $page -lt 20 ]; do
        "$CLI" list-executions --map-run-arn "$MRS" --max-results 30 ${token:+--next-token "$token"} \
                >"$TMP/std-page.json" 2>"$TMP/std-page.err" || { fail "list-executions --map-run-arn: $(cat "$TMP/std-page.err")"; break; }
        python3 -c 'import json,sys; [print(json.dumps(e)) for e in json.load(open(sys.argv[1]))["executions"]]' \
                "$TMP/std-page.json" >>"$TMP/std-children.jsonl"
        token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("nextToken", ""))' "$TMP/std-page.json")
        page=$((page + 1))
        [ -n "$token" ] || break
done
"$CLI" list-executions --map-run-arn "$MRS" --status-filter FAILED >"$TMP/std-failed.json" 2>&1 || fail "status filter"
"$CLI" list-executions --state-machine thumbs-std >"$TMP/std-sm.json" 2>&1 || fail "list-executions --state-machine"
CHILD=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["executionArn"])' "$TMP/std-children.jsonl" 2>/dev/null)
"$CLI" describe-execution --execution-arn "$CHILD" >"$TMP/std-child.json" 2>&1 || fail "describe-execution of a child: $(cat "$TMP/std-child.json")"
"$CLI" get-execution-history --execution-arn "$CHILD" >"$TMP/std-child-history.json" 2>&1 ||
        fail "get-execution-history of a child: $(cat "$TMP/std-child-history.json")"
python3 - "$TMP" "$MRS" "$CHILD" <<'PY' || FAILS=$((FAILS + 1))
import json, sys
tmp, run, child = sys.argv[1], sys.argv[2], sys.argv[3]
bad = 0
def check(cond, msg):
    global bad
    print(("ok   " if cond else "FAIL: ") + msg)
    bad += not cond
out = json.loads(json.load(open(tmp + "/std.json")).get("output") or "{}")
check(out.get("count") == 100, "STANDARD children: 100 thumbnails (%s)" % out.get("count"))
kids = [json.loads(l) for l in open(tmp + "/std-children.jsonl")]
names = {k["name"] for k in kids}
label = "imgflow:execution:thumbs-std/thumbnails:"
check(len(kids) == 100 and len(names) == 100, "list-executions --map-run-arn: 100 children in pages of 30 (%d)" % len(kids))
check(all(k["status"] == "SUCCEEDED" and k["executionArn"].startswith(label) and
          k["stateMachineArn"] == "imgflow:stateMachine:thumbs-std/thumbnails" and k.get("mapRunArn") == run
          for k in kids), "each SUCCEEDED, named as a Map Run's child (%s)" % (kids[0] if kids else "-"))
check(all(k.get("itemCount") == 1 for k in kids),
      "itemCount 1 each (no ItemBatcher): %s" % sorted({k.get("itemCount") for k in kids}, key=str))
starts = [k["startDate"] for k in kids]
check(starts == sorted(starts, reverse=True), "newest first")
check(json.load(open(tmp + "/std-failed.json"))["executions"] == [], "--status-filter FAILED: none")
sm = json.load(open(tmp + "/std-sm.json"))["executions"]
check([e["name"] for e in sm] == ["std"], "list-executions --state-machine: the parent only (%s)" % [e["name"] for e in sm])
d = json.load(open(tmp + "/std-child.json"))
check(d.get("executionArn") == child and d.get("status") == "SUCCEEDED" and d.get("mapRunArn") == run and
      "photo-00" in json.loads(d.get("input", "{}")).get("key", "") and json.loads(d.get("output", "{}")).get("size", 0) > 0,
      "describe-execution of a child: its input, output and Map Run")
types = [e["type"] for e in json.load(open(tmp + "/std-child-history.json"))["events"]]
check(types[:3] == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled"] and types[-1] == "ExecutionSucceeded",
      "the child's own history: %s" % ",".join(types))
sys.exit(1 if bad else 0)
PY
run std-failing stdfail '{}'
"$CLI" list-map-runs --execution-arn std-failing:stdfail >"$TMP/stdfail-runs.json" 2>&1 || fail "list-map-runs stdfail"
MRF2=$(first_map_run "$TMP/stdfail-runs.json")
# the children stopped with the run end ABORTED soon after it (poll, bounded)
for i in $(seq 1 120); do
        "$CLI" list-executions --map-run-arn "$MRF2" --status-filter RUNNING >"$TMP/stdfail-running.json" 2>&1
        grep -q '"executionArn"' "$TMP/stdfail-running.json" || break
        sleep 0.5
done
for st in FAILED ABORTED SUCCEEDED RUNNING; do
        "$CLI" list-executions --map-run-arn "$MRF2" --status-filter $st >"$TMP/stdfail-$st.json" 2>&1 || fail "list $st"
done
# a child is redriven with its parent, not on its own
FCHILD=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["executions"][0]["executionArn"])' \
        "$TMP/stdfail-FAILED.json" 2>/dev/null)
"$CLI" redrive-execution --execution-arn "$FCHILD" >"$TMP/stdfail-redrive.out" 2>&1
grep -q "ExecutionNotRedrivable" "$TMP/stdfail-redrive.out" && ok "redrive-execution of a child: ExecutionNotRedrivable" ||
        fail "redrive-execution of a child: $(cat "$TMP/stdfail-redrive.out")"
python3 - "$TMP" <<'PY' || FAILS=$((FAILS + 1))
import json, sys
tmp = sys.argv[1]
n = lambda st: [json.loads(json.load(open(tmp + "/stdfail-" + st + ".json"))["executions"][i]["name"].rsplit("-", 1)[1])
                for i in range(len(json.load(open(tmp + "/stdfail-" + st + ".json"))["executions"]))]
d = json.load(open(tmp + "/stdfail.json"))
ok = (d.get("status") == "FAILED" and n("FAILED") == [5] and sorted(n("ABORTED")) == [0, 1, 2, 3, 4, 6, 7] and
      not n("RUNNING") and not n("SUCCEEDED"))
print(("ok   " if ok else "FAIL: ") + "a child fails the run (%s): child 5 FAILED, the running ones ABORTED %s, succeeded %s, running %s"
      % (d.get("error"), sorted(n("ABORTED")), sorted(n("SUCCEEDED")), n("RUNNING")))
sys.exit(0 if ok else 1)
PY

# StopExecution of a child: it ends ABORTED and its item fails (States.Aborted),
# within the tolerance here, while its siblings finish.
cat >"$TMP/std-stop.asl.json" <<'ASL'
{"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items", "ToleratedFailureCount": 1,
  "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
    "StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.s", "End": true}}},
  "End": true}}}
ASL
"$STACK" register std-stop "$TMP/std-stop.asl.json" >/dev/null || fail "register std-stop"
"$CLI" start-execution --state-machine std-stop --name stopchild --input '{"items": [{"s": 1}, {"s": 120}, {"s": 1}]}' \
        >/dev/null 2>"$TMP/stopchild.err" || fail "start std-stop: $(cat "$TMP/stopchild.err")"
SLOW=
for i in $(seq 1 120); do
        "$CLI" list-map-runs --execution-arn std-stop:stopchild >"$TMP/stopchild-runs.json" 2>/dev/null
        MRS3=$(first_map_run "$TMP/stopchild-runs.json")
        if [ -n "$MRS3" ]; then
                "$CLI" list-executions --map-run-arn "$MRS3" --status-filter RUNNING >"$TMP/stopchild-running.json" 2>/dev/null
                SLOW=$(python3 -c 'import json,sys; print(*[e["executionArn"] for e in json.load(open(sys.argv[1]))["executions"] if e["name"].endswith("-1")])' \
                        "$TMP/stopchild-running.json" 2>/dev/null)
        fi
        [ -n "$SLOW" ] && break
        sleep 0.5
done
if [ -n "$SLOW" ]; then
        "$CLI" stop-execution --execution-arn "$SLOW" >"$TMP/stopchild-stop.out" 2>&1 ||
                fail "stop-execution of a child: $(cat "$TMP/stopchild-stop.out")"
else
        fail "the slow child of std-stop never ran"
fi
wait_ended std-stop:stopchild "$TMP/stopchild.json"
"$CLI" describe-execution --execution-arn "${SLOW:-none:none}" >"$TMP/stopchild-slow.json" 2>/dev/null
python3 - "$TMP" <<'PY' || FAILS=$((FAILS + 1))
import json, sys
tmp = sys.argv[1]
def load(name):
    try:
        return json.load(open(tmp + "/" + name))
    except Exception:
        return {}
d, slow = load("stopchild.json"), load("stopchild-slow.json")
out = json.loads(d.get("output") or "null")
ok = (d.get("status") == "SUCCEEDED" and isinstance(out, list) and len(out) == 3 and
      isinstance(out[1], dict) and out[1].get("Error") == "States.Aborted" and slow.get("status") == "ABORTED")
print(("ok   " if ok else "FAIL: ") + "stop-execution of a child: it ends %s, its item fails %s, the run %s" %
      (slow.get("status"), out[1] if isinstance(out, list) and len(out) > 1 else out, d.get("status")))
sys.exit(0 if ok else 1)
PY

# A redrive of the parent redrives its failed child itself: the child whose
# image is missing fails the run; the image is put in place and the parent
# redriven; the same child execution runs again (redriveCount 1) and the run
# SUCCEEDS, with MapRunRedriven in the parent's history.
python3 - "$EX" "$TMP" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
m = d["States"]["Thumbnails"]
del m["ItemReader"]
m["ItemsPath"] = "$.items"
m["ItemSelector"] = {"bucket": "photos", "key.$": "$$.Map.Item.Value", "width": 32}
m["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] = "STANDARD"
m.pop("ToleratedFailurePercentage", None)
json.dump(d, open(sys.argv[2] + "/std-redrive.asl.json", "w"))
PY
"$STACK" register std-redrive "$TMP/std-redrive.asl.json" >/dev/null || fail "register std-redrive"
rm -f "$BDIR/raw/late.jpg"
run std-redrive redrive '{"bucket": "photos", "prefix": "raw/", "items": ["raw/photo-0001.jpg", "raw/late.jpg", "raw/photo-0002.jpg"]}'
if [ "$MODE" = s3 ]; then
        s3_put "$TMP/photos/photo-0003.jpg" photos raw/late.jpg || fail "upload of raw/late.jpg"
else
        cp "$BDIR/raw/photo-0003.jpg" "$BDIR/raw/late.jpg"
fi
"$CLI" redrive-execution --execution-arn std-redrive:redrive >"$TMP/redrive.out" 2>&1 ||
        fail "redrive-execution of the parent: $(cat "$TMP/redrive.out")"
wait_ended std-redrive:redrive "$TMP/redrive2.json"
"$CLI" get-execution-history --execution-arn std-redrive:redrive >"$TMP/redrive-history.json" 2>&1
"$CLI" list-map-runs --execution-arn std-redrive:redrive >"$TMP/redrive-runs.json" 2>&1
MRR=$(first_map_run "$TMP/redrive-runs.json")
"$CLI" list-executions --map-run-arn "${MRR:-none}" >"$TMP/redrive-children.json" 2>&1
python3 - "$TMP" <<'PY' || FAILS=$((FAILS + 1))
import json, sys
tmp = sys.argv[1]
def load(name):
    try:
        return json.load(open(tmp + "/" + name))
    except Exception:
        return {}
first, again = load("redrive.json"), load("redrive2.json")
types = [e["type"] for e in load("redrive-history.json").get("events", [])]
kids = {e["name"].rsplit("-", 1)[1]: e for e in load("redrive-children.json").get("executions", [])}
out = json.loads(again.get("output") or "{}")
ok = (first.get("status") == "FAILED" and again.get("status") == "SUCCEEDED" and out.get("count") == 3 and
      "MapRunRedriven" in types and sorted(kids) == ["0", "1", "2"] and
      kids["1"]["status"] == "SUCCEEDED" and kids["1"].get("redriveCount") == 1)
print(("ok   " if ok else "FAIL: ") + "redrive of the parent: first %s (%s), then %s with %s thumbnails; "
      "MapRunRedriven %s; the failed child redriven: %s" % (
          first.get("status"), first.get("error"), again.get("status"), out.get("count"),
          "MapRunRedriven" in types, {k: (v["status"], v.get("redriveCount")) for k, v in kids.items()}))
sys.exit(0 if ok else 1)
PY

# MapChildEnded comes on the jobs topic, which producers write too: a forged
# end of a running child, and one of a child that does not exist, change
# nothing (the child's own record decides, coordinator-work.c), and the
# real ends still count. Each child waits its item's seconds (10 and 11),
# long enough to be running still when the forged ends come, even on a
# loaded machine.
cat >"$TMP/forged.asl.json" <<'EOF'
{"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": {
  "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
  "StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$", "End": true}}}, "End": true}}}
EOF
"$STACK" register forged "$TMP/forged.asl.json" >/dev/null || fail "register forged"
"$CLI" start-execution --state-machine forged --name f1 --input '{"items": [10, 11]}' >"$TMP/f1-start.json" 2>&1 ||
        fail "start forged:f1: $(cat "$TMP/f1-start.json")"
MRG=
for i in $(seq 1 40); do
        "$CLI" list-map-runs --execution-arn forged:f1 >"$TMP/f1-runs.json" 2>/dev/null
        MRG=$(first_map_run "$TMP/f1-runs.json")
        if [ -n "$MRG" ]; then
                "$CLI" list-executions --map-run-arn "$MRG" --status-filter RUNNING >"$TMP/f1-kids.json" 2>/dev/null
                [ "$(grep -c '"executionArn"' "$TMP/f1-kids.json")" = 2 ] && break
        fi
        sleep 0.25
done
# A FAILED end of a child with no record counts only when the child's start
# was refused (the refusal is kept, coordinator-work.c). The first child's
# record, moved away for a moment, stands for a child whose start is still
# on its way: a forged FAILED for it is refused.
K0=$(python3 -c 'import json, sys; print(sorted(e["name"] for e in json.load(open(sys.argv[1]))["executions"])[0])' \
        "$TMP/f1-kids.json")
redis-cli -p "$REDIS_PORT" RENAME "imgflow:{forged:$K0}:exec" "imgflow:{forged:$K0}:exec-away" >/dev/null ||
        fail "move the record of forged:$K0 away"
printf 'forged:f1|{"v": 1, "type": "MapChildEnded", "executionId": "forged:f1", "childName": "%s", "mapRunArn": "%s", "status": "FAILED", "error": "Forged", "startDate": 1, "stopDate": 2}\n' \
        "$K0" "$MRG" | kcat -P -b "$BOOTSTRAP" -t imgflow.jobs -K '|' 2>>"$TMP/kcat.err"
for i in $(seq 1 80); do
        grep -q "MapChildEnded of child $K0 (FAILED) refused: the child execution does not exist" \
                "$IMGFLOW_STACK_DIR"/logs/coordinator-*.log && break
        sleep 0.25
done
redis-cli -p "$REDIS_PORT" RENAME "imgflow:{forged:$K0}:exec-away" "imgflow:{forged:$K0}:exec" >/dev/null ||
        fail "move the record of forged:$K0 back"
grep -q "MapChildEnded of child $K0 (FAILED) refused: the child execution does not exist" \
        "$IMGFLOW_STACK_DIR"/logs/coordinator-*.log &&
        ok "refused and logged: a FAILED end of a child with no record, whose start was not refused" ||
        fail "no refusal logged for a FAILED end of a child with no record"
# A child whose start is refused keeps its refusal before its FAILED end
# goes to the parent, which accepts that end (here a start written by hand,
# of an ItemProcessor that does not exist, for a child the parent never
# started: its end then changes nothing).
K5=${MRG##*:}-5
printf 'forged:%s|{"v": 1, "type": "StartExecution", "stateMachine": "forged:1", "name": "%s", "input": {}, "parentExecutionId": "forged:f1", "mapRunArn": "%s", "itemProcessor": "/States/Nope", "childIndex": 5}\n' \
        "$K5" "$K5" "$MRG" | kcat -P -b "$BOOTSTRAP" -t imgflow.jobs -K '|' 2>>"$TMP/kcat.err"
for i in $(seq 1 40); do
        grep -q "Child execution forged:$K5 reported FAILED to forged:f1" "$IMGFLOW_STACK_DIR"/logs/coordinator-*.log &&
                break
        sleep 0.25
done
[ "$(redis-cli -p "$REDIS_PORT" GET "imgflow:{forged:$K5}:refused")" = "$(printf 'forged:f1\n%s' "$MRG")" ] &&
        ok "a refused child start keeps its refusal for its parent and Map Run, then reports FAILED" ||
        fail "no refusal kept for forged:$K5: $(grep "forged:$K5" "$IMGFLOW_STACK_DIR"/logs/coordinator-*.log | tail -3)"
python3 - "$TMP/f1-kids.json" "$MRG" <<'PY' | kcat -P -b "$BOOTSTRAP" -t imgflow.jobs -K '|' 2>>"$TMP/kcat.err"
import json, sys, time
kids = sorted(e["name"] for e in json.load(open(sys.argv[1]))["executions"])
run, now = sys.argv[2], int(time.time() * 1000)
for name in kids[:1] + [run.rsplit(":", 1)[1] + "-7"]:
    print("forged:f1|" + json.dumps({"v": 1, "type": "MapChildEnded", "executionId": "forged:f1", "childName": name,
                                     "mapRunArn": run, "status": "SUCCEEDED", "output": "forged",
                                     "startDate": now - 10, "stopDate": now}))
PY
wait_ended forged:f1 "$TMP/f1.json"
if python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print("     %s %s" % (d.get("status"), d.get("output")))
sys.exit(0 if d.get("status") == "SUCCEEDED" and json.loads(d.get("output") or "null") == [10, 11] else 1)' "$TMP/f1.json"; then
        ok "forged MapChildEnded: the parent's output is its children's own ([10, 11])"
else
        fail "forged MapChildEnded changed the parent: $(head -c 300 "$TMP/f1.json")"
fi
grep -q "MapChildEnded of child $K5 .* refused" "$IMGFLOW_STACK_DIR"/logs/coordinator-*.log &&
        fail "the FAILED end of a refused start was refused" ||
        ok "the FAILED end of a refused start is accepted by its parent (its refusal is kept)"
for why in "the child execution is RUNNING" "the child execution does not exist"; do
        grep -q "MapChildEnded of child .* refused: $why" "$IMGFLOW_STACK_DIR"/logs/coordinator-*.log &&
                ok "refused and logged: $why" || fail "no refusal logged: $why"
done

"$STACK" stop >"$TMP/stop.log" 2>&1 && ok "stop" || fail "stop: $(cat "$TMP/stop.log")"
[ $FAILS = 0 ] && echo "PASS" || echo "$FAILS failed"
exit $((FAILS > 0))
