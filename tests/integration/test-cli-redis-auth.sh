#!/bin/bash
# SPDX-License-Identifier: MIT
# The CLI against a redis-server that wants a password (requirepass, and an
# ACL user), started here on loopback: a missing password is named NOAUTH,
# a wrong one WRONGPASS (as redis-server names them), each with the setting
# to fix, never "Input/output error"; exit status 1 for reading and writing
# verbs alike; the right password (alone, or with its ACL user) works; with
# [redis] wait_replicas and no replica a change is not reported as made.
#
#   test-cli-redis-auth.sh IMGFLOW SRCDIR
set -u
IMGFLOW=$1 SRC=$2
. "$SRC/tests/helpers/common.sh"
for p in redis-server redis-cli; do command -v $p >/dev/null || { echo "$p missing: skipped"; exit 77; }; done

TMP=$(mktemp -d /tmp/imgflow-test-cli-auth.XXXXXX)
REDIS_PID=
trap '[ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null; rm -rf "$TMP"' EXIT
trap 'exit 143' INT TERM
redis_start "$TMP" --requirepass s3cret --user imgflow on ">userpass" "~*" "&*" "+@all"
RPORT=$REDIS_PORT

# Kafka is never reached: the Redis connection comes first.
CONF=$TMP/imgflow.conf
printf '[redis]\naddress = 127.0.0.1:%s\ntimeout = 2s\n[kafka]\nbootstrap.servers = 127.0.0.1:1\n' \
        "$RPORT" >"$CONF"
printf '[redis]\naddress = 127.0.0.1:%s\npassword = wrong\n' "$RPORT" >"$TMP/wrong.conf"

VERBS=("list-state-machines" "list-executions" "describe-state-machine --name m"
        "describe-execution --execution-arn m:e" "get-execution-history --execution-arn m:e"
        "start-execution --state-machine m --input {}" "stop-execution --execution-arn m:e"
        "send-task-heartbeat --task-token t")

# expect WHAT WORD [ENV...]: every verb exits 1 and names WORD and
# redis.password on stderr, and never says "Input/output error".
expect() {
        local what=$1 word=$2 v rc n=0
        shift 2
        for v in "${VERBS[@]}"; do
                # shellcheck disable=SC2086
                env "$@" "$IMGFLOW" $v --config "$CONF" --request-timeout 2 >"$TMP/out" 2>"$TMP/err"
                rc=$?
                if [ $rc -ne 1 ] || ! grep -q "$word" "$TMP/err" || ! grep -q "redis.password" "$TMP/err" ||
                        grep -q "Input/output error" "$TMP/err"; then
                        fail "$what: imgflow $v: exit $rc: $(head -c 300 "$TMP/err")"
                        continue
                fi
                n=$((n + 1))
        done
        ok "$what: $n verbs exit 1 naming $word: $(head -1 "$TMP/err")"
}

expect "no password" NOAUTH
expect "wrong password (environment)" WRONGPASS IMGFLOW_REDIS_PASSWORD=wrong
expect "wrong password for an ACL user" WRONGPASS IMGFLOW_REDIS_USERNAME=imgflow IMGFLOW_REDIS_PASSWORD=s3cret
grep -q "redis.username" "$TMP/err" || fail "an ACL user's refusal does not name redis.username"

# A wrong password from the configuration file.
"$IMGFLOW" list-state-machines --config "$TMP/wrong.conf" >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $rc -eq 1 ] && grep -q WRONGPASS "$TMP/err"; then
        ok "wrong password (file): $(cat "$TMP/err")"
else
        fail "wrong password (file): exit $rc: $(cat "$TMP/err")"
fi

# The right password, alone and with its ACL user.
for creds in "IMGFLOW_REDIS_PASSWORD=s3cret" "IMGFLOW_REDIS_USERNAME=imgflow IMGFLOW_REDIS_PASSWORD=userpass"; do
        # shellcheck disable=SC2086
        env $creds "$IMGFLOW" list-state-machines --config "$CONF" >"$TMP/out" 2>"$TMP/err"
        rc=$?
        if [ $rc -eq 0 ] && grep -q '"stateMachines"' "$TMP/out"; then
                ok "right credentials ($creds): list-state-machines answers"
        else
                fail "right credentials ($creds): exit $rc: $(cat "$TMP/err")"
        fi
done

# [redis] wait_replicas with no replica: a change is made on the server
# but not reported as made (exit 1, "Redis replicas behind"), within
# redis.timeout; without it, the same change is reported.
echo '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}' >"$TMP/m.asl.json"
SECONDS=0
IMGFLOW_REDIS_PASSWORD=s3cret IMGFLOW_REDIS_WAIT_REPLICAS=1 IMGFLOW_REDIS_WAIT_TIMEOUT=300ms \
        "$IMGFLOW" create-state-machine --config "$CONF" --name waited --definition "file://$TMP/m.asl.json" \
        >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "Redis replicas behind: 0 of 1" "$TMP/err" && [ $SECONDS -le 10 ]; then
        ok "wait_replicas = 1 without a replica: exit 1 in ${SECONDS}s: $(cat "$TMP/err")"
else
        fail "wait_replicas = 1 without a replica: exit $rc after ${SECONDS}s: $(cat "$TMP/err")"
fi
IMGFLOW_REDIS_PASSWORD=s3cret "$IMGFLOW" create-state-machine --config "$CONF" --name unwaited \
        --definition "file://$TMP/m.asl.json" >"$TMP/out" 2>"$TMP/err" ||
        fail "create-state-machine without wait_replicas: $(cat "$TMP/err")"

[ "$FAILS" -eq 0 ] && echo "PASS" || exit 1
