#!/bin/bash
# SPDX-License-Identifier: MIT
# Run every benchmark (each starts and stops its own local stack), then
# write docs/benchmarks.md and docs/benchmarks.png from the results.
#   tests/bench/run-benchmarks.sh
# Exit status: non-zero if any benchmark had a failed run.
set -u
cd "$(dirname "$0")/../.." || exit 1
rc=0
for b in throughput orchestration memory scale; do
        echo
        tests/bench/bench-$b.sh || { echo "bench-$b: a run failed"; rc=1; }
done
R=${BENCH_RESULTS:-tests/bench/results}
python3 tests/bench/plot.py "$R" docs/benchmarks.png || rc=1
python3 tests/bench/report.py "$R" docs/benchmarks.md docs/benchmarks.png || rc=1
exit $rc
