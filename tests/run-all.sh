#!/bin/sh
# Build imgflow and run every test suite: once in a normal build, once with
# AddressSanitizer + UndefinedBehaviorSanitizer, plus a short fuzzing run.
# Ends with one line "N passed, N failed".
#
#   tests/run-all.sh            everything
#   SKIP_ASAN=1 SKIP_FUZZ=1 tests/run-all.sh
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=$(nproc 2>/dev/null || echo 2)
STATUS=0
: > "$ROOT/.test-results"

run_suite() { # build-dir label [meson setup args...]
        dir=$1; label=$2; shift 2
        if [ ! -d "$dir" ]; then
                meson setup "$dir" "$@" >/dev/null || { echo "setup $label failed"; echo "0 1" >> "$ROOT/.test-results"; return 1; }
        fi
        if ! ninja -C "$dir" -j "$JOBS" >"$dir.build.log" 2>&1; then
                tail -40 "$dir.build.log"
                echo "build $label failed"
                echo "0 1" >> "$ROOT/.test-results"
                return 1
        fi
        meson test -C "$dir" --num-processes 2 --print-errorlogs --no-rebuild 2>&1 | grep -vE '^(Ok|Expected Fail|Fail|Unexpected Pass|Skipped|Timeout):' || true
        python3 - "$dir/meson-logs/testlog.json" "$label" >> "$ROOT/.test-results" <<'PY'
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

run_suite build-test "default" || STATUS=1
if [ -z "${SKIP_ASAN:-}" ]; then
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
        LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp:print_suppressions=0 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
                run_suite build-test-asan "asan+ubsan" -Db_sanitize=address,undefined || STATUS=1
fi
if [ -z "${SKIP_FUZZ:-}" ] && [ -x tests/fuzz/run-fuzzers.sh ]; then
        if FUZZ_SECONDS=${FUZZ_SECONDS:-15} tests/fuzz/run-fuzzers.sh; then
                echo "1 0" >> "$ROOT/.test-results"
        else
                echo "fuzzing found a crash"
                echo "0 1" >> "$ROOT/.test-results"
        fi
fi

awk '{p += $1; f += $2} END {printf "%d passed, %d failed\n", p, f; exit (f > 0)}' "$ROOT/.test-results"
