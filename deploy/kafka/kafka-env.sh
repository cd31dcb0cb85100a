# shellcheck shell=sh
# SPDX-License-Identifier: MIT
# Sourced (with SRC set to the source tree) by deploy/setup-debian.sh and
# deploy/local-stack.sh: which Apache Kafka release (the version pinned in
# deploy/kafka/pom.xml) and where its jars live. IMGFLOW_KAFKA_LIBS may name
# another directory. The jars are complete when $IMGFLOW_KAFKA_LIBS/.pom
# equals the pom they came from.
KAFKA_POM=$SRC/deploy/kafka/pom.xml
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM" | head -1)
IMGFLOW_KAFKA_LIBS=${IMGFLOW_KAFKA_LIBS:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/imgflow/kafka-$KAFKA_VERSION}

# kafka_libs_ok: the jars are there and match the pom.
kafka_libs_ok() {
        cmp -s "$KAFKA_POM" "$IMGFLOW_KAFKA_LIBS/.pom" 2>/dev/null
}

# Made once by kafka_prepare (deploy/setup-debian.sh runs it), used when
# present: a class data sharing archive of the broker's classes (a broker
# JVM then starts in about 60% of the time and CPU), and the data
# directories of brokers 1 to 3 as the storage tool formats them (the local
# stack copies them instead of running that tool, a JVM of its own, for
# every broker it starts).
KAFKA_CDS=$IMGFLOW_KAFKA_LIBS/cds/kafka.jsa
KAFKA_FORMATTED=$IMGFLOW_KAFKA_LIBS/formatted

# kafka_java ARGS...: a JVM on the broker's classpath, with Kafka's logging
# set up as the local stack's (deploy/kafka/log4j2.properties).
kafka_java() {
        java -Dlog4j2.configurationFile="$SRC/deploy/kafka/log4j2.properties" -cp "$IMGFLOW_KAFKA_LIBS/*" "$@"
}

# kafka_prepare: the archive and the formatted directories, if missing.
kafka_prepare() {
        local d cid i p pid n
        [ -f "$KAFKA_CDS" ] && [ -f "$KAFKA_FORMATTED/data-3/meta.properties" ] && return 0
        d=$(mktemp -d "${TMPDIR:-/tmp}/imgflow-kafka-prepare.XXXXXX")
        cid=$(python3 -c 'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')
        p=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        for i in 1 2 3; do
                printf 'process.roles=broker,controller\nnode.id=%s\ncontroller.quorum.voters=%s@127.0.0.1:%s\n' \
                        "$i" "$i" "$((p + 1))" >"$d/server-$i.properties"
                printf 'listeners=PLAINTEXT://127.0.0.1:%s,CONTROLLER://127.0.0.1:%s\n' "$p" "$((p + 1))" \
                        >>"$d/server-$i.properties"
                printf 'controller.listener.names=CONTROLLER\nlog.dirs=%s/data-%s\n' "$d" "$i" >>"$d/server-$i.properties"
                kafka_java kafka.tools.StorageTool format -t "$cid" -c "$d/server-$i.properties" >>"$d/log" 2>&1 ||
                        { cat "$d/log" >&2; rm -rf "$d"; return 1; }
        done
        # The archive: the classes a broker loads up to "started", written
        # when its JVM exits.
        cp -a "$d/data-1" "$d/run-1"
        sed -i "s#log.dirs=.*#log.dirs=$d/run-1#" "$d/server-1.properties"
        java -XX:+UseSerialGC -XX:ArchiveClassesAtExit="$d/kafka.jsa" \
                -Dlog4j2.configurationFile="$SRC/deploy/kafka/log4j2.properties" -cp "$IMGFLOW_KAFKA_LIBS/*" \
                kafka.Kafka "$d/server-1.properties" >"$d/broker.log" 2>&1 &
        pid=$!
        n=0
        while ! grep -q 'Kafka Server started' "$d/broker.log" && kill -0 "$pid" 2>/dev/null && [ $n -lt 1200 ]; do
                sleep 0.1
                n=$((n + 1))
        done
        kill -TERM "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null || true
        if [ ! -s "$d/kafka.jsa" ]; then
                tail -20 "$d/broker.log" >&2
                rm -rf "$d"
                return 1
        fi
        rm -rf "$KAFKA_FORMATTED" "$IMGFLOW_KAFKA_LIBS/cds"
        mkdir -p "$KAFKA_FORMATTED" "$IMGFLOW_KAFKA_LIBS/cds"
        for i in 1 2 3; do mv "$d/data-$i" "$KAFKA_FORMATTED/data-$i"; done
        mv "$d/kafka.jsa" "$KAFKA_CDS"
        rm -rf "$d"
}
