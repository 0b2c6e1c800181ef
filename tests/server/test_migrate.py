"""metcd --migrate-backend: the offline conversion of a data dir between the
memory, lmdb and leveldb backends (docs/operations.md, "Changing the
backend"). Each case starts its own processes.

Usage: test_migrate.py [case ...]   (all cases when none is named)
"""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from metcd_proc import (METCD_BIN, START_TIMEOUT, Metcd, check, clean_env, eq, http,
                        run_cases)

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# memory -> lmdb -> leveldb -> memory -> leveldb -> lmdb -> memory: every
# engine as the source and as the target of every other, six directions.
CHAIN = ["memory", "lmdb", "leveldb", "memory", "leveldb", "lmdb", "memory"]
HIDDEN = ["/_hidden", "/d0/_h", "/ttl-dir/_h"]


def req(m, method, path, **form):
    body = urllib.parse.urlencode(form).encode() if form else None
    st, headers, data = http(method, m.client_url + "/v2/keys" + path, body=body,
                             headers=FORM if body else None)
    return st, headers, json.loads(data)


def without_ttl(node, ttls):
    """A node with "ttl" and "expiration" taken out into ttls (key -> ttl).
    A start moves every deadline forward by the time the member was down
    (store.h, STORE_OP_RESUME), so the remaining ttl is what stays, give or
    take the seconds the conversion takes."""
    node = dict(node)
    if "expiration" in node:
        node["expiration"] = "set"
        ttls[node["key"]] = node.pop("ttl")
    if "nodes" in node:
        node["nodes"] = [without_ttl(n, ttls) for n in node["nodes"]]
    return node


def image(m, first_index):
    """Everything a client can see: the recursive listing, every hidden key,
    a few single GETs, X-Etcd-Index, and the event history from first_index
    (a waitIndex inside the window answers at once from the history)."""
    out = {}
    ttls = {}
    st, h, body = req(m, "GET", "/?recursive=true&sorted=true")
    eq(st, 200, "recursive listing")
    out["index"] = h["X-Etcd-Index"]
    out["listing"] = without_ttl(body["node"], ttls)
    for k in HIDDEN + ["/d0/k1", "/ttl-key", "/queue?sorted=true", "/gone"]:
        st, _, body = req(m, "GET", k)
        out[k] = (st, without_ttl(body["node"], ttls) if "node" in body else
                  {f: body[f] for f in ("errorCode", "message", "cause")})
    events = []
    for i in range(first_index, int(out["index"]) + 1):
        st, _, body = req(m, "GET", "/?wait=true&recursive=true&waitIndex=%d" % i)
        eq(st, 200, "waitIndex=%d" % i)
        events.append(json.dumps(body, sort_keys=True))
    out["events"] = events
    return out, ttls


def write_stage(m, stage):
    """Writes of every kind, so that each engine holds writes of its own."""
    req(m, "PUT", "/d%d/k1" % stage, value="v%d" % stage)
    req(m, "PUT", "/d0/k1", value="stage%d" % stage)  # a key of an earlier stage, changed
    req(m, "PUT", "/ttl-key", value="t%d" % stage, ttl="100000")
    req(m, "PUT", "/ttl-dir", dir="true", ttl="100000", prevExist=str(stage > 0).lower())
    req(m, "PUT", "/ttl-dir/_h", value="h%d" % stage)
    req(m, "PUT", "/_hidden", value="hidden%d" % stage)
    req(m, "PUT", "/d0/_h", value="dh%d" % stage)
    req(m, "POST", "/queue", value="job%d" % stage)
    req(m, "PUT", "/gone", value="x")
    req(m, "DELETE", "/gone")
    req(m, "PUT", "/d%d/k1" % stage, value="v%d-cas" % stage, prevValue="v%d" % stage)
    req(m, "PUT", "/long/" + "n" * 600 + "/leaf%d" % stage, value="a long path")
    # A key that expires: its expire event is in the history compared after.
    req(m, "PUT", "/short%d" % stage, value="s", ttl="1")
    deadline = time.monotonic() + 10
    while req(m, "GET", "/short%d" % stage)[0] != 404:
        check(time.monotonic() < deadline, "/short%d did not expire" % stage)
        time.sleep(0.1)


def migrate(data_dir, backend, extra=None):
    p = subprocess.run([METCD_BIN, "--migrate-backend", "--data-dir", data_dir, "--backend",
                        backend] + (extra or []), stdin=subprocess.DEVNULL,
                       capture_output=True, env=clean_env(), timeout=START_TIMEOUT * 4)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def case_all_directions():
    first = None
    data_dir = ports = None
    before = None
    keep = []
    try:
        for stage, backend in enumerate(CHAIN):
            kw = {}
            if data_dir:
                kw = dict(data_dir=data_dir, client_port=ports[0], peer_port=ports[1])
            # A small --snapshot-count: snapshots are taken and the WAL released
            # behind them, so a start on memory needs the snapshot and the WAL.
            m = Metcd("n1", args=["--backend", backend, "--snapshot-count", "7"], **kw)
            keep.append(m)
            m.wait_ready()
            data_dir = data_dir or m.data_dir
            ports = ports or (m.client_port, m.peer_port)
            if before is not None:
                after, ttls_after = image(m, first)
                for k in before:
                    eq(after[k], before[k], "%s after %s -> %s" % (k, CHAIN[stage - 1], backend))
                eq(sorted(ttls_after), sorted(ttls_before), "keys with a TTL")
                for k, t in ttls_after.items():
                    check(ttls_before[k] - 10 <= t <= ttls_before[k],
                          "ttl of %s: %d, was %d" % (k, t, ttls_before[k]))
            if stage == len(CHAIN) - 1:
                eq(m.stop(), 0, "exit status")
                break
            st, h, _ = req(m, "GET", "/")
            first = first or int(h["X-Etcd-Index"]) + 1
            write_stage(m, stage)
            before, ttls_before = image(m, first)
            eq(m.stop(), 0, "exit status")
            with open(os.path.join(data_dir, "member", "backend")) as f:
                eq(f.read(), backend + "\n", "member/backend before converting")
            nxt = CHAIN[stage + 1]
            rc, out, err = migrate(data_dir, nxt)
            eq(rc, 0, "migrate %s -> %s: %s" % (backend, nxt, err))
            check("converted data directory %s from the %s backend to the %s backend"
                  % (data_dir, backend, nxt) in err, err)
            if backend != "memory" and nxt == "memory":
                # Alone on an engine, the member's snapshots left the store
                # to the engine: it is written out as a whole snapshot.
                check("wrote the %s backend's store as the snapshot at index" % backend in err,
                      err)
            with open(os.path.join(data_dir, "member", "backend")) as f:
                eq(f.read(), nxt + "\n", "member/backend after converting")
            member = os.listdir(os.path.join(data_dir, "member"))
            for other in ("lmdb", "leveldb"):
                eq(other in member, other == nxt and backend != "memory",
                   "member/%s after %s -> %s: %s" % (other, backend, nxt, member))
            check(not any(n.endswith(".converting") for n in member), member)
    finally:
        for m in keep:
            m.close()


def case_refusals():
    with Metcd("n1", args=["--backend", "lmdb"]) as m:
        m.wait_ready()
        eq(req(m, "PUT", "/k", value="1")[0], 201, "PUT")
        # A running member holds the data dir's lock.
        rc, out, err = migrate(m.data_dir, "leveldb")
        eq(rc, 1, "exit status with the member running")
        check("is in use by another member" in err and
              "stop the member before converting its backend" in err, err)
        eq(m.stop(), 0, "exit status")
        with open(os.path.join(m.data_dir, "member", "backend")) as f:
            eq(f.read(), "lmdb\n", "member/backend untouched")
        # The backend it has already: nothing to do, status 0.
        rc, out, err = migrate(m.data_dir, "lmdb")
        eq(rc, 0, "exit status for the same backend")
        check("already uses the lmdb backend" in err, err)
        # Bad input: a value for the flag, an unknown backend, no member there.
        p = subprocess.run([METCD_BIN, "--migrate-backend=yes", "--data-dir", m.data_dir],
                           capture_output=True, env=clean_env(), timeout=START_TIMEOUT)
        eq((p.returncode, p.stderr.decode()), (2, "flag takes no value: --migrate-backend\n"),
           "--migrate-backend=yes")
        rc, out, err = migrate(m.data_dir, "rocksdb")
        eq(rc, 2, "exit status for an unknown backend")
        check("must be memory, lmdb or leveldb" in err, err)
        empty = os.path.join(m.tmp.name, "empty")
        rc, out, err = migrate(empty, "leveldb")
        eq(rc, 1, "exit status without a member")
        check("no member data to convert in %s" % empty in err, err)
        check(not os.path.exists(empty), "a data dir created by a refused conversion")
        with open(os.path.join(m.data_dir, "member", "backend")) as f:
            eq(f.read(), "lmdb\n", "member/backend untouched")
        # A conversion that died half-way left member/leveldb.converting: the
        # next one starts again from the source.
        os.makedirs(os.path.join(m.data_dir, "member", "leveldb.converting"))
        with open(os.path.join(m.data_dir, "member", "leveldb.converting", "junk"), "w") as f:
            f.write("x")
        rc, out, err = migrate(m.data_dir, "leveldb")
        eq(rc, 0, "migrate after a half-done one: %s" % err)
        with Metcd("n1", data_dir=m.data_dir, args=["--backend", "leveldb"],
                   client_port=m.client_port, peer_port=m.peer_port) as b:
            b.wait_ready()
            st, _, body = req(b, "GET", "/k")
            eq((st, body["node"]["value"]), (200, "1"), "the key after converting")
            eq(b.stop(), 0, "exit status")


def case_crash_while_replacing():
    """memory -> lmdb or leveldb: the first start writes the snapshot's store
    to a new engine beside the (empty) one and swaps it in. A kill -9 after
    the new engine is built, or between the two renames of the swap, loses
    nothing: the next start finishes or redoes the swap and serves the same
    store, with no directory left behind."""
    for backend in ("lmdb", "leveldb"):
        for point in ("engine-replace-built", "engine-replace-swapping"):
            with Metcd("n1", args=["--snapshot-count", "7"]) as m:
                m.wait_ready()
                st, h, _ = req(m, "GET", "/")
                first = int(h["X-Etcd-Index"]) + 1
                write_stage(m, 0)
                before, _ = image(m, first)
                eq(m.stop(), 0, "exit status")
                rc, out, err = migrate(m.data_dir, backend)
                eq(rc, 0, "migrate memory -> %s: %s" % (backend, err))
                kw = dict(data_dir=m.data_dir, client_port=m.client_port,
                          peer_port=m.peer_port)
                with Metcd("n1", args=["--backend", backend, "--snapshot-count", "7"],
                           env={"METCD_TEST_CRASH_AT": point + ":1"}, **kw) as c:
                    rc = c.proc.wait(timeout=START_TIMEOUT * 2)
                    eq(rc, -signal.SIGKILL, "no crash at %s: %s" % (point, c.stderr()[-2000:]))
                    check("crashing at %s" % point in c.stderr(), c.stderr()[-2000:])
                with Metcd("n1", args=["--backend", backend, "--snapshot-count", "7"],
                           **kw) as b:
                    b.wait_ready()
                    after, _ = image(b, first)
                    for k in before:
                        if k != "listing":
                            eq(after[k], before[k], "%s after a crash at %s on %s"
                               % (k, point, backend))
                    eq(json.dumps(after["listing"], sort_keys=True),
                       json.dumps(before["listing"], sort_keys=True), "listing")
                    eq(b.stop(), 0, "exit status")
                member = sorted(os.listdir(os.path.join(m.data_dir, "member")))
                check(backend in member and not any(n.startswith(backend + ".")
                                                    for n in member), member)


CASES = {
    "all_directions": case_all_directions,
    "refusals": case_refusals,
    "crash_while_replacing": case_crash_while_replacing,
}

if __name__ == "__main__":
    run_cases(CASES)
