#!/bin/sh
# Build imgflow and run every test suite: once in a normal build, once with
# AddressSanitizer + UndefinedBehaviorSanitizer, plus a short fuzzing run.
# Ends with one line "N passed, N failed".
#
#   tests/run-all.sh            everything
#   SKIP_ASAN=1 SKIP_FUZZ=1 tests/run-all.sh
#   TEST_PROCESSES=4            tests run at once in each suite (default 4)
#
# Where the time goes: the tests mostly wait (for brokers, consumer groups,
# tasks that sleep on purpose, timeouts they provoke), so the two builds'
# suites run at the same time, each with TEST_PROCESSES tests at once; every
# stack test starts its own redis-server and Kafka on free loopback ports
# (deploy/local-stack.sh through tests/helpers/), so they share nothing.
# The builds come first, one after the other (each uses every core); the
# fuzzers are built while the suites run and run after them, for their full
# time each. Each suite's output is printed when it is done.
#
# Interrupted (SIGINT, SIGTERM), it stops what it started, by pid: each
# suite's meson test, which ends its running tests (SIGTERM to each test's
# process group; the servers of a test's stack are stopped by the stack's
# owner watch, deploy/local-stack.sh), the build and the fuzzers.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
JOBS=$(nproc 2>/dev/null || echo 2)
PROCS=${TEST_PROCESSES:-4}
: > "$ROOT/.test-results"
START=$(date +%s)

say() { echo "run-all: $* ($(($(date +%s) - START)) s)"; }

# tree PID: PID and all its descendants, children first.
tree() {
        local c
        for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do tree "$c"; done
        echo "$1"
}

# interrupted STATUS: SIGTERM to the build, to each suite's meson test (not
# to the suite's shell, which then writes the counts) and to the fuzzers'
# whole tree; waits for them, then exits.
building=""
pids=""
fuzz=""
interrupted() {
        trap '' INT TERM
        say "interrupted: stopping the build, the test suites and the fuzzers"
        targets=""
        [ -n "$building" ] && targets="$(tree "$building")"
        for p in $pids; do targets="$targets $(ps -o pid= --ppid "$p" 2>/dev/null)"; done
        [ -n "$fuzz" ] && targets="$targets $(tree "$fuzz")"
        # shellcheck disable=SC2086
        [ -n "$(echo $targets)" ] && kill -TERM $targets 2>/dev/null
        wait
        say "interrupted"
        exit "$1"
}
trap 'interrupted 130' INT
trap 'interrupted 143' TERM

build() { # build-dir label [meson setup args...]
        dir=$1; label=$2; shift 2
        if [ ! -d "$dir" ]; then
                meson setup "$dir" "$@" >/dev/null || { echo "setup $label failed"; echo "0 1" >> "$ROOT/.test-results"; return 1; }
        fi
        # In the background, so that a signal is handled at once (not after
        # the build, as it would be for a command in the foreground).
        ninja -C "$dir" -j "$JOBS" >"$dir.build.log" 2>&1 &
        building=$!
        wait "$building"
        st=$?
        building=""
        if [ "$st" != 0 ]; then
                tail -40 "$dir.build.log"
                echo "build $label failed"
                echo "0 1" >> "$ROOT/.test-results"
                return 1
        fi
        say "built $label"
}

# suite build-dir label: the tests of one build; output in <dir>.test.log,
# "passed failed" in <dir>.result.
suite() {
        dir=$1; label=$2
        meson test -C "$dir" --num-processes "$PROCS" --print-errorlogs --no-rebuild >"$dir.test.log" 2>&1
        python3 - "$dir/meson-logs/testlog.json" "$label" > "$dir.result" 2>"$dir.failures" <<'PY'
import json, sys
ok = bad = 0
for line in open(sys.argv[1]):
    t = json.loads(line)
    if t["result"] in ("OK", "EXPECTEDFAIL", "SKIP"):
        ok += t["result"] != "SKIP"
    else:
        bad += 1
        print(f"FAILED [{sys.argv[2]}] {t['name']}: {t['result']}", file=sys.stderr)
print(ok, bad)
PY
}

show() { # build-dir
        grep -vE '^(Ok|Expected Fail|Fail|Unexpected Pass|Skipped|Timeout):' "$1.test.log"
        cat "$1.failures" 2>/dev/null
        cat "$1.result" >> "$ROOT/.test-results"
}

dirs=""
build build-test "default" && dirs="build-test"
if [ -z "${SKIP_ASAN:-}" ]; then
        build build-test-asan "asan+ubsan" -Db_sanitize=address,undefined && dirs="$dirs build-test-asan"
fi

for d in $dirs; do
        rm -f "$d.result" "$d.failures"
        if [ "$d" = build-test-asan ]; then
                ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
                LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp:print_suppressions=0 \
                UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
                        suite "$d" "asan+ubsan" &
        else
                suite "$d" "default" &
        fi
        pids="$pids $!"
done
if [ -z "${SKIP_FUZZ:-}" ] && [ -x tests/fuzz/run-fuzzers.sh ]; then
        # Built now (at a lower priority than the tests), run afterwards.
        FUZZ_BUILD_ONLY=1 nice -n 10 tests/fuzz/run-fuzzers.sh >build-fuzz.build.log 2>&1 &
        fuzz=$!
fi
for p in $pids; do wait "$p"; done
pids=""
say "test suites done"
for d in $dirs; do
        echo "== $d"
        show "$d"
done

if [ -n "$fuzz" ]; then
        fuzz_ok=""
        if wait "$fuzz"; then
                FUZZ_SECONDS=${FUZZ_SECONDS:-15} FUZZ_JOBS=${FUZZ_JOBS:-$JOBS} tests/fuzz/run-fuzzers.sh &
                fuzz=$!
                wait "$fuzz" && fuzz_ok=1
        fi
        fuzz=""
        if [ -n "$fuzz_ok" ]; then
                echo "1 0" >> "$ROOT/.test-results"
        else
                tail -20 build-fuzz.build.log
                echo "fuzzing found a crash (or the fuzzers did not build)"
                echo "0 1" >> "$ROOT/.test-results"
        fi
        say "fuzzing done"
fi

# The failed tests again, last: the suites' logs above are long.
for d in $dirs; do cat "$d.failures" 2>/dev/null; done
awk '{p += $1; f += $2} END {printf "%d passed, %d failed\n", p, f; exit (f > 0)}' "$ROOT/.test-results"
