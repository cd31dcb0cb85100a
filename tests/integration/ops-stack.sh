# SPDX-License-Identifier: MIT
# Sourced by test-sdnotify.sh and test-metrics.sh: a small whole system on
# loopback (redis-server on a free port, the mock Kafka cluster,
# imgflow-coordinator and imgflow-worker with a fake NOTIFY_SOCKET each),
# a two-task state machine "ops" (image.validate then image.resize on a
# generated PNG, then test.echo), and helpers to start executions and wait
# for them. Kills only the processes it started, by pid; waits are bounded.
#
# Needs MOCK, COORD, WORKER, SRC. Optional before sourcing: EXTRA_CONF
# (appended to the configuration).
# Provides: $T, $RPORT, $BOOT, $CONF, fail, wait_for, start_redis,
# start_coordinator/start_worker (pids in $COORD_PID/$WORKER_PID; extra env
# in $DAEMON_ENV), stop_pid (exit code in $RC), check_sanitizers, start_execution NAME [KEY], exec_status NAME,
# wait_execution NAME STATUS SECONDS.

for p in redis-server redis-cli kcat python3; do
        command -v "$p" >/dev/null || { echo "$p missing: skipped"; exit 77; }
done

T=$(mktemp -d /tmp/imgflow-ops.XXXXXX)
PIDS=""
COORD_PID=
WORKER_PID=
cleanup() {
        for p in $COORD_PID $WORKER_PID $PIDS; do kill "$p" 2>/dev/null; done
        for p in $COORD_PID $WORKER_PID $PIDS; do
                i=0; while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
                kill -9 "$p" 2>/dev/null
                wait "$p" 2>/dev/null
        done
        [ -n "${KEEP_TMP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT INT TERM

fail() {
        echo "FAIL: $*"
        for f in coordinator.log worker.log coordinator.notify worker.notify redis.log mock.err; do
                [ -s "$T/$f" ] && { echo "--- $f (tail)"; tail -30 "$T/$f"; }
        done
        exit 1
}

# wait_for SECONDS COMMAND...: poll every 0.1 s.
wait_for() {
        n=$(($1 * 10)); shift
        while [ $n -gt 0 ]; do
                "$@" && return 0
                sleep 0.1; n=$((n - 1))
        done
        return 1
}

free_port() {
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

RPORT=$(free_port)
REDIS_PID=
start_redis() {
        redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$T" \
                --loglevel warning >"$T/redis.log" 2>&1 &
        REDIS_PID=$!
        PIDS="$PIDS $REDIS_PID"
        wait_for 10 redis-cli -p "$RPORT" ping >/dev/null 2>&1 || fail "redis-server did not start"
}

"$MOCK" --partitions 2 --no-stdin >"$T/mock.out" 2>"$T/mock.err" &
PIDS="$PIDS $!"
wait_for 10 grep -qs '^BOOTSTRAP=' "$T/mock.out" || fail "mock cluster did not start"
BOOT=$(sed -n 's/^BOOTSTRAP=//p' "$T/mock.out" | head -1)

python3 "$SRC/tests/integration/notify-listener.py" \
        "$T/coordinator.sock=$T/coordinator.notify" "$T/worker.sock=$T/worker.notify" &
PIDS="$PIDS $!"
wait_for 5 test -S "$T/worker.sock" || fail "notify listener did not start"

mkdir -p "$T/photos" "$T/sm"
python3 "$SRC/tests/integration/worker-make-images.py" "$T/photos" || fail "could not make images"
cat >"$T/sm/ops.asl.json" <<'JSON'
{
  "StartAt": "Validate",
  "States": {
    "Validate": {
      "Type": "Task",
      "Resource": "arn:aws:lambda:us-east-1:123456789012:function:ValidateImage",
      "Parameters": {"bucket": "photos", "key.$": "$.key"},
      "ResultPath": "$.validation",
      "Next": "Resize"
    },
    "Resize": {
      "Type": "Task",
      "Resource": "arn:aws:lambda:us-east-1:123456789012:function:ResizeImage",
      "Parameters": {"bucket": "photos", "key.$": "$.key", "width": 16, "format": "png"},
      "ResultPath": "$.resized",
      "Next": "Echo"
    },
    "Echo": {"Type": "Task", "Resource": "imgflow:test.echo", "End": true}
  }
}
JSON

CONF=$T/imgflow.conf
cat >"$CONF" <<EOF2
[imgflow]
log_level = info
log_target = console
[coordinator]
state_machines = $T/sm
timer_interval = 200ms
shutdown_timeout = 10s
[worker]
threads = 2
shutdown_timeout = 10s
[redis]
address = 127.0.0.1:$RPORT
timeout = 2s
[kafka]
bootstrap.servers = $BOOT
topic.metadata.refresh.interval.ms = 1000
[kafka.producer]
linger.ms = 1
[kafka.consumer]
session.timeout.ms = 6000
heartbeat.interval.ms = 500
[buckets]
photos = $T/photos
[resources]
ValidateImage = image.validate
ResizeImage = image.resize
${EXTRA_CONF:-}
EOF2

start_coordinator() {
        env ${DAEMON_ENV:-} NOTIFY_SOCKET="$T/coordinator.sock" "$COORD" --config "$CONF" \
                >>"$T/coordinator.log" 2>&1 &
        COORD_PID=$!
}

start_worker() {
        env ${DAEMON_ENV:-} NOTIFY_SOCKET="$T/worker.sock" "$WORKER" --config "$CONF" --instance 1 \
                >>"$T/worker.log" 2>&1 &
        WORKER_PID=$!
}

# stop_pid PID SECONDS: SIGTERM, wait; the exit code in $RC (124 = still running, killed).
RC=
stop_pid() {
        kill -TERM "$1" 2>/dev/null
        n=$(($2 * 10))
        while kill -0 "$1" 2>/dev/null && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
        if kill -0 "$1" 2>/dev/null; then
                kill -9 "$1" 2>/dev/null; wait "$1" 2>/dev/null; RC=124
        else
                wait "$1"; RC=$?
        fi
}

# check_sanitizers: the daemons' logs have no ASan/UBSan report (UBSan
# does not change exit codes).
check_sanitizers() {
        if grep -l -E 'runtime error|(Address|Leak|UndefinedBehavior)Sanitizer' "$T"/coordinator.log "$T"/worker.log 2>/dev/null; then
                fail "sanitizer report in a daemon's log"
        fi
        return 0
}

# start_execution NAME [KEY]: a StartExecution of "ops" on imgflow.jobs.
start_execution() {
        printf '%s|{"v":1,"type":"StartExecution","stateMachine":"ops","name":"%s","input":{"key":"%s"}}\n' \
                "ops:$1" "$1" "${2:-raw/good.png}" |
                kcat -P -b "$BOOT" -t imgflow.jobs -K '|' 2>"$T/kcat.err" || fail "kcat: $(cat "$T/kcat.err")"
}

exec_status() {
        redis-cli -p "$RPORT" HGET "imgflow:{ops:$1}:exec" status 2>/dev/null
}

# wait_execution NAME STATUS SECONDS
wait_execution() {
        wait_for "$3" sh -c "[ \"\$(redis-cli -p $RPORT HGET 'imgflow:{ops:$1}:exec' status 2>/dev/null)\" = '$2' ]" ||
                fail "execution $1: status '$(exec_status "$1")', expected $2"
}
