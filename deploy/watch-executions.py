#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Follow executions on the notifications topic until they have all finished.

    watch-executions.py --bootstrap HOST:PORT --ids FILE [--timeout SEC]
                        [--topic imgflow.notifications] [--json OUT] [--quiet]

FILE lists execution ids ("<stateMachine>:<name>"), one per line. Reads
ExecutionStatusChanged messages with kcat from the beginning of the topic,
shows progress on stderr, and writes one JSON object per finished execution
to OUT ({"executionId", "status", "startDate", "stopDate", "output"?,
"error"?, "cause"?, "seenAtMs"}). Exit status: 0 when every execution has
finished (whatever its status), 1 on timeout, 2 on a usage error.
"""
import argparse
import json
import os
import selectors
import subprocess
import sys
import time

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--ids", required=True)
    ap.add_argument("--topic", default="imgflow.notifications")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--json")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()

    with open(a.ids) as f:
        want = {l.strip() for l in f if l.strip()}
    if not want:
        return 0
    done = {}
    counts = {}
    tty = sys.stderr.isatty()
    kcat = subprocess.Popen(
        ["kcat", "-C", "-b", a.bootstrap, "-t", a.topic, "-o", "beginning", "-u", "-q",
         "-f", "%s\\n"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    sel = selectors.DefaultSelector()
    sel.register(kcat.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + a.timeout
    last_shown = 0.0
    buf = b""

    def show(final=False):
        nonlocal last_shown
        if a.quiet:
            return
        now = time.monotonic()
        if not final and now - last_shown < (0.2 if tty else 2.0):
            return
        last_shown = now
        parts = ", ".join("%d %s" % (n, s.lower()) for s, n in sorted(counts.items()))
        line = "  %d/%d finished%s" % (len(done), len(want), (" (" + parts + ")") if parts else "")
        sys.stderr.write(("\r" + line + "\033[K") if tty else line + "\n")
        if final and tty:
            sys.stderr.write("\n")
        sys.stderr.flush()

    try:
        while len(done) < len(want):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for _ in sel.select(timeout=min(left, 0.5)):
                chunk = os.read(kcat.stdout.fileno(), 1 << 16)
                if not chunk:
                    left = 0
                    break
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    try:
                        m = json.loads(line)
                    except ValueError:
                        continue
                    if not isinstance(m, dict) or m.get("type") != "ExecutionStatusChanged":
                        continue
                    eid, st = m.get("executionId"), m.get("status")
                    if eid in want and st in TERMINAL and eid not in done:
                        m["seenAtMs"] = int(time.time() * 1000)
                        done[eid] = m
                        counts[st] = counts.get(st, 0) + 1
            if kcat.poll() is not None and not buf:
                break
            show()
    finally:
        kcat.terminate()
        try:
            kcat.wait(timeout=5)
        except subprocess.TimeoutExpired:
            kcat.kill()
            kcat.wait()
    show(final=True)
    if a.json:
        with open(a.json, "w") as f:
            for eid in sorted(done):
                m = done[eid]
                f.write(json.dumps({k: m[k] for k in ("executionId", "status", "startDate", "stopDate",
                                                      "output", "error", "cause", "seenAtMs") if k in m}) + "\n")
    if len(done) < len(want):
        missing = sorted(want - set(done))
        sys.stderr.write("timed out: %d of %d executions not finished (first: %s)\n"
                         % (len(missing), len(want), ", ".join(missing[:5])))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
