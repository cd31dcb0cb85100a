#!/bin/bash
# SPDX-License-Identifier: MIT
# What the CLI and the coordinator say when Redis cannot be used: a refused
# port, a port that accepts and never answers, and a port that is not
# Redis's (it answers HTTP). Every message names the address once, says
# "did not answer within N s" rather than EAGAIN's text and "does not speak
# the Redis protocol" rather than hiredis's "Protocol error"; the
# coordinator, which never connected, says "Cannot connect" (once per
# reason, however often it retries), never "disconnected" or "lost".
# Its Kafka, refused too, is one warning per failed attempt ("Cannot
# connect to Kafka: <broker>: ... Connection refused"), not librdkafka's
# FAIL line, the consumer's copy and "all brokers are down" besides.
#
#   test-redis-errors.sh IMGFLOW COORDINATOR SRCDIR
set -u
IMGFLOW=$1 COORD=$2 SRC=$3
. "$SRC/tests/helpers/common.sh"

TMP=$(mktemp -d /tmp/imgflow-test-redis-errors.XXXXXX)
PIDS=()
cleanup() {
        for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
        rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 143' INT TERM

# fake_server MODE: a TCP server on loopback (silent: reads and never
# answers; http: answers every read with an HTTP error); its port in $FAKE_PORT.
fake_server() {
        python3 - "$1" >"$TMP/fake-$1.port" <<'EOF' &
import socket, sys, threading
mode = sys.argv[1]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
def serve(c):
    with c:
        while True:
            d = c.recv(4096)
            if not d:
                return
            if mode == "http":
                c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
        PIDS+=($!)
        wait_for 10 test -s "$TMP/fake-$1.port" || { echo "the $1 server did not start"; exit 1; }
        FAKE_PORT=$(cat "$TMP/fake-$1.port")
}

REFUSED=$(free_port)
KREFUSED=$(free_port)
fake_server silent
SILENT=$FAKE_PORT
fake_server http
HTTP=$FAKE_PORT

# cli NAME PORT PATTERN: a reading verb against 127.0.0.1:PORT exits 1 with
# one line naming the address once and PATTERN, and none of BAD.
BAD='Resource temporarily unavailable\|Protocol error\|Input/output error'
cli() {
        local name=$1 port=$2 pattern=$3 rc
        IMGFLOW_REDIS_TIMEOUT=1s timeout 30 "$IMGFLOW" list-state-machines --redis "127.0.0.1:$port" \
                >"$TMP/out" 2>"$TMP/err" </dev/null
        rc=$?
        if [ $rc != 1 ]; then
                fail "cli, $name: exit $rc: $(cat "$TMP/err")"
        elif ! grep -q -- "$pattern" "$TMP/err"; then
                fail "cli, $name: stderr lacks '$pattern': $(cat "$TMP/err")"
        elif [ "$(grep -o "127.0.0.1:$port" "$TMP/err" | wc -l)" != 1 ]; then
                fail "cli, $name: the address is not named once: $(cat "$TMP/err")"
        elif grep -q "$BAD" "$TMP/err"; then
                fail "cli, $name: hiredis's or errno's words: $(cat "$TMP/err")"
        else
                ok "cli, $name: $(cat "$TMP/err")"
        fi
}
cli "refused" "$REFUSED" "^imgflow: cannot connect to Redis at 127.0.0.1:$REFUSED: Connection refused$"
cli "silent" "$SILENT" "^imgflow: cannot connect to Redis at 127.0.0.1:$SILENT: it did not answer within 1 s"
cli "not Redis" "$HTTP" "^imgflow: cannot connect to Redis at 127.0.0.1:$HTTP: it does not speak the Redis protocol"

# coordinator NAME PORT PATTERN: a coordinator (debug log) against
# 127.0.0.1:PORT, Kafka unreachable, until it tried Redis 3 times; one
# warning "Cannot connect to Redis at ...: PATTERN", never "disconnected",
# "lost" or "Connected".
coordinator() {
        local name=$1 port=$2 pattern=$3 log=$TMP/coordinator-$1.log pid n
        IMGFLOW_LOG_TARGET=console IMGFLOW_REDIS_TIMEOUT=1s "$COORD" --config /dev/null \
                --redis "127.0.0.1:$port" --kafka-bootstrap "127.0.0.1:$KREFUSED" --log-level debug \
                >"$log" 2>&1 </dev/null &
        pid=$!
        PIDS+=($pid)
        tries() { [ "$(grep -c "Cannot connect to Redis at 127.0.0.1:$port" "$log")" -ge 3 ]; }
        wait_for 60 tries || fail "coordinator, $name: fewer than 3 attempts in 60 s"
        stop_pid "$pid" 30 >/dev/null
        n=$(grep -c "^WARN.*Cannot connect to Redis at 127.0.0.1:$port: $pattern" "$log")
        if [ "$n" != 1 ]; then
                fail "coordinator, $name: $n warnings 'Cannot connect to Redis at 127.0.0.1:$port: $pattern'"
                grep -i redis "$log" | head -5 | sed 's/^/    /'
        elif grep -i "redis" "$log" | grep -qi "disconnected\|lost\|Connected to\|$BAD"; then
                fail "coordinator, $name: $(grep -i redis "$log" | grep -i "disconnected\|lost\|Connected to\|$BAD" | head -1)"
        else
                ok "coordinator, $name: $(grep -c "Cannot connect to Redis" "$log") attempts, one warning: $(grep "^WARN.*Cannot connect to Redis" "$log")"
        fi
        # Kafka: every line above debug that names the broker is one warning
        # of the producer's attempt.
        grep -v '^DEBUG' "$log" | grep "127.0.0.1:$KREFUSED" >"$TMP/kafka-lines"
        if [ ! -s "$TMP/kafka-lines" ]; then
                fail "coordinator, $name: no line about the refused Kafka broker"
        elif grep -v "^WARN   Cannot connect to Kafka: 127.0.0.1:$KREFUSED/bootstrap: .*Connection refused.*; retrying$" \
                "$TMP/kafka-lines" | grep -q .; then
                fail "coordinator, $name: Kafka lines besides one per attempt:"
                sed 's/^/    /' "$TMP/kafka-lines" | head -8
        else
                ok "coordinator, $name: Kafka refused, $(wc -l <"$TMP/kafka-lines") line(s), one per attempt: $(head -1 "$TMP/kafka-lines")"
        fi
}
coordinator "refused" "$REFUSED" "Connection refused"
coordinator "not Redis" "$HTTP" "it does not speak the Redis protocol"

[ "$FAILS" -eq 0 ] && echo PASS || { echo "$FAILS failure(s)"; exit 1; }
