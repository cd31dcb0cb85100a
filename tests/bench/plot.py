#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turn the benchmark results (tests/bench/results/*.json) into one PNG.

    plot.py RESULTS_DIR OUT.png

Four bar charts: seed pipeline throughput (plain-loop vs the stack),
scaling by processes, orchestration (tasks/s and dispatch latency at half
load), and the worker's peak memory on a 100 MP image; targets as dashed
lines. Uses matplotlib when it is installed; otherwise draws the bars
itself and writes the PNG with zlib (a 5x7 bitmap font for the labels), so
it needs nothing beyond python3.
"""
import json
import os
import struct
import sys
import zlib


def load(results):
    d = {}
    for name in ("throughput", "orchestration", "memory", "scale"):
        p = os.path.join(results, name + ".json")
        if os.path.exists(p):
            with open(p) as f:
                d[name] = json.load(f)
    return d


def panels(d):
    """[(title, unit, [(label, value, colour)], target or None)]"""
    out = []
    t = d.get("throughput")
    if t:
        bars = [("plain-loop", t["plainImagesPerSecond"], 0),
                ("stack", t["stackImagesPerSecond"], 1)]
        if t.get("stackDefaultBackpressureImagesPerSecond"):
            bars.append(("stack, worker defaults", t["stackDefaultBackpressureImagesPerSecond"], 2))
        out.append(("Seed pipeline, %d x %s (images/s, median)" % (t["images"], t["size"]), "images/s", bars,
                    t["plainImagesPerSecond"] * t.get("target", 0.9)))
    s = d.get("scale")
    if s:
        bars = [("%dw %dc" % (r["workers"], r["coordinators"]), r["rate"], 1)
                for r in s["rows"] if r["kind"] == "images"]
        out.append(("Scaling by processes (images/s)", "images/s", bars, None))
    o = d.get("orchestration")
    if o:
        bars = [("%d ex, 1c" % o["load"]["executions"], o["load"]["tasksPerSecond"], 1)]
        for r in (s or {}).get("rows", []):
            if r["kind"] == "echo":
                bars.append(("%d ex, %dc" % (r["count"], r["coordinators"]), r["rate"], 2))
        out.append(("Orchestration: 5-task chains (tasks/s)", "tasks/s", bars, o["targets"]["tasksPerSecond"]))
        h = o["halfLoad"]["dispatchLatencyMs"]
        out.append(("Dispatch latency at half load (ms)", "ms",
                    [("p50", h.get("p50", 0), 1), ("p90", h.get("p90", 0), 1), ("p99", h.get("p99", 0), 2)],
                    o["targets"]["p99Ms"]))
    m = d.get("memory")
    if m:
        if m.get("operations"):
            bars = [("idle", m["idlePeakMiB"], 0)] + [
                (o["name"], o["peakMiB"], 1 if o["peakMiB"] <= m["targetMiB"] else 2) for o in m["operations"]]
        else:
            bars = [("idle", m["idlePeakMiB"], 0), ("thumbnail", m["thumbnailPeakMiB"], 1),
                    ("full decode", m["validatePeakMiB"], 2)]
        out.append(("Worker peak RSS per operation, 100 MP JPEG (MiB)", "MiB", bars, m["targetMiB"]))
    return out


COLOURS = [(120, 120, 120), (45, 110, 190), (230, 140, 40)]


def plot_matplotlib(ps, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cols = 2
    rows = (len(ps) + 1) // 2
    fig, axes = plt.subplots(rows, cols, figsize=(12, 4 * rows))
    axes = list(axes.flat) if hasattr(axes, "flat") else [axes]
    for ax, (title, unit, bars, target) in zip(axes, ps):
        xs = range(len(bars))
        ax.bar(xs, [b[1] for b in bars], color=["#%02x%02x%02x" % COLOURS[b[2]] for b in bars])
        ax.set_xticks(list(xs))
        ax.set_xticklabels([b[0] for b in bars])
        ax.set_title(title)
        ax.set_ylabel(unit)
        for x, b in zip(xs, bars):
            ax.text(x, b[1], "%g" % b[1], ha="center", va="bottom")
        if target:
            ax.axhline(target, color="red", linestyle="--")
    for ax in axes[len(ps):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=80)


# ---- no matplotlib: a small raster and a 5x7 font -------------------------

FONT = {
    "0": "01110 10001 10011 10101 11001 10001 01110", "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111", "3": "11110 00001 00001 01110 00001 00001 11110",
    "4": "00010 00110 01010 10010 11111 00010 00010", "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110", "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110", "9": "01110 10001 10001 01111 00001 00010 01100",
    "A": "01110 10001 10001 11111 10001 10001 10001", "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01110 10001 10000 10000 10000 10001 01110", "D": "11100 10010 10001 10001 10001 10010 11100",
    "E": "11111 10000 10000 11110 10000 10000 11111", "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01110 10001 10000 10111 10001 10001 01111", "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "01110 00100 00100 00100 00100 00100 01110", "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001", "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001", "N": "10001 10001 11001 10101 10011 10001 10001",
    "O": "01110 10001 10001 10001 10001 10001 01110", "P": "11110 10001 10001 11110 10000 10000 10000",
    "Q": "01110 10001 10001 10001 10101 10010 01101", "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110", "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110", "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 10101 01010", "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 01010 00100 00100 00100 00100", "Z": "11111 00001 00010 00100 01000 10000 11111",
    " ": "00000 00000 00000 00000 00000 00000 00000", ".": "00000 00000 00000 00000 00000 01100 01100",
    ",": "00000 00000 00000 00000 01100 00100 01000", "-": "00000 00000 00000 11111 00000 00000 00000",
    "/": "00001 00010 00010 00100 01000 01000 10000", ":": "00000 01100 01100 00000 01100 01100 00000",
    "(": "00010 00100 01000 01000 01000 00100 00010", ")": "01000 00100 00010 00010 00010 00100 01000",
    "=": "00000 00000 11111 00000 11111 00000 00000", "%": "11000 11001 00010 00100 01000 10011 00011",
    "+": "00000 00100 00100 11111 00100 00100 00000",
}


class Canvas:
    def __init__(self, w, h):
        self.w, self.h = w, h
        self.px = bytearray(b"\xff" * (w * h * 3))

    def rect(self, x0, y0, x1, y1, c):
        x0, x1 = max(0, int(x0)), min(self.w, int(x1))
        y0, y1 = max(0, int(y0)), min(self.h, int(y1))
        row = bytes(c) * max(0, x1 - x0)
        for y in range(y0, y1):
            i = (y * self.w + x0) * 3
            self.px[i:i + len(row)] = row

    def text(self, x, y, s, c=(0, 0, 0), scale=2):
        for ch in s.upper():
            g = FONT.get(ch, FONT[" "]).split()
            for gy, bits in enumerate(g):
                for gx, b in enumerate(bits):
                    if b == "1":
                        self.rect(x + gx * scale, y + gy * scale, x + (gx + 1) * scale, y + (gy + 1) * scale, c)
            x += 6 * scale

    @staticmethod
    def text_width(s, scale=2):
        return len(s) * 6 * scale

    def png(self, path):
        raw = b"".join(b"\x00" + bytes(self.px[y * self.w * 3:(y + 1) * self.w * 3]) for y in range(self.h))

        def chunk(tag, data):
            return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

        with open(path, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n")
            f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0)))
            f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
            f.write(chunk(b"IEND", b""))


def fmt(v):
    if v >= 100:
        return "%d" % round(v)
    return ("%.2f" % v).rstrip("0").rstrip(".")


def plot_raw(ps, out):
    pw, ph = 560, 330
    cols = 2
    rows = (len(ps) + 1) // 2
    c = Canvas(pw * cols, ph * rows)
    for k, (title, unit, bars, target) in enumerate(ps):
        ox, oy = (k % cols) * pw, (k // cols) * ph
        c.text(ox + 14, oy + 12, title, scale=2 if Canvas.text_width(title) < pw - 20 else 1)
        left, right, top, bottom = ox + 50, ox + pw - 20, oy + 50, oy + ph - 50
        vmax = max([b[1] for b in bars] + [target or 0]) * 1.15 or 1
        c.rect(left, bottom, right, bottom + 2, (0, 0, 0))
        c.rect(left - 2, top, left, bottom + 2, (0, 0, 0))
        # y-axis: 0 and the maximum
        c.text(ox + 4, bottom - 6, "0", scale=1)
        c.text(ox + 4, top - 4, fmt(vmax), scale=1)
        n = len(bars)
        slot = (right - left) / max(n, 1)
        for i, (label, v, col) in enumerate(bars):
            bw = slot * 0.6
            x0 = left + slot * i + (slot - bw) / 2
            y0 = bottom - (bottom - top) * v / vmax
            c.rect(x0, y0, x0 + bw, bottom, COLOURS[col])
            s = fmt(v)
            c.text(x0 + bw / 2 - Canvas.text_width(s) / 2, y0 - 18, s)
            sc = 2 if Canvas.text_width(label) <= slot - 4 else 1
            c.text(x0 + bw / 2 - Canvas.text_width(label, sc) / 2, bottom + 10, label, scale=sc)
        if target:
            ty = bottom - (bottom - top) * target / vmax
            x = left
            while x < right:
                c.rect(x, ty - 1, min(x + 10, right), ty + 1, (210, 30, 30))
                x += 16
            s = "target " + fmt(target)
            c.text(right - Canvas.text_width(s, 1) - 2, ty - 10, s, c=(210, 30, 30), scale=1)
        # panel border
        c.rect(ox, oy + ph - 1, ox + pw, oy + ph, (200, 200, 200))
        c.rect(ox + pw - 1, oy, ox + pw, oy + ph, (200, 200, 200))
    c.png(out)


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: plot.py RESULTS_DIR OUT.png\n")
        return 2
    ps = panels(load(sys.argv[1]))
    if not ps:
        sys.stderr.write("no results in %s\n" % sys.argv[1])
        return 1
    try:
        plot_matplotlib(ps, sys.argv[2])
        how = "matplotlib"
    except ImportError:
        plot_raw(ps, sys.argv[2])
        how = "built-in PNG writer"
    print("wrote %s (%s)" % (sys.argv[2], how))
    return 0


if __name__ == "__main__":
    sys.exit(main())
