"""Make an etcd 3.4.23 data dir in a test: start etcd with the v2 API on
loopback ports of its own, write through the v2 API, read back what etcd
serves, stop it. Standard library only; every wait is bounded; only the
etcd started here is stopped, by PID."""
import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from metcd_proc import free_port, http, clean_env  # noqa: E402

ETCD = "/usr/bin/etcd"


class Etcd:
    """One etcd 3.4.23 member with the v2 API on loopback."""

    def __init__(self, data_dir, snapshot_count=100000, name="etcd1"):
        self.client_url = "http://127.0.0.1:%d" % free_port()
        peer_url = "http://127.0.0.1:%d" % free_port()
        self.data_dir = data_dir
        self.log_path = data_dir.rstrip("/") + ".log"
        self.log = open(self.log_path, "ab")
        argv = [ETCD, "--name", name, "--data-dir", data_dir, "--enable-v2=true",
                "--listen-client-urls", self.client_url,
                "--advertise-client-urls", self.client_url,
                "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                "--initial-cluster", "%s=%s" % (name, peer_url),
                "--snapshot-count", str(snapshot_count)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log, env=clean_env())
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("etcd exited with %d" % self.proc.returncode)
            try:
                if http("GET", self.client_url + "/health", timeout=1.0)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError("etcd not ready after 20s")

    def req(self, method, key, **params):
        """(status, X-Etcd-Index, JSON) of one v2 keys request."""
        body = None
        url = self.client_url + "/v2/keys" + urllib.parse.quote(key)
        hdr = {}
        if method in ("PUT", "POST"):
            body = urllib.parse.urlencode(params).encode()
            hdr["Content-Type"] = "application/x-www-form-urlencoded"
        elif params:
            url += "?" + urllib.parse.urlencode(params)
        st, h, b = http(method, url, body, hdr, timeout=10.0)
        return st, int(h.get("X-Etcd-Index", "0")), json.loads(b.decode())

    def auth(self, method, path, body=None, user=None):
        """(status, JSON) of one /v2/auth request, as `user` ("name:password")."""
        hdr = {}
        if body is not None:
            body = json.dumps(body).encode()
            hdr["Content-Type"] = "application/json"
        if user:
            hdr["Authorization"] = "Basic " + base64.b64encode(user.encode()).decode()
        st, _, b = http(method, self.client_url + "/v2/auth" + path, body, hdr, timeout=10.0)
        return st, (json.loads(b.decode()) if b.strip() else None)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


def hidden_and_all(srv, key="/", out=None, hidden_names=()):
    """Every node under key as {key: node without children}, hidden keys
    included when their names are in hidden_names (listings leave them out)."""
    out = {} if out is None else out
    st, _, j = srv.req("GET", key, recursive="true", sorted="true")
    assert st == 200, j

    def walk(n):
        for c in n.get("nodes", []):
            d = dict(c)
            d.pop("nodes", None)
            out[c["key"]] = d
            walk(c)
    walk(j["node"])
    return out
