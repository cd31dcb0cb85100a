# SPDX-License-Identifier: MIT
#
# "Nothing lost": fault tests of the whole system (see tests/helpers/stack.py
# for the processes). Four scenarios, one per sub-command:
#
#   chaos          N executions of tests/integration/chaos/pipeline.asl.json
#                  (validate -> Parallel(resize, grayscale+sharpen) -> optimize)
#                  on generated PNGs while, at random moments, coordinators and
#                  workers are SIGKILLed and restarted, a broker of the three
#                  is SIGKILLed and started again a few seconds later (with
#                  STACK_KAFKA=mock: taken down, never broker 1, the mock's
#                  consumer groups' coordinator), and redis-server is
#                  SIGKILLed and restarted from its AOF. Then: every execution
#                  is terminal and SUCCEEDED, its three output files exist once
#                  each and are valid images, no temporary file is left, no
#                  task result was applied twice (TaskSucceeded per execution,
#                  TaskStateExited per state), and a terminal
#                  ExecutionStatusChanged with the dedup id "<execId>#<status>"
#                  was published. Prints "executions=N kills=K restarts=R
#                  lost=L duplicated=D".
#   kafka          the same load (200 executions over 60 s) and checks on
#                  Apache Kafka's three brokers (replication factor 3,
#                  min.insync.replicas 2), with the faults of KAFKA_PLAN one
#                  after the other: SIGKILL of the leader of imgflow.events [0]
#                  (the new leader must be elected), then of imgflow.tasks [0],
#                  each started again 3 s later; the leader of imgflow.jobs [0]
#                  stopped (SIGSTOP) for 9 s, past the brokers' and the
#                  consumers' session timeouts; a full cluster restart (SIGTERM
#                  to all three, all started again). Producers retry with
#                  idempotence; it also prints how many Task messages were
#                  published more than once (outbox re-sends) next to
#                  duplicated=0 (applied more than once). A daemon that
#                  exits on a fatal Kafka client error (as it does by
#                  design, for Restart=on-failure) is started again here.
#   slow-consumer  tasks that run longer than max.poll.interval.ms, and a
#                  worker stopped (SIGSTOP) longer than the session timeout
#                  while it holds tasks: the group moves its partitions, the
#                  tasks run again elsewhere, the late results are stale; every
#                  execution succeeds with each task result applied once.
#   backpressure   1000 executions of one 20 ms test.sleep task on one worker
#                  with 2 threads: all finish, coordinator and worker RSS stay
#                  bounded (sampled from /proc/<pid>/status).
#
# Environment: CHAOS_EXECUTIONS (default 100; kafka 200), CHAOS_SECONDS (how
# long faults are injected, default 45; kafka 60), CHAOS_APPENDFSYNC
# (always|everysec, default always), CHAOS_SEED (random seed, default: time),
# CHAOS_REDIS_SIGNAL (KILL or TERM, default KILL), CHAOS_STALL_SECONDS (an
# execution counts as lost when nothing finished for this long, default 60),
# CHAOS_FAULTS (which faults, default "coordinator,worker,broker,redis"),
# CHAOS_KEEP=1 (keep the temporary directory).

import argparse
import collections
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "helpers"))
from stack import (Stack, common_args, die, image_info, is_sanitized, log, run_in_tmp,  # noqa: E402
                   png_bytes, start_message, wait_until)

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def env_int(name, default):
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def make_images(bucket, count, size=48):
    os.makedirs(os.path.join(bucket, "raw"), exist_ok=True)
    keys = []
    for i in range(count):
        key = "raw/p%d.png" % i
        with open(os.path.join(bucket, key), "wb") as f:
            f.write(png_bytes(size, size - 8, i))
        keys.append(key)
    return keys


def dump_logs(st, lines=30):
    for p in st.procs:
        if os.path.exists(p.logpath):
            print("--- %s (tail)" % os.path.basename(p.logpath))
            with open(p.logpath, errors="replace") as f:
                for line in f.readlines()[-lines:]:
                    print("    " + line.rstrip())


# ------------------------------------------------------------------ chaos

# The faults of the "kafka" scenario, in this order, one at a time.
KAFKA_PLAN = ["events-leader", "tasks-leader", "broker-pause", "cluster-restart"]


def run_chaos(args, tmp, scenario="chaos"):
    plan = list(KAFKA_PLAN) if scenario == "kafka" else None
    # The kafka plan's four faults, each after the previous one recovered,
    # take about 50 s: its load runs for 60.
    n = env_int("CHAOS_EXECUTIONS", 200 if plan else 100)
    seconds = env_int("CHAOS_SECONDS", 60 if plan else 45)
    seed = env_int("CHAOS_SEED", int(time.time()))
    fsync = os.environ.get("CHAOS_APPENDFSYNC", "always")
    redis_sig = signal.SIGTERM if os.environ.get("CHAOS_REDIS_SIGNAL", "KILL") == "TERM" else signal.SIGKILL
    rnd = random.Random(seed)
    # redis-rollback (not in the default mix): the last second of Redis
    # writes is lost, as in a host crash with appendfsync everysec.
    kinds = [k for k in ["coordinator", "coordinator", "worker", "worker", "broker", "redis", "redis-rollback"]
             if k in os.environ.get("CHAOS_FAULTS", "coordinator,worker,broker,redis").split(",")]
    log("%s: executions=%d seconds=%d seed=%d appendfsync=%s" % (scenario, n, seconds, seed, fsync))

    st = Stack(args, tmp, brokers=3, appendfsync=fsync)
    try:
        st.start_infra()
        # librdkafka 2.0.2's mock cluster aborts (rd_kafka_mock_cgrp_member_add:
        # assertion `!member->resp') when a member joins again while its
        # earlier JoinGroup is still unanswered, which a group coordinator
        # broker going down in the middle of a rebalance brings about. The
        # consumer groups' coordinator stays on broker 1, which is never taken
        # down here; brokers 2.. still go down under partition leaders. A real
        # cluster moves the group coordinator; the mock cannot survive it.
        for group in ("imgflow-coordinators", "imgflow-workers"):
            st.kafka_command("coordinator group %s 1" % group)
        st.write_config()
        rc, out = st.register("chaos", os.path.join(args.srcdir, "tests/integration/chaos/pipeline.asl.json"))
        if rc != 0:
            die("register: " + out)
        keys = make_images(st.bucket, 20)
        for _ in range(2):
            st.add_coordinator()
            st.add_worker(threads=2)

        names = ["c%d" % i for i in range(n)]
        inputs = {name: {"bucket": "photos", "key": keys[i % len(keys)]} for i, name in enumerate(names)}
        ids = ["chaos:" + name for name in names]

        # Jobs go out in batches over the first 2/3 of the fault window, so
        # executions start while things break.
        # (The kafka plan: over the whole window, so that each fault meets
        # executions starting.)
        batches = 20 if plan else 10
        per = (n + batches - 1) // batches
        produce_every = max(seconds * (1 if plan else 2 / 3) / batches, 0.5)
        producers = []
        kills = restarts = 0
        counts = collections.Counter()
        start = time.monotonic()
        next_batch = start
        next_fault = start + rnd.uniform(2, 4)
        pending_restart = []          # (when, callable, label)
        threads = []                  # brokers being started
        kafka_log = []                # what the kafka plan saw
        fatal_restarts = []           # daemons started again after a fatal Kafka error
        down = set()                  # brokers down now
        sent = 0
        while True:
            now = time.monotonic()
            restart_on_failure(st, fatal_restarts)
            if sent < n and now >= next_batch:
                batch = names[sent:sent + per]
                lines = [start_message("chaos", x, inputs[x]) for x in batch]
                producers.append((st.produce("imgflow.jobs", lines, wait=False), lines))
                sent += len(batch)
                next_batch = now + produce_every
            for item in [x for x in pending_restart if x[0] <= now]:
                pending_restart.remove(item)
                item[1]()
                restarts += 1
                log("restart: " + item[2])
            if now - start >= seconds and not plan:
                if sent >= n and not pending_restart and not down:
                    break
            elif now >= next_fault and (plan is None or (plan and not down)):
                action = plan.pop(0) if plan is not None else rnd.choice(kinds)
                counts[action] += 1
                if action in ("events-leader", "tasks-leader"):
                    topic = "imgflow.events" if action == "events-leader" else "imgflow.tasks"
                    b = st.leader(topic, 0)
                    down.add(b)
                    st.kill_broker(b)
                    kills += 1
                    t0 = time.monotonic()
                    moved = wait_until(lambda: leader_or_none(st, topic, 0) not in (None, b), 30)
                    what = "SIGKILL broker %d, the leader of %s [0]: %s" % (
                        b, topic, "leader %d after %.1f s" % (leader_or_none(st, topic, 0), time.monotonic() - t0)
                        if moved else "no new leader within 30 s")
                    log(what)
                    kafka_log.append(what)
                    if not moved:
                        die(what)
                    pending_restart.append((time.monotonic() + 3, broker_starter(st, b, down, threads),
                                            "broker %d" % b))
                elif action == "broker-pause":
                    b = st.leader("imgflow.jobs", 0)
                    down.add(b)
                    st.local_stack("kill", "kafka-%d" % b, "STOP")
                    what = "SIGSTOP broker %d (leader of imgflow.jobs [0]) for 9 s, past the brokers' " \
                           "session timeout (3 s) and the consumers' (6 s)" % b
                    log(what)
                    kafka_log.append(what)

                    def cont(b=b):
                        st.local_stack("kill", "kafka-%d" % b, "CONT")
                        down.discard(b)
                    pending_restart.append((now + 9, cont, "SIGCONT broker %d" % b))
                elif action == "cluster-restart":
                    down.update(range(1, st.brokers + 1))
                    what = "full cluster restart: SIGTERM to all %d brokers, then all started again" % st.brokers
                    log(what)
                    kafka_log.append(what)
                    kills += st.brokers

                    def restart_all():
                        ts = [threading.Thread(target=st.kill_broker, args=(b, "TERM"))
                              for b in range(1, st.brokers + 1)]
                        for t in ts:
                            t.start()
                        for t in ts:
                            t.join()
                        ts = [threading.Thread(target=broker_starter(st, b, down, threads))
                              for b in range(1, st.brokers + 1)]
                        for t in ts:
                            t.start()
                    t = threading.Thread(target=restart_all)
                    t.start()
                    threads.append(t)
                elif action in ("coordinator", "worker"):
                    procs = st.coordinators if action == "coordinator" else st.workers
                    live = [p for p in procs if p.alive()]
                    if live:
                        p = rnd.choice(live)
                        p.kill(signal.SIGKILL)
                        kills += 1
                        log("SIGKILL " + p.name)
                        pending_restart.append((now + rnd.uniform(0.2, 3), p.start, p.name))
                elif action == "broker":
                    # One broker down at a time: with 3 brokers and
                    # min.insync.replicas 2, two down would stop every
                    # acks=all produce (by design). The mock never takes
                    # broker 1 down (see above).
                    first = 2 if st.kafka == "mock" else 1
                    up = [b for b in range(first, st.brokers + 1) if b not in down]
                    if up and not down:
                        b = rnd.choice(up)
                        down.add(b)
                        st.kill_broker(b)
                        log("broker %d down (SIGKILL)" % b)

                        pending_restart.append((now + rnd.uniform(2, 5), broker_starter(st, b, down, threads),
                                                "broker %d up" % b))
                elif action == "redis-rollback":
                    log("redis-server: losing the last second of writes (host crash with everysec)")
                    kills += 1
                    if not st.rollback_redis(1.0):
                        die("redis-server did not come back")
                    restarts += 1
                    log("restart: redis-server from the older data")
                else:
                    log("redis-server %s" % ("SIGKILL" if redis_sig == signal.SIGKILL else "SIGTERM"))
                    kills += 1
                    if not st.restart_redis(redis_sig, down_seconds=rnd.uniform(0.2, 2)):
                        die("redis-server did not come back")
                    restarts += 1
                    log("restart: redis-server")
                next_fault = now + (6 if plan is not None else rnd.uniform(2, 5))
            time.sleep(0.05)
        for t in list(threads):
            t.join(timeout=120)
        if plan is not None:
            # Everything after the faults runs on all brokers again.
            if not wait_until(lambda: not down, 60):
                die("brokers %s not back" % sorted(down))
        log("faults over: %s; waiting for executions" % dict(counts))
        # kcat gives up when every broker is down (the kafka plan's full
        # restart): the load generator, as any client would, sends that batch
        # again. A StartExecution of a name that exists starts nothing new.
        resent = 0
        for p, lines in producers:
            try:
                rc = p.wait(timeout=120)
            except Exception:
                p.kill()
                rc = None
            if rc != 0:
                log("a kcat producer exited with %s: its %d jobs sent again" % (rc, len(lines)))
                if st.produce("imgflow.jobs", lines) != 0:
                    die("could not send the jobs again")
                resent += len(lines)
        # Wait while executions keep finishing: "lost" means no progress for
        # CHAOS_STALL_SECONDS (60), not merely slow (at most CHAOS_SETTLE_SECONDS, 200).
        settle_start = time.monotonic()
        settle_end = settle_start + env_int("CHAOS_SETTLE_SECONDS", 200)
        stall = env_int("CHAOS_STALL_SECONDS", 60)
        pending, last_progress = list(ids), time.monotonic()
        while pending and time.monotonic() < settle_end:
            restart_on_failure(st, fatal_restarts)
            left = st.wait_terminal(pending, timeout=5)
            if len(left) < len(pending):
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > stall:
                break
            pending = left
        log("settled after %.0f s with %d executions not terminal" % (time.monotonic() - settle_start,
                                                                       len(pending)))

        # ---- checks
        lost, duplicated, failed = [], [], []
        for i, eid in enumerate(ids):
            s = st.status(eid)
            if s is None:
                lost.append((eid, "no execution in Redis"))
                continue
            if s not in TERMINAL:
                lost.append((eid, "still " + s))
                continue
            if s != "SUCCEEDED":
                failed.append((eid, s, st.redis.exec_field(eid, "error"), st.redis.exec_field(eid, "cause")))
            hist = st.redis.history(eid)
            succ = sum(1 for e in hist if e["type"] == "TaskSucceeded")
            exits = collections.Counter(e.get("stateExitedEventDetails", {}).get("name")
                                        for e in hist if e["type"].endswith("StateExited"))
            twice = [k for k, v in exits.items() if v > 1]
            if succ > 4 or twice:
                duplicated.append((eid, "TaskSucceeded=%d, exited twice: %s" % (succ, twice)))

        # Output files: three per execution, valid images, nothing else. Their
        # keys follow docs/image-operations.md ("Output keys"): the Parallel
        # branch in the state's component, a tag of the input and parameters,
        # and Optimize's key made from the original object's key, not nested
        # under Resize's.
        files = []
        for root, _, fs in os.walk(st.bucket):
            files += [os.path.relpath(os.path.join(root, f), st.bucket) for f in fs]
        bad_files = []
        expected = set()
        for name in names:
            if st.status("chaos:" + name) != "SUCCEEDED":
                continue
            base = re.escape(os.path.splitext(inputs[name]["key"])[0])
            for state in ("Resize@0", "Filter@1", "Optimize"):
                pattern = r"processed/%s/%s/%s\.[0-9a-f]{8}\.png" % (re.escape(name), re.escape(state), base)
                found = [f for f in files if re.fullmatch(pattern, f)]
                if len(found) != 1:
                    bad_files.append((pattern, "%d files match" % len(found)))
                    continue
                expected.add(found[0])
                if not image_info(os.path.join(st.bucket, found[0])):
                    bad_files.append((found[0], "not a valid image"))
        stray, temps = [], []
        for rel in files:
            f = os.path.basename(rel)
            if rel.startswith("raw/"):
                continue
            if f.startswith(".") and ".tmp-" in f:
                temps.append(rel)     # a worker killed between writing and renaming
            elif rel not in expected:
                stray.append(rel)
        # Workers write into an unnamed O_TMPFILE named only right before the
        # rename (worker/storage.c), so none should be left; a filesystem
        # without O_TMPFILE falls back to named files. Fatal with CHAOS_STRICT_TEMP=1.
        strict_temp = bool(os.environ.get("CHAOS_STRICT_TEMP"))

        # Notifications: a terminal ExecutionStatusChanged per execution. They
        # are at least once: one committed by a coordinator killed before its
        # broker acknowledged it is re-sent by the outbox sweeper (every few
        # seconds, items older than 10 s), so allow that long before judging.
        deadline = time.time() + float(os.environ.get("CHAOS_NOTIFY_WAIT_SECONDS", "45"))
        while True:
            notes = st.consume("imgflow.notifications")
            seen = collections.Counter()
            for _, m in notes:
                if isinstance(m, dict) and m.get("type") == "ExecutionStatusChanged" and m.get("status") in TERMINAL:
                    if m.get("id") == "%s#%s" % (m.get("executionId"), m.get("status")):
                        seen[m["executionId"]] += 1
            unnotified = [eid for eid in ids if st.status(eid) in TERMINAL and seen[eid] == 0]
            if not unnotified or time.time() > deadline:
                break
            time.sleep(3)
        dup_notes = sum(v - 1 for v in seen.values() if v > 1)
        dlq = st.consume("imgflow.dlq")

        # ---- report
        restart_on_failure(st, fatal_restarts)
        alive = [p.name for p in st.coordinators + st.workers if not p.alive()]
        print("faults: %s" % dict(counts))
        if resent:
            print("jobs sent again by the load generator: %d" % resent)
        if plan is not None:
            # Idempotent producers: a retry after a leader change is not
            # written twice. A task published twice can only be an outbox
            # re-send (after 10 s without a delivery report).
            tasks = collections.Counter((m.get("executionId"), m.get("taskId"), m.get("attempt"))
                                        for _, m in st.consume("imgflow.tasks")
                                        if isinstance(m, dict) and m.get("type") == "Task")
            print("task messages: %d, published more than once: %d" %
                  (sum(tasks.values()), sum(1 for v in tasks.values() if v > 1)))
        for what in kafka_log:
            print("kafka: " + what)
        for name in fatal_restarts:
            print("started again after a fatal Kafka client error (Restart=on-failure): " + name)
        print("notifications: %d terminal, %d redelivered duplicates (dropped by id)" %
              (sum(seen.values()), dup_notes))
        print("dead letters: %d" % len(dlq))
        if lost:
            print("lost: %d never existed in Redis, %d still RUNNING" %
                  (sum(1 for _, why in lost if why.startswith("no execution")),
                   sum(1 for _, why in lost if why.startswith("still"))))
        for what, items in (("lost", lost), ("duplicated", duplicated), ("failed", failed),
                            ("bad output", bad_files), ("stray file", stray[:20]),
                            ("temporary file left (known issue)", temps[:20]),
                            ("no notification", unnotified[:20]), ("dead daemon", alive)):
            for it in items[:20]:
                print("  %s: %s" % (what, it))
        for eid, _ in lost[:8]:    # where the lost ones stopped
            hist = st.redis.history(eid)
            print("  %s: history ends %s; outbox %s; pending %s" % (
                eid, [(e["type"], e.get("timestamp", "")[11:23]) for e in hist[-3:]],
                st.redis.call("HKEYS", "imgflow:{%s}:outbox" % eid),
                st.redis.call("ZSCORE", "imgflow:outbox-pending", eid)))
        for eid, why in lost[:2]:  # the whole story of the first ones still RUNNING
            if not why.startswith("still"):
                continue
            print("  %s: whole history:" % eid)
            for e in st.redis.history(eid):
                det = next((v for k, v in e.items() if k.endswith("EventDetails")), {})
                print("    %s %s prev %s %s %s" % (e.get("timestamp", "")[11:23], e.get("id"),
                                                 e.get("previousEventId"), e["type"],
                                                 det.get("name") or det.get("resource") or ""))
            print("  %s: document: %s" % (eid, str(st.redis.call("HGET", "imgflow:{%s}:exec" % eid,
                                                                      "doc"))[:1500]))
            for p in st.coordinators:  # what the coordinators said of it
                try:
                    said = [l.rstrip() for l in open(p.logpath, errors="replace") if eid + " " in l + " "]
                except OSError:
                    said = []
                for l in said[-10:]:
                    print("    %s: %s" % (p.name, l[:300]))
        if lost and shutil.which("gdb") and os.environ.get("CHAOS_GDB"):
            for p in st.coordinators:   # where a wedged coordinator waits
                if p.alive():
                    r = subprocess.run(["gdb", "-batch", "-p", str(p.pid), "-ex", "thread apply all bt 12"],
                                       capture_output=True, text=True, timeout=120)
                    print("--- %s (pid %d) stacks\n%s" % (p.name, p.pid, "\n".join(
                        l for l in r.stdout.splitlines() if l.startswith(("#", "Thread")))))
        ok = not (lost or duplicated or failed or bad_files or stray or unnotified or alive or
                  (strict_temp and temps))
        print("executions=%d kills=%d restarts=%d lost=%d duplicated=%d failed=%d bad_files=%d stray_files=%d "
              "temp_files=%d unnotified=%d appendfsync=%s seed=%d" %
              (n, kills, restarts, len(lost), len(duplicated), len(failed), len(bad_files), len(stray),
               len(temps), len(unnotified), fsync, seed), flush=True)
        if not ok:
            dump_logs(st)
        return 0 if ok else 1
    finally:
        st.close()


# A daemon's log line when a Kafka client of it failed for good (daemon/kafka.c).
FATAL_KAFKA_RE = re.compile(r"Kafka client \S+: fatal error \S+: .*; exiting")
START_MARK_RE = re.compile(r"^--- \d\d:\d\d:\d\d start \d+$", re.M)


def restart_on_failure(st, restarted):
    """What systemd's Restart=on-failure does for the daemons' units: a daemon
    that ended by itself with a non-zero status after a fatal Kafka client
    error (an idempotent producer whose sequence the broker refuses after a
    full cluster restart: the daemon exits by design, docs/configuration.md)
    is started again; its name goes to `restarted`, at most 5 times for one
    daemon (systemd's StartLimitBurst). Any other end (a crash, a sanitizer
    report) is left for the checks ("dead daemon")."""
    for p in st.coordinators + st.workers:
        if p.p is None or p.p.poll() is None or p.p.returncode <= 0 or restarted.count(p.name) >= 5:
            continue
        try:
            text = open(p.logpath, errors="replace").read()
        except OSError:
            continue
        marks = list(START_MARK_RE.finditer(text))
        text = text[marks[-1].end():] if marks else text
        if not FATAL_KAFKA_RE.search(text) or "Sanitizer" in text or "runtime error" in text:
            continue
        log("%s exited with status %d on a fatal Kafka client error: started again (Restart=on-failure)" %
            (p.name, p.p.returncode))
        restarted.append(p.name)
        p.start()


def leader_or_none(st, topic, partition):
    try:
        return st.leader(topic, partition)
    except (RuntimeError, ValueError):
        return None


def broker_starter(st, b, down, threads):
    """A callable that starts broker b again in a thread of its own (a
    broker's JVM takes seconds: not in the fault loop's way)."""
    def up():
        st.start_broker(b)
        down.discard(b)

    def start():
        t = threading.Thread(target=up)
        t.start()
        threads.append(t)
    return start


# ------------------------------------------------------------------ slow consumer

SLOW_DEF = """{
  "StartAt": "Sleep",
  "States": {
    "Sleep": {"Type": "Task", "Resource": "imgflow:test.sleep",
              "Parameters": {"ms.$": "$.ms"}, "ResultPath": "$.slept", "Next": "Echo"},
    "Echo": {"Type": "Task", "Resource": "imgflow:test.echo", "End": true}
  }
}"""


def run_slow(args, tmp):
    st = Stack(args, tmp, partitions=4, extra_conf="max.poll.interval.ms = 7000\n")
    try:
        st.start_infra()
        # librdkafka 2.0.2's mock cluster aborts (rd_kafka_mock_cgrp_member_add:
        # assertion `!member->resp') when a member joins again while its
        # earlier JoinGroup is still unanswered, which a group coordinator
        # broker going down in the middle of a rebalance brings about. The
        # consumer groups' coordinator stays on broker 1, which is never taken
        # down here; brokers 2.. still go down under partition leaders. A real
        # cluster moves the group coordinator; the mock cannot survive it.
        for group in ("imgflow-coordinators", "imgflow-workers"):
            st.kafka_command("coordinator group %s 1" % group)
        st.write_config()
        path = os.path.join(tmp, "slow.asl.json")
        with open(path, "w") as f:
            f.write(SLOW_DEF)
        rc, out = st.register("slow", path)
        if rc != 0:
            die("register: " + out)
        st.add_coordinator()
        w0 = st.add_worker(threads=2)
        st.add_worker(threads=2)
        time.sleep(3)
        # Phase 1: tasks longer than max.poll.interval.ms (7 s).
        names = ["long%d" % i for i in range(4)] + ["short%d" % i for i in range(8)]
        msgs = [start_message("slow", x, {"ms": 9000 if x.startswith("long") else 50}) for x in names]
        st.produce("imgflow.jobs", msgs)
        # Phase 2: one worker frozen longer than the session timeout while it
        # holds tasks (running and queued).
        time.sleep(10)
        frozen = ["frozen%d" % i for i in range(8)]
        st.produce("imgflow.jobs", [start_message("slow", x, {"ms": 3000}) for x in frozen])
        time.sleep(1.5)
        log("SIGSTOP worker-0 for 10 s")
        os.kill(w0.pid, signal.SIGSTOP)
        time.sleep(10)
        os.kill(w0.pid, signal.SIGCONT)
        log("SIGCONT worker-0")
        ids = ["slow:" + x for x in names + frozen]
        pending = st.wait_terminal(ids, timeout=90)
        problems = []
        for eid in ids:
            s = st.status(eid)
            if s != "SUCCEEDED":
                problems.append("%s: %s %s" % (eid, s, st.redis.exec_field(eid, "error")))
                continue
            hist = st.redis.history(eid)
            succ = sum(1 for e in hist if e["type"] == "TaskSucceeded")
            if succ != 2:
                problems.append("%s: %d TaskSucceeded applied (expected 2)" % (eid, succ))
        time.sleep(4)   # late results of the frozen worker
        results = collections.Counter()
        for _, m in st.consume("imgflow.events"):
            if isinstance(m, dict) and m.get("type") == "TaskSucceeded":
                results[m["executionId"]] += 1
        redelivered = sorted(e for e in ids if results[e] > 2)
        for eid in ids:
            hist = st.redis.history(eid)
            succ = sum(1 for e in hist if e["type"] == "TaskSucceeded")
            if succ != 2:
                problems.append("%s: after late results %d TaskSucceeded applied" % (eid, succ))
        for p in st.coordinators + st.workers:
            if not p.alive():
                problems.append(p.name + " died")
        print("slow-consumer: executions=%d results published=%d applied=%d redelivered executions=%d pending=%d" %
              (len(ids), sum(results.values()), 2 * (len(ids) - len(problems)), len(redelivered), len(pending)))
        for p in problems:
            print("  " + p)
        if problems:
            dump_logs(st)
            return 1
        return 0
    finally:
        st.close()


# ------------------------------------------------------------------ backpressure

BP_DEF = """{
  "StartAt": "Sleep",
  "States": {
    "Sleep": {"Type": "Task", "Resource": "imgflow:test.sleep", "Parameters": {"ms": 20}, "End": true}
  }
}"""


def run_backpressure(args, tmp):
    n = env_int("BACKPRESSURE_EXECUTIONS", 1000)
    st = Stack(args, tmp, partitions=4)
    try:
        st.start_infra()
        # librdkafka 2.0.2's mock cluster aborts (rd_kafka_mock_cgrp_member_add:
        # assertion `!member->resp') when a member joins again while its
        # earlier JoinGroup is still unanswered, which a group coordinator
        # broker going down in the middle of a rebalance brings about. The
        # consumer groups' coordinator stays on broker 1, which is never taken
        # down here; brokers 2.. still go down under partition leaders. A real
        # cluster moves the group coordinator; the mock cannot survive it.
        for group in ("imgflow-coordinators", "imgflow-workers"):
            st.kafka_command("coordinator group %s 1" % group)
        st.write_config()
        path = os.path.join(tmp, "bp.asl.json")
        with open(path, "w") as f:
            f.write(BP_DEF)
        rc, out = st.register("bp", path)
        if rc != 0:
            die("register: " + out)
        c = st.add_coordinator()
        w = st.add_worker(threads=2, extra_env={"IMGFLOW_LOG_LEVEL": "debug"})  # pause/resume lines
        time.sleep(3)
        base = {"coordinator": c.rss_kb(), "worker": w.rss_kb()}
        names = ["b%d" % i for i in range(n)]
        t0 = time.monotonic()
        st.produce("imgflow.jobs", [start_message("bp", x, {"i": i}) for i, x in enumerate(names)])
        ids = ["bp:" + x for x in names]
        peak = dict(base)
        samples = 0
        end = time.monotonic() + 180
        while time.monotonic() < end:
            for name, p in (("coordinator", c), ("worker", w)):
                peak[name] = max(peak[name], p.rss_kb())
            samples += 1
            started = int(st.redis.call("ZCARD", "imgflow:executions") or 0)
            if started >= n and not st.wait_terminal(ids[-50:], timeout=0):
                if not st.wait_terminal(ids, timeout=0):
                    break
            time.sleep(0.5)
        elapsed = time.monotonic() - t0
        pending = st.wait_terminal(ids, timeout=5)
        starts, stops = [], []
        for e in ids:
            a, b = st.redis.exec_field(e, "startDate"), st.redis.exec_field(e, "stopDate")
            if a and b:
                starts.append(int(a))
                stops.append(int(b))
        if starts:
            t_min = min(starts)
            print("backpressure: last start after %.1f s, first end after %.1f s, last end after %.1f s, "
                  "mean execution time %.1f s" %
                  ((max(starts) - t_min) / 1000, (min(stops) - t_min) / 1000, (max(stops) - t_min) / 1000,
                   sum(b - a for a, b in zip(starts, stops)) / len(starts) / 1000))
        sanitized = is_sanitized(args.coordinator)
        limit_mb = env_int("BACKPRESSURE_RSS_LIMIT_MB", 600 if sanitized else 150)
        problems = []
        if pending:
            problems.append("%d executions not finished, e.g. %s" % (len(pending), pending[:5]))
        failed = [e for e in ids if st.status(e) not in (None, "RUNNING", "SUCCEEDED")]
        if failed:
            problems.append("%d executions not SUCCEEDED, e.g. %s" % (len(failed), failed[:5]))
        for name in peak:
            if peak[name] > limit_mb * 1024:
                problems.append("%s RSS peaked at %d MiB (limit %d MiB)" % (name, peak[name] // 1024, limit_mb))
        for p in (c, w):
            if not p.alive():
                problems.append(p.name + " died")
        wlog = open(w.logpath, errors="replace").read()
        paused = "%d pauses, %d resumes" % (wlog.count("paused consuming"), wlog.count("resumed consuming"))
        print("backpressure: executions=%d in %.1fs, samples=%d, RSS start/peak: coordinator %d/%d KiB, "
              "worker %d/%d KiB (limit %d MiB%s), worker paused consuming: %s" %
              (n, elapsed, samples, base["coordinator"], peak["coordinator"], base["worker"], peak["worker"],
               limit_mb, ", sanitizer build" if sanitized else "", paused))
        for p in problems:
            print("  " + p)
        if problems:
            dump_logs(st)
            return 1
        return 0
    finally:
        st.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=["chaos", "kafka", "slow-consumer", "backpressure"])
    common_args(ap)
    args = ap.parse_args()
    if args.scenario == "kafka" and os.environ.get("STACK_KAFKA") == "mock":
        print("the kafka scenario needs Apache Kafka (not STACK_KAFKA=mock): skipped")
        return 77
    run = {"chaos": run_chaos, "kafka": lambda a, t: run_chaos(a, t, "kafka"), "slow-consumer": run_slow,
           "backpressure": run_backpressure}[args.scenario]
    return run_in_tmp(args, "imgflow-%s." % args.scenario, run)


if __name__ == "__main__":
    sys.exit(main())
