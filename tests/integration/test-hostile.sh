#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Hostile input across the daemons: every case must give a clear error (a
# dead letter, a refused definition, a named error in the execution, a refused
# callback) while every daemon stays up. The driver is
# tests/integration/chaos/hostile.py (its header lists the cases):
#
#   test-hostile.sh messages|definitions|images|tokens MOCK_KAFKA COORDINATOR WORKER TOOL SRCDIR
#
# Exit 77 (skipped) without python3, redis-server or kcat.
set -u
command -v python3 >/dev/null || { echo "python3 missing: skipped"; exit 77; }
[ $# -eq 6 ] || { echo "usage: $0 SCENARIO MOCK COORDINATOR WORKER TOOL SRCDIR" >&2; exit 2; }
exec python3 "$6/tests/integration/chaos/hostile.py" "$1" --mock "$2" --coordinator "$3" --worker "$4" \
        --tool "$5" --srcdir "$6"
