"""What the TLS tests share: starting metcd or etcd 3.4.23 on https://
URLs, TLS requests with the standard library's ssl module, and the
outcome of a handshake ("ok" or "refused")."""

import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import metcd_proc  # noqa: E402
from metcd_proc import free_port  # noqa: E402,F401

START_TIMEOUT = metcd_proc.START_TIMEOUT


def context(ca=None, cert=None, key=None, verify=True, alpn=None):
    """A client context: trusts ca, presents cert/key when given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        ctx.load_verify_locations(ca)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(cert, key)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def request(port, ctx, method="GET", path="/version", body=None, headers=None, timeout=5.0):
    """(status, body bytes) of one HTTPS request to 127.0.0.1:port."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        if body is not None:
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def outcome(port, ctx, path="/version"):
    """"ok" when a request over TLS gets an answer, "refused" when the
    handshake (or the connection right after it) fails."""
    try:
        status, _ = request(port, ctx, path=path)
        return "ok" if status == 200 else "status %d" % status
    except (ssl.SSLError, ConnectionError, http.client.RemoteDisconnected, OSError):
        return "refused"


class Server:
    """metcd (kind "metcd") or etcd 3.4.23 (kind "etcd") with the given TLS
    flags on one https:// client URL (and, with plain_port, an http:// one)."""

    def __init__(self, kind, tls_args, scheme="https", plain_port=None, data_dir=None,
                 extra=None, peer_port=None):
        self.kind = kind
        self.tmp = tempfile.TemporaryDirectory(prefix="metcd-tls-")
        self.port = free_port()
        self.peer_port = peer_port or free_port()
        self.data_dir = data_dir or os.path.join(self.tmp.name, "data")
        url = "%s://127.0.0.1:%d" % (scheme, self.port)
        listen = url if plain_port is None else url + ",http://127.0.0.1:%d" % plain_port
        peer = "http://127.0.0.1:%d" % self.peer_port
        binary = metcd_proc.METCD_BIN if kind == "metcd" else shutil.which("etcd")
        if binary is None:
            raise AssertionError("etcd 3.4.23 is not installed (make test-deps)")
        self.argv = [binary, "--name", "t", "--data-dir", self.data_dir,
                     "--listen-client-urls", listen, "--advertise-client-urls", url,
                     "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                     "--initial-cluster", "t=" + peer] + list(tls_args) + list(extra or [])
        if kind == "etcd":
            self.argv.append("--enable-v2=true")
        self.log_path = os.path.join(self.tmp.name, "stderr.log")
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.log_file,
                                     env=metcd_proc.clean_env(), cwd=self.tmp.name)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_ready(self, ctx):
        """Until /health answers over TLS with ctx; fails if the process exits."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("%s exited with %d before it was ready:\n%s"
                                     % (self.kind, self.proc.returncode, self.log()))
            try:
                status, body = request(self.port, ctx, path="/health", timeout=1.0)
                if status == 200 and b'"true"' in body:
                    return self
            except (OSError, ssl.SSLError, http.client.HTTPException):
                pass
            time.sleep(0.1)
        raise AssertionError("%s not ready after %.0fs:\n%s"
                             % (self.kind, START_TIMEOUT, self.log()))

    def wait_log(self, text, timeout=5.0):
        """The log contains text within timeout (a rejection is logged when it happens)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            time.sleep(0.05)
        raise AssertionError("%s log lacks %r:\n%s" % (self.kind, text, self.log()[-3000:]))

    def wait_exit(self, timeout=10.0):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s did not exit within %.0fs" % (self.kind, timeout))

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log_file.close()
        if self.kind == "metcd":
            metcd_proc.note_crash(self.proc, "metcd", self.log_path)
        log = self.log()
        self.tmp.cleanup()
        # In the sanitizer build, a report (even at exit) fails the test.
        for bad in ("Sanitizer", "runtime error:"):
            if self.kind == "metcd" and bad in log:
                raise AssertionError("sanitizer report from metcd:\n" + log[-4000:])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def raw_exchange(port, data, timeout=3.0):
    """Sends data on a plain TCP connection, returns what comes back until close."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()
