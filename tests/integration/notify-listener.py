#!/usr/bin/env python3
# A fake NOTIFY_SOCKET for tests: binds one AF_UNIX datagram socket per
# SOCKET=LOG pair and appends every line of every datagram (READY=1,
# STATUS=..., WATCHDOG=1, STOPPING=1, RELOADING=1, MAINPID=...) to the LOG,
# one per line, as sd_notify(3) sends them. Runs until killed.
#
#   notify-listener.py /tmp/x/coordinator.sock=/tmp/x/coordinator.notify ...
import os
import select
import socket
import sys

socks = {}
for arg in sys.argv[1:]:
    path, _, log = arg.partition("=")
    if not path or not log:
        sys.exit("usage: notify-listener.py SOCKET=LOG...")
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    socks[s] = open(log, "a", buffering=1)

while True:
    ready, _, _ = select.select(list(socks), [], [])
    for s in ready:
        data = s.recv(65536)
        f = socks[s]
        for line in data.decode(errors="replace").splitlines():
            f.write(line + "\n")
