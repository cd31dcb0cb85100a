#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The cost of an inline Map per item: one execution of
# tests/integration/coordinator/big-map.asl.json (Map, MaxConcurrency 40,
# item i -> i + 1 by the test worker) over N items on the stack of
# test-coordinator-bigmap.sh (redis-server, Kafka, the test worker, one
# imgflow-coordinator), without a restart. Prints one JSON line: items,
# wall seconds from the start message to the end, the coordinator's CPU
# seconds (utime + stime from /proc) and ms per item, the stored document's
# bytes at the end. BENCH_PERF=FILE also records `perf record -g` of the
# coordinator into FILE; BENCH_COORD=PATH runs that imgflow-coordinator
# instead of BUILD's (another build's, for a comparison in one sitting).
#
#   bench-inline-map.sh N [BUILD]      (STACK_KAFKA=mock for the mock cluster)
set -u
N=${1:?items}
BUILD=$(cd "${2:-$(dirname "$0")/../../build}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
MOCK=$BUILD/tests/integration/test-mock-kafka
COORD=${BENCH_COORD:-$BUILD/coordinator/imgflow-coordinator}
STACK_BUILD=$BUILD
WORKER=$BUILD/tests/integration/test-coordinator-worker
COORD_EXTRA="history_limit = $((N * 8 + 1000))"
. "$SRC/tests/integration/coordinator-stack.sh"

cp "$SRC/tests/integration/coordinator/big-map.asl.json" "$TMP/sm/"
start_coordinator
wait_worker_assigned
wait_coordinator_assigned

cpu() { awk '{print $14 + $15}' "/proc/$COORD_PID/stat"; }
EID=big-map:b$N
perf_pid=
if [ -n "${BENCH_PERF:-}" ]; then
        perf record -g -o "$BENCH_PERF" -p "$COORD_PID" >/dev/null 2>&1 &
        perf_pid=$!
fi
c0=$(cpu)
t0=$(date +%s.%N)
python3 -c "import json; print(json.dumps({'v':1,'type':'StartExecution','stateMachine':'big-map','name':'b%d' % $N,'input':{'items':list(range($N))}}, separators=(',',':')))" |
        kcat -P -b "$BOOT" -t imgflow.jobs -k "$EID" 2>>"$TMP/kcat.err"
status=
deadline=$(($(date +%s) + ${BENCH_WAIT:-1200}))
while [ "$(date +%s)" -lt "$deadline" ]; do
        status=$(redis-cli -p "$RPORT" hget "imgflow:{$EID}:exec" status)
        [ -n "$status" ] && [ "$status" != RUNNING ] && break
        sleep 0.1
done
t1=$(date +%s.%N)
c1=$(cpu)
[ -n "$perf_pid" ] && { kill -INT "$perf_pid"; wait "$perf_pid"; }
size=$($CHECK "$RPORT" docsize "$EID")
tick=$(getconf CLK_TCK)
python3 -c "
import json
n, t, c = $N, $t1 - $t0, ($c1 - $c0) / $tick
print(json.dumps({'items': n, 'status': '$status', 'seconds': round(t, 2), 'coordinator_cpu_s': round(c, 2),
                  'cpu_ms_per_item': round(1000 * c / n, 3), 'items_per_s': round(n / t, 1),
                  'doc_bytes': int('${size:-0}' or 0)}))"
[ "$status" = SUCCEEDED ]
