#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The fields of the journal entries a daemon sends, read from a journal
socket this test creates.

The daemon runs in a user and mount namespace of its own (unshare -rm) where
a directory of the test is bind-mounted over /run, so its
/run/systemd/journal/socket is the test's datagram socket. Each datagram is
one entry in journald's native protocol (KEY=value lines, or KEY, a 64-bit
little-endian length and the bytes for values with a newline). Every entry
must carry CODE_FILE, CODE_LINE and CODE_FUNC exactly once, naming the
caller rather than daemon/log.c, and its MESSAGE, PRIORITY and
SYSLOG_IDENTIFIER.

    journal-fields.py WORKER

Exits 77 (skipped) where user namespaces are not allowed.
"""
import os
import socket
import struct
import subprocess
import sys
import tempfile


def parse_entry(data):
    """journald's native protocol -> list of (key, value) in order."""
    fields = []
    i = 0
    while i < len(data):
        nl = data.find(b"\n", i)
        if nl < 0:
            nl = len(data)
        line = data[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            fields.append((k.decode(), v.decode(errors="replace")))
            i = nl + 1
        else:
            (n,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            v = data[nl + 9:nl + 9 + n]
            fields.append((line.decode(), v.decode(errors="replace")))
            i = nl + 9 + n + 1
    return fields


def main():
    worker = sys.argv[1]
    if subprocess.run(["unshare", "-rm", "true"], stderr=subprocess.DEVNULL).returncode != 0:
        print("SKIP: no user and mount namespaces here")
        return 77
    fails = []
    with tempfile.TemporaryDirectory(prefix="imgflow-journal.") as t:
        jdir = os.path.join(t, "run", "systemd", "journal")
        os.makedirs(jdir)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(os.path.join(jdir, "socket"))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        conf = os.path.join(t, "imgflow.conf")
        with open(conf, "w") as f:
            f.write("[worker]\nthreads = 100000\n")
        # --check-config refuses the thread count: one error entry.
        p = subprocess.run(
            ["unshare", "-rm", "sh", "-c", 'mount --bind "$0" /run && exec "$@"',
             os.path.join(t, "run"), worker, "--config", conf, "--log-target=journal",
             "--check-config"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        if p.returncode == 0:
            fails.append("the worker accepted worker.threads = 100000")
        sock.setblocking(False)
        entries = []
        while True:
            try:
                entries.append(parse_entry(sock.recv(1 << 20)))
            except BlockingIOError:
                break
        if not entries:
            fails.append("no journal entry received (stderr: %r)" % p.stderr.decode())
        for e in entries:
            keys = [k for k, _ in e]
            d = dict(e)
            what = "entry %r" % d.get("MESSAGE")
            for k in ("CODE_FILE", "CODE_LINE", "CODE_FUNC"):
                if keys.count(k) != 1:
                    fails.append("%s: %s %d times: %r" % (what, k, keys.count(k),
                                                          [v for kk, v in e if kk == k]))
            for k in ("MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER"):
                if keys.count(k) != 1:
                    fails.append("%s: %s %d times" % (what, k, keys.count(k)))
            if d.get("CODE_FILE", "").endswith("daemon/log.c"):
                fails.append("%s: CODE_FILE is the logger's own: %s" % (what, d["CODE_FILE"]))
            print("entry:", " ".join("%s=%s" % kv for kv in e if kv[0] != "MESSAGE"),
                  "MESSAGE=%s" % d.get("MESSAGE"))
        if not any("threads" in dict(e).get("MESSAGE", "") and dict(e).get("PRIORITY") == "3"
                   for e in entries):
            fails.append("no error entry about worker.threads")
    for f in fails:
        print("FAIL:", f)
    if fails:
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
