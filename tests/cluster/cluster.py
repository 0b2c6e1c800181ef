"""A cluster of 3 or 5 real members on loopback: etcd (v2 enabled) or metcd.

    with Cluster(3, impl="etcd") as c:
        c.start()
        lead = c.leader()
        c.kill(lead); c.restart(lead)
        c.relay.isolate(lead.name)

Both are started with the same etcd command line (--name, --data-dir,
--listen-client-urls, --advertise-client-urls, --listen-peer-urls,
--initial-advertise-peer-urls, --initial-cluster, --initial-cluster-token,
--initial-cluster-state, --heartbeat-interval, --election-timeout,
--snapshot-count); etcd also gets --enable-v2=true. metcd is the binary in
METCD_BIN, etcd the one in ETCD_BIN or /usr/bin/etcd.

Every member listens on 127.0.0.1 ports found free by binding port 0 and has
its own data dir under one temporary directory. With relay=True (the default)
each member advertises a peer URL on a relay port (relay.py) that forwards to
its real peer listener, so the test can cut links between members.

Every wait is bounded. A member that does not start, or a cluster that has no
agreed leader in time, raises ClusterError with the tail of every member's log
(never a skip). Only processes started here are signalled, by PID. close()
(also run by `with` and at interpreter exit) kills what is left and removes the
temporary directory unless keep_dir is set or CLUSTER_KEEP_DIR names a folder
to copy it to.
"""
import atexit
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[0:0] = [_HERE, os.path.join(_HERE, "..", "lib")]   # relay.py; tests/lib helpers
from metcd_proc import backend_args, clean_env, cluster_id, crash_of, free_port, member_id  # noqa: E402,F401,E501
from relay import Relay  # noqa: E402

ETCD_BIN = os.environ.get("ETCD_BIN", "/usr/bin/etcd")
METCD_BIN = os.environ.get("METCD_BIN", "")
SANITIZED = os.environ.get("METCD_SANITIZED", "0") == "1"

START_TIMEOUT = 40.0 if SANITIZED else 20.0   # every member answers /health 200
REQUEST_TIMEOUT = 5.0                          # one status request of the harness


class ClusterError(AssertionError):
    """The cluster did not do what the harness waited for, within the bound."""


def http_request(url, method="GET", params=None, timeout=REQUEST_TIMEOUT, body=None):
    """One HTTP request on a fresh connection.

    Returns (status, headers dict with lower-case names, parsed JSON or raw
    text). Raises OSError (socket.timeout included) when there is no answer.
    """
    u = urllib.parse.urlsplit(url)
    path = u.path or "/"
    headers = {}
    if params and method in ("PUT", "POST") and body is None:
        body = urllib.parse.urlencode(params)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif params:
        path += "?" + urllib.parse.urlencode(params)
    if u.query:
        path += ("&" if "?" in path else "?") + u.query
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
    except http.client.HTTPException as e:
        raise OSError("bad HTTP answer from %s: %r" % (url, e))
    finally:
        conn.close()
    text = data.decode("utf-8", "replace")
    try:
        return r.status, hdrs, json.loads(text)
    except ValueError:
        return r.status, hdrs, text


class Member:
    """One member: its ports, data dir, command line and current process."""

    def __init__(self, cluster, name, index):
        self.cluster = cluster
        self.name = name
        self.index = index
        self.client_port = free_port()
        self.peer_port = free_port()              # --listen-peer-urls
        self.advertised_peer_port = self.peer_port  # relay port when relayed
        self.client_url = "http://127.0.0.1:%d" % self.client_port
        self.data_dir = os.path.join(cluster.dir, name + ".data")
        self.log_path = os.path.join(cluster.dir, name + ".log")
        self.argv = None
        self.fixed_id = None     # set for a member added at run time (etcd picks its ID)
        self.initial_state = "new"
        self.proc = None
        self.pids = []           # every PID started for this member
        self.stopped = False     # SIGSTOP sent and no SIGCONT since
        self.starts = 0

    @property
    def peer_url(self):
        return "http://127.0.0.1:%d" % self.peer_port

    @property
    def advertised_peer_url(self):
        return "http://127.0.0.1:%d" % self.advertised_peer_port

    @property
    def id(self):
        if self.fixed_id is not None:
            return self.fixed_id
        return member_id([self.advertised_peer_url], self.cluster.token)

    @property
    def id_hex(self):
        return "%x" % self.id

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def url(self, path):
        return self.client_url + path

    def get(self, path, params=None, timeout=REQUEST_TIMEOUT):
        return http_request(self.url(path), "GET", params, timeout)

    def log_tail(self, nbytes=4000):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - nbytes))
                return f.read().decode("utf-8", "replace")
        except OSError as e:
            return "(no log: %s)" % e

    def __repr__(self):
        return "<%s %s pid=%s>" % (self.name, self.id_hex,
                                   self.proc.pid if self.proc else None)


class Cluster:
    def __init__(self, size=3, impl=None, relay=True, heartbeat_ms=100, election_ms=1000,
                 snapshot_count=None, token=None, keep_dir=False, extra_args=None):
        impl = impl or os.environ.get("CLUSTER_IMPL", "metcd")
        if impl not in ("etcd", "metcd"):
            raise ValueError("impl must be etcd or metcd, not %r" % impl)
        if impl == "metcd" and not METCD_BIN:
            raise ClusterError("METCD_BIN is not set: point it at the metcd binary "
                               "(or run with --impl etcd)")
        self.impl = impl
        self.binary = ETCD_BIN if impl == "etcd" else METCD_BIN
        if not os.access(self.binary, os.X_OK):
            raise ClusterError("%s is not an executable" % self.binary)
        self.heartbeat_ms = heartbeat_ms
        self.election_ms = election_ms
        self.snapshot_count = snapshot_count
        self.extra_args = list(extra_args or [])
        self.token = token or "cluster-test-%d-%d" % (os.getpid(), int(time.time() * 1000))
        self.keep_dir = keep_dir
        self.dir = tempfile.mkdtemp(prefix="%s-cluster-" % impl)
        self.members = [Member(self, "m%d" % (i + 1), i) for i in range(size)]
        self.relay = None
        if relay:
            self.relay = Relay()
            for m in self.members:
                m.advertised_peer_port = self.relay.add(m.name, m.peer_port, free_port())
            self.relay.set_ids({m.id: m.name for m in self.members})
        self.removed = []
        self.env = {}            # variables added to every member's environment
        self.closed = False
        atexit.register(self.close)

    @property
    def size(self):
        return len(self.members)

    # ---- names and ids ------------------------------------------------
    def member(self, name_or_id):
        for m in self.members:
            if name_or_id in (m.name, m.id, m.id_hex):
                return m
        raise KeyError(name_or_id)

    def others(self, member):
        return [m for m in self.members if m is not member]

    @property
    def initial_cluster(self):
        return ",".join("%s=%s" % (m.name, m.advertised_peer_url) for m in self.members)

    def election_timeout(self):
        return self.election_ms / 1000.0

    # ---- processes ----------------------------------------------------
    def _argv(self, m):
        argv = [self.binary,
                "--name", m.name,
                "--data-dir", m.data_dir,
                "--listen-client-urls", m.client_url,
                "--advertise-client-urls", m.client_url,
                "--listen-peer-urls", m.peer_url,
                "--initial-advertise-peer-urls", m.advertised_peer_url,
                "--initial-cluster", self.initial_cluster,
                "--initial-cluster-token", self.token,
                "--initial-cluster-state", m.initial_state,
                "--heartbeat-interval", str(self.heartbeat_ms),
                "--election-timeout", str(self.election_ms)]
        if self.snapshot_count is not None:
            argv += ["--snapshot-count", str(self.snapshot_count)]
        if self.impl == "etcd":
            argv += ["--enable-v2=true"]
        else:
            argv += backend_args()   # METCD_BACKEND: the storage engine of every member
        return argv + self.extra_args

    def _spawn(self, m):
        if m.argv is None:
            m.argv = self._argv(m)
        env = clean_env(self.env)
        log = open(m.log_path, "ab")
        m.starts += 1
        log.write(("\n=== start %d: %s\n" % (m.starts, " ".join(m.argv))).encode())
        log.flush()
        try:
            m.proc = subprocess.Popen(m.argv, stdin=subprocess.DEVNULL, stdout=log,
                                      stderr=subprocess.STDOUT, env=env, cwd=self.dir)
        finally:
            log.close()
        m.pids.append(m.proc.pid)
        m.stopped = False

    def start(self, timeout=START_TIMEOUT):
        """Starts every member; returns when all answer /health 200 and agree
        on one leader. Raises ClusterError otherwise."""
        for m in self.members:
            self._spawn(m)
        deadline = time.monotonic() + timeout
        for m in self.members:
            self.wait_healthy(m, max(0.5, deadline - time.monotonic()))
        return self.leader(max(1.0, deadline - time.monotonic()))

    def wait_healthy(self, m, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not m.alive():
                raise ClusterError("%s exited with %s before it was healthy\n%s"
                                   % (m.name, m.proc.returncode if m.proc else None,
                                      self.logs()))
            try:
                status, _, body = m.get("/health", timeout=1.0)
                last = (status, body)
                if status == 200 and isinstance(body, dict) and body.get("health") in ("true", True):
                    return
            except OSError as e:
                last = e
            time.sleep(0.05)
        raise ClusterError("%s not healthy within %.0fs (last answer %r)\n%s"
                           % (m.name, timeout, last, self.logs()))

    def kill(self, m):
        """kill -9 the member (its current PID only) and reap it."""
        if m.alive():
            m.proc.send_signal(signal.SIGKILL)
            m.proc.wait(timeout=10)
        m.stopped = False

    def stop(self, m):
        """SIGSTOP: the process keeps its sockets but runs nothing."""
        if not m.alive():
            raise ClusterError("cannot SIGSTOP %s: not running" % m.name)
        m.proc.send_signal(signal.SIGSTOP)
        m.stopped = True

    def cont(self, m):
        if m.alive():
            m.proc.send_signal(signal.SIGCONT)
        m.stopped = False

    def terminate(self, m, timeout=15.0):
        """SIGTERM, then wait (bounded) for the exit; returns the exit status."""
        if m.alive():
            if m.stopped:
                self.cont(m)
            m.proc.send_signal(signal.SIGTERM)
            try:
                return m.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise ClusterError("%s did not exit within %.0fs of SIGTERM" % (m.name, timeout))
        return m.proc.returncode if m.proc else None

    def restart(self, m, wait=True, timeout=START_TIMEOUT):
        """Starts the member again on its data dir with the same command line."""
        if m.alive():
            raise ClusterError("restart of %s while it still runs" % m.name)
        crash = crash_of(m.proc.returncode) if m.proc is not None else None
        if crash:
            raise ClusterError("%s (pid %d) had crashed with %s:\n%s"
                               % (m.name, m.proc.pid, crash, m.log_tail(3000)))
        self._spawn(m)
        if wait:
            self.wait_healthy(m, timeout)

    # ---- membership ---------------------------------------------------
    def new_member(self):
        """A member that is not part of the cluster yet (ports, relay port,
        data dir); announce it (member add), then start it with start_added."""
        m = Member(self, "m%d" % (max(x.index for x in self.members) + 2),
                   max(x.index for x in self.members) + 1)
        if self.relay is not None:
            m.advertised_peer_port = self.relay.add(m.name, m.peer_port, free_port())
        return m

    def start_added(self, m, member_id_hex, wait=True, timeout=START_TIMEOUT):
        """Starts m, announced to the cluster with ID member_id_hex, with
        --initial-cluster-state existing and every member in --initial-cluster."""
        m.fixed_id = int(member_id_hex, 16)
        m.initial_state = "existing"
        self.members.append(m)
        if self.relay is not None:
            self.relay.set_ids({m.id: m.name})
        m.argv = self._argv(m)
        self._spawn(m)
        if wait:
            self.wait_healthy(m, timeout)

    def forget(self, m):
        """m was removed from the cluster: it no longer counts (its process,
        if any, is still killed by close())."""
        self.members.remove(m)
        self.removed.append(m)

    # ---- leader -------------------------------------------------------
    def running(self):
        """Members whose process runs and is not paused."""
        return [m for m in self.members if m.alive() and not m.stopped]

    def stats_self(self, m, timeout=1.0):
        status, _, body = m.get("/v2/stats/self", timeout=timeout)
        if status != 200 or not isinstance(body, dict):
            raise OSError("stats/self of %s: %s %r" % (m.name, status, body))
        return body

    def leader_view(self, m, timeout=1.0):
        """The leader as m sees it (a Member) or None; raises OSError when m
        does not answer."""
        body = self.stats_self(m, timeout)
        if body.get("state") == "StateLeader":
            return m
        lid = (body.get("leaderInfo") or {}).get("leader")
        if not lid:
            return None
        try:
            return self.member(lid.lower().lstrip("0") or "0")
        except KeyError:
            return None

    def members_leader(self, m, timeout=1.0):
        """/v2/members/leader on m: the Member, or None when m knows none."""
        status, _, body = m.get("/v2/members/leader", timeout=timeout)
        if status != 200 or not isinstance(body, dict):
            return None
        try:
            return self.member(body.get("id", "").lower().lstrip("0") or "0")
        except KeyError:
            return None

    def leader(self, timeout=10.0, among=None, exclude=()):
        """The leader that a majority of the members asked agree on, and that
        calls itself leader. among: the members to ask (default: running).
        exclude: members that must not be it. Raises ClusterError on timeout."""
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            asked = [m for m in (among or self.running()) if m.alive() and not m.stopped]
            views = {}
            for m in asked:
                try:
                    views[m.name] = self.leader_view(m)
                except OSError:
                    views[m.name] = None
            seen = {k: (v.name if v else None) for k, v in views.items()}
            counts = {}
            for v in views.values():
                if v is not None:
                    counts[v.name] = counts.get(v.name, 0) + 1
            for name, n in counts.items():
                cand = self.member(name)
                if (n > self.size // 2 and cand not in exclude and cand.name in views
                        and views[cand.name] is cand):
                    return cand
            time.sleep(0.05)
        raise ClusterError("no agreed leader within %.1fs (views: %r)\n%s"
                           % (timeout, seen, self.logs()))

    def wait_converged(self, members=None, timeout=20.0, prefix="/"):
        """Waits until every member's local recursive listing of prefix is the
        same (plain GET, answered from each member's own store). Returns the
        listing. Raises ClusterError with the differences on timeout."""
        members = members or self.running()
        deadline = time.monotonic() + timeout
        last = {}
        while time.monotonic() < deadline:
            last = {}
            for m in members:
                try:
                    status, _, body = m.get("/v2/keys" + prefix,
                                            {"recursive": "true", "sorted": "true"}, timeout=3.0)
                    last[m.name] = (status, body.get("node") if isinstance(body, dict) else body)
                except OSError as e:
                    last[m.name] = ("error", str(e))
            values = [json.dumps(v, sort_keys=True) for v in last.values()]
            if values and all(v == values[0] for v in values) and last[members[0].name][0] == 200:
                return last[members[0].name][1]
            time.sleep(0.1)
        summary = {k: (v[0], (len(json.dumps(v[1])))) for k, v in last.items()}
        raise ClusterError("members did not converge on %s within %.0fs (status, listing "
                           "size): %r" % (prefix, timeout, summary))

    # ---- reports and clean-up ------------------------------------------
    def logs(self, nbytes=3000):
        out = []
        for m in self.members:
            out.append("--- %s (%s) log tail:\n%s" % (m.name, m.id_hex, m.log_tail(nbytes)))
        return "\n".join(out)

    def close(self):
        if self.closed:
            return
        self.closed = True
        crashed = []
        for m in self.members + self.removed:
            if m.proc is not None and m.proc.poll() is None:
                try:
                    m.proc.send_signal(signal.SIGKILL)  # also ends a stopped process
                    m.proc.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            crash = crash_of(m.proc.returncode) if m.proc is not None else None
            if crash:
                crashed.append("--- %s (pid %d) crashed with %s; log tail:\n%s"
                               % (m.name, m.proc.pid, crash, m.log_tail(3000)))
        if self.relay is not None:
            self.relay.close()
        keep = os.environ.get("CLUSTER_KEEP_DIR")
        if keep:
            dst = os.path.join(keep, os.path.basename(self.dir))
            try:
                shutil.copytree(self.dir, dst, symlinks=True)
            except OSError:
                pass
        if not self.keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        try:
            atexit.unregister(self.close)
        except Exception:
            pass
        if crashed:
            # Whatever the case asserted: a member crashed (SIGSEGV and the like).
            raise ClusterError("\n".join(crashed))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
