#!/bin/sh
# Runs a checkout of the JSONata test suite against imgflow's JSONata module
# and prints the pass counts per group and in total.
#   tests/conformance/jsonata-suite.sh DIR [-v] [-g GROUP]
# BUILD (default: build) is the meson build directory; it is built first.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 SUITE-DIR [-v] [-g GROUP]" >&2; exit 2; }
dir=$1
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$root/build}
[ -d "$build" ] || meson setup "$build" "$root" >/dev/null
ninja -C "$build" tests/conformance/jsonata-suite >/dev/null
exec "$build/tests/conformance/jsonata-suite" "$@" "$dir"
