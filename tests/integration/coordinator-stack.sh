# SPDX-License-Identifier: MIT
# Sourced by test-coordinator-restart.sh and test-coordinator-bigmap.sh: a
# redis-server on a free loopback port and Kafka (tests/helpers/stack.sh:
# deploy/local-stack.sh), the test worker (test-coordinator-worker) and
# imgflow-coordinator. Every process is started here and killed by pid on exit.
# Needs MOCK COORD WORKER SRC; optional COORD_EXTRA (more [coordinator] lines).
#
# Provides: what tests/helpers/stack.sh does ($TMP $RPORT $BOOT $CONF,
# fail/ok/$FAILS, start_coordinator, kill9_coordinator, ...), $CHECK,
# wait_worker_assigned, wait_coordinator_assigned, show_logs.

. "$SRC/tests/helpers/stack.sh"
stack_init restart
CHECK="python3 $SRC/tests/integration/restart-check.py"
start_infra --partitions 4
mkdir "$TMP/sm"
stack_conf <<EOF
[coordinator]
state_machines = $TMP/sm
${COORD_EXTRA:-}
EOF

# The mock cluster holds an empty fetch for fetch.wait.max.ms even when
# messages arrive meanwhile (a Map of 40 at a time ran at ~65 items/s with
# the default 500 ms): a short wait there.
[ "$KAFKA" = mock ] && export TEST_WORKER_FETCH_WAIT_MS=10
"$WORKER" "$BOOT" >"$TMP/worker.log" 2>&1 &
PIDS+=($!)

# Publish once the worker owns its partitions (its group join can be slow).
wait_worker_assigned() {
        wait_for 60 grep -qs 'assigned [1-9]' "$TMP/worker.log" ||
                echo "warning: the test worker has no partitions yet"
}

# Wait until the coordinator owns partitions (its group join takes seconds).
wait_coordinator_assigned() {
        wait_for 30 grep -qs 'partition(s) assigned' "$TMP/coordinator.log" ||
                echo "warning: the coordinator has no partitions yet"
}

# show_logs: the tails of the logs, on failure.
show_logs() {
        echo "--- coordinator log (tail) ---"; tail -40 "$TMP/coordinator.log"
        echo "--- worker log (tail) ---"; tail -10 "$TMP/worker.log"
}
