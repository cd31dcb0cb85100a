# SPDX-License-Identifier: MIT
#
# Consumer groups that must settle again after a run of faults (see
# tests/helpers/stack.py for the processes). Two coordinators and two
# workers on Kafka (4 partitions), 20 executions that loop over a 50 ms
# test.sleep task. Then, SETTLE_ROUNDS times:
#
#   1. a worker SIGKILLed and started again at once (as Restart= does)
#   2. the broker stopped (SIGSTOP) for 4 s (the mock cluster: its process)
#   3. a coordinator SIGKILLed and started again at once
#   4. the broker stopped for 10 s, past every session timeout
#
# and then every execution must reach its end (each loops SETTLE_STEPS
# times): 0 stuck (no progress for SETTLE_STALL seconds, or not done
# SETTLE_WAIT seconds after the last fault), every daemon
# running, each coordinator's group settled again ("Coordinator ready" after
# its restart; the assignments in the logs cover every partition), and no
# task result applied twice. Prints "executions=N stuck=S rejoins=R" (R:
# how often a daemon's group did not settle within its bound and it
# rejoined, from the logs).
#
# Environment: SETTLE_ROUNDS (default 1), SETTLE_EXECUTIONS (20),
# SETTLE_STEPS (loop count of each execution, 40), SETTLE_WAIT (240),
# SETTLE_STALL (60),
# SETTLE_CONF (more [kafka.consumer] lines, "\n" between them),
# SETTLE_TIMEOUT ([imgflow] group_settle_timeout, default 15s; 0 shows what
# happens without the rejoin).

import argparse
import json
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "helpers"))
from stack import Stack, common_args, log, run_in_tmp, start_message, wait_until  # noqa: E402

PARTITIONS = 4

TASK_LOOP = """{
  "StartAt": "Step",
  "States": {
    "Step": {"Type": "Task", "Resource": "imgflow:test.sleep", "Parameters": {"ms": 50},
             "ResultPath": null, "Next": "Count"},
    "Count": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)", "n.$": "$.n"}, "Next": "More"},
    "More": {"Type": "Choice", "Choices": [{"Variable": "$.i", "NumericLessThanPath": "$.n", "Next": "Step"}],
             "Default": "Done"},
    "Done": {"Type": "Succeed"}
  }
}"""

ASSIGNED = re.compile(r"Kafka: (\d+) partition\(s\) (assigned|revoked|lost)")


def env_int(name, default):
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def held(path):
    """Partitions a daemon's log says it holds now (its last assignment line
    of the current run), per topic summed: the coordinator logs one line per
    rebalance for jobs and events together."""
    n = 0
    try:
        text = open(path, errors="replace").read()
    except OSError:
        return 0
    text = text.split("--- ")[-1]          # the current start (stack.Proc marks each)
    for m in ASSIGNED.finditer(text):
        n = int(m.group(1)) if m.group(2) == "assigned" else 0
    return n


def pause_broker(st, seconds):
    """SIGSTOP the broker's process (with STACK_KAFKA=mock, the mock
    cluster's), SIGCONT after `seconds`: connections stay open, nothing
    answers (a broker paused by the host, a long GC)."""
    pid = int(st.local_stack("pid", "kafka" if st.kafka == "mock" else "kafka-1"))
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        os.kill(pid, signal.SIGCONT)


def run(args, tmp):
    rounds = env_int("SETTLE_ROUNDS", 1)
    n_exec = env_int("SETTLE_EXECUTIONS", 20)
    steps = env_int("SETTLE_STEPS", 40)
    wait_s = env_int("SETTLE_WAIT", 240)
    stall_s = env_int("SETTLE_STALL", 60)
    extra = os.environ.get("SETTLE_CONF", "").replace("\\n", "\n")
    settle = os.environ.get("SETTLE_TIMEOUT", "15s")
    extra += "\n[imgflow]\ngroup_settle_timeout = %s\n" % settle
    st = Stack(args, tmp, partitions=PARTITIONS, brokers=1, extra_conf=extra)
    problems = []
    try:
        st.start_infra()
        st.write_config()
        path = os.path.join(tmp, "loop.asl.json")
        with open(path, "w") as f:
            f.write(TASK_LOOP)
        rc, out = st.register("loop", path)
        if rc != 0:
            print("FAIL register loop: %s" % out)
            return 1
        for i in range(2):
            p = st.add_coordinator(start=False)
            p.env = dict(p.env, IMGFLOW_LOG_TIME="1")
            p.start()
        for i in range(2):
            st.add_worker(threads=2)
        ids = ["loop:s%d" % i for i in range(n_exec)]
        st.produce("imgflow.jobs", [start_message("loop", "s%d" % i, {"i": 0, "n": steps}) for i in range(n_exec)])

        def progressed():
            return all(int(st.redis.call("LLEN", "imgflow:{%s}:history" % e) or 0) >= 8 for e in ids)
        if not wait_until(progressed, 60, step=0.5):
            print("FAIL the executions did not start moving within 60 s")
            return 1
        for r in range(rounds):
            w = st.workers[r % 2]
            c = st.coordinators[r % 2]
            log("round %d: SIGKILL %s and restart" % (r + 1, w.name))
            w.kill(signal.SIGKILL)
            w.start()
            log("round %d: broker stopped for 4 s" % (r + 1))
            pause_broker(st, 4)
            log("round %d: SIGKILL %s and restart" % (r + 1, c.name))
            c.kill(signal.SIGKILL)
            c.start()
            log("round %d: broker stopped for 10 s" % (r + 1))
            pause_broker(st, 10)
        # Bounded by the wall clock, and by progress: an execution is stuck
        # when no history event was added to any unfinished one for
        # SETTLE_STALL seconds (a loaded machine is slow, not stuck).
        t0 = time.monotonic()
        last_change, last_len = t0, -1
        while True:
            pending = [e for e in ids if st.status(e) in (None, "RUNNING")]
            total = sum(int(st.redis.call("LLEN", "imgflow:{%s}:history" % e) or 0) for e in pending)
            now = time.monotonic()
            if total != last_len:
                last_change, last_len = now, total
            if not pending or now - last_change > stall_s or now - t0 > wait_s:
                break
            time.sleep(0.5)
        stuck = pending
        took = time.monotonic() - t0
        statuses = {}
        for e in ids:
            statuses.setdefault(st.status(e) or "none", []).append(e)
        log("after the faults: %s in %.1f s" % (", ".join("%s=%d" % (k, len(v)) for k, v in sorted(statuses.items())),
                                                 took))
        for e in stuck[:5]:
            h = st.redis.call("LRANGE", "imgflow:{%s}:history" % e, -1, -1)
            print("     stuck %s: last event %s" % (e, (h[0] if h else "none")[:200]))
        if stuck:
            problems.append("%d of %d executions stuck %.0f s after the last fault (no progress for %d s, or "
                            "over %d s)" % (len(stuck), n_exec, took, stall_s, wait_s))
        bad = [e for e in ids if st.status(e) != "SUCCEEDED" and e not in stuck]
        if bad:
            problems.append("not SUCCEEDED: %s" % bad[:5])
        # Each task result applied once: one TaskSucceeded per loop step.
        dup = []
        for e in ids:
            hist = [json.loads(x) for x in st.redis.call("LRANGE", "imgflow:{%s}:history" % e, 0, -1) or []]
            n = sum(1 for x in hist if x.get("type") == "TaskSucceeded")
            if st.status(e) == "SUCCEEDED" and n != steps:
                dup.append((e, n))
        if dup:
            problems.append("task results applied other than once per step: %s" % dup[:5])
        for p in st.coordinators + st.workers:
            if not p.alive():
                problems.append("%s exited" % p.name)
            text = open(p.logpath, errors="replace").read()
            if "AddressSanitizer" in text or "runtime error:" in text:
                problems.append("a sanitizer report in %s's log" % p.name)
        for p in st.coordinators:
            text = open(p.logpath, errors="replace").read().split("--- ")[-1]
            if "Coordinator ready" not in text:
                problems.append("%s never became ready after its last start" % p.name)
        owned = wait_until(lambda: sum(held(p.logpath) for p in st.coordinators) >= 2 * PARTITIONS, 30)
        if not owned:
            problems.append("the coordinators' logs do not cover every partition of jobs and events: %s" %
                            [held(p.logpath) for p in st.coordinators])
        rejoins = sum(open(p.logpath, errors="replace").read().count("has not settled")
                      for p in st.coordinators + st.workers)
        print("executions=%d stuck=%d rejoins=%d" % (n_exec, len(stuck), rejoins), flush=True)
        for p in problems:
            print("FAIL " + p)
        if problems:
            for p in st.coordinators:
                print("---- %s" % p.name)
                print(st.tail(os.path.basename(p.logpath), 25))
        return 1 if problems else 0
    finally:
        st.close()


def main():
    ap = argparse.ArgumentParser()
    common_args(ap)
    return run_in_tmp(ap.parse_args(), "imgflow-settle.", run)


if __name__ == "__main__":
    sys.exit(main())
