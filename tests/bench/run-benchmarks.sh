#!/bin/bash
# SPDX-License-Identifier: MIT
# Run every benchmark (each starts and stops its own local stack) on Apache
# Kafka and on librdkafka's mock cluster, one after the other for each
# benchmark (the same sitting, the same load on the machine), then write
# docs/benchmarks.md and docs/benchmarks.png from the results.
#   tests/bench/run-benchmarks.sh
#   BENCH_KAFKAS=real tests/bench/run-benchmarks.sh     (Apache Kafka only)
# Results: tests/bench/results/<kind>/. Exit status: non-zero if any
# benchmark had a failed run.
set -u
cd "$(dirname "$0")/../.." || exit 1
rc=0
KINDS=${BENCH_KAFKAS:-real mock}
R=${BENCH_RESULTS_ROOT:-tests/bench/results}
for b in throughput orchestration express jsonata distributed-map memory idle spread scale api sam; do
        for k in $KINDS; do
                echo
                echo "#### $b on $k Kafka"
                BENCH_KAFKA=$k BENCH_RESULTS=$R/$k tests/bench/bench-$b.sh || { echo "bench-$b ($k): a run failed"; rc=1; }
        done
done
python3 tests/bench/plot.py "$R/real" docs/benchmarks.png || rc=1
other=
for k in $KINDS; do [ "$k" != real ] && other=$R/$k; done
python3 tests/bench/report.py "$R/real" docs/benchmarks.md docs/benchmarks.png $other || rc=1
exit $rc
