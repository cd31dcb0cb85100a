#!/bin/bash
# SPDX-License-Identifier: MIT
# `meson install --destdir` puts in place what a host needs: the programs
# (imgflow, imgflow-coordinator, imgflow-worker, imgflow-api, imgflow-watch, imgflow-kafka-topics) in
# <bindir> and not the test-only imgflow-mock-kafka, the manual pages of the
# four programs (read by groff without a warning), the documentation the
# units' Documentation= names, the unit files in <systemdunitdir>, the
# default configuration in <sysconfdir>/imgflow/imgflow.conf; the units' ExecStart= names the
# installed programs and configuration, no @placeholder@ is left; and the
# installed daemons accept the installed configuration (--check-config).
#
#   test-install.sh SOURCE_ROOT BUILD_ROOT
set -u
SRC=$1 BUILD=$2
command -v meson >/dev/null || { echo "meson missing: skipped"; exit 77; }
D=$(mktemp -d /tmp/imgflow-install.XXXXXX)
trap 'rm -rf "$D"' EXIT
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok   $*"; }

if ! meson install -C "$BUILD" --destdir "$D" --no-rebuild >"$D.log" 2>&1; then
        cat "$D.log"; rm -f "$D.log"
        echo "FAIL: meson install"; exit 1
fi
rm -f "$D.log"

# one FILE-PATTERN: exactly one installed file matches (printed).
one() {
        local found
        found=$(cd "$D" && find . -type f -path "./$1" | sed 's|^\.||')
        if [ "$(printf '%s\n' "$found" | grep -c .)" = 1 ]; then
                printf '%s\n' "$found"
        else
                fail "expected one installed file like $1, found: ${found:-none}"
        fi
}

for p in imgflow imgflow-coordinator imgflow-worker imgflow-lambda imgflow-api imgflow-watch imgflow-kafka-topics; do
        f=$(one "*/bin/$p")
        [ -n "$f" ] || continue
        [ -x "$D$f" ] && ok "$f" || fail "$f is not executable"
done
# The mock cluster is for tests: nowhere in the installation.
found=$(cd "$D" && find . -name 'imgflow-mock-kafka*')
[ -z "$found" ] && ok "imgflow-mock-kafka is not installed" || fail "the test-only mock cluster is installed: $found"
# A manual page for each of the four programs, which groff reads without a warning.
for m in man1/imgflow.1 man8/imgflow-coordinator.8 man8/imgflow-worker.8 man8/imgflow-lambda.8 man8/imgflow-api.8; do
        f=$(one "*/man/$m")
        [ -n "$f" ] || continue
        if command -v groff >/dev/null; then
                w=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$D$f" 2>&1)
                [ -z "$w" ] && ok "$f" || fail "$f: groff warns: $w"
        else
                ok "$f"
        fi
done
# Every unit's Documentation= file:// is installed.
for u in imgflow-coordinator.service imgflow-worker@.service imgflow-lambda@.service imgflow-api.service imgflow-watch.service; do
        f=$(one "*/systemd/system/$u")
        [ -n "$f" ] || continue
        for doc in $(sed -n 's/^Documentation=//p' "$D$f"); do
                case "$doc" in
                file://*) [ -f "$D${doc#file://}" ] && ok "$u: $doc is installed" ||
                        fail "$u: Documentation=$doc is not installed" ;;
                esac
        done
done
for u in imgflow-coordinator.service imgflow-worker@.service imgflow-lambda@.service imgflow-api.service imgflow-watch.service imgflow.target; do
        f=$(one "*/systemd/system/$u")
        [ -n "$f" ] && ok "$f"
done
# The Lambda runtimes' bootstraps, where imgflow-lambda looks for them.
for b in bootstrap.py bootstrap.js; do
        f=$(one "*/share/imgflow/lambda/$b")
        [ -n "$f" ] && ok "$f"
done
CONF=$(one "*etc/imgflow/imgflow.conf")
[ -n "$CONF" ] && ok "$CONF"

for u in imgflow-coordinator.service imgflow-worker@.service imgflow-lambda@.service imgflow-api.service; do
        f=$(one "*/systemd/system/$u")
        [ -n "$f" ] || continue
        grep -q '@[a-z]*@' "$D$f" && fail "$u: placeholder left: $(grep '@[a-z]*@' "$D$f")"
        exec=$(sed -n 's/^ExecStart=//p' "$D$f")
        bin=${exec%% *}
        cfg=$(printf '%s\n' "$exec" | sed -n 's/.*--config=\([^ ]*\).*/\1/p')
        [ -x "$D$bin" ] && ok "$u runs $bin (installed)" || fail "$u: ExecStart program $bin is not installed"
        [ "$cfg" = "$CONF" ] && ok "$u reads $cfg (installed)" ||
                fail "$u: --config=$cfg is not the installed configuration $CONF"
        grep -q '^Type=notify$' "$D$f" || fail "$u: not Type=notify"
        grep -q '^WatchdogSec=' "$D$f" || fail "$u: no WatchdogSec="
        grep -q '^ExecReload=.*-HUP' "$D$f" || fail "$u: no ExecReload= with SIGHUP"
done
f=$(one "*/systemd/system/imgflow-watch.service")
if [ -n "$f" ]; then
        exec=$(sed -n 's/^ExecStart=//p' "$D$f")
        [ -x "$D${exec%% *}" ] && ok "imgflow-watch.service runs ${exec%% *} (installed)" ||
                fail "imgflow-watch.service: ExecStart program ${exec%% *} is not installed"
        grep -q '^Type=notify$' "$D$f" || fail "imgflow-watch.service: not Type=notify"
        grep -q '^WatchdogSec=' "$D$f" || fail "imgflow-watch.service: no WatchdogSec="
fi

if [ -n "$CONF" ]; then
        for p in imgflow-coordinator imgflow-worker; do
                bin=$(one "*/bin/$p")
                [ -n "$bin" ] || continue
                if out=$(env -u IMGFLOW_CONFIG IMGFLOW_LOG_TARGET=console timeout 20 "$D$bin" --config "$D$CONF" --check-config 2>&1); then
                        ok "$p accepts the installed configuration: $out"
                else
                        fail "$p refuses the installed configuration: $out"
                fi
        done
        # imgflow-api with a keys file as its unit passes it (IMGFLOW_API_KEYS).
        bin=$(one "*/bin/imgflow-api")
        if [ -n "$bin" ]; then
                printf '{"keys": [{"accessKeyId": "AKIAIMGFLOWINSTALL01", "secretAccessKey": "installsecretinstall", "policy": {"Statement": {"Effect": "Allow", "Action": "states:*", "Resource": "*"}}}]}\n' >"$D/api-keys.json"
                chmod 600 "$D/api-keys.json"
                if out=$(env -u IMGFLOW_CONFIG IMGFLOW_LOG_TARGET=console IMGFLOW_API_KEYS="$D/api-keys.json" timeout 20 "$D$bin" --config "$D$CONF" --check-config 2>&1); then
                        ok "imgflow-api accepts the installed configuration: $out"
                else
                        fail "imgflow-api refuses the installed configuration: $out"
                fi
                chmod 644 "$D/api-keys.json"
                if env -u IMGFLOW_CONFIG IMGFLOW_LOG_TARGET=console IMGFLOW_API_KEYS="$D/api-keys.json" timeout 20 "$D$bin" --config "$D$CONF" --check-config >/dev/null 2>&1; then
                        fail "imgflow-api accepted a keys file others may read"
                else
                        ok "imgflow-api refuses a keys file others may read"
                fi
        fi
        # ... and would refuse it with a typo (the check is real).
        printf '[worker]\nthread = 2\n' >>"$D$CONF"
        bin=$(one "*/bin/imgflow-worker")
        if IMGFLOW_LOG_TARGET=console timeout 20 "$D$bin" --config "$D$CONF" --check-config >/dev/null 2>&1; then
                fail "imgflow-worker --check-config accepted an unknown key"
        else
                ok "imgflow-worker --check-config refuses an unknown key"
        fi
fi

[ $FAILS = 0 ] && echo PASS || { echo "$FAILS failure(s)"; exit 1; }
