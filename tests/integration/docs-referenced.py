#!/usr/bin/env python3
# Every docs/<name>.md that a tracked file names (code comments, units,
# scripts, the README, the docs themselves) exists, so renaming a page
# without fixing its references fails here.
#
#   docs-referenced.py SOURCE_ROOT
import os
import re
import subprocess
import sys

src = sys.argv[1]
try:
    files = subprocess.run(["git", "-C", src, "ls-files"], capture_output=True, text=True,
                           check=True).stdout.split()
except (OSError, subprocess.CalledProcessError):
    # Not a git checkout (a release tarball): every file below the root.
    files = [os.path.relpath(os.path.join(d, f), src)
             for d, _, fs in os.walk(src) if "/.git" not in d and "/build" not in d for f in fs]
pages = set()
problems = []
for f in files:
    try:
        text = open(os.path.join(src, f), encoding="utf-8").read()
    except (OSError, UnicodeDecodeError):
        continue
    for m in re.finditer(r"\bdocs/([A-Za-z0-9_.-]+\.md)\b", text):
        pages.add(m.group(1))
        if not os.path.exists(os.path.join(src, "docs", m.group(1))):
            line = text.count("\n", 0, m.start()) + 1
            problems.append("%s:%d: docs/%s does not exist" % (f, line, m.group(1)))
if len(pages) < 5:
    sys.exit("found only %d docs/ pages named in the tree: is %s the source root?" % (len(pages), src))
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
