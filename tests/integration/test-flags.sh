#!/bin/bash
# SPDX-License-Identifier: MIT
# The flags every program shares: --version (prints "<program> <version>",
# exit 0) and --help in all of them; the same names for the same settings
# (--kafka-bootstrap, --redis, --log-level, --log-target, --config) where a
# program has the setting, each one accepted (a daemon's --check-config with
# it exits 0); the CLI takes --kafka-bootstrap like the daemons, and an
# unknown verb names the nearest one.
#
#   test-flags.sh IMGFLOW COORDINATOR WORKER API WATCH VERSION KAFKA_TOPICS LAMBDA
set -u
IMGFLOW=$1 COORD=$2 WORKER=$3 API=$4 WATCH=$5 VERSION=$6 KAFKA_TOPICS=$7 LAMBDA=$8
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok   $*"; }
T=$(mktemp -d /tmp/imgflow-test-flags.XXXXXX)
trap 'rm -rf "$T"' EXIT
printf '[api]\nallow_unauthenticated = true\n' >"$T/imgflow.conf"

for p in "$IMGFLOW" "$COORD" "$WORKER" "$API" "$WATCH" "$KAFKA_TOPICS" "$LAMBDA"; do
        name=$(basename "$p")
        out=$(timeout 10 "$p" --version 2>&1) && [ "$out" = "$name $VERSION" ] &&
                ok "$name --version: $out" || fail "$name --version: '$out'"
        timeout 10 "$p" --help >"$T/help" 2>&1 && grep -q -- "--help" "$T/help" ||
                fail "$name --help"
done

# The shared daemon flags: in --help, and accepted.
for p in "$COORD" "$WORKER" "$API"; do
        name=$(basename "$p")
        "$p" --help >"$T/help" 2>&1
        for f in --config --kafka-bootstrap --redis --log-level --log-target --check-config --version; do
                [ "$name" = imgflow-worker ] && [ "$f" = --redis ] && continue # workers hold no Redis settings
                grep -q -- "$f" "$T/help" || fail "$name --help does not list $f"
        done
        args=(--config "$T/imgflow.conf" --kafka-bootstrap 127.0.0.1:9 --log-level debug --log-target console)
        [ "$name" = imgflow-worker ] || args+=(--redis 127.0.0.1:9)
        if out=$(timeout 20 "$p" "${args[@]}" --check-config 2>&1); then
                ok "$name accepts ${args[*]}"
        else
                fail "$name refuses ${args[*]}: $out"
        fi
done

# The CLI: --kafka-bootstrap (and --kafka, its earlier name) are taken; the
# failure is then Redis's (exit 1), not a usage error (exit 2).
for f in --kafka-bootstrap --kafka; do
        timeout 20 "$IMGFLOW" list-state-machines --redis 127.0.0.1:9 "$f" 127.0.0.1:9 >"$T/out" 2>"$T/err"
        rc=$?
        [ $rc = 1 ] && grep -q "cannot connect to Redis" "$T/err" && ok "imgflow takes $f" ||
                fail "imgflow $f: exit $rc: $(cat "$T/err")"
done
grep -q -- "--kafka-bootstrap" <("$IMGFLOW" describe-execution --help) || fail "imgflow's verbs do not list --kafka-bootstrap"

# imgflow-watch publishes to Kafka: the daemons' --kafka-bootstrap and
# --log-target too, accepted by its --check-config.
"$WATCH" --help >"$T/help" 2>&1
for f in --config --kafka-bootstrap --log-level --log-target --check-config --version; do
        grep -q -- "$f" "$T/help" || fail "imgflow-watch --help does not list $f"
done
mkdir -p "$T/photos"
printf '[coordinator]\ns3_events_topic = imgflow.s3-events\n[buckets]\nphotos = %s\n' "$T/photos" >"$T/watch.conf"
if out=$(timeout 20 "$WATCH" --config "$T/watch.conf" --kafka-bootstrap 127.0.0.1:9 --log-level debug \
        --log-target console --check-config 2>&1); then
        ok "imgflow-watch accepts --kafka-bootstrap, --log-level and --log-target"
else
        fail "imgflow-watch refuses the shared flags: $out"
fi

# imgflow-kafka-topics names the brokers as the daemons do: with a refused
# broker it fails to reach it (exit 1), not with a usage error (exit 2).
timeout 30 "$KAFKA_TOPICS" --kafka-bootstrap 127.0.0.1:9 --timeout 1 t1 >"$T/out" 2>"$T/err"
rc=$?
[ $rc = 1 ] && grep -q "127.0.0.1:9" "$T/err" && ok "imgflow-kafka-topics takes --kafka-bootstrap" ||
        fail "imgflow-kafka-topics --kafka-bootstrap: exit $rc: $(tail -2 "$T/err")"

# Unknown verbs: the nearest one, or none when nothing is close.
near() {
        "$IMGFLOW" "$1" >/dev/null 2>"$T/err"
        rc=$?
        if [ $rc = 2 ] && grep -q "^imgflow: unknown verb '$1'$2" "$T/err"; then
                ok "imgflow $1: $(head -1 "$T/err")"
        else
                fail "imgflow $1: exit $rc: $(head -1 "$T/err")"
        fi
}
near start-exection "; did you mean 'start-execution'?$"
near describe-executions "; did you mean 'describe-execution'?$"
near lst-state-machines "; did you mean 'list-state-machines'?$"
near validate "; did you mean 'validate-state-machine-definition'?$"
near frobnicate '$'

[ $FAILS = 0 ] && echo PASS || { echo "$FAILS failure(s)"; exit 1; }
