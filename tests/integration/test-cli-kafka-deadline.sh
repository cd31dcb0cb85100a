#!/bin/bash
# SPDX-License-Identifier: MIT
# The CLI's --request-timeout bounds a whole request, the broker's
# acknowledgement included: with a broker that accepts connections and never
# answers, the verbs that publish (start-execution, stop-execution,
# send-task-success) exit 1 within the deadline plus 1 s, naming the
# broker's address. (Before, the producer waited for message.timeout.ms,
# 10 s, whatever the deadline.) A broker that refuses the connection fails
# them at once, naming the address and the refusal.
# redis-server is started here on loopback; no Kafka is.
#
#   test-cli-kafka-deadline.sh IMGFLOW SRCDIR
set -u
IMGFLOW=$1 SRC=$2
. "$SRC/tests/helpers/common.sh"
for p in redis-server redis-cli python3; do command -v $p >/dev/null || { echo "$p missing: skipped"; exit 77; }; done

TMP=$(mktemp -d /tmp/imgflow-test-cli-deadline.XXXXXX)
PIDS=()
# shellcheck disable=SC2317
cleanup() {
        local p
        for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
        rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 143' INT TERM
redis_start "$TMP"
PIDS+=("$REDIS_PID")
RPORT=$REDIS_PORT

# A broker address where nothing listens.
REFUSED=127.0.0.1:$(free_port)
# One that accepts connections and never says a word (60 s at most).
python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
print(s.getsockname()[1], flush=True)
held, end = [], time.monotonic() + 60
s.settimeout(0.5)
while time.monotonic() < end:
    try:
        held.append(s.accept()[0])
    except socket.timeout:
        pass
' >"$TMP/silent.port" &
PIDS+=($!)
wait_for 5 test -s "$TMP/silent.port" || { echo "the silent listener did not start"; exit 1; }
SILENT=127.0.0.1:$(head -1 "$TMP/silent.port")

# run TIMEOUT BROKER VERB...: exit 1 within TIMEOUT + 1 s (and not before
# TIMEOUT - 0.2 s: the deadline is the request's), stderr naming BROKER.
run() {
        local timeout=$1 broker=$2 t0 ms rc
        shift 2
        t0=$(date +%s%N)
        "$IMGFLOW" "$@" --redis "127.0.0.1:$RPORT" --kafka "$broker" --request-timeout "$timeout" \
                >"$TMP/out" 2>"$TMP/err"
        rc=$?
        ms=$((($(date +%s%N) - t0) / 1000000))
        if [ $rc -ne 1 ] || [ $ms -gt $((timeout * 1000 + 1000)) ] || [ $ms -lt $((timeout * 1000 - 200)) ] ||
                ! grep -q "Kafka at $broker" "$TMP/err"; then
                fail "$1 via $broker, --request-timeout $timeout: exit $rc after $ms ms: $(cat "$TMP/err")"
                return
        fi
        ok "$1 via $broker, --request-timeout $timeout: exit 1 after $ms ms: $(cat "$TMP/err")"
}

run 2 "$SILENT" start-execution --state-machine m --input '{}'
run 2 "$SILENT" stop-execution --execution-arn m:e
run 2 "$SILENT" send-task-success --task-token t --task-output '{}'
run 5 "$SILENT" start-execution --state-machine m --input '{}'

# refused VERB...: a broker that refuses the connection fails the request
# at once (within 3 s, with the default 30 s deadline), naming the address
# and the refusal, not "Message timed out" after message.timeout.ms.
refused() {
        local t0 ms rc
        t0=$(date +%s%N)
        "$IMGFLOW" "$@" --redis "127.0.0.1:$RPORT" --kafka-bootstrap "$REFUSED" >"$TMP/out" 2>"$TMP/err"
        rc=$?
        ms=$((($(date +%s%N) - t0) / 1000000))
        if [ $rc -ne 1 ] || [ $ms -gt 3000 ] ||
                ! grep -q "^imgflow: cannot connect to Kafka at $REFUSED: .*Connection refused" "$TMP/err" ||
                grep -q "timed out" "$TMP/err"; then
                fail "$1 via $REFUSED: exit $rc after $ms ms: $(cat "$TMP/err")"
                return
        fi
        ok "$1 via $REFUSED: exit 1 after $ms ms: $(grep Kafka "$TMP/err")"
}
refused start-execution --state-machine m --input '{}'
refused stop-execution --execution-arn m:e
refused send-task-success --task-token t --task-output '{}'

[ "$FAILS" -eq 0 ] && echo "PASS" || exit 1
