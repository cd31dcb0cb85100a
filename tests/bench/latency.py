#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Dispatch latency of tasks: from the coordinator's publish (Task.dispatchedAtMs)
to the worker's start (TaskSucceeded/TaskFailed.startedAtMs), read back from
the tasks and events topics with kcat.

    latency.py BOOTSTRAP EXECUTION_ID_PREFIX [--hops]  ->  one line of JSON
    {"tasks", "p50", "p90", "p99", "max", "mean", "p99FirstHalf", "p99SecondHalf"}
    (milliseconds; the halves split the tasks by dispatch time)

--hops: the broker stamps each message when it appends it (the topics'
message.timestamp.type LogAppendTime, which the orchestration benchmark sets
on Apache Kafka), and "hops" splits every task's round trip at those stamps,
p50 / p90 / p99 of each, in milliseconds, all on this host's clock:
  coordinatorToBroker  Task.dispatchedAtMs -> the Task's append (the Redis
                       commit, the produce with its linger.ms, the broker)
  brokerToWorker       the Task's append -> startedAtMs (the worker's fetch,
                       its loop and its pool)
  workerToBroker       startedAtMs -> the result's append (the task itself, the
                       produce)
  brokerToCoordinator  the result's append -> the next Task's dispatchedAtMs of
                       the same execution (the coordinator's fetch, Redis, the
                       engine); tasks without a next one are left out
"""
import json
import subprocess
import sys


def read(boot, topic):
    out = subprocess.run(["kcat", "-C", "-b", boot, "-t", topic, "-o", "beginning", "-e", "-q",
                          "-f", "%T %s\\n"], capture_output=True, text=True, timeout=300).stdout
    for line in out.splitlines():
        ts, _, js = line.partition(" ")
        try:
            yield int(ts), json.loads(js)
        except ValueError:
            pass


def pct(v, p):
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def summary(v):
    v = sorted(v)
    return {"p50": pct(v, 50), "p90": pct(v, 90), "p99": pct(v, 99)} if v else {}


def main():
    boot, prefix = sys.argv[1], sys.argv[2]
    hops = "--hops" in sys.argv[3:]
    sent = {}
    by_exec = {}
    for ts, m in read(boot, "imgflow.tasks"):
        if m.get("type") == "Task" and m["executionId"].startswith(prefix):
            k = (m["executionId"], m["taskId"], m["attempt"])
            sent[k] = (m["dispatchedAtMs"], ts)
            by_exec.setdefault(m["executionId"], []).append((m["dispatchedAtMs"], k))
    timed = []  # (dispatchedAtMs, latency)
    done = {}
    for ts, m in read(boot, "imgflow.events"):
        if m.get("type") in ("TaskSucceeded", "TaskFailed") and "startedAtMs" in m:
            k = (m["executionId"], m["taskId"], m["attempt"])
            if k in sent and k not in done:
                d = sent[k][0]
                done[k] = (m["startedAtMs"], ts)
                timed.append((d, m["startedAtMs"] - d))
    timed.sort()
    lat = sorted(x[1] for x in timed)
    halves = [sorted(x[1] for x in timed[:len(timed) // 2]), sorted(x[1] for x in timed[len(timed) // 2:])]
    if not lat:
        print(json.dumps({"tasks": 0}))
        return 1
    out = {"tasks": len(lat), "p50": pct(lat, 50), "p90": pct(lat, 90), "p99": pct(lat, 99),
           "max": lat[-1], "mean": round(sum(lat) / len(lat), 2),
           "p99FirstHalf": pct(halves[0], 99) if halves[0] else None,
           "p99SecondHalf": pct(halves[1], 99) if halves[1] else None}
    if hops:
        h = {"coordinatorToBroker": [], "brokerToWorker": [], "workerToBroker": [], "brokerToCoordinator": []}
        for lst in by_exec.values():
            lst.sort()
            for i, (d, k) in enumerate(lst):
                if k not in done:
                    continue
                append, (started, result) = sent[k][1], done[k]
                h["coordinatorToBroker"].append(append - d)
                h["brokerToWorker"].append(started - append)
                h["workerToBroker"].append(result - started)
                if i + 1 < len(lst):
                    h["brokerToCoordinator"].append(lst[i + 1][0] - result)
        out["hops"] = {n: summary(v) for n, v in h.items()}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
