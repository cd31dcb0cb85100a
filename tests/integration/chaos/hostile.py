# SPDX-License-Identifier: MIT
#
# Hostile input across the daemons (see stack.py for the processes). Each
# case must give a clear error (a dead letter with a reason, a refused
# definition with a pointer, a named error in the execution, a refused
# callback) and every daemon must stay up. Sub-commands:
#
#   messages     malformed JSON, wrong types and missing fields in every
#                message kind on the jobs, events and tasks topics, a payload
#                over the limit, JSON nested 10,000 deep, binary, NUL bytes,
#                duplicate keys, an unknown version -> one DeadLetter each
#                with a reason; a normal execution still runs afterwards
#   definitions  invalid definitions refused by the registry with a pointer;
#                intrinsic and JSONPath abuse at run time
#                (States.ArrayRange(1, 1000000000, 1), StringToJson of a
#                10,000-deep text, ...) -> States.IntrinsicFailure
#   images       truncated, corrupt, zero-byte, not-an-image, wrong extension,
#                decompression bombs (PNG 50,000 x 50,000, JPEG declaring
#                60000 x 60000, WebP 16383 x 16383, GIF 65535 x 65535, a GIF
#                of 20,000 frames), SVG -> Image.*; keys with "..", absolute
#                keys, NUL bytes, symlinks out of the bucket, unknown buckets
#                -> Storage.*
#   tokens       forged, altered and replayed task tokens (SendTaskSuccess and
#                SendTaskFailure on the events topic), forged TaskSucceeded
#                for a wrong task or attempt -> refused (TaskDoesNotExist
#                responses), nothing changes (version and history)
#   limits       raw StartExecution messages with a requestId for an unknown
#                state machine or with an empty name -> answered
#                StateMachineDoesNotExist / InvalidName (as the CLI path);
#                an empty message on each topic and an input nested
#                100,000 deep -> a dead letter each; a 10 MB job -> refused
#                at the producer (MSG_SIZE_TOO_LARGE); a truncated JPEG and PNGs with a bad
#                signature or header -> Image.*; a storage key of 5,000
#                characters -> Storage.InvalidKey; the CLI's exit codes for a
#                value over an AWS limit (1) and bad usage (2)

import argparse
import json
import os
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "helpers"))
from stack import (Stack, common_args, log, png_bytes, run_in_tmp, start_message,  # noqa: E402
                   wait_until)

PROBLEMS = []


def check(cond, what):
    if cond:
        print("ok   " + what, flush=True)
    else:
        print("FAIL " + what, flush=True)
        PROBLEMS.append(what)


def daemons_alive(st):
    for p in st.coordinators + st.workers:
        check(p.alive(), "%s (pid %s) still running" % (p.name, p.pid))


def base_stack(args, tmp, topics=None):
    st = Stack(args, tmp, partitions=2, brokers=1)
    st.start_infra(topics=topics)
    st.write_config()
    return st


def register(st, name, definition):
    path = os.path.join(st.tmp, name + ".asl.json")
    with open(path, "w") as f:
        f.write(definition if isinstance(definition, str) else json.dumps(definition))
    return st.register(name, path)


def run_execution(st, sm, name, inp, timeout=60):
    st.produce("imgflow.jobs", [start_message(sm, name, inp)])
    eid = "%s:%s" % (sm, name)
    st.wait_terminal([eid], timeout)
    return eid, st.status(eid), st.redis.exec_field(eid, "error"), st.redis.exec_field(eid, "cause")


# ------------------------------------------------------------------ messages

def run_messages(args, tmp):
    st = base_stack(args, tmp)
    try:
        rc, out = register(st, "echo", {"StartAt": "E", "States": {
            "E": {"Type": "Task", "Resource": "imgflow:test.echo", "End": True}}})
        check(rc == 0, "register echo: " + out)
        st.add_coordinator()
        st.add_worker(threads=2)

        cases = []   # (key, topic, payload bytes)

        def add(topic, payload):
            key = "h%d" % len(cases)
            cases.append((key, topic, payload if isinstance(payload, bytes) else payload.encode()))

        base = {
            "StartExecution": {"stateMachine": "echo", "name": "x", "input": {}},
            "StopExecution": {"executionId": "echo:x"},
            "Task": {"executionId": "e", "executionName": "n", "stateMachine": "s", "state": "S", "taskId": "t",
                     "attempt": 0, "resource": "r", "operation": "test.echo", "input": {}, "deadlineMs": 0,
                     "heartbeatSeconds": 0, "dispatchedAtMs": 0},
            "TaskSucceeded": {"executionId": "echo:x", "taskId": "1", "attempt": 0, "output": {}},
            "TaskFailed": {"executionId": "echo:x", "taskId": "1", "attempt": 0, "error": "E", "cause": ""},
            "TaskHeartbeat": {"executionId": "echo:x", "taskId": "1", "attempt": 0},
            "SendTaskSuccess": {"taskToken": "t", "output": {}},
            "SendTaskFailure": {"taskToken": "t"},
            "SendTaskHeartbeat": {"taskToken": "t"},
            "TimerFired": {"executionId": "echo:x", "timerId": "t"},
        }
        topics = {"StartExecution": ["imgflow.jobs", "imgflow.events"],
                  "StopExecution": ["imgflow.jobs", "imgflow.events"], "Task": ["imgflow.tasks"]}
        for kind, fields in base.items():
            for topic in topics.get(kind, ["imgflow.events"]):
                good = dict({"v": 1, "type": kind}, **fields)
                text = json.dumps(good)
                add(topic, text[:len(text) // 2])                       # malformed (truncated)
                for f, v in fields.items():
                    bad = dict(good)
                    bad[f] = [] if isinstance(v, (str, int)) else 7     # wrong type
                    if f in ("input", "output"):
                        continue                                        # any JSON is fine there
                    add(topic, json.dumps(bad))
                    bad = dict(good)
                    del bad[f]                                          # missing field
                    if f not in ("input", "name", "error", "cause"):
                        add(topic, json.dumps(bad))
                add(topic, json.dumps(dict(good, v=2)))                  # unknown version
                add(topic, json.dumps(dict(good, v="1")))                # v as a string
        for topic in ("imgflow.jobs", "imgflow.events", "imgflow.tasks"):
            add(topic, "not json at all")
            add(topic, b"\x00\xff\xfe binary \x80")
            add(topic, "[1, 2, 3]")
            add(topic, '{"v": 1, "type": "Bogus"}')
            add(topic, '{"v": 1, "type": "StartExecution", "stateMachine": "echo", "stateMachine": "x"}')
            add(topic, '{"v": 1, "type": "StartExecution", "stateMachine": "ec\\u0000ho"}')
            add(topic, '{"v": 1, "type": "StartExecution", "stateMachine": "echo", "input": ' +
                "[" * 10000 + "]" * 10000 + "}")                          # 10,000 deep
            add(topic, "[" * 10000 + "]" * 10000)
            add(topic, json.dumps({"v": 1, "type": "StartExecution", "stateMachine": "echo", "name": "big",
                                   "input": {"blob": "x" * 300000}}))     # over 256 KiB
            add(topic, json.dumps({"v": 1, "type": "StartExecution", "stateMachine": "e" * 5000}))
        # Execution names that would break the keys ({ } are Redis hash tags).
        bad_names = ["bad{name}", "x}y", "a b", "n" * 81, "a/b", "tab\there", "q?", "c:d", "#1"]
        for name in bad_names:
            add("imgflow.jobs", json.dumps({"v": 1, "type": "StartExecution", "stateMachine": "echo",
                                            "name": name, "input": {}, "requestId": "name-%d" % len(cases)}))
        # A Task on the events topic, events on the tasks topic: not for that consumer.
        add("imgflow.events", json.dumps(dict({"v": 1, "type": "Task"}, **base["Task"])))
        add("imgflow.tasks", json.dumps(dict({"v": 1, "type": "TaskSucceeded"}, **base["TaskSucceeded"])))

        log("producing %d hostile messages" % len(cases))
        for topic in ("imgflow.jobs", "imgflow.events", "imgflow.tasks"):
            lines = [k.encode() + b"|" + p.replace(b"\n", b" ") for k, t, p in cases if t == topic]
            rc = st.produce(topic, lines)
            check(rc == 0, "kcat produced %d messages to %s" % (len(lines), topic))

        keys = {k for k, _, _ in cases}
        unkeyed = set()    # dead letters whose Kafka key is not the original key

        def dead():
            got = {}
            for k, m in st.consume("imgflow.dlq"):
                if isinstance(m, dict) and m.get("type") == "DeadLetter":
                    if k != m.get("key"):
                        unkeyed.add((m.get("key"), m.get("topic")))
                    got.setdefault(m.get("key") or k, []).append(m)
            return got
        got = wait_until(lambda: (lambda d: d if keys <= set(d) else None)(dead()), 60, step=1) or dead()
        missing = sorted(keys - set(got), key=lambda k: int(k[1:]))
        for k in missing[:15]:
            t, p = next((t, p) for kk, t, p in cases if kk == k)
            print("     no dead letter for %s on %s: %r" % (k, t, p[:150]))
        check(not missing, "every one of %d hostile messages has a dead letter (%d missing)" %
              (len(keys), len(missing)))
        no_reason = [k for k, ms in got.items() if not all(m.get("reason") for m in ms)]
        check(not no_reason, "every dead letter has a reason")
        dups = [k for k, ms in got.items() if len(ms) > 1]
        check(not dups, "one dead letter per message (%d with more: %s)" % (len(dups), dups[:5]))
        topics_unkeyed = sorted({t for _, t in unkeyed})
        check(not unkeyed, "dead letters are keyed by the original key (docs/messages.md)%s" %
              (": %d from %s are not" % (len(unkeyed), ", ".join(topics_unkeyed)) if unkeyed else ""))
        samples = {}
        for k, ms in got.items():
            samples.setdefault(ms[0]["reason"].split(":")[0][:40], ms[0]["reason"])
        for r in list(samples.values())[:12]:
            print("     reason: " + r[:160])
        big = [m for k, ms in got.items() for m in ms if m.get("truncated")]
        check(bool(big), "the over-limit payload's dead letter is truncated")
        answered = [k for k, _, p in cases if b'"requestId": "name-' in p and
                    st.redis.call("GET", "imgflow:response:{name-%s}" % k[1:])]
        check(len(answered) == len(bad_names),
              "each StartExecution with an invalid name and a requestId is answered (%d of %d)" %
              (len(answered), len(bad_names)))
        refused = [k for k in answered
                   if '"InvalidName"' in (st.redis.call("GET", "imgflow:response:{name-%s}" % k[1:]) or "")]
        check(len(refused) == len(answered), "the answer is InvalidName (%d of %d)" %
              (len(refused), len(answered)))
        names = [n for n in bad_names if st.redis.call("EXISTS", "imgflow:{echo:%s}:exec" % n)]
        check(not names, "no execution created for an invalid name (%s)" % names)
        daemons_alive(st)
        eid, s, err, _ = run_execution(st, "echo", "after", {"still": "working"})
        check(s == "SUCCEEDED", "an execution after the hostile messages: %s %s" % (s, err or ""))
        return 0 if not PROBLEMS else 1
    finally:
        st.close()


# ------------------------------------------------------------------ definitions

def task(resource="imgflow:test.echo", **kw):
    d = {"Type": "Task", "Resource": resource, "End": True}
    d.update(kw)
    return d


def run_definitions(args, tmp):
    st = base_stack(args, tmp)
    try:
        deep = {}
        cur = deep
        for _ in range(10000):
            cur["a"] = {}
            cur = cur["a"]
        deep_text = '{"StartAt":"P","States":{"P":{"Type":"Pass","Result":' + "[" * 10000 + "]" * 10000 + \
            ',"End":true}}}'
        invalid = {
            "not JSON": "{\"StartAt\": ",
            "blank": " \n",
            "an array": "[]",
            "no StartAt": {"States": {"A": task()}},
            "StartAt unknown": {"StartAt": "Nope", "States": {"A": task()}},
            "Next unknown": {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Gone"}}},
            "unknown type": {"StartAt": "A", "States": {"A": {"Type": "Lambda", "End": True}}},
            "BackoffRate < 1": {"StartAt": "A", "States": {"A": task(Retry=[{"ErrorEquals": ["States.ALL"],
                                                                            "BackoffRate": 0.5}])}},
            "bad JSONPath": {"StartAt": "A", "States": {"A": task(InputPath="$..[")}},
            "bad intrinsic": {"StartAt": "A", "States": {"A": task(Parameters={"x.$": "States.Format('{}'"})}},
            "unknown intrinsic": {"StartAt": "A", "States": {"A": task(Parameters={"x.$": "States.Evil(1)"})}},
            "state name too long": {"StartAt": "A" * 81, "States": {"A" * 81: task()}},
            "Choice without Choices": {"StartAt": "C", "States": {"C": {"Type": "Choice", "Default": "C"}}},
            "Choice rule of 2 operators": {"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
                {"Variable": "$.a", "NumericEquals": 1, "StringEquals": "x", "Next": "C"}]}}},
            "nested 10,000 deep": deep_text,
            "2 MiB": {"StartAt": "A", "States": {"A": task(Comment="x" * (2 * 1024 * 1024))}},
            "unreachable state": {"StartAt": "A", "States": {"A": task(), "B": task()}},
            "Map without ItemProcessor": {"StartAt": "M", "States": {"M": {"Type": "Map", "End": True}}},
            "duplicate keys": '{"StartAt":"A","StartAt":"B","States":{"A":{"Type":"Succeed"}}}',
        }
        for what, d in invalid.items():
            t0 = time.monotonic()
            rc, out = register(st, "bad", d)
            check(rc != 0 and out and time.monotonic() - t0 < 10,
                  "registry refuses %s: %s" % (what, out.splitlines()[0][:150] if out else "(no message)"))

        runtime = {
            "ArrayRange 1e9": "States.ArrayRange(1, 1000000000, 1)",
            "ArrayRange step 0": "States.ArrayRange(1, 10, 0)",
            "ArrayPartition size 0": "States.ArrayPartition($.list, 0)",
            "StringToJson 10,000 deep": "States.StringToJson($.deep)",
            "StringToJson not JSON": "States.StringToJson($.s)",
            "Base64Decode garbage": "States.Base64Decode($.s)",
            "Hash unknown algorithm": "States.Hash($.s, 'MD4')",
            "StringSplit empty delimiter": "States.StringSplit($.long, '')",
            "StringSplit 20,000 parts": "States.StringSplit($.long, 'a')",
            "Hash MD4 from the input": "States.Hash($.s, $.alg)",
            "Format 10,000 placeholders": "States.Format($.fmt, $.s)",
            "ArrayPartition 1e9 chunks of 1": "States.ArrayPartition(States.ArrayRange(1, $.huge, 1), 1)",
            "MathAdd argument out of range": "States.MathAdd($.big, 1)",
            "Format too few args": "States.Format('{} {} {}', $.s)",
            "ArrayGetItem out of range": "States.ArrayGetItem($.list, 100)",
            "JsonMerge deep": "States.JsonMerge($.list, $.list, true)",
            "UUID with arguments": "States.UUID($.s)",
            "nested intrinsic": "States.JsonToString(States.StringToJson(States.JsonToString(States.Array(" * 3 +
                                "$.s" + "))))" * 3,
        }
        inp = {"list": [1, 2, 3], "deep": "[" * 10000 + "]" * 10000, "s": "not base64 !!", "long": "ab" * 20000,
               "big": 2147483648, "huge": 100000000, "alg": "MD4", "fmt": "{}" * 10000}
        st.add_coordinator()
        st.add_worker(threads=2)
        names = {}
        for i, (what, expr) in enumerate(runtime.items()):
            d = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"x.$": expr}, "End": True}}}
            sm = "intr%d" % i
            rc, out = register(st, sm, d)
            if rc != 0:
                check(True, "%s refused at registration: %s" % (what, out.splitlines()[0][:120]))
                continue
            names[what] = sm
        jp = {"StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": "$" + ".a" * 500, "End": True}}}
        rc, out = register(st, "deeppath", jp)
        if rc != 0:
            check(True, "500-step JSONPath refused at registration: %s" % out.splitlines()[0][:120])
        else:
            names["500-step JSONPath"] = "deeppath"
        filt = {"StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": "$..*", "End": True}}}
        rc, out = register(st, "descend", filt)
        if rc == 0:
            names["$..* over a wide input"] = "descend"
        st.produce("imgflow.jobs", [start_message(sm, "run", inp) for sm in names.values()])
        for what, sm in names.items():
            eid = sm + ":run"
            st.wait_terminal([eid], 60)
            s, err, cause = st.status(eid), st.redis.exec_field(eid, "error"), st.redis.exec_field(eid, "cause")
            if what in ("UUID with arguments",):
                ok = s == "FAILED" and err in ("States.IntrinsicFailure", "States.Runtime")
            elif what in ("500-step JSONPath",):
                ok = s in ("FAILED", "SUCCEEDED")
            elif what in ("$..* over a wide input", "nested intrinsic"):
                ok = s in ("SUCCEEDED", "FAILED")
            elif what in ("StringSplit 20,000 parts",):
                ok = s == "SUCCEEDED" or (s == "FAILED" and err in ("States.IntrinsicFailure", "States.Runtime"))
            else:
                ok = s == "FAILED" and err == "States.IntrinsicFailure"
            check(ok, "%s: %s %s %s" % (what, s, err or "", (cause or "")[:100]))
        daemons_alive(st)
        return 0 if not PROBLEMS else 1
    finally:
        st.close()


# ------------------------------------------------------------------ images

def gif(width, height, frames, frame_width=1, frame_height=1):
    out = bytearray(b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff")
    for _ in range(frames):
        out += b"\x21\xf9\x04\x00\x01\x00\x00\x00"          # graphic control: 1/100 s
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, frame_width, frame_height, 0) + b"\x02\x02\x44\x01\x00"
    return bytes(out + b";")


def png_with_size(width, height):
    data = bytearray(png_bytes(4, 4, 1))
    data[16:24] = struct.pack(">II", width, height)
    import zlib
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xffffffff)
    return bytes(data)


def patch_jpeg_size(data, width, height):
    data = bytearray(data)
    i = 2
    while i + 9 < len(data):
        marker, seglen = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            data[i + 5:i + 9] = struct.pack(">HH", height, width)
            return bytes(data)
        i += 2 + seglen
    raise ValueError("no SOF")


def patch_webp_size(data, width, height):
    """Every size field of a WebP file (VP8X canvas, VP8 frame, VP8L header)."""
    data = bytearray(data)
    i = 12
    while i + 8 <= len(data):
        tag, size = bytes(data[i:i + 4]), struct.unpack("<I", data[i + 4:i + 8])[0]
        d = i + 8
        if tag == b"VP8X":
            data[d + 4:d + 7] = (width - 1).to_bytes(3, "little")
            data[d + 7:d + 10] = (height - 1).to_bytes(3, "little")
        elif tag == b"VP8 ":
            data[d + 6:d + 8] = struct.pack("<H", min(width, 0x3fff))
            data[d + 8:d + 10] = struct.pack("<H", min(height, 0x3fff))
        elif tag == b"VP8L":
            old = int.from_bytes(data[d + 1:d + 5], "little")
            bits = (min(width, 1 << 14) - 1) | ((min(height, 1 << 14) - 1) << 14) | (old & ~((1 << 28) - 1))
            data[d + 1:d + 5] = bits.to_bytes(4, "little")
        i = d + size + (size & 1)
    return bytes(data)


def run_images(args, tmp):
    st = base_stack(args, tmp)
    try:
        for sm, op in (("validate", "image.validate"), ("resize", "image.resize"), ("convert", "image.convert")):
            if sm == "validate":
                params = {"bucket.$": "$.bucket", "key.$": "$.key", "failOnInvalid": True}
                d = {"StartAt": "T", "States": {"T": task("imgflow:" + op, Parameters=params)}}
            else:
                d = {"StartAt": "T", "States": {"T": task("imgflow:" + op)}}
            rc, out = register(st, sm, d)
            check(rc == 0, "register %s %s" % (sm, out))
        st.add_coordinator()
        st.add_worker(threads=2)
        raw = os.path.join(st.bucket, "raw")
        os.makedirs(raw)
        good = png_bytes(40, 30, 3)
        with open(os.path.join(raw, "good.png"), "wb") as f:
            f.write(good)

        # JPEG and WebP sources from the worker itself (no encoder needed here).
        n = 0
        for fmt in ("jpeg", "webp"):
            eid, s, err, cause = run_execution(st, "convert", "to-" + fmt, {
                "bucket": "photos", "key": "raw/good.png", "format": fmt,
                "output": {"bucket": "photos", "key": "src/small." + fmt}})
            check(s == "SUCCEEDED", "convert to %s: %s %s %s" % (fmt, s, err or "", cause or ""))
        jpeg = open(os.path.join(st.bucket, "src/small.jpeg"), "rb").read()
        webp = open(os.path.join(st.bucket, "src/small.webp"), "rb").read()

        outside = os.path.join(tmp, "outside.png")
        with open(outside, "wb") as f:
            f.write(good)
        files = {
            "truncated.png": good[:len(good) // 2],
            "corrupt.png": good[:40] + bytes(b ^ 0x5a for b in good[40:-12]) + good[-12:],
            "empty.png": b"",
            "text.png": b"hello, I am not an image\n",
            "png-named.jpg": good,
            "bomb.png": png_with_size(50000, 50000),
            "bomb.jpg": patch_jpeg_size(jpeg, 60000, 60000),
            "truncated.jpg": jpeg[:len(jpeg) // 2],
            "bomb.webp": patch_webp_size(webp, 16383, 16383),
            "bomb.gif": gif(65535, 65535, 1, 65535, 65535),
            "screen.gif": gif(65535, 65535, 1),
            "frames.gif": gif(1, 1, 20000),
            "image.svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
                         b'<rect width="10" height="10"/></svg>',
            "image.pdf": b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
        }
        for name, data in files.items():
            with open(os.path.join(raw, name), "wb") as f:
                f.write(data)
        os.symlink(outside, os.path.join(raw, "escape.png"))
        os.symlink("/etc/passwd", os.path.join(raw, "passwd.png"))
        os.symlink("../../", os.path.join(raw, "up"))

        expect = {   # key -> allowed error names ("" = SUCCEEDED)
            "raw/truncated.png": {"Image.Invalid"},
            "raw/corrupt.png": {"Image.Invalid"},
            "raw/empty.png": {"Image.Invalid"},
            "raw/text.png": {"Image.Invalid", "Image.Unsupported"},
            "raw/png-named.jpg": {""},
            "raw/bomb.png": {"Image.TooLarge"},
            "raw/bomb.jpg": {"Image.TooLarge"},
            "raw/truncated.jpg": {"Image.Invalid"},
            "raw/bomb.webp": {"Image.TooLarge"},
            "raw/bomb.gif": {"Image.TooLarge"},
            "raw/frames.gif": {"", "Image.TooLarge"},
            "raw/screen.gif": {"", "Image.TooLarge"},    # libvips reads the frame: 1x1
            "raw/image.svg": {"Image.Unsupported"},
            "raw/image.pdf": {"Image.Unsupported"},
            "raw/escape.png": {"Storage.AccessDenied"},
            "raw/passwd.png": {"Storage.AccessDenied"},
            "raw/up/outside.png": {"Storage.AccessDenied", "Storage.InvalidKey"},
            "raw/../raw/good.png": {"Storage.InvalidKey"},
            "../outside.png": {"Storage.InvalidKey"},
            "/etc/passwd": {"Storage.InvalidKey"},
            os.path.join(raw, "good.png"): {"Storage.InvalidKey"},
            "raw//good.png": {"Storage.InvalidKey"},
            "raw/./good.png": {"Storage.InvalidKey"},
            "": {"Storage.InvalidKey", "Params.Invalid"},
            "raw/good.png\u0000.txt": {"Storage.InvalidKey", "DLQ"},
            "raw/missing.png": {"Storage.NotFound"},
        }
        runs = []
        for key, allowed in expect.items():
            for sm in ("validate", "resize"):
                inp = {"bucket": "photos", "key": key}
                if sm == "resize":
                    inp.update({"width": 16, "height": 16})
                runs.append((sm, "i%d" % n, key, allowed, inp))
                n += 1
        runs.append(("validate", "i%d" % n, "raw/good.png", {"Storage.NotFound"},
                     {"bucket": "nosuchbucket", "key": "raw/good.png"}))
        st.produce("imgflow.jobs", [start_message(sm, name, inp) for sm, name, _, _, inp in runs])
        t0 = time.monotonic()
        st.wait_terminal(["%s:%s" % (sm, name) for sm, name, _, allowed, _ in runs if "DLQ" not in allowed], 90)
        time.sleep(1)
        dlq_keys = {m.get("key") or k for k, m in st.consume("imgflow.dlq") if isinstance(m, dict)}
        for sm, name, key, allowed, inp in runs:
            eid = "%s:%s" % (sm, name)
            s, err, cause = st.status(eid), st.redis.exec_field(eid, "error"), st.redis.exec_field(eid, "cause")
            got = "" if s == "SUCCEEDED" else (err or s or "none")
            if s is None and name in dlq_keys:
                got = "DLQ"
            check(got in allowed, "%s %r (bucket %s): %s %s" % (sm, key, inp["bucket"], got or "SUCCEEDED",
                                                                (cause or "")[:110]))
        log("hostile images took %.1f s" % (time.monotonic() - t0))
        # Nothing was written outside the bucket, the outside file is intact.
        check(open(outside, "rb").read() == good, "the file outside the bucket is unchanged")
        check(not os.path.exists(os.path.join(tmp, "processed")), "nothing written outside the bucket")
        daemons_alive(st)
        return 0 if not PROBLEMS else 1
    finally:
        st.close()


# ------------------------------------------------------------------ tokens

def run_tokens(args, tmp):
    st = base_stack(args, tmp, topics="imgflow.tasks.approvers:2")
    try:
        d = {"StartAt": "Approve", "States": {"Approve": {
            "Type": "Task", "Resource": "imgflow:pool:approvers.waitForTaskToken",
            "Parameters": {"who.$": "$.who"}, "TimeoutSeconds": 300, "End": True}}}
        rc, out = register(st, "approve", d)
        check(rc == 0, "register approve " + out)
        st.add_coordinator()
        st.produce("imgflow.jobs", [start_message("approve", n, {"who": n}) for n in ("a", "b", "c")])

        def tasks():
            got = {}
            for _, m in st.consume("imgflow.tasks.approvers"):
                if isinstance(m, dict) and m.get("taskToken"):
                    got[m["executionId"]] = m
            return got if len(got) == 3 else None
        t = wait_until(tasks, 30, step=0.5)
        if not t:
            check(False, "three waitForTaskToken tasks dispatched")
            return 1
        tok_a, tok_b = t["approve:a"]["taskToken"], t["approve:b"]["taskToken"]
        check(len(tok_a) >= 22 and tok_a != tok_b, "tokens look unguessable (%d chars)" % len(tok_a))

        def snapshot(eid):
            return (st.redis.exec_field(eid, "version"), st.status(eid),
                    st.redis.call("LLEN", "imgflow:{%s}:history" % eid))

        def send(req, kind, token, **kw):
            m = {"v": 1, "type": kind, "taskToken": token, "requestId": req}
            m.update(kw)
            st.produce("imgflow.events", ["%s|%s" % (token[:200] or "k", json.dumps(m))])

        def response(req):
            return wait_until(lambda: st.redis.call("GET", "imgflow:response:{%s}" % req), 20)

        before_a, before_b = snapshot("approve:a"), snapshot("approve:b")
        flipped = tok_a[:-1] + ("A" if tok_a[-1] != "A" else "B")
        forged = [("forged", "SendTaskSuccess", "f" * len(tok_a), {"output": {"x": 1}}),
                  ("altered", "SendTaskSuccess", flipped, {"output": {"x": 1}}),
                  ("truncated", "SendTaskSuccess", tok_a[:-4], {"output": {"x": 1}}),
                  ("extended", "SendTaskFailure", tok_a + "00", {"error": "E"}),
                  ("prefix-of-b", "SendTaskHeartbeat", tok_b[:8], {}),
                  ("empty-ish", "SendTaskSuccess", "x", {"output": 1}),
                  ("other key", "SendTaskSuccess", "imgflow:token:" + tok_a, {"output": 1})]
        for req, kind, token, kw in forged:
            send(req, kind, token, **kw)
        for req, kind, token, kw in forged:
            r = response(req)
            check(r and '"ok":false' in r.replace(" ", "") and ("InvalidToken" in r or "TaskDoesNotExist" in r),
                  "%s token (%s) refused: %s" % (req, kind, (r or "no response")[:120]))
        # Forged worker events: unknown task id, unknown execution; one at a
        # time, each must change nothing.
        for what, m in (("TaskSucceeded, unknown task id", {"type": "TaskSucceeded", "executionId": "approve:a",
                                                           "taskId": "999", "attempt": 0, "output": {"f": 1}}),
                        ("TaskFailed, unknown task id", {"type": "TaskFailed", "executionId": "approve:a",
                                                        "taskId": "1000", "attempt": 0, "error": "X", "cause": ""}),
                        ("TaskSucceeded, unknown execution", {"type": "TaskSucceeded", "executionId": "approve:zzz",
                                                             "taskId": "1", "attempt": 0, "output": {}})):
            m["v"] = 1
            st.produce("imgflow.events", ["%s|%s" % (m["executionId"], json.dumps(m))])
            time.sleep(1.5)
            check(snapshot("approve:a") == before_a, "%s: approve:a unchanged: %s -> %s" %
                  (what, before_a, snapshot("approve:a")))
        check(snapshot("approve:b") == before_b, "approve:b unchanged by forged callbacks")
        # The real token works once.
        send("real", "SendTaskSuccess", tok_a, output={"approved": True})
        r = response("real")
        check(r and '"ok":true' in r.replace(" ", ""), "the real token is accepted: %s" % (r or "")[:100])
        if not r:
            print("     responses in Redis: %s" % st.redis.call("KEYS", "imgflow:response:*"))
        st.wait_terminal(["approve:a"], 20)
        out_a = st.redis.exec_field("approve:a", "output")
        check(st.status("approve:a") == "SUCCEEDED" and "approved" in (out_a or ""), "approve:a SUCCEEDED " +
              (out_a or ""))
        done_a = snapshot("approve:a")
        # Replays: the same token again, as success, failure and heartbeat.
        for req, kind, kw in (("replay-s", "SendTaskSuccess", {"output": {"again": True}}),
                              ("replay-f", "SendTaskFailure", {"error": "Late"}),
                              ("replay-h", "SendTaskHeartbeat", {})):
            send(req, kind, tok_a, **kw)
            r = response(req)
            check(r and "TaskDoesNotExist" in r, "replayed token (%s) refused: %s" % (kind, (r or "")[:100]))
        time.sleep(1)
        check(snapshot("approve:a") == done_a and st.redis.exec_field("approve:a", "output") == out_a,
              "approve:a unchanged by replays")
        # Token of b used once, then b's token is dead as well.
        send("b1", "SendTaskFailure", tok_b, error="Rejected", cause="no")
        r = response("b1")
        st.wait_terminal(["approve:b"], 20)
        check(st.status("approve:b") == "FAILED" and st.redis.exec_field("approve:b", "error") == "Rejected",
              "approve:b FAILED Rejected")
        def dead(tok):   # no record, or a "closed" record (docs/redis.md)
            v = st.redis.call("GET", "imgflow:token:" + tok)
            return v is None or '"closed"' in v
        check(dead(tok_a) and dead(tok_b), "both tokens are dead in Redis")
        # A worker-style TaskSucceeded (no token) for a .waitForTaskToken task
        # with the right task id: as in Step Functions, the function's own
        # result does not close a callback task; only its token does. It is
        # recorded as what it is, the invocation's answer: TaskStarted and
        # TaskSubmitted, and nothing else.
        before_c = snapshot("approve:c")
        m = {"v": 1, "type": "TaskSucceeded", "executionId": "approve:c", "taskId": t["approve:c"]["taskId"],
             "attempt": 7, "output": {"forged": True}}
        st.produce("imgflow.events", ["approve:c|" + json.dumps(m)])
        time.sleep(2)
        after_c = snapshot("approve:c")
        added = [json.loads(e)["type"] for e in
                 st.redis.call("LRANGE", "imgflow:{approve:c}:history", int(before_c[2] or 0), -1) or []]
        check(after_c[1] == "RUNNING" and added in ([], ["TaskStarted", "TaskSubmitted"]),
              "a TaskSucceeded without the token does not complete a .waitForTaskToken task (%s -> %s, added %s)" %
              (before_c, after_c, added))
        daemons_alive(st)
        return 0 if not PROBLEMS else 1
    finally:
        st.close()


# ------------------------------------------------------------------ limits

def run_limits(args, tmp):
    st = base_stack(args, tmp)
    try:
        rc, out = register(st, "echo", {"StartAt": "E", "States": {
            "E": {"Type": "Task", "Resource": "imgflow:test.echo", "End": True}}})
        check(rc == 0, "register echo: " + out)
        params = {"bucket.$": "$.bucket", "key.$": "$.key", "failOnInvalid": True}
        rc, out = register(st, "validate", {"StartAt": "T", "States": {
            "T": task("imgflow:image.validate", Parameters=params)}})
        check(rc == 0, "register validate: " + out)
        rc, out = register(st, "convert", {"StartAt": "T", "States": {"T": task("imgflow:image.convert")}})
        check(rc == 0, "register convert: " + out)
        st.add_coordinator()
        st.add_worker(threads=2)

        # Requests refused by the coordinator are answered, as through the CLI.
        def request(req, sm, name):
            m = {"v": 1, "type": "StartExecution", "stateMachine": sm, "name": name, "input": {},
                 "requestId": req}
            return "%s|%s" % (req, json.dumps(m))
        st.produce("imgflow.jobs", [request("r-unknown", "nosuchmachine", "n1"),
                                    request("r-empty", "echo", ""), request("r-nosm", "", "n2")])
        for req, want in (("r-unknown", "StateMachineDoesNotExist"), ("r-empty", "InvalidName"),
                          ("r-nosm", "InvalidArn")):
            t0 = time.monotonic()
            r = wait_until(lambda: st.redis.call("GET", "imgflow:response:{%s}" % req), 15)
            check(r and ('"%s"' % want) in r,
                  "StartExecution %s answered %s within 15 s (%.1f s): %s" %
                  (req, want, time.monotonic() - t0, (r or "no answer")[:160]))
        check(not st.redis.call("EXISTS", "imgflow:{echo:}:exec"), "no execution with an empty name")

        # Messages the consumers cannot decode: a dead letter each.
        deep = "[" * 100000 + "]" * 100000
        cases = {   # key -> (topic, payload)
            "empty-jobs": ("imgflow.jobs", b""),
            "empty-events": ("imgflow.events", b""),
            "empty-tasks": ("imgflow.tasks", b""),
            "deep-jobs": ("imgflow.jobs", ('{"v": 1, "type": "StartExecution", "stateMachine": "echo", '
                                           '"name": "deep", "requestId": "r-deep", "input": %s}' % deep).encode()),
            "deep-events": ("imgflow.events", ('{"v": 1, "type": "TaskSucceeded", "executionId": "echo:x", '
                                               '"taskId": "1", "attempt": 0, "output": %s}' % deep).encode()),
        }
        for key, (topic, payload) in cases.items():
            rc = st.produce(topic, [key.encode() + b"|" + payload])
            check(rc == 0, "kcat produced %s (%d bytes) to %s" % (key, len(payload), topic))
        def dead():
            got = {}
            for k, m in st.consume("imgflow.dlq"):
                if isinstance(m, dict) and m.get("type") == "DeadLetter":
                    got.setdefault(m.get("key") or k, []).append(m)
            return got
        got = wait_until(lambda: (lambda d: d if set(cases) <= set(d) else None)(dead()), 60, step=1) or dead()
        for key, (topic, payload) in cases.items():
            ms = got.get(key, [])
            check(len(ms) == 1 and ms[0].get("reason") and ms[0].get("topic") == topic,
                  "%s (%d bytes on %s): one dead letter: %s" % (key, len(payload), topic,
                                                                ms[0].get("reason", "")[:120] if ms else "none"))
        check(not st.redis.call("EXISTS", "imgflow:{echo:deep}:exec"), "no execution for the 100,000-deep input")

        # Images and keys.
        raw = os.path.join(st.bucket, "raw")
        os.makedirs(raw)
        good = png_bytes(40, 30, 5)
        with open(os.path.join(raw, "good.png"), "wb") as f:
            f.write(good)
        eid, s, err, cause = run_execution(st, "convert", "to-jpeg", {
            "bucket": "photos", "key": "raw/good.png", "format": "jpeg",
            "output": {"bucket": "photos", "key": "src/small.jpeg"}})
        check(s == "SUCCEEDED", "convert to jpeg: %s %s %s" % (s, err or "", cause or ""))
        jpeg = open(os.path.join(st.bucket, "src/small.jpeg"), "rb").read()
        header = bytearray(good)
        header[16:20] = struct.pack(">I", 0)              # width 0, CRC left as it was
        crc = bytearray(good)
        crc[29:33] = b"\0\0\0\0"                          # IHDR's CRC wrong
        files = {
            "truncated.jpg": jpeg[:len(jpeg) // 2],
            "bad-signature.png": b"\x89PNX\r\n\x1a\n" + good[8:],
            "bad-ihdr.png": bytes(header),
            "bad-crc.png": bytes(crc),
        }
        for name, data in files.items():
            with open(os.path.join(raw, name), "wb") as f:
                f.write(data)
        runs = [("validate", {"key": "raw/" + name}, {"Image.Invalid", "Image.Unsupported"}) for name in files]
        # S3's limit is 1,024 bytes; a directory bucket's components are at
        # most 255 bytes each (NAME_MAX), so the long keys have short parts.
        def key_of(n):
            return ("raw/" + "/".join(["k" * 199] * 6))[:n - 1] + "z"
        long_key = "raw/" + "k" * 4996
        runs.append(("validate", {"key": long_key}, {"Storage.InvalidKey"}))
        runs.append(("validate", {"key": key_of(1025)}, {"Storage.InvalidKey"}))   # one byte over S3's limit
        runs.append(("validate", {"key": key_of(1024)}, {"Storage.NotFound"}))     # a valid key, of no object
        runs.append(("convert", {"key": "raw/good.png", "format": "png",                # as the output's key
                                 "output": {"bucket": "photos", "key": long_key}}, {"Storage.InvalidKey"}))
        runs.append(("convert", {"key": long_key, "format": "png"}, {"Storage.InvalidKey"}))
        for _, inp, _ in runs:
            inp["bucket"] = "photos"
        st.produce("imgflow.jobs", [start_message(sm, "img%d" % i, inp) for i, (sm, inp, _) in enumerate(runs)])
        st.wait_terminal(["%s:img%d" % (sm, i) for i, (sm, _, _) in enumerate(runs)], 90)
        for i, (sm, inp, allowed) in enumerate(runs):
            eid = "%s:img%d" % (sm, i)
            s, err, cause = st.status(eid), st.redis.exec_field(eid, "error"), st.redis.exec_field(eid, "cause")
            keys = "%s (%d bytes)" % (inp["key"][:24], len(inp["key"]))
            if "output" in inp:
                keys += " -> %s (%d bytes)" % (inp["output"]["key"][:12], len(inp["output"]["key"]))
            check(s == "FAILED" and err in allowed, "%s %s: %s %s %s" % (sm, keys, s, err or "", (cause or "")[:100]))

        # The CLI: a value over an AWS limit is an AWS error (exit 1), bad usage is 2 (docs/cli.md).
        cli = os.path.join(st.build, "cli", "imgflow")
        for argv, want in ((["send-task-failure", "--task-token", "t" * 32, "--error", "E" * 300], 1),
                           (["send-task-failure", "--task-token", "t" * 32, "--cause", "c" * 32769], 1),
                           (["stop-execution", "--execution-arn", "echo:x", "--error", "E" * 300], 1),
                           (["send-task-failure", "--no-such-option", "x"], 2),
                           (["send-task-failure"], 2)):
            r = subprocess.run([cli, argv[0], "--config", st.conf] + argv[1:], capture_output=True, text=True,
                               timeout=60)
            named = want == 2 or "(ValidationException)" in r.stderr
            check(r.returncode == want and named, "imgflow %s %s: exit %d (docs: %d): %s" %
                  (argv[0], " ".join(a[:12] for a in argv[1:]), r.returncode, want,
                   r.stderr.strip().splitlines()[0][:160] if r.stderr.strip() else ""))

        # A 10 MB job (last: the mock cluster keeps a few MB per partition and
        # drops a partition's older messages for it). Apache Kafka refuses it
        # (message.max.bytes, 1 MiB by default): the producer's limit is
        # raised so that the broker decides. With the mock, which would take
        # it, the producer's own limit (1,000,000 bytes) refuses it.
        big = json.dumps({"v": 1, "type": "StartExecution", "stateMachine": "echo", "name": "big",
                          "requestId": "r-big", "input": {"blob": "x" * (10 * 1024 * 1024)}})
        limit = [] if st.kafka == "mock" else ["-X", "message.max.bytes=20000000"]
        r = subprocess.run(["kcat", "-P", "-b", st.bootstrap, "-t", "imgflow.jobs", "-k", "big"] + limit,
                           input=big.encode(), capture_output=True, timeout=120)
        err = r.stderr.decode(errors="replace").strip()
        check(r.returncode != 0 and "too large" in err.lower(),
              "a 10 MB job is refused at the producer with a named error (kcat exit %d): %s" %
              (r.returncode, (err.splitlines() or [""])[-1][:160]))
        time.sleep(1)
        check(not st.redis.call("EXISTS", "imgflow:{echo:big}:exec"), "no execution for the 10 MB job")

        daemons_alive(st)
        eid, s, err, _ = run_execution(st, "echo", "after", {"still": "working"})
        check(s == "SUCCEEDED", "an execution afterwards: %s %s" % (s, err or ""))
        for p in st.coordinators + st.workers:
            text = st.tail(os.path.basename(p.logpath), lines=100000)
            check("AddressSanitizer" not in text and "runtime error:" not in text,
                  "no sanitizer report in %s's log" % p.name)
        return 0 if not PROBLEMS else 1
    finally:
        st.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=["messages", "definitions", "images", "tokens", "limits"])
    common_args(ap)
    args = ap.parse_args()
    run = {"messages": run_messages, "definitions": run_definitions, "images": run_images,
           "tokens": run_tokens, "limits": run_limits}[args.scenario]
    rc = run_in_tmp(args, "imgflow-hostile-%s." % args.scenario, run)
    if PROBLEMS:
        print("%d problem(s)" % len(PROBLEMS))
    return rc


if __name__ == "__main__":
    sys.exit(main())
