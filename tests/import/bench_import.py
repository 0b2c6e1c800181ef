"""The import of a large etcd data dir, measured (not part of the suite).

Makes an etcd 3.4.23 data dir with --keys keys (default 100000: 100-byte
values in 100 directories, 1% with a TTL, some in-order keys, some deleted
and some compare-and-swapped), records every node etcd serves and its
X-Etcd-Index, stops etcd, imports the data dir with
`metcd --import-etcd-data-dir`, and compares every node (key, value, dir,
createdIndex, modifiedIndex, expiration) and the index. Prints the time the
import took (metcd's own log line) and until metcd served.

    METCD_BIN=$PWD/build/metcd /usr/bin/python3 tests/import/bench_import.py --keys 100000
"""
import argparse
import http.client
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from metcd_proc import Metcd  # noqa: E402
from etcd_data import Etcd  # noqa: E402
from import_data_dir import MetcdReq  # noqa: E402


def load(url, n, threads=16):
    host, port = urllib.parse.urlparse(url).netloc.split(":")
    errors = []

    def work(t):
        c = http.client.HTTPConnection(host, int(port), timeout=30)
        hdr = {"Content-Type": "application/x-www-form-urlencoded"}
        for i in range(t, n, threads):
            body = {"value": ("v%07d-" % i) + "x" * 91}
            if i % 100 == 7:
                body["ttl"] = "3600"
            c.request("PUT", "/v2/keys/dir%02d/key%07d" % (i % 100, i),
                      urllib.parse.urlencode(body), hdr)
            r = c.getresponse()
            r.read()
            if r.status not in (200, 201):
                errors.append(r.status)
        c.close()
    ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors[:5]


def nodes(req):
    st, index, j = req("GET", "/", recursive="true", sorted="true")
    assert st == 200
    out = {}

    def walk(n):
        for c in n.get("nodes", []):
            d = dict(c)
            d.pop("nodes", None)
            d.pop("ttl", None)
            out[c["key"]] = d
            walk(c)
    walk(j["node"])
    return index, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=100000)
    opts = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="metcd-import-bench-")
    try:
        etcd_dir = os.path.join(tmp, "etcd")
        e = Etcd(etcd_dir)
        try:
            t0 = time.monotonic()
            load(e.client_url, opts.keys)
            for i in range(20):
                e.req("POST", "/queue", value="job%d" % i)
                e.req("DELETE", "/dir%02d/key%07d" % (i, i))
                e.req("PUT", "/dir%02d/key%07d" % (50 + i, 50 + i), value="swapped",
                      prevIndex=str(e.req("GET", "/dir%02d/key%07d" % (50 + i, 50 + i))[2]
                                    ["node"]["modifiedIndex"]))
            print("etcd: %d keys written in %.1fs" % (opts.keys, time.monotonic() - t0))
            want_index, want = nodes(e.req)
        finally:
            e.stop()
        du = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(etcd_dir)
                 for f in fs)
        snaps = sorted(os.listdir(os.path.join(etcd_dir, "member", "snap")))
        print("etcd data dir: %.1f MB, snapshots %s" % (du / 1e6, snaps))
        t0 = time.monotonic()
        with Metcd(data_dir=os.path.join(tmp, "metcd"),
                   args=["--import-etcd-data-dir", etcd_dir]) as m:
            m.wait_ready()
            ready = time.monotonic() - t0
            log = m.stderr()
            took = re.search(r"imported (\d+) keys and directories at etcd index (\d+) in ([0-9.]+)s",
                             log)
            assert took, log
            got_index, got = nodes(MetcdReq(m).req)
            assert got_index == want_index, (want_index, got_index)
            assert len(got) == len(want), (len(want), len(got))
            bad = [k for k in want if got.get(k) != want[k]]
            assert not bad, [(k, want[k], got.get(k)) for k in bad[:5]]
            print("import: %s nodes at X-Etcd-Index %s in %ss; metcd serving after %.2fs; "
                  "every node and the index equal" % (took.group(1), took.group(2),
                                                       took.group(3), ready))
            for line in log.splitlines():
                if "etcdimport" in line:
                    print("  " + line)
        # For scale: etcd itself restarting on the same data dir (snapshot
        # load and WAL replay) until it serves.
        t0 = time.monotonic()
        e = Etcd(etcd_dir)
        print("etcd restart on the same data dir: serving after %.2fs" % (time.monotonic() - t0))
        e.stop()
        with open("/proc/loadavg") as f:
            print("load average: %s" % " ".join(f.read().split()[:3]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
