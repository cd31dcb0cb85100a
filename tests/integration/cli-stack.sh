# SPDX-License-Identifier: MIT
# Sourced by test-cli-server.sh and test-callbacks.sh: starts a redis-server
# on a free loopback port, Kafka (tests/helpers/stack.sh: deploy/local-stack.sh)
# and imgflow-coordinator, writes $TMP/imgflow.conf for the CLI, and kills every
# process it started (by pid) on exit. Needs MOCK, COORD, IMGFLOW, SRC set;
# optional EXTRA_CONF (appended to the configuration) and MOCK_TOPICS
# (more topics, "name:partitions ...").
#
# Provides: what tests/helpers/stack.sh does ($TMP, $RPORT, $BOOT, $CONF,
# fail/ok/$FAILS, free_port, start_coordinator, ...), cli (runs imgflow
# with --config, output in $OUT/$ERR, exit code in $RC), json_get,
# stop_coordinator and wait_coordinator_ready.

. "$SRC/tests/helpers/stack.sh"
stack_init cli
start_infra --partitions 4 --topics "${MOCK_TOPICS:-}"
stack_conf <<EOF
${EXTRA_CONF:-}
EOF

stop_coordinator() {
        [ -n "$COORD_PID" ] || return 0
        stop_pid "$COORD_PID" 10
        COORD_PID=
}

# cli ARGS...: imgflow with the test's configuration; bounded in time.
OUT=$TMP/out ERR=$TMP/err RC=0
cli() {
        timeout 60 "$IMGFLOW" "$@" --config "$CONF" >"$OUT" 2>"$ERR"
        RC=$?
}

# json_get FILE PYTHON-EXPRESSION (on j): prints the value (JSON for non-strings).
json_get() {
        python3 - "$1" "$2" <<'PY'
import json, sys
try:
    j = json.load(open(sys.argv[1]))
    v = eval(sys.argv[2], {"j": j, "json": json})
except Exception as e:
    print("<error: %s>" % e)
    sys.exit(0)
print(v if isinstance(v, str) else json.dumps(v, sort_keys=True))
PY
}

# expect_rc NAME WANT: check $RC, print stderr on mismatch.
expect_rc() {
        if [ "$RC" = "$2" ]; then
                ok "$1 (exit $RC)"
                return 0
        fi
        fail "$1: exit $RC, expected $2"
        sed 's/^/    out: /' "$OUT" | head -20
        sed 's/^/    err: /' "$ERR" | head -20
        return 1
}

# expect_err NAME WANT-RC PATTERN: exit code and a pattern on stderr.
expect_err() {
        expect_rc "$1" "$2" || return 1
        grep -q -- "$3" "$ERR" && ok "$1: stderr has '$3'" || { fail "$1: stderr lacks '$3'"; sed 's/^/    err: /' "$ERR"; }
}

# expect_eq NAME GOT WANT
expect_eq() {
        [ "$2" = "$3" ] && ok "$1: $2" || fail "$1: got '$2', expected '$3'"
}

# wait_status EXEC-ID STATUS [TIMEOUT]: poll describe-execution.
wait_status() {
        local s=
        for _ in $(seq $((${3:-30} * 5))); do
                cli describe-execution --execution-arn "$1"
                s=$(json_get "$OUT" 'j["status"]')
                [ "$s" = "$2" ] && break
                sleep 0.2
        done
        expect_eq "$1 status" "$s" "$2"
}

# Wait until the coordinator has joined its consumer group.
wait_coordinator_ready() {
        wait_for 20 grep -qs "Coordinator ready" "$TMP/coordinator.log" && return 0
        echo "coordinator not ready"; tail -20 "$TMP/coordinator.log"
        return 1
}
