# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# Sourced (bash) by the shell integration tests (cli-stack.sh,
# coordinator-stack.sh, ops-stack.sh, test-coordinator.sh, test-worker.sh,
# ...): redis-server and Kafka come from deploy/local-stack.sh, started with
# no daemons in a private state directory ($TMP/stack) and stopped by it (by
# pid) on exit; the daemons under test are started by the test itself.
# Loopback only; every wait is bounded.
#
#   stack_init NAME   exits 77 (skipped) without redis-server, redis-cli,
#                     kcat or python3, or without Apache Kafka (Java and the
#                     jars of deploy/setup-debian.sh) unless STACK_KAFKA=mock;
#                     makes $TMP (/tmp/imgflow-test-NAME.*, removed on exit
#                     unless KEEP_TMP is set), names $CONF ($TMP/imgflow.conf)
#                     and sets the exit trap. The programs come from the build
#                     directory of $COORD, $WORKER or $MOCK (or $STACK_BUILD).
#   start_infra [--partitions N] [--topics "name:P ..."] [--brokers N]
#                     redis-server (AOF, $RPORT) and Kafka ($BOOT; $KAFKA is
#                     real or mock); see deploy/local-stack.sh for STACK_*.
#   stack_kill NAME [SIGNAL]  / stack_restart NAME / stack_pid NAME
#                     deploy/local-stack.sh kill/restart/pid on this stack
#                     (redis, kafka-<id>).
#   stack_conf        writes $CONF: the sections every stack shares (redis,
#                     kafka, the coordinator's timers), then its standard
#                     input; a section may come again and a key given again
#                     wins.
#   start_coordinator  $COORD --config $CONF, console log appended to
#                     $TMP/coordinator.log, pid in $COORD_PID; environment
#                     from $COORD_ENV, then $DAEMON_ENV.
#   kill9_coordinator  SIGKILL to $COORD_PID, reaped.
#   and what tests/helpers/common.sh gives (wait_for, free_port, now_ms,
#   stop_pid, fail/ok/$FAILS).
#
# A test adds the pids it starts itself to PIDS (PIDS+=($!)). On exit
# $COORD_PID, $WORKER_PID and PIDS get SIGTERM, up to 5 s to exit, then
# SIGKILL; then the stack stops.

HELPERS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
. "$HELPERS/common.sh"
LOCAL_STACK=$HELPERS/../../deploy/local-stack.sh

# stack_die WHAT LOG: a process of the stack did not start.
stack_die() {
        echo "$1 did not start"
        tail -20 "$2"
        exit 1
}

stack_cleanup() {
        local p i f pids=

        # Only what still runs in this test's session: a daemon that exited
        # earlier left its pid free for any process on the host.
        for p in ${COORD_PID:-} ${WORKER_PID:-} ${PIDS[*]}; do
                own_pid "$p" && pids="$pids $p"
        done
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
        # A failed test shows how its stack fared: a broker or redis-server
        # that went away explains a run of failures in the log.
        if [ "${FAILS:-0}" -gt 0 ] && [ -d "$TMP/stack/pids" ]; then
                local_stack status 2>&1 | sed 's/^/stack: /'
                for f in "$TMP"/stack/logs/kafka*.log "$TMP"/stack/logs/redis.log; do
                        [ -f "$f" ] || continue
                        echo "stack: last lines of $(basename "$f"):"
                        tail -8 "$f" | cut -c1-300 | sed 's/^/    /'
                done
        fi
        [ -d "$TMP/stack/pids" ] && local_stack stop >/dev/null 2>&1
        [ -n "${KEEP_TMP:-}" ] && echo "kept $TMP" || rm -rf "$TMP"
}

# local_stack ARGS...: deploy/local-stack.sh on this test's stack.
# (The brokers run with the C1 compiler only, local-stack.sh's default.)
local_stack() {
        IMGFLOW_STACK_DIR=$TMP/stack IMGFLOW_BUILD=$STACK_BUILD STACK_STOP_TIMEOUT=${STACK_STOP_TIMEOUT:-5} \
                "$LOCAL_STACK" "$@"
}

# kafka_missing: why the real broker cannot run here (nothing when it can).
kafka_missing() {
        [ "${STACK_KAFKA:-real}" = mock ] && return 0
        command -v java >/dev/null || { echo "java missing"; return 0; }
        (
                SRC=$HELPERS/../..
                # shellcheck source=../../deploy/kafka/kafka-env.sh
                . "$SRC/deploy/kafka/kafka-env.sh"
                kafka_libs_ok || echo "Apache Kafka $KAFKA_VERSION missing in $IMGFLOW_KAFKA_LIBS"
        )
}

# kcat_config DIR: every kcat of the test reads DIR/kcat.conf. A consumer
# that reads a topic to its end (-e) learns the end from a Fetch that found
# nothing, and the broker holds such a Fetch for fetch.wait.max.ms (500 ms
# by default): about 1 s per `kcat -C -e`, over a minute in test-worker.sh.
# (Producers print a warning about the consumer property, and ignore it.)
kcat_config() {
        echo "fetch.wait.max.ms=5" >"$1/kcat.conf"
        export KCAT_CONFIG=$1/kcat.conf
}

stack_init() {
        local p why prog

        for p in redis-server redis-cli kcat python3; do
                command -v "$p" >/dev/null || { echo "$p missing: skipped"; exit 77; }
        done
        why=$(kafka_missing)
        [ -z "$why" ] || { echo "$why (deploy/setup-debian.sh, or STACK_KAFKA=mock): skipped"; exit 77; }
        if [ -z "${STACK_BUILD:-}" ]; then
                for prog in "${COORD:-}" "${WORKER:-}" "${MOCK:-}"; do
                        [ -n "$prog" ] && { STACK_BUILD=$(cd "$(dirname "$prog")/.." && pwd); break; }
                done
        fi
        TMP=$(mktemp -d "/tmp/imgflow-test-$1.XXXXXX")
        CONF=$TMP/imgflow.conf
        kcat_config "$TMP"
        PIDS=()
        COORD_PID=
        trap stack_cleanup EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
}

start_infra() {
        local partitions=4 topics= brokers=1
        while [ $# -gt 0 ]; do
                case "$1" in
                --partitions) partitions=$2 ;;
                --topics) topics=$2 ;;
                --brokers) brokers=$2 ;;
                *) echo "start_infra: unknown $1"; exit 2 ;;
                esac
                shift 2
        done
        if ! STACK_COORDINATORS=0 STACK_WORKERS=0 STACK_PARTITIONS=$partitions STACK_TOPICS=$topics \
                STACK_BROKERS=$brokers STACK_REDIS_APPENDFSYNC=${STACK_REDIS_APPENDFSYNC:-everysec} \
                STACK_RESOURCES= local_stack start >"$TMP/stack.log" 2>&1; then
                stack_die "the stack (redis-server, Kafka)" "$TMP/stack.log"
        fi
        # shellcheck disable=SC1091
        . "$TMP/stack/stack.env"
        RPORT=$REDIS_PORT
        BOOT=$BOOTSTRAP
}

stack_kill() { local_stack kill "$@"; }
stack_restart() { local_stack restart "$1" >>"$TMP/stack.log" 2>&1; }
stack_pid() { local_stack pid "$1"; }

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
                # The mock cluster answers an empty Fetch only when
                # fetch.wait.max.ms is over, even when messages arrive
                # meanwhile: with the default 500 ms every task's round trip
                # took ~0.5 s. A real broker answers when data arrives.
                [ "$KAFKA" = mock ] && echo "fetch.wait.max.ms = 10"
                cat
        } >"$CONF"
}

start_coordinator() {
        env IMGFLOW_LOG_TARGET=console ${COORD_ENV:-} ${DAEMON_ENV:-} "$COORD" --config "$CONF" \
                >>"$TMP/coordinator.log" 2>&1 &
        COORD_PID=$!
}

kill9_coordinator() {
        own_pid "$COORD_PID" && kill -9 "$COORD_PID"
        wait "$COORD_PID" 2>/dev/null
        COORD_PID=
}
