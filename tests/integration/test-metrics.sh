#!/bin/bash
# SPDX-License-Identifier: MIT
# The Prometheus endpoints of both daemons (metrics_listen = 127.0.0.1:0,
# the port they log): after 3 image pipelines that succeed and one on a
# corrupt image that fails, /metrics of each daemon is read by a strict
# parser of the text format (prometheus-text.py: HELP/TYPE, sample syntax,
# counters, histogram buckets with le ascending to +Inf, _sum and _count)
# and the expected families have the expected values:
#
#   coordinator: imgflow_executions_total{status}, imgflow_executions_running,
#     imgflow_tasks_dispatched_total{operation}, imgflow_task_results_total,
#     imgflow_task_latency_seconds{operation} (dispatch -> result),
#     imgflow_redis_roundtrip_seconds{kind}, imgflow_kafka_consumer_lag{topic}
#   worker: imgflow_worker_tasks_total{operation,result},
#     imgflow_worker_task_duration_seconds{operation},
#     imgflow_worker_images_processed_total, imgflow_worker_input/output_bytes_total,
#     imgflow_worker_task/result_message_bytes_total, imgflow_kafka_consumer_lag{topic}
#   both: imgflow_build_info{version} 1 and the process_* series of
#     Prometheus's client libraries (CPU, memory, start time, file descriptors)
#
# A backlog of sleeping tasks shows as worker lag > 0, then 0 once drained.
# With 300 idle connections open on each endpoint a scrape still answers, and
# the idle connections are closed after the request timeout
# (metrics-idle.py).
# The parser itself is checked first on broken expositions (it must refuse
# them), so a lax parser cannot make this test pass.
#
#   test-metrics.sh MOCK_KAFKA COORDINATOR WORKER SOURCE_ROOT
set -u
MOCK=$1 COORD=$2 WORKER=$3 SRC=$4
VERSION=$("$COORD" --version | cut -d' ' -f2)
T0=$(($(date +%s) - 5)) # the daemons start after this
PROM="python3 $SRC/tests/integration/prometheus-text.py"
EXTRA_CONF='[coordinator]
metrics_listen = 127.0.0.1:0
[worker]
metrics_listen = 127.0.0.1:0'
. "$SRC/tests/integration/ops-stack.sh"

# ---- the parser refuses what is not valid
bad() { # NAME TEXT: the parser must refuse TEXT
        printf '%s' "$2" >"$TMP/bad.prom"
        if $PROM "$TMP/bad.prom" >/dev/null 2>&1; then fail "parser accepted: $1"; fi
}
bad "no TYPE" $'# HELP a_total A.\na_total 1\n'
bad "counter without _total" $'# HELP a A.\n# TYPE a counter\na 1\n'
bad "le descending" $'# HELP h H.\n# TYPE h histogram\nh_bucket{le="2"} 1\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'
bad "no +Inf bucket" $'# HELP h H.\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'
bad "count differs from +Inf" $'# HELP h H.\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n'
bad "bad label syntax" $'# HELP g G.\n# TYPE g gauge\ng{a=b} 1\n'
bad "series twice" $'# HELP g G.\n# TYPE g gauge\ng 1\ng 2\n'
bad "bad value" $'# HELP g G.\n# TYPE g gauge\ng one\n'
printf '# HELP g G.\n# TYPE g gauge\ng{a="x\\"y"} 1\n' >"$TMP/good.prom"
$PROM "$TMP/good.prom" 'g{a="x\"y"}==1' >/dev/null || fail "parser refused a valid exposition"
echo "ok   the parser refuses broken expositions"

start_coordinator
start_worker
wait_for 30 grep -q '^READY=1' "$TMP/coordinator.notify" || fail "no READY=1 from the coordinator"
wait_for 30 grep -q '^READY=1' "$TMP/worker.notify" || fail "no READY=1 from the worker"
CPORT=$(sed -n 's/.*Serving metrics on .* (port \([0-9]*\)).*/\1/p' "$TMP/coordinator.log" | head -1)
WPORT=$(sed -n 's/.*metrics on .* (port \([0-9]*\)).*/\1/p' "$TMP/worker.log" | head -1)
[ -n "$CPORT" ] && [ -n "$WPORT" ] || fail "metrics ports not logged (coordinator '$CPORT', worker '$WPORT')"
echo "ok   metrics on ports $CPORT (coordinator) and $WPORT (worker)"
for d in coordinator worker; do
        n=$(grep -ci "metrics" "$TMP/$d.log")
        [ "$n" = 1 ] || { grep -i metrics "$TMP/$d.log"; fail "$d: $n log lines about metrics, expected one"; }
done
echo "ok   one log line each about the metrics endpoint"

for i in 1 2 3; do start_execution "m$i"; done
start_execution bad raw/corrupt.png
for i in 1 2 3; do wait_execution "m$i" SUCCEEDED 30; done
wait_execution bad FAILED 30
echo "ok   3 executions SUCCEEDED, 1 FAILED"

# scrape NAME PORT EXPECTATION...: until all hold (gauges refresh every few s).
scrape() {
        name=$1 port=$2; shift 2
        i=0
        until $PROM "http://127.0.0.1:$port/metrics" "$@" >"$TMP/$name.check" 2>&1; do
                i=$((i + 1))
                if [ $i -ge 40 ]; then
                        curl -s "http://127.0.0.1:$port/metrics" >"$TMP/$name.prom" 2>/dev/null ||
                                python3 -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$port/metrics').read().decode())" >"$TMP/$name.prom"
                        echo "--- $name /metrics"; cat "$TMP/$name.prom"
                        echo "--- problems"; cat "$TMP/$name.check"
                        fail "$name metrics"
                fi
                sleep 0.25
        done
        echo "ok   $name /metrics: $(cat "$TMP/$name.check")"
}

scrape coordinator "$CPORT" \
        'imgflow_executions_total{status="RUNNING"}>=4' \
        'imgflow_executions_total{status="SUCCEEDED"}>=3' \
        'imgflow_executions_total{status="FAILED"}>=1' \
        'imgflow_executions_running==0' \
        'imgflow_tasks_dispatched_total{operation="image.validate"}>=4' \
        'imgflow_tasks_dispatched_total{operation="image.resize"}>=4' \
        'imgflow_tasks_dispatched_total{operation="test.echo"}>=3' \
        'imgflow_task_results_total{operation="image.resize",result="failed"}>=1' \
        'imgflow_task_results_total{operation="image.validate",result="succeeded"}>=4' \
        'imgflow_task_latency_seconds_count{operation="image.validate"}>=4' \
        'imgflow_task_latency_seconds_bucket{operation="image.validate",le="+Inf"}>=4' \
        'imgflow_task_latency_seconds_sum{operation="image.resize"}>0' \
        'imgflow_redis_roundtrip_seconds_count{kind="script"}>0' \
        'imgflow_redis_roundtrip_seconds_count{kind="command"}>0' \
        'imgflow_kafka_consumer_lag{topic="imgflow.events"}>=0' \
        'imgflow_kafka_consumer_lag{topic="imgflow.jobs"}>=0' \
        'imgflow_coordinator_executions_started_total>=4' \
        "imgflow_build_info{version=\"$VERSION\"}==1" \
        'process_cpu_seconds_total>0' 'process_resident_memory_bytes>1000000' \
        'process_virtual_memory_bytes>1000000' "process_start_time_seconds>$T0" \
        'process_open_fds>3' 'process_max_fds>=64'

scrape worker "$WPORT" \
        'imgflow_worker_tasks_total{operation="image.validate",result="succeeded"}>=4' \
        'imgflow_worker_tasks_total{operation="image.resize",result="succeeded"}>=3' \
        'imgflow_worker_tasks_total{operation="image.resize",result="failed"}>=1' \
        'imgflow_worker_tasks_total{operation="test.echo",result="succeeded"}>=3' \
        'imgflow_worker_task_duration_seconds_count{operation="image.resize"}>=4' \
        'imgflow_worker_images_processed_total{operation="image.resize"}>=3' \
        'imgflow_worker_input_bytes_total{operation="image.validate"}>0' \
        'imgflow_worker_output_bytes_total{operation="image.resize"}>0' \
        'imgflow_worker_task_message_bytes_total{operation="image.resize"}>100' \
        'imgflow_worker_result_message_bytes_total{operation="image.resize"}>50' \
        'imgflow_kafka_consumer_lag{topic="imgflow.tasks"}>=0' \
        "imgflow_build_info{version=\"$VERSION\"}==1" 'process_cpu_seconds_total>0' \
        'process_resident_memory_bytes>1000000' "process_start_time_seconds>$T0" 'process_open_fds>3'

# ---- every family either daemon serves is in docs/operations-guide.md's
# tables, with the type it has
for p in "$CPORT" "$WPORT"; do
        python3 - "$p" "$SRC/docs/operations-guide.md" <<'PY' || fail "metrics not documented (port $p)"
import re, sys, urllib.request
text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=10).read().decode()
doc = open(sys.argv[2]).read()
bad = []
for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
    if not re.search(r"^\| `%s` \| %s \|" % (re.escape(name), kind), doc, re.M):
        bad.append("%s (%s)" % (name, kind))
if bad:
    print("not in docs/operations-guide.md:", ", ".join(bad), file=sys.stderr)
    sys.exit(1)
PY
done
echo "ok   every metric family is documented with its type"

# ---- a backlog shows as lag: 30 sleeping tasks for 2 threads (the consumer
# pauses above 4 queued) -> imgflow_kafka_consumer_lag{topic="imgflow.tasks"} > 0
# while they wait, back to 0 when all ran.
python3 - >"$TMP/sleep-tasks.txt" <<'PY'
import json, time
now = int(time.time() * 1000)
for i in range(30):
    m = {"v": 1, "type": "Task", "executionId": "lag:x%d" % i, "executionName": "x%d" % i,
         "stateMachine": "lag", "state": "Sleep", "taskId": "t%d" % i, "attempt": 0,
         "resource": "imgflow:test.sleep", "operation": "test.sleep", "input": {"ms": 400},
         "deadlineMs": 0, "heartbeatSeconds": 0, "dispatchedAtMs": now}
    print("lag:x%d|%s" % (i, json.dumps(m)))
PY
kcat -P -b "$BOOT" -t imgflow.tasks -K '|' <"$TMP/sleep-tasks.txt" 2>"$TMP/kcat.err" || fail "kcat: $(cat "$TMP/kcat.err")"
scrape worker-backlog "$WPORT" 'imgflow_kafka_consumer_lag{topic="imgflow.tasks"}>0'
scrape worker-drained "$WPORT" 'imgflow_kafka_consumer_lag{topic="imgflow.tasks"}==0' \
        'imgflow_worker_tasks_total{operation="test.sleep",result="succeeded"}>=30'

# ---- idle connections do not lock scrapes out (metrics-idle.py): 300 idle
# connections from 127.0.0.2, then scrapes from 127.0.0.1 and from
# 127.0.0.2 answer 200, and every idle connection is closed by the daemon
# within its request timeout (2 s) plus slack.
for d in coordinator:$CPORT worker:$WPORT; do
        python3 "$SRC/tests/integration/metrics-idle.py" "${d#*:}" --count 300 --peer 127.0.0.2 \
                --close-within 4 | sed "s/^\(ok  \|FAIL:\) /&${d%%:*}: /" >"$TMP/idle.out"
        cat "$TMP/idle.out"
        grep -q FAIL "$TMP/idle.out" && fail "${d%%:*}: idle connections"
done
scrape worker-after-idle "$WPORT" 'imgflow_worker_tasks_total{operation="test.sleep",result="succeeded"}>=30'

stop_pid "$WORKER_PID" 20; RC=$?; WORKER_PID=
[ "$RC" = 0 ] || fail "worker exit code $RC"
stop_pid "$COORD_PID" 20; RC=$?; COORD_PID=
[ "$RC" = 0 ] || fail "coordinator exit code $RC"
check_sanitizers
echo "PASS"
