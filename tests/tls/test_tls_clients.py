#!/usr/bin/python3
"""Real v2 clients over TLS with client certificates: `ETCDCTL_API=2
etcdctl` (--cert-file, --key-file, --ca-file), python3-etcd (cert=,
ca_cert=) and metcdctl (etcdctl's flags), against a metcd started with
--client-cert-auth. Each client also shows that without its certificate
it is refused. Run with /usr/bin/python3 (Debian's python3-etcd).

Usage: test_tls_clients.py [CASE...]"""

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import certs as certs_mod  # noqa: E402
from tls_common import Server, context  # noqa: E402
from metcd_proc import clean_env, run_cases  # noqa: E402

TMP = tempfile.TemporaryDirectory(prefix="metcd-tls-certs-")
C = certs_mod.Certs(TMP.name)
ARGS = ["--cert-file", C.server, "--key-file", C.server_key, "--trusted-ca-file", C.ca.cert,
        "--client-cert-auth"]
METCDCTL = os.environ.get("METCDCTL_BIN", "")


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def ctl(binary, port, args, with_cert=True):
    argv = [binary, "--endpoints", "https://127.0.0.1:%d" % port, "--ca-file", C.ca.cert]
    if with_cert:
        argv += ["--cert-file", C.client, "--key-file", C.client_key]
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


CASES = {
    "etcdctl": case_etcdctl,
    "metcdctl": case_metcdctl,
    "python-etcd": case_python_etcd,
    "metcd-bench": case_metcd_bench,
}

if __name__ == "__main__":
    try:
        run_cases(CASES)
    finally:
        TMP.cleanup()
