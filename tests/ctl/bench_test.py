#!/usr/bin/env python3
"""metcd-bench: refuses non-loopback targets and bad options; its floor
server answers GET and PUT loads; a short,
bounded run of each load against a member completes without errors and
leaves the keys it wrote; compare mode reports both targets.
No performance assertion. Exit 77 (skip) when etcd is missing; a missing metcd fails."""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_compat import ETCD, Member  # noqa: E402

BENCH = os.environ.get("METCD_BENCH_BIN", "")
failures = []


def bench(*args, timeout=60):
    p = subprocess.run([BENCH] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def check(cond, what):
    print("%s %s" % ("ok" if cond else "FAILED", what))
    if not cond:
        failures.append(what)


def short_run(url, op, prefix, what):
    """At most about 300 requests of op (4 connections, 20 keys, 2 s at
    most) against url, checked to end with no error; the result line."""
    rc, out, err = bench("--endpoints", url, "--op", op, "--conns", "4", "--keys", "20",
                         "--duration", "2s", "--requests", "300", "--json", "--prefix", prefix)
    try:
        r = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        r = {}
    check(rc == 0 and r.get("requests", 0) > 0 and r.get("errors") == 0,
          "%s %s: rc=%d %s %s" % (op, what, rc, out.strip(), err.strip()))
    return r


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def check_floor():
    """metcd-bench floor refuses bad arguments; started, it answers a GET
    and a PUT load (the PUTs synced to a file of --sync DIR) with no error."""
    for bad in ([], ["--listen", "0"], ["--listen", "1", "--threads", "0"], ["--bogus"]):
        rc, out, err = bench("floor", *bad)
        check(rc == 2 and "floor" in err, "floor rejects %r (rc=%d)" % (bad, rc))
    with tempfile.TemporaryDirectory() as d:
        port = free_port()
        p = subprocess.Popen([BENCH, "floor", "--listen", str(port), "--sync", d],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            line = p.stdout.readline().decode()
            check("listening on 127.0.0.1:%d" % port in line, "floor started: %r" % line)
            for op in ("get", "put"):
                short_run("http://127.0.0.1:%d" % port, op, "/b-" + op, "against the floor")
            synced = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
            check(synced > 300 * 100, "the floor synced the PUTs (%d bytes)" % synced)
        finally:
            p.kill()
            p.wait(timeout=10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", choices=["etcd", "metcd"], default="etcd")
    opts = ap.parse_args()

    rc, out, err = bench("--endpoints", "http://192.0.2.1:2379", "--duration", "1s")
    check(rc == 2 and "not a loopback address" in err, "non-loopback endpoint refused: %r" % err)
    rc, out, err = bench("compare", "--a", "http://127.0.0.1:1", "--b", "http://[2001:db8::1]:1")
    check(rc == 2 and "not a loopback address" in err, "compare refuses non-loopback: %r" % err)
    for bad in (["--conns", "0"], ["--conns", "100000"], ["--duration", "3h"], ["--op", "x"],
                ["--keys", "0"], ["--bogus", "1"]):
        rc, out, err = bench("--endpoints", "http://127.0.0.1:1", *bad)
        check(rc == 2, "rejects %s (rc=%d)" % (" ".join(bad), rc))
    rc, out, err = bench("--help")
    check(rc == 0 and "--endpoints" in out, "--help")
    check_floor()

    binary = ETCD if opts.server == "etcd" else os.environ.get("METCD_BIN", "")
    if not os.access(binary, os.X_OK):
        # Only etcd, a tool from outside the project, may be missing.
        if opts.server == "etcd" and not failures:
            print("SKIP: %s is not available" % binary)
            return 77
        print("FAIL: %s is not available" % (binary or opts.server))
        return 1
    a, b = Member(opts.server, binary), Member(opts.server, binary)
    try:
        if not (a.wait_ready() and b.wait_ready()):
            # A server that does not start is a failure, never a skip.
            print("the %s server did not start" % opts.server)
            return 1
        for op in ("get", "put", "mixed", "watch", "lock", "list"):
            r = short_run(a.url, op, "/b-" + op, "run")
            check(r.get("requests", 0) <= 300 + 4, "%s run stops near --requests" % op)
            if op == "watch":
                check(r.get("events", 0) > 0, "watch run received events")
        # The lock run deleted every lock it created, except at most one per
        # connection still held when it stopped.
        with urllib.request.urlopen(a.url + "/v2/keys/b-lock-locks", timeout=5) as resp:
            held = json.load(resp)["node"].get("nodes", [])
        check(len(held) <= 4, "lock run left %d locks held (at most 4)" % len(held))
        # The PUT run wrote values of the requested size under its prefix.
        with urllib.request.urlopen(a.url + "/v2/keys/b-put?recursive=true", timeout=5) as resp:
            listing = json.load(resp)
        nodes = listing["node"].get("nodes", [])
        check(len(nodes) > 0 and all(n["value"] == "x" * 100 for n in nodes),
              "put run left %d keys of 100 bytes" % len(nodes))
        # fill writes each key exactly once and stops by itself.
        rc, out, err = bench("--endpoints", a.url, "--op", "fill", "--keys", "500", "--conns", "8",
                             "--duration", "60s", "--json", "--prefix", "/fill")
        r = json.loads(out.strip().splitlines()[-1]) if rc == 0 else {}
        with urllib.request.urlopen(a.url + "/v2/keys/fill", timeout=5) as resp:
            names = sorted(n["key"] for n in json.load(resp)["node"].get("nodes", []))
        check(rc == 0 and r.get("requests") == 500 and r.get("errors") == 0 and
              names == sorted("/fill/k%d" % i for i in range(500)),
              "fill wrote keys 0..499 once each (%s, %d keys)" % (out.strip(), len(names)))
        rc, out, err = bench("compare", "--a", a.url, "--b", b.url, "--op", "get", "--conns", "4",
                             "--duration", "300ms", "--rounds", "2", "--keys", "10")
        check(rc == 0 and "requests/s" in out and a.url in out and b.url in out,
              "compare output: %s %s" % (out, err))
    finally:
        a.stop()
        b.stop()
    if failures:
        print("%d checks failed" % len(failures))
        return 1
    print("all checks pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
