# SPDX-License-Identifier: MIT
#
# A coordinator SIGKILLed in the middle of a distributed Map whose children
# are executions of their own (ExecutionType STANDARD): nothing lost, no
# child twice. Two coordinators and two workers; a parent execution maps
# DMAPKILL_ITEMS items (default 200), 20 children at a time, each child one
# test.sleep task (50 ms) that passes its item on. Once DMAPKILL_AT children
# (default 40) have ended, the coordinator that owns the parent is
# SIGKILLed and not started again (a host that is gone): the other one
# takes over its partitions, the parent's and half the children's. Checked,
# within DMAPKILL_TIMEOUT seconds (default 180):
#
#   - the parent SUCCEEDS with every item once, in order;
#   - the Map Run lists exactly one child execution per item
#     (imgflow:maprun:<run>:executions), each SUCCEEDED, with one
#     ExecutionStarted and one ExecutionSucceeded in its history, its task's
#     result applied once (TaskSucceeded), and the coordinators' logs say
#     "Execution <child> SUCCEEDED" once per child in all, or not at all for
#     a child whose ExecutionSucceeded is from before the kill (the killed
#     coordinator's commit was applied but it never read Redis's reply, after
#     which it logs the end);
#   - the Map Run record counts the items once: childDone = children =
#     items, done = items, failed = 0.
#
# (A task attempt may run twice, a result the broker had not acknowledged;
# its result counts once.) STACK_KAFKA=mock runs it on the mock cluster, otherwise Apache Kafka.

import argparse
import collections
from datetime import datetime
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "helpers"))
from stack import Stack, common_args, log, run_in_tmp, start_message, wait_until  # noqa: E402

MACHINE = {
    "StartAt": "M",
    "States": {"M": {
        "Type": "Map", "Label": "kill", "ItemsPath": "$.items", "MaxConcurrency": 20,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Work",
            "States": {"Work": {"Type": "Task", "Resource": "imgflow:test.sleep",
                                "Parameters": {"ms": 50}, "ResultPath": None, "End": True}}},
        "End": True}}}


def env_int(name, default):
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def run(args, tmp):
    n = env_int("DMAPKILL_ITEMS", 200)
    at = env_int("DMAPKILL_AT", 40)
    timeout = env_int("DMAPKILL_TIMEOUT", 180)
    st = Stack(args, tmp, partitions=4, extra_conf="session.timeout.ms = 3000\nheartbeat.interval.ms = 300")
    problems = []

    def check(cond, msg):
        print(("ok   " if cond else "FAIL ") + msg, flush=True)
        if not cond:
            problems.append(msg)

    try:
        st.start_infra()
        st.write_config()
        path = os.path.join(tmp, "dmapkill.asl.json")
        with open(path, "w") as f:
            json.dump(MACHINE, f)
        rc, out = st.register("dmapkill", path)
        if rc != 0:
            print("FAIL register: %s" % out)
            return 1
        for i in range(2):
            p = st.add_coordinator(start=False)
            p.env = dict(p.env or {}, IMGFLOW_LOG_TIME="1")
            p.start()
        for i in range(2):
            st.add_worker(threads=4)
        items = [{"i": i} for i in range(n)]
        t0 = time.monotonic()
        st.produce("imgflow.jobs", [start_message("dmapkill", "parent", {"items": items})])
        parent = "dmapkill:parent"

        def run_id():
            ids = st.redis.call("LRANGE", "imgflow:{%s}:mapruns" % parent, 0, -1) or []
            return ids[0] if ids else None
        if not wait_until(lambda: run_id() is not None, 120):
            print("FAIL the Map Run did not start within 120 s")
            return 1
        rid = run_id()
        record = "imgflow:{%s}:maprun:%s" % (parent, rid)

        def child_done():
            return int(st.redis.call("HGET", record, "childDone") or 0)
        if not wait_until(lambda: child_done() >= at, 120):
            print("FAIL fewer than %d children ended within 120 s (%d)" % (at, child_done()))
            return 1
        # the coordinator that owns the parent (it logged its start)
        owner = None
        for p in st.coordinators:
            with open(p.logpath, errors="replace") as f:
                if "Started execution %s " % parent in f.read():
                    owner = p
        owner = owner or st.coordinators[0]
        done_at_kill = child_done()
        owner.kill()
        killed_ms = int(time.time() * 1000)
        log("SIGKILLed %s (the parent's owner) with %d of %d children ended; load %s" %
            (owner.name, done_at_kill, n, open("/proc/loadavg").read().split()[0]))
        left = st.wait_terminal([parent], max(10, timeout - (time.monotonic() - t0)))
        elapsed = time.monotonic() - t0
        check(not left, "the parent ended within %d s (%.1f s): %s" % (timeout, elapsed, st.status(parent)))
        check(st.status(parent) == "SUCCEEDED", "the parent SUCCEEDED (%s)" % st.status(parent))
        output = json.loads(st.redis.exec_field(parent, "output") or "null")
        check(output == items, "every item once, in order (%d results)" % len(output or []))

        children = st.redis.call("ZRANGE", "imgflow:maprun:%s:executions" % rid, 0, -1) or []
        names = sorted(int(c.rsplit("-", 1)[1]) for c in children)
        check(names == list(range(n)), "one child execution per item: %d children, %d distinct indices" %
              (len(children), len(set(names))))
        bad = []
        ended_ms = {}
        for c in children:
            events = st.redis.history(c)
            types = [e["type"] for e in events]
            for e in events:
                if e["type"] == "ExecutionSucceeded":
                    ended_ms[c] = datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).timestamp() * 1000
            if (st.status(c) != "SUCCEEDED" or types.count("ExecutionStarted") != 1 or
                    types.count("ExecutionSucceeded") != 1 or types.count("TaskSucceeded") != 1):
                bad.append((c, st.status(c), types))
        check(not bad, "each child SUCCEEDED once, its task's result applied once (%d otherwise%s)" %
              (len(bad), ": %s" % (bad[:2],) if bad else ""))
        ended = collections.Counter()
        for p in st.coordinators:
            with open(p.logpath, errors="replace") as f:
                for m in re.finditer(r"Execution (dmapkill:\S+) SUCCEEDED", f.read()):
                    ended[m.group(1)] += 1
        unlogged = [c for c in children if ended[c] == 0 and ended_ms.get(c, killed_ms + 1) <= killed_ms]
        twice = [c for c in children if ended[c] != 1 and c not in unlogged]
        check(not twice, "the coordinators' logs end each child once, %d ended by the killed one unlogged "
              "(%d otherwise: %s)" % (len(unlogged), len(twice), [(c, ended[c]) for c in twice[:3]]))
        rec = dict(zip(*[iter(st.redis.call("HGETALL", record) or [])] * 2))
        counts = [int(rec.get(k, -1)) for k in ("children", "childDone", "childFailed", "done", "failed")]
        check(counts == [n, n, 0, n, 0], "the Map Run record: children, childDone, childFailed, done, failed = %s" %
              counts)
        log("dmapkill: %d items, kill after %d, %.1f s in all, %d problems" % (n, done_at_kill, elapsed,
                                                                               len(problems)))
        if problems:
            for p in st.coordinators:
                print("--- %s (tail)\n%s" % (p.name, st.tail(os.path.basename(p.logpath), 20)))
        return 1 if problems else 0
    finally:
        st.close()


def main():
    ap = argparse.ArgumentParser()
    common_args(ap)
    return run_in_tmp(ap.parse_args(), "imgflow-dmapkill.", run)


if __name__ == "__main__":
    sys.exit(main())
