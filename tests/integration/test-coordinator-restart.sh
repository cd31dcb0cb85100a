#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A coordinator killed (SIGKILL) in the middle of 200 running executions and
# restarted: all 200 finish with the right outputs and each task result is
# applied once. The definition (coordinator/restart-steps.asl.json) is
# Task -> Wait 1 s -> Task whose first attempt fails (Retry) -> Parallel of
# two Tasks, answered by the test worker. Jobs are published in batches so
# executions finish spread in time; the coordinator is killed once about a
# third have finished (RESTART_KILL_AT, default 67; ends come in bursts, as
# the 1 s timers of executions started over ~4 s fire together, so the
# printed killed_at is often ~140), restarted at once, and
# the test waits (bounded) for all of them. Then, from Redis (restart-check.py):
# every output is exactly the expected one; every history has 5 TaskScheduled
# (4 tasks + 1 retry), 1 TaskFailed and exactly one TaskSucceeded per task
# (the echoed output names the task) with gapless event ids. A quarter as
# many executions of restart-steps-jsonata (the same steps in JSONata, their
# results in workflow variables that the Wait and the kill lie between) run
# alongside and must end with the same outputs: the variables live in the
# execution document.
#
#   test-coordinator-restart.sh MOCK_KAFKA COORDINATOR WORKER SRCDIR
set -u

MOCK=$1 COORD=$2 WORKER=$3 SRC=$4
N=${RESTART_EXECUTIONS:-200}
JN=$(((N + 3) / 4))
KILL_AT=${RESTART_KILL_AT:-$((N / 3))}
. "$SRC/tests/integration/coordinator-stack.sh"

cp "$SRC/tests/integration/coordinator/restart-steps.asl.json" \
        "$SRC/tests/integration/coordinator/restart-steps-jsonata.asl.json" "$TMP/sm/"
start_coordinator
wait_worker_assigned
wait_coordinator_assigned

t0=$(date +%s.%N)
# 16 batches, 0.25 s apart: the executions run 2-3 s each, so their ends spread.
per=$(((N + 15) / 16)) jper=$(((JN + 15) / 16))
for b in $(seq 0 15); do
        {
                for i in $(seq $((b * per + 1)) $((b * per + per))); do
                        [ "$i" -le "$N" ] || break
                        printf '{"v":1,"type":"StartExecution","stateMachine":"restart-steps","name":"r%d","input":{"i":%d}}\n' "$i" "$i"
                done
                for i in $(seq $((b * jper + 1)) $((b * jper + jper))); do
                        [ "$i" -le "$JN" ] || break
                        printf '{"v":1,"type":"StartExecution","stateMachine":"restart-steps-jsonata","name":"j%d","input":{"i":%d}}\n' "$i" "$i"
                done
        } | kcat -P -b "$BOOT" -t imgflow.jobs 2>>"$TMP/kcat.err"
        sleep 0.25
done &
PUB=$!

killed_at=
done_n=$($CHECK "$RPORT" wait-count restart-steps:r "$N" "$KILL_AT" 60)
if [ "$done_n" -ge "$KILL_AT" ]; then
        kill9_coordinator
        killed_at=$($CHECK "$RPORT" count restart-steps:r "$N")
fi
wait $PUB
if [ -z "$killed_at" ]; then
        fail "only $done_n of $N finished in 60 s before the kill"
        show_logs
        exit 1
fi
echo "$(date +%T) coordinator killed with $killed_at of $N finished; restarting"
start_coordinator

# Wait (bounded) for all of them.
deadline=$(($(date +%s) + ${RESTART_WAIT:-120}))
while :; do
        done_n=$($CHECK "$RPORT" count restart-steps:r "$N")
        jdone_n=$($CHECK "$RPORT" count restart-steps-jsonata:j "$JN")
        [ "$done_n" -ge "$N" ] && [ "$jdone_n" -ge "$JN" ] && break
        [ "$(date +%s)" -ge "$deadline" ] && break
        sleep 0.5
done
t1=$(date +%s.%N)
[ "$done_n" = "$N" ] && ok "$N executions finished after a SIGKILL ($(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s)" ||
        fail "$done_n of $N finished"

# Late duplicates (re-consumed events, re-sent tasks) have had time to arrive.
sleep 1
res=$($CHECK "$RPORT" restart restart-steps:r "$N")
rc=$?
printf '%s\n' "$res" | grep -v '^lost=' | head -20
lost=$(printf '%s\n' "$res" | sed -n 's/^lost=\([0-9]*\) .*/\1/p')
dup=$(printf '%s\n' "$res" | sed -n 's/.* duplicated=\([0-9]*\) .*/\1/p')
echo "executions=$N killed_at=$killed_at lost=${lost:-?} duplicated=${dup:-?}"
[ $rc = 0 ] && ok "outputs exact, every task result applied once" || fail "restart check: $(printf '%s\n' "$res" | tail -1)"
[ "$jdone_n" = "$JN" ] && ok "$JN JSONata executions with variables finished" || fail "$jdone_n of $JN JSONata executions finished"
res=$($CHECK "$RPORT" restart restart-steps-jsonata:j "$JN")
rc=$?
printf '%s\n' "$res" | grep -v '^lost=' | head -20
[ $rc = 0 ] && ok "JSONata: outputs from the variables exact, every task result applied once ($(printf '%s\n' "$res" | tail -1))" ||
        fail "JSONata restart check: $(printf '%s\n' "$res" | tail -1)"
# Nothing of the finished executions is left scheduled (timers are dropped
# when an execution ends).
n=$(redis-cli -p "$RPORT" zcard imgflow:timers)
[ "$n" = 0 ] && ok "no timers left behind" || fail "timers left: $n"
echo "outbox executions pending: $(redis-cli -p "$RPORT" zcard imgflow:outbox-pending)"
[ "$killed_at" -lt "$N" ] || fail "the coordinator was killed after every execution had finished"

if [ $FAILS -gt 0 ]; then
        show_logs
        exit 1
fi
exit 0
