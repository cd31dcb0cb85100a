#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A third-party Kafka client against the local stack (deploy/local-stack.sh:
# Kafka, redis-server, a coordinator, a worker): kafkajs (tests/clients/,
# installed by deploy/setup-debian.sh from its lockfile) publishes 20 jobs as
# an idempotent producer and reads the notifications as a consumer-group
# member (tests/clients/kafkajs-client.js). Checks: the producer was
# idempotent (a producer id from the broker), every execution SUCCEEDED
# with its own input echoed five times over, imgflow.jobs holds each job
# once, and the notifications carried no status twice under one id.
#
#   test-kafkajs.sh COORDINATOR SOURCE_ROOT
# Skipped (77) without node or without tests/clients/node_modules.
set -u
COORD=$1 SRC=$2
. "$SRC/tests/helpers/stack.sh"
command -v node >/dev/null || { echo "node missing: skipped"; exit 77; }
[ -d "$SRC/tests/clients/node_modules/kafkajs" ] ||
        { echo "kafkajs missing in tests/clients (deploy/setup-debian.sh): skipped"; exit 77; }
stack_init kafkajs
N=20

if ! STACK_COORDINATORS=1 STACK_WORKERS=1 STACK_WORKER_THREADS=2 STACK_PARTITIONS=4 STACK_RESOURCES= \
        local_stack start >"$TMP/stack.log" 2>&1; then
        stack_die "the local stack" "$TMP/stack.log"
fi
. "$TMP/stack/stack.env"
local_stack register echo-chain "$SRC/tests/bench/echo-chain.asl.json" || fail "register"

if timeout 150 node "$SRC/tests/clients/kafkajs-client.js" "$BOOTSTRAP" echo-chain "$N" 120 \
        >"$TMP/client.json" 2>"$TMP/client.err"; then
        ok "kafkajs: $N executions reported a terminal status"
else
        fail "kafkajs client: $(cat "$TMP/client.err") $(cat "$TMP/client.json")"
fi

python3 - "$TMP/client.json" "$N" <<'PY' || FAILS=$((FAILS + 1))
import json, sys
r = json.loads(open(sys.argv[1]).read() or "{}")
n = int(sys.argv[2])
bad = 0
def check(cond, what):
    global bad
    print(("ok   " if cond else "FAIL: ") + what)
    bad += not cond
check(r.get("idempotent") is True, "the kafkajs producer was idempotent")
st = r.get("statuses", {})
check(sorted(st) == sorted("kjs-%d" % i for i in range(n)), "a status for each of the %d executions" % n)
check(bool(st) and all(s == "SUCCEEDED" for s in st.values()), "all SUCCEEDED (%s)" % sorted(set(st.values())))
outs = r.get("outputs", {})
check(all(outs.get("kjs-%d" % i) == {"i": i} for i in range(n)), "each output is its own input")
check(r.get("duplicates", -1) >= 0, "notification duplicates counted (%s, dropped by id)" % r.get("duplicates"))
sys.exit(1 if bad else 0)
PY

jobs=$(kcat -C -b "$BOOTSTRAP" -t imgflow.jobs -o beginning -e -q -f '%k\n' 2>/dev/null | grep -c '^kjs-')
[ "$jobs" = "$N" ] && ok "imgflow.jobs holds each of the $N jobs once" || fail "imgflow.jobs holds $jobs jobs, expected $N"

if [ "$FAILS" -gt 0 ]; then
        for f in "$TMP"/stack/logs/*.log; do echo "--- $f (tail)"; tail -15 "$f"; done
        exit 1
fi
echo PASS
