#!/bin/sh
# SPDX-License-Identifier: MIT
#
# docs/benchmarks.md is what tests/bench/report.py writes from the committed
# results (tests/bench/results/real, and mock for the other column), as
# run-benchmarks.sh calls it. A page edited by hand, or report.py or a result
# changed without the page, fails here with the difference, so the page can
# always be written again from its results without losing a section.
set -eu
SRC=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
python3 "$SRC/tests/bench/report.py" "$SRC/tests/bench/results/real" "$out" \
        "$SRC/docs/benchmarks.png" "$SRC/tests/bench/results/mock" >/dev/null
if ! diff -u "$SRC/docs/benchmarks.md" "$out"; then
        echo "docs/benchmarks.md differs from report.py's page (above, - the page, + report.py)" >&2
        exit 1
fi
echo "docs/benchmarks.md is report.py's page"
