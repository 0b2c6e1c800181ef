#!/usr/bin/python3
"""Bootstrap by discovery and proxy mode, with real metcd processes on loopback.

    /usr/bin/python3 tests/cluster/test_bootstrap.py [case ...]

Cases (all by default):
  discovery_token    a 3-member cluster bootstraps through a discovery token
                     kept in a metcd directly (etcd's v2 discovery protocol);
                     member IDs are etcd's (token = the discovery URL)
  discovery_refused  a member finding the token full exits (--discovery-fallback
                     exit), or becomes a proxy (the default); a token without
                     _config/size fails with the keys API's error
  discovery_proxy    the same with --discovery-proxy: every request to the
                     token goes through an HTTP forward proxy (a small one in
                     this file)
  discovery_service  the same through Debian's etcd-discovery service
                     (discovery.etcd.io, package etcd-discovery), itself
                     backed by a metcd
  srv                a 3-member cluster bootstraps from DNS SRV records
                     served by dnsmasq (package dnsmasq-base) on a loopback
                     port, named to metcd by METCD_DNS_SERVER
  proxy              a proxy in front of a 3-member cluster serves writes,
                     reads, a streaming watch and a long-poll watch while the
                     leader is killed
  proxy_readonly     --proxy readonly refuses writes with 501 as etcd does;
                     a proxy that reaches no member answers 503

Every process listens on 127.0.0.1 ports picked free; every wait is bounded;
only processes started here are killed, by PID. etcd-discovery and dnsmasq
are in the Makefile's TEST_PKGS: a missing one fails its case.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[0:0] = [_HERE, os.path.join(_HERE, "..", "lib")]
from cluster import Cluster, ClusterError, http_request  # noqa: E402
from metcd_proc import Metcd, NotifySocket, clean_env, free_port, member_id, run_cases  # noqa: E402

DISCOVERY_BIN = "/usr/bin/discovery.etcd.io"
DNSMASQ_BIN = "/usr/sbin/dnsmasq"


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def put(url, value, timeout=5.0):
    return http_request(url, "PUT", {"value": value}, timeout=timeout)


def discovery_cluster(durl, size=3):
    """A cluster whose members bootstrap with --discovery durl (no
    --initial-cluster); the harness computes IDs with durl as the token,
    as etcd does for a discovered cluster."""
    c = Cluster(size, relay=False, token=durl)
    for m in c.members:
        m.argv = [c.binary, "--name", m.name, "--data-dir", m.data_dir,
                  "--listen-client-urls", m.client_url, "--advertise-client-urls", m.client_url,
                  "--listen-peer-urls", m.peer_url,
                  "--initial-advertise-peer-urls", m.advertised_peer_url,
                  "--discovery", durl,
                  "--heartbeat-interval", str(c.heartbeat_ms),
                  "--election-timeout", str(c.election_ms)]
    return c


def check_discovered(c, store_url, token_key):
    """The cluster runs with the members and IDs etcd would give it, and the
    token holds each member's registration."""
    c.start()
    status, _, body = http_request(c.members[0].client_url + "/v2/members")
    check(status == 200, "members: %s %r" % (status, body))
    got = sorted((m["name"], m["id"], m["peerURLs"]) for m in body["members"])
    want = sorted((m.name, m.id_hex, [m.advertised_peer_url]) for m in c.members)
    check(got == want, "members %r, want %r" % (got, want))
    status, _, body = put(c.members[1].client_url + "/v2/keys/after-discovery", "yes")
    check(status == 201, "write: %s %r" % (status, body))
    c.wait_converged()
    status, _, body = http_request(store_url + "/v2/keys" + token_key, params={"sorted": "true"})
    check(status == 200, "token listing: %s %r" % (status, body))
    regs = sorted((n["key"].rsplit("/", 1)[1], n["value"]) for n in body["node"]["nodes"])
    want = sorted((m.id_hex, "%s=%s" % (m.name, m.advertised_peer_url)) for m in c.members)
    check(regs == want, "registrations %r, want %r" % (regs, want))


def case_discovery_token():
    with Metcd("store").wait_ready() as store:
        key = "/discovery/token-%d" % os.getpid()
        status, _, body = put(store.client_url + "/v2/keys" + key + "/_config/size", "3")
        check(status == 201, "size: %s %r" % (status, body))
        durl = store.client_url + "/v2/keys" + key
        with discovery_cluster(durl) as c:
            check_discovered(c, store.client_url, key)
            # A restart reads its log, not the token (which is full now).
            m = c.members[2]
            c.kill(m)
            c.restart(m)
            c.wait_converged()


def case_discovery_refused():
    with Metcd("store").wait_ready() as store:
        key = "/discovery/full-%d" % os.getpid()
        put(store.client_url + "/v2/keys" + key + "/_config/size", "1")
        durl = store.client_url + "/v2/keys" + key
        with discovery_cluster(durl, size=1) as c:
            c.start()
            put(c.members[0].client_url + "/v2/keys/k", "v")
            # The token is full: --discovery-fallback exit ends with status 1.
            late = Metcd("late", args=["--discovery", durl, "--discovery-fallback", "exit"])
            try:
                rc = late.wait_exit(20)
                err = late.stderr()
                check(rc == 1, "exit status %r\n%s" % (rc, err))
                check("failed to join discovery cluster (discovery: cluster is full)" in err,
                      "no full-cluster message:\n%s" % err)
            finally:
                late.close()
            # The default fallback is a proxy to the discovered cluster.
            px = Metcd("px", args=["--discovery", durl])
            try:
                px.wait_ready()
                status, _, body = http_request(px.client_url + "/v2/keys/k")
                check(status == 200 and body["node"]["value"] == "v",
                      "read through the fallback proxy: %s %r" % (status, body))
                status, _, body = http_request(px.client_url + "/v2/config/local/proxy")
                check(body == {"endpoints": [c.members[0].client_url]},
                      "proxy endpoints %r" % (body,))
                check("discovery cluster full, falling back to proxy" in px.stderr(),
                      px.stderr())
                check(os.path.isfile(os.path.join(px.data_dir, "proxy", "cluster")),
                      "no proxy/cluster file")
            finally:
                px.close()
        # No _config/size: the keys API's error, exit 1.
        nosize = Metcd("nosize", args=["--discovery", store.client_url + "/v2/keys/nosize"])
        try:
            rc = nosize.wait_exit(20)
            err = nosize.stderr()
            check(rc == 1, "exit status %r\n%s" % (rc, err))
            check("failed to join discovery cluster (100: Key not found (/nosize)" in err, err)
        finally:
            nosize.close()


class ForwardProxy:
    """A minimal HTTP forward proxy on loopback (absolute-form request
    targets, as --discovery-proxy sends them); counts what it forwarded."""

    def __init__(self):
        import http.server
        import threading
        proxy = self
        self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def forward(self):
                proxy.seen.append((self.command, self.path))
                u = urllib.parse.urlsplit(self.path)
                body = None
                if self.headers.get("Content-Length"):
                    body = self.rfile.read(int(self.headers["Content-Length"]))
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
                target = u.path + ("?" + u.query if u.query else "")
                hdrs = {k: v for k, v in self.headers.items()
                        if k.lower() not in ("connection", "proxy-connection", "host")}
                conn.request(self.command, target, body=body, headers=hdrs)
                r = conn.getresponse()
                data = r.read()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def case_discovery_proxy():
    with Metcd("store").wait_ready() as store:
        key = "/discovery/proxied-%d" % os.getpid()
        put(store.client_url + "/v2/keys" + key + "/_config/size", "3")
        durl = store.client_url + "/v2/keys" + key
        fwd = ForwardProxy()
        try:
            with discovery_cluster(durl) as c:
                for m in c.members:
                    m.argv += ["--discovery-proxy", "127.0.0.1:%d" % fwd.port]
                check_discovered(c, store.client_url, key)
            # Every member registered through the proxy.
            puts = [p for m, p in fwd.seen if m == "PUT"]
            check(len(puts) == 3 and all(p.startswith(durl + "/") for p in puts),
                  "registrations through the proxy: %r" % puts)
            # Each member reads the size and the listing twice (before and
            # after registering): all of it through the proxy too.
            gets = [p for m, p in fwd.seen if m == "GET"]
            check(len(gets) >= 12 and all(p.startswith(durl) for p in gets),
                  "reads through the proxy: %r" % gets)
        finally:
            fwd.close()


def case_discovery_service():
    if not os.access(DISCOVERY_BIN, os.X_OK):
        raise AssertionError("%s is missing: install the etcd-discovery package "
                             "(make test-deps)" % DISCOVERY_BIN)
    with Metcd("store").wait_ready() as store:
        port = free_port()
        host = "http://127.0.0.1:%d" % port
        log = tempfile.NamedTemporaryFile(prefix="etcd-discovery-", suffix=".log", delete=False)
        svc = subprocess.Popen([DISCOVERY_BIN, "--etcd", store.client_url, "--host", host,
                                "--addr", "127.0.0.1:%d" % port],
                               stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                               env=clean_env())
        try:
            durl = None
            deadline = time.monotonic() + 20
            while durl is None and time.monotonic() < deadline:
                check(svc.poll() is None, "discovery.etcd.io exited: %s"
                      % open(log.name, errors="replace").read())
                try:
                    status, _, body = http_request(host + "/new?size=3", timeout=2.0)
                    if status == 200:
                        durl = body.strip() if isinstance(body, str) else str(body)
                except OSError:
                    time.sleep(0.1)
            check(durl is not None and durl.startswith(host + "/"), "no token from /new: %r"
                  % (durl,))
            token = durl.rsplit("/", 1)[1]
            with discovery_cluster(durl) as c:
                check_discovered(c, store.client_url, "/_etcd/registry/" + token)
                # The service shows the token's state as the keys API does.
                status, _, body = http_request(durl)
                check(status == 200 and len(body["node"]["nodes"]) == 3,
                      "the service's view of the token: %s %r" % (status, body))
        except Exception:
            # What the service logged (its errors and panics) goes with the failure.
            log.flush()
            print("--- etcd-discovery log:\n%s" % open(log.name, errors="replace").read()[-4000:])
            print("--- the store's log tail:\n%s" % store.stderr()[-4000:])
            raise
        finally:
            svc.kill()
            svc.wait(timeout=10)
            log.close()
            os.unlink(log.name)


def wait_dns(dns, port, domain, log_path, bound=10.0):
    """Waits until dnsmasq answers a query on its port (any answer)."""
    query = (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" +
             b"".join(bytes([len(p)]) + p.encode() for p in domain.split(".")) +
             b"\x00\x00\x21\x00\x01")
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        check(dns.poll() is None, "dnsmasq exited: %s" % open(log_path, errors="replace").read())
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            try:
                s.sendto(query, ("127.0.0.1", port))
                if s.recv(512)[:2] == b"\x12\x34":
                    return
            except OSError:
                pass
    raise AssertionError("dnsmasq did not answer on port %d" % port)


def case_srv():
    if not os.access(DNSMASQ_BIN, os.X_OK):
        raise AssertionError("%s is missing: install the dnsmasq-base package "
                             "(make test-deps)" % DNSMASQ_BIN)
    domain = "metcd-srv.test"
    token = "srv-test-%d" % os.getpid()
    c = Cluster(3, relay=False, token=token)
    dns_port = free_port()
    records = []
    for m in c.members:
        # Targets are host names resolved by the system resolver, as etcd's are.
        records += ["--srv-host=_etcd-server._tcp.%s,localhost,%d" % (domain, m.peer_port)]
        m.fixed_id = member_id(["http://localhost:%d" % m.peer_port], token)
    dns_log = tempfile.NamedTemporaryFile(prefix="dnsmasq-", suffix=".log", delete=False)
    dns = subprocess.Popen([DNSMASQ_BIN, "--no-daemon", "--keep-in-foreground", "--no-resolv",
                            "--no-hosts", "--conf-file=/dev/null", "--bind-interfaces",
                            "--listen-address=127.0.0.1", "--port=%d" % dns_port,
                            "--local=/%s/" % domain, "--pid-file="] + records,
                           stdin=subprocess.DEVNULL, stdout=dns_log, stderr=subprocess.STDOUT)
    try:
        with c:
            env = {"METCD_DNS_SERVER": "127.0.0.1:%d" % dns_port}
            for m in c.members:
                m.argv = [c.binary, "--name", m.name, "--data-dir", m.data_dir,
                          "--listen-client-urls", m.client_url,
                          "--advertise-client-urls", m.client_url,
                          "--listen-peer-urls", m.peer_url,
                          "--initial-advertise-peer-urls", m.peer_url,
                          "--initial-cluster-token", token,
                          "--discovery-srv", domain]
            c.env = env
            wait_dns(dns, dns_port, domain, dns_log.name)
            c.start()
            status, _, body = http_request(c.members[0].client_url + "/v2/members")
            got = sorted((m["name"], m["id"], m["peerURLs"]) for m in body["members"])
            want = sorted((m.name, m.id_hex, ["http://localhost:%d" % m.peer_port])
                          for m in c.members)
            check(got == want, "members %r, want %r" % (got, want))
            status, _, body = put(c.members[2].client_url + "/v2/keys/srv", "ok")
            check(status == 201, "write: %s %r" % (status, body))
            c.wait_converged()
            # No records for another name: a clear error, exit 1.
            bad = Metcd("bad", args=["--discovery-srv", "nothing.%s" % domain], env=env)
            try:
                rc = bad.wait_exit(20)
                err = bad.stderr()
                check(rc == 1 and "error querying DNS SRV records for _etcd-server" in err,
                      "exit %r:\n%s" % (rc, err))
            finally:
                bad.close()
    finally:
        dns.kill()
        dns.wait(timeout=10)
        dns_log.close()
        os.unlink(dns_log.name)


def proxy(c, *args, env=None):
    """A proxy in front of cluster c (its own data dir and client port)."""
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="metcd-proxy-")
    argv_extra = ["--data-dir", os.path.join(tmp, "data"),
                  "--listen-client-urls", "http://127.0.0.1:%d" % port,
                  "--initial-cluster", c.initial_cluster] + list(args)
    px = Metcd("proxy", default_flags=False, client_port=port, args=argv_extra, env=env)
    px.extra_tmp = tmp
    return px


def close_proxy(px):
    px.close()
    shutil.rmtree(px.extra_tmp, ignore_errors=True)


def retry_put(url, value, bound=30.0):
    """PUT until a member answers 2xx (an election runs meanwhile)."""
    deadline = time.monotonic() + bound
    last = None
    while time.monotonic() < deadline:
        try:
            status, _, body = put(url, value, timeout=12.0)
            if status in (200, 201):
                return body
            last = (status, body)
        except OSError as e:
            last = e
        time.sleep(0.2)
    raise AssertionError("PUT %s never succeeded: %r" % (url, last))


def read_event(sock_file):
    """One chunk of a chunked answer (a stream watch sends one event each)."""
    size = int(sock_file.readline().strip(), 16)
    data = sock_file.read(size)
    sock_file.readline()
    return json.loads(data)


def case_proxy():
    with Cluster(3, relay=False) as c:
        c.start()
        px = proxy(c, "--proxy", "on", "--proxy-refresh-interval", "500",
                   "--proxy-failure-wait", "2000")
        try:
            px.wait_ready()
            base = px.client_url
            status, _, body = http_request(base + "/v2/config/local/proxy")
            check(sorted(body["endpoints"]) == sorted(m.client_url for m in c.members),
                  "endpoints %r" % (body,))
            status, hdrs, body = put(base + "/v2/keys/p/a", "1")
            check(status == 201 and body["node"]["value"] == "1", "write: %s %r" % (status, body))
            check(hdrs.get("x-etcd-index") == str(body["node"]["modifiedIndex"]),
                  "X-Etcd-Index relayed: %r" % hdrs)
            status, _, body = http_request(base + "/v2/keys/p/a", params={"quorum": "true"})
            check(status == 200 and body["node"]["value"] == "1", "read: %s %r" % (status, body))
            status, _, body = http_request(base + "/v2/keys/p/missing")
            check(status == 404 and body["errorCode"] == 100, "404 relayed: %s %r"
                  % (status, body))
            first = body["index"]

            # A chunked form body (as Go's clients send a body of unknown
            # length) goes on to the member whole; trailers are dropped; a
            # coding other than chunked gets Go's 501; bad framing etcd's 500.
            def raw(req):
                rs = socket.create_connection(("127.0.0.1", px.client_port), timeout=10)
                try:
                    rs.sendall(req)
                    got = b""
                    while True:  # Connection: close: the answer ends with the connection
                        chunk = rs.recv(65536)
                        if not chunk:
                            return got
                        got += chunk
                finally:
                    rs.close()
            got = raw(b"PUT /v2/keys/p/chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      b"Content-Type: application/x-www-form-urlencoded\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n"
                      b"6;ext=1\r\nvalue=\r\n3\r\nabc\r\n2\r\ndE\r\n0\r\nX-T: 1\r\n\r\n")
            check(got.startswith(b"HTTP/1.1 201"), "chunked PUT through the proxy: %r" % got[:200])
            status, _, body = http_request(base + "/v2/keys/p/chunked")
            check(status == 200 and body["node"]["value"] == "abcdE", "chunked value %r" % body)
            got = raw(b"PUT /v2/keys/p/gz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")
            check(got.startswith(b"HTTP/1.1 501") and got.endswith(b"Unsupported transfer encoding"),
                  "gzip coding: %r" % got)
            got = raw(b"PUT /v2/keys/p/bad HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\nzz\r\n")
            check(got.startswith(b"HTTP/1.1 500") and got.endswith(
                b'{"message":"httpproxy: failed to read request body: invalid byte in chunk length"}'),
                "bad chunk size (etcd's answer): %r" % got)

            # A stream watch: each event reaches the client on its own,
            # while the answer is still open (nothing is buffered).
            s = socket.create_connection(("127.0.0.1", px.client_port), timeout=10)
            s.sendall(b"GET /v2/keys/p/s?wait=true&stream=true HTTP/1.1\r\nHost: x\r\n\r\n")
            f = s.makefile("rb")
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                head += f.readline()
            check(b"200 OK" in head and b"chunked" in head.lower(), "stream head %r" % head)
            put(base + "/v2/keys/p/s", "one")
            ev = read_event(f)
            check(ev["node"]["value"] == "one", "first streamed event %r" % ev)
            put(base + "/v2/keys/p/s", "two")
            ev = read_event(f)
            check(ev["node"]["value"] == "two", "second streamed event %r" % ev)
            s.close()

            # A long-poll watch waiting when the leader is killed: it gets its
            # event, or, if its member was the one killed, the connection ends
            # and the same waitIndex asked again through the proxy gets it.
            status, _, body = http_request(base + "/v2/keys/p/w")
            wait_index = body["index"] + 1 if status == 404 else first + 1
            ws = socket.create_connection(("127.0.0.1", px.client_port), timeout=40)
            ws.sendall(("GET /v2/keys/p/w?wait=true&waitIndex=%d HTTP/1.1\r\nHost: x\r\n\r\n"
                        % wait_index).encode())
            time.sleep(0.3)
            lead = c.leader()
            c.kill(lead)
            for i in range(5):
                retry_put(base + "/v2/keys/p/after-kill-%d" % i, str(i))
            written = retry_put(base + "/v2/keys/p/w", "after")
            wf = ws.makefile("rb")
            event = None
            try:
                line = wf.readline()
                if line.startswith(b"HTTP/1.1 200"):
                    while wf.readline() not in (b"\r\n", b""):
                        pass
                    event = read_event(wf)
            except (OSError, ValueError):
                event = None
            ws.close()
            print("watch through the proxy: %s" % ("event on the open connection"
                                                   if event is not None else
                                                   "connection ended with its member, "
                                                   "event on asking again"))
            if event is None:
                status, _, event = http_request(base + "/v2/keys/p/w",
                                                params={"wait": "true",
                                                        "waitIndex": str(wait_index)},
                                                timeout=15)
            check(event["node"]["key"] == "/p/w" and event["node"]["value"] == "after"
                  and event["node"]["modifiedIndex"] == written["node"]["modifiedIndex"],
                  "watch event %r" % (event,))

            # Reads keep working, and the dead member leaves the endpoints
            # once a request failed on it (or a refresh dropped it).
            for i in range(10):
                status, _, body = http_request(base + "/v2/keys/p/after-kill-4")
                check(status == 200 and body["node"]["value"] == "4", "read %s %r"
                      % (status, body))
            deadline = time.monotonic() + 10
            eps = None
            while time.monotonic() < deadline:
                _, _, eps = http_request(base + "/v2/config/local/proxy")
                if lead.client_url not in eps["endpoints"]:
                    break
                http_request(base + "/v2/keys/p/a")
                time.sleep(0.1)
            check(lead.client_url not in eps["endpoints"], "dead member still used: %r" % eps)

            # The cluster file holds the peers a refresh found.
            with open(os.path.join(px.extra_tmp, "data", "proxy", "cluster")) as cf:
                peers = json.load(cf)["PeerURLs"]
            check(sorted(peers) == sorted(m.advertised_peer_url for m in c.members),
                  "cluster file %r" % peers)
            check(px.proc.poll() is None, "the proxy exited")
            check(px.stop() == 0, "proxy exit status after SIGTERM")
        finally:
            close_proxy(px)


def case_proxy_readonly():
    with Cluster(3, relay=False) as c:
        c.start()
        put(c.members[0].client_url + "/v2/keys/ro", "v")
        # Like etcd's, a proxy tells systemd it is ready once it listens.
        ntmp = tempfile.mkdtemp(prefix="metcd-notify-")
        notify = NotifySocket(ntmp)
        px = proxy(c, "--proxy", "readonly", env={"NOTIFY_SOCKET": notify.path})
        try:
            px.wait_ready()
            notify.expect("READY=1", 5)
            base = px.client_url
            for method in ("PUT", "POST", "DELETE"):
                status, hdrs, body = http_request(base + "/v2/keys/ro", method,
                                                  {"value": "w"} if method != "DELETE" else None)
                check(status == 501 and body == "" and hdrs.get("content-length") == "0",
                      "%s through a readonly proxy: %s %r %r" % (method, status, hdrs, body))
            status, _, body = http_request(base + "/v2/keys/ro")
            check(status == 200 and body["node"]["value"] == "v", "read: %s %r" % (status, body))
            status, _, body = http_request(c.members[1].client_url + "/v2/keys/ro")
            check(body["node"]["value"] == "v", "the refused write changed the key: %r" % body)
            px.proc.send_signal(signal.SIGTERM)
            notify.expect("STOPPING=1", 5)
        finally:
            close_proxy(px)
            notify.close()
            shutil.rmtree(ntmp, ignore_errors=True)
        # A proxy that reaches no member: etcd's 503 answer.
        dead = "http://127.0.0.1:%d" % free_port()
        tmp = tempfile.mkdtemp(prefix="metcd-proxy-")
        port = free_port()
        px = Metcd("proxy", default_flags=False, client_port=port,
                   args=["--proxy", "on", "--data-dir", os.path.join(tmp, "data"),
                         "--listen-client-urls", "http://127.0.0.1:%d" % port,
                         "--initial-cluster", "x=" + dead])
        px.extra_tmp = tmp
        try:
            deadline = time.monotonic() + 10
            status = None
            while time.monotonic() < deadline and status is None:
                try:
                    status, hdrs, body = http_request(px.client_url + "/v2/keys/a")
                except OSError:
                    time.sleep(0.05)
            check(status == 503 and body == {"message": "httpproxy: zero endpoints currently "
                                                        "available"},
                  "no member: %s %r" % (status, body))
        finally:
            close_proxy(px)


CASES = {
    "discovery_token": case_discovery_token,
    "discovery_refused": case_discovery_refused,
    "discovery_proxy": case_discovery_proxy,
    "discovery_service": case_discovery_service,
    "srv": case_srv,
    "proxy": case_proxy,
    "proxy_readonly": case_proxy_readonly,
}

if __name__ == "__main__":
    run_cases(CASES)
