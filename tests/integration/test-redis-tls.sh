#!/bin/bash
# SPDX-License-Identifier: MIT
# Redis over TLS through a local stunnel (docs/security.md, "Redis over
# TLS"): hiredis 0.14 has no TLS, so each imgflow host runs stunnel as a TLS
# client on loopback and [redis] address names its local end. Here:
# redis-server with its own TLS (tls-port, client certificates required)
# and a password; stunnel with deploy/redis-tls/stunnel-client.conf's
# settings (the CA, the server's name checked, a client certificate); the
# coordinator and the CLI through it: a state machine created, an execution
# run to SUCCEEDED, stunnel restarted under a running coordinator and a
# second execution run. Refused: plain text on the TLS port, a tunnel that
# trusts another CA, a tunnel without a client certificate.
#
#   test-redis-tls.sh MOCK_KAFKA COORDINATOR IMGFLOW SRCDIR
#
# Exit 77 (skipped) without stunnel (Debian's stunnel4, which
# deploy/setup-debian.sh installs), openssl, redis-server or Kafka.
set -u
MOCK=$1 COORD=$2 IMGFLOW=$3 SRC=$4
STUNNEL=$(command -v stunnel4 || command -v stunnel) || { echo "stunnel missing: skipped"; exit 77; }
command -v openssl >/dev/null || { echo "openssl missing: skipped"; exit 77; }
. "$SRC/tests/helpers/stack.sh"
stack_init redis-tls
start_infra --partitions 2

# A CA, the server's certificate (localhost, 127.0.0.1), a client's, and
# another CA that signed nothing of this.
P=$TMP/pki
mkdir -p "$P"
cert() { # NAME CN [EXT]
        openssl req -newkey rsa:2048 -nodes -keyout "$P/$1.key" -out "$P/$1.csr" -subj "/CN=$2" 2>/dev/null &&
                openssl x509 -req -in "$P/$1.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" -CAcreateserial \
                        -out "$P/$1.pem" -days 2 ${3:+-extfile "$3"} 2>/dev/null
}
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$P/ca.key" -out "$P/ca.pem" -days 2 \
        -subj "/CN=imgflow test CA" 2>/dev/null &&
        openssl req -x509 -newkey rsa:2048 -nodes -keyout "$P/other-ca.key" -out "$P/other-ca.pem" -days 2 \
                -subj "/CN=another CA" 2>/dev/null &&
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$P/server.ext" &&
        cert server localhost "$P/server.ext" && cert client imgflow-coordinator ||
        { echo "openssl could not make the certificates"; exit 1; }
chmod 0600 "$P"/*.key

# redis-server with TLS only (no plain port), client certificates required.
TLS_PORT=$(free_port)
redis-server --port 0 --tls-port "$TLS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$TMP" \
        --tls-cert-file "$P/server.pem" --tls-key-file "$P/server.key" --tls-ca-cert-file "$P/ca.pem" \
        --tls-auth-clients yes --requirepass tunnelled --loglevel notice >"$TMP/redis-tls.log" 2>&1 &
PIDS+=($!)
wait_for 20 grep -qs "Ready to accept connections" "$TMP/redis-tls.log" ||
        { fail "redis-server with TLS did not start"; tail -5 "$TMP/redis-tls.log"; exit 1; }

# stunnel CONF-NAME PORT [CA] [with-cert]: a TLS client on 127.0.0.1:PORT,
# as deploy/redis-tls/stunnel-client.conf (its paths and ports replaced).
STUNNEL_PID=
stunnel_start() {
        local name=$1 port=$2 ca=${3:-$P/ca.pem} cert=${4:-yes}
        sed -e "s|^accept = .*|accept = 127.0.0.1:$port|" \
                -e "s|^connect = .*|connect = 127.0.0.1:$TLS_PORT|" \
                -e "s|^CAfile = .*|CAfile = $ca|" \
                -e "s|^cert = .*|cert = $P/client.pem|" \
                -e "s|^key = .*|key = $P/client.key|" \
                -e "s|^checkHost = .*|checkHost = localhost|" \
                -e "s|^setuid = .*|output = $TMP/$name.log|" -e "s|^setgid = .*||" \
                "$SRC/deploy/redis-tls/stunnel-client.conf" >"$TMP/$name.conf"
        [ "$cert" = yes ] || sed -i -e '/^cert = /d' -e '/^key = /d' "$TMP/$name.conf"
        rm -f "$TMP/$name.log"
        "$STUNNEL" "$TMP/$name.conf" >>"$TMP/$name.out" 2>&1 &
        STUNNEL_PID=$!
        PIDS+=("$STUNNEL_PID")
        wait_for 10 grep -qs "Configuration successful" "$TMP/$name.log" ||
                { fail "stunnel $name did not start"; tail -5 "$TMP/$name.log" "$TMP/$name.out"; }
}

TUNNEL=$(free_port)
stunnel_start tunnel "$TUNNEL"
RPORT_STACK=$RPORT RPORT=$TUNNEL
stack_conf <<EOF
[redis]
password = tunnelled
timeout = 2s
EOF
OUT=$TMP/out ERR=$TMP/err RC=0
cli() {
        timeout 60 "$IMGFLOW" "$@" --config "$CONF" >"$OUT" 2>"$ERR"
        RC=$?
}

# tls_refused REASON: redis-server logged a TLS refusal naming REASON.
tls_refused() {
        wait_for 10 grep -qs "Error accepting a client connection: .*$1" "$TMP/redis-tls.log"
}

# Plain text on the TLS port gets nothing back.
r=$(timeout 5 redis-cli -p "$TLS_PORT" -a tunnelled --no-auth-warning ping 2>&1)
case "$r" in
*PONG*) fail "plain text on the TLS port was answered: $r" ;;
*) tls_refused "wrong version number" && ok "plain text on the TLS port is refused (wrong version number)" ||
        fail "plain text on the TLS port: '$r', and no TLS error in redis-server's log" ;;
esac

# Through the tunnel: the CLI (hiredis, blocking) and the coordinator (the
# sd-event adapter) work as against a plain Redis.
printf '{"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"over":"tls"},"End":true}}}' >"$TMP/p.json"
cli create-state-machine --name tls --definition "file://$TMP/p.json"
[ $RC -eq 0 ] && ok "create-state-machine through the tunnel" ||
        fail "create-state-machine through the tunnel: exit $RC: $(head -3 "$ERR")"
start_coordinator
wait_for 60 grep -qs "Coordinator ready" "$TMP/coordinator.log" ||
        { fail "the coordinator did not become ready through the tunnel"; tail -20 "$TMP/coordinator.log"; }
cli start-execution --state-machine tls --name one --input '{}' --wait --timeout 60
if [ $RC -eq 0 ] && grep -q SUCCEEDED "$OUT" && grep -q 'over.*tls' "$OUT"; then
        ok "an execution SUCCEEDED with Redis through stunnel"
else
        fail "execution one: exit $RC: $(head -c 400 "$OUT") $(head -3 "$ERR")"
fi

# stunnel restarted under a running coordinator: it reconnects.
stop_pid "$STUNNEL_PID" 10
stunnel_start tunnel "$TUNNEL"
cli start-execution --state-machine tls --name two --input '{}' --wait --timeout 60
[ $RC -eq 0 ] && ok "after stunnel's restart the coordinator reconnected: execution two SUCCEEDED" ||
        fail "execution two after stunnel's restart: exit $RC: $(head -c 300 "$OUT") $(head -3 "$ERR")"
kill -0 "$COORD_PID" 2>/dev/null && ok "the coordinator is still running" || fail "the coordinator exited"

# A tunnel that trusts another CA, and one without a client certificate:
# the CLI gets no Redis (exit 1, an error naming Redis), never a hang.
for what in other-ca no-cert; do
        port=$(free_port)
        if [ $what = other-ca ]; then
                stunnel_start $what "$port" "$P/other-ca.pem"
        else
                stunnel_start $what "$port" "$P/ca.pem" no
        fi
        sed "s|^address = .*|address = 127.0.0.1:$port|" "$CONF" >"$TMP/$what.conf"
        timeout 60 "$IMGFLOW" list-state-machines --config "$TMP/$what.conf" >"$OUT" 2>"$ERR"
        RC=$?
        if [ $RC -eq 1 ] && grep -qi "redis" "$ERR"; then
                ok "$what: refused, exit 1: $(head -1 "$ERR")"
        else
                fail "$what: exit $RC: $(head -c 300 "$OUT") $(head -3 "$ERR")"
        fi
        reason="unknown ca"
        [ $what = no-cert ] && reason="peer did not return a certificate"
        tls_refused "$reason" && ok "$what: redis-server refused the handshake ($reason)" ||
                fail "$what: redis-server logged no '$reason': $(tail -3 "$TMP/redis-tls.log")"
        stop_pid "$STUNNEL_PID" 10
done

# A Redis without TLS (the stack's, on loopback) behind
# deploy/redis-tls/stunnel-server.conf, reached through a client tunnel.
PLAIN_PORT=$RPORT_STACK SERVER_PORT=$(free_port)
sed -e "s|^accept = .*|accept = 127.0.0.1:$SERVER_PORT|" -e "s|^connect = .*|connect = 127.0.0.1:$PLAIN_PORT|" \
        -e "s|^cert = .*|cert = $P/server.pem|" -e "s|^key = .*|key = $P/server.key|" \
        -e "s|^CAfile = .*|CAfile = $P/ca.pem|" \
        -e "s|^setuid = .*|output = $TMP/server-tunnel.log|" -e "s|^setgid = .*||" \
        "$SRC/deploy/redis-tls/stunnel-server.conf" >"$TMP/server-tunnel.conf"
"$STUNNEL" "$TMP/server-tunnel.conf" >>"$TMP/server-tunnel.out" 2>&1 &
PIDS+=($!)
wait_for 10 grep -qs "Configuration successful" "$TMP/server-tunnel.log" ||
        fail "stunnel-server.conf did not start: $(tail -3 "$TMP/server-tunnel.log" "$TMP/server-tunnel.out")"
TLS_PORT=$SERVER_PORT
port=$(free_port)
stunnel_start to-server "$port"
printf '[redis]\naddress = 127.0.0.1:%s\ntimeout = 2s\n[kafka]\nbootstrap.servers = %s\n' "$port" "$BOOT" \
        >"$TMP/plain.conf"
timeout 60 "$IMGFLOW" create-state-machine --name viaserver --definition "file://$TMP/p.json" \
        --config "$TMP/plain.conf" >"$OUT" 2>"$ERR"
RC=$?
if [ $RC -eq 0 ] && [ -n "$(redis-cli -p "$PLAIN_PORT" --scan --pattern '*viaserver*')" ]; then
        ok "a Redis without TLS behind stunnel-server.conf, through a client tunnel: the machine is in it"
else
        fail "through stunnel-server.conf: exit $RC: $(head -3 "$ERR")"
fi
port=$(free_port)
stunnel_start to-server-no-cert "$port" "$P/ca.pem" no
sed -i "s|^address = .*|address = 127.0.0.1:$port|" "$TMP/plain.conf"
timeout 60 "$IMGFLOW" list-state-machines --config "$TMP/plain.conf" >"$OUT" 2>"$ERR"
RC=$?
[ $RC -eq 1 ] && wait_for 10 grep -qs "peer did not return a certificate" "$TMP/server-tunnel.log" &&
        ok "stunnel-server.conf refuses a client without a certificate" ||
        fail "stunnel-server.conf and a client without a certificate: exit $RC: $(tail -3 "$TMP/server-tunnel.log")"

[ "$FAILS" -eq 0 ] || { echo "$FAILS failure(s)"; tail -20 "$TMP/coordinator.log"; exit 1; }
echo "all passed"
