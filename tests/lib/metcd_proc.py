"""Start and stop real metcd processes for the tests in this folder.

Standard library only. Every process listens on 127.0.0.1 ports picked by
binding port 0; every wait is bounded; only the processes started here are
killed, by PID.
"""
import atexit
import fcntl
import hashlib
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

METCD_BIN = os.environ.get("METCD_BIN", "")
# The test-only build with the METCD_TEST_* hooks (src/server/hooks.h); the
# metcd program itself reads no test variable.
METCD_HOOKS_BIN = os.environ.get("METCD_HOOKS_BIN", "")
SANITIZED = os.environ.get("METCD_SANITIZED", "0") == "1"
# Start-up under ASan is slower; the bound is generous but finite.
START_TIMEOUT = 20.0 if SANITIZED else 10.0
# The storage backend the suites run against (meson registers a variant per
# engine): METCD_BACKEND=lmdb or leveldb adds --backend to every metcd
# started through backend_args(); unset or "memory" adds nothing.
BACKEND = os.environ.get("METCD_BACKEND", "")
# On an engine the store keeps only this many nodes in memory and reads the
# rest on demand: the suites run with a handful, so that nearly every
# request reads the engine and evicts again (store/cache.c).
CACHE_NODES = os.environ.get("METCD_BACKEND_CACHE_NODES", "8")


def backend_args():
    """The --backend flags of this run, for a metcd command line."""
    if BACKEND in ("", "memory"):
        return []
    return ["--backend", BACKEND, "--backend-cache-nodes", CACHE_NODES]


_HANDED_OUT = set()


def _ephemeral_low():
    """The lowest port the kernel hands out for outgoing connections."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_RNG = random.Random(os.getpid() ^ int(time.time() * 1000))


# Ports handed out by any test process in the last _REGISTRY_SECONDS, one
# "port time" line each: tests run side by side, and a member restarted on
# its data dir binds the same ports again, so a port another test picked a
# moment ago must not be picked again while that test may still use it.
_REGISTRY = os.path.join(tempfile.gettempdir(), "metcd-test-ports")
_REGISTRY_SECONDS = 900


def _claim(port):
    """Records port in the shared registry unless another test process
    holds it there. True when it is ours."""
    try:
        f = open(_REGISTRY, "a+")
    except OSError:
        return True  # no shared registry: this process's own set still applies
    with f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        now = time.time()
        live = []
        for line in f.read().split("\n"):
            parts = line.split()
            if len(parts) == 2 and parts[0].isdigit():
                try:
                    if now - float(parts[1]) < _REGISTRY_SECONDS:
                        live.append((int(parts[0]), parts[1]))
                except ValueError:
                    pass
        if any(p == port for p, _ in live):
            return False
        live.append((port, "%.0f" % now))
        f.seek(0)
        f.truncate()
        f.write("".join("%d %s\n" % e for e in live))
        return True


def free_port():
    """A port nobody listens on right now, never one this process handed
    out before (a test that picks several ports before its servers bind them
    must not get the same one twice), and none another test process picked
    in the last 15 minutes (the shared registry above). It is chosen at
    random below the kernel's ephemeral range: a port from that range can be
    taken meanwhile by any outgoing connection, or held in TIME_WAIT by a
    closed one."""
    low = _ephemeral_low()
    first = 10000 if low > 12000 else 1024
    for _ in range(1000):
        port = _RNG.randrange(first, low) if low > first else 0
        if port in _HANDED_OUT:
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
            port = s.getsockname()[1]
        except OSError:
            continue
        finally:
            s.close()
        if port not in _HANDED_OUT and _claim(port):
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("no free loopback port found")


def clean_env(extra=None):
    """The test's environment without any ETCD_* variable, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD_")}
    env.update(extra or {})
    return env


def member_id(peer_urls, token):
    """etcd's member ID: SHA-1 of the sorted peer URLs then the token."""
    data = "".join(sorted(peer_urls)).encode() + token.encode()
    return struct.unpack(">Q", hashlib.sha1(data).digest()[:8])[0]


def cluster_id(member_ids):
    """etcd's cluster ID: SHA-1 of the sorted member IDs, 8 bytes big endian each."""
    data = b"".join(struct.pack(">Q", m) for m in sorted(member_ids))
    return struct.unpack(">Q", hashlib.sha1(data).digest()[:8])[0]


# Signals only a bug delivers to metcd itself (SIGABRT is left out: a
# member stops with abort() on purpose when its disk fails).
CRASH_SIGNALS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE)


# Crashes found by Metcd.close(), not yet reported. close() does not raise
# (a test closing several members must close them all): run_cases fails
# the case that left one, and a script that does not use run_cases exits 1.
CRASHES = []


def _fail_on_crashes():
    if CRASHES:
        sys.stdout.flush()
        sys.stderr.write("FAIL: %s\n" % "\n".join(CRASHES))
        sys.stderr.flush()
        os._exit(1)


atexit.register(_fail_on_crashes)


def crash_of(returncode):
    """The signal's name when a process with this exit status crashed."""
    if returncode is not None and returncode < 0 and -returncode in CRASH_SIGNALS:
        return signal.Signals(-returncode).name
    return None


def note_crash(proc, what, log_path=None):
    """For a test that starts and stops a process itself: once proc has
    ended, a crash (SIGSEGV and the like) goes to CRASHES with the end of
    its log, and fails the test as Metcd.close() does. Returns the
    signal's name, or None."""
    crash = crash_of(proc.returncode)
    if crash:
        tail = ""
        if log_path:
            try:
                with open(log_path, "rb") as f:
                    tail = f.read()[-3000:].decode(errors="replace")
            except OSError:
                tail = "(log already removed)"
        CRASHES.append("%s (pid %d) crashed with %s:\n%s" % (what, proc.pid, crash, tail))
    return crash


def http(method, url, body=None, headers=None, timeout=5.0):
    """(status, headers, body bytes); HTTP errors are returned, not raised."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


class Metcd:
    """One metcd process with its own data dir and ports."""

    def __init__(self, name="n1", args=None, env=None, data_dir=None, client_port=None,
                 peer_port=None, default_flags=True, wrapper=None):
        self.tmp = tempfile.TemporaryDirectory(prefix="metcd-cluster-")
        self.name = name
        self.client_port = client_port or free_port()
        self.peer_port = peer_port or free_port()
        self.client_url = "http://127.0.0.1:%d" % self.client_port
        self.peer_url = "http://127.0.0.1:%d" % self.peer_port
        self.data_dir = data_dir or os.path.join(self.tmp.name, "data")
        hooked = any(k.startswith("METCD_TEST_") for k in (env or {}))
        argv = (wrapper or []) + [METCD_HOOKS_BIN if hooked else METCD_BIN]
        if default_flags:
            argv += ["--name", name, "--data-dir", self.data_dir,
                     "--listen-client-urls", self.client_url,
                     "--advertise-client-urls", self.client_url,
                     "--listen-peer-urls", self.peer_url,
                     "--initial-advertise-peer-urls", self.peer_url]
            argv += backend_args()
        argv += args or []
        self.argv = argv
        self.stderr_path = os.path.join(self.tmp.name, "stderr.log")
        self.stderr_file = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.stderr_file, env=clean_env(env),
                                     cwd=self.tmp.name)

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_ready(self, url=None):
        """Polls /health until it answers 200; fails if the process exits."""
        url = url or self.client_url
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("metcd exited with %d before it was ready:\n%s"
                                     % (self.proc.returncode, self.stderr()))
            try:
                status, _, _ = http("GET", url + "/health", timeout=1.0)
                if status == 200:
                    return self
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.05)
        raise AssertionError("metcd not ready after %.0fs:\n%s" % (START_TIMEOUT, self.stderr()))

    def wait_exit(self, timeout=10.0):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("metcd did not exit within %.0fs" % timeout)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait_exit(timeout)

    def close(self):
        """Kills the process if it still runs and removes its files. A
        process that had crashed (SIGSEGV and the like) fails the test,
        whatever the test asserted before (CRASHES)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if not getattr(self, "_closed", False):
            note_crash(self.proc, "metcd", self.stderr_path)
        self._closed = True
        if self.proc.stdout:
            self.proc.stdout.close()
        self.stderr_file.close()
        self.tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Skip(Exception):
    """Raised by a case that cannot run here (meson counts exit 77 as skipped)."""


def run_cases(cases):
    """Runs the cases named in argv, or every case; exit 1 on a failure,
    77 when every case was skipped."""
    names = sys.argv[1:] or list(cases)
    failed = skipped = 0
    for name in names:
        t0 = time.monotonic()
        try:
            cases[name]()
            if CRASHES:
                found = "\n".join(CRASHES)
                del CRASHES[:]
                raise AssertionError(found)
            print("ok   %s (%.2fs)" % (name, time.monotonic() - t0))
        except Skip as e:
            skipped += 1
            print("skip %s: %s" % (name, e))
        except Exception as e:  # report every failing case, then fail
            failed += 1
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
            for c in CRASHES:
                print("     and %s" % c.split("\n")[0])
        del CRASHES[:]
    sys.exit(1 if failed else 77 if skipped == len(names) else 0)


def check(cond, msg):
    """Fails the case with msg unless cond holds."""
    if not cond:
        raise AssertionError(msg)


def eq(got, want, what):
    """Fails the case unless got == want, showing both."""
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def json_body(body):
    return json.loads(body.decode())


class NotifySocket:
    """A datagram socket standing in for systemd's $NOTIFY_SOCKET."""

    def __init__(self, d):
        self.path = os.path.join(d, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)

    def expect(self, state, timeout):
        self.sock.settimeout(timeout)
        try:
            got = self.sock.recv(4096).decode()
        except socket.timeout:
            raise AssertionError("no %s on $NOTIFY_SOCKET within %.0fs" % (state, timeout))
        eq(got, state, "notification")

    def close(self):
        self.sock.close()
