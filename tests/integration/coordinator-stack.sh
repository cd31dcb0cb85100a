# SPDX-License-Identifier: MIT
# Sourced by test-coordinator-restart.sh and test-coordinator-bigmap.sh, the
# startup of test-coordinator.sh: a redis-server on a free loopback port, the
# mock Kafka cluster, the test worker (test-coordinator-worker) and
# imgflow-coordinator. Every process is started here and killed by pid on exit.
# Needs MOCK COORD WORKER SRC; optional COORD_EXTRA (more [coordinator] lines).
#
# Provides: $TMP $RPORT $BOOT $CONF $CHECK, fail/ok/$FAILS,
# start_coordinator, kill9_coordinator, wait_worker_assigned,
# wait_coordinator_assigned, show_logs.

command -v redis-server >/dev/null || { echo "redis-server missing: skip"; exit 77; }
command -v kcat >/dev/null || { echo "kcat missing: skip"; exit 77; }
command -v python3 >/dev/null || { echo "python3 missing: skip"; exit 77; }

CHECK="python3 $SRC/tests/integration/restart-check.py"
TMP=$(mktemp -d /tmp/imgflow-test-restart.XXXXXX)
PIDS=()
COORD_PID=
cleanup() {
        for p in $COORD_PID "${PIDS[@]}"; do
                kill "$p" 2>/dev/null
        done
        sleep 0.3
        for p in $COORD_PID "${PIDS[@]}"; do
                kill -9 "$p" 2>/dev/null
                wait "$p" 2>/dev/null
        done
        [ -n "${KEEP_TMP:-}" ] && echo "kept $TMP" || rm -rf "$TMP"
}
trap cleanup EXIT

FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok   $*"; }

free_port() {
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$TMP" \
        --loglevel warning >"$TMP/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
        redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break
        sleep 0.05
done

"$MOCK" --partitions 4 --no-stdin >"$TMP/mock.out" 2>"$TMP/mock.err" &
PIDS+=($!)
BOOT=
for _ in $(seq 100); do
        BOOT=$(sed -n 's/^BOOTSTRAP=//p' "$TMP/mock.out" | head -1)
        [ -n "$BOOT" ] && break
        sleep 0.05
done
[ -n "$BOOT" ] || { echo "mock kafka did not start"; cat "$TMP/mock.err"; exit 1; }

mkdir "$TMP/sm"
CONF=$TMP/imgflow.conf
cat >"$CONF" <<CONF_EOF
[imgflow]
log_level = info
[redis]
address = 127.0.0.1:$RPORT
[coordinator]
timer_interval = 200ms
state_machines = $TMP/sm
shutdown_timeout = 10s
${COORD_EXTRA:-}
[kafka]
bootstrap.servers = $BOOT
topic.metadata.refresh.interval.ms = 1000
[kafka.producer]
linger.ms = 1
[kafka.consumer]
session.timeout.ms = 6000
heartbeat.interval.ms = 500
# The mock cluster holds an empty fetch for fetch.wait.max.ms even when
# messages arrive meanwhile: with the default 500 ms every task's round trip
# took ~0.5 s (a Map of 40 at a time ran at ~65 items/s).
fetch.wait.max.ms = 10
CONF_EOF

start_coordinator() {
        IMGFLOW_LOG_TARGET=console "$COORD" --config "$CONF" >>"$TMP/coordinator.log" 2>&1 &
        COORD_PID=$!
}

kill9_coordinator() {
        kill -9 "$COORD_PID"
        wait "$COORD_PID" 2>/dev/null
        COORD_PID=
}

TEST_WORKER_FETCH_WAIT_MS=10 "$WORKER" "$BOOT" >"$TMP/worker.log" 2>&1 &
PIDS+=($!)

# Publish once the worker owns its partitions (its group join can be slow).
wait_worker_assigned() {
        for _ in $(seq 600); do
                grep -q 'assigned [1-9]' "$TMP/worker.log" && return 0
                sleep 0.1
        done
        echo "warning: the test worker has no partitions yet"
}

# Wait until the coordinator owns partitions (its group join takes seconds).
wait_coordinator_assigned() {
        for _ in $(seq 300); do
                grep -q 'partition(s) assigned' "$TMP/coordinator.log" && return 0
                sleep 0.1
        done
        echo "warning: the coordinator has no partitions yet"
}

# show_logs: the tails of the logs, on failure.
show_logs() {
        echo "--- coordinator log (tail) ---"; tail -40 "$TMP/coordinator.log"
        echo "--- worker log (tail) ---"; tail -10 "$TMP/worker.log"
}
