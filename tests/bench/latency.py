#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Dispatch latency of tasks: from the coordinator's publish (Task.dispatchedAtMs)
to the worker's start (TaskSucceeded/TaskFailed.startedAtMs), read back from
the tasks and events topics with kcat.

    latency.py BOOTSTRAP EXECUTION_ID_PREFIX  ->  one line of JSON
    {"tasks", "p50", "p90", "p99", "max", "mean", "p99FirstHalf", "p99SecondHalf"}
    (milliseconds; the halves split the tasks by dispatch time)
"""
import json
import subprocess
import sys


def read(boot, topic):
    out = subprocess.run(["kcat", "-C", "-b", boot, "-t", topic, "-o", "beginning", "-e", "-q",
                          "-f", "%s\\n"], capture_output=True, text=True, timeout=300).stdout
    for line in out.splitlines():
        try:
            yield json.loads(line)
        except ValueError:
            pass


def pct(v, p):
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def main():
    boot, prefix = sys.argv[1], sys.argv[2]
    sent = {}
    for m in read(boot, "imgflow.tasks"):
        if m.get("type") == "Task" and m["executionId"].startswith(prefix):
            sent[(m["executionId"], m["taskId"], m["attempt"])] = m["dispatchedAtMs"]
    timed = []  # (dispatchedAtMs, latency)
    for m in read(boot, "imgflow.events"):
        if m.get("type") in ("TaskSucceeded", "TaskFailed") and "startedAtMs" in m:
            k = (m["executionId"], m["taskId"], m["attempt"])
            if k in sent:
                d = sent.pop(k)
                timed.append((d, m["startedAtMs"] - d))
    timed.sort()
    lat = sorted(x[1] for x in timed)
    halves = [sorted(x[1] for x in timed[:len(timed) // 2]), sorted(x[1] for x in timed[len(timed) // 2:])]
    if not lat:
        print(json.dumps({"tasks": 0}))
        return 1
    print(json.dumps({"tasks": len(lat), "p50": pct(lat, 50), "p90": pct(lat, 90), "p99": pct(lat, 99),
                      "max": lat[-1], "mean": round(sum(lat) / len(lat), 2),
                      "p99FirstHalf": pct(halves[0], 99) if halves[0] else None,
                      "p99SecondHalf": pct(halves[1], 99) if halves[1] else None}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
