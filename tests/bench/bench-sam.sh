#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The SAM image processor (examples/sam-image-processor: Python handlers with
# boto3 and Pillow on imgflow-lambda) against the same definition on the
# built-in image.validate and image.resize (libvips on imgflow-worker), on
# one stack with an S3-compatible store (versitygw), in the same run:
# BENCH_ROUNDS rounds (default 5), each running BENCH_PHOTOS photos (default
# 16; JPEGs of 1,024 to 2,000 pixels wide) and a corrupt JPEG through one
# pipeline and then the other, the order alternating from round to round.
# imgflow-lambda runs 2 processes per function (4 in all), imgflow-worker 4
# threads: the same concurrency.
#
# Reported: every round's wall time of each pipeline (all executions started
# at once, until the last one ended), the medians and the median of the
# rounds' ratios (lambda / built-in), in $BENCH_RESULTS/sam.json
# (report.py's "Lambda handlers" section). The example's test runs its
# checks too (both pipelines' results agree), on the first round.
#
#   tests/bench/bench-sam.sh
#
# Exit status: non-zero if the example's test failed.
set -u
. "$(dirname "$0")/bench-lib.sh"
ROUNDS=${BENCH_ROUNDS:-5}
PHOTOS=${BENCH_PHOTOS:-16}
MACHINE=$(machine_json)
OUT=$BENCH_TMP/sam.out
BENCH_ROUNDS=$ROUNDS SAM_PHOTOS=$PHOTOS \
        "$BENCH_SRC/examples/sam-image-processor/test-sam-image-processor.sh" "$BENCH_SRC" "$IMGFLOW_BUILD" >"$OUT" 2>&1
rc=$?
grep -E "^(bench|ok|FAIL|photo|corrupt)" "$OUT"
[ $rc = 0 ] || { tail -40 "$OUT"; exit $rc; }
write_result sam "$(python3 - "$OUT" "$MACHINE" "$PHOTOS" <<'PY'
import json, statistics, sys
r = {}
for line in open(sys.argv[1]):
    p = line.split()
    if p and p[0] == "bench":
        r.setdefault(int(p[1]), {})[p[2]] = float(p[3])
rounds = [{"round": k, "lambdaSeconds": r[k]["lambda"], "builtinSeconds": r[k]["builtin"],
           "ratio": r[k]["lambda"] / r[k]["builtin"], "first": "lambda" if k % 2 else "builtin"}
          for k in sorted(r)]
print(json.dumps({
    "benchmark": "sam", "machine": json.loads(sys.argv[2]), "photos": int(sys.argv[3]),
    "executionsPerBatch": int(sys.argv[3]) + 1, "concurrency": 4, "rounds": rounds,
    "medianLambdaSeconds": statistics.median(x["lambdaSeconds"] for x in rounds),
    "medianBuiltinSeconds": statistics.median(x["builtinSeconds"] for x in rounds),
    "medianRatio": statistics.median(x["ratio"] for x in rounds)}))
PY
)"
