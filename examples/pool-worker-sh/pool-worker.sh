#!/bin/sh
# A pool worker in a few lines of shell: it serves the pool "$POOL" of an
# imgflow installation, i.e. consumes <prefix>tasks.<pool> in the consumer
# group imgflow-workers.<pool> and answers every Task with TaskSucceeded or
# TaskFailed on <prefix>events (key = execution id). kcat talks to Kafka;
# python3 only reads and writes the JSON (handler.py, once per task). See
# docs/worker-protocol.md for the contract it implements.
#
#   KAFKA_BOOTSTRAP=127.0.0.1:9092 POOL=shell ./pool-worker.sh
#
# Map a state machine's functions to it with
#   [resources]
#   Uppercase = pool:shell
# so a Task state with "Resource": "arn:aws:lambda:...:function:Uppercase"
# reaches this script with "operation": "Uppercase".
#
# Environment: KAFKA_BOOTSTRAP (127.0.0.1:9092), POOL (shell), PREFIX
# (imgflow.), GROUP (imgflow-workers.$POOL), WORKER_ID (shell:<pid>).
#
# Delivery: kcat's consumer commits offsets on its own (auto commit), so a
# crash between commit and answer can lose a task; the coordinator's
# TimeoutSeconds/Retry then runs it again. imgflow-worker commits only after
# the broker acknowledged the answer; do the same in a production worker.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
BS=${KAFKA_BOOTSTRAP:-127.0.0.1:9092}
POOL=${POOL:-shell}
PREFIX=${PREFIX:-imgflow.}
GROUP=${GROUP:-imgflow-workers.$POOL}
export WORKER_ID=${WORKER_ID:-shell:$$}

TAB=$(printf '\t')
D=$(mktemp -d)
mkfifo "$D/tasks"
P1= P2=
stop() {
        trap - EXIT INT TERM
        for p in $P1 $P2; do kill "$p" 2>/dev/null || true; done
        wait 2>/dev/null || true
        rm -rf "$D"
}
trap stop EXIT
trap 'stop; exit 0' INT TERM

# Tasks in: one JSON message per line (the coordinator writes compact JSON).
kcat -C -b "$BS" -G "$GROUP" -q -u -f '%s\n' \
        -X auto.offset.reset=earliest "${PREFIX}tasks.$POOL" >"$D/tasks" &
P1=$!

# One task at a time: handler.py prints "<executionId><TAB><event JSON>" (or
# nothing), and the event goes to <prefix>events keyed by the execution id.
while IFS= read -r task; do
        answer=$(printf '%s\n' "$task" | python3 "$HERE/handler.py") || continue
        [ -n "$answer" ] || continue
        key=${answer%%"$TAB"*}
        event=${answer#*"$TAB"}
        printf '%s\n' "$event" | kcat -P -b "$BS" -t "${PREFIX}events" -k "$key" ||
                echo "failed to publish the answer for $key" >&2
done <"$D/tasks" &
P2=$!
echo "serving ${PREFIX}tasks.$POOL in group $GROUP as $WORKER_ID" >&2
wait
