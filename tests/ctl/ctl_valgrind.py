#!/usr/bin/env python3
"""metcdctl under valgrind: no invalid access, no leak of any kind (it
frees everything), for every command, on success and on error paths.
Runs against etcd 3.4.23 (or metcd with --server metcd). Exit 77 (skip) in
a sanitized build (valgrind cannot run ASan binaries) or when valgrind or
etcd is missing; a missing metcd, or a server that does not start, fails."""
import argparse
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_compat import ETCD, Member  # noqa: E402

CASES = [
    ["set", "/vg/a", "<value> & more"],
    ["-o", "json", "get", "/vg/a"],
    ["-o", "extended", "set", "--ttl", "100", "/vg/a", "b"],
    ["mk", "--in-order", "/vg/q", "x"],
    ["mkdir", "/vg/d"],
    ["-o", "json", "ls", "-r", "--sort", "/"],
    ["ls", "-p", "/vg"],
    ["update", "/vg/a", "c"],
    ["updatedir", "--ttl", "50", "/vg/d"],
    ["get", "/vg/d"],
    ["get", "/vg/missing"],
    ["set", "--swap-with-value", "zz", "/vg/a", "d"],
    ["rm", "--recursive", "/vg/q"],
    ["rmdir", "/vg/d"],
    ["-o", "json", "rm", "/vg/a"],
    ["watch", "--after-index", "1", "/vg/a"],
    ["-o", "extended", "watch", "-r", "--after-index", "1", "/vg"],
    ["member", "list"],
    ["cluster-health"],
    ["--endpoints", "http://127.0.0.1:1", "get", "/x"],
    ["--no-sync", "--endpoints", "http://127.0.0.1:1,http://127.0.0.1:2", "get", "/x"],
    ["member", "add", "m4", "notaurl"],
    ["member", "remove", "feedbeef"],
    ["member", "update", "feedbeef", "http://127.0.0.1:1,http://127.0.0.1:2"],
    ["--no-sync", "--endpoints", "http://127.0.0.1:1", "mk", "/once", "1"],
    ["get", "--bogus"],
    ["set", "/novalue"],
    ["--help"],
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", choices=["etcd", "metcd"], default="etcd")
    opts = ap.parse_args()
    if os.environ.get("METCD_SANITIZED") == "1":
        print("SKIP: sanitized build (ASan and valgrind do not mix)")
        return 77
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("SKIP: valgrind is not installed")
        return 77
    binary = ETCD if opts.server == "etcd" else os.environ.get("METCD_BIN", "")
    if not os.access(binary, os.X_OK):
        # Only etcd, a tool from outside the project, may be missing.
        print("%s: %s is not available" % ("SKIP" if opts.server == "etcd" else "FAIL",
                                           binary or opts.server))
        return 77 if opts.server == "etcd" else 1
    ctl = os.environ["METCDCTL_BIN"]
    m = Member(opts.server, binary)
    bad = []
    try:
        if not m.wait_ready():
            print("FAIL: the server did not start")
            return 1
        for args in CASES:
            argv = [valgrind, "-q", "--error-exitcode=99", "--leak-check=full",
                    "--show-leak-kinds=all", "--errors-for-leak-kinds=all",
                    ctl, "--endpoints", m.url] + args
            try:
                p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, timeout=60)
                rc, err = p.returncode, p.stderr.decode("utf-8", "replace")
            except subprocess.TimeoutExpired:
                rc, err = "timeout", ""
            reports = [l for l in err.splitlines() if l.startswith("==")]
            status = "ok" if rc != 99 and rc != "timeout" and not reports else "FAILED"
            print("%s rc=%s %s" % (status, rc, " ".join(args)))
            if status != "ok":
                print("\n".join(reports))
                bad.append(args)
    finally:
        m.stop()
    if bad:
        print("%d of %d cases not clean under valgrind" % (len(bad), len(CASES)))
        return 1
    print("all %d cases clean under valgrind" % len(CASES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
