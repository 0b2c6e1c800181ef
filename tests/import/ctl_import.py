"""metcdctl import: a live etcd 3.4.23 keyspace copied into a running metcd
through the v2 API; run again, it skips what is already there; with
--follow it applies the writes made to etcd during and after the copy.
Exit 77 (skip) when etcd 3.4.23 is not installed (apt-get install etcd-server).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from metcd_proc import Metcd, METCD_BIN, run_cases  # noqa: E402
from etcd_data import Etcd, ETCD  # noqa: E402
from import_data_dir import HIDDEN, MetcdReq  # noqa: E402

METCDCTL = os.environ.get("METCDCTL_BIN", "")


def tree(req, with_hidden=True):
    """{key: (dir, value, has_ttl)} of every node, and the in-order keys of
    /q in createdIndex order."""
    st, _, j = req("GET", "/", recursive="true", sorted="true")
    assert st == 200, j
    out, q = {}, []

    def walk(n):
        for c in n.get("nodes", []):
            out[c["key"]] = (c.get("dir", False), c.get("value"), "ttl" in c)
            if c["key"].startswith("/q/"):
                q.append((c["createdIndex"], c["value"]))
            walk(c)
    walk(j["node"])
    if with_hidden:
        for k in HIDDEN:
            st, _, hj = req("GET", k)
            if st == 200:
                n = hj["node"]
                out[k] = (n.get("dir", False), n.get("value"), "ttl" in n)
    return out, [v for _, v in sorted(q)]


def write_source(e, n):
    e.req("PUT", "/d", dir="true")
    e.req("PUT", "/d/a/b", value="deep")
    e.req("PUT", "/d/_hid", value="hidden in a dir")
    e.req("PUT", "/_h", value="hidden")
    e.req("PUT", "/_hd/x", value="under a hidden dir")
    e.req("PUT", "/emptydir", dir="true")
    e.req("PUT", "/ttl", value="t", ttl="600")
    e.req("PUT", "/ttldir", dir="true", ttl="700")
    e.req("PUT", "/multi", value="line one\nline two & more = + %")
    for i in range(5):
        e.req("POST", "/q", value="job%d" % i)
    for i in range(n):
        e.req("PUT", "/bulk/k%05d" % i, value="v%d" % i)


def ctl(target, *args, timeout=120):
    return subprocess.run([METCDCTL, "--endpoints", target] + list(args), capture_output=True,
                          text=True, timeout=timeout)


def case_copy_and_resume():
    tmp = tempfile.mkdtemp(prefix="metcd-ctl-import-")
    e = Etcd(os.path.join(tmp, "etcd"))
    try:
        write_source(e, 50)
        with Metcd() as m:
            m.wait_ready()
            hidden = "/_h,/d/_hid,/_hd"
            r = ctl(m.client_url, "import", "--from", e.client_url, "--hidden", hidden)
            assert r.returncode == 0, (r.returncode, r.stderr)
            want, want_q = tree(e.req)
            got, got_q = tree(MetcdReq(m).req)
            assert got == want, sorted(set(got.items()) ^ set(want.items()))
            assert got_q == want_q == ["job%d" % i for i in range(5)], (got_q, want_q)
            assert "imported %d keys" % len(want) in r.stderr, r.stderr
            # Again: everything is there already, nothing is written.
            st, before, _ = MetcdReq(m).req("GET", "/")
            r = ctl(m.client_url, "import", "--from", e.client_url, "--hidden", hidden)
            assert r.returncode == 0, r.stderr
            assert "(0 written, %d already there)" % len(want) in r.stderr, r.stderr
            st, after, _ = MetcdReq(m).req("GET", "/")
            assert after == before, (before, after)
            # A source that does not answer: a clear error, exit 2.
            r = ctl(m.client_url, "import", "--from", "http://127.0.0.1:1")
            assert r.returncode == 2 and "connection refused" in r.stderr, r
            r = ctl(m.client_url, "import")
            assert r.returncode == 1 and "--from" in r.stderr, r
    finally:
        e.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def case_follow():
    tmp = tempfile.mkdtemp(prefix="metcd-ctl-follow-")
    e = Etcd(os.path.join(tmp, "etcd"))
    try:
        write_source(e, 1500)
        with Metcd() as m:
            m.wait_ready()
            out_path = os.path.join(tmp, "follow.out")
            with open(out_path, "w") as out:
                p = subprocess.Popen([METCDCTL, "--endpoints", m.client_url, "import", "--from",
                                      e.client_url, "--follow"], stdout=out,
                                     stderr=subprocess.PIPE, text=True)
            try:
                # Writes while the copy runs and after it: sets, deletes, a
                # recursive delete, a CAS, in-order keys, a TTL change.
                def writer():
                    for i in range(300):
                        e.req("PUT", "/live/k%03d" % i, value="during %d" % i)
                        if i % 50 == 0:
                            e.req("DELETE", "/bulk/k%05d" % i)
                    e.req("DELETE", "/d", recursive="true")
                    e.req("PUT", "/multi", value="swapped", prevValue="line one\nline two & more = + %")
                    e.req("POST", "/q", value="job5")
                    e.req("PUT", "/ttldir", dir="true", ttl="900", prevExist="true")
                    e.req("PUT", "/emptydir", dir="true", ttl="800", prevExist="true")
                    e.req("PUT", "/last", value="done")
                t = threading.Thread(target=writer)
                t.start()
                t.join(120)
                assert not t.is_alive()
                want, want_q = tree(e.req, with_hidden=False)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    got, got_q = tree(MetcdReq(m).req, with_hidden=False)
                    if got == want and got_q == want_q:
                        break
                    assert p.poll() is None, p.stderr.read()
                    time.sleep(0.2)
                assert got == want, sorted(set(got.items()) ^ set(want.items()))[:20]
                assert got_q == want_q, (got_q, want_q)
            finally:
                p.send_signal(signal.SIGTERM)
                rc = p.wait(10)
            err = p.stderr.read()
            assert rc == 0, (rc, err)
            assert "following the source from index" in err, err
            with open(out_path) as f:
                lines = f.read().splitlines()
            assert any(l.endswith(" set /last") for l in lines), lines[-5:]
    finally:
        e.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if not os.access(ETCD, os.X_OK):
        print("SKIP: etcd is not installed (apt-get install etcd-server)")
        sys.exit(77)
    for b in (METCD_BIN, METCDCTL):
        if not os.access(b, os.X_OK):
            print("not an executable: %r (METCD_BIN, METCDCTL_BIN)" % b)
            sys.exit(1)
    run_cases({"copy_and_resume": case_copy_and_resume, "follow": case_follow})
