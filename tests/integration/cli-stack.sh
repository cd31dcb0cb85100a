# SPDX-License-Identifier: MIT
# Sourced by test-cli-server.sh and test-callbacks.sh: starts a redis-server
# on a free loopback port, the mock Kafka cluster and imgflow-coordinator,
# writes $TMP/imgflow.conf for the CLI, and kills every process it started
# (by pid) on exit. Needs MOCK, COORD, IMGFLOW set; optional EXTRA_CONF
# (appended to the configuration) and MOCK_TOPICS (--topics of the mock).
#
# Provides: $TMP, $RPORT, $BOOT, $CONF, fail/ok/$FAILS, cli (runs imgflow
# with --config, output in $OUT/$ERR, exit code in $RC), json_get, and
# start_coordinator/stop_coordinator.

command -v redis-server >/dev/null || { echo "redis-server missing: skip"; exit 77; }
command -v redis-cli >/dev/null || { echo "redis-cli missing: skip"; exit 77; }
command -v kcat >/dev/null || { echo "kcat missing: skip"; exit 77; }
command -v python3 >/dev/null || { echo "python3 missing: skip"; exit 77; }

TMP=$(mktemp -d /tmp/imgflow-test-cli.XXXXXX)
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

"$MOCK" --partitions 4 ${MOCK_TOPICS:+--topics "$MOCK_TOPICS"} --no-stdin >"$TMP/mock.out" 2>"$TMP/mock.err" &
PIDS+=($!)
BOOT=
for _ in $(seq 100); do
        BOOT=$(sed -n 's/^BOOTSTRAP=//p' "$TMP/mock.out" | head -1)
        [ -n "$BOOT" ] && break
        sleep 0.05
done
[ -n "$BOOT" ] || { echo "mock kafka did not start"; cat "$TMP/mock.err"; exit 1; }

CONF=$TMP/imgflow.conf
cat >"$CONF" <<EOF
[imgflow]
log_level = info
[redis]
address = 127.0.0.1:$RPORT
[coordinator]
timer_interval = 200ms
shutdown_timeout = 10s
[kafka]
bootstrap.servers = $BOOT
topic.metadata.refresh.interval.ms = 1000
[kafka.producer]
linger.ms = 1
[kafka.consumer]
session.timeout.ms = 6000
heartbeat.interval.ms = 500
${EXTRA_CONF:-}
EOF

start_coordinator() {
        IMGFLOW_LOG_TARGET=console "$COORD" --config "$CONF" >>"$TMP/coordinator.log" 2>&1 &
        COORD_PID=$!
}

stop_coordinator() {
        [ -n "$COORD_PID" ] || return 0
        kill -TERM "$COORD_PID" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$COORD_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$COORD_PID" 2>/dev/null
        wait "$COORD_PID" 2>/dev/null
        COORD_PID=
}

# cli ARGS...: imgflow with the test's configuration; bounded in time.
OUT=$TMP/out ERR=$TMP/err RC=0
cli() {
        timeout 60 "$IMGFLOW" "$@" --config "$CONF" >"$OUT" 2>"$ERR"
        RC=$?
}

# json_get FILE PYTHON-EXPRESSION (on j): prints the value (JSON for non-strings).
json_get() {
        python3 - "$1" "$2" <<'PY'
import json, sys
try:
    j = json.load(open(sys.argv[1]))
    v = eval(sys.argv[2], {"j": j, "json": json})
except Exception as e:
    print("<error: %s>" % e)
    sys.exit(0)
print(v if isinstance(v, str) else json.dumps(v, sort_keys=True))
PY
}

# expect_rc NAME WANT: check $RC, print stderr on mismatch.
expect_rc() {
        if [ "$RC" = "$2" ]; then
                ok "$1 (exit $RC)"
                return 0
        fi
        fail "$1: exit $RC, expected $2"
        sed 's/^/    out: /' "$OUT" | head -20
        sed 's/^/    err: /' "$ERR" | head -20
        return 1
}

# expect_err NAME WANT-RC PATTERN: exit code and a pattern on stderr.
expect_err() {
        expect_rc "$1" "$2" || return 1
        grep -q -- "$3" "$ERR" && ok "$1: stderr has '$3'" || { fail "$1: stderr lacks '$3'"; sed 's/^/    err: /' "$ERR"; }
}

# expect_eq NAME GOT WANT
expect_eq() {
        [ "$2" = "$3" ] && ok "$1: $2" || fail "$1: got '$2', expected '$3'"
}

# wait_status EXEC-ID STATUS [TIMEOUT]: poll describe-execution.
wait_status() {
        local s=
        for _ in $(seq $((${3:-30} * 5))); do
                cli describe-execution --execution-arn "$1"
                s=$(json_get "$OUT" 'j["status"]')
                [ "$s" = "$2" ] && break
                sleep 0.2
        done
        expect_eq "$1 status" "$s" "$2"
}

# Wait until the coordinator has joined its consumer group.
wait_coordinator_ready() {
        for _ in $(seq 200); do
                grep -q "Coordinator ready" "$TMP/coordinator.log" 2>/dev/null && return 0
                sleep 0.1
        done
        echo "coordinator not ready"; tail -20 "$TMP/coordinator.log"
        return 1
}
