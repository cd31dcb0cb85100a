#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The outputs of examples/image-pipeline (or its JSONata version) on the
local stack: each photo SUCCEEDED with a valid resized JPEG, a filtered JPEG
and an optimized WebP of the right dimensions in the bucket, and the corrupt
image FAILED with Image.Invalid. Used by test-local-stack.sh and
test-stack-jsonata.sh.

  pipeline-outputs.py RESULTS.json BUCKET_DIR MACHINE PHOTOS
(RESULTS.json: deploy/watch-executions.py --json; executions MACHINE:photo-0000..
and MACHINE:corrupt.)
"""
import json, os, struct, sys

def jpeg_size(data):
    """(width, height) from the SOF marker; checks SOI and EOI."""
    assert data[:2] == b"\xff\xd8", "no SOI marker"
    assert data.rstrip(b"\x00")[-2:] == b"\xff\xd9", "no EOI marker"
    i = 2
    while i + 4 <= len(data):
        assert data[i] == 0xFF, "bad marker at %d" % i
        m = data[i + 1]
        if m == 0xFF:
            i += 1
            continue
        seg = struct.unpack(">H", data[i + 2:i + 4])[0]
        if m in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        i += 2 + seg
    raise AssertionError("no SOF marker")

def webp_size(data):
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP", "not a WebP file"
    assert struct.unpack("<I", data[4:8])[0] + 8 == len(data), "WebP size field does not match"
    chunk = data[12:16]
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if chunk == b"VP8L":
        b = int.from_bytes(data[21:25], "little")
        return (b & 0x3FFF) + 1, ((b >> 14) & 0x3FFF) + 1
    raise AssertionError("unknown WebP chunk %r" % chunk)

res = {json.loads(l)["executionId"]: json.loads(l) for l in open(sys.argv[1])}
bucket, machine, photos = sys.argv[2], sys.argv[3], int(sys.argv[4])
bad = 0
def check(cond, msg):
    global bad
    print(("ok   " if cond else "FAIL: ") + msg)
    bad += not cond

for i in range(photos):
    eid = "%s:photo-%04d" % (machine, i)
    m = res.get(eid, {})
    check(m.get("status") == "SUCCEEDED", "%s SUCCEEDED (%s %s)" % (eid, m.get("status"), m.get("error", "")))
    if m.get("status") != "SUCCEEDED":
        continue
    o = m["output"]
    want = [(o["processed"][0]["resized"], "jpeg", (1024, 768)),
            (o["processed"][1]["filtered"], "jpeg", (1600, 1200)),
            (o["optimized"]["key"], "webp", (1024, 768))]
    for key, fmt, dims in want:
        path = os.path.join(bucket, key)
        try:
            data = open(path, "rb").read()
            got = jpeg_size(data) if fmt == "jpeg" else webp_size(data)
            check(got == dims, "%s: valid %s, %dx%d" % (key, fmt, got[0], got[1]))
        except (OSError, AssertionError, struct.error) as e:
            check(False, "%s: %s" % (key, e))
    check(o["validation"]["isValid"] is True and o["validation"]["metadata"]["width"] == 1600,
          "%s: validation output" % eid)

m = res.get("%s:corrupt" % machine, {})
check(m.get("status") == "FAILED" and m.get("error") == "Image.Invalid",
      "corrupt image FAILED with Image.Invalid (%s %s)" % (m.get("status"), m.get("error")))
sys.exit(1 if bad else 0)
