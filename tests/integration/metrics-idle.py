#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Idle connections against a /metrics endpoint (daemon/metrics.c).

    metrics-idle.py PORT [--count 300] [--peer 127.0.0.2] [--close-within S]

Opens COUNT connections to 127.0.0.1:PORT from the loopback address PEER and
keeps them idle (half send nothing, half the start of a request head and no
more). While they are open, a scrape from 127.0.0.1 and one from PEER itself
must each answer 200 with an exposition. Then every idle connection must be
closed by the server within S seconds (the request timeout plus slack).
Loopback only; bounded in count and time. Exit 0 when all holds.
"""

import argparse
import errno
import selectors
import socket
import sys
import time


def scrape(port, source, timeout=3.0):
    """(seconds, first line, body) of GET /metrics from address `source`."""
    t0 = time.monotonic()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError as e:
        return time.monotonic() - t0, "error: %s" % e, ""
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    first = head.split(b"\r\n", 1)[0].decode(errors="replace") if data else "(closed without an answer)"
    return time.monotonic() - t0, first, body.decode(errors="replace")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--peer", default="127.0.0.2")
    ap.add_argument("--close-within", type=float, default=5.0)
    a = ap.parse_args()
    failed = False

    # ---- COUNT idle connections from PEER (non-blocking connects).
    idle = []
    for i in range(a.count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((a.peer, 0))
        s.setblocking(False)
        err = s.connect_ex(("127.0.0.1", a.port))
        if err not in (0, errno.EINPROGRESS):
            print("FAIL: connect %d: %s" % (i, errno.errorcode.get(err, err)))
            return 1
        idle.append(s)
    sel = selectors.DefaultSelector()
    for s in idle:
        sel.register(s, selectors.EVENT_WRITE)
    pending, deadline = len(idle), time.monotonic() + 10
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            sel.unregister(key.fileobj)
            pending -= 1
    sel.close()
    if pending:
        print("FAIL: %d of %d connections not established in 10 s" % (pending, a.count))
        return 1
    for i, s in enumerate(idle):
        if i % 2:
            try:
                s.send(b"GET /metr")
            except OSError:
                pass  # already closed by the server: allowed
    t_open = time.monotonic()
    print("ok   %d idle connections from %s open" % (a.count, a.peer))

    # ---- scrapes while they are open
    for source in ("127.0.0.1", a.peer):
        secs, first, body = scrape(a.port, source)
        if first.startswith("HTTP/1.0 200") and "# TYPE " in body:
            print("ok   scrape from %s with %d idle connections open: %s in %.3f s"
                  % (source, a.count, first, secs))
        else:
            print("FAIL: scrape from %s with %d idle connections open: %s (%.3f s)"
                  % (source, a.count, first, secs))
            failed = True

    # ---- every idle connection is closed by the server in time
    sel = selectors.DefaultSelector()
    for s in idle:
        sel.register(s, selectors.EVENT_READ)
    open_ = len(idle)
    closed_at = []
    deadline = t_open + a.close_within
    while open_ and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            try:
                data = key.fileobj.recv(4096)
            except ConnectionResetError:
                data = b""
            except BlockingIOError:
                continue
            if data:
                # An answer (408/431) before the close is fine; wait for EOF.
                continue
            sel.unregister(key.fileobj)
            closed_at.append(time.monotonic() - t_open)
            open_ -= 1
    sel.close()
    elapsed = time.monotonic() - t_open
    if open_:
        print("FAIL: %d of %d idle connections still open %.1f s after they were opened"
              % (open_, a.count, elapsed))
        failed = True
    else:
        early = sum(1 for t in closed_at if t < 0.5)
        print("ok   every idle connection closed by the server: %d at once (replaced), the last "
              "%d after %.1f s (request timeout)" % (early, a.count - early, max(closed_at)))
    for s in idle:
        s.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
