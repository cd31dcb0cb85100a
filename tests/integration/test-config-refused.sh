#!/bin/bash
# SPDX-License-Identifier: MIT
# A configuration with an unknown section or key, or a bad value, is refused
# by both daemons, at start and with --check-config, with an exit code != 0
# and a message naming the key as section.key (and the file's line); the
# same for a bad IMGFLOW_* environment override and a Kafka property that
# librdkafka rejects. A valid file passes --check-config.
#
#   test-config-refused.sh COORDINATOR WORKER
set -u
COORD=$1 WORKER=$2
T=$(mktemp -d /tmp/imgflow-conf.XXXXXX)
trap 'rm -rf "$T"' EXIT
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }

# refused NAME DAEMON PATTERN [--check-config] [ENV=...] -- FILE-TEXT
# Runs the daemon (bounded: it must exit on its own, before connecting
# anywhere) and expects exit != 0 and PATTERN on stderr.
refused() {
        local name=$1 daemon=$2 pattern=$3 rc prog
        local -a flags=() envs=()
        shift 3
        while [ "$1" != "--" ]; do
                case "$1" in
                *=*) envs+=("$1") ;;
                *) flags+=("$1") ;;
                esac
                shift
        done
        shift
        printf '%s\n' "$1" >"$T/imgflow.conf"
        env IMGFLOW_LOG_TARGET=console "${envs[@]}" timeout 10 "$daemon" --config "$T/imgflow.conf" "${flags[@]}" \
                >"$T/out" 2>"$T/err" </dev/null
        rc=$?
        prog=$(basename "$daemon")
        if [ $rc = 0 ] || [ $rc = 124 ]; then
                fail "$prog $name: exit code $rc, expected a refusal"
        elif ! grep -q -- "$pattern" "$T/err"; then
                fail "$prog $name: stderr lacks '$pattern'"; sed 's/^/    /' "$T/err"
        else
                echo "ok   $prog $name: $(grep -- "$pattern" "$T/err" | head -1)"
        fi
}

for d in "$COORD" "$WORKER"; do
        for check in --check-config ""; do
                what=${check:-start}
                refused "unknown key ($what)" "$d" 'imgflow.conf:3: unknown key worker.thread' $check -- \
                        $'[worker]\n# threads, misspelled\nthread = 4'
                refused "unknown key in [redis] ($what)" "$d" 'unknown key redis.adress' $check -- \
                        $'[redis]\nadress = 127.0.0.1:6379'
                refused "unknown section ($what)" "$d" 'unknown section \[workers\]' $check -- \
                        $'[workers]\nthreads = 4'
                refused "bad duration ($what)" "$d" 'imgflow.conf:2: bad value for redis.timeout: "5 parsecs"' $check -- \
                        $'[redis]\ntimeout = 5 parsecs'
                refused "bad int ($what)" "$d" 'bad value for worker.threads: "lots"' $check -- \
                        $'[worker]\nthreads = lots'
                refused "bad size ($what)" "$d" 'bad value for imgflow.payload_limit' $check -- \
                        $'[imgflow]\npayload_limit = 12 parsecs'
                refused "bad bool ($what)" "$d" 'bad value for redis.tls' $check -- \
                        $'[redis]\ntls = maybe'
                refused "bad environment override ($what)" "$d" 'coordinator.max_in_flight' $check \
                        IMGFLOW_COORDINATOR_MAX_IN_FLIGHT=many -- $'[imgflow]'
        done
        refused "librdkafka rejects a property" "$d" 'kafka.producer.no.such.property' --check-config -- \
                $'[kafka.producer]\nno.such.property = 1'
        printf '[imgflow]\nlog_level = debug\n[worker]\nthreads = 2\n[redis]\ntimeout = 2s\n' >"$T/good.conf"
        if IMGFLOW_LOG_TARGET=console timeout 10 "$d" --config "$T/good.conf" --check-config >"$T/out" 2>"$T/err"; then
                echo "ok   $(basename "$d") accepts a valid file with --check-config"
        else
                fail "$(basename "$d") refused a valid file: $(cat "$T/err")"
        fi
done
# What only a check of the values finds (or a start, later) names the file
# and line too, and says what is wrong in words.
refused "bad [resources] target" "$COORD" \
        'imgflow.conf:3: Invalid \[resources\] Bar = pool:: "pool:" names no pool: expected pool:<pool>' \
        --check-config -- $'[resources]\nResize = image.resize\nBar = pool:'
refused "[resources] target with a bad pool name" "$COORD" \
        'imgflow.conf:2: Invalid \[resources\] Bar = pool:a/b: the pool name "a/b" is not a pool name' \
        --check-config -- $'[resources]\nBar = pool:a/b'
refused "[resources] operation that does not exist" "$COORD" \
        'imgflow.conf:2: Invalid \[resources\] Resize = image.resise: imgflow-worker has no operation "image.resise" (it runs image.validate,' \
        --check-config -- $'[resources]\nResize = image.resise'
refused "redis.tls = true" "$COORD" 'imgflow.conf:2: redis.tls = true is not supported' --check-config -- \
        $'[redis]\ntls = true'
refused "threads over the limit" "$WORKER" 'imgflow.conf:2: worker.threads = 100000 is over the limit' --check-config -- \
        $'[worker]\nthreads = 100000'
refused "a bucket directory that does not exist" "$WORKER" \
        "imgflow.conf:3: bucket photos = $T/no-such-dir: the directory does not exist" --check-config -- \
        $'[buckets]\n# photos\nphotos = '"$T/no-such-dir"
refused "metrics_listen without a port" "$COORD" \
        'imgflow.conf:2: Invalid coordinator.metrics_listen "127.0.0.1": expected host:port' --check-config -- \
        $'[coordinator]\nmetrics_listen = 127.0.0.1'
refused "metrics_listen with a bad port" "$WORKER" \
        'imgflow.conf:2: Invalid worker.metrics_listen "127.0.0.1:99999": the port "99999" is not a number from 0 to 65535' \
        --check-config -- $'[worker]\nmetrics_listen = 127.0.0.1:99999'
refused "--threads over the limit" "$WORKER" '^.*--threads: worker.threads = 100000 is over the limit' \
        --check-config --threads 100000 -- $'[worker]'

# The same key twice in one file with different values: a warning naming
# both lines (the later one wins); the same value twice says nothing.
for d in "$COORD" "$WORKER"; do
        prog=$(basename "$d")
        printf '[worker]\nthreads = 2\n[redis]\ntimeout = 2s\n[worker]\nthreads = 4\n[resources]\nA = image.resize\nA = image.resize\n' \
                >"$T/twice.conf"
        if IMGFLOW_LOG_TARGET=console timeout 10 "$d" --config "$T/twice.conf" --check-config >"$T/out" 2>"$T/err"; then
                if grep -q 'twice.conf:6: worker.threads = "4" repeats the key of line 2 (worker.threads = "2"); line 6 wins' "$T/err"; then
                        echo "ok   $prog warns about a key set twice: $(grep repeats "$T/err")"
                else
                        fail "$prog: no warning about worker.threads set twice"; sed 's/^/    /' "$T/err"
                fi
                if grep -q 'resources.A' "$T/err"; then
                        fail "$prog warned about a key set twice to the same value"
                fi
                # once: the file readable by every user is read again for
                # its secrets, which must not warn a second time
                chmod 0644 "$T/twice.conf"
                IMGFLOW_LOG_TARGET=console timeout 10 "$d" --config "$T/twice.conf" --check-config >"$T/out" 2>"$T/err"
                if [ "$(grep -c repeats "$T/err")" = 1 ]; then
                        echo "ok   $prog warns about it once"
                else
                        fail "$prog: the warning about a key set twice is not given once"; sed 's/^/    /' "$T/err"
                fi
        else
                fail "$prog refused a file with a key set twice: $(cat "$T/err")"
        fi
done
for check in --check-config ""; do
        refused "notify_topics with one of imgflow's own topics (${check:-start})" "$WORKER" \
                'Invalid worker.notify_topics: "imgflow.jobs" is one of imgflow'"'"'s own topics' $check -- \
                $'[worker]\nnotify_topics = team.alerts imgflow.jobs'
        refused "notify_topics with a bad name (${check:-start})" "$WORKER" \
                'Invalid worker.notify_topics: "a/b" is not a Kafka topic name' $check -- \
                $'[worker]\nnotify_topics = a/b'
done

[ $FAILS = 0 ] && echo PASS || { echo "$FAILS failure(s)"; exit 1; }
