#!/usr/bin/env python3
# Every key of daemon/config.c's table (config_keys[]) is documented in
# docs/configuration.md (a table row under its "## [section]" heading, with
# its default) and present, set or commented, in the installed default
# configuration deploy/imgflow.conf under its section; and neither file
# names a key of a fixed section that the table does not know.
#
#   config-documented.py SOURCE_ROOT
import re
import sys

src = sys.argv[1]
table = open(src + "/daemon/config.c").read()
keys = re.findall(r'K\("([a-z0-9_.]+)",\s*"([a-z_]+)",\s*CONFIG_[A-Z]+,\s*"([^"]*)"', table)
if len(keys) < 20:
    sys.exit("could not read config_keys[] from daemon/config.c (found %d keys)" % len(keys))
known = {(s, k) for s, k, _ in keys}
sections = {s for s, _, _ in keys}
problems = []

# docs/configuration.md: "## [section]" headings, rows "| `key` | type | default | meaning |"
doc, section = {}, None
for line in open(src + "/docs/configuration.md"):
    m = re.match(r"^## \[([a-z0-9_.]+)\]", line)
    if m:
        section = m.group(1)
        continue
    if line.startswith("## "):
        section = None
    m = re.match(r"^\|\s*`([a-z_]+)`\s*\|\s*([a-z]+)\s*\|\s*(.*?)\s*\|", line)
    if m and section in sections:
        doc[(section, m.group(1))] = m.group(3)
for s, k, default in keys:
    if (s, k) not in doc:
        problems.append("docs/configuration.md: %s.%s is not documented" % (s, k))
        continue
    d = doc[(s, k)]
    if default == "":
        if "empty" not in d:
            problems.append("docs/configuration.md: %s.%s: default should say empty, not %r" % (s, k, d))
    elif "`%s`" % default not in d:
        problems.append("docs/configuration.md: %s.%s: default `%s` not in %r" % (s, k, default, d))
for s, k in doc:
    if (s, k) not in known:
        problems.append("docs/configuration.md: %s.%s is not a key" % (s, k))

# deploy/imgflow.conf: "[section]" then "key = ..." or "#key = ..."
conf, section = set(), None
for line in open(src + "/deploy/imgflow.conf"):
    m = re.match(r"^\[([a-z0-9_.]+)\]", line)
    if m:
        section = m.group(1)
        continue
    m = re.match(r"^#?([a-z_]+)\s*=", line)
    if m and section in sections:
        conf.add((section, m.group(1)))
for s, k, _ in keys:
    if (s, k) not in conf:
        problems.append("deploy/imgflow.conf: %s.%s is missing" % (s, k))
for s, k in conf:
    if (s, k) not in known:
        problems.append("deploy/imgflow.conf: %s.%s is not a key" % (s, k))

for p in problems:
    print(p)
if problems:
    sys.exit(1)
print("%d keys documented with their defaults and in the default configuration" % len(keys))
