#!/bin/bash
# SPDX-License-Identifier: MIT
# Who may do what on Apache Kafka (docs/security.md, "Kafka"): one KRaft
# broker on loopback whose client listener is SASL_SSL (PLAIN over TLS, a
# self-signed certificate made here with keytool) with the standard
# authorizer and no access without an ACL; a user for an admin and for
# each role. (SCRAM: Debian 12's librdkafka 2.0.2 cannot log in to a Kafka
# 4 broker with it, see docs/security.md.) imgflow-kafka-topics
# creates the topics and the roles' ACLs as the admin (--client, --acl).
# Then, with kcat as each role: a producer writes the jobs topic but not
# the events topic; a worker writes the events topic but not the jobs
# topic, and reads its pool's tasks but not another pool's; a callbacks
# client writes the events topic only; a wrong password and a client
# without TLS are refused; the coordinator writes the tasks topic. Every
# process is started here and killed by pid.
#
#   test-kafka-acl.sh KAFKA_TOPICS SRCDIR
set -u
TOPICS_EXE=$1 SRC=$2
. "$SRC/tests/helpers/common.sh"
[ "${STACK_KAFKA:-real}" = mock ] && { echo "ACLs are the real broker's: skipped with STACK_KAFKA=mock"; exit 77; }
for p in java keytool kcat; do command -v $p >/dev/null || { echo "$p missing: skipped"; exit 77; }; done
. "$SRC/deploy/kafka/kafka-env.sh"
kafka_libs_ok || { echo "Apache Kafka $KAFKA_VERSION missing in $IMGFLOW_KAFKA_LIBS: skipped"; exit 77; }

T=$(mktemp -d /tmp/imgflow-test-kafka-acl.XXXXXX)
BROKER_PID=
cleanup() {
        [ -n "$BROKER_PID" ] && stop_pid "$BROKER_PID" 20 >/dev/null
        rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 143' INT TERM

SPORT=$(free_port) CPORT=$(free_port) IPORT=$(free_port)
# The broker's certificate, for 127.0.0.1; clients trust it as their CA.
keytool -genkeypair -alias broker -keyalg RSA -keysize 2048 -validity 2 -dname CN=127.0.0.1 \
        -ext SAN=IP:127.0.0.1 -keystore "$T/broker.p12" -storetype PKCS12 -storepass storepw \
        -keypass storepw >"$T/keytool.log" 2>&1 || { cat "$T/keytool.log"; exit 1; }
keytool -exportcert -rfc -alias broker -keystore "$T/broker.p12" -storepass storepw \
        -file "$T/ca.pem" >>"$T/keytool.log" 2>&1 || { cat "$T/keytool.log"; exit 1; }

# Clients only on SASL_SSL; the controller and the broker's own listener
# are plaintext on loopback (ANONYMOUS is a super user there only because
# nothing else can reach them in this test; docs/security.md says what a
# cluster of several hosts needs).
cat >"$T/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=SASL_SSL://127.0.0.1:$SPORT,CONTROLLER://127.0.0.1:$CPORT,INTERNAL://127.0.0.1:$IPORT
advertised.listeners=SASL_SSL://127.0.0.1:$SPORT,INTERNAL://127.0.0.1:$IPORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=INTERNAL
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required JAAS_USERS;
ssl.keystore.location=$T/broker.p12
ssl.keystore.type=PKCS12
ssl.keystore.password=storepw
ssl.key.password=storepw
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin;User:ANONYMOUS
allow.everyone.if.no.acl.found=false
log.dirs=$T/data
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
background.threads=2
log.cleaner.threads=1
EOF
declare -A PW
users=
for u in admin imgflow_coordinator imgflow_worker imgflow_producer imgflow_callbacks; do
        PW[$u]=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
        users="$users user_$u=\"${PW[$u]}\""
done
sed -i "s|JAAS_USERS|$users|" "$T/server.properties"
cid=$(python3 -c 'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')
kafka_java kafka.tools.StorageTool format --cluster-id="$cid" -c "$T/server.properties" \
        >"$T/format.log" 2>&1 || { tail -20 "$T/format.log"; exit 1; }
java -Xms256m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$SRC/deploy/kafka/log4j2.properties" -cp "$IMGFLOW_KAFKA_LIBS/*" \
        kafka.Kafka "$T/server.properties" >"$T/broker.log" 2>&1 &
BROKER_PID=$!

# client USER: librdkafka properties of USER on the SASL_SSL listener.
client() {
        printf '%s\n' "security.protocol=SASL_SSL" "sasl.mechanisms=PLAIN" "sasl.username=$1" \
                "sasl.password=${PW[$1]:-wrong}" "ssl.ca.location=$T/ca.pem"
}
for u in "${!PW[@]}"; do client "$u" >"$T/$u.properties"; done
args_of() { sed 's/^/-X /' "$T/$1.properties" | tr '\n' ' '; }

# Topics and ACLs as the admin, once the broker answers (bounded).
topics() {
        # shellcheck disable=SC2046
        timeout 60 "$TOPICS_EXE" --bootstrap "127.0.0.1:$SPORT" --timeout 30 \
                $(sed 's/^/--client /' "$T/admin.properties") \
                --acl User:imgflow_producer=producer --acl User:imgflow_callbacks=callbacks \
                --acl User:imgflow_worker=worker:gpu --acl User:imgflow_coordinator=coordinator \
                imgflow.jobs imgflow.events imgflow.tasks imgflow.tasks.gpu imgflow.dlq imgflow.notifications \
                >"$T/topics.log" 2>&1
}
# (a deadline, not wait_for: one try may take seconds while the broker starts)
deadline=$((SECONDS + 150)) created=0
while [ $SECONDS -lt $deadline ]; do
        topics && { created=1; break; }
        sleep 1
done
if [ $created = 1 ]; then
        ok "topics and ACLs created over SASL_SSL as the admin"
else
        fail "imgflow-kafka-topics: $(tail -5 "$T/topics.log")"
        tail -20 "$T/broker.log"
        exit 1
fi

# produce USER TOPIC: one message, acknowledged (exit 0) or refused.
produce() {
        # shellcheck disable=SC2046
        printf '{"v":1,"type":"Probe"}\n' | timeout 30 kcat -P -b "127.0.0.1:$SPORT" $(args_of "$1") \
                -X message.timeout.ms=10000 -t "$2" -k probe >"$T/kcat.out" 2>&1 &&
                ! grep -qi "error\|fail" "$T/kcat.out"
}
# consume USER TOPIC: one message read within the timeout.
consume() {
        # shellcheck disable=SC2046
        timeout 30 kcat -C -b "127.0.0.1:$SPORT" $(args_of "$1") -t "$2" -o beginning -c 1 -e \
                >"$T/kcat.out" 2>&1 && grep -q Probe "$T/kcat.out"
}
allowed() { # WHAT COMMAND...
        local what=$1
        shift
        if "$@"; then ok "allowed: $what"; else fail "refused: $what: $(head -c 300 "$T/kcat.out")"; fi
}
refused() { # WHAT COMMAND...
        local what=$1
        shift
        if "$@"; then
                fail "not refused: $what"
        else
                ok "refused: $what ($(grep -oiE 'authori[sz]ation failed|authentication failed|[A-Za-z_ ]*authori[sz]ation[A-Za-z_ ]*' "$T/kcat.out" | head -1))"
        fi
}

# The ACLs reach the authorizer through the metadata log, a moment after
# CreateAcls answered: the first check waits for them (bounded).
deadline=$((SECONDS + 30))
until produce imgflow_producer imgflow.jobs || [ $SECONDS -ge $deadline ]; do sleep 0.5; done
allowed "producer writes imgflow.jobs" produce imgflow_producer imgflow.jobs
refused "producer writes imgflow.events" produce imgflow_producer imgflow.events
allowed "callbacks client writes imgflow.events" produce imgflow_callbacks imgflow.events
refused "callbacks client writes imgflow.jobs" produce imgflow_callbacks imgflow.jobs
allowed "worker writes imgflow.events" produce imgflow_worker imgflow.events
refused "worker writes imgflow.jobs" produce imgflow_worker imgflow.jobs
refused "worker writes imgflow.tasks.gpu" produce imgflow_worker imgflow.tasks.gpu
allowed "coordinator writes imgflow.tasks.gpu" produce imgflow_coordinator imgflow.tasks.gpu
allowed "coordinator writes imgflow.tasks" produce imgflow_coordinator imgflow.tasks
allowed "worker of pool gpu reads imgflow.tasks.gpu" consume imgflow_worker imgflow.tasks.gpu
refused "worker of pool gpu reads imgflow.tasks" consume imgflow_worker imgflow.tasks
refused "producer reads imgflow.tasks.gpu" consume imgflow_producer imgflow.tasks.gpu
client nobody >"$T/nobody.properties"
refused "a wrong password" produce nobody imgflow.jobs
# shellcheck disable=SC2046
if printf 'x\n' | timeout 20 kcat -P -b "127.0.0.1:$SPORT" -X security.protocol=PLAINTEXT \
        -X message.timeout.ms=5000 -t imgflow.jobs >"$T/kcat.out" 2>&1 && ! grep -qi "error\|fail" "$T/kcat.out"; then
        fail "not refused: a client without TLS and SASL"
else
        ok "refused: a client without TLS and SASL"
fi

[ "$FAILS" -eq 0 ] || { echo "$FAILS failure(s)"; exit 1; }
echo "all passed"
