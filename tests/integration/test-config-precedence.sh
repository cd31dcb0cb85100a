#!/bin/bash
# SPDX-License-Identifier: MIT
# Where the configuration of each program comes from, one rule at a time,
# for imgflow-coordinator, imgflow-worker and the imgflow command
# (daemon/daemon-config.h):
#   1. --config beats $IMGFLOW_CONFIG;
#   2. $IMGFLOW_CONFIG beats the default file; with neither (or an empty
#      $IMGFLOW_CONFIG) the default file is read if it exists, else none;
#   3. the IMGFLOW_* environment beats the file;
#   4. the flags beat the environment;
#   5. SIGHUP (daemons) reads the file chosen at start again, and a
#      --log-level flag keeps winning over it.
# The daemons are checked with --check-config (a file that is read makes a
# valid or an invalid configuration, and the file named is printed); the
# CLI by the Redis address it connects to (a redis-server started here on
# a free loopback port, and a port where nothing listens).
#
#   test-config-precedence.sh COORDINATOR WORKER IMGFLOW
set -u
COORD=$1 WORKER=$2 IMGFLOW=$3
T=$(mktemp -d /tmp/imgflow-precedence.XXXXXX)
PIDS=()
cleanup() {
        local p
        for p in "${PIDS[@]}"; do
                # Only a process still in this test's session: the pid of one
                # that exited may belong to any process by now.
                [ "$(ps -o sid= -p "$p" 2>/dev/null)" = "$(ps -o sid= -p $$)" ] || continue
                kill "$p" 2>/dev/null && { timeout 10 tail --pid="$p" -f /dev/null || kill -9 "$p" 2>/dev/null; }
        done
        rm -rf "$T"
}
trap cleanup EXIT
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok   $*"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# run PROGRAM-ARGS... : with only PATH and the IMGFLOW_* given as VAR=value
# before the program; stdout/stderr in $T/out, $T/err; exit code in RC.
run() {
        local -a envs=()
        while [[ "$1" == *=* ]]; do
                envs+=("$1")
                shift
        done
        env -i PATH="$PATH" IMGFLOW_LOG_TARGET=console "${envs[@]}" timeout 20 "$@" >"$T/out" 2>"$T/err" </dev/null
        RC=$?
}

DEFAULT=$("$COORD" --help | grep -o '/[^ )]*/imgflow/imgflow\.conf' | head -1)
[ -n "$DEFAULT" ] || { echo "FAIL: cannot find the default path in $COORD"; exit 1; }

# ---- the daemons: a good file and a bad one (librdkafka refuses acks=bogus)
printf '[kafka]\nacks = all\n' >"$T/good.conf"
printf '[kafka]\nacks = bogus\n' >"$T/bad.conf"
GOOD=$T/good.conf BAD=$T/bad.conf

# valid NAME: exit 0 and "<file>: configuration is valid." naming $2
valid() {
        if [ "$RC" != 0 ]; then
                fail "$1: exit $RC"; sed 's/^/    /' "$T/err"
        elif ! grep -qF "$2: configuration is valid." "$T/out"; then
                fail "$1: expected '$2: configuration is valid.', got: $(cat "$T/out")"
        else
                ok "$1"
        fi
}
refused() {
        if [ "$RC" = 0 ] || [ "$RC" = 124 ]; then
                fail "$1: exit $RC, expected a refusal"
        elif ! grep -q -- "$2" "$T/err"; then
                fail "$1: stderr lacks '$2'"; sed 's/^/    /' "$T/err"
        else
                ok "$1"
        fi
}

for d in "$COORD" "$WORKER"; do
        p=$(basename "$d")
        # 1. --config beats $IMGFLOW_CONFIG
        run IMGFLOW_CONFIG="$BAD" "$d" --check-config --config "$GOOD"
        valid "$p: --config beats \$IMGFLOW_CONFIG" "$GOOD"
        run IMGFLOW_CONFIG="$GOOD" "$d" --check-config --config "$BAD"
        refused "$p: --config beats \$IMGFLOW_CONFIG (bad --config refused)" 'acks'
        # 2. $IMGFLOW_CONFIG beats the default; neither: the default if it exists
        run IMGFLOW_CONFIG="$GOOD" "$d" --check-config
        valid "$p: \$IMGFLOW_CONFIG read without --config" "$GOOD"
        run IMGFLOW_CONFIG="$BAD" "$d" --check-config
        refused "$p: \$IMGFLOW_CONFIG read without --config (bad file refused)" 'acks'
        for e in "" "IMGFLOW_CONFIG="; do
                run $e "$d" --check-config
                if [ -e "$DEFAULT" ]; then
                        valid "$p: neither ${e:-set}: the default file $DEFAULT" "$DEFAULT"
                else
                        valid "$p: neither ${e:-set}: no file (the default $DEFAULT does not exist)" "(no file)"
                fi
        done
        # 3. the environment beats the file
        run IMGFLOW_KAFKA_ACKS=all "$d" --check-config --config "$BAD"
        valid "$p: IMGFLOW_KAFKA_ACKS beats the file" "$BAD"
        run IMGFLOW_KAFKA_ACKS=bogus "$d" --check-config --config "$GOOD"
        refused "$p: IMGFLOW_KAFKA_ACKS beats the file (bad value refused)" 'acks'
done

# 4. the flags beat the environment: a value only --check-config refuses,
# set one way by a variable and the other way by a flag.
run IMGFLOW_REDIS_ADDRESS=127.0.0.1:99999 "$COORD" --check-config --config "$GOOD" --redis 127.0.0.1:6379
valid "imgflow-coordinator: --redis beats IMGFLOW_REDIS_ADDRESS" "$GOOD"
run IMGFLOW_REDIS_ADDRESS=127.0.0.1:6379 "$COORD" --check-config --config "$GOOD" --redis 127.0.0.1:99999
refused "imgflow-coordinator: --redis beats IMGFLOW_REDIS_ADDRESS (bad flag refused)" 'Invalid redis.address "127.0.0.1:99999"'
run IMGFLOW_WORKER_THREADS=100000 "$WORKER" --check-config --config "$GOOD" --threads 1
valid "imgflow-worker: --threads beats IMGFLOW_WORKER_THREADS" "$GOOD"
run IMGFLOW_WORKER_THREADS=1 "$WORKER" --check-config --config "$GOOD" --threads 100000
refused "imgflow-worker: --threads beats IMGFLOW_WORKER_THREADS (over the limit refused)" 'worker.threads = 100000'

# ---- the CLI: which Redis it connects to
RPORT=$(free_port) DEAD=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$T" \
        >"$T/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
printf '[redis]\naddress = 127.0.0.1:%s\n' "$RPORT" >"$T/live.conf"
printf '[redis]\naddress = 127.0.0.1:%s\n' "$DEAD" >"$T/dead.conf"
LIVE=$T/live.conf DEADC=$T/dead.conf

# connects NAME / misses NAME: list-state-machines against the live Redis,
# or an error naming the dead port.
connects() {
        if [ "$RC" = 0 ] && grep -q stateMachines "$T/out"; then ok "$1"; else
                fail "$1: exit $RC"; sed 's/^/    /' "$T/err"; fi
}
misses() {
        if [ "$RC" != 0 ] && grep -q "127.0.0.1:$DEAD" "$T/err"; then ok "$1"; else
                fail "$1: exit $RC, expected an error naming 127.0.0.1:$DEAD"; sed 's/^/    /' "$T/err"; fi
}
run IMGFLOW_CONFIG="$DEADC" "$IMGFLOW" list-state-machines --config "$LIVE"
connects "imgflow: --config beats \$IMGFLOW_CONFIG"
run IMGFLOW_CONFIG="$LIVE" "$IMGFLOW" list-state-machines --config "$DEADC"
misses "imgflow: --config beats \$IMGFLOW_CONFIG (the other way round)"
run IMGFLOW_CONFIG="$LIVE" "$IMGFLOW" list-state-machines
connects "imgflow: \$IMGFLOW_CONFIG read without --config"
run IMGFLOW_CONFIG="$DEADC" "$IMGFLOW" list-state-machines
misses "imgflow: \$IMGFLOW_CONFIG read without --config (dead address)"
for e in "" "IMGFLOW_CONFIG="; do
        run $e IMGFLOW_REDIS_TIMEOUT=2s "$IMGFLOW" list-state-machines
        if grep -q "127.0.0.1:$RPORT\|127.0.0.1:$DEAD" "$T/err"; then
                fail "imgflow: neither ${e:-set}: read one of the test's files"
        elif [ -e "$DEFAULT" ] || [ "$RC" = 0 ] || grep -q "127.0.0.1:6379" "$T/err"; then
                ok "imgflow: neither ${e:-set}: the default file if it exists, else the default address"
        else
                fail "imgflow: neither ${e:-set}: exit $RC"; sed 's/^/    /' "$T/err"
        fi
done
run IMGFLOW_REDIS_ADDRESS=127.0.0.1:$RPORT "$IMGFLOW" list-state-machines --config "$DEADC"
connects "imgflow: IMGFLOW_REDIS_ADDRESS beats the file"
run IMGFLOW_REDIS_ADDRESS=127.0.0.1:$DEAD "$IMGFLOW" list-state-machines --config "$LIVE"
misses "imgflow: IMGFLOW_REDIS_ADDRESS beats the file (the other way round)"
run IMGFLOW_REDIS_ADDRESS=127.0.0.1:$DEAD "$IMGFLOW" list-state-machines --redis 127.0.0.1:$RPORT
connects "imgflow: --redis beats IMGFLOW_REDIS_ADDRESS"
run IMGFLOW_REDIS_ADDRESS=127.0.0.1:$RPORT "$IMGFLOW" list-state-machines --redis 127.0.0.1:$DEAD
misses "imgflow: --redis beats IMGFLOW_REDIS_ADDRESS (the other way round)"

# ---- 5. reload: each daemon runs (Kafka and Redis at addresses where
# nothing listens: it waits for them), its file changes, SIGHUP.
KDEAD=$(free_port)
# reload DAEMON FLAGS... : prints the "Reloaded" line after the file went
# from log_level = info to debug.
reload() {
        local d=$1 pid line
        shift
        printf '[imgflow]\nlog_level = info\n[kafka]\nbootstrap.servers = 127.0.0.1:%s\n[redis]\naddress = 127.0.0.1:%s\n[coordinator]\nshutdown_timeout = 1s\n[worker]\nthreads = 1\nshutdown_timeout = 1s\n' \
                "$KDEAD" "$DEAD" >"$T/run.conf"
        env -i PATH="$PATH" IMGFLOW_LOG_TARGET=console "$d" --config "$T/run.conf" "$@" >"$T/run.log" 2>&1 </dev/null &
        pid=$!
        PIDS+=("$pid")
        # SIGHUP is handled once the daemon blocked it (for its signalfd).
        for _ in $(seq 100); do
                (( 0x$(awk '/^SigBlk:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0) & 1 )) && break
                sleep 0.1
        done
        sed -i 's/^log_level = info/log_level = debug/' "$T/run.conf"
        kill -HUP "$pid"
        for _ in $(seq 100); do grep -q "Reloaded" "$T/run.log" && break; sleep 0.1; done
        line=$(grep -m1 "Reloaded" "$T/run.log")
        kill "$pid" 2>/dev/null
        timeout 10 tail --pid="$pid" -f /dev/null || kill -9 "$pid" 2>/dev/null
        echo "$line"
}
for d in "$COORD" "$WORKER"; do
        p=$(basename "$d")
        line=$(reload "$d")
        case "$line" in *"Reloaded: log level debug"*) ok "$p: SIGHUP reads the file again: $line" ;;
        *) fail "$p: SIGHUP without --log-level: '$line'"; sed 's/^/    /' "$T/run.log" | tail -20 ;; esac
        line=$(reload "$d" --log-level=notice)
        case "$line" in *"Reloaded: log level notice"*) ok "$p: --log-level wins over the file on reload: $line" ;;
        *) fail "$p: SIGHUP with --log-level=notice: '$line'"; sed 's/^/    /' "$T/run.log" | tail -20 ;; esac
done

[ "$FAILS" = 0 ] || { echo "$FAILS failure(s)"; exit 1; }
echo "all configuration sources in their order"
