#!/bin/bash
# SPDX-License-Identifier: MIT
#
# CPU of an idle stack (1 coordinator, 2 workers, 1 broker, nothing to do):
# per process and per thread (tests/bench/cpu-sample.py), over
# BENCH_IDLE_SECONDS once the stack is up and quiet. Two settings of the
# local stack, each on a fresh stack, alternating, BENCH_ROUNDS rounds:
#   before: topic.metadata.refresh.interval.ms = 200 (the local stack's
#           setting for every stack until it kept that for 3 or more brokers)
#   now:    the local stack's defaults (10 s with one broker)
# Reported: the imgflow daemons' % of a core (coordinator + workers), the
# broker's and Redis's, the wakeups per second of the threads, medians and
# every round, with the load average.
#
#   tests/bench/bench-idle.sh
#
# BENCH_ROUNDS (default 2), BENCH_IDLE_SECONDS (default 20).
# Exit status: non-zero only if a stack did not start.
set -u
. "$(dirname "$0")/bench-lib.sh"

ROUNDS=${BENCH_ROUNDS:-2}
SECS=${BENCH_IDLE_SECONDS:-20}
MACHINE=$(machine_json)
CPU=$BENCH_SRC/tests/bench/cpu-sample.py
echo "== idle stack: 1 coordinator, 2 workers, $SECS s per sample, $ROUNDS rounds of before / now"

# idle_round LABEL R [VAR=value...]: one fresh stack, settle, sample; one
# JSON line appended to $BENCH_TMP/idle.jsonl.
idle_round() {
        local label=$1 r=$2 dir=$BENCH_TMP/stack-$1-$2 named f l0 l1
        shift 2
        stack_start "$dir" STACK_WORKERS=2 STACK_WORKER_THREADS=1 STACK_RESOURCES= "$@"
        named=
        for f in "$dir"/pids/*.pid; do
                case "$(basename "$f")" in notify.pid) continue ;; esac
                named="$named $(basename "$f" .pid)=$(cut -d' ' -f1 "$f")"
        done
        sleep 10 # consumer groups settled, the broker's JIT quiet
        l0=$(cut -d' ' -f1 /proc/loadavg)
        # shellcheck disable=SC2086
        python3 "$CPU" snap $named >"$BENCH_TMP/a.json"
        sleep "$SECS"
        # shellcheck disable=SC2086
        python3 "$CPU" snap $named >"$BENCH_TMP/b.json"
        l1=$(cut -d' ' -f1 /proc/loadavg)
        stack_stop "$dir"
        python3 "$CPU" diff "$BENCH_TMP/a.json" "$BENCH_TMP/b.json" | python3 -c '
import json, sys
d = json.load(sys.stdin)
label, r, l0, l1 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
procs = {}
for n, p in d["procs"].items():
    procs[n] = {"percentOfCore": p["percentOfCore"], "switchesPerSecond": p["switchesPerSecond"],
                "threads": {t: {"percentOfCore": e["percentOfCore"], "wakeupsPerSecond": e["slicesPerSecond"]}
                            for t, e in p["threads"].items() if e["cpu"] > 0}}
daemons = sum(p["percentOfCore"] for n, p in procs.items() if n.startswith(("coordinator", "worker")))
broker = sum(p["percentOfCore"] for n, p in procs.items() if n.startswith("kafka"))
redis = sum(p["percentOfCore"] for n, p in procs.items() if n.startswith("redis"))
line = {"label": label, "round": r, "seconds": d["seconds"], "load": [l0, l1], "daemonsPercent": round(daemons, 3),
        "brokerPercent": round(broker, 3), "redisPercent": round(redis, 3), "procs": procs}
print(json.dumps(line))
print("round %d, %-6s: imgflow daemons %.2f%% of a core, broker %.2f%%, redis %.2f%% (load %.1f -> %.1f)" % (
    r, label, daemons, broker, redis, l0, l1), file=sys.stderr)
' "$label" "$r" "$l0" "$l1" >>"$BENCH_TMP/idle.jsonl"
}

for r in $(seq "$ROUNDS"); do
        if [ $((r % 2)) = 1 ]; then
                idle_round before "$r" STACK_METADATA_REFRESH_MS=200
                idle_round now "$r"
        else
                idle_round now "$r"
                idle_round before "$r" STACK_METADATA_REFRESH_MS=200
        fi
done

write_result idle "$(python3 - "$BENCH_TMP/idle.jsonl" <<PY
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = lambda k, lab: round(statistics.median([x[k] for x in rows if x["label"] == lab]), 3)
out = {"benchmark": "idle", "date": "$(date -u +%FT%TZ)", "machine": json.loads('$MACHINE'),
       "secondsPerSample": $SECS, "rounds": rows}
for lab in ("before", "now"):
    out[lab] = {k: med(k, lab) for k in ("daemonsPercent", "brokerPercent", "redisPercent")}
print(json.dumps(out))
PY
)" | python3 -c 'import json,sys; d=json.load(sys.stdin); b, n = d["before"], d["now"]; print("median %% of a core, before -> now: imgflow daemons %.2f -> %.2f, broker %.2f -> %.2f, redis %.2f -> %.2f" % (b["daemonsPercent"], n["daemonsPercent"], b["brokerPercent"], n["brokerPercent"], b["redisPercent"], n["redisPercent"]))'
