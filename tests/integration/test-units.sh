#!/bin/sh
# The unit files pass `systemd-analyze verify` and their offline exposure
# (`systemd-analyze security --offline=true`) is at most 2.0.
#   test-units.sh SOURCE_ROOT BUILD_ROOT
set -eu
SRC=$1; BUILD=$2
command -v systemd-analyze >/dev/null || { echo "systemd-analyze missing"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin" "$T/etc/imgflow"
for b in imgflow-coordinator imgflow-worker imgflow-lambda imgflow-api imgflow-watch; do
        if [ -x "$BUILD/coordinator/$b" ]; then ln -s "$BUILD/coordinator/$b" "$T/bin/$b"
        elif [ -x "$BUILD/worker/$b" ]; then ln -s "$BUILD/worker/$b" "$T/bin/$b"
        elif [ -x "$BUILD/api/$b" ]; then ln -s "$BUILD/api/$b" "$T/bin/$b"
        elif [ -x "$BUILD/watch/$b" ]; then ln -s "$BUILD/watch/$b" "$T/bin/$b"
        else cp /bin/true "$T/bin/$b"; fi
done
for f in "$SRC"/systemd/*.service.in; do
        sed -e "s|@bindir@|$T/bin|g; s|@sysconfdir@|$T/etc|g; s|@docdir@|/usr/share/doc/imgflow|g" \
                "$f" > "$T/$(basename "$f" .in)"
done
cp "$SRC/systemd/imgflow.target" "$T/"
fail=0
out=$(cd "$T" && systemd-analyze verify --man=no imgflow-coordinator.service imgflow-worker@.service imgflow-lambda@.service imgflow-api.service imgflow-watch.service imgflow.target 2>&1 | grep -v -e 'not found' -e 'Unit is bound to inactive unit' || true)
# "not found" lines concern units of the host (redis-server.service, network-online.target).
if [ -n "$out" ]; then echo "verify: $out"; fail=1; fi
for u in imgflow-coordinator.service imgflow-worker@.service imgflow-lambda@.service imgflow-api.service imgflow-watch.service; do
        line=$(systemd-analyze security --offline=true "$T/$u" 2>&1 | grep 'Overall exposure level')
        echo "$line"
        level=$(echo "$line" | sed -n 's/.*: \([0-9.]*\) .*/\1/p')
        if [ -z "$level" ] || ! awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }'; then
                echo "FAIL: $u exposure ${level:-unknown} > 2.0"; fail=1
        fi
done
exit $fail
