#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""CPU time of processes and their threads, from /proc, for the benchmarks.

    cpu-sample.py snap NAME=PID... > snap.json
        A snapshot: per process utime + stime (/proc/<pid>/stat, in clock
        ticks, exited threads included) and voluntary + involuntary context
        switches; per thread the nanoseconds on a CPU (/proc/<pid>/task/<tid>/
        schedstat) and the thread's name, so a difference names the thread
        that spent it (rdk:broker1, rdk:main, a pool thread, ...).

    cpu-sample.py diff A.json B.json > diff.json
        B - A: per process CPU seconds and context switches, per thread name
        (threads of one name summed) CPU seconds and wakeups; with the
        seconds between the snapshots, so % of a core = 100 * cpu / seconds.

    cpu-sample.py watch INTERVAL OUT.jsonl NAME=PID...
        Until SIGTERM: every INTERVAL seconds one line {"t": unix seconds,
        "cpu": {NAME: CPU seconds so far}} (utime + stime). The benchmarks
        use it to see when each worker was busy.

    cpu-sample.py busy OUT.jsonl T0 T1 [THRESHOLD]
        From a watch file: per NAME, the CPU seconds between unix times T0
        and T1 and the last moment it was busy (an interval in which it used
        more than THRESHOLD of a core, default 0.5), and the tail: T1 minus
        the earliest of those last busy moments (how long the batch ran on
        after the first process ran out of work).

Only /proc is read; no process is signalled.
"""
import json
import os
import signal
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    """utime + stime in seconds (exited threads included)."""
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): utime is field 14, stime 15.
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_switches(pid):
    v = n = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                v = int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                n = int(line.split()[1])
    return v, n


def threads(pid):
    out = {}
    base = "/proc/%d/task" % pid
    try:
        tids = os.listdir(base)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("%s/%s/comm" % (base, tid)) as f:
                name = f.read().strip()
            with open("%s/%s/schedstat" % (base, tid)) as f:
                run_ns, _wait_ns, slices = (int(x) for x in f.read().split())
        except (OSError, ValueError):
            continue
        out[tid] = {"name": name, "ns": run_ns, "slices": slices}
    return out


def snap(named):
    res = {"t": time.time(), "procs": {}}
    for name, pid in named:
        try:
            v, n = proc_switches(pid)
            res["procs"][name] = {"pid": pid, "cpu": proc_cpu(pid), "voluntary": v, "involuntary": n,
                                  "threads": threads(pid)}
        except OSError:
            res["procs"][name] = {"pid": pid, "gone": True}
    return res


def diff(a, b):
    secs = b["t"] - a["t"]
    out = {"seconds": round(secs, 3), "procs": {}}
    for name, pb in b["procs"].items():
        pa = a["procs"].get(name)
        if not pa or pa.get("gone") or pb.get("gone") or pa["pid"] != pb["pid"]:
            continue
        by_name = {}
        for tid, tb in pb["threads"].items():
            ta = pa["threads"].get(tid, {"ns": 0, "slices": 0})
            e = by_name.setdefault(tb["name"], {"cpu": 0.0, "slices": 0, "threads": 0})
            e["cpu"] += (tb["ns"] - ta["ns"]) / 1e9
            e["slices"] += tb["slices"] - ta["slices"]
            e["threads"] += 1
        for e in by_name.values():
            e["cpu"] = round(e["cpu"], 4)
            e["percentOfCore"] = round(100 * e["cpu"] / secs, 3) if secs > 0 else 0
            e["slicesPerSecond"] = round(e["slices"] / secs, 1) if secs > 0 else 0
        cpu = pb["cpu"] - pa["cpu"]
        sw = (pb["voluntary"] - pa["voluntary"]) + (pb["involuntary"] - pa["involuntary"])
        out["procs"][name] = {
            "cpu": round(cpu, 3),
            "percentOfCore": round(100 * cpu / secs, 3) if secs > 0 else 0,
            "threadsCpu": round(sum(e["cpu"] for e in by_name.values()), 4),
            "switchesPerSecond": round(sw / secs, 1) if secs > 0 else 0,
            "threads": dict(sorted(by_name.items(), key=lambda kv: -kv[1]["cpu"])),
        }
    return out


def parse_named(args):
    named = []
    for a in args:
        name, _, pid = a.partition("=")
        named.append((name, int(pid)))
    return named


def watch(interval, path, named):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    with open(path, "a") as f:
        while not stop:
            line = {"t": time.time(), "cpu": {}}
            for name, pid in named:
                try:
                    line["cpu"][name] = proc_cpu(pid)
                except OSError:
                    pass
            f.write(json.dumps(line) + "\n")
            f.flush()
            time.sleep(interval)


def busy(path, t0, t1, threshold):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    names = sorted({n for r in rows for n in r["cpu"]})
    out = {"t0": t0, "t1": t1, "procs": {}}
    for n in names:
        pts = [(r["t"], r["cpu"][n]) for r in rows if n in r["cpu"]]
        inside = [p for p in pts if t0 <= p[0] <= t1]
        if len(inside) < 2:
            continue
        last_busy = None
        for (ta, ca), (tb, cb) in zip(inside, inside[1:]):
            if tb > ta and (cb - ca) / (tb - ta) > threshold:
                last_busy = tb
        out["procs"][n] = {"cpu": round(inside[-1][1] - inside[0][1], 3),
                           "lastBusy": round(last_busy - t0, 3) if last_busy else None}
    ends = [p["lastBusy"] for p in out["procs"].values() if p["lastBusy"] is not None]
    out["seconds"] = round(t1 - t0, 3)
    out["tailSeconds"] = round((t1 - t0) - min(ends), 3) if ends else None
    return out


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = sys.argv[1]
    if cmd == "snap":
        json.dump(snap(parse_named(sys.argv[2:])), sys.stdout)
    elif cmd == "diff":
        a, b = (json.load(open(p)) for p in sys.argv[2:4])
        json.dump(diff(a, b), sys.stdout, indent=1)
    elif cmd == "watch":
        watch(float(sys.argv[2]), sys.argv[3], parse_named(sys.argv[4:]))
    elif cmd == "busy":
        thr = float(sys.argv[5]) if len(sys.argv) > 5 else 0.5
        json.dump(busy(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), thr), sys.stdout)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
