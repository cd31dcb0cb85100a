#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""How a batch of tasks was spread over the workers, read back from the tasks
and events topics with kcat (a stack of its own: the topics hold only the
benchmark's messages).

    worker-spread.py BOOTSTRAP EXECUTION_ID_PREFIX  ->  one line of JSON

    {"tasks", "workers": {workerId: {"tasks", "busyMs", "lastFinishMs"}},
     "partitions": {partition: tasks}, "executionsOnOnePartition",
     "batchMs", "tailMs", "idleShare"}

busyMs sums each worker's task times (finishedAtMs - startedAtMs of its
TaskSucceeded/TaskFailed); lastFinishMs and batchMs count from the first
dispatch (Task.dispatchedAtMs) to the last finish. tailMs is how long the
batch ran on after the first worker finished its last task, idleShare the
share of the workers' time within the batch that they spent without a task.
executionsOnOnePartition: executions whose tasks all went to one partition
(with several tasks each).
"""
import json
import subprocess
import sys


def read(boot, topic):
    out = subprocess.run(["kcat", "-C", "-b", boot, "-t", topic, "-o", "beginning", "-e", "-q",
                          "-f", "%p %s\\n"], capture_output=True, text=True, timeout=300).stdout
    for line in out.splitlines():
        part, _, payload = line.partition(" ")
        try:
            yield int(part), json.loads(payload)
        except ValueError:
            pass


def main():
    boot, prefix = sys.argv[1], sys.argv[2]
    dispatched, parts, exec_parts = {}, {}, {}
    for p, m in read(boot, "imgflow.tasks"):
        if m.get("type") != "Task" or not m.get("executionId", "").startswith(prefix):
            continue
        dispatched[(m["executionId"], m["taskId"], m["attempt"])] = m.get("dispatchedAtMs")
        parts[p] = parts.get(p, 0) + 1
        exec_parts.setdefault(m["executionId"], []).append(p)
    workers = {}
    finishes = []
    for _, m in read(boot, "imgflow.events"):
        if m.get("type") not in ("TaskSucceeded", "TaskFailed"):
            continue
        if (m.get("executionId"), m.get("taskId"), m.get("attempt")) not in dispatched:
            continue
        if "startedAtMs" not in m or "finishedAtMs" not in m:
            continue
        w = workers.setdefault(m.get("workerId", "?"), {"tasks": 0, "busyMs": 0, "lastFinish": 0})
        w["tasks"] += 1
        w["busyMs"] += m["finishedAtMs"] - m["startedAtMs"]
        w["lastFinish"] = max(w["lastFinish"], m["finishedAtMs"])
        finishes.append(m["finishedAtMs"])
    starts = [d for d in dispatched.values() if d]
    if not workers or not starts:
        print(json.dumps({"tasks": 0}))
        return 1
    t0, t1 = min(starts), max(finishes)
    batch = max(1, t1 - t0)
    for w in workers.values():
        w["lastFinishMs"] = w.pop("lastFinish") - t0
    last = [w["lastFinishMs"] for w in workers.values()]
    busy = sum(w["busyMs"] for w in workers.values())
    print(json.dumps({
        "tasks": sum(w["tasks"] for w in workers.values()),
        "workers": dict(sorted(workers.items())),
        "partitions": {str(k): v for k, v in sorted(parts.items())},
        "executionsOnOnePartition": sum(1 for ps in exec_parts.values() if len(ps) > 1 and len(set(ps)) == 1),
        "executions": len(exec_parts),
        "batchMs": batch,
        "tailMs": max(last) - min(last),
        "idleShare": round(1 - busy / (len(workers) * batch), 4),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
