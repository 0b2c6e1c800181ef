"""metcd --import-etcd-data-dir: etcd 3.4.23 data dirs made here, read by a
new metcd member, which must serve the same tree with the same indexes.

Each case starts etcd (--enable-v2, a low --snapshot-count so that the data
dir holds v2 snapshots and WAL entries after the newest one), writes through
the v2 API (keys, directories, hidden keys, TTL keys, in-order keys, deletes,
compare-and-swap/delete, an expiry), records what etcd serves, stops it,
starts metcd on a new data dir with the flag, and compares every node (key,
value, dir, createdIndex, modifiedIndex, expiration, ttl), X-Etcd-Index and
watches with a waitIndex inside the history.
Exit 77 (skip) when etcd 3.4.23 is not installed (apt-get install etcd-server).
"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from metcd_proc import Metcd, METCD_BIN, run_cases, http, json_body  # noqa: E402
from etcd_data import Etcd, ETCD  # noqa: E402

HIDDEN = ["/_h", "/d/_hid", "/_hd", "/_hd/x"]


def write_workload(e, snapshot_expected):
    """Writes every kind of change etcd's v2 API makes. Returns the waitIndex
    probes (key, waitIndex, recursive) to compare afterwards."""
    for i in range(12):
        e.req("PUT", "/k%d" % i, value="v%d" % i)
    e.req("PUT", "/d", dir="true")
    e.req("PUT", "/d/a/b", value="deep")
    e.req("PUT", "/d/_hid", value="hidden in a dir")
    e.req("PUT", "/_h", value="hidden")
    e.req("PUT", "/_hd", dir="true")
    e.req("PUT", "/_hd/x", value="under a hidden dir")
    e.req("PUT", "/emptydir", dir="true")
    e.req("PUT", "/ttl", value="t", ttl="600")
    e.req("PUT", "/ttldir", dir="true", ttl="700")
    e.req("PUT", "/short", value="gone soon", ttl="1")
    for i in range(3):
        e.req("POST", "/q", value="job%d" % i)
    e.req("PUT", "/k1", value="v1b", prevValue="v1")               # compareAndSwap
    e.req("PUT", "/k2", value="v2b", prevExist="true")             # update
    e.req("PUT", "/k3", value="nope", prevExist="false")           # fails: exists
    e.req("PUT", "/new", value="n", prevExist="false")             # create
    e.req("DELETE", "/k4")
    _, idx5, j5 = e.req("GET", "/k5")
    e.req("DELETE", "/k5", prevIndex=str(j5["node"]["modifiedIndex"]))  # compareAndDelete
    e.req("PUT", "/rm/a/b", value="x")
    e.req("DELETE", "/rm", recursive="true")
    e.req("PUT", "/ttl", ttl="600", refresh="true", prevExist="true")
    e.req("PUT", "/k6", value="unicode \u00e9\u2028<&>")
    # Let etcd's leader expire /short (its SYNC every 500 ms).
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and e.req("GET", "/short")[0] == 200:
        time.sleep(0.2)
    assert e.req("GET", "/short")[0] == 404, "etcd did not expire /short"
    e.req("PUT", "/after", value="written after the expiry")
    for i in range(3):
        e.req("POST", "/q", value="late%d" % i)
    e.req("PUT", "/k7", value="v7b")
    # v2 auth: users, a role, auth enabled (etcd keeps them in its v2 store).
    assert e.auth("PUT", "/users/root", {"user": "root", "password": "pw"})[0] == 201
    assert e.auth("PUT", "/roles/app", {"role": "app", "permissions": {
        "kv": {"read": ["/q/*"], "write": ["/q/*"]}}})[0] == 201
    assert e.auth("PUT", "/users/svc", {"user": "svc", "password": "pw2", "roles": ["app"]})[0] in (200, 201)
    assert e.auth("PUT", "/enable")[0] == 200
    # Enough writes after that for a snapshot to hold the auth records too.
    for i in range(25):
        e.req("PUT", "/tail/%d" % i, value="t%d" % i)
    snaps = os.listdir(os.path.join(e.data_dir, "member", "snap"))
    has_snap = any(n.endswith(".snap") for n in snaps)
    assert has_snap == snapshot_expected, snaps
    return [("/k1", 1, False), ("/k1", 10, False), ("/", 1, True), ("/d", 5, True),
            ("/short", 1, False), ("/rm/a/b", 1, False), ("/q", 30, True), ("/ttl", 20, False)]


def snapshot_of(server_req):
    """Every node: the recursive listing plus the hidden keys by name."""
    st, index, j = server_req("GET", "/", recursive="true", sorted="true")
    assert st == 200, j
    nodes = {}

    def walk(n):
        for c in n.get("nodes", []):
            d = dict(c)
            d.pop("nodes", None)
            nodes[c["key"]] = d
            walk(c)
    walk(j["node"])
    for k in HIDDEN:
        st, _, hj = server_req("GET", k)
        assert st == 200, (k, hj)
        d = dict(hj["node"])
        d.pop("nodes", None)
        nodes[k] = d
    return index, nodes


def auth_state(srv):
    """What the auth API serves, and what a user may do."""
    out = [srv.auth("GET", "/enable"), srv.auth("GET", "/users", user="root:pw"),
           srv.auth("GET", "/roles", user="root:pw"), srv.auth("GET", "/users/svc", user="svc:pw2"),
           srv.auth("GET", "/users/svc", user="svc:wrong")[0]]
    return out


def watches(server_req, probes):
    out = []
    for key, since, rec in probes:
        params = {"wait": "true", "waitIndex": str(since)}
        if rec:
            params["recursive"] = "true"
        st, _, j = server_req("GET", key, **params)
        out.append((st, j))
    return out


def same_nodes(want, got, exact_deadlines=True):
    assert sorted(want) == sorted(got), (sorted(set(want) ^ set(got)))
    for k, w in want.items():
        w, g = dict(w), dict(got[k])
        if not exact_deadlines:
            # A restarted metcd gives TTL keys back the time it was down
            # (docs/clustering.md): deadlines move by that much.
            assert ("expiration" in w) == ("expiration" in g), (k, w, g)
            w.pop("expiration", None)
            g.pop("expiration", None)
        # ttl counts down while the test runs; the deadline must be equal.
        wt, gt = w.pop("ttl", None), g.pop("ttl", None)
        assert (wt is None) == (gt is None), (k, w, g)
        if wt is not None:
            assert abs(wt - gt) <= 30, (k, wt, gt)
        assert w == g, (k, w, g)


class MetcdReq:
    def __init__(self, m):
        self.client_url = m.client_url

    req = Etcd.req
    auth = Etcd.auth


def import_case(snapshot_count, snapshot_expected):
    tmp = tempfile.mkdtemp(prefix="metcd-import-")
    try:
        etcd_dir = os.path.join(tmp, "etcd")
        e = Etcd(etcd_dir, snapshot_count=snapshot_count)
        try:
            probes = write_workload(e, snapshot_expected)
            want_index, want = snapshot_of(e.req)
            want_watch = watches(e.req, probes)
            want_auth = auth_state(e)
        finally:
            e.stop()
        data = os.path.join(tmp, "metcd")
        with Metcd(data_dir=data, args=["--import-etcd-data-dir", etcd_dir]) as m:
            m.wait_ready()
            r = MetcdReq(m)
            got_index, got = snapshot_of(r.req)
            same_nodes(want, got)
            assert got_index == want_index, (want_index, got_index, m.stderr())
            got_watch = watches(r.req, probes)
            assert got_watch == want_watch, (want_watch, got_watch)
            got_auth = auth_state(r)
            assert got_auth == want_auth, (want_auth, got_auth)
            # The next write takes etcd's next index.
            st, idx, j = r.req("PUT", "/next", value="1")
            assert st == 201 and j["node"]["modifiedIndex"] == want_index + 1, (st, j)
            assert "imported" in m.stderr(), m.stderr()
            assert m.stop() == 0, m.stderr()
            # Restarted with the same flags: the log is there, nothing is
            # imported again and nothing is lost.
            with Metcd(data_dir=data, client_port=m.client_port, peer_port=m.peer_port,
                       args=["--import-etcd-data-dir", etcd_dir]) as m2:
                m2.wait_ready()
                r2 = MetcdReq(m2)
                st, _, j = r2.req("GET", "/next")
                assert st == 200 and j["node"]["value"] == "1", j
                idx2, got2 = snapshot_of(r2.req)
                got2.pop("/next")
                assert idx2 == want_index + 1
                same_nodes(want, got2, exact_deadlines=False)
                assert "not importing" in m2.stderr(), m2.stderr()
                assert m2.stop() == 0, m2.stderr()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def case_snapshot_and_wal():
    import_case(snapshot_count=20, snapshot_expected=True)


def case_wal_only():
    import_case(snapshot_count=100000, snapshot_expected=False)


def run_import_fails(etcd_dir, needle):
    """metcd refuses the import with a clear line, exit 1, and leaves no log."""
    tmp = tempfile.mkdtemp(prefix="metcd-import-bad-")
    try:
        data = os.path.join(tmp, "metcd")
        with Metcd(data_dir=data, args=["--import-etcd-data-dir", etcd_dir]) as m:
            rc = m.wait_exit(20)
            assert rc == 1, (rc, m.stderr())
            assert needle in m.stderr(), m.stderr()
            assert not os.path.exists(os.path.join(data, "member", "wal")), "a log was left"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def case_bad_input():
    tmp = tempfile.mkdtemp(prefix="metcd-import-src-")
    try:
        run_import_fails(os.path.join(tmp, "missing"), "not an etcd data directory")
        etcd_dir = os.path.join(tmp, "etcd")
        e = Etcd(etcd_dir)
        try:
            for i in range(30):
                e.req("PUT", "/k%d" % i, value="value %d" % i)
        finally:
            e.stop()
        wal_dir = os.path.join(etcd_dir, "member", "wal")
        wal = os.path.join(wal_dir, sorted(os.listdir(wal_dir))[0])
        with open(wal, "r+b") as f:
            data = f.read(1 << 16)
            # Damage a value in the middle of the log: a CRC mismatch, not a torn tail.
            at = data.find(b"value 10")
            assert at > 0
            f.seek(at)
            f.write(b"VALUE 10")
        run_import_fails(etcd_dir, "CRC mismatch")
        with Metcd(args=["--import-etcd-data-dir"]) as m:
            assert m.wait_exit(10) == 2
            assert "flag needs an argument" in m.stderr(), m.stderr()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if not os.access(ETCD, os.X_OK):
        print("SKIP: etcd is not installed (apt-get install etcd-server)")
        sys.exit(77)
    if not os.access(METCD_BIN, os.X_OK):
        print("METCD_BIN is not an executable metcd")
        sys.exit(1)
    run_cases({"snapshot_and_wal": case_snapshot_and_wal, "wal_only": case_wal_only,
               "bad_input": case_bad_input})
