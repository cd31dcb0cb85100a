#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The SAM image processor (examples/sam-image-processor: Python handlers with
# boto3 and Pillow on imgflow-lambda) against the same definition on the
# built-in image.validate and image.resize (libvips on imgflow-worker), on
# the same stack with an S3-compatible store (versitygw), in the same run:
# BENCH_ROUNDS rounds (default 5), each running BENCH_PHOTOS photos (default
# 8; 1,024 to 2,000 pixels wide JPEGs) and a corrupt JPEG through one
# pipeline and then the other, the order alternating from round to round.
# imgflow-lambda runs 2 processes per function (4 in all), imgflow-worker 4
# threads: the same concurrency.
#
# Reported: every round's wall time of each pipeline (all executions started
# at once, until the last one ended), then the medians and the median of
# the rounds' ratios (lambda / built-in). The test's own checks run too
# (both pipelines' results agree), on the first round.
#
#   tests/bench/bench-sam.sh [BUILD_DIR]     (default build)
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd)
OUT=$(mktemp /tmp/imgflow-bench-sam.XXXXXX)
trap 'rm -f "$OUT"' EXIT
BENCH_ROUNDS=${BENCH_ROUNDS:-5} SAM_PHOTOS=${BENCH_PHOTOS:-8} \
        "$SRC/examples/sam-image-processor/test-sam-image-processor.sh" "$SRC" "$BUILD" >"$OUT" 2>&1
rc=$?
grep -E "^(bench|ok|FAIL|photo|corrupt)" "$OUT"
[ $rc = 0 ] || { tail -40 "$OUT"; exit $rc; }
python3 - "$OUT" <<'PY'
import statistics, sys
r = {}
for line in open(sys.argv[1]):
    p = line.split()
    if p and p[0] == "bench":
        r.setdefault(int(p[1]), {})[p[2]] = float(p[3])
lam = [r[k]["lambda"] for k in sorted(r)]
bi = [r[k]["builtin"] for k in sorted(r)]
ratios = [r[k]["lambda"] / r[k]["builtin"] for k in sorted(r)]
for k in sorted(r):
    print("round %d: lambda %.2f s, built-in %.2f s, ratio %.2f" % (k, r[k]["lambda"], r[k]["builtin"],
                                                                  r[k]["lambda"] / r[k]["builtin"]))
print("median: lambda %.2f s, built-in %.2f s; median ratio %.2f" % (
    statistics.median(lam), statistics.median(bi), statistics.median(ratios)))
PY
