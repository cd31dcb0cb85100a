#!/bin/bash
# SPDX-License-Identifier: MIT
#
# StartExecution through the Step Functions API against the Kafka path, in
# the same run: BENCH_ROUNDS rounds, each on a fresh local stack (1
# coordinator, 1 worker x 1 thread, imgflow-api with the stack's access key)
# with a one-state Pass machine registered; in each round a batch of
# BENCH_EXECUTIONS starts through each path, the order alternating from
# round to round (interleaved, so both see the same machine load):
#
#   api    the Node AWS SDK v3 (tests/clients/sfn-bench.mjs): StartExecution
#          requests signed with SigV4 on BENCH_CONNECTIONS keep-alive
#          connections, one request at a time on each (closed loop). A
#          request is answered once the coordinator recorded the start
#          (imgflow-api sends it the request on Kafka and gets the answer
#          through Redis). Requests/s = requests / (last answer - first
#          send); latency = send to parsed answer, per request, at the client.
#   kafka  the same number of StartExecution jobs published at once on
#          imgflow.jobs with kcat (as the other benchmarks do; no answer
#          comes back to the producer). Starts/s = jobs / (the last
#          execution's startDate - the publish); latency = an execution's
#          startDate - the publish, which, the jobs being published as one
#          burst, is mostly the time the job waited behind the others.
#
# Both batches are then waited for on imgflow.notifications (every execution
# must SUCCEED), so one batch never runs into the next. The result is each
# round's figures and the medians of the rounds.
#
#   tests/bench/bench-api.sh
#
# BENCH_EXECUTIONS (default 2000), BENCH_ROUNDS (default 5),
# BENCH_CONNECTIONS (default 16). Needs node and tests/clients/node_modules
# (deploy/setup-debian.sh). Exit status: non-zero only if a request or an
# execution failed or did not finish.
set -u
. "$(dirname "$0")/bench-lib.sh"

E=${BENCH_EXECUTIONS:-2000}
ROUNDS=${BENCH_ROUNDS:-5}
CONN=${BENCH_CONNECTIONS:-16}
MACHINE=$(machine_json)
FAILED=0
NODE_CLIENT=$BENCH_SRC/tests/clients/sfn-bench.mjs
command -v node >/dev/null && [ -d "$BENCH_SRC/tests/clients/node_modules/@aws-sdk/client-sfn" ] ||
        { echo "node and tests/clients/node_modules (deploy/setup-debian.sh) are needed"; exit 1; }
[ -x "$IMGFLOW_BUILD/api/imgflow-api" ] || { echo "$IMGFLOW_BUILD/api/imgflow-api missing: build first"; exit 1; }
if [ "$BENCH_KAFKA" = mock ]; then FETCH_WAIT=${BENCH_FETCH_WAIT_MS:-1}; else FETCH_WAIT=${BENCH_FETCH_WAIT_MS:-100}; fi
echo "== api: StartExecution through imgflow-api ($CONN keep-alive connections) against Kafka jobs," \
        "$E each, $ROUNDS rounds, Kafka ($BENCH_KAFKA), load average $(cut -d' ' -f1-3 /proc/loadavg)"
cat >"$BENCH_TMP/pass.asl.json" <<'EOF'
{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}
EOF

# batch ROUND PATH: one batch; appends a JSON line to $BENCH_TMP/batches.jsonl.
batch() {
        local r=$1 path=$2 ids=$BENCH_TMP/$2-$1.ids res=$BENCH_TMP/$2-$1.json t0 out=$BENCH_TMP/$2-$1.out
        : >"$ids"
        for i in $(seq 0 $((E - 1))); do echo "pass:$path$r-$i"; done >"$ids"
        t0=$(now_ms)
        if [ "$path" = api ]; then
                timeout 900 node "$NODE_CLIENT" "$API_ENDPOINT" "$API_REGION" "$API_ACCESS_KEY_ID" "$API_SECRET_ACCESS_KEY" \
                        "arn:aws:states:$API_REGION:$API_ACCOUNT:stateMachine:pass" "$path$r" "$E" "$CONN" >"$out" ||
                        { echo "api round $r: the client failed"; FAILED=1; echo '{}' >"$out"; }
        else
                : >"$BENCH_TMP/kafka-$r.ids"
                publish_jobs pass "$path$r" 0 "$E" '{"i": i}' "$BENCH_TMP/kafka-$r.ids"
                echo "{\"publishMs\": $t0}" >"$out"
        fi
        BENCH_QUIET=1 wait_execs "$ids" "$res" 600 || FAILED=1
        python3 - "$r" "$path" "$out" "$res" "$E" >>"$BENCH_TMP/batches.jsonl" <<'PY'
import json, sys
r, path, out, res, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
o = json.load(open(out))
execs = [json.loads(l) for l in open(res)]
ok = sum(1 for x in execs if x["status"] == "SUCCEEDED")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] if xs else 0


d = {"round": r, "path": path, "succeeded": ok}
if path == "api":
    lat = [u / 1000 for u in o.get("latenciesUs", [])]
    ms = max(1, o.get("endMs", 0) - o.get("startMs", 0))
    d.update({"requests": o.get("requests", 0), "failures": o.get("failures", n), "firstError": o.get("firstError"),
              "connections": o.get("sockets", 0), "ms": ms,
              "perSecond": round(len(lat) * 1000 / ms, 1)})
else:
    t0 = o["publishMs"]
    lat = [x["startDate"] - t0 for x in execs]
    ms = max(1, max(x["startDate"] for x in execs) - t0) if execs else 1
    d.update({"requests": n, "failures": 0, "ms": ms, "perSecond": round(len(execs) * 1000 / ms, 1)})
d.update({"p50Ms": round(pct(lat, 0.50), 2), "p99Ms": round(pct(lat, 0.99), 2), "maxMs": round(max(lat or [0]), 2)})
print(json.dumps(d))
PY
        tail -1 "$BENCH_TMP/batches.jsonl" | python3 -c '
import json, sys
d = json.load(sys.stdin)
extra = " on %d connections" % d["connections"] if d["path"] == "api" else ""
print("round %d %-5s: %d starts in %d ms = %.0f/s%s; latency p50 %.1f ms, p99 %.1f ms, max %.1f ms; %d SUCCEEDED, %d failed requests" % (
      d["round"], d["path"], d["requests"], d["ms"], d["perSecond"], extra, d["p50Ms"], d["p99Ms"], d["maxMs"],
      d["succeeded"], d["failures"]))'
        python3 -c 'import json, sys; d = json.loads(open(sys.argv[1]).readlines()[-1]); sys.exit(0 if d["failures"] == 0 and d["succeeded"] == int(sys.argv[2]) else 1)' \
                "$BENCH_TMP/batches.jsonl" "$E" || FAILED=1
}

: >"$BENCH_TMP/batches.jsonl"
for r in $(seq 1 "$ROUNDS"); do
        dir=$BENCH_TMP/stack-$r
        stack_start "$dir" STACK_WORKERS=1 STACK_WORKER_THREADS=1 STACK_API=1 STACK_RESOURCES= \
                STACK_FETCH_WAIT_MS="$FETCH_WAIT"
        stack_register "$dir" pass "$BENCH_TMP/pass.asl.json"
        # Warm-up: both paths, a few starts each.
        publish_jobs pass "warmk$r" 0 20 '{"i": i}' "$BENCH_TMP/warmk$r.ids"
        timeout 120 node "$NODE_CLIENT" "$API_ENDPOINT" "$API_REGION" "$API_ACCESS_KEY_ID" "$API_SECRET_ACCESS_KEY" \
                "arn:aws:states:$API_REGION:$API_ACCOUNT:stateMachine:pass" "warma$r" 20 "$CONN" >/dev/null ||
                { echo "warm-up through the API failed"; exit 1; }
        for i in $(seq 0 19); do echo "pass:warma$r-$i"; done >>"$BENCH_TMP/warmk$r.ids"
        BENCH_QUIET=1 wait_execs "$BENCH_TMP/warmk$r.ids" "$BENCH_TMP/warm$r.json" 120 ||
                { echo "warm-up did not finish"; exit 1; }
        if [ $((r % 2)) = 1 ]; then order="api kafka"; else order="kafka api"; fi
        for p in $order; do batch "$r" "$p"; done
        stack_stop "$dir"
done

RESULT=$(python3 - "$BENCH_TMP/batches.jsonl" <<'PY'
import json, statistics, sys
bs = [json.loads(l) for l in open(sys.argv[1])]
rounds = []
for r in sorted({b["round"] for b in bs}):
    a = next(b for b in bs if b["round"] == r and b["path"] == "api")
    k = next(b for b in bs if b["round"] == r and b["path"] == "kafka")
    rounds.append({"round": r, "api": a, "kafka": k,
                   "apiOverKafkaPerSecond": round(a["perSecond"] / max(0.1, k["perSecond"]), 2)})
med = lambda path, f: statistics.median(x[path][f] for x in rounds)
print(json.dumps({"rounds": rounds,
                  "medianApiPerSecond": med("api", "perSecond"), "medianApiP50Ms": med("api", "p50Ms"),
                  "medianApiP99Ms": med("api", "p99Ms"),
                  "medianKafkaPerSecond": med("kafka", "perSecond"), "medianKafkaP50Ms": med("kafka", "p50Ms"),
                  "medianKafkaP99Ms": med("kafka", "p99Ms"),
                  "medianApiOverKafkaPerSecond": statistics.median(x["apiOverKafkaPerSecond"] for x in rounds)}))
PY
)
write_result api "$(python3 - <<PY
import json
d = json.loads('$RESULT')
d.update({"benchmark": "api", "date": "$(date -u +%FT%TZ)", "machine": json.loads('$MACHINE'),
          "loadavgAtEnd": float(open("/proc/loadavg").read().split()[0]),
          "executionsPerBatch": $E, "connections": $CONN, "coordinators": 1, "workers": 1,
          "fetchWaitMs": $FETCH_WAIT, "partitions": ${BENCH_PARTITIONS:-4}, "brokers": ${BENCH_BROKERS:-1},
          "failed": $FAILED})
print(json.dumps(d))
PY
)" >/dev/null
python3 - "$BENCH_RESULTS/api.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for x in d["rounds"]:
    a, k = x["api"], x["kafka"]
    print("round %d: API %.0f requests/s (p50 %.1f ms, p99 %.1f ms); Kafka %.0f starts/s (p50 %.1f ms, p99 %.1f ms); API/Kafka x%.2f" % (
          x["round"], a["perSecond"], a["p50Ms"], a["p99Ms"], k["perSecond"], k["p50Ms"], k["p99Ms"],
          x["apiOverKafkaPerSecond"]))
print("median: API %.0f StartExecution requests/s, p99 %.1f ms (%d keep-alive connections); Kafka path %.0f starts/s, p99 %.1f ms; API/Kafka x%.2f" % (
      d["medianApiPerSecond"], d["medianApiP99Ms"], d["connections"], d["medianKafkaPerSecond"], d["medianKafkaP99Ms"],
      d["medianApiOverKafkaPerSecond"]))
print("load average: %.1f at the start, %.1f at the end" % (d["machine"]["loadavg"], d["loadavgAtEnd"]))
PY
exit $FAILED
