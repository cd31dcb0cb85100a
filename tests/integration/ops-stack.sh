# SPDX-License-Identifier: MIT
# Sourced by test-sdnotify.sh and test-metrics.sh: a small whole system on
# loopback (redis-server on a free port and Kafka from tests/helpers/stack.sh,
# imgflow-coordinator and imgflow-worker with a fake NOTIFY_SOCKET each),
# a two-task state machine "ops" (image.validate then image.resize on a
# generated PNG, then test.echo), and helpers to start executions and wait
# for them. Kills only the processes it started, by pid; waits are bounded.
#
# Needs MOCK, COORD, WORKER, SRC. Optional before sourcing: EXTRA_CONF
# (appended to the configuration).
# Provides: what tests/helpers/stack.sh does ($TMP, $RPORT, $BOOT, $CONF, wait_for,
# stack_kill, stack_restart, start_coordinator, stop_pid, ...; this fail stops the test),
# start_worker (pid in $WORKER_PID; extra env for both daemons in
# $DAEMON_ENV), check_sanitizers, start_execution NAME [KEY],
# exec_status NAME, wait_execution NAME STATUS SECONDS.

. "$SRC/tests/helpers/stack.sh"
stack_init ops

# fail: stops the test at once, with the tails of the logs.
fail() {
        echo "FAIL: $*"
        for f in coordinator.log worker.log coordinator.notify worker.notify stack.log; do
                [ -s "$TMP/$f" ] && { echo "--- $f (tail)"; tail -30 "$TMP/$f"; }
        done
        exit 1
}

start_infra --partitions 2

python3 "$SRC/tests/integration/notify-listener.py" \
        "$TMP/coordinator.sock=$TMP/coordinator.notify" "$TMP/worker.sock=$TMP/worker.notify" &
PIDS+=($!)
wait_for 5 test -S "$TMP/worker.sock" || fail "notify listener did not start"

mkdir -p "$TMP/photos" "$TMP/sm"
python3 "$SRC/tests/integration/worker-make-images.py" "$TMP/photos" || fail "could not make images"
cat >"$TMP/sm/ops.asl.json" <<'JSON'
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

stack_conf <<EOF
[imgflow]
log_target = console
[coordinator]
state_machines = $TMP/sm
[worker]
threads = 2
shutdown_timeout = 10s
[redis]
timeout = 2s
[buckets]
photos = $TMP/photos
[resources]
ValidateImage = image.validate
ResizeImage = image.resize
${EXTRA_CONF:-}
EOF
COORD_ENV="NOTIFY_SOCKET=$TMP/coordinator.sock"

start_worker() {
        env ${DAEMON_ENV:-} NOTIFY_SOCKET="$TMP/worker.sock" "$WORKER" --config "$CONF" --instance 1 \
                >>"$TMP/worker.log" 2>&1 &
        WORKER_PID=$!
}

# check_sanitizers: the daemons' logs have no ASan/UBSan report (UBSan
# does not change exit codes).
check_sanitizers() {
        if grep -l -E 'runtime error|(Address|Leak|UndefinedBehavior)Sanitizer' "$TMP"/coordinator.log "$TMP"/worker.log 2>/dev/null; then
                fail "sanitizer report in a daemon's log"
        fi
        return 0
}

# job_line NAME [KEY]: the keyed line of a StartExecution of "ops", for kcat -K '|'.
job_line() {
        printf '%s|{"v":1,"type":"StartExecution","stateMachine":"ops","name":"%s","input":{"key":"%s"}}\n' \
                "ops:$1" "$1" "${2:-raw/good.png}"
}

# publish_jobs: the job lines on stdin to imgflow.jobs, in one kcat.
publish_jobs() {
        kcat -P -b "$BOOT" -t imgflow.jobs -K '|' 2>"$TMP/kcat.err" || fail "kcat: $(cat "$TMP/kcat.err")"
}

# start_execution NAME [KEY]: a StartExecution of "ops" on imgflow.jobs.
start_execution() {
        job_line "$@" | publish_jobs
}

exec_status() {
        redis-cli -p "$RPORT" HGET "imgflow:{ops:$1}:exec" status 2>/dev/null
}

# wait_execution NAME STATUS SECONDS
wait_execution() {
        wait_for "$3" sh -c "[ \"\$(redis-cli -p $RPORT HGET 'imgflow:{ops:$1}:exec' status 2>/dev/null)\" = '$2' ]" ||
                fail "execution $1: status '$(exec_status "$1")', expected $2"
}
