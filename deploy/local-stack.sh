#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The local all-in-one stack: redis-server, Apache Kafka (KRaft brokers, or
# librdkafka's mock cluster), N coordinators, M workers and, when asked,
# imgflow-api (the Step Functions API) on 127.0.0.1, in a private state
# directory. The one way imgflow starts a stack: the demo,
# the integration and fault tests (tests/helpers/) and the benchmarks use it.
#
#   deploy/local-stack.sh start            start everything, wait until ready
#   deploy/local-stack.sh status           what runs, where, and each daemon's STATUS=
#   deploy/local-stack.sh stop             SIGTERM, then SIGKILL after a timeout
#   deploy/local-stack.sh run [CMD...]     start, run CMD (or wait for Ctrl-C), stop
#   deploy/local-stack.sh register NAME FILE   store a state machine definition
#   deploy/local-stack.sh env              the stack's variables, for `eval`
#   deploy/local-stack.sh pid NAME         the pid of redis, kafka-<id>, coordinator-<i>, worker-<i>, api-<i>
#   deploy/local-stack.sh kill NAME [SIG]  signal one process (default KILL; KILL, TERM
#                                          and INT wait until it is gone); with the mock
#                                          cluster, kafka-<id> KILL takes that broker down
#   deploy/local-stack.sh restart NAME     start one process again as it was started
#                                          (same ports and data), wait until it is ready
#   deploy/local-stack.sh leader TOPIC PARTITION   the broker id leading a partition
#   deploy/local-stack.sh kafka-command LINE       a command to the mock cluster (its
#                                          control FIFO; see deploy/mock-kafka.c)
#
# Settings (environment):
#   IMGFLOW_STACK_DIR     state directory (default ./.stack)
#   IMGFLOW_BUILD         build directory with the programs (default ./build)
#   STACK_WORKERS         worker processes (default 2)
#   STACK_COORDINATORS    coordinator processes (default 1); with no daemons at
#                         all, `start` starts redis-server and Kafka only
#   STACK_API             imgflow-api processes (default 0), each on a free
#                         loopback port, all with one access key made for the
#                         stack (never unauthenticated): $STACK_DIR/api-keys.json
#                         (mode 0600) holds it with a policy of states:* on
#                         every resource, made once and kept across restarts;
#                         `env` gives API_ENDPOINT (api-1's; API_ENDPOINTS has
#                         all), API_REGION, API_ACCOUNT (of the ARNs),
#                         API_ACCESS_KEY_ID and API_SECRET_ACCESS_KEY
#   STACK_WORKER_THREADS  image threads per worker (default 0 = CPUs)
#   STACK_WORKER_MAX_IN_FLIGHT  tasks a worker holds before pausing (default 64;
#                         0 = the worker's own default, 4 x threads, at least 8)
#   STACK_KAFKA           real (default): Apache Kafka brokers in KRaft mode, from
#                         the jars deploy/setup-debian.sh fetched (Java 17 or later);
#                         mock: librdkafka's mock cluster (imgflow-mock-kafka), for
#                         a machine without Java
#   STACK_BROKERS         brokers (default 1). With 3 or more: replication factor 3
#                         and min.insync.replicas 2, as in production
#   STACK_PARTITIONS      partitions of the jobs, events and tasks topics (default 8;
#                         notifications get at most 6, dead letters at most 3)
#   STACK_TOPICS          more topics, "name[:partitions] ..." (or with commas)
#   STACK_KAFKA_HEAP      each broker's Java heap (default 384m)
#   STACK_KAFKA_JAVA_OPTS more JVM options of the brokers
#   STACK_KAFKA_PROPERTIES more broker properties (lines of server.properties,
#                         appended last: they override the stack's)
#   STACK_FETCH_WAIT_MS   consumers' fetch.wait.max.ms (default 100; 10 with the
#                         mock, see below)
#   STACK_LINGER_MS       producers' linger.ms (default 2: a batch per partition
#                         every 2 ms under load, at most 2 ms more per message)
#   STACK_METADATA_REFRESH_MS  topic.metadata.refresh.interval.ms (default 200 with 3 or
#                         more brokers, 10000 with fewer; see below)
#   STACK_SESSION_TIMEOUT_MS  the consumers' session.timeout.ms (default 6000)
#   STACK_BUCKETS         "name=/dir ..." storage buckets (default photos=$STACK_DIR/buckets/photos)
#   STACK_WATCH=1         also run imgflow-watch (directory buckets): files written
#                         into a bucket are published as S3 event notifications to
#                         imgflow.s3-events, and [triggers] rules start executions
#                         (its journal in $STACK_DIR/watch)
#   STACK_STORAGE         dir (default): the buckets are those directories; s3: an
#                         S3-compatible server (versitygw, deploy/s3/s3-env.sh) on
#                         loopback serves them (its files under $STACK_DIR/s3/buckets),
#                         the daemons reach them as s3://<name> with SigV4, and
#                         it publishes its bucket notifications (S3 event format) to
#                         imgflow.s3-events; `env` gives S3_ENDPOINT,
#                         S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY
#   STACK_RESOURCES       files appended to the configuration, e.g. a [resources]
#                         section (default examples/image-pipeline/stack.conf)
#   STACK_EXTRA_CONFIG    more configuration text, appended last
#   STACK_LOG_LEVEL       daemons' log level (default info)
#   STACK_REDIS_APPENDFSYNC  redis-server's appendfsync (default everysec: a
#                         development stack, twice as fast; deployments use
#                         always, docs/redis.md "Durability")
#   STACK_REDIS_REPLICA=1 also a replica of Redis (redis-replica, --replicaof the
#                         master, the same appendfsync; its data in $STACK_DIR/redis-replica)
#   STACK_REDIS_SENTINELS N Redis Sentinels (sentinel-1..N, quorum N/2+1, master
#                         name "imgflow", down after 1 s) watching the master and
#                         the replica (implies STACK_REDIS_REPLICA=1); the daemons
#                         find the master through them ([redis] sentinels)
#   STACK_REDIS_WAIT_REPLICAS  [redis] wait_replicas (default 0: off)
#   STACK_STOP_TIMEOUT    seconds between SIGTERM and SIGKILL (default 20)
#   STACK_FRESH=1         start with an empty Redis (the AOF is kept otherwise;
#                         Kafka always starts empty)
#   STACK_READY_TIMEOUT   seconds to wait for each process to be ready (default 120)
#   STACK_SETTLE_TIMEOUT  seconds to wait for the consumer groups to settle
#                         (default 120; 0 = do not wait)
#   STACK_OWNER_PID       a pid (a test's): `start` also starts a watch, in its
#                         own session, that stops the stack once that process
#                         is gone, however it ended (see "Owner" below)
#
# Readiness: every daemon gets its own NOTIFY_SOCKET (a small python3
# listener), and `start` waits for READY=1 (redis: PING; a broker: its
# "Kafka Server started" line, then imgflow-kafka-topics creates the topics
# and waits until each partition has a leader; the mock: its BOOTSTRAP=
# line), then until both consumer groups have handed out all their
# partitions (the "N partition(s)" of each daemon's STATUS=), to every
# member when there are enough to go round. A real broker settles a group in
# one round (group.initial.rebalance.delay.ms is 0 here). The mock cluster
# can take many: its group coordinator treats the group as synced once the
# leader's SyncGroup arrives and answers a follower's later SyncGroup with
# an error; the follower rejoins and the next round waits session.timeout.ms
# - 1 s (seen: 10 to 100 s at a 6 s session timeout).
#
# Pids go to $STACK_DIR/pids/<name>.pid together with the program's
# path and the process's start time; `stop` and `kill` signal only those
# pids, and only while /proc/<pid> is still that program started at that
# time, so a reused pid is never hit.
#
# Owner: the stack's processes run in sessions of their own, so a signal to
# the process group of whoever started them does not reach them. meson test
# ends a test that timed out or was cancelled (tests/run-all.sh interrupted)
# with SIGTERM to the test's process group and SIGKILL 0.5 s later, before a
# test's own `stop` could finish (a broker takes seconds to stop), and a
# python test dies of SIGTERM without running its cleanup. So a stack with
# STACK_OWNER_PID has a watch (`local-stack.sh owner-watch`, in its own
# session, pid in run/owner-watch.pid) that checks once a second that the
# owner (that pid with the start time it had) still runs, and when it does
# not, stops the stack as `stop` does. `stop` ends the watch once everything
# else is stopped, so a `stop` killed half way leaves it to the watch.
set -u

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK_DIR=${IMGFLOW_STACK_DIR:-$PWD/.stack}
mkdir -p "$STACK_DIR" 2>/dev/null
STACK_DIR=$(cd "$STACK_DIR" && pwd)
BUILD=${IMGFLOW_BUILD:-build}
case "$BUILD" in /*) ;; *) [ -d "$PWD/$BUILD" ] && BUILD=$PWD/$BUILD || BUILD=$SRC/$BUILD ;; esac
WORKERS=${STACK_WORKERS:-2}
COORDINATORS=${STACK_COORDINATORS:-1}
APIS=${STACK_API:-0}
THREADS=${STACK_WORKER_THREADS:-0}
MAX_IN_FLIGHT=${STACK_WORKER_MAX_IN_FLIGHT:-64}
KAFKA=${STACK_KAFKA:-real}
if [ "$KAFKA" = mock ]; then FETCH_WAIT_MS=${STACK_FETCH_WAIT_MS:-10}; else FETCH_WAIT_MS=${STACK_FETCH_WAIT_MS:-100}; fi
LINGER_MS=${STACK_LINGER_MS:-2}
if [ "${STACK_BROKERS:-1}" -ge 3 ]; then METADATA_REFRESH_MS=${STACK_METADATA_REFRESH_MS:-200}; else METADATA_REFRESH_MS=${STACK_METADATA_REFRESH_MS:-10000}; fi
SESSION_TIMEOUT_MS=${STACK_SESSION_TIMEOUT_MS:-6000}
PARTITIONS=${STACK_PARTITIONS:-8}
BROKERS=${STACK_BROKERS:-1}
TOPICS=${STACK_TOPICS:-}
TOPICS=${TOPICS//,/ }
KAFKA_HEAP=${STACK_KAFKA_HEAP:-384m}
BUCKETS=${STACK_BUCKETS:-photos=$STACK_DIR/buckets/photos}
STORAGE=${STACK_STORAGE:-dir}
RESOURCES=${STACK_RESOURCES-$SRC/examples/image-pipeline/stack.conf}
LOG_LEVEL=${STACK_LOG_LEVEL:-info}
APPENDFSYNC=${STACK_REDIS_APPENDFSYNC:-everysec}
SENTINELS=${STACK_REDIS_SENTINELS:-0}
REPLICA=${STACK_REDIS_REPLICA:-0}
[ "$SENTINELS" -gt 0 ] && REPLICA=1
WAIT_REPLICAS=${STACK_REDIS_WAIT_REPLICAS:-0}
STOP_TIMEOUT=${STACK_STOP_TIMEOUT:-20}
READY_TIMEOUT=${STACK_READY_TIMEOUT:-120}
SETTLE_TIMEOUT=${STACK_SETTLE_TIMEOUT:-120}

COORD_BIN=$BUILD/coordinator/imgflow-coordinator
WORKER_BIN=$BUILD/worker/imgflow-worker
WATCH_BIN=$BUILD/watch/imgflow-watch
API_BIN=$BUILD/api/imgflow-api
MOCK_BIN=$BUILD/deploy/imgflow-mock-kafka
TOPICS_BIN=$BUILD/deploy/imgflow-kafka-topics
CLI_BIN=$BUILD/cli/imgflow
TOOL_BIN=$BUILD/tests/integration/test-coordinator-tool

PIDDIR=$STACK_DIR/pids
LOGDIR=$STACK_DIR/logs
RUNDIR=$STACK_DIR/run
KDIR=$STACK_DIR/kafka
ENVFILE=$STACK_DIR/stack.env

# shellcheck source=kafka/kafka-env.sh
. "$SRC/deploy/kafka/kafka-env.sh"
# shellcheck source=s3/s3-env.sh
. "$SRC/deploy/s3/s3-env.sh"

say() { echo "local-stack: $*" >&2; }
die() { say "$*"; exit 1; }

# free_ports N: N distinct free loopback ports (all bound at once, then freed).
free_ports() {
        python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# pid_alive NAME -> prints the pid if NAME's recorded process still runs the
# recorded program.
pid_alive() {
        local f=$PIDDIR/$1.pid pid exe start cur
        [ -f "$f" ] || return 1
        read -r pid exe start <"$f" || return 1
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
        cur=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
        # A rebuild while the stack runs replaces the file: the kernel then
        # shows the old one as "<path> (deleted)", still the program we started.
        [ "$cur" = "$exe" ] || [ "$cur" = "$exe (deleted)" ] || return 1
        # The program alone does not tell a reused pid apart: pids wrap at
        # /proc/sys/kernel/pid_max (32768 by default), and every broker of
        # every stack on the host runs the same java. A stale file of a
        # broker killed long ago once named another test's broker.
        [ "$(proc_start "$pid")" = "$start" ] || return 1
        echo "$pid"
}

# launch NAME [VAR=VALUE...] CMD...: start CMD (with those variables) in its
# own session (a Ctrl-C in the terminal reaches this script, which then
# stops the stack in order), log to $LOGDIR/NAME.log, record the pid, and
# the command for `restart`.
launch() {
        local name=$1 pid exe i envs=()
        shift
        while [[ "$1" == [A-Za-z_]*=* ]]; do
                envs+=("$1")
                shift
        done
        printf '%q ' "${envs[@]}" "$@" >"$RUNDIR/$name.cmd"
        exe=$(readlink -f "$(command -v "$1")")
        NOTIFY_SOCKET=$RUNDIR/$name.sock IMGFLOW_LOG_TARGET=console IMGFLOW_LOG_TIME=1 \
                setsid env "${envs[@]}" "$@" </dev/null >>"$LOGDIR/$name.log" 2>&1 &
        pid=$!
        # Its start time, with the pid, names the process (see pid_alive);
        # "-" when it is gone already.
        echo "$pid $exe $(proc_start "$pid" || echo -)" >"$PIDDIR/$name.pid"
        # setsid and env exec in place (a background child is not a group
        # leader); wait for the last exec so that pid_alive recognises the
        # program.
        [ "$(head -c 4 "$exe" 2>/dev/null)" = $'\x7fELF' ] || return 0 # a script: see the caller
        for i in $(seq 200); do
                [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ] && break
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.01
        done
}

# wait_until SECONDS NAME COMMAND...: COMMAND every 50 ms until it succeeds;
# fails at once when NAME's process exits, or after SECONDS.
wait_until() {
        local secs=$1 name=$2 i
        shift 2
        for i in $(seq $((secs * 20))); do
                "$@" && return 0
                pid_alive "$name" >/dev/null || {
                        "$@" && return 0
                        say "$name exited during start; last lines of $LOGDIR/$name.log:"
                        tail -20 "$LOGDIR/$name.log" >&2
                        return 1
                }
                sleep 0.05
        done
        say "$name not ready after ${secs}s; last lines of $LOGDIR/$name.log:"
        tail -20 "$LOGDIR/$name.log" >&2
        return 1
}

# lines_in FILE PATTERN: how many lines of FILE match.
lines_in() { grep -c -- "$2" "$1" 2>/dev/null || true; }

# ready_count NAME: how often NAME said it was ready so far (restart waits
# for one more).
ready_count() {
        case "$1" in
        redis | redis-replica | sentinel-*) echo 0 ;;
        kafka-*) [ "$KAFKA" = mock ] && echo 0 || lines_in "$LOGDIR/$1.log" 'Kafka Server started' ;;
        kafka) echo 0 ;;
        s3) echo 0 ;;
        *) lines_in "$RUNDIR/notify.log" "^$1 READY=1" ;;
        esac
}

# is_ready NAME BEFORE: NAME is ready (again: more ready lines than BEFORE).
is_ready() {
        case "$1" in
        redis) redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG ;;
        redis-replica) redis-cli -p "$REDIS_REPLICA_PORT" ping 2>/dev/null | grep -q PONG ;;
        sentinel-*)
                local sp=${SENTINEL_PORTS//,/ }
                read -r -a sp <<<"$sp"
                redis-cli -p "${sp[${1#sentinel-} - 1]##*:}" sentinel get-master-addr-by-name imgflow 2>/dev/null |
                        grep -q .
                ;;
        kafka-*) [ "$(ready_count "$1")" -gt "$2" ] ;;
        kafka) grep -qs '^BOOTSTRAP=' "$LOGDIR/kafka.log" ;;
        s3) curl -s -o /dev/null -m 1 "$S3_ENDPOINT/" ;;
        *) [ "$(ready_count "$1")" -gt "$2" ] ;;
        esac
}

# ---------------------------------------------------------------- S3

# start_s3: versitygw on a free loopback port serving $STACK_DIR/s3/buckets
# (one directory per bucket of STACK_BUCKETS, kept across starts like the
# Redis data), its bucket notifications to imgflow.s3-events. New
# credentials every start.
start_s3() {
        local b try
        S3_PORT=$(free_ports 1)
        S3_ENDPOINT=http://127.0.0.1:$S3_PORT
        S3_ACCESS_KEY_ID=imgflow-stack
        S3_SECRET_ACCESS_KEY=$(head -c 24 /dev/urandom | base64 | tr '+/' 'AB')
        mkdir -p "$STACK_DIR/s3/buckets" "$STACK_DIR/s3/meta"
        for b in $BUCKETS; do mkdir -p "$STACK_DIR/s3/buckets/${b%%=*}"; done
        # versitygw sends a test notification as it starts and exits when
        # Kafka has not taken it within 10 s ("init bucket event
        # notifications: context deadline exceeded"), which a fresh broker on
        # a busy machine can take: up to 3 tries.
        for try in 1 2 3; do
                launch s3 "$IMGFLOW_VERSITYGW" --port "127.0.0.1:$S3_PORT" --access "$S3_ACCESS_KEY_ID" \
                        --secret "$S3_SECRET_ACCESS_KEY" --region us-east-1 --keep-alive --quiet \
                        --virtual-domain localhost --event-kafka-url "${BOOTSTRAP%%,*}" \
                        --event-kafka-topic imgflow.s3-events posix --sidecar "$STACK_DIR/s3/meta" \
                        "$STACK_DIR/s3/buckets"
                wait_until 30 s3 is_ready s3 0 && break
                [ $try -lt 3 ] && ! pid_alive s3 >/dev/null &&
                        tail -1 "$LOGDIR/s3.log" | grep -q 'init bucket event notifications' || return 1
                say "trying versitygw again (Kafka did not take its start-up notification in time)"
        done
        say "S3 (versitygw) on $S3_ENDPOINT, notifications to imgflow.s3-events"
}

# ---------------------------------------------------------------- Redis

start_redis() {
        mkdir -p "$STACK_DIR/redis"
        launch redis redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --protected-mode yes \
                --appendonly yes --appendfsync "$APPENDFSYNC" --save "" --dir "$STACK_DIR/redis" \
                --daemonize no --loglevel warning
}

# replica_synced: the replica's link to the master is up (its first sync done).
replica_synced() {
        redis-cli -p "$REDIS_REPLICA_PORT" info replication 2>/dev/null | grep -q '^master_link_status:up'
}

# start_redis_replica: a replica of the master on REDIS_REPLICA_PORT.
start_redis_replica() {
        mkdir -p "$STACK_DIR/redis-replica"
        rm -f "$STACK_DIR/redis-replica"/*.aof "$STACK_DIR/redis-replica"/*.rdb
        rm -rf "$STACK_DIR/redis-replica/appendonlydir"
        launch redis-replica redis-server --port "$REDIS_REPLICA_PORT" --bind 127.0.0.1 --protected-mode yes \
                --appendonly yes --appendfsync "$APPENDFSYNC" --save "" --dir "$STACK_DIR/redis-replica" \
                --replicaof 127.0.0.1 "$REDIS_PORT" --daemonize no --loglevel warning
}

# start_sentinels: SENTINELS Sentinels on SENTINEL_PORTS ("127.0.0.1:P,..."),
# each with its own configuration file (Sentinel rewrites it); redis-server
# --sentinel is redis-sentinel (the same program).
start_sentinels() {
        local i port
        i=1
        for port in ${SENTINEL_PORTS//,/ }; do
                port=${port##*:}
                mkdir -p "$STACK_DIR/sentinel-$i"
                cat >"$STACK_DIR/sentinel-$i/sentinel.conf" <<EOF2
port $port
bind 127.0.0.1
daemonize no
loglevel notice
dir $STACK_DIR/sentinel-$i
sentinel monitor imgflow 127.0.0.1 $REDIS_PORT $((SENTINELS / 2 + 1))
sentinel down-after-milliseconds imgflow 1000
sentinel failover-timeout imgflow 10000
sentinel parallel-syncs imgflow 1
EOF2
                launch "sentinel-$i" redis-server "$STACK_DIR/sentinel-$i/sentinel.conf" --sentinel
                i=$((i + 1))
        done
}

# ---------------------------------------------------------------- Kafka

# kafka_configure: ports, server-<id>.properties and formatted data
# directories of $BROKERS KRaft brokers. Every broker is also a controller
# (a quorum of 1 or 3 on loopback), as in a small production cluster.
kafka_configure() {
        local ports i rf isr voters= cid
        rm -rf "$KDIR"
        mkdir -p "$KDIR"
        read -r -a ports <<<"$(free_ports $((2 * BROKERS)))"
        rf=$((BROKERS < 3 ? BROKERS : 3))
        isr=$((rf < 3 ? 1 : 2))
        for i in $(seq "$BROKERS"); do
                voters="$voters${voters:+,}$i@127.0.0.1:${ports[2 * i - 1]}"
        done
        BOOTSTRAP=
        for i in $(seq "$BROKERS"); do
                BOOTSTRAP="$BOOTSTRAP${BOOTSTRAP:+,}127.0.0.1:${ports[2 * i - 2]}"
                cat >"$KDIR/server-$i.properties" <<EOF2
# Generated by deploy/local-stack.sh: broker $i of $BROKERS on loopback.
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:${ports[2 * i - 2]},CONTROLLER://127.0.0.1:${ports[2 * i - 1]}
advertised.listeners=PLAINTEXT://127.0.0.1:${ports[2 * i - 2]}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KDIR/data-$i
# Topics are created by imgflow-kafka-topics, never by a mistyped name.
auto.create.topics.enable=false
num.partitions=$PARTITIONS
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
# A group's first member need not wait 3 s for others to join.
group.initial.rebalance.delay.ms=0
# Consumers may ask for sessions down to 1 s (default minimum 6 s): a
# killed coordinator's partitions are handed over within its
# session.timeout.ms (docs/operations-guide.md, "Failover").
group.min.session.timeout.ms=1000
# A killed broker is fenced (its partitions' leadership moves) within 3 s
# (default 9 s): the fault tests kill leaders on purpose.
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
# Two cores shared with the daemons: fewer threads than a server's defaults.
num.network.threads=2
num.io.threads=2
background.threads=2
num.replica.fetchers=1
log.cleaner.threads=1
log.retention.check.interval.ms=60000
EOF2
                [ -n "${STACK_KAFKA_PROPERTIES:-}" ] && printf '%s\n' "$STACK_KAFKA_PROPERTIES" >>"$KDIR/server-$i.properties"
        done
        # Brokers 1 to 3: copies of what the storage tool formatted once
        # (kafka_prepare in deploy/kafka/kafka-env.sh); more: the tool.
        if [ "$BROKERS" -le 3 ] && [ -f "$KAFKA_FORMATTED/data-$BROKERS/meta.properties" ]; then
                for i in $(seq "$BROKERS"); do cp -a "$KAFKA_FORMATTED/data-$i" "$KDIR/data-$i"; done
        else
                cid=$(python3 -c 'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')
                for i in $(seq "$BROKERS"); do
                        kafka_java kafka.tools.StorageTool format -t "$cid" -c "$KDIR/server-$i.properties" \
                                >>"$LOGDIR/kafka-format.log" 2>&1
                done
        fi
        for i in $(seq "$BROKERS"); do
                [ -f "$KDIR/data-$i/meta.properties" ] || {
                        tail -20 "$LOGDIR/kafka-format.log" >&2
                        return 1
                }
        done
}

# The JVM of a broker: a small heap and the serial collector (one GC thread
# where the parallel collectors would start one per core, on cores the
# daemons need), the class data sharing archive if there is one, and only
# the C1 compiler (-XX:TieredStopAtLevel=1). A broker of this stack lives for
# minutes, next to the daemons on the same cores; C2 compiled the broker's
# hot paths for minutes after each start, 130-250 us of CPU per task at
# 1,400 tasks/s even after 10,000 tasks of warm-up, and every hop waited for
# it: dispatch latency at that load p50 / p99 113-196 / 613-691 ms with
# C2, 4-6 / 20-34 ms without (docs/benchmarks.md). C1's code costs the
# request threads about twice the CPU of C2's; a broker on hosts of its own
# that runs for days keeps the JVM's default. STACK_KAFKA_JAVA_OPTS adds or overrides (the last flag
# wins: -XX:TieredStopAtLevel=4 brings C2 back).
start_broker() { # ID
        local cds=
        [ -f "$KAFKA_CDS" ] && cds=-XX:SharedArchiveFile=$KAFKA_CDS
        # shellcheck disable=SC2086
        launch "kafka-$1" java -Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP" -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError \
                -XX:TieredStopAtLevel=1 \
                $cds -Djava.awt.headless=true -Dlog4j2.configurationFile="$SRC/deploy/kafka/log4j2.properties" \
                ${STACK_KAFKA_JAVA_OPTS:-} -cp "$IMGFLOW_KAFKA_LIBS/*" kafka.Kafka "$KDIR/server-$1.properties"
}

# kafka_topics: imgflow's topics (and $TOPICS) with the partition counts and
# retention of deploy/MULTI-HOST.md, scaled to $PARTITIONS; waits until
# every partition has a leader.
kafka_topics() {
        local n=$PARTITIONS day=86400000
        "$TOPICS_BIN" --bootstrap "$BOOTSTRAP" --partitions "$n" --timeout "$READY_TIMEOUT" \
                "imgflow.jobs,retention.ms=$day" "imgflow.events,retention.ms=$day" \
                "imgflow.tasks,retention.ms=$day" \
                "imgflow.notifications:$((n < 6 ? n : 6)),retention.ms=$((7 * day))" \
                "imgflow.dlq:$((n < 3 ? n : 3)),retention.ms=$((14 * day))" \
                "imgflow.logs:$((n < 6 ? n : 6)),retention.ms=$((7 * day))" \
                "imgflow.s3-events:$((n < 4 ? n : 4)),retention.ms=$((7 * day))" \
                $TOPICS 2>>"$LOGDIR/kafka-topics.log"
}

start_kafka() {
        local i try
        if [ "$KAFKA" = mock ]; then
                : >"$LOGDIR/kafka.log"
                rm -f "$RUNDIR/kafka.fifo"
                # shellcheck disable=SC2086
                launch kafka "$MOCK_BIN" --brokers "$BROKERS" --partitions "$PARTITIONS" \
                        ${TOPICS:+--topics "$(echo $TOPICS | tr ' ' ,)"} --control-fifo "$RUNDIR/kafka.fifo"
                wait_until 10 kafka is_ready kafka 0 || return 1
                BOOTSTRAP=$(sed -n 's/^BOOTSTRAP=//p' "$LOGDIR/kafka.log" | head -1)
                say "mock Kafka at $BOOTSTRAP ($BROKERS brokers, $PARTITIONS partitions per topic)"
                return 0
        fi
        # A port taken between choosing and binding (other stacks start on
        # this machine too) makes a broker exit: then once more, new ports.
        for try in 1 2; do
                for i in $(seq "$BROKERS"); do : >"$LOGDIR/kafka-$i.log"; done
                kafka_configure || return 1
                for i in $(seq "$BROKERS"); do start_broker "$i"; done
                for i in $(seq "$BROKERS"); do
                        wait_until "$READY_TIMEOUT" "kafka-$i" is_ready "kafka-$i" 0 || break
                done
                [ "$i" = "$BROKERS" ] && is_ready "kafka-$i" 0 && break
                grep -qs 'Address already in use' "$LOGDIR"/kafka-*.log && [ $try = 1 ] || return 1
                say "a port was taken meanwhile; again with other ports"
                stop_names $(for i in $(seq "$BROKERS"); do echo "kafka-$i"; done)
        done
        kafka_topics || { say "could not create the topics:"; tail -5 "$LOGDIR/kafka-topics.log" >&2; return 1; }
        say "Apache Kafka $KAFKA_VERSION at $BOOTSTRAP ($BROKERS broker(s), $PARTITIONS partitions per topic)"
}

# ---------------------------------------------------------------- daemons

# start_api_keys: the stack's access key for imgflow-api (made once, kept in
# $STACK_DIR/api-keys.json, mode 0600, as the API requires), and API_PORTS,
# API_ENDPOINTS, API_REGION, API_ACCOUNT, API_ACCESS_KEY_ID, API_SECRET_ACCESS_KEY.
start_api_keys() {
        local keys=$STACK_DIR/api-keys.json
        if [ ! -s "$keys" ]; then
                (umask 077 && python3 - "$keys" <<'PY') || return 1
import json, secrets, string, sys
up = string.ascii_uppercase + string.digits
key = "AKIA" + "".join(secrets.choice(up) for _ in range(16))
secret = "".join(secrets.choice(string.ascii_letters + string.digits + "/+") for _ in range(40))
doc = {"keys": [{"accessKeyId": key, "secretAccessKey": secret, "user": "local-stack",
                 "policy": {"Version": "2012-10-17",
                            "Statement": [{"Effect": "Allow", "Action": "states:*", "Resource": "*"}]}}]}
with open(sys.argv[1] + ".tmp", "w") as f:
    json.dump(doc, f, indent=1)
PY
                mv "$keys.tmp" "$keys" || return 1
        fi
        chmod 600 "$keys" || return 1
        read -r API_ACCESS_KEY_ID API_SECRET_ACCESS_KEY < <(python3 -c '
import json, sys
k = json.load(open(sys.argv[1]))["keys"][0]
print(k["accessKeyId"], k["secretAccessKey"])' "$keys") || return 1
        API_PORTS=$(free_ports "$APIS")
        API_ENDPOINTS=$(for p in $API_PORTS; do printf 'http://127.0.0.1:%s ' "$p"; done)
        API_ENDPOINTS=${API_ENDPOINTS% }
        API_ENDPOINT=${API_ENDPOINTS%% *}
        API_REGION=us-east-1
        API_ACCOUNT=123456789012
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
                # jobs + events, and imgflow.s3-events (at most 4 partitions)
                group("coordinator", C, 2 * P + (P < 4 ? P : 4))
                group("worker", W, P)
                print ok ? "settled" : "unsettled"
        }' "$RUNDIR/notify.log" 2>/dev/null
}

wait_settled() {
        local i counts=
        [ "$SETTLE_TIMEOUT" -gt 0 ] || return 0
        for i in $(seq $((SETTLE_TIMEOUT * 20))); do
                counts=$(group_counts)
                case "$counts" in *" settled") return 0 ;; esac
                [ "$i" = 60 ] && say "waiting for the consumer groups to settle (partitions: ${counts% *})"
                sleep 0.05
        done
        say "consumer groups not settled after ${SETTLE_TIMEOUT}s (partitions: ${counts% *}); going on"
}

names_in_stop_order() {
        local f
        # the API, imgflow-watch, workers, then coordinators, then Kafka, Redis and the listener.
        for f in "$PIDDIR"/api-*.pid "$PIDDIR"/watch.pid "$PIDDIR"/worker-*.pid "$PIDDIR"/coordinator-*.pid "$PIDDIR"/s3.pid "$PIDDIR"/kafka*.pid \
                "$PIDDIR"/sentinel-*.pid "$PIDDIR"/redis-replica.pid "$PIDDIR"/redis.pid "$PIDDIR"/notify.pid; do
                [ -f "$f" ] && basename "$f" .pid
        done
}

# stop_names NAME...: SIGTERM to all, wait up to STOP_TIMEOUT, SIGKILL the rest.
stop_names() {
        local name pid pids=() left i
        for name in "$@"; do
                pid=$(pid_alive "$name") && { kill -TERM "$pid" 2>/dev/null; pids+=("$name"); }
        done
        for i in $(seq $((STOP_TIMEOUT * 20))); do
                left=0
                for name in "${pids[@]}"; do pid_alive "$name" >/dev/null && left=1; done
                [ $left = 0 ] && break
                sleep 0.05
        done
        for name in "${pids[@]}"; do
                if pid=$(pid_alive "$name"); then
                        say "$name ($pid) still running after ${STOP_TIMEOUT}s: SIGKILL"
                        kill -KILL "$pid" 2>/dev/null
                fi
        done
        for name in "$@"; do rm -f "$PIDDIR/$name.pid"; done
}

# proc_start PID: the process's start time (clock ticks after boot, field
# 22 of /proc/PID/stat); fails when there is no such process or it is a zombie.
proc_start() {
        local st
        st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
        st=${st##*) }
        # shellcheck disable=SC2086
        set -- $st
        [ "$1" != Z ] && [ -n "${20:-}" ] || return 1
        echo "${20}"
}

# owner_watch_start: the watch of STACK_OWNER_PID (see "Owner" above), if set.
owner_watch_start() {
        local owner=${STACK_OWNER_PID:-} since
        [ -n "$owner" ] || return 0
        owner_watch_stop
        since=$(proc_start "$owner") || die "STACK_OWNER_PID $owner is not running"
        IMGFLOW_STACK_DIR=$STACK_DIR setsid "$0" owner-watch "$owner" "$since" </dev/null \
                >>"$LOGDIR/owner-watch.log" 2>&1 &
        echo "$! $since" >"$RUNDIR/owner-watch.pid"
}

# owner_watch_stop: ends the watch (unless this is it), by its recorded pid.
owner_watch_stop() {
        local pid _
        [ -f "$RUNDIR/owner-watch.pid" ] || return 0
        read -r pid _ <"$RUNDIR/owner-watch.pid"
        rm -f "$RUNDIR/owner-watch.pid"
        [ -n "$pid" ] && [ "$pid" != "$$" ] || return 0
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q " owner-watch " && kill -TERM "$pid" 2>/dev/null
        return 0
}

# owner-watch PID START: stop the stack once PID (started at START) is gone.
cmd_owner_watch() {
        local owner=$1 since=$2 now
        trap 'exit 0' TERM
        while now=$(proc_start "$owner") && [ "$now" = "$since" ]; do
                sleep 1
        done
        # Gone: this watch's job ends here, whoever stops the stack.
        rm -f "$RUNDIR/owner-watch.pid"
        trap '' TERM INT
        say "owner $owner is gone: stopping the stack"
        cmd_stop
}

cmd_stop() {
        local names tier
        [ -d "$PIDDIR" ] || { owner_watch_stop; return 0; }
        # Tier by tier, so workers finish their tasks while Kafka still runs.
        for tier in 'api-*' watch 'worker-*' 'coordinator-*' s3 'kafka*' 'sentinel-*' redis-replica redis notify; do
                names=()
                for f in "$PIDDIR"/$tier.pid; do [ -f "$f" ] && names+=("$(basename "$f" .pid)"); done
                [ ${#names[@]} -gt 0 ] && stop_names "${names[@]}"
        done
        # Last: a stop killed half way (SIGKILL from meson test, 0.5 s after
        # its SIGTERM) leaves the watch to stop the rest.
        owner_watch_stop
        rm -f "$ENVFILE"
        say "stopped"
}

load_env() {
        [ -f "$ENVFILE" ] || die "not running in $STACK_DIR (start it first)"
        # shellcheck disable=SC1090
        . "$ENVFILE"
}

cmd_status() {
        local name pid st running=0
        if [ -f "$ENVFILE" ]; then
                load_env
                echo "state     $STACK_DIR"
                echo "config    $IMGFLOW_CONFIG"
                echo "redis     127.0.0.1:$REDIS_PORT"
                echo "kafka     $BOOTSTRAP ($KAFKA)"
                [ "${STORAGE:-dir}" = s3 ] && echo "s3        $S3_ENDPOINT (versitygw, files in $STACK_DIR/s3/buckets)"
                [ -n "${API_ENDPOINTS:-}" ] && echo "api       $API_ENDPOINTS (key $API_ACCESS_KEY_ID, region $API_REGION)"
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
        local i b name conf extra names=()
        [ -x "$COORD_BIN" ] && [ -x "$WORKER_BIN" ] && [ -x "$MOCK_BIN" ] && [ -x "$TOPICS_BIN" ] ||
                die "programs missing under $BUILD (build first: meson setup build && ninja -C build)"
        command -v redis-server >/dev/null || die "redis-server missing (deploy/setup-debian.sh)"
        command -v python3 >/dev/null || die "python3 missing (deploy/setup-debian.sh)"
        case "$KAFKA" in
        mock) ;;
        real)
                command -v java >/dev/null || die "java missing (deploy/setup-debian.sh; or STACK_KAFKA=mock)"
                kafka_libs_ok || die "Apache Kafka $KAFKA_VERSION missing in $IMGFLOW_KAFKA_LIBS (deploy/setup-debian.sh; or STACK_KAFKA=mock)"
                ;;
        *) die "STACK_KAFKA must be real or mock" ;;
        esac
        case "$STORAGE" in
        dir) ;;
        s3) versitygw_ok || die "versitygw $VERSITYGW_VERSION missing in $IMGFLOW_VERSITYGW_DIR (deploy/setup-debian.sh, with Go 1.21+)" ;;
        *) die "STACK_STORAGE must be dir or s3" ;;
        esac
        case "$APIS" in
        0) ;;
        [1-9]) [ -x "$API_BIN" ] || die "imgflow-api missing under $BUILD (build first)" ;;
        *) die "STACK_API must be a number of processes from 0 to 9" ;;
        esac
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
        rm -f "$RUNDIR"/*.sock "$RUNDIR/notify.log" "$RUNDIR"/*.cmd
        trap 'say "interrupted"; cmd_stop; exit 130' INT TERM
        owner_watch_start

        # sd_notify listener: one datagram socket per daemon, lines "<name> <msg>".
        for i in $(seq "$COORDINATORS"); do names+=("coordinator-$i"); done
        for i in $(seq "$WORKERS"); do names+=("worker-$i"); done
        [ "${STACK_WATCH:-0}" = 1 ] && names+=(watch)
        for i in $(seq "$APIS"); do names+=("api-$i"); done
        if [ ${#names[@]} -gt 0 ]; then
                cat >"$RUNDIR/notify.py" <<'EOF2'
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
EOF2
                launch notify python3 "$RUNDIR/notify.py" "$RUNDIR" "${names[@]}"
                for i in $(seq 100); do grep -q "^notify LISTENING" "$RUNDIR/notify.log" 2>/dev/null && break; sleep 0.05; done
                grep -q "^notify LISTENING" "$RUNDIR/notify.log" 2>/dev/null || { cmd_stop; die "notify listener did not start"; }
                # python3 may be a wrapper script (pyenv): record the interpreter it became.
                read -r i _ st <"$PIDDIR/notify.pid"
                echo "$i $(readlink "/proc/$i/exe") $st" >"$PIDDIR/notify.pid"
        fi

        # Redis: loopback, its own port, AOF on, no RDB snapshots. Kafka
        # starts meanwhile (a broker's JVM takes seconds).
        REDIS_PORT=$(free_ports 1)
        start_redis
        REDIS_REPLICA_PORT= SENTINEL_PORTS=
        if [ "$REPLICA" = 1 ]; then
                REDIS_REPLICA_PORT=$(free_ports 1)
                start_redis_replica
        fi
        if [ "$SENTINELS" -gt 0 ]; then
                SENTINEL_PORTS=$(free_ports "$SENTINELS" | sed 's/\([0-9][0-9]*\)/127.0.0.1:\1/g; s/ /,/g')
        fi
        start_kafka || { cmd_stop; die "Kafka did not start"; }
        wait_until 10 redis is_ready redis 0 || { cmd_stop; die "redis-server did not start"; }
        say "redis-server on 127.0.0.1:$REDIS_PORT (AOF in $STACK_DIR/redis)"
        if [ "$REPLICA" = 1 ]; then
                wait_until 30 redis-replica replica_synced || { cmd_stop; die "the Redis replica did not start"; }
                say "redis-server replica on 127.0.0.1:$REDIS_REPLICA_PORT"
        fi
        if [ "$SENTINELS" -gt 0 ]; then
                start_sentinels
                for i in $(seq "$SENTINELS"); do
                        wait_until 30 "sentinel-$i" is_ready "sentinel-$i" 0 || { cmd_stop; die "sentinel-$i did not start"; }
                done
                say "Redis Sentinels on $SENTINEL_PORTS (master name imgflow)"
        fi
        [ "$STORAGE" = s3 ] && { start_s3 || { cmd_stop; die "the S3 server did not start"; }; }

        if [ "$APIS" -gt 0 ]; then
                start_api_keys || { cmd_stop; die "cannot make the API's keys file $STACK_DIR/api-keys.json"; }
        fi

        # The configuration.
        conf=$STACK_DIR/imgflow.conf
        {
                echo "# Generated by deploy/local-stack.sh; rewritten on every start."
                echo "[imgflow]"
                echo "log_level = $LOG_LEVEL"
                echo "[coordinator]"
                echo "timer_interval = 200ms"
                # S3 event notifications: from the S3 server (STACK_STORAGE=s3)
                # or imgflow-watch; [triggers] rules (e.g. in STACK_RESOURCES) start executions.
                echo "s3_events_topic = imgflow.s3-events"
                # versitygw puts keys into its events as they are, where S3
                # URL-encodes them.
                [ "$STORAGE" = s3 ] && echo "s3_events_keys = plain"
                echo "shutdown_timeout = 10s"
                echo "[worker]"
                echo "threads = $THREADS"
                # A worker whose queue passes max_in_flight pauses its consumer
                # (and resumes below half). A deeper queue than the default
                # means fewer pauses (each one drops the prefetched messages).
                echo "max_in_flight = $MAX_IN_FLIGHT"
                echo "shutdown_timeout = 10s"
                echo "[redis]"
                echo "address = 127.0.0.1:$REDIS_PORT"
                [ "$WAIT_REPLICAS" != 0 ] && echo "wait_replicas = $WAIT_REPLICAS"
                if [ "$SENTINELS" -gt 0 ]; then
                        echo "sentinels = $SENTINEL_PORTS"
                        echo "master_name = imgflow"
                fi
                echo "[kafka]"
                echo "bootstrap.servers = $BOOTSTRAP"
                # Partitions and leaders change often in tests that kill
                # brokers (3 or more of them): refresh often on loopback.
                # (Resumed consumers no longer depend on it: they seek, which
                # restarts the fetch.) With one broker, leaders never move,
                # and a refresh every 200 ms was most of an idle daemon's
                # CPU (each one wakes librdkafka's main thread and sends a
                # Metadata request): every 10 s instead.
                echo "topic.metadata.refresh.interval.ms = $METADATA_REFRESH_MS"
                echo "reconnect.backoff.ms = 50"
                echo "reconnect.backoff.max.ms = 1000"
                echo "[kafka.producer]"
                echo "linger.ms = $LINGER_MS"
                echo "[kafka.consumer]"
                echo "session.timeout.ms = $SESSION_TIMEOUT_MS"
                echo "heartbeat.interval.ms = 500"
                # An empty Fetch waits this long on the broker. A real
                # broker answers as soon as data arrives; librdkafka's mock
                # cluster only when the wait is over: keep it short there.
                echo "fetch.wait.max.ms = $FETCH_WAIT_MS"
                echo "[buckets]"
                for b in $BUCKETS; do
                        if [ "$STORAGE" = s3 ]; then
                                echo "${b%%=*} = s3://${b%%=*}"
                                continue
                        fi
                        mkdir -p "${b#*=}"
                        echo "${b%%=*} = $(cd "${b#*=}" && pwd)"
                done
                echo "[watch]"
                echo "state_dir = $STACK_DIR/watch"
                if [ "$STORAGE" = s3 ]; then
                        echo "[s3]"
                        echo "endpoint = $S3_ENDPOINT"
                        echo "region = us-east-1"
                        echo "addressing = path"
                        echo "access_key_id = $S3_ACCESS_KEY_ID"
                        echo "secret_access_key = $S3_SECRET_ACCESS_KEY"
                fi
                for extra in $RESOURCES; do
                        [ -f "$extra" ] && { echo "# from $extra"; cat "$extra"; }
                done
                if [ "$APIS" -gt 0 ]; then
                        echo "[api]"
                        echo "listen = 127.0.0.1:${API_PORTS%% *}"
                        echo "keys = $STACK_DIR/api-keys.json"
                        echo "region = $API_REGION"
                        echo "account = $API_ACCOUNT"
                fi
                [ -n "${STACK_EXTRA_CONFIG:-}" ] && printf '%s\n' "$STACK_EXTRA_CONFIG"
        } >"$conf"

        cat >"$ENVFILE" <<EOF2
STACK_DIR='$STACK_DIR'
IMGFLOW_CONFIG='$conf'
REDIS_PORT='$REDIS_PORT'
REDIS_REPLICA_PORT='$REDIS_REPLICA_PORT'
SENTINEL_PORTS='$SENTINEL_PORTS'
BOOTSTRAP='$BOOTSTRAP'
KAFKA='$KAFKA'
BROKERS='$BROKERS'
BUILD='$BUILD'
WORKERS='$WORKERS'
COORDINATORS='$COORDINATORS'
STORAGE='$STORAGE'
S3_ENDPOINT='${S3_ENDPOINT:-}'
S3_ACCESS_KEY_ID='${S3_ACCESS_KEY_ID:-}'
S3_SECRET_ACCESS_KEY='${S3_SECRET_ACCESS_KEY:-}'
API_ENDPOINT='${API_ENDPOINT:-}'
API_ENDPOINTS='${API_ENDPOINTS:-}'
API_REGION='${API_REGION:-}'
API_ACCOUNT='${API_ACCOUNT:-}'
API_ACCESS_KEY_ID='${API_ACCESS_KEY_ID:-}'
API_SECRET_ACCESS_KEY='${API_SECRET_ACCESS_KEY:-}'
EOF2

        for i in $(seq "$COORDINATORS"); do
                launch "coordinator-$i" IMGFLOW_COORDINATOR_INSTANCE="coordinator-$i" "$COORD_BIN" --config "$conf"
        done
        for i in $(seq "$WORKERS"); do
                launch "worker-$i" "$WORKER_BIN" --config "$conf" --instance "$i"
        done
        [ "${STACK_WATCH:-0}" = 1 ] && launch watch "$WATCH_BIN" --config "$conf"
        i=1
        for port in ${API_PORTS:-}; do
                launch "api-$i" "$API_BIN" --config "$conf" --listen "127.0.0.1:$port"
                i=$((i + 1))
        done
        for name in "${names[@]}"; do
                wait_until "$READY_TIMEOUT" "$name" is_ready "$name" 0 || { cmd_stop; exit 1; }
        done
        [ ${#names[@]} -gt 0 ] && wait_settled
        say "ready: $COORDINATORS coordinator(s), $WORKERS worker(s), $APIS API process(es); logs in $LOGDIR"
        [ "$APIS" -gt 0 ] && say "the Step Functions API on $API_ENDPOINTS (access key $API_ACCESS_KEY_ID, region $API_REGION)"
        trap - INT TERM
}

# register NAME FILE: store a definition (a new version if NAME exists).
cmd_register() {
        local name=$1 file=$2
        load_env
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

cmd_pid() {
        pid_alive "$1" || die "$1 is not running"
}

# kill NAME [SIGNAL]
cmd_kill() {
        local name=$1 sig=${2:-KILL} pid i
        load_env
        sig=${sig#SIG}
        if [ "$KAFKA" = mock ] && [ "${name#kafka-}" != "$name" ]; then
                [ "$sig" = KILL ] || [ "$sig" = TERM ] || die "the mock cluster's brokers only go down (KILL or TERM)"
                cmd_kafka_command "down ${name#kafka-}"
                return
        fi
        pid=$(pid_alive "$name") || die "$name is not running"
        kill -"$sig" "$pid" || die "cannot signal $name ($pid)"
        case "$sig" in
        KILL | TERM | INT)
                for i in $(seq $((STOP_TIMEOUT * 20))); do
                        pid_alive "$name" >/dev/null || return 0
                        sleep 0.05
                done
                say "$name ($pid) still running after ${STOP_TIMEOUT}s: SIGKILL"
                kill -KILL "$pid" 2>/dev/null
                ;;
        esac
}

# restart NAME: start NAME again with the command it was started with.
cmd_restart() {
        local name=$1 before cmd
        load_env
        if [ "$KAFKA" = mock ] && [ "${name#kafka-}" != "$name" ]; then
                cmd_kafka_command "up ${name#kafka-}"
                return
        fi
        pid_alive "$name" >/dev/null && die "$name is running"
        [ -f "$RUNDIR/$name.cmd" ] || die "$name was never started in $STACK_DIR"
        before=$(ready_count "$name")
        cmd=$(cat "$RUNDIR/$name.cmd")
        eval "launch $name $cmd"
        wait_until "$READY_TIMEOUT" "$name" is_ready "$name" "$before"
}

cmd_leader() {
        load_env
        kcat -L -J -b "$BOOTSTRAP" -t "$1" 2>/dev/null | python3 -c '
import json, sys
md = json.load(sys.stdin)
for t in md.get("topics", []):
    for p in t.get("partitions", []):
        if p["partition"] == int(sys.argv[1]):
            print(p["leader"])
            sys.exit(0)
sys.exit(1)' "$2" || die "no leader known for $1 [$2]"
}

cmd_kafka_command() {
        load_env
        [ "$KAFKA" = mock ] || die "kafka-command: only the mock cluster takes commands"
        [ -p "$RUNDIR/kafka.fifo" ] || die "no control FIFO in $RUNDIR"
        printf '%s\n' "$1" >"$RUNDIR/kafka.fifo"
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
pid) [ $# = 2 ] || die "usage: $0 pid NAME"; cmd_pid "$2" ;;
kill) [ $# -ge 2 ] || die "usage: $0 kill NAME [SIGNAL]"; cmd_kill "$2" "${3:-KILL}" ;;
restart) [ $# = 2 ] || die "usage: $0 restart NAME"; cmd_restart "$2" ;;
leader) [ $# = 3 ] || die "usage: $0 leader TOPIC PARTITION"; cmd_leader "$2" "$3" ;;
kafka-command) [ $# = 2 ] || die "usage: $0 kafka-command LINE"; cmd_kafka_command "$2" ;;
# (It runs as long as the stack: it exits here, never reading on in a file
# that may have changed meanwhile.)
owner-watch) [ $# = 3 ] || die "usage: $0 owner-watch PID START"; cmd_owner_watch "$2" "$3"; exit ;;
*) sed -n '3,/^set -u$/{/^set -u$/d;s/^# \{0,1\}//;p}' "$0"; exit 2 ;;
esac
