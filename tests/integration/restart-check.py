#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Redis-side checks of test-coordinator-restart.sh and test-coordinator-bigmap.sh.

Speaks RESP to the test's redis-server directly (no redis module needed),
reads the execution hashes (imgflow:{<execId>}:exec) and histories
(imgflow:{<execId>}:history), see docs/redis.md.

  restart-check.py PORT count PREFIX N           finished executions PREFIX1..PREFIXN
  restart-check.py PORT wait-count PREFIX N K T   the same, once >= K (or after T s)
  restart-check.py PORT restart PREFIX N          outputs + history of the restart test
  restart-check.py PORT progress EXECID           about how many Map items are done
  restart-check.py PORT bigmap EXECID N           output + history of the big Map
  restart-check.py PORT docsize EXECID            bytes of the execution document
"""

import json
import socket
import sys
import time


class Redis:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.f = self.s.makefile("rb")

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.s.sendall(b"".join(out))
        return self.read()

    def read(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            return data[:-2].decode()
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError("bad reply %r" % line)


def exec_key(eid):
    return "imgflow:{%s}:exec" % eid


def history(r, eid):
    return [json.loads(e) for e in r.call("LRANGE", "imgflow:{%s}:history" % eid, 0, -1)]


def norm(v):
    """JSON value with integral floats as ints (the test worker's add gives 3.0)."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, list):
        return [norm(x) for x in v]
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    return v


def details(ev, key):
    d = ev.get(key) or {}
    v = d.get("output")
    return norm(json.loads(v)) if isinstance(v, str) else norm(v)


def count_finished(r, prefix, n):
    """Executions PREFIX1..PREFIXn not RUNNING (missing ones are not finished);
    one pipelined round trip."""
    out = []
    for i in range(1, n + 1):
        k = exec_key("%s%d" % (prefix, i)).encode()
        out.append(b"*3\r\n$4\r\nHGET\r\n$%d\r\n%s\r\n$6\r\nstatus\r\n" % (len(k), k))
    r.s.sendall(b"".join(out))
    sts = [r.read() for _ in range(n)]
    return sum(st is not None and st != "RUNNING" for st in sts)


def restart_expected(i):
    return {"i": i, "r1": {"first": i}, "r2": {"flaky": i}, "both": [{"sum": i + 1}, i]}


def check_restart(r, prefix, n):
    """Each execution: the right output, TaskScheduled = 5 (4 tasks + 1 retry),
    one TaskFailed (the first attempt of Flaky) and exactly one TaskSucceeded
    per task (the echoed output names the task)."""
    lost = duplicated = wrong = 0
    for i in range(1, n + 1):
        eid = "%s%d" % (prefix, i)
        status, output = r.call("HMGET", exec_key(eid), "status", "output")
        if status != "SUCCEEDED":
            lost += 1
            print("lost: %s status %s" % (eid, status))
            continue
        if norm(json.loads(output)) != restart_expected(i):
            wrong += 1
            print("wrong output: %s %s" % (eid, output))
        h = history(r, eid)
        types = [e["type"] for e in h]
        succ = [details(e, "taskSucceededEventDetails") for e in h if e["type"] == "TaskSucceeded"]
        steps = sorted(json.dumps(s, sort_keys=True) for s in succ)
        want = sorted(json.dumps(s, sort_keys=True) for s in
                      [{"step": "first", "i": i}, {"step": "flaky", "i": i, "failTimes": 1},
                       {"sum": i + 1}, {"step": "b", "i": i}])
        sched, failed = types.count("TaskScheduled"), types.count("TaskFailed")
        ids = [e["id"] for e in h]
        if steps != want or sched != 5 or failed != 1 or ids != list(range(1, len(h) + 1)):
            duplicated += 1
            print("history of %s: TaskScheduled=%d TaskFailed=%d TaskSucceeded=%s ids ok=%s" %
                  (eid, sched, failed, steps, ids == list(range(1, len(h) + 1))))
    print("lost=%d duplicated=%d wrong=%d" % (lost, duplicated, wrong))
    return 0 if lost == duplicated == wrong == 0 else 1


def check_bigmap(r, eid, n):
    """The output is [1.0 .. n] in order; n iterations, n TaskScheduled and n
    TaskSucceeded (each item's result applied once)."""
    status, output = r.call("HMGET", exec_key(eid), "status", "output")
    bad = 0
    if status != "SUCCEEDED":
        print("status %s" % status)
        return 1
    out = norm(json.loads(output))
    if out != list(range(1, n + 1)):
        bad += 1
        print("wrong output: %d entries, first differences: %s" %
              (len(out), [(k, v) for k, v in enumerate(out) if v != k + 1][:5]))
    h = history(r, eid)
    types = [e["type"] for e in h]
    counts = {t: types.count(t) for t in ("TaskScheduled", "TaskSucceeded", "TaskFailed",
                                          "MapIterationStarted", "MapIterationSucceeded")}
    print("history: %d events %s" % (len(h), json.dumps(counts, sort_keys=True)))
    if counts != {"TaskScheduled": n, "TaskSucceeded": n, "TaskFailed": 0,
                  "MapIterationStarted": n, "MapIterationSucceeded": n}:
        bad += 1
    succ = sorted(details(e, "taskSucceededEventDetails")["sum"] for e in h if e["type"] == "TaskSucceeded")
    if succ != list(range(1, n + 1)):
        bad += 1
        print("TaskSucceeded results are not each item once")
    return 1 if bad else 0


def main():
    r = Redis(int(sys.argv[1]))
    cmd = sys.argv[2]
    if cmd == "count":
        print(count_finished(r, sys.argv[3], int(sys.argv[4])))
        return 0
    if cmd == "wait-count":
        # Returns (prints the count) once at least K of them finished, or after T s.
        prefix, n, k, t = sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
        deadline = time.monotonic() + t
        while True:
            done = count_finished(r, prefix, n)
            if done >= k or time.monotonic() > deadline:
                print(done)
                return 0
            time.sleep(0.02)
    if cmd == "restart":
        return check_restart(r, sys.argv[3], int(sys.argv[4]))
    if cmd == "progress":
        # Highest finished index among the newest events (about the number done).
        h = [json.loads(e) for e in r.call("LRANGE", "imgflow:{%s}:history" % sys.argv[3], -300, -1)]
        print(max([-1] + [(e.get("mapIterationSucceededEventDetails") or {}).get("index", -1)
                          for e in h if e["type"] == "MapIterationSucceeded"]) + 1)
        return 0
    if cmd == "bigmap":
        return check_bigmap(r, sys.argv[3], int(sys.argv[4]))
    if cmd == "docsize":
        print(r.call("HSTRLEN", exec_key(sys.argv[3]), "doc"))
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
