#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A big Map survives a coordinator restart: one execution of
# coordinator/big-map.asl.json (Map, MaxConcurrency 40, each item i -> i + 1
# by the test worker) over BIGMAP_ITEMS items (default 10,000; times in
# docs/benchmarks.md). The coordinator is
# SIGKILLed when ~30% of the items are done (BIGMAP_KILL_PERCENT), restarted,
# and the test waits for the end while items keep finishing (a stall:
# BIGMAP_STALL s without one; in all at most BIGMAP_WAIT s). Then the output
# is [1 .. N] in order, and the history has N iterations, N TaskScheduled
# and N TaskSucceeded, each item's result once (restart-check.py bigmap).
# The history limit is raised for it (~6 events per item).
#
#   test-coordinator-bigmap.sh MOCK_KAFKA COORDINATOR WORKER SRCDIR
set -u

MOCK=$1 COORD=$2 WORKER=$3 SRC=$4
N=${BIGMAP_ITEMS:-10000}
KILL_AT=$((N * ${BIGMAP_KILL_PERCENT:-30} / 100))
COORD_EXTRA="history_limit = $((N * 8 + 1000))"
. "$SRC/tests/integration/coordinator-stack.sh"

cp "$SRC/tests/integration/coordinator/big-map.asl.json" "$TMP/sm/"
start_coordinator
wait_worker_assigned
wait_coordinator_assigned

EID=big-map:m$N
python3 -c "import json,sys; print(json.dumps({'v':1,'type':'StartExecution','stateMachine':'big-map','name':'m%d' % $N,'input':{'items':list(range($N))}}, separators=(',',':')))" |
        kcat -P -b "$BOOT" -t imgflow.jobs -k "$EID" 2>>"$TMP/kcat.err"
t0=$(date +%s.%N)
now() { awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}"; }

killed_at=
deadline=$(($(date +%s) + ${BIGMAP_WAIT:-150}))
while [ "$(date +%s)" -lt "$deadline" ]; do
        done_n=$($CHECK "$RPORT" progress "$EID")
        if [ "$done_n" -ge "$KILL_AT" ]; then
                size=$($CHECK "$RPORT" docsize "$EID")
                kill9_coordinator
                killed_at=$done_n
                break
        fi
        sleep 0.2
done
if [ -z "$killed_at" ]; then
        fail "only $done_n of $N items done before the kill ($(now) s)"
        show_logs
        exit 1
fi
t_kill=$(now)
echo "$(date +%T) coordinator killed at ${t_kill} s with ~$killed_at of $N items done (document $size bytes); restarting"
start_coordinator

# Wait while items keep finishing: the Map has stalled when none finished
# for BIGMAP_STALL seconds (default 60); BIGMAP_WAIT bounds the whole wait.
# On a busy machine the Map is slow (it is CPU-bound), not stuck.
status= last_n=-1 last_t=$(date +%s)
while [ "$(date +%s)" -lt "$deadline" ]; do
        status=$(redis-cli -p "$RPORT" hget "imgflow:{$EID}:exec" status)
        [ "$status" != RUNNING ] && break
        n=$($CHECK "$RPORT" progress "$EID")
        if [ "$n" != "$last_n" ]; then
                last_n=$n last_t=$(date +%s)
        elif [ $(($(date +%s) - last_t)) -ge "${BIGMAP_STALL:-60}" ]; then
                echo "no item finished for ${BIGMAP_STALL:-60} s"
                break
        fi
        sleep 0.5
done
t_end=$(now)
size=$($CHECK "$RPORT" docsize "$EID")
[ "$status" = SUCCEEDED ] && ok "Map of $N items finished after a SIGKILL at ${t_kill} s, in ${t_end} s (document at the end: $size bytes)" ||
        fail "Map of $N items: status '$status' after ${t_end} s ($($CHECK "$RPORT" progress "$EID") done)"

sleep 1
res=$($CHECK "$RPORT" bigmap "$EID" "$N")
rc=$?
printf '%s\n' "$res"
[ $rc = 0 ] && ok "output [1..$N] in order, each item's result applied once" || fail "big Map check"
echo "items=$N killed_at=$killed_at seconds=$t_end"

if [ $FAILS -gt 0 ]; then
        show_logs
        exit 1
fi
exit 0
