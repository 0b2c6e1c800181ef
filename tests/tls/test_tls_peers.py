#!/usr/bin/python3
"""TLS between members: a 3-member cluster on https:// peer URLs with
--peer-cert-file, --peer-key-file, --peer-trusted-ca-file and
--peer-client-cert-auth (writes replicate, /v2/members shows the https://
URLs); --peer-cert-allowed-cn keeps out a member whose certificate has
another common name, --peer-cert-allowed-hostname one whose certificate
does not name that host, --peer-crl-file one whose certificate is revoked,
and a member with a certificate from another CA is refused, each logged
with the reason; --peer-auto-tls forms a cluster
with self-signed certificates, and a member with --peer-auto-tls alone
joins it, as etcd's do.

Usage: test_tls_peers.py [CASE...]"""

import json
import os
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import certs as certs_mod  # noqa: E402
from tls_common import START_TIMEOUT  # noqa: E402
from metcd_proc import Metcd, free_port, http, run_cases  # noqa: E402

TMP = tempfile.TemporaryDirectory(prefix="metcd-tls-certs-")
C = certs_mod.Certs(TMP.name)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def start_cluster(names, tls_args_of, token="tls-cluster"):
    """One metcd per name on https:// peer URLs (plain client URLs)."""
    peers = {n: free_port() for n in names}
    initial = ",".join("%s=https://127.0.0.1:%d" % (n, peers[n]) for n in names)
    members = []
    for n in names:
        url = "https://127.0.0.1:%d" % peers[n]
        members.append(Metcd(n, peer_port=peers[n], default_flags=True, args=[
            "--listen-peer-urls", url, "--initial-advertise-peer-urls", url,
            "--initial-cluster", initial, "--initial-cluster-token", token,
            "--heartbeat-interval", "50", "--election-timeout", "500"] + tls_args_of(n)))
    # Metcd's default flags set http:// peer URLs first; ours come later and win.
    return members


def wait_put_replicated(members):
    deadline = time.monotonic() + START_TIMEOUT * 2
    last = None
    while time.monotonic() < deadline:
        try:
            st, _, body = http("PUT", members[0].client_url + "/v2/keys/tls-peers",
                               b"value=over-tls",
                               {"Content-Type": "application/x-www-form-urlencoded"}, timeout=3)
            if st in (200, 201):
                break
            last = body
        except OSError as e:
            last = e
        time.sleep(0.2)
    else:
        raise AssertionError("no write accepted: %r\n%s" % (last, members[0].stderr()[-3000:]))
    for m in members[1:]:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                st, _, body = http("GET", m.client_url + "/v2/keys/tls-peers", timeout=2)
                if st == 200 and b"over-tls" in body:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("%s did not get the write:\n%s" % (m.name, m.stderr()[-3000:]))


def peer_args(name, cn_ok=True, ca=None):
    cert, key = C.peer(name if cn_ok else "intruder-" + name)
    return ["--peer-cert-file", cert, "--peer-key-file", key,
            "--peer-trusted-ca-file", ca or C.ca.cert, "--peer-client-cert-auth"]


def close_all(members):
    """Stops every member (SIGTERM, so the sanitizer build reports at exit);
    a sanitizer report fails the test."""
    reports = []
    for m in members:
        try:
            if m.proc.poll() is None:
                m.stop()
            log = m.stderr()
            if "Sanitizer" in log or "runtime error:" in log:
                reports.append("%s:\n%s" % (m.name, log[-3000:]))
        finally:
            m.close()
    if reports:
        raise AssertionError("sanitizer reports:\n" + "\n".join(reports))


def case_three_members():
    members = start_cluster(["t1", "t2", "t3"], lambda n: peer_args(n))
    try:
        wait_put_replicated(members)
        with urllib.request.urlopen(members[2].client_url + "/v2/members", timeout=5) as r:
            ms = json.loads(r.read())["members"]
        urls = sorted(u for m in ms for u in m["peerURLs"])
        expect(len(urls) == 3 and all(u.startswith("https://127.0.0.1:") for u in urls),
               "peer URLs %r" % urls)
        # A plain TCP client on a peer port gets no answer.
        st = None
        try:
            st, _, _ = http("GET", "http://127.0.0.1:%d/members" % members[0].peer_port,
                            timeout=3)
        except OSError:
            pass
        expect(st is None, "plain HTTP answered on a TLS peer port: %r" % st)
        # A fourth member joins over TLS (it asks the others for the cluster over https).
        join(members, "t4", peer_args("t4"), "tls-cluster")
    finally:
        close_all(members)


def join(members, name, tls_args, token):
    """Adds a member on an https:// peer URL and starts it with
    --initial-cluster-state existing (it asks the others for the cluster
    over TLS); it must then get a write."""
    port = free_port()
    url = "https://127.0.0.1:%d" % port
    st, _, body = http("POST", members[0].client_url + "/v2/members",
                       json.dumps({"peerURLs": [url]}).encode(),
                       {"Content-Type": "application/json"})
    expect(st == 201, "member add: %d %r" % (st, body))
    initial = ",".join("%s=https://127.0.0.1:%d" % (m.name, m.peer_port) for m in members)
    members.append(Metcd(name, peer_port=port, args=[
        "--listen-peer-urls", url, "--initial-advertise-peer-urls", url,
        "--initial-cluster", initial + ",%s=%s" % (name, url), "--initial-cluster-state",
        "existing", "--initial-cluster-token", token, "--heartbeat-interval", "50",
        "--election-timeout", "500"] + tls_args))
    wait_put_replicated([members[0], members[-1]])


def case_allowed_cn_and_wrong_ca():
    """t3's certificate names another CN (allowed-cn) / lacks the allowed
    hostname (allowed-hostname) / comes from another CA / is revoked (CRL)."""
    revoked = C.ca.issue("peer-crl-t3", "t3", "server")
    C.ca.revoke(revoked[0])
    crl = C.ca.crl(os.path.join(TMP.name, "peer-crl.pem"))
    for how in ("cn", "hostname", "ca", "crl"):
        def args(n, how=how):
            if how == "cn":
                cn = "t-member" if n != "t3" else n
                cert, key = C.ca.issue("peer-%s-%s" % (how, n), cn, "server")
                extra = ["--peer-cert-allowed-cn", "t-member"]
            elif how == "hostname":
                # every certificate names 127.0.0.1 (the dialed host); t3's not localhost
                kind = "server" if n != "t3" else "server_ip"
                cert, key = C.ca.issue("peer-%s-%s" % (how, n), n, kind)
                extra = ["--peer-cert-allowed-hostname", "localhost"]
            elif how == "crl":
                cert, key = revoked if n == "t3" else C.ca.issue("peer-crl-" + n, n, "server")
                extra = ["--peer-crl-file", crl]
            else:
                ca = C.ca if n != "t3" else C.other_ca
                cert, key = ca.issue("peer-%s-%s" % (how, n), n, "server")
                extra = []
            return ["--peer-cert-file", cert, "--peer-key-file", key,
                    "--peer-trusted-ca-file", C.ca.cert, "--peer-client-cert-auth"] + extra
        members = start_cluster(["t1", "t2", "t3"], args, token="tls-" + how)
        try:
            wait_put_replicated(members[:2])
            want = {"cn": "client certificate authentication failed (CommonName",
                    "hostname": 'client certificate authentication failed (certificate is not '
                                'valid for "localhost")',
                    "ca": "unable to get local issuer certificate",
                    "crl": "revoked"}[how]
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if any(want in m.stderr() for m in members[:2]):
                    break
                time.sleep(0.1)
            else:
                raise AssertionError("%s: no %r in the logs:\n%s" % (
                    how, want, members[0].stderr()[-3000:]))
            st, _, body = http("GET", members[2].client_url + "/v2/keys/tls-peers")
            expect(st != 200 or b"over-tls" not in body,
                   "%s: t3 got the write without a valid certificate" % how)
        finally:
            close_all(members)


def case_peer_auto_tls():
    members = start_cluster(["a1", "a2", "a3"], lambda n: ["--peer-auto-tls"], token="tls-auto")
    try:
        wait_put_replicated(members)
        # A member with --peer-auto-tls alone joins: as etcd's, it does not
        # verify the others' self-signed certificates.
        join(members, "a4", ["--peer-auto-tls"], "tls-auto")
        for m in members:
            expect(os.path.exists(os.path.join(m.data_dir, "fixtures", "peer", "cert.pem")),
                   "%s: no fixtures/peer/cert.pem" % m.name)
    finally:
        close_all(members)


CASES = {
    "three-members": case_three_members,
    "allowed-cn-and-wrong-ca": case_allowed_cn_and_wrong_ca,
    "peer-auto-tls": case_peer_auto_tls,
}

if __name__ == "__main__":
    try:
        run_cases(CASES)
    finally:
        TMP.cleanup()
