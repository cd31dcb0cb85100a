#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The local all-in-one stack: redis-server, the mock Kafka cluster, N
# coordinators and M workers on 127.0.0.1, in a private state directory.
#
#   deploy/local-stack.sh start            start everything, wait until ready
#   deploy/local-stack.sh status           what runs, where, and each daemon's STATUS=
#   deploy/local-stack.sh stop             SIGTERM, then SIGKILL after a timeout
#   deploy/local-stack.sh run [CMD...]     start, run CMD (or wait for Ctrl-C), stop
#   deploy/local-stack.sh register NAME FILE   store a state machine definition
#   deploy/local-stack.sh env              the stack's variables, for `eval`
#
# Settings (environment):
#   IMGFLOW_STACK_DIR     state directory (default ./.stack)
#   IMGFLOW_BUILD         build directory with the programs (default ./build)
#   STACK_WORKERS         worker processes (default 2)
#   STACK_COORDINATORS    coordinator processes (default 1)
#   STACK_WORKER_THREADS  image threads per worker (default 0 = CPUs)
#   STACK_WORKER_MAX_IN_FLIGHT  tasks a worker holds before pausing (default 64;
#                         0 = the worker's own default, 4 x threads, at least 8)
#   STACK_PARTITIONS      partitions of every imgflow topic (default 8)
#   STACK_BROKERS         brokers of the mock Kafka cluster (default 3)
#   STACK_FETCH_WAIT_MS   consumers' fetch.wait.max.ms (default 10, see below)
#   STACK_LINGER_MS       producers' linger.ms (default 2: a batch per partition
#                         every 2 ms under load, at most 2 ms more per message)
#   STACK_METADATA_REFRESH_MS  topic.metadata.refresh.interval.ms (default 200, see below)
#   STACK_SESSION_TIMEOUT_MS  the consumers' session.timeout.ms (default 6000, see below)
#   STACK_BUCKETS         "name=/dir ..." storage buckets (default photos=$STACK_DIR/buckets/photos)
#   STACK_RESOURCES       files appended to the configuration, e.g. a [resources]
#                         section (default examples/image-pipeline/stack.conf)
#   STACK_EXTRA_CONFIG    more configuration text, appended last
#   STACK_LOG_LEVEL       daemons' log level (default info)
#   STACK_STOP_TIMEOUT    seconds between SIGTERM and SIGKILL (default 20)
#   STACK_FRESH=1         start with an empty Redis (the AOF is kept otherwise)
#   STACK_READY_TIMEOUT   seconds to wait for each daemon's READY=1 (default 120;
#                         a coordinator is ready once its group gave it partitions)
#   STACK_SETTLE_TIMEOUT  seconds to wait for the consumer groups to settle
#                         (default 120; 0 = do not wait)
#
# Readiness: every daemon gets its own NOTIFY_SOCKET (a small python3
# listener), and `start` waits for READY=1 (redis: PING; Kafka: the BOOTSTRAP=
# line), then until both consumer groups have handed out all their partitions
# (the "N partition(s)" of each daemon's STATUS=), to every member when there
# are enough to go round. The second wait is for librdkafka's mock cluster:
# its group coordinator treats the group as synced once the leader's
# SyncGroup (which carries every member's assignment) arrives, and answers a
# follower whose SyncGroup comes later with an error. The leader's JoinGroup
# response goes out first, so that happens in many rounds; the follower
# rejoins, the next round waits session.timeout.ms - 1 s, and meanwhile the
# follower's partitions have no consumer (seen: 10 to 100 s at a 6 s session
# timeout). A real broker holds a follower's SyncGroup until the leader's.
#
# Pids go to $STACK_DIR/pids/<name>.pid together with the program's
# path; `stop` signals only those pids, and only while /proc/<pid>/exe is
# still that program, so a reused pid is never hit.
set -u

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK_DIR=${IMGFLOW_STACK_DIR:-$PWD/.stack}
mkdir -p "$STACK_DIR" 2>/dev/null
STACK_DIR=$(cd "$STACK_DIR" && pwd)
BUILD=${IMGFLOW_BUILD:-build}
case "$BUILD" in /*) ;; *) [ -d "$PWD/$BUILD" ] && BUILD=$PWD/$BUILD || BUILD=$SRC/$BUILD ;; esac
WORKERS=${STACK_WORKERS:-2}
COORDINATORS=${STACK_COORDINATORS:-1}
THREADS=${STACK_WORKER_THREADS:-0}
MAX_IN_FLIGHT=${STACK_WORKER_MAX_IN_FLIGHT:-64}
FETCH_WAIT_MS=${STACK_FETCH_WAIT_MS:-10}
LINGER_MS=${STACK_LINGER_MS:-2}
METADATA_REFRESH_MS=${STACK_METADATA_REFRESH_MS:-200}
SESSION_TIMEOUT_MS=${STACK_SESSION_TIMEOUT_MS:-6000}
PARTITIONS=${STACK_PARTITIONS:-8}
BROKERS=${STACK_BROKERS:-3}
BUCKETS=${STACK_BUCKETS:-photos=$STACK_DIR/buckets/photos}
RESOURCES=${STACK_RESOURCES-$SRC/examples/image-pipeline/stack.conf}
LOG_LEVEL=${STACK_LOG_LEVEL:-info}
STOP_TIMEOUT=${STACK_STOP_TIMEOUT:-20}
READY_TIMEOUT=${STACK_READY_TIMEOUT:-120}
SETTLE_TIMEOUT=${STACK_SETTLE_TIMEOUT:-120}

COORD_BIN=$BUILD/coordinator/imgflow-coordinator
WORKER_BIN=$BUILD/worker/imgflow-worker
MOCK_BIN=$BUILD/deploy/imgflow-mock-kafka
CLI_BIN=$BUILD/cli/imgflow
TOOL_BIN=$BUILD/tests/integration/test-coordinator-tool

PIDDIR=$STACK_DIR/pids
LOGDIR=$STACK_DIR/logs
RUNDIR=$STACK_DIR/run
ENVFILE=$STACK_DIR/stack.env

say() { echo "local-stack: $*" >&2; }
die() { say "$*"; exit 1; }

free_port() {
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# pid_alive NAME -> prints the pid if NAME's recorded process still runs the
# recorded program.
pid_alive() {
        local f=$PIDDIR/$1.pid pid exe cur
        [ -f "$f" ] || return 1
        read -r pid exe <"$f" || return 1
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
        cur=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
        # A rebuild while the stack runs replaces the file: the kernel then
        # shows the old one as "<path> (deleted)", still the program we started.
        [ "$cur" = "$exe" ] || [ "$cur" = "$exe (deleted)" ] || return 1
        echo "$pid"
}

# launch NAME CMD...: start CMD in its own session (a Ctrl-C in the terminal
# reaches this script, which then stops the stack in order), log to
# $LOGDIR/NAME.log, record the pid.
launch() {
        local name=$1 pid exe i
        shift
        exe=$(readlink -f "$(command -v "$1")")
        NOTIFY_SOCKET=$RUNDIR/$name.sock IMGFLOW_LOG_TARGET=console IMGFLOW_LOG_TIME=1 \
                setsid "$@" </dev/null >>"$LOGDIR/$name.log" 2>&1 &
        pid=$!
        echo "$pid $exe" >"$PIDDIR/$name.pid"
        # setsid execs in place (a background child is not a group leader);
        # wait for the exec so that pid_alive recognises the program.
        [ "$(head -c 4 "$exe" 2>/dev/null)" = $'\x7fELF' ] || return 0 # a script: see the caller
        for i in $(seq 100); do
                [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ] && break
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.01
        done
}

# wait_ready NAME: READY=1 on its notify socket, or fail if it exits.
wait_ready() {
        local name=$1 i
        for i in $(seq $((READY_TIMEOUT * 20))); do
                grep -q "^$name READY=1" "$RUNDIR/notify.log" 2>/dev/null && return 0
                [ "$i" = 300 ] && say "still waiting for $name to be ready after 15 s (a coordinator needs its consumer group to settle; the mock cluster may take several rebalance rounds of session.timeout.ms)"
                pid_alive "$name" >/dev/null || {
                        say "$name exited during start; last lines of $LOGDIR/$name.log:"
                        tail -20 "$LOGDIR/$name.log" >&2
                        return 1
                }
                sleep 0.05
        done
        say "$name not ready after ${READY_TIMEOUT}s; last lines of $LOGDIR/$name.log:"
        tail -20 "$LOGDIR/$name.log" >&2
        return 1
}

# group_counts: from the last STATUS= of each daemon, "worker-1=4 ..." and a
# last word "settled" when the workers hold the tasks topic's partitions and
# the coordinators those of its two topics (jobs, events), none left out
# while there are as many partitions as members.
group_counts() {
        awk -v W="$WORKERS" -v C="$COORDINATORS" -v P="$PARTITIONS" '
        $2 ~ /^STATUS=/ && match($0, /[0-9]+ partition\(s\)/) { n[$1] = substr($0, RSTART, RLENGTH) + 0 }
        function group(kind, count, want,   i, name, sum) {
                sum = 0
                if (count == 0)
                        return
                for (i = 1; i <= count; i++) {
                        name = kind "-" i
                        printf "%s=%s ", name, (name in n) ? n[name] : "?"
                        if (!(name in n) || (n[name] == 0 && count <= want))
                                ok = 0
                        sum += n[name]
                }
                if (sum != want)
                        ok = 0
        }
        END {
                ok = 1
                group("coordinator", C, 2 * P)
                group("worker", W, P)
                print ok ? "settled" : "unsettled"
        }' "$RUNDIR/notify.log" 2>/dev/null
}

wait_settled() {
        local i counts=
        [ "$SETTLE_TIMEOUT" -gt 0 ] || return 0
        for i in $(seq $((SETTLE_TIMEOUT * 10))); do
                counts=$(group_counts)
                case "$counts" in *" settled") return 0 ;; esac
                [ "$i" = 30 ] && say "waiting for the consumer groups to settle (partitions: ${counts% *}); the mock cluster may take several rebalance rounds of session.timeout.ms"
                sleep 0.1
        done
        say "consumer groups not settled after ${SETTLE_TIMEOUT}s (partitions: ${counts% *}); going on"
}

names_in_stop_order() {
        local f
        # workers, then coordinators, then Kafka, Redis and the listener.
        for f in "$PIDDIR"/worker-*.pid "$PIDDIR"/coordinator-*.pid "$PIDDIR"/kafka.pid \
                "$PIDDIR"/redis.pid "$PIDDIR"/notify.pid; do
                [ -f "$f" ] && basename "$f" .pid
        done
}

# stop_names NAME...: SIGTERM to all, wait up to STOP_TIMEOUT, SIGKILL the rest.
stop_names() {
        local name pid pids=() left i
        for name in "$@"; do
                pid=$(pid_alive "$name") && { kill -TERM "$pid" 2>/dev/null; pids+=("$name"); }
        done
        for i in $(seq $((STOP_TIMEOUT * 10))); do
                left=0
                for name in "${pids[@]}"; do pid_alive "$name" >/dev/null && left=1; done
                [ $left = 0 ] && break
                sleep 0.1
        done
        for name in "${pids[@]}"; do
                if pid=$(pid_alive "$name"); then
                        say "$name ($pid) still running after ${STOP_TIMEOUT}s: SIGKILL"
                        kill -KILL "$pid" 2>/dev/null
                fi
        done
        for name in "$@"; do rm -f "$PIDDIR/$name.pid"; done
}

cmd_stop() {
        local names tier
        [ -d "$PIDDIR" ] || return 0
        # Tier by tier, so workers finish their tasks while Kafka still runs.
        for tier in 'worker-*' 'coordinator-*' kafka redis notify; do
                names=()
                for f in "$PIDDIR"/$tier.pid; do [ -f "$f" ] && names+=("$(basename "$f" .pid)"); done
                [ ${#names[@]} -gt 0 ] && stop_names "${names[@]}"
        done
        rm -f "$ENVFILE"
        say "stopped"
}

cmd_status() {
        local name pid st running=0
        if [ -f "$ENVFILE" ]; then
                # shellcheck disable=SC1090
                . "$ENVFILE"
                echo "state     $STACK_DIR"
                echo "config    $IMGFLOW_CONFIG"
                echo "redis     127.0.0.1:$REDIS_PORT"
                echo "kafka     $BOOTSTRAP"
        fi
        for name in $(names_in_stop_order); do
                if pid=$(pid_alive "$name"); then
                        st=$(grep "^$name STATUS=" "$RUNDIR/notify.log" 2>/dev/null | tail -1 | cut -d= -f2-)
                        printf '%-14s running  pid %-7s %s\n' "$name" "$pid" "$st"
                        running=$((running + 1))
                else
                        printf '%-14s DEAD\n' "$name"
                fi
        done
        [ $running -gt 0 ]
}

cmd_start() {
        local rport boot i b name conf extra
        [ -x "$COORD_BIN" ] && [ -x "$WORKER_BIN" ] && [ -x "$MOCK_BIN" ] ||
                die "programs missing under $BUILD (build first: meson setup build && ninja -C build)"
        command -v redis-server >/dev/null || die "redis-server missing (deploy/setup-debian.sh)"
        command -v python3 >/dev/null || die "python3 missing (deploy/setup-debian.sh)"
        if [ -d "$PIDDIR" ] && [ -n "$(names_in_stop_order)" ]; then
                for name in $(names_in_stop_order); do
                        pid_alive "$name" >/dev/null && die "already running in $STACK_DIR (stop it first)"
                done
                rm -f "$PIDDIR"/*.pid
        fi
        # STACK_FRESH=1: forget the previous run's Redis data (executions, definitions).
        [ "${STACK_FRESH:-0}" = 1 ] && rm -rf "$STACK_DIR/redis"
        mkdir -p "$PIDDIR" "$LOGDIR" "$RUNDIR" "$STACK_DIR/redis"
        [ ${#RUNDIR} -lt 90 ] || die "state directory path too long for unix sockets: $STACK_DIR"
        rm -f "$RUNDIR"/*.sock "$RUNDIR/notify.log"
        trap 'say "interrupted"; cmd_stop; exit 130' INT TERM

        # sd_notify listener: one datagram socket per daemon, lines "<name> <msg>".
        local names=()
        for i in $(seq "$COORDINATORS"); do names+=("coordinator-$i"); done
        for i in $(seq "$WORKERS"); do names+=("worker-$i"); done
        cat >"$RUNDIR/notify.py" <<'EOF'
import os, select, socket, sys
rundir, names = sys.argv[1], sys.argv[2:]
socks = {}
for n in names:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(os.path.join(rundir, n + ".sock"))
    socks[s] = n
with open(os.path.join(rundir, "notify.log"), "a") as log:
    log.write("notify LISTENING\n"); log.flush()
    while True:
        for s in select.select(list(socks), [], [])[0]:
            for line in s.recv(65536).decode(errors="replace").splitlines():
                log.write("%s %s\n" % (socks[s], line))
            log.flush()
EOF
        launch notify python3 "$RUNDIR/notify.py" "$RUNDIR" "${names[@]}"
        for i in $(seq 100); do grep -q "^notify LISTENING" "$RUNDIR/notify.log" 2>/dev/null && break; sleep 0.05; done
        grep -q "^notify LISTENING" "$RUNDIR/notify.log" 2>/dev/null || { cmd_stop; die "notify listener did not start"; }
        # python3 may be a wrapper script (pyenv): record the interpreter it became.
        read -r i _ <"$PIDDIR/notify.pid"
        echo "$i $(readlink "/proc/$i/exe")" >"$PIDDIR/notify.pid"

        # Redis: loopback, its own port, AOF on, no RDB snapshots.
        rport=$(free_port)
        launch redis redis-server --port "$rport" --bind 127.0.0.1 --protected-mode yes \
                --appendonly yes --appendfsync everysec --save "" --dir "$STACK_DIR/redis" \
                --daemonize no --loglevel warning
        for i in $(seq 200); do
                redis-cli -p "$rport" ping 2>/dev/null | grep -q PONG && break
                pid_alive redis >/dev/null || break
                sleep 0.05
        done
        redis-cli -p "$rport" ping 2>/dev/null | grep -q PONG ||
                { tail -5 "$LOGDIR/redis.log" >&2; cmd_stop; die "redis-server did not start"; }
        say "redis-server on 127.0.0.1:$rport (AOF in $STACK_DIR/redis)"

        # The mock Kafka cluster.
        : >"$RUNDIR/kafka.out"
        NOTIFY_SOCKET='' setsid "$MOCK_BIN" --brokers "$BROKERS" --partitions "$PARTITIONS" --no-stdin \
                </dev/null >"$RUNDIR/kafka.out" 2>>"$LOGDIR/kafka.log" &
        echo "$! $(readlink -f "$MOCK_BIN")" >"$PIDDIR/kafka.pid"
        boot=
        for i in $(seq 200); do
                boot=$(sed -n 's/^BOOTSTRAP=//p' "$RUNDIR/kafka.out" | head -1)
                [ -n "$boot" ] && break
                pid_alive kafka >/dev/null || break
                sleep 0.05
        done
        [ -n "$boot" ] || { tail -5 "$LOGDIR/kafka.log" >&2; cmd_stop; die "mock Kafka did not start"; }
        say "mock Kafka at $boot ($BROKERS brokers, $PARTITIONS partitions per topic)"

        # The configuration.
        conf=$STACK_DIR/imgflow.conf
        {
                echo "# Generated by deploy/local-stack.sh; rewritten on every start."
                echo "[imgflow]"
                echo "log_level = $LOG_LEVEL"
                echo "[coordinator]"
                echo "timer_interval = 200ms"
                echo "shutdown_timeout = 10s"
                echo "[worker]"
                echo "threads = $THREADS"
                # A worker whose queue passes max_in_flight pauses its consumer
                # (and resumes below half). A deeper queue than the default
                # means fewer pauses (each one drops the prefetched messages).
                echo "max_in_flight = $MAX_IN_FLIGHT"
                echo "shutdown_timeout = 10s"
                echo "[redis]"
                echo "address = 127.0.0.1:$rport"
                echo "[kafka]"
                echo "bootstrap.servers = $boot"
                # Partitions and leaders change often in tests (brokers taken
                # down): refresh often on loopback. (Resumed consumers no
                # longer depend on it: they seek, which restarts the fetch.)
                echo "topic.metadata.refresh.interval.ms = $METADATA_REFRESH_MS"
                echo "[kafka.producer]"
                echo "linger.ms = $LINGER_MS"
                echo "[kafka.consumer]"
                # The mock's group coordinator waits session.timeout.ms - 1 s
                # for members in each rebalance round, and a join often takes
                # several rounds (see "Readiness" above). 3000 gave no faster
                # starts in trials (mean 6.8 s against 6.4 s over 12 each).
                echo "session.timeout.ms = $SESSION_TIMEOUT_MS"
                echo "heartbeat.interval.ms = 500"
                # librdkafka's mock cluster answers a Fetch on an empty
                # partition only when MaxWaitTime is over (a real broker
                # answers as soon as data arrives): keep the wait short.
                echo "fetch.wait.max.ms = $FETCH_WAIT_MS"
                echo "[buckets]"
                for b in $BUCKETS; do
                        mkdir -p "${b#*=}"
                        echo "${b%%=*} = $(cd "${b#*=}" && pwd)"
                done
                for extra in $RESOURCES; do
                        [ -f "$extra" ] && { echo "# from $extra"; cat "$extra"; }
                done
                [ -n "${STACK_EXTRA_CONFIG:-}" ] && printf '%s\n' "$STACK_EXTRA_CONFIG"
        } >"$conf"

        cat >"$ENVFILE" <<EOF
STACK_DIR='$STACK_DIR'
IMGFLOW_CONFIG='$conf'
REDIS_PORT='$rport'
BOOTSTRAP='$boot'
BUILD='$BUILD'
WORKERS='$WORKERS'
COORDINATORS='$COORDINATORS'
EOF

        for i in $(seq "$COORDINATORS"); do
                IMGFLOW_COORDINATOR_INSTANCE=coordinator-$i launch "coordinator-$i" "$COORD_BIN" --config "$conf"
        done
        for i in $(seq "$WORKERS"); do
                launch "worker-$i" "$WORKER_BIN" --config "$conf" --instance "$i"
        done
        for name in "${names[@]}"; do
                wait_ready "$name" || { cmd_stop; exit 1; }
        done
        wait_settled
        say "ready: $COORDINATORS coordinator(s), $WORKERS worker(s); logs in $LOGDIR"
        trap - INT TERM
}

# register NAME FILE: store a definition (a new version if NAME exists).
cmd_register() {
        local name=$1 file=$2
        [ -f "$ENVFILE" ] || die "not running (start it first)"
        # shellcheck disable=SC1090
        . "$ENVFILE"
        if [ -x "$CLI_BIN" ] && "$CLI_BIN" --help 2>&1 | grep -q 'create-state-machine'; then
                # The same definition again is fine; another one is a new version.
                "$CLI_BIN" create-state-machine --config "$IMGFLOW_CONFIG" --name "$name" \
                        --definition "file://$file" >/dev/null 2>"$RUNDIR/register.err" && return 0
                grep -q StateMachineAlreadyExists "$RUNDIR/register.err" &&
                        "$CLI_BIN" update-state-machine --config "$IMGFLOW_CONFIG" --name "$name" \
                                --definition "file://$file" >/dev/null && return 0
                cat "$RUNDIR/register.err" >&2
                die "cannot register $name from $file"
        fi
        [ -x "$TOOL_BIN" ] || die "cannot register: no 'imgflow create-state-machine' and no $TOOL_BIN"
        "$TOOL_BIN" "$REDIS_PORT" register "$name" "$file" >/dev/null ||
                die "cannot register $name from $file"
}

cmd_env() {
        [ -f "$ENVFILE" ] || die "not running"
        sed 's/^/export /' "$ENVFILE"
}

cmd_run() {
        local rc=0
        cmd_start || exit 1
        trap 'say "interrupted: stopping"; cmd_stop; exit 130' INT TERM
        if [ $# -gt 0 ]; then
                # shellcheck disable=SC1090
                set -a
                # shellcheck disable=SC1090
                . "$ENVFILE"
                set +a
                "$@" || rc=$?
        else
                say "running; Ctrl-C stops it"
                while :; do sleep 1; done
        fi
        cmd_stop
        return $rc
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
run) shift; cmd_run "$@" ;;
register) [ $# = 3 ] || die "usage: $0 register NAME FILE"; cmd_register "$2" "$3" ;;
env) cmd_env ;;
*) sed -n '3,/^set -u$/{/^set -u$/d;s/^# \{0,1\}//;p}' "$0"; exit 2 ;;
esac
