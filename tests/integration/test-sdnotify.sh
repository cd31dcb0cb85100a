#!/bin/bash
# SPDX-License-Identifier: MIT
# The daemons as systemd services, without systemd: each gets a fake
# NOTIFY_SOCKET (notify-listener.py) and WATCHDOG_USEC, then
#
#   - READY=1 from both (the coordinator's only after Kafka and Redis
#     answered: started while redis-server is down, it stays not ready
#     until redis-server comes up), with MAINPID=;
#   - WATCHDOG=1 from both (sd_event_set_watchdog);
#   - STATUS= with the partitions held and live counts ("8 partition(s),
#     ... executions running, 3 tasks done", "4 partition(s), ... tasks
#     running, ... queued, 3 done, 0 failed"), refreshed at most
#     once a second, not per task;
#   - SIGHUP: RELOADING=1 then READY=1, the new log level applied
#     (the worker logs its debug lines after the reload);
#   - console log lines of one execution carry its fields as key=value
#     (execution_id, state_name, task_id, image_key) in both daemons; with a
#     running systemd-journald the same fields are in the journal;
#   - SIGTERM: STOPPING=1 and exit 0 from both.
#
#   test-sdnotify.sh MOCK_KAFKA COORDINATOR WORKER SOURCE_ROOT
set -u
MOCK=$1 COORD=$2 WORKER=$3 SRC=$4
DAEMON_ENV="WATCHDOG_USEC=1000000"
. "$SRC/tests/integration/ops-stack.sh"

start_coordinator
start_worker
wait_for 30 grep -q '^READY=1' "$TMP/coordinator.notify" || fail "no READY=1 from the coordinator"
wait_for 30 grep -q '^READY=1' "$TMP/worker.notify" || fail "no READY=1 from the worker"
grep -q "^MAINPID=$COORD_PID\$" "$TMP/coordinator.notify" || fail "no MAINPID=$COORD_PID with READY=1"
grep -q "^MAINPID=$WORKER_PID\$" "$TMP/worker.notify" || fail "no MAINPID=$WORKER_PID with READY=1"
echo "ok   READY=1 from both"

# ---- one execution: STATUS= counts and the structured fields
start_execution e1
wait_execution e1 SUCCEEDED 30
echo "ok   execution e1 SUCCEEDED"
wait_for 15 grep -Eq '^STATUS=[1-9][0-9]* partition\(s\), [0-9,?]+ executions running, 3 tasks done' "$TMP/coordinator.notify" ||
        fail "no coordinator STATUS= with '3 tasks done'"
wait_for 10 grep -Eq '^STATUS=[1-9][0-9]* partition\(s\), 0 tasks running, 0 queued, 3 done, 0 failed' "$TMP/worker.notify" ||
        fail "no worker STATUS= with '3 done'"
grep -Eq '^STATUS=[0-9]+ partition\(s\), 0 executions running' "$TMP/coordinator.notify" ||
        wait_for 20 grep -Eq '^STATUS=[0-9]+ partition\(s\), 0 executions running' "$TMP/coordinator.notify" ||
        fail "the coordinator never said '0 executions running' after e1 finished"
echo "ok   STATUS= with live counts"

# ---- STATUS= is not sent per task (every sd_notify() is a datagram the
# service manager reads): 30 executions, 90 tasks, at most one a second.
n0=$(grep -c '^STATUS=' "$TMP/worker.notify")
t0=$(date +%s)
for i in $(seq 1 30); do job_line "b$i"; done | publish_jobs
for i in $(seq 1 30); do wait_execution "b$i" SUCCEEDED 60; done
n=$(( $(grep -c '^STATUS=' "$TMP/worker.notify") - n0 )) secs=$(( $(date +%s) - t0 ))
[ "$n" -le $((secs + 3)) ] || fail "worker: $n STATUS= messages in $secs s for 90 tasks"
echo "ok   STATUS= at most once a second under load ($n in $secs s for 90 tasks)"

wait_for 5 grep -q '^WATCHDOG=1' "$TMP/coordinator.notify" || fail "no WATCHDOG=1 from the coordinator"
wait_for 5 grep -q '^WATCHDOG=1' "$TMP/worker.notify" || fail "no WATCHDOG=1 from the worker"
echo "ok   WATCHDOG=1 from both"

# Every task line of e1 names the execution, its state and task; the image
# tasks also the image key.
for d in coordinator worker; do
        for state in Validate Resize Echo; do
                grep "execution_id=ops:e1" "$TMP/$d.log" | grep "state_name=$state" | grep -q "task_id=" ||
                        fail "$d: no log line with execution_id=ops:e1 state_name=$state task_id="
        done
        grep "execution_id=ops:e1" "$TMP/$d.log" | grep "state_name=Validate" | grep -q "image_key=raw/good.png" ||
                fail "$d: no image_key=raw/good.png on the Validate lines"
done
grep "execution_id=ops:e1" "$TMP/coordinator.log" | grep -q "Dispatched task" ||
        fail "coordinator: no 'Dispatched task' line with the execution's fields"
echo "ok   log lines carry execution_id, state_name, task_id, image_key"

# ---- SIGHUP: RELOADING=1, READY=1, the new log level
sed -i 's/^log_level = info/log_level = debug/' "$CONF"
kill -HUP "$COORD_PID" "$WORKER_PID"
for d in coordinator worker; do
        wait_for 10 grep -q '^RELOADING=1' "$TMP/$d.notify" || fail "$d: no RELOADING=1 after SIGHUP"
        # READY=1 again after RELOADING=1
        wait_for 10 sh -c "sed -n '/^RELOADING=1/,\$p' '$TMP/$d.notify' | grep -q '^READY=1'" ||
                fail "$d: no READY=1 after RELOADING=1"
        wait_for 10 grep -q "Reloaded: log level debug" "$TMP/$d.log" || fail "$d: did not reload the log level"
        [ "$(grep -c '^RELOADING=1' "$TMP/$d.notify")" = 1 ] || fail "$d: RELOADING=1 more than once"
done
start_execution e2
wait_execution e2 SUCCEEDED 30
grep "execution_id=ops:e2" "$TMP/worker.log" | grep -q "^DEBUG" ||
        fail "worker: no debug line for e2 after reloading log_level = debug"
echo "ok   SIGHUP: RELOADING=1, READY=1, log level debug applied"

# ---- a failed task's line carries its error and cause; Redis's connection
# is logged once, with its address (not also "Redis connected")
start_execution bad1 raw/no-such-image.png
wait_execution bad1 FAILED 30
line=$(grep "execution_id=ops:bad1" "$TMP/coordinator.log" | grep "Task .* failed")
echo "$line" | grep -Eq 'Task [^ ]+ failed: [A-Z][A-Za-z]*\.[A-Za-z]+: .*no-such-image' ||
        fail "coordinator: the failed task's line lacks its error and cause: '$line'"
echo "ok   failed task logged with its error and cause: $line"
n=$(grep -ci "redis connected\|connected to redis" "$TMP/coordinator.log")
[ "$n" = 1 ] && grep -q "Connected to Redis at 127.0.0.1:$RPORT" "$TMP/coordinator.log" ||
        fail "coordinator: $n lines say Redis connected (expected one, with the address)"
echo "ok   one line for the Redis connection: $(grep -i "connected to redis" "$TMP/coordinator.log")"

# ---- SIGTERM: STOPPING=1, exit 0
stop_pid "$WORKER_PID" 20; RC=$?; WORKER_PID=
[ "$RC" = 0 ] || fail "worker exit code $RC after SIGTERM"
stop_pid "$COORD_PID" 20; RC=$?; COORD_PID=
[ "$RC" = 0 ] || fail "coordinator exit code $RC after SIGTERM"
grep -q '^STOPPING=1' "$TMP/worker.notify" || fail "no STOPPING=1 from the worker"
grep -q '^STOPPING=1' "$TMP/coordinator.notify" || fail "no STOPPING=1 from the coordinator"
echo "ok   SIGTERM: STOPPING=1 and exit 0 from both"

# ---- journalctl EXECUTION_ID=... follows one execution across services
if command -v journalctl >/dev/null && systemctl is-active --quiet systemd-journald 2>/dev/null; then
        DAEMON_ENV="IMGFLOW_LOG_TARGET=journal" start_coordinator
        DAEMON_ENV="IMGFLOW_LOG_TARGET=journal" start_worker
        start_execution "j$$"
        wait_execution "j$$" SUCCEEDED 30
        sleep 1
        ids=$(journalctl --no-pager -o json EXECUTION_ID="ops:j$$" | python3 -c '
import json, sys
print(" ".join(sorted({json.loads(l).get("SYSLOG_IDENTIFIER", "") for l in sys.stdin if l.strip()})))')
        case "$ids" in
        *imgflow-coordinator*imgflow-worker*) echo "ok   journal: EXECUTION_ID=ops:j$$ from $ids" ;;
        "") echo "skip journal: entries not readable by this user" ;;
        *) fail "journal: EXECUTION_ID=ops:j$$ only from '$ids'" ;;
        esac
        stop_pid "$WORKER_PID" 20; WORKER_PID=
        stop_pid "$COORD_PID" 20; COORD_PID=
else
        echo "skip journal part: systemd-journald is not running"
fi

# ---- the coordinator is not READY while Redis does not answer
stack_kill redis TERM || fail "could not stop redis-server"
# Hold Redis's port meanwhile (listening, never answering), so that no other
# test's server takes the freed port; a run once found one answering there.
python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
print("held", flush=True)
time.sleep(120)' "$RPORT" >"$TMP/hold.out" 2>&1 &
HOLD_PID=$!
PIDS+=("$HOLD_PID")
wait_for 5 grep -q held "$TMP/hold.out" ||
        fail "Redis's port $RPORT was taken once redis-server stopped: $(cat "$TMP/hold.out"; ss -ltnp "sport = :$RPORT" 2>&1 | tail -1)"
: >"$TMP/coordinator.notify"
start_coordinator
sleep 4
kill -0 "$COORD_PID" 2>/dev/null || fail "coordinator exited without Redis"
grep -q '^READY=1' "$TMP/coordinator.notify" && fail "READY=1 although Redis is down"
grep -q '^STATUS=Waiting for Kafka and Redis' "$TMP/coordinator.notify" ||
        wait_for 10 grep -q '^STATUS=Waiting for Kafka and Redis' "$TMP/coordinator.notify" ||
        fail "no 'Waiting for Kafka and Redis' STATUS= while Redis is down"
stop_pid "$HOLD_PID" 5 >/dev/null
stack_restart redis
wait_for 20 grep -q '^READY=1' "$TMP/coordinator.notify" || fail "no READY=1 once Redis came up"
echo "ok   coordinator READY=1 only once Redis answers"
stop_pid "$COORD_PID" 20; RC=$?; COORD_PID=
[ "$RC" = 0 ] || fail "coordinator exit code $RC after SIGTERM"
check_sanitizers
echo "PASS"
