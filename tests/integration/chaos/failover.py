# SPDX-License-Identifier: MIT
#
# How long a coordinator's executions stall after it is SIGKILLed (see
# tests/helpers/stack.py for the processes). Two coordinators and two
# workers on Kafka (4 partitions); executions that loop over a 50 ms
# test.sleep task (most) or a 1 s Wait (some, so that timers are in
# play) keep every partition of the events topic busy. Then, FAILOVER_KILLS
# times, one coordinator (in turn) is SIGKILLed and, unless
# FAILOVER_RESTART=0, started again at once, as systemd's Restart= does.
# For every kill:
#
#   stall   per execution that was RUNNING, from the kill to its first
#           history event after it (its timestamp, written by the
#           coordinator that applied it); the report gives the maximum and
#           the median, and the slowest partition of the events topic
#   owned   from the kill until the coordinators' logs show assignments
#           that cover every partition of the jobs and events topics again
#
# The load average is printed with each kill (the machine is shared).
# With FAILOVER_MAX_SECONDS set, exit 1 if a kill's stall or owned time is
# over it. Environment: FAILOVER_KILLS (default 3), FAILOVER_RESTART
# (1), FAILOVER_EXECUTIONS (32 task loops + a quarter as many Wait loops),
# FAILOVER_CONF (more [kafka.consumer] lines, "\n" between them, such as
# "session.timeout.ms = 2000\nheartbeat.interval.ms = 300"), FAILOVER_STATIC
# (1: each coordinator gets a stable group.instance.id, static group
# membership: a restarted one gets its partitions back without a
# rebalance). FAILOVER_RESTART=0 makes one kill (a host that is gone).
# FAILOVER_TARGET=broker: three brokers, and each kill is of the leader of
# one partition of the events topic (started again after the measurement).

import argparse
import datetime
import os
import re
import signal
import statistics
import sys
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "helpers"))
from stack import Stack, common_args, log, parse_ts, run_in_tmp, start_message, wait_until  # noqa: E402

PARTITIONS = 4

TASK_LOOP = """{
  "StartAt": "Step",
  "States": {
    "Step": {"Type": "Task", "Resource": "imgflow:test.sleep", "Parameters": {"ms": 50},
             "ResultPath": null, "Next": "Count"},
    "Count": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)"}, "Next": "More"},
    "More": {"Type": "Choice", "Choices": [{"Variable": "$.i", "NumericLessThan": 100000, "Next": "Step"}],
             "Default": "Done"},
    "Done": {"Type": "Succeed"}
  }
}"""

WAIT_LOOP = """{
  "StartAt": "Pause",
  "States": {
    "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Count"},
    "Count": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)"}, "Next": "More"},
    "More": {"Type": "Choice", "Choices": [{"Variable": "$.i", "NumericLessThan": 100000, "Next": "Pause"}],
             "Default": "Done"},
    "Done": {"Type": "Succeed"}
  }
}"""


def env_int(name, default):
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def partition_of(key, partitions=PARTITIONS):
    """librdkafka's default partitioner (consistent_random): CRC32 of the key."""
    return zlib.crc32(key.encode()) % partitions


def last_event_ms(st, eid):
    tail = st.redis.call("LRANGE", "imgflow:{%s}:history" % eid, -1, -1)
    if not tail:
        return 0
    import json
    return parse_ts(json.loads(tail[0])["timestamp"])


def first_event_after(st, eid, since_ms):
    """Timestamp (ms) of the first history event after since_ms, or None."""
    import json
    n = int(st.redis.call("LLEN", "imgflow:{%s}:history" % eid) or 0)
    # The newest few are enough: at most a few events per 50 ms.
    start = max(0, n - 400)
    first = None
    for e in st.redis.call("LRANGE", "imgflow:{%s}:history" % eid, start, -1) or []:
        t = parse_ts(json.loads(e)["timestamp"])
        if t > since_ms and (first is None or t < first):
            first = t
    return first


LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) .*Kafka: (\d+) partition\(s\) (assigned|revoked|lost)")


def assignments(path, since_ms):
    """[(ms, count, kind)] of the assignment lines of a log after since_ms."""
    out = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = LOG_TIME.match(line)
                if not m:
                    continue
                t = int(datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp() * 1000)
                if t >= since_ms:
                    out.append((t, int(m.group(2)), m.group(3)))
    except OSError:
        pass
    return out


def owned_at(st, since_ms, want, victim):
    """The first moment after since_ms at which the coordinators' latest
    assignments add up to `want` partitions, or None. A survivor starts
    with what it held before since_ms (with static membership nothing is
    reassigned to it); the victim with nothing."""
    events = []
    held = {}
    for p in st.coordinators:
        before = [(t, n, kind) for t, n, kind in assignments(p.logpath, 0) if t < since_ms]
        if p is not victim and before:
            held[p.name] = before[-1][1] if before[-1][2] == "assigned" else 0
        for t, n, kind in assignments(p.logpath, since_ms):
            events.append((t, p.name, n if kind == "assigned" else 0))
    events.sort()
    for t, name, n in events:
        held[name] = n
        if sum(held.values()) >= want:
            return t
    return None


def loadavg():
    try:
        return open("/proc/loadavg").read().split()[0]
    except OSError:
        return "?"


def run(args, tmp):
    target = os.environ.get("FAILOVER_TARGET", "coordinator")
    restart = env_int("FAILOVER_RESTART", 1) != 0
    # Without restarts, a second kill would leave no coordinator at all.
    kills = env_int("FAILOVER_KILLS", 3) if restart or target == "broker" else 1
    n_tasks = env_int("FAILOVER_EXECUTIONS", 32)
    n_waits = max(n_tasks // 4, 1)
    limit = float(os.environ.get("FAILOVER_MAX_SECONDS", "0") or 0)
    static = env_int("FAILOVER_STATIC", 1) != 0
    extra = os.environ.get("FAILOVER_CONF", "").replace("\\n", "\n")
    brokers = target == "broker"
    st = Stack(args, tmp, partitions=PARTITIONS, brokers=3 if brokers else 1, extra_conf=extra)
    problems = []
    try:
        st.start_infra()
        st.write_config()
        for name, text in (("loop", TASK_LOOP), ("waits", WAIT_LOOP)):
            path = os.path.join(tmp, name + ".asl.json")
            with open(path, "w") as f:
                f.write(text)
            rc, out = st.register(name, path)
            if rc != 0:
                print("FAIL register %s: %s" % (name, out))
                return 1
        for i in range(2):
            p = st.add_coordinator(start=False)
            p.env = dict(p.env, IMGFLOW_LOG_TIME="1")
            if static:
                p.env["IMGFLOW_KAFKA_CONSUMER_GROUP_INSTANCE_ID"] = "coordinator-c%d" % i
            p.start()
        for i in range(2):
            st.add_worker(threads=2)
        names = ["t%d" % i for i in range(n_tasks)]
        waits = ["w%d" % i for i in range(n_waits)]
        st.produce("imgflow.jobs", [start_message("loop", x, {"i": 0}) for x in names] +
                   [start_message("waits", x, {"i": 0}) for x in waits])
        ids = ["loop:" + x for x in names] + ["waits:" + x for x in waits]
        covered = sorted({partition_of(e) for e in ids})
        if covered != list(range(PARTITIONS)):
            print("FAIL the executions do not cover every partition: %s" % covered)
            return 1

        def all_moving():
            now = int(time.time() * 1000)
            return all(now - last_event_ms(st, e) < 1500 for e in ids)
        if not wait_until(all_moving, 120, step=0.5):
            print("FAIL executions not all moving 120 s after the start")
            return 1
        log("%d executions moving (%d task loops, %d Wait loops); %s kills, %s" %
            (len(ids), n_tasks, n_waits, kills, "restarted at once" if restart else "not restarted"))

        results = []
        for k in range(kills):
            victim = st.coordinators[k % 2] if not brokers else None
            time.sleep(3)
            if not wait_until(all_moving, 60, step=0.5):
                problems.append("kill %d: executions not all moving before the kill" % (k + 1))
                break
            load = loadavg()
            kill_ms = int(time.time() * 1000)
            if brokers:
                # The leader of one partition of the events topic (each kill
                # another partition's), restarted once the stall is measured.
                broker = st.leader("imgflow.events", k % PARTITIONS)
                st.kill_broker(broker)
            else:
                victim.kill(signal.SIGKILL)
                if restart:
                    victim.start()
            pending = set(ids)
            stall = {}
            deadline = time.monotonic() + 90
            while pending and time.monotonic() < deadline:
                for e in list(pending):
                    if st.status(e) != "RUNNING":
                        pending.discard(e)
                        continue
                    t = first_event_after(st, e, kill_ms)
                    if t is not None:
                        stall[e] = (t - kill_ms) / 1000.0
                        pending.discard(e)
                time.sleep(0.1)
            if brokers:
                owned_s = 0.0  # no group change: the partitions' leaders move instead
                st.start_broker(broker)
            else:
                owned = owned_at(st, kill_ms, 2 * PARTITIONS, victim)
                owned_s = (owned - kill_ms) / 1000.0 if owned else None
            worst = max(stall.values()) if stall else None
            per_part = {}
            for e, s in stall.items():
                p = partition_of(e)
                per_part[p] = max(per_part.get(p, 0), s)
            line = ("kill %d of %s: stall max %s s, median %.2f s, per partition %s; partitions owned again "
                    "after %s s; load %s%s" %
                    (k + 1, victim.name if victim else "broker %d, leader of imgflow.events [%d]" %
                     (broker, k % PARTITIONS), "%.2f" % worst if worst is not None else "?",
                     statistics.median(stall.values()) if stall else -1,
                     " ".join("%d:%.2f" % (p, per_part[p]) for p in sorted(per_part)),
                     "%.2f" % owned_s if owned_s is not None else "?", load,
                     "; %d executions never moved again" % len(pending) if pending else ""))
            log(line)
            results.append((worst, owned_s, load, len(pending)))
            if pending:
                problems.append("kill %d: %d executions stalled for 90 s, e.g. %s" %
                                (k + 1, len(pending), sorted(pending)[:5]))
            elif limit and (worst > limit or owned_s is None or owned_s > limit):
                problems.append("kill %d: stall %.2f s, owned after %s s (limit %.1f s)" %
                                (k + 1, worst, owned_s, limit))
        for p in st.coordinators + st.workers:
            if p is not None and not p.alive() and restart:
                problems.append("%s is not running" % p.name)
        print("failover: kills=%d restart=%s static=%s stall_max=[%s] owned=[%s] load=[%s]" %
              (len(results), int(restart), int(static),
               " ".join("%.2f" % r[0] if r[0] is not None else "?" for r in results),
               " ".join("%.2f" % r[1] if r[1] is not None else "?" for r in results),
               " ".join(r[2] for r in results)), flush=True)
        for p in problems:
            print("FAIL " + p)
        if problems:
            for p in st.coordinators:
                print("--- %s (tail)\n%s" % (p.name, st.tail(os.path.basename(p.logpath), 25)))
        return 1 if problems else 0
    finally:
        st.close()


def main():
    ap = argparse.ArgumentParser()
    common_args(ap)
    args = ap.parse_args()
    if os.environ.get("STACK_KAFKA", "real") == "mock":
        print("the handover is the real broker's group coordinator's: skipped with STACK_KAFKA=mock")
        return 77
    return run_in_tmp(args, "imgflow-failover.", run)


if __name__ == "__main__":
    sys.exit(main())
