#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Build the libFuzzer targets and run each one for a while.
#
#   tests/fuzz/run-fuzzers.sh [target...]
#
# Environment:
#   FUZZ_SECONDS    seconds per target (default 20)
#   FUZZ_JOBS       targets run at once (default 1), each for FUZZ_SECONDS
#   FUZZ_BUILD_ONLY=1  build the targets, run none
#   FUZZ_BUILD_DIR  build directory (default build-fuzz, relative to the source root)
#   CC              compiler for a new build directory (default clang)
#
# Every executable tests/fuzz/fuzz-<name> in the build directory is a target
# (or only those named on the command line). Each runs on a copy of
# tests/fuzz/corpus/<name>/ (the checked-in corpus is never modified), with
# tests/fuzz/<name>.dict if it exists. Crash inputs are kept in
# <build>/fuzz-artifacts/<name>/. Exit status: 0 if no target found a
# problem, 1 if any did, 2 if the build failed.

set -u

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${FUZZ_SECONDS:-20}
builddir=${FUZZ_BUILD_DIR:-build-fuzz}
case "$builddir" in
/*) ;;
*) builddir="$srcdir/$builddir" ;;
esac

if [ ! -f "$builddir/build.ninja" ]; then
        CC=${CC:-clang} meson setup "$builddir" "$srcdir" -Dfuzzing=true || exit 2
else
        meson configure "$builddir" -Dfuzzing=true || exit 2
fi
# Build only the fuzz targets, so a broken unrelated target does not stop fuzzing.
fuzz_targets=$(ninja -C "$builddir" -t targets all 2>/dev/null |
        sed -n 's|^\(tests/fuzz/fuzz-[A-Za-z0-9_-]*\): .*|\1|p')
if [ -z "$fuzz_targets" ]; then
        echo "no fuzz targets configured in $builddir" >&2
        exit 2
fi
# shellcheck disable=SC2086
ninja -C "$builddir" $fuzz_targets || exit 2
[ -n "${FUZZ_BUILD_ONLY:-}" ] && exit 0
jobs=${FUZZ_JOBS:-1}

if [ $# -gt 0 ]; then
        targets=""
        for t in "$@"; do
                targets="$targets $builddir/tests/fuzz/fuzz-${t#fuzz-}"
        done
else
        targets=$(find "$builddir/tests/fuzz" -maxdepth 1 -type f -name 'fuzz-*' -perm -u+x | sort)
fi
if [ -z "$targets" ]; then
        echo "no fuzz targets found in $builddir/tests/fuzz" >&2
        exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/imgflow-fuzz.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_one EXE: one target for $seconds; "ok" or "failed" in $work/<name>.status.
run_one() {
        exe=$1
        name=$(basename "$exe")
        short=${name#fuzz-}
        if [ ! -x "$exe" ]; then
                echo "== $name: not built" >&2
                echo failed >"$work/$short.status"
                return
        fi
        corpus="$work/$short"
        mkdir -p "$corpus"
        if [ -d "$srcdir/tests/fuzz/corpus/$short" ]; then
                cp -R "$srcdir/tests/fuzz/corpus/$short/." "$corpus/"
        fi
        artifacts="$builddir/fuzz-artifacts/$short"
        mkdir -p "$artifacts"
        set -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
                -artifact_prefix="$artifacts/"
        if [ -f "$srcdir/tests/fuzz/$short.dict" ]; then
                set -- "$@" -dict="$srcdir/tests/fuzz/$short.dict"
        fi
        if "$exe" "$@" "$corpus" >"$work/$short.log" 2>&1; then
                echo ok >"$work/$short.status"
        else
                echo failed >"$work/$short.status"
        fi
}

# Up to $jobs targets at once, then the next ones; results in order.
batch=""
n=0
for exe in $targets; do
        echo "== $(basename "$exe"): ${seconds}s on a copy of tests/fuzz/corpus/$(basename "$exe" | sed 's/^fuzz-//')"
        run_one "$exe" &
        batch="$batch $!"
        n=$((n + 1))
        if [ "$n" -ge "$jobs" ]; then
                wait $batch
                batch=""
                n=0
        fi
done
wait $batch

failed=""
for exe in $targets; do
        name=$(basename "$exe")
        short=${name#fuzz-}
        if [ "$(cat "$work/$short.status" 2>/dev/null)" = ok ]; then
                grep -E '^(Done|stat::number_of_executed_units)' "$work/$short.log" || true
                echo "== $name: ok"
        else
                [ -f "$work/$short.log" ] && tail -n 60 "$work/$short.log" >&2
                echo "== $name: FAILED (inputs in $builddir/fuzz-artifacts/$short)" >&2
                failed="$failed $name"
        fi
done

if [ -n "$failed" ]; then
        echo "fuzzing found problems in:$failed" >&2
        exit 1
fi
echo "all fuzz targets ran ${seconds}s without a problem"
exit 0
