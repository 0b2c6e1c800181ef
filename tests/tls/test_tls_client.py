#!/usr/bin/python3
"""TLS on the client port, with certificates made here by the openssl CLI:
server-only TLS, client-certificate auth, a wrong CA, an expired and a
revoked certificate, plain HTTP on a TLS port, HTTP/2 by ALPN (curl
--http2), plain and TLS listeners side by side, --auto-tls, rotation of
the certificate files, --cipher-suites and the configuration errors.
The accept/refuse matrix runs against etcd 3.4.23 with the same flags too
and must come out the same.

Usage: test_tls_client.py [CASE...]"""

import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import certs as certs_mod  # noqa: E402
from tls_common import Server, context, free_port, outcome, raw_exchange, request  # noqa: E402
from metcd_proc import METCD_BIN, clean_env, run_cases  # noqa: E402

TMP = tempfile.TemporaryDirectory(prefix="metcd-tls-certs-")
C = certs_mod.Certs(TMP.name)
NOBODY = C.ca.issue("nobody", "nobody")


def server_args(ca=True, crl=False, auth=False):
    a = ["--cert-file", C.server, "--key-file", C.server_key]
    if ca:
        a += ["--trusted-ca-file", C.ca.cert]
    if auth:
        a += ["--client-cert-auth"]
    if crl:
        a += ["--client-crl-file", C.crl]
    return a


def client_ctx(which="client"):
    if which is None:
        return context(C.ca.cert)
    cert, key = {"client": (C.client, C.client_key), "expired": (C.expired, C.expired_key),
                 "revoked": (C.revoked, C.revoked_key),
                 "stranger": (C.stranger, C.stranger_key)}[which]
    return context(C.ca.cert, cert, key)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def case_server_only():
    """Only the server has a certificate: any client that trusts its CA talks."""
    with Server("metcd", server_args(ca=False)) as s:
        s.wait_ready(client_ctx(None))
        st, body = request(s.port, client_ctx(None), "PUT", "/v2/keys/tls", body="value=1")
        expect(st == 201, "PUT over TLS: %d %r" % (st, body))
        st, body = request(s.port, client_ctx(None), path="/v2/keys/tls")
        expect(st == 200 and b'"value":"1"' in body, "GET over TLS: %d %r" % (st, body))
        # A client that does not trust the CA refuses the server.
        expect(outcome(s.port, ssl.create_default_context()) == "refused",
               "a client without the CA accepted the server")


REFUSALS = [  # (client certificate, what the log says)
    (None, "client didn't provide a certificate"),
    ("expired", "certificate has expired"),
    ("stranger", None),
    ("revoked", "revoked"),
]


def matrix(kind):
    """Outcome of each client certificate with --client-cert-auth, a CA and a CRL."""
    out = {}
    with Server(kind, server_args(crl=True, auth=True)) as s:
        s.wait_ready(client_ctx())
        out["client"] = outcome(s.port, client_ctx())
        for which, logged in REFUSALS:
            out[which] = outcome(s.port, client_ctx(which))
            if kind == "metcd" and logged is not None:
                s.wait_log(logged)
        out["plain-http"] = "answered" if raw_exchange(
            s.port, b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n") else "closed"
        if kind == "metcd":
            s.wait_log("first record does not look like a TLS handshake")
            s.wait_log("unable to get local issuer certificate")  # the stranger's CA
            expect(s.proc.poll() is None, "metcd exited")
    return out


def case_client_cert_auth_matrix():
    """Valid, none, expired, wrong CA, revoked, plain HTTP: as etcd does."""
    got = matrix("metcd")
    want = {"client": "ok", None: "refused", "expired": "refused", "stranger": "refused",
            "revoked": "refused", "plain-http": "closed"}
    expect(got == want, "metcd: %r, want %r" % (got, want))
    etcd = matrix("etcd")
    expect(etcd == got, "etcd 3.4.23: %r, metcd: %r" % (etcd, got))


def case_trusted_ca_alone_requires_cert():
    """etcd 3.4 asks for a client certificate when --trusted-ca-file is given alone."""
    for kind in ("metcd", "etcd"):
        with Server(kind, server_args(ca=True)) as s:
            s.wait_ready(client_ctx())
            expect(outcome(s.port, client_ctx(None)) == "refused",
                   "%s accepted a client without a certificate" % kind)


def curl(*args):
    r = subprocess.run(["curl", "-sS", "--max-time", "5", "--cacert", C.ca.cert, "--cert",
                        C.client, "--key", C.client_key] + list(args),
                       capture_output=True, text=True, timeout=15)
    return r.returncode, r.stdout, r.stderr


def case_http2_alpn_and_plain_side_by_side():
    """curl --http2 gets HTTP/2 by ALPN, --http1.1 HTTP/1.1; a plain listener beside."""
    plain = free_port()
    with Server("metcd", server_args(auth=True), plain_port=plain) as s:
        s.wait_ready(client_ctx())
        url = "https://127.0.0.1:%d/version" % s.port
        rc, out, err = curl("--http2", "-w", "\n%{http_version}", url)
        expect(rc == 0 and out.endswith("\n2") and "etcdserver" in out,
               "curl --http2: %d %r %r" % (rc, out, err))
        rc, out, err = curl("--http1.1", "-w", "\n%{http_version}", url)
        expect(rc == 0 and out.endswith("\n1.1"), "curl --http1.1: %d %r %r" % (rc, out, err))
        # A watch over HTTP/2 and TLS is answered by a write.
        watch = subprocess.Popen(["curl", "-sS", "--http2", "--max-time", "10", "--cacert",
                                  C.ca.cert, "--cert", C.client, "--key", C.client_key,
                                  "https://127.0.0.1:%d/v2/keys/w?wait=true" % s.port],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        rc, out, err = curl("--http2", "-X", "PUT", "-d", "value=x",
                            "https://127.0.0.1:%d/v2/keys/w" % s.port)
        wout, werr = watch.communicate(timeout=15)
        expect('"action":"set"' in wout and '"value":"x"' in wout,
               "watch over h2+TLS: %r %r" % (wout, werr))
        r = subprocess.run(["curl", "-sS", "--max-time", "5",
                            "http://127.0.0.1:%d/v2/keys/w" % plain],
                           capture_output=True, text=True, timeout=15)
        expect('"value":"x"' in r.stdout, "plain listener: %r %r" % (r.stdout, r.stderr))


def case_auto_tls():
    """--auto-tls makes a self-signed certificate in <data-dir>/fixtures/client, kept across
    restarts, as etcd does."""
    tmp = tempfile.mkdtemp(prefix="metcd-autotls-")
    try:
        data = os.path.join(tmp, "data")
        insecure = context(verify=False)
        peer_port = free_port()
        with Server("metcd", ["--auto-tls"], data_dir=data, peer_port=peer_port) as s:
            s.wait_ready(insecure)
            cert = os.path.join(data, "fixtures", "client", "cert.pem")
            key = os.path.join(data, "fixtures", "client", "key.pem")
            expect(os.path.exists(cert) and os.path.exists(key), "no fixtures/client files")
            expect(oct(os.stat(key).st_mode & 0o777) == "0o600", "key.pem is not 0600")
            first = open(cert).read()
            text = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-text"],
                                  capture_output=True, text=True).stdout
            expect("IP Address:127.0.0.1" in text and "O = etcd" in text,
                   "self-signed certificate: %s" % text)
            # It verifies against itself for 127.0.0.1.
            expect(outcome(s.port, context(cert)) == "ok", "own certificate does not verify")
        with Server("metcd", ["--auto-tls"], data_dir=data, peer_port=peer_port) as s:
            s.wait_ready(insecure)
            expect(open(cert).read() == first, "the certificate was made again")
    finally:
        shutil.rmtree(tmp)


def served_cn(port):
    ctx = context(C.ca.cert)
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as t:
            der = t.getpeercert(binary_form=True)
    r = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject"],
                       input=der, capture_output=True)
    return r.stdout.decode().strip()


def case_rotation():
    """New certificate files are served to the next connection without a restart;
    files that do not load keep the previous certificate in use."""
    tmp = tempfile.mkdtemp(prefix="metcd-rotate-")
    try:
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        shutil.copy(C.server, cert)
        shutil.copy(C.server_key, key)
        with Server("metcd", ["--cert-file", cert, "--key-file", key]) as s:
            s.wait_ready(client_ctx(None))
            expect("metcd-server" in served_cn(s.port), "first certificate")
            new_cert, new_key = C.ca.issue("rotated", "rotated-server", "server")
            shutil.copy(new_key, key + ".tmp")
            shutil.copy(new_cert, cert + ".tmp")
            os.rename(key + ".tmp", key)
            os.rename(cert + ".tmp", cert)
            expect("rotated-server" in served_cn(s.port), "rotated certificate not served")
            s.wait_log("reloaded the TLS certificate")
            # A broken file: the rotated certificate stays in use, with a warning.
            with open(cert, "w") as f:
                f.write("not a certificate\n")
            expect("rotated-server" in served_cn(s.port), "broken file replaced the certificate")
            s.wait_log("keeping the TLS certificate in use")
    finally:
        shutil.rmtree(tmp)


def case_cipher_suites():
    """--cipher-suites with etcd's names restricts TLS 1.2 to those suites."""
    with Server("metcd", server_args(ca=False) + [
            "--cipher-suites", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]) as s:
        s.wait_ready(client_ctx(None))
        ctx = context(C.ca.cert)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        import socket
        with socket.create_connection(("127.0.0.1", s.port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as t:
                expect(t.cipher()[0] == "ECDHE-ECDSA-AES256-GCM-SHA384", "cipher %r" % (t.cipher(),))
        ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
        expect(outcome(s.port, ctx) == "refused", "a suite outside the list was accepted")


def start_fails(args, message):
    """metcd refuses the flags: exit 2 (configuration) or 1, and says why."""
    port, peer = free_port(), free_port()
    tmp = tempfile.mkdtemp(prefix="metcd-tlsbad-")
    try:
        r = subprocess.run([METCD_BIN, "--data-dir", os.path.join(tmp, "d"),
                            "--listen-peer-urls", "http://127.0.0.1:%d" % peer,
                            "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer,
                            "--initial-cluster", "default=http://127.0.0.1:%d" % peer] + args,
                           capture_output=True, text=True, timeout=20, env=clean_env())
        expect(r.returncode != 0 and message in r.stderr,
               "%r: exit %d, stderr %r (want %r)" % (args, r.returncode, r.stderr, message))
        return r.returncode
    finally:
        shutil.rmtree(tmp)


def case_config_errors():
    url = "https://127.0.0.1:%d" % free_port()
    listen = ["--listen-client-urls", url, "--advertise-client-urls", url]
    start_fails(listen, "TLS key/cert (--cert-file, --key-file) must be provided for client url "
                + url + " with HTTPS scheme")
    start_fails(listen + ["--cert-file", C.server],
                "KeyFile and CertFile must both be present[key: , cert: %s]" % C.server)
    start_fails(listen + ["--cert-file", "/nonexistent/c.pem", "--key-file", C.server_key],
                "open /nonexistent/c.pem: No such file or directory")
    start_fails(listen + ["--cert-file", C.server, "--key-file", C.client_key],
                "does not match")
    start_fails(listen + server_args() + ["--cipher-suites", "FOO"],
                'unexpected TLS cipher suite "FOO"')
    murl = "https://127.0.0.1:%d" % free_port()
    start_fails(["--listen-metrics-urls", murl],
                "cannot listen on TLS for %s: KeyFile and CertFile are not presented" % murl[8:])
    peer = "https://127.0.0.1:%d" % free_port()
    r = subprocess.run([METCD_BIN, "--listen-peer-urls", peer, "--initial-advertise-peer-urls",
                        peer, "--initial-cluster", "default=" + peer],
                       capture_output=True, text=True, timeout=20, env=clean_env())
    expect(r.returncode == 1 and "KeyFile and CertFile are not presented" in r.stderr,
           "https peer URL without a certificate: %d %r" % (r.returncode, r.stderr))


def cn_as_user(kind, cert_auth=True):
    """Statuses of writes by certificate alone once auth is on and guest may
    not write (cert_auth False: --trusted-ca-file without --client-cert-auth)."""
    import base64
    import json
    root = {"Authorization": "Basic " + base64.b64encode(b"root:pw").decode()}
    nobody_cert, nobody_key = NOBODY
    with Server(kind, server_args(auth=cert_auth)) as s:
        s.wait_ready(client_ctx())
        ctx = client_ctx()
        out = []
        out.append(request(s.port, ctx, "PUT", "/v2/auth/users/root",
                           body=json.dumps({"user": "root", "password": "pw"}),
                           headers={"Content-Type": "application/json"})[0])
        out.append(request(s.port, ctx, "PUT", "/v2/auth/enable", headers=root)[0])
        out.append(request(s.port, ctx, "PUT", "/v2/auth/roles/guest",
                           body=json.dumps({"role": "guest", "revoke": {"kv": {
                               "read": ["/*"], "write": ["/*"]}}}),
                           headers=dict(root, **{"Content-Type": "application/json"}))[0])
        # CN "root" is the root user; CN "nobody" names no user: the guest, who may not write.
        out.append(request(s.port, ctx, "PUT", "/v2/keys/cn", body="value=1")[0])
        out.append(request(s.port, context(C.ca.cert, nobody_cert, nobody_key), "PUT",
                           "/v2/keys/cn", body="value=2")[0])
        out.append(request(s.port, ctx, "GET", "/v2/keys/cn")[0])
        # The same over HTTP/2 (ALPN) and HTTP/1.1: a root-only listing.
        for ver in ("--http2", "--http1.1"):
            for cert, key in ((C.client, C.client_key), NOBODY):
                r = subprocess.run(["curl", "-s", ver, "--max-time", "5", "-o", "/dev/null",
                                    "-w", "%{http_version} %{http_code}", "--cacert", C.ca.cert,
                                    "--cert", cert, "--key", key,
                                    "https://127.0.0.1:%d/v2/auth/users" % s.port],
                                   capture_output=True, text=True, timeout=15)
                out.append(r.stdout)
        return out


def case_cert_cn_is_user():
    """With --client-cert-auth and auth on, a certificate's CN is the v2 user, as in etcd."""
    got = cn_as_user("metcd")
    etcd = cn_as_user("etcd")
    expect(got == etcd, "metcd %r, etcd 3.4.23 %r" % (got, etcd))
    expect(got[3] == 201 and got[4] == 401 and got[6:] == ["2 200", "2 401", "1.1 200", "1.1 401"],
           "statuses %r" % got)
    # A certificate is still required with --trusted-ca-file alone, but its
    # CN names no user: etcd reads it only with --client-cert-auth.
    got, etcd = cn_as_user("metcd", False), cn_as_user("etcd", False)
    expect(got == etcd, "CA alone: metcd %r, etcd 3.4.23 %r" % (got, etcd))
    expect(got[3] == 401, "CA alone: statuses %r" % got)


def metrics_over_tls(kind):
    """What an https:// --listen-metrics-urls serves, with the client TLS flags."""
    mport = free_port()
    out = {}
    with Server(kind, server_args(auth=True),
                extra=["--listen-metrics-urls", "https://127.0.0.1:%d" % mport]) as s:
        ctx = client_ctx()
        s.wait_ready(ctx)
        for path in ("/metrics", "/health", "/v2/keys/", "/version"):
            st, body = request(mport, ctx, path=path)
            out[path] = (st, body[:200] if path == "/health" else
                         b"etcd_server_has_leader 1" in body if path == "/metrics" else b"")
        out["no certificate"] = outcome(mport, client_ctx(None), "/metrics")
        out["other CA"] = outcome(mport, client_ctx("stranger"), "/metrics")
        out["plain HTTP"] = raw_exchange(mport, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")[:12]
    return out


def case_metrics_over_tls():
    """An https:// --listen-metrics-urls serves /metrics and /health with the
    client certificate and CA settings, as etcd's does."""
    e, m = metrics_over_tls("etcd"), metrics_over_tls("metcd")
    expect(e == m, "etcd %r, metcd %r" % (e, m))
    expect(m["/metrics"] == (200, True) and m["/health"][0] == 200 and
           m["/v2/keys/"][0] == 404 and m["no certificate"] == "refused", "metcd %r" % m)


CN_LOCALHOST = C.ca.issue("cn-localhost", "localhost")  # no subject alternative names


def allowed_hostname(kind, host):
    """Outcome of three client certificates with --client-cert-allowed-hostname host."""
    certs = {"SANs localhost, 127.0.0.1": (C.server, C.server_key),
             "no SANs": (C.client, C.client_key), "CN localhost, no SANs": CN_LOCALHOST}
    out = {}
    with Server(kind, server_args(auth=True) + ["--client-cert-allowed-hostname", host]) as s:
        s.wait_ready(context(C.ca.cert, C.server, C.server_key))
        for name, pair in certs.items():
            out[name] = outcome(s.port, context(C.ca.cert, *pair))
        if kind == "metcd" and host == "localhost":
            s.wait_log('client certificate authentication failed (certificate is not valid for '
                       '"localhost")')
    return out


def case_client_cert_allowed_hostname():
    """--client-cert-allowed-hostname: only a certificate whose IP or DNS names
    (not its CN) match the host is served, as in etcd."""
    for host in ("localhost", "127.0.0.1", "LOCALHOST"):
        e, m = allowed_hostname("etcd", host), allowed_hostname("metcd", host)
        expect(e == m, "%s: etcd %r, metcd %r" % (host, e, m))
        expect(m == {"SANs localhost, 127.0.0.1": "ok", "no SANs": "refused",
                     "CN localhost, no SANs": "refused"}, "%s: %r" % (host, m))


CASES = {
    "server-only": case_server_only,
    "client-cert-auth-matrix": case_client_cert_auth_matrix,
    "trusted-ca-alone": case_trusted_ca_alone_requires_cert,
    "http2-alpn-and-plain": case_http2_alpn_and_plain_side_by_side,
    "auto-tls": case_auto_tls,
    "rotation": case_rotation,
    "cipher-suites": case_cipher_suites,
    "config-errors": case_config_errors,
    "cert-cn-is-user": case_cert_cn_is_user,
    "client-cert-allowed-hostname": case_client_cert_allowed_hostname,
    "metrics-over-tls": case_metrics_over_tls,
}

if __name__ == "__main__":
    try:
        run_cases(CASES)
    finally:
        TMP.cleanup()
