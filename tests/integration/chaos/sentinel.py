# SPDX-License-Identifier: MIT
#
# Redis failover under Sentinel (see tests/helpers/stack.py for the
# processes): a master, a replica (redis-server --replicaof) and three
# Sentinels on loopback (deploy/local-stack.sh, STACK_REDIS_SENTINELS=3:
# quorum 2, master down after 1 s), two coordinators and two workers whose
# [redis] sentinels name them. SENTINEL_EXECUTIONS executions (default 100)
# of a chain of four 100 ms test.sleep tasks run; once a third of them
# succeeded, the master is SIGKILLed. The Sentinels promote the replica and
# the daemons follow it without a restart (each reconnect asks the
# Sentinels for the master). Once the replica is promoted, the old master
# is started again (as systemd's Restart= does, on its AOF) and the
# Sentinels make it a replica of the new one: with wait_replicas = 1 and
# one replica, that is the replica the WAITs need (docs/redis.md, "Replicas
# and WAIT": with none, the daemons hold their acknowledgements).
#
# With SENTINEL_BEHIND_SECONDS (default 1.0; 0: off), the replica is
# SIGKILLed that long before the master and started again (on its AOF)
# right after it: a replica that fell behind (restarting, or cut off), the
# window in which a master acknowledges writes that no replica has. A
# replica merely stopped (SIGSTOP) would not show it on loopback: the
# master's writes wait in the kernel's socket buffers, which survive the
# master's SIGKILL on the same host (a host crash loses them).
#
# Each phase, for SENTINEL_WAIT ("0 1" by default: without and with
# [redis] wait_replicas = 1), on a fresh stack, reports:
#
#   started      executions published
#   succeeded    SUCCEEDED on the new master at the end
#   lost         not SUCCEEDED at the end (missing, or RUNNING and no longer
#                moving: a task result the new master knows nothing of)
#   rolled back  a terminal status was published (imgflow.notifications,
#                after the commit) that the new master does not have
#   twice        a task result or a state applied more than once
#   promoted     seconds from the kill until the Sentinels name the replica
#   resumed      seconds from the kill until the first history event
#                written on the new master
#
# The phase with wait_replicas = 1 must have lost = 0, rolled back = 0 and
# twice = 0 (exit 1 otherwise); every phase must have twice = 0. The CLI
# (imgflow list-executions) must reach the new master through the
# Sentinels too. Everything is bounded: 120 s for the executions to settle
# after the kill.

import argparse
import collections
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "helpers"))
from stack import Redis, Stack, common_args, log, parse_ts, run_in_tmp, start_message, wait_until  # noqa: E402

CHAIN = """{
  "StartAt": "A",
  "States": {
    "A": {"Type": "Task", "Resource": "imgflow:test.sleep", "Parameters": {"ms": 100}, "ResultPath": null, "Next": "B"},
    "B": {"Type": "Task", "Resource": "imgflow:test.sleep", "Parameters": {"ms": 100}, "ResultPath": null, "Next": "C"},
    "C": {"Type": "Task", "Resource": "imgflow:test.sleep", "Parameters": {"ms": 100}, "ResultPath": null, "Next": "D"},
    "D": {"Type": "Task", "Resource": "imgflow:test.sleep", "Parameters": {"ms": 100}, "End": true}
  }
}"""
TASKS = 4
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def sentinel_master(ports):
    """The master's port as the first Sentinel that answers names it, or None."""
    for p in ports:
        try:
            r = Redis(p)
            v = r.call("SENTINEL", "get-master-addr-by-name", "imgflow", retries=1)
            r.close()
            if v:
                return int(v[1])
        except Exception:
            pass
    return None


def phase(args, tmp, wait, n, lag):
    d = os.path.join(tmp, "wait%d" % wait)
    os.makedirs(d)
    st = Stack(args, d, partitions=4, appendfsync="everysec")
    try:
        st.start_infra(env={"STACK_REDIS_SENTINELS": "3"})
        env = {}
        for line in open(os.path.join(st.stack_dir, "stack.env")):
            k, _, v = line.strip().partition("=")
            env[k] = v.strip("'")
        replica_port = int(env["REDIS_REPLICA_PORT"])
        sentinels = env["SENTINEL_PORTS"]
        sports = [int(x.rsplit(":", 1)[1]) for x in sentinels.split(",")]
        # [redis] address names a port nothing listens on: the daemons
        # can only find the master through the Sentinels.
        st.extra_conf = ("[redis]\nsentinels = %s\nmaster_name = imgflow\nwait_replicas = %d\n"
                         "wait_timeout = 500ms\n" % (sentinels, wait))
        st.write_config()
        with open(st.conf) as f:
            text = f.read().replace("address = 127.0.0.1:%d" % st.rport, "address = 127.0.0.1:1", 1)
        with open(st.conf, "w") as f:
            f.write(text)
        path = os.path.join(d, "chain.asl.json")
        with open(path, "w") as f:
            f.write(CHAIN)
        rc, out = st.register("chain", path)
        if rc != 0:
            return None, ["register: %s" % out]
        for i in range(2):
            p = st.add_coordinator(start=False)
            p.env = dict(p.env, IMGFLOW_LOG_TIME="1")
            p.start()
        for i in range(2):
            st.add_worker(threads=2)
        names = ["x%d" % i for i in range(n)]
        ids = ["chain:" + x for x in names]
        st.produce("imgflow.jobs", [start_message("chain", x, {"i": i}) for i, x in enumerate(names)])
        if not wait_until(lambda: sum(1 for e in ids if st.status(e) == "SUCCEEDED") >= n // 3, 120, step=0.1):
            return None, ["not a third of the executions succeeded within 120 s"]
        before = sum(1 for e in ids if st.status(e) == "SUCCEEDED")
        if lag > 0:
            st.local_stack("kill", "redis-replica", "KILL")
            time.sleep(lag)
        kill_ms = int(time.time() * 1000)
        st.local_stack("kill", "redis", "KILL")
        if lag > 0:
            st.local_stack("restart", "redis-replica", check=False)
        log("wait_replicas=%d: master SIGKILLed with %d of %d executions succeeded%s" %
            (wait, before, n, " (the replica SIGKILLed %.1f s before it, started again after it)" % lag
             if lag else ""))
        if not wait_until(lambda: sentinel_master(sports) == replica_port, 60, step=0.05):
            return None, ["the Sentinels did not promote the replica within 60 s"]
        promoted = (time.time() * 1000 - kill_ms) / 1000.0
        old_port = st.rport
        st.rport = replica_port
        st.redis = Redis(replica_port)
        st.local_stack("restart", "redis")

        def first_event():
            best = None
            for e in ids:
                for h in st.redis.call("LRANGE", "imgflow:{%s}:history" % e, -3, -1) or []:
                    t = parse_ts(json.loads(h)["timestamp"])
                    if t > kill_ms and (best is None or t < best):
                        best = t
            return best
        resumed_at = wait_until(first_event, 60, step=0.1)
        resumed = (resumed_at - kill_ms) / 1000.0 if resumed_at else None

        # Settle: until every execution is terminal, or nothing moved for 20 s (120 s at most).
        end = time.monotonic() + 120
        last, moved = None, time.monotonic()
        while time.monotonic() < end:
            counts = collections.Counter(st.status(e) for e in ids)
            if counts.get("SUCCEEDED", 0) + sum(counts.get(s, 0) for s in TERMINAL[1:]) == n:
                break
            key = sum(int(st.redis.call("LLEN", "imgflow:{%s}:history" % e) or 0) for e in ids)
            if key != last:
                last, moved = key, time.monotonic()
            elif time.monotonic() - moved > 20:
                break
            time.sleep(0.5)

        succeeded, lost, twice = 0, [], []
        for e in ids:
            s = st.status(e)
            if s == "SUCCEEDED":
                succeeded += 1
            else:
                lost.append((e, s or "missing"))
            if s is None:
                continue
            hist = st.redis.history(e)
            succ = sum(1 for h in hist if h["type"] == "TaskSucceeded")
            exits = collections.Counter(h.get("stateExitedEventDetails", {}).get("name")
                                        for h in hist if h["type"].endswith("StateExited"))
            if succ > TASKS or any(v > 1 for v in exits.values()):
                twice.append(e)
        notified = {}
        for _, m in st.consume("imgflow.notifications"):
            if isinstance(m, dict) and m.get("type") == "ExecutionStatusChanged" and m.get("status") in TERMINAL:
                notified[m.get("executionId")] = m.get("status")
        rolled_back = [e for e in ids if e in notified and st.status(e) != notified[e]]

        # The CLI finds the new master through the Sentinels too.
        cli = os.path.join(st.build, "cli", "imgflow")
        problems = []
        if os.access(cli, os.X_OK):
            r = subprocess.run([cli, "list-executions", "--config", st.conf, "--max-results", "1000"],
                               capture_output=True, text=True, timeout=60)
            if r.returncode != 0 or sum(1 for x in json.loads(r.stdout or "{}").get("executions", [])
                                        if x.get("stateMachineArn", "").endswith(":chain")) < succeeded:
                problems.append("the CLI did not list the executions from the new master: %s" %
                                (r.stderr.strip() or r.stdout[:200]))
        follow = sum(1 for p in st.coordinators if "Redis Sentinel" in open(p.logpath, errors="replace").read()
                     and ":%d" % replica_port in open(p.logpath, errors="replace").read())
        old_role = None
        try:
            r = Redis(old_port)
            old_role = r.call("ROLE", retries=1)[0]
            r.close()
        except Exception:
            pass
        res = {"wait_replicas": wait, "started": n, "succeeded": succeeded, "lost": len(lost),
               "rolled_back": len(rolled_back), "twice": len(twice), "promoted_s": round(promoted, 2),
               "resumed_s": round(resumed, 2) if resumed is not None else None,
               "coordinators_following": follow}
        print("sentinel: wait_replicas=%d started=%d succeeded=%d lost=%d rolled_back=%d twice=%d "
              "promoted=%.2fs resumed=%ss behind=%.1fs old_master_now=%s" %
              (wait, n, succeeded, len(lost), len(rolled_back), len(twice), promoted,
               "%.2f" % resumed if resumed is not None else "?", lag, old_role), flush=True)
        if lost:
            print("  lost (first 5): %s" % lost[:5])
        if rolled_back:
            print("  rolled back (first 5): %s" % [(e, notified[e], st.status(e)) for e in rolled_back[:5]])
        if twice:
            problems.append("applied twice: %s" % twice[:5])
        if follow < len(st.coordinators):
            problems.append("only %d of %d coordinators logged the new master" % (follow, len(st.coordinators)))
        if resumed is None:
            problems.append("no execution moved on the new master within 60 s of the promotion")
        if wait and (lost or rolled_back):
            problems.append("wait_replicas=1: lost=%d rolled_back=%d" % (len(lost), len(rolled_back)))
        for p in st.coordinators + st.workers:
            if not p.alive():
                problems.append("%s is not running" % p.name)
        if problems:
            for p in st.coordinators:
                print("--- %s (tail)\n%s" % (p.name, st.tail(os.path.relpath(p.logpath, d), 20)))
        return res, problems
    finally:
        st.close()


def run(args, tmp):
    n = int(os.environ.get("SENTINEL_EXECUTIONS", "100"))
    lag = float(os.environ.get("SENTINEL_BEHIND_SECONDS", "1.0"))
    problems = []
    for w in os.environ.get("SENTINEL_WAIT", "0 1").split():
        res, p = phase(args, tmp, int(w), n, lag)
        problems += ["wait_replicas=%s: %s" % (w, x) for x in p]
    for p in problems:
        print("FAIL " + p)
    return 1 if problems else 0


def main():
    ap = argparse.ArgumentParser()
    common_args(ap)
    args = ap.parse_args()
    return run_in_tmp(args, "imgflow-sentinel.", run)


if __name__ == "__main__":
    sys.exit(main())
