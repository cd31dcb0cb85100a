#!/usr/bin/env python3
# Writes the test images of test-worker.sh without any image library: a valid
# 64x48 RGB PNG (a gradient), and a "corrupt" PNG (valid signature and IHDR,
# then garbage where the image data should be).
#   worker-make-images.py DIR
import struct, sys, zlib, os

def chunk(kind, data):
    c = struct.pack(">I", len(data)) + kind + data
    return c + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)

def png(w, h):
    raw = bytearray()
    for y in range(h):
        raw.append(0)  # filter: none
        for x in range(w):
            raw += bytes((x * 4 % 256, y * 5 % 256, (x + y) * 2 % 256))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
            chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b""))

d = sys.argv[1]
os.makedirs(os.path.join(d, "raw"), exist_ok=True)
good = png(64, 48)
open(os.path.join(d, "raw", "good.png"), "wb").write(good)
bad = good[:33] + chunk(b"IDAT", b"this is not zlib data at all" * 4) + chunk(b"IEND", b"")
open(os.path.join(d, "raw", "corrupt.png"), "wb").write(bad)
