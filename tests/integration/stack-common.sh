# SPDX-License-Identifier: MIT
# Sourced (bash) by cli-stack.sh, coordinator-stack.sh, ops-stack.sh and
# test-coordinator.sh: what each of them starts the same way. Loopback only;
# every process is killed by pid on exit; every wait is bounded.
#
#   stack_init NAME   exits 77 (skipped) without redis-server, redis-cli,
#                     kcat or python3; makes $TMP (/tmp/imgflow-test-NAME.*,
#                     removed on exit unless KEEP_TMP is set), picks $RPORT
#                     (a free port for redis-server), names $CONF
#                     ($TMP/imgflow.conf) and sets the exit trap.
#   start_redis       redis-server on 127.0.0.1:$RPORT without persistence,
#                     pid in $REDIS_PID (can be called again after a kill).
#   start_mock ARGS...  the mock Kafka cluster ($MOCK ARGS... --no-stdin),
#                     its bootstrap address in $BOOT.
#   stack_conf        writes $CONF: the sections every stack shares (redis,
#                     kafka, the coordinator's timers), then its standard
#                     input; a section may come again and a key given again
#                     wins.
#   start_coordinator  $COORD --config $CONF, console log appended to
#                     $TMP/coordinator.log, pid in $COORD_PID; environment
#                     from $COORD_ENV, then $DAEMON_ENV.
#   kill9_coordinator  SIGKILL to $COORD_PID, reaped.
#   stop_pid PID SECONDS  SIGTERM, up to SECONDS to exit, then SIGKILL;
#                     returns the exit code (124: did not stop, killed).
#   wait_for SECONDS COMMAND...  COMMAND every 0.1 s until it succeeds.
#   free_port, and fail/ok/$FAILS (fail counts; a stack may redefine it).
#
# Needs MOCK (start_mock) and COORD (start_coordinator). A test adds the pids
# it starts itself to PIDS (PIDS+=($!)). On exit $COORD_PID, $WORKER_PID and
# PIDS get SIGTERM, up to 5 s to exit, then SIGKILL.

FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok   $*"; }

# wait_for SECONDS COMMAND...: poll every 0.1 s.
wait_for() {
        local n=$(($1 * 10))
        shift
        while [ $n -gt 0 ]; do
                "$@" && return 0
                sleep 0.1
                n=$((n - 1))
        done
        return 1
}

free_port() {
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# stack_die WHAT LOG: a process of the stack did not start.
stack_die() {
        echo "$1 did not start"
        tail -20 "$2"
        exit 1
}

stack_cleanup() {
        local p i
        local pids="${COORD_PID:-} ${WORKER_PID:-} ${PIDS[*]}"

        for p in $pids; do
                kill "$p" 2>/dev/null
        done
        for p in $pids; do
                for ((i = 0; i < 50; i++)); do
                        kill -0 "$p" 2>/dev/null || break
                        sleep 0.1
                done
                kill -9 "$p" 2>/dev/null
                wait "$p" 2>/dev/null
        done
        [ -n "${KEEP_TMP:-}" ] && echo "kept $TMP" || rm -rf "$TMP"
}

stack_init() {
        local p

        for p in redis-server redis-cli kcat python3; do
                command -v "$p" >/dev/null || { echo "$p missing: skipped"; exit 77; }
        done
        TMP=$(mktemp -d "/tmp/imgflow-test-$1.XXXXXX")
        CONF=$TMP/imgflow.conf
        PIDS=()
        COORD_PID=
        trap stack_cleanup EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        RPORT=$(free_port)
}

start_redis() {
        redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$TMP" \
                --loglevel warning >>"$TMP/redis.log" 2>&1 &
        REDIS_PID=$!
        PIDS+=("$REDIS_PID")
        wait_for 10 redis-cli -p "$RPORT" ping >/dev/null 2>&1 || stack_die redis-server "$TMP/redis.log"
}

start_mock() {
        "$MOCK" "$@" --no-stdin >"$TMP/mock.out" 2>"$TMP/mock.err" &
        PIDS+=($!)
        wait_for 10 grep -qs '^BOOTSTRAP=' "$TMP/mock.out" || stack_die "the mock Kafka cluster" "$TMP/mock.err"
        BOOT=$(sed -n 's/^BOOTSTRAP=//p' "$TMP/mock.out" | head -1)
}

stack_conf() {
        {
                cat <<EOF
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
EOF
                cat
        } >"$CONF"
}

start_coordinator() {
        env IMGFLOW_LOG_TARGET=console ${COORD_ENV:-} ${DAEMON_ENV:-} "$COORD" --config "$CONF" \
                >>"$TMP/coordinator.log" 2>&1 &
        COORD_PID=$!
}

kill9_coordinator() {
        kill -9 "$COORD_PID"
        wait "$COORD_PID" 2>/dev/null
        COORD_PID=
}

stop_pid() {
        local n=$(($2 * 10))

        kill -TERM "$1" 2>/dev/null
        while kill -0 "$1" 2>/dev/null && [ $n -gt 0 ]; do
                sleep 0.1
                n=$((n - 1))
        done
        if kill -0 "$1" 2>/dev/null; then
                kill -9 "$1" 2>/dev/null
                wait "$1" 2>/dev/null
                return 124
        fi
        wait "$1" 2>/dev/null
}
