#!/usr/bin/env python3
"""Runs every examples/*.sh against a fresh member (etcd 3.4.23 by default,
metcd with --server metcd). Each script checks its own results and exits 0.
Exit 77 (skip) when the server or curl is missing."""
import argparse
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_compat import ETCD, Member  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", choices=["etcd", "metcd"], default="etcd")
    opts = ap.parse_args()
    if shutil.which("curl") is None:
        print("SKIP: curl is not installed")
        return 77
    binary = ETCD if opts.server == "etcd" else os.environ.get("METCD_BIN", "")
    if not os.access(binary, os.X_OK):
        # Only etcd, a tool from outside the project, may be missing.
        print("%s: %s is not available" % ("SKIP" if opts.server == "etcd" else "FAIL",
                                           binary or opts.server))
        return 77 if opts.server == "etcd" else 1
    root = os.environ.get("METCD_SOURCE_ROOT",
                          os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    examples = os.path.join(root, "examples")
    scripts = sorted(f for f in os.listdir(examples) if f.endswith(".sh"))
    m = Member(opts.server, binary)
    failed = []
    try:
        if not m.wait_ready():
            # A server that does not start is a failure, never a skip.
            print("%s did not start" % opts.server)
            return 1
        for s in scripts:
            env = dict(os.environ, ENDPOINT=m.url)
            try:
                p = subprocess.run(["sh", os.path.join(examples, s)], env=env, timeout=60,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                out, rc = p.stdout.decode("utf-8", "replace"), p.returncode
            except subprocess.TimeoutExpired as e:
                out, rc = (e.stdout or b"").decode("utf-8", "replace"), "timeout"
            print("== %s: %s\n%s" % (s, "ok" if rc == 0 else "FAILED (%s)" % rc, out))
            if rc != 0:
                failed.append(s)
    finally:
        m.stop()
    if failed:
        print("failed: %s" % " ".join(failed))
        return 1
    print("all %d examples pass against %s" % (len(scripts), opts.server))
    return 0


if __name__ == "__main__":
    sys.exit(main())
