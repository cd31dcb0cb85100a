#!/bin/sh
# Differential test: imgflow's JSONata against the reference implementation
# (the jsonata npm package, pinned), on COUNT random expressions (seeded).
#   tests/conformance/jsonata-differential.sh SUITE-BINARY WORKDIR [COUNT [SEED]]
# The package is installed into WORKDIR/node_modules with npm the first time.
# Exit 77 (skipped) without node and npm, or when the package cannot be
# installed; 0 when every answer agrees, 1 otherwise.
set -u
[ $# -ge 2 ] || { echo "usage: $0 SUITE-BINARY WORKDIR [COUNT [SEED]]" >&2; exit 2; }
binary=$1
work=$2
count=${3:-2000}
seed=${4:-1}
here=$(cd "$(dirname "$0")" && pwd)
version=2.2.2

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        echo "node or npm not installed: skipped"
        exit 77
fi
if [ ! -f "$work/node_modules/jsonata/package.json" ] ||
   ! grep -q "\"version\": \"$version\"" "$work/node_modules/jsonata/package.json"; then
        mkdir -p "$work"
        if ! npm install --silent --no-audit --no-fund --prefix "$work" "jsonata@$version" >/dev/null 2>&1; then
                echo "npm install jsonata@$version failed: skipped"
                exit 77
        fi
fi
exec python3 "$here/jsonata-differential.py" "$binary" "$work/node_modules" "$count" "$seed"
