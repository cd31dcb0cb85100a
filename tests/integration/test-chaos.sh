#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Fault tests of the whole system ("nothing lost"): redis-server with AOF, the
# mock Kafka cluster, coordinators and workers, killed and restarted at random
# while executions run. The driver is tests/integration/chaos/chaos.py; see
# its header and docs/fuzzing.md for the scenarios and the long run:
#
#   test-chaos.sh chaos|slow-consumer|backpressure MOCK_KAFKA COORDINATOR WORKER TOOL SRCDIR
#
#   CHAOS_EXECUTIONS=500 CHAOS_SECONDS=180 CHAOS_APPENDFSYNC=everysec \
#       tests/integration/test-chaos.sh chaos build/deploy/imgflow-mock-kafka ...
#
# Exit 77 (skipped) without python3, redis-server or kcat.
set -u
command -v python3 >/dev/null || { echo "python3 missing: skipped"; exit 77; }
[ $# -eq 6 ] || { echo "usage: $0 SCENARIO MOCK COORDINATOR WORKER TOOL SRCDIR" >&2; exit 2; }
exec python3 "$6/tests/integration/chaos/chaos.py" "$1" --mock "$2" --coordinator "$3" --worker "$4" \
        --tool "$5" --srcdir "$6"
