#!/usr/bin/env python3
"""Checks every #include "..." of the tree against the layer table of
docs/architecture.md: a file in a folder of that table may include only
project headers from the folders its row allows. System and library
headers (<...>) are not checked. Tests may include anything.

Usage: check_layers.py SOURCE_ROOT. Prints each violation and exits 1, or
prints a one-line summary and exits 0.
"""
import os
import re
import sys


def read_table(root):
    """[(folder, [allowed prefixes])], longest folder first."""
    text = open(os.path.join(root, "docs", "architecture.md"), encoding="utf-8").read()
    start = text.index("<!-- layer table")
    end = text.index("<!-- end of layer table -->")
    rows = []
    for line in text[start:end].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        folder = cells[0].strip("`")
        allowed = re.findall(r"`([^`]+)`", cells[2])
        rows.append((folder, allowed))
    if not rows:
        raise SystemExit("no layer table found in docs/architecture.md")
    return sorted(rows, key=lambda r: -len(r[0]))


def layer_of(rel, rows):
    for folder, allowed in rows:
        if rel == folder or (folder.endswith("/") and rel.startswith(folder)):
            return folder, allowed
    return None, None


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    rows = read_table(root)
    problems, checked = [], 0
    for top in ["common", "raft", "wal", "snap", "store", "api", "src"]:
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for name in sorted(names):
                if not name.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                folder, allowed = layer_of(rel, rows)
                if folder is None:
                    problems.append("%s: in no row of the layer table" % rel)
                    continue
                here = os.path.dirname(rel) + "/"
                for n, line in enumerate(open(path, encoding="utf-8", errors="replace"), 1):
                    m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                    if not m:
                        continue
                    inc = m.group(1)
                    checked += 1
                    # A bare name is a header beside the file (src/ctl, src/bench).
                    target = inc if "/" in inc else here + inc
                    if not any(target.startswith(a) for a in allowed):
                        problems.append("%s:%d: includes \"%s\", but %s may include only %s"
                                        % (rel, n, inc, folder, " ".join(allowed)))
    for p in problems:
        print(p)
    if problems:
        print("%d include(s) break the layer table of docs/architecture.md" % len(problems))
        return 1
    print("layers: %d includes checked against %d layers, none out of place"
          % (checked, len(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
