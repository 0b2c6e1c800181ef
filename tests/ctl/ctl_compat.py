#!/usr/bin/env python3
"""metcdctl against `ETCDCTL_API=2 etcdctl`: same commands, same output.

Two fresh members of the same server (etcd 3.4.23 by default, metcd with
--server metcd) are started on free loopback ports. The same list of
commands runs with etcdctl against the first and with metcdctl against the
second, so both see the same indexes; stdout, stderr and the exit code must
be identical after masking what differs between two members (ports, member
IDs, expiration times).

Exit 77 (skip) when etcd/etcdctl is missing; a missing metcd binary fails.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ETCD = "/usr/bin/etcd"
ETCDCTL = shutil.which("etcdctl") or "/usr/bin/etcdctl"


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from metcd_proc import free_port, note_crash  # noqa: E402  (shared test helpers: tests/lib)


class Member:
    """One server process with its own data dir and ports."""

    def __init__(self, kind, binary, dead_advertise=False):
        self.kind = kind
        self.member_id = None
        self.dir = tempfile.mkdtemp(prefix="ctl-compat-")
        self.cport, self.pport = free_port(), free_port()
        self.url = "http://127.0.0.1:%d" % self.cport
        # dead_advertise: publish a client URL where nothing listens, to
        # exercise the unreachable-member paths of sync and cluster-health.
        self.aport = free_port() if dead_advertise else self.cport
        advertise = "http://127.0.0.1:%d" % self.aport
        peer = "http://127.0.0.1:%d" % self.pport
        args = [binary, "--name", "default", "--data-dir", os.path.join(self.dir, "data"),
                "--listen-client-urls", self.url, "--advertise-client-urls", advertise,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", "default=" + peer]
        if kind == "etcd":
            args.append("--enable-v2=true")
        self.log = open(os.path.join(self.dir, "log"), "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout=15.0):
        import urllib.request
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url + "/v2/keys/", timeout=1) as r:
                    ok = r.status == 200
                if ok:
                    with urllib.request.urlopen(self.url + "/v2/members", timeout=1) as r:
                        self.member_id = json.load(r)["members"][0]["id"]
                    return True
            except Exception:
                time.sleep(0.1)
        return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if self.kind == "metcd":
            note_crash(self.proc, "metcd", self.log.name)
        shutil.rmtree(self.dir, ignore_errors=True)


def run(tool, member, args, stdin=None, timeout=None, env_extra=None):
    if timeout is None:
        # A watch that never fires is cut short; the others end by themselves.
        timeout = 3 if "watch" in args else 15
    env = dict(os.environ)
    env["ETCDCTL_API"] = "2"
    for k in ("ETCDCTL_ENDPOINTS", "ETCDCTL_ENDPOINT", "ETCDCTL_PEERS"):
        env.pop(k, None)
    if env_extra:
        env.update({k: v.replace("{URL}", member.url) for k, v in env_extra.items()})
    argv = [tool] + [a.replace("{URL}", member.url) for a in args]
    if not any(a.startswith("--endpoint") for a in args) and not env_extra:
        argv = [tool, "--endpoints", member.url] + argv[1:]
    try:
        p = subprocess.run(argv, input=(stdin or "").encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env, timeout=timeout)
        return (p.returncode, p.stdout.decode("utf-8", "replace"),
                p.stderr.decode("utf-8", "replace"))
    except subprocess.TimeoutExpired as e:
        return "timeout", (e.stdout or b"").decode("utf-8", "replace"), (e.stderr or b"").decode("utf-8", "replace")


def mask(text, member):
    text = text.replace(str(member.cport), "CPORT").replace(str(member.pport), "PPORT")
    text = text.replace(str(member.aport), "APORT")
    if member.member_id:
        text = re.sub(r"\b%s\b" % member.member_id, "MEMBERID", text)
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "TIME", text)
    # Remaining TTLs are rounded up seconds: a slow second may change them.
    text = re.sub(r'"ttl":[1-9]\d*', '"ttl":N', text)
    text = re.sub(r"TTL: [1-9]\d*", "TTL: N", text)
    return text


class FakeServer:
    """A loopback HTTP server that answers every request with one status and
    body, to compare how the clients handle 5xx and non-etcd answers."""

    def __init__(self, status, body):
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = answer

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def raw_put(member, key, body):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", member.cport, timeout=10)
    conn.request("PUT", "/v2/keys" + key, body=body,
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    conn.getresponse().read()
    conn.close()


def fill(member, prefix, n):
    """Writes n keys prefix/k<i> over one keep-alive connection."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", member.cport, timeout=10)
    for i in range(n):
        conn.request("PUT", "/v2/keys%s/k%04d" % (prefix, i), body="value=v%d" % i,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        conn.getresponse().read()
    conn.close()


def watchers(member):
    """The number of watchers the member's store has (/v2/stats/store), or None."""
    import urllib.request
    try:
        with urllib.request.urlopen(member.url + "/v2/stats/store", timeout=2) as r:
            return int(json.load(r)["watchers"])
    except Exception:
        return None


def watch_case(tool, member, watch_args, writes, writer, settle=1.0):
    """Starts a watch, performs writes with the reference tool, collects output."""
    env = dict(os.environ, ETCDCTL_API="2")
    argv = [tool, "--endpoints", member.url] + watch_args
    before = watchers(member)
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    # Write only once the watch is registered (the store's watcher count
    # goes up), so a slow start (sanitizers, a loaded machine) cannot make
    # the watch miss the event.
    deadline = time.time() + 15
    while before is not None and watchers(member) <= before and time.time() < deadline:
        time.sleep(0.05)
    if before is None:
        time.sleep(settle)
    for w in writes:
        run(writer, member, w)
    try:
        out, err = p.communicate(timeout=5)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGINT)
        try:
            out, err = p.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        rc = "interrupted %s" % p.returncode
    return rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


# Each step: (args, stdin) run by both tools, in order, on their own member.
STEPS = [
    (["set", "/a", "1"], None),
    (["set", "/a", "2"], None),
    (["-o", "json", "set", "/a", "3"], None),
    (["-o", "extended", "set", "/a", "4"], None),
    (["get", "/a"], None),
    (["-o", "extended", "get", "/a"], None),
    (["-o", "json", "get", "/a"], None),
    (["get", "/x"], None),
    (["-o", "json", "get", "/x/y/z"], None),
    (["get"], None),
    (["mk", "/a", "5"], None),
    (["mk", "/new", "fresh"], None),
    (["-o", "json", "mk", "/new2", "v"], None),
    (["mkdir", "/d"], None),
    (["mkdir", "/d"], None),
    (["-o", "json", "mkdir", "/d2"], None),
    (["-o", "extended", "mkdir", "/d3/sub"], None),
    (["get", "/d"], None),
    (["setdir", "/d"], None),
    (["-o", "json", "setdir", "/d4"], None),
    (["updatedir", "/nodir"], None),
    (["-o", "json", "rm", "/a"], None),
    (["rm", "/new"], None),
    (["rm", "/d"], None),
    (["rm", "--dir", "/d"], None),
    (["rmdir", "/d2"], None),
    (["rmdir", "/nope"], None),
    (["set", "--ttl", "100", "/t", "v"], None),
    (["-o", "json", "get", "/t"], None),
    (["set", "--swap-with-value", "zz", "/t", "q"], None),
    (["set", "--swap-with-index", "1", "/t", "q"], None),
    (["-o", "json", "set", "--swap-with-value", "v", "/t", "q2"], None),
    (["update", "/nope", "v"], None),
    (["-o", "extended", "update", "/t", "u"], None),
    (["mk", "--in-order", "/q", "v1"], None),
    (["-o", "json", "mk", "--in-order", "/q", "v2"], None),
    (["mk", "--in-order", "--ttl", "50", "/q", "v3"], None),
    (["ls", "--sort"], None),
    (["ls", "-r", "-p", "--sort"], None),
    (["ls", "--sort", "-r", "/"], None),
    (["ls", "/t"], None),
    (["ls", "/q", "--sort"], None),
    (["-o", "json", "ls", "--sort", "/q"], None),
    (["-o", "extended", "ls", "/t"], None),
    (["ls", "/nope"], None),
    (["-o", "json", "set", "/s", "<a>&\"\\ \u00e9 \u2028 \t end"], None),
    (["get", "/s"], None),
    (["-o", "extended", "rm", "/s"], None),
    (["mkdir", "/r/x/y"], None),
    (["set", "/r/x/k", "kv"], None),
    (["rm", "/r"], None),
    (["-o", "extended", "rm", "-r", "/r"], None),
    (["rm", "-r", "/q"], None),
    (["set", "/e", ""], None),
    (["get", "/e"], None),
    (["set", "--", "/neg", "-1"], None),
    (["get", "/neg"], None),
    (["set", "/stdin"], "from stdin\nline2"),
    (["get", "/stdin"], None),
    (["set", "/nostdin"], None),
    (["rm", "--with-value", "nope", "/e"], None),
    (["rm", "--with-index", "1", "/e"], None),
    (["-o", "extended", "rm", "--with-value", "", "/e"], None),
    (["set", "rel/key", "relative"], None),
    (["get", "/rel//key/"], None),
    (["set", "/sp ace/k%20x", "odd"], None),
    (["ls", "-r", "--sort", "/sp ace"], None),
    (["get", "--sort", "-q", "/neg"], None),
    (["get", "--bogus", "/a"], None),
    (["set", "--ttl", "abc", "/a", "b"], None),
    (["-o", "bogus", "set", "/fmt", "b"], None),
    (["nosuchcommand"], None),
    (["member", "list"], None),
    (["cluster-health"], None),
    (["--endpoints", "http://127.0.0.1:1", "get", "/a"], None),
    (["--no-sync", "--endpoints", "http://127.0.0.1:1", "get", "/a"], None),
    (["--no-sync", "get", "/neg"], None),
    # create-only sets and deletes are sent once: the first error, as it is
    (["--no-sync", "--endpoints", "http://127.0.0.1:1", "mk", "/x", "1"], None),
    (["--no-sync", "--endpoints", "http://127.0.0.1:1", "mkdir", "/x"], None),
    (["--no-sync", "--endpoints", "http://127.0.0.1:1", "rm", "/x"], None),
    (["--no-sync", "--endpoints", "http://127.0.0.1:1", "rmdir", "/x"], None),
    (["--no-sync", "--endpoints", "http://127.0.0.1:1", "update", "/x", "1"], None),
    (["set", "/multi", "line1\nline2\x01\x7f"], None),
    (["-o", "json", "get", "/multi"], None),
    (["-o", "extended", "get", "/multi"], None),
    (["set", "/big"], "v" * 200000),
    (["ls", "/big"], None),
    (["update", "--ttl", "30", "/big", "small"], None),
    (["-o", "json", "update", "/big", "no ttl"], None),
    (["setdir", "--ttl", "40", "/tdir"], None),
    (["-o", "extended", "setdir", "/tdir"], None),
    (["mkdir", "/tdir/sub"], None),
    (["-o", "extended", "ls", "--sort", "/tdir"], None),
    (["-o", "json", "rmdir", "/tdir/sub"], None),
    (["-o", "json", "rm", "--recursive", "/tdir"], None),
    (["mk", "/f", "file"], None),
    (["set", "/f/child", "x"], None),
    (["get", "/f/child"], None),
    (["mkdir", "/f"], None),
    (["rmdir", "/f"], None),
    (["set", "/", "root"], None),
    (["rm", "-r", "/"], None),
    (["mk", "--in-order", "/f", "x"], None),
    (["get", "/_hidden"], None),
    (["set", "/_hidden", "h"], None),
    (["ls", "--sort", "/"], None),
    (["--total-timeout", "3s", "get", "/_hidden"], None),
    (["--output", "extended", "get", "/_hidden"], None),
    (["--output=json", "get", "/_hidden"], None),
    (["--endpoints=" + "{URL}", "get", "/_hidden"], None),
    (["--debug", "get", "/t"], None),
    (["--debug", "-o", "json", "set", "--ttl", "1000", "--swap-with-value", "q2", "/t", "x y"], None),
    (["--debug", "mkdir", "/dbg"], None),
    (["--debug", "rm", "-r", "/dbg"], None),
    (["--debug", "--no-sync", "ls", "-r", "--sort", "/d3"], None),
    (["--debug", "mk", "--in-order", "/dq", "x"], None),
    (["watch", "--after-index", "1", "/t"], None),
    (["-o", "json", "watch", "-r", "--after-index", "1", "/d3"], None),
    (["-o", "extended", "watch", "-r", "--after-index", "4", "/"], None),
    (["watch", "--after-index", "2", "/nope/never"], None),
]

DEAD_ADVERTISE_STEPS = [
    ["cluster-health"],
    ["member", "list"],
    ["get", "/x"],
    ["--no-sync", "get", "/x"],
    ["--no-sync", "-o", "json", "set", "/x", "1"],
]

ENV_STEPS = [
    (["get", "/neg"], {"ETCDCTL_ENDPOINTS": "{URL}"}),
    (["get", "/neg"], {"ETCDCTL_ENDPOINT": "{URL}"}),
    (["get", "/neg"], {"ETCDCTL_ENDPOINTS": "http://127.0.0.1:1"}),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", choices=["etcd", "metcd"], default="etcd")
    ap.add_argument("-v", "--verbose", action="store_true")
    opts = ap.parse_args()

    metcdctl = os.environ.get("METCDCTL_BIN")
    if not metcdctl or not os.access(metcdctl, os.X_OK):
        print("METCDCTL_BIN is not set to the built metcdctl")
        return 1
    if not os.access(ETCDCTL, os.X_OK):
        print("SKIP: etcdctl is not installed (apt-get install etcd-client)")
        return 77
    if opts.server == "etcd":
        binary = ETCD
        if not os.access(ETCD, os.X_OK):
            print("SKIP: etcd is not installed (apt-get install etcd-server)")
            return 77
    else:
        binary = os.environ.get("METCD_BIN", "")
        if not os.access(binary, os.X_OK):
            print("FAIL: METCD_BIN is not an executable metcd")
            return 1

    a, b = Member(opts.server, binary), Member(opts.server, binary)
    failures = []
    try:
        if not (a.wait_ready() and b.wait_ready()):
            # A server that does not start is a failure, never a skip.
            print("%s did not start" % opts.server)
            return 1

        def compare(label, ref, got):
            ref_m = (ref[0], mask(ref[1], a), mask(ref[2], a))
            got_m = (got[0], mask(got[1], b), mask(got[2], b))
            if ref_m[1].startswith("Incorrect Usage"):
                # The help text after the first line names the program.
                ref_m = (ref_m[0], ref_m[1].split("\n")[0], ref_m[2])
                got_m = (got_m[0], got_m[1].split("\n")[0], got_m[2])
            if ref_m != got_m:
                failures.append(label)
                print("MISMATCH %s\n  etcdctl : %r\n  metcdctl: %r" % (label, ref_m, got_m))
            elif opts.verbose:
                print("ok %s -> %r" % (label, ref_m))

        for args, stdin in STEPS:
            compare(" ".join(args), run(ETCDCTL, a, args, stdin), run(metcdctl, b, args, stdin))
        for args, env in ENV_STEPS:
            compare("%s %s" % (env, " ".join(args)), run(ETCDCTL, a, args, env_extra=env),
                    run(metcdctl, b, args, env_extra=env))

        # Push the first events out of the 1000-event history: a watch from
        # index 1 is then error 401; a large sorted listing comes back whole.
        for m in (a, b):
            fill(m, "/many", 1100)
        # A value with an invalid UTF-8 byte and a NUL, written over HTTP:
        # the server sends U+FFFD and \u0000, printed as they are.
        for m in (a, b):
            raw_put(m, "/raw", "value=a%FFb%00c")
        for args in (["get", "/raw"], ["-o", "json", "get", "/raw"],
                     ["-o", "extended", "get", "/raw"]):
            compare(" ".join(args), run(ETCDCTL, a, args), run(metcdctl, b, args))
        for args in (["watch", "--after-index", "1", "/many"],
                     ["ls", "--sort", "/many"],
                     ["-o", "json", "ls", "--sort", "/many"]):
            compare(" ".join(args), run(ETCDCTL, a, args), run(metcdctl, b, args))

        # Endpoints that answer 5xx (etcd's client: "has no leader" for 500
        # and 503, "returns server error" otherwise, then the next endpoint)
        # or something that is not etcd at all.
        fakes = {"500": FakeServer(500, "internal error\n"),
                 "503": FakeServer(503, "unavailable\n"),
                 "502": FakeServer(502, "bad gateway\n"),
                 "404": FakeServer(404, "404 page not found\n")}
        try:
            for code, f in sorted(fakes.items()):
                for args in (["--endpoints", f.url, "get", "/neg"],
                             ["--no-sync", "--endpoints", f.url, "-o", "json", "set", "/x", "1"],
                             ["--endpoints", f.url, "member", "list"],
                             ["--endpoints", f.url, "mkdir", "/x"],
                             ["--endpoints", f.url, "rm", "-r", "/x"],
                             ["--endpoints", f.url, "watch", "/x"]):
                    ref, got = run(ETCDCTL, a, args), run(metcdctl, b, args)
                    ref = (ref[0], ref[1].replace(str(f.port), "FPORT"),
                           ref[2].replace(str(f.port), "FPORT"))
                    got = (got[0], got[1].replace(str(f.port), "FPORT"),
                           got[2].replace(str(f.port), "FPORT"))
                    compare("fake %s: %s" % (code, " ".join(args[2:])), ref, got)
            args = ["--no-sync", "--endpoints", fakes["500"].url + ",{URL}", "get", "/neg"]
            compare("failover past a 500", run(ETCDCTL, a, args), run(metcdctl, b, args))
        finally:
            for f in fakes.values():
                f.stop()

        # Live watches: the writes are made with etcdctl against each member.
        live = [
            (["watch", "/w/a"], [["set", "/w/a", "live"]]),
            (["watch", "-r", "/w"], [["mkdir", "/w/dir"], ["set", "/w/b", "2"]]),
            (["watch", "-r", "-f", "/w"], [["set", "/w/a", "1"], ["rm", "/w/a"],
                                           ["set", "/w/c", "3"]]),
            (["-o", "json", "watch", "/w/c"], [["set", "/w/c", "4"]]),
        ]
        for wargs, writes in live:
            ref = watch_case(ETCDCTL, a, wargs, writes, ETCDCTL)
            got = watch_case(metcdctl, b, wargs, writes, ETCDCTL)
            compare("live " + " ".join(wargs), ref, got)

        # exec-watch: the command's output shows the ETCD_WATCH_* variables.
        script = 'echo "$ETCD_WATCH_ACTION $ETCD_WATCH_KEY $ETCD_WATCH_VALUE $ETCD_WATCH_MODIFIED_INDEX"'
        ew = ["exec-watch", "-r", "/x", "--", "sh", "-c", script]
        ref = watch_case(ETCDCTL, a, ew, [["set", "/x/k", "v1"], ["set", "/x/k", "v2"]], ETCDCTL)
        got = watch_case(metcdctl, b, ew, [["set", "/x/k", "v1"], ["set", "/x/k", "v2"]], ETCDCTL)
        compare("exec-watch", ref, got)
    finally:
        a.stop()
        b.stop()
    # A member that advertises a client URL nobody listens on.
    a, b = Member(opts.server, binary, True), Member(opts.server, binary, True)
    try:
        if a.wait_ready() and b.wait_ready():
            for args in DEAD_ADVERTISE_STEPS:
                compare("dead-advertise " + " ".join(args), run(ETCDCTL, a, args),
                        run(metcdctl, b, args))
        else:
            failures.append("dead-advertise members did not start")
    finally:
        a.stop()
        b.stop()
    total = len(STEPS) + len(ENV_STEPS) + 36 + len(DEAD_ADVERTISE_STEPS)
    if failures:
        print("%d of %d cases differ" % (len(failures), total))
        return 1
    print("all %d cases match etcdctl (%s)" % (total, opts.server))
    return 0


if __name__ == "__main__":
    sys.exit(main())
