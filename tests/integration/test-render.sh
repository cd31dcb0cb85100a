#!/bin/sh
# `imgflow render` on real runs: the image pipeline's mock test cases run
# with `imgflow run --history`, drawn as SVG by Graphviz, and each state's
# node carries the class (and colour) of what happened to it; the JSON
# summary names the retries and the error; a bad history is refused.
#   test-render.sh IMGFLOW SOURCE_ROOT
set -u
IMGFLOW=$1; SRC=$2
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
EX=$SRC/examples/image-pipeline
fail=0

run_case() { # CASE: the history of that test case in $T/CASE.jsonl
        "$IMGFLOW" run "$EX/image-pipeline.asl.json" --input-file "$EX/input.json" --mock-config "$EX/mocks.json" \
                --test-case "$1" --name image-pipeline --history >/dev/null 2>"$T/$1.jsonl"
}

# node SVG STATE STATUS: the node of STATE has class "state STATUS"
node() {
        if ! grep -q "<g id=\"state&#45;$2\" class=\"node state $3\">" "$1"; then
                echo "FAIL $(basename "$1"): $2 is not $3:"; grep "state&#45;$2\"" "$1" | sed 's/^/    /'; fail=1
        fi
}

run_case TransientFailureExhausted
if ! "$IMGFLOW" render "$EX/image-pipeline.asl.json" --history "$T/TransientFailureExhausted.jsonl" -o "$T/exhausted.svg"; then
        echo "FAIL render exited $?"; exit 1
fi
node "$T/exhausted.svg" ValidateImage succeeded
node "$T/exhausted.svg" IsImageValid succeeded
node "$T/exhausted.svg" ProcessImage caught
node "$T/exhausted.svg" Resize failed
node "$T/exhausted.svg" ApplyFilters succeeded
node "$T/exhausted.svg" NotifyFailure succeeded
node "$T/exhausted.svg" Failed failed
node "$T/exhausted.svg" OptimizeImage not\&#45\;reached
grep -q 'fill="#ffcdd2"' "$T/exhausted.svg" || { echo "FAIL: no failed (red) fill"; fail=1; }
grep -q '<title>cluster_n' "$T/exhausted.svg" || { echo "FAIL: the Parallel is not a cluster"; fail=1; }
grep -q '>Catch: States.ALL</text>' "$T/exhausted.svg" || { echo "FAIL: no Catch label"; fail=1; }

"$IMGFLOW" render "$EX/image-pipeline.asl.json" --history "$T/TransientFailureExhausted.jsonl" --format json >"$T/s.json" ||
        { echo "FAIL render --format json"; fail=1; }
python3 - "$T/s.json" <<'PY' || fail=1
import json, sys
s = json.load(open(sys.argv[1]))
r = s["states"]["Resize"]
want = {"status": "failed", "retries": 3, "error": "Lambda.TooManyRequestsException", "cause": "Rate exceeded"}
got = {k: r.get(k) for k in want}
if s["execution"] != "FAILED" or got != want:
    print("FAIL summary: %s %s" % (s["execution"], got)); sys.exit(1)
PY

run_case HappyPath
"$IMGFLOW" render "$EX/image-pipeline.asl.json" --history "$T/HappyPath.jsonl" -o "$T/happy.svg" || { echo "FAIL happy"; fail=1; }
for s in ValidateImage IsImageValid ProcessImage Resize ApplyFilters OptimizeImage NotifySuccess Done; do
        node "$T/happy.svg" $s succeeded
done
node "$T/happy.svg" NotifyFailure not\&#45\;reached

# The JSONata pipeline and the Map example draw; no history: all not reached.
"$IMGFLOW" render "$EX/image-pipeline-jsonata.asl.json" -o "$T/jsonata.svg" || { echo "FAIL jsonata"; fail=1; }
node "$T/jsonata.svg" ValidateImage not\&#45\;reached
"$IMGFLOW" run "$SRC/examples/map/thumbnails.asl.json" --input-file "$SRC/examples/map/input.json" --history \
        >/dev/null 2>"$T/map.jsonl"
"$IMGFLOW" render "$SRC/examples/map/thumbnails.asl.json" --history "$T/map.jsonl" --format dot >"$T/map.dot" ||
        { echo "FAIL map"; fail=1; }
grep -q 'label="Item processor"' "$T/map.dot" || { echo "FAIL: the Map's processor is not a cluster"; fail=1; }

# Refusals: not a history (exit 2, named), an invalid definition (exit 1).
echo 'nothing here' >"$T/bad"
"$IMGFLOW" render "$EX/image-pipeline.asl.json" --history "$T/bad" -o "$T/x.svg" 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q "not a history: no history events in it" "$T/err" || { echo "FAIL bad history: $rc"; cat "$T/err"; fail=1; }
echo '{"StartAt":"X","States":{}}' >"$T/bad.asl.json"
"$IMGFLOW" render "$T/bad.asl.json" -o "$T/x.svg" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] || { echo "FAIL invalid definition: exit $rc"; cat "$T/err"; fail=1; }

[ $fail -eq 0 ] && echo "render: all checks passed"
exit $fail
