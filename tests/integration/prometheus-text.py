#!/usr/bin/env python3
# A strict reader of the Prometheus text exposition format (0.0.4), for the
# tests: scrapes http://HOST:PORT/metrics (or reads a file), checks
#
#   - every line is "# HELP name text", "# TYPE name type", a comment, or a
#     sample "name{label="value",...} value [timestamp]" with valid metric
#     and label names, escapes and a float value;
#   - each family has exactly one TYPE (before its samples) and one HELP,
#     its samples are contiguous, no series appears twice;
#   - counters end in _total and are >= 0;
#   - histograms: per label set, _bucket samples with "le" ascending and
#     ending in +Inf, cumulative counts non-decreasing, _count equal to the
#     +Inf bucket, a _sum;
#
# then the expectations given as arguments:
#   NAME               a family of that name exists
#   NAME{l="v",...}>=N a sample with (at least) these labels has value >= N
#                      (also > and ==)
# Exit 0 when all hold; otherwise the problems on stderr, exit 1.
#
#   prometheus-text.py URL|FILE [EXPECTATION...]
import math
import re
import sys
import urllib.request

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
SAMPLE_RE = re.compile(r"^(" + NAME + r")(\{(.*)\})? (\S+)( -?\d+)?$")
LABEL_RE = re.compile(r'\s*(' + LABEL + r')="((?:[^"\\]|\\.)*)"\s*(,|$)')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_value(s):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    return float(s)


def parse_labels(text):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL_RE.match(text, pos)
        if not m:
            raise ValueError("bad labels at %r" % text[pos:])
        name, value = m.group(1), m.group(2)
        if re.search(r'\\[^\\"n]', value):
            raise ValueError("bad escape in label value %r" % value)
        if name in labels:
            raise ValueError("label %s twice" % name)
        labels[name] = value.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
        pos = m.end()
    return labels


def family_of(name, types):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and types.get(name[: -len(suffix)]) in ("histogram", "summary"):
            return name[: -len(suffix)]
    return name


def parse(text):
    errors, types, helps, samples = [], {}, {}, []
    seen_series, finished, current = set(), set(), None
    for no, line in enumerate(text.split("\n"), 1):
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not re.fullmatch(NAME, name):
                    errors.append("line %d: bad metric name %r" % (no, name))
                    continue
                if parts[1] == "TYPE":
                    if len(parts) != 4 or parts[3] not in TYPES:
                        errors.append("line %d: bad TYPE line %r" % (no, line))
                    elif name in types:
                        errors.append("line %d: second TYPE for %s" % (no, name))
                    elif any(family_of(s[0], {name: parts[3]}) == name for s in samples):
                        errors.append("line %d: TYPE of %s after its samples" % (no, name))
                    else:
                        types[name] = parts[3]
                else:
                    if name in helps:
                        errors.append("line %d: second HELP for %s" % (no, name))
                    helps[name] = parts[3] if len(parts) == 4 else ""
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            errors.append("line %d: not a sample: %r" % (no, line))
            continue
        name = m.group(1)
        try:
            labels = parse_labels(m.group(3) or "")
            value = parse_value(m.group(4))
        except ValueError as e:
            errors.append("line %d: %s" % (no, e))
            continue
        fam = family_of(name, types)
        if fam != current:
            if fam in finished:
                errors.append("line %d: samples of %s are not contiguous" % (no, fam))
            if current:
                finished.add(current)
            current = fam
        key = (name, tuple(sorted(labels.items())))
        if key in seen_series:
            errors.append("line %d: series %s%s twice" % (no, name, labels))
        seen_series.add(key)
        samples.append((name, labels, value))

    for fam, t in types.items():
        if fam not in helps:
            errors.append("%s: no HELP" % fam)
        fs = [s for s in samples if family_of(s[0], types) == fam]
        if t == "counter":
            if not fam.endswith("_total"):
                errors.append("%s: a counter whose name does not end in _total" % fam)
            for n, l, v in fs:
                if n != fam:
                    errors.append("%s: sample %s in a counter family" % (fam, n))
                if not v >= 0:
                    errors.append("%s%s: negative counter %r" % (n, l, v))
        if t == "gauge":
            for n, l, v in fs:
                if n != fam:
                    errors.append("%s: sample %s in a gauge family" % (fam, n))
        if t == "histogram":
            series = {}
            for n, l, v in fs:
                rest = tuple(sorted((k, x) for k, x in l.items() if k != "le"))
                series.setdefault(rest, {"buckets": [], "sum": None, "count": None})
                if n == fam + "_bucket":
                    if "le" not in l:
                        errors.append("%s: a bucket without le" % fam)
                        continue
                    series[rest]["buckets"].append((parse_value(l["le"]), v))
                elif n == fam + "_sum":
                    series[rest]["sum"] = v
                elif n == fam + "_count":
                    series[rest]["count"] = v
                else:
                    errors.append("%s: sample %s in a histogram family" % (fam, n))
            for rest, h in series.items():
                b = h["buckets"]
                where = "%s%s" % (fam, dict(rest))
                if not b or b[-1][0] != math.inf:
                    errors.append("%s: the last bucket is not le=\"+Inf\"" % where)
                if [x[0] for x in b] != sorted(x[0] for x in b) or len({x[0] for x in b}) != len(b):
                    errors.append("%s: le not strictly ascending" % where)
                if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
                    errors.append("%s: bucket counts decrease" % where)
                if h["sum"] is None:
                    errors.append("%s: no _sum" % where)
                if h["count"] is None or (b and h["count"] != b[-1][1]):
                    errors.append("%s: _count %r is not the +Inf bucket" % (where, h["count"]))
    for n, l, v in samples:
        if family_of(n, types) not in types:
            errors.append("%s: sample without a TYPE" % n)
    return errors, types, samples


EXPECT_RE = re.compile(r"^(" + NAME + r")(\{(.*)\})?(?:(>=|==|>)(\S+))?$")


def check(expect, types, samples):
    m = EXPECT_RE.match(expect)
    if not m:
        return "bad expectation %r" % expect
    name, labels, op, want = m.group(1), parse_labels(m.group(3) or ""), m.group(4), m.group(5)
    if not op:
        if name in types or any(s[0] == name for s in samples):
            return None
        return "no metric %s" % name
    got = [v for n, l, v in samples if n == name and all(l.get(k) == x for k, x in labels.items())]
    if not got:
        return "no sample %s%s" % (name, labels)
    w = float(want)
    ok = {">=": lambda v: v >= w, ">": lambda v: v > w, "==": lambda v: v == w}[op]
    if not any(ok(v) for v in got):
        return "%s%s = %s, expected %s %s" % (name, labels, got, op, want)
    return None


def main():
    src = sys.argv[1]
    if src.startswith("http://"):
        with urllib.request.urlopen(src, timeout=10) as r:
            ctype = r.headers.get("Content-Type", "")
            if not ctype.startswith("text/plain") or "version=0.0.4" not in ctype:
                print("Content-Type %r is not text/plain; version=0.0.4" % ctype, file=sys.stderr)
                return 1
            text = r.read().decode("utf-8")
    else:
        text = open(src, encoding="utf-8").read()
    if text and not text.endswith("\n"):
        print("the exposition does not end with a newline", file=sys.stderr)
        return 1
    errors, types, samples = parse(text)
    for e in sys.argv[2:]:
        p = check(e, types, samples)
        if p:
            errors.append(p)
    for e in errors:
        print(e, file=sys.stderr)
    if not errors:
        print("%d families, %d samples: ok" % (len(types), len(samples)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
