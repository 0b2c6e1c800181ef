#!/usr/bin/python3
"""Real v2 clients over TLS with client certificates: `ETCDCTL_API=2
etcdctl` (--cert-file, --key-file, --ca-file), python3-etcd (cert=,
ca_cert=) and metcdctl (etcdctl's flags), against a metcd started with
--client-cert-auth. Each client also shows that without its certificate
it is refused. With v2 auth enabled (case auth), etcdctl and python3-etcd
act as the user their certificate's common name names, or as the user of
--username / username=, and are refused what that user may not do; every
outcome is compared with etcd 3.4.23 started with the same flags. Run with
/usr/bin/python3 (Debian's python3-etcd).

Usage: test_tls_clients.py [CASE...]"""

import base64
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import certs as certs_mod  # noqa: E402
from tls_common import Server, context, request  # noqa: E402
from metcd_proc import clean_env, run_cases  # noqa: E402

TMP = tempfile.TemporaryDirectory(prefix="metcd-tls-certs-")
C = certs_mod.Certs(TMP.name)
ARGS = ["--cert-file", C.server, "--key-file", C.server_key, "--trusted-ca-file", C.ca.cert,
        "--client-cert-auth"]
METCDCTL = os.environ.get("METCDCTL_BIN", "")
ALICE = C.ca.issue("client-alice", "alice")


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def ctl(binary, port, args, with_cert=True, pair=None):
    argv = [binary, "--endpoints", "https://127.0.0.1:%d" % port, "--ca-file", C.ca.cert]
    if with_cert:
        cert, key = pair or (C.client, C.client_key)
        argv += ["--cert-file", cert, "--key-file", key]
    env = clean_env({"ETCDCTL_API": "2"})
    env.pop("ETCDCTL_ENDPOINTS", None)
    r = subprocess.run(argv + args, capture_output=True, text=True, timeout=30, env=env)
    return r.returncode, r.stdout, r.stderr


def check_ctl(binary):
    with Server("metcd", ARGS) as s:
        s.wait_ready(context(C.ca.cert, C.client, C.client_key))
        rc, out, err = ctl(binary, s.port, ["set", "/tls/a", "one"])
        expect(rc == 0 and out == "one\n", "set: %d %r %r" % (rc, out, err))
        rc, out, err = ctl(binary, s.port, ["get", "/tls/a"])
        expect(rc == 0 and out == "one\n", "get: %d %r %r" % (rc, out, err))
        rc, out, err = ctl(binary, s.port, ["ls", "/tls"])
        expect(rc == 0 and out == "/tls/a\n", "ls: %d %r %r" % (rc, out, err))
        rc, out, err = ctl(binary, s.port, ["member", "list"])
        expect(rc == 0 and "https://127.0.0.1:%d" % s.port in out,
               "member list: %d %r %r" % (rc, out, err))
        rc, out, err = ctl(binary, s.port, ["get", "/tls/a"], with_cert=False)
        # etcdctl: a TLS failure is not a connection error (exit 4, not 2).
        expect(rc == 4 and out == "" and "etcd cluster is unavailable" in err,
               "without a certificate: %d %r %r" % (rc, out, err))


def case_etcdctl():
    check_ctl("etcdctl")


def case_metcdctl():
    expect(METCDCTL, "METCDCTL_BIN is not set")
    check_ctl(METCDCTL)


def case_metcd_bench():
    """metcd-bench over TLS with a client certificate; without one every request fails."""
    bench = os.environ.get("METCD_BENCH_BIN", "")
    expect(bench, "METCD_BENCH_BIN is not set")
    with Server("metcd", ARGS) as s:
        s.wait_ready(context(C.ca.cert, C.client, C.client_key))
        base = [bench, "--endpoints", "https://127.0.0.1:%d" % s.port, "--ca-file", C.ca.cert,
                "--conns", "4", "--requests", "200", "--duration", "20s", "--keys", "20",
                "--json"]
        r = subprocess.run(base + ["--op", "put", "--cert-file", C.client, "--key-file",
                                   C.client_key], capture_output=True, text=True, timeout=60)
        expect(r.returncode == 0 and '"errors":0' in r.stdout.replace(" ", ""),
               "bench with a certificate: %d %r %r" % (r.returncode, r.stdout, r.stderr))
        r = subprocess.run(base + ["--op", "get", "--no-populate", "--requests", "20",
                                   "--duration", "2s"],
                           capture_output=True, text=True, timeout=60)
        expect(r.returncode != 0 and '"requests":0' in r.stdout.replace(" ", ""),
               "bench without a certificate: %d %r %r" % (r.returncode, r.stdout, r.stderr))


def case_python_etcd():
    import etcd  # Debian's python3-etcd: a test dependency (Makefile TEST_PKGS)
    with Server("metcd", ARGS) as s:
        s.wait_ready(context(C.ca.cert, C.client, C.client_key))
        cl = etcd.Client(host="127.0.0.1", port=s.port, protocol="https",
                         cert=(C.client, C.client_key), ca_cert=C.ca.cert, read_timeout=10,
                         allow_reconnect=False)
        cl.write("/tls/py", "hello")
        expect(cl.read("/tls/py").value == "hello", "read back")
        r = cl.read("/tls", recursive=True)
        expect([ch.key for ch in r.leaves] == ["/tls/py"], "listing %r" % list(r.leaves))
        bare = etcd.Client(host="127.0.0.1", port=s.port, protocol="https", ca_cert=C.ca.cert,
                           read_timeout=5, allow_reconnect=False)
        try:
            bare.read("/tls/py")
        except etcd.EtcdException:
            pass
        else:
            raise AssertionError("a client without a certificate was served")


def enable_auth(s):
    """root (rootpw), alice (apw) with role app (read and write /app/*),
    guest with no permissions, auth on. The default client certificate's
    common name is root; ALICE's is alice."""
    ctx = context(C.ca.cert, C.client, C.client_key)
    root = {"Authorization": "Basic " + base64.b64encode(b"root:rootpw").decode(),
            "Content-Type": "application/json"}
    steps = [("/v2/auth/users/root", {"user": "root", "password": "rootpw"}),
             ("/v2/auth/roles/app", {"role": "app", "permissions": {"kv": {
                 "read": ["/app/*"], "write": ["/app/*"]}}}),
             ("/v2/auth/users/alice", {"user": "alice", "password": "apw", "roles": ["app"]}),
             ("/v2/auth/enable", None),
             ("/v2/auth/roles/guest", {"role": "guest", "revoke": {"kv": {
                 "read": ["/*"], "write": ["/*"]}}})]
    for path, body in steps:
        st, out = request(s.port, ctx, "PUT", path,
                          json.dumps(body) if body is not None else None, root)
        expect(st in (200, 201), "PUT %s: %d %r" % (path, st, out))


def auth_outcomes(s):
    """What etcdctl and python3-etcd get over TLS with auth on, as
    comparable text (the port replaced)."""
    import etcd
    out = []

    def run(label, args, **kw):
        rc, o, e = ctl("etcdctl", s.port, args, **kw)
        out.append("%s: rc=%d out=%r err=%r"
                   % (label, rc, o, e.replace("127.0.0.1:%d" % s.port, "<addr>")))
    run("root by certificate: set", ["set", "/secret", "s"])
    run("root by certificate: get", ["get", "/secret"])
    run("root by certificate: user list", ["user", "list"])
    run("alice by certificate: get /secret", ["get", "/secret"], pair=ALICE)
    run("alice by certificate: set /app/a", ["set", "/app/a", "1"], pair=ALICE)
    run("alice by certificate: user list", ["user", "list"], pair=ALICE)
    run("alice by --username: get /secret", ["--username", "alice:apw", "get", "/secret"])
    run("alice by --username: set /app/b", ["--username", "alice:apw", "set", "/app/b", "2"])
    run("root by --username: get /secret", ["--username", "root:rootpw", "get", "/secret"],
        pair=ALICE)
    run("bad password", ["--username", "alice:bad", "get", "/app/a"])

    def py(label, fn, **kw):
        cl = etcd.Client(host="127.0.0.1", port=s.port, protocol="https", ca_cert=C.ca.cert,
                         read_timeout=10, allow_reconnect=False, **kw)
        try:
            out.append("%s: %r" % (label, fn(cl)))
        except etcd.EtcdException as e:
            out.append("%s: %s %s" % (label, type(e).__name__, e))
    alice = {"cert": ALICE}
    py("python alice by certificate: read /app/a", lambda c: c.read("/app/a").value, **alice)
    py("python alice by certificate: read /secret", lambda c: c.read("/secret").value, **alice)
    py("python alice by certificate: write /app/p",
       lambda c: c.write("/app/p", "v").value, **alice)
    py("python root by username: read /secret", lambda c: c.read("/secret").value,
       username="root", password="rootpw", **alice)
    py("python alice by username: read /secret", lambda c: c.read("/secret").value,
       username="alice", password="apw", cert=(C.client, C.client_key))
    py("python root by certificate: read /secret", lambda c: c.read("/secret").value,
       cert=(C.client, C.client_key))
    return out


def case_auth():
    """etcdctl and python3-etcd with auth on over TLS: metcd answers as etcd."""
    res = {}
    for kind in ("etcd", "metcd"):
        with Server(kind, ARGS) as s:
            s.wait_ready(context(C.ca.cert, C.client, C.client_key))
            enable_auth(s)
            res[kind] = auth_outcomes(s)
    for e, m in zip(res["etcd"], res["metcd"]):
        expect(e == m, "etcd and metcd differ:\n  etcd:  %s\n  metcd: %s" % (e, m))
    expect(len(res["etcd"]) == len(res["metcd"]) == 16, "outcomes: %r" % res)
    # and what they are: root and alice act as themselves
    want = {0: "rc=0 out='s\\n'", 2: "out='alice\\nroot\\n'", 4: "rc=0 out='1\\n'",
            13: "'s'", 15: "'s'"}
    for i, w in want.items():
        expect(w in res["metcd"][i], "outcome %d: %s lacks %s" % (i, res["metcd"][i], w))
    expect("Insufficient" in res["metcd"][3] or "rc=0" not in res["metcd"][3],
           "alice read /secret: %s" % res["metcd"][3])
    print("\n".join(res["metcd"]))


CASES = {
    "etcdctl": case_etcdctl,
    "metcdctl": case_metcdctl,
    "python-etcd": case_python_etcd,
    "metcd-bench": case_metcd_bench,
    "auth": case_auth,
}

if __name__ == "__main__":
    try:
        run_cases(CASES)
    finally:
        TMP.cleanup()
