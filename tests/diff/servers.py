"""Start and stop one single-member etcd or metcd on free loopback ports.

Both programs get the same flags. Each Server keeps its Popen handle and
its temporary directory, and stop() kills only that process (terminate,
then kill after a bounded wait) and removes the directory. Servers that
are still running at exit are stopped by an atexit hook.
"""

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import rawhttp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from metcd_proc import backend_args, free_port, note_crash  # noqa: E402,F401  (tests/lib)

# DIFF_ETCD_BIN overrides where etcd is looked for (a missing path simulates
# a machine without etcd).
ETCD_BIN = os.environ.get('DIFF_ETCD_BIN', '/usr/bin/etcd')
_live = []


def metcd_bin():
    b = os.environ.get('METCD_BIN')
    if b:
        return b
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for d in ('build', 'build-diff'):
        p = os.path.join(root, d, 'metcd')
        if os.path.exists(p):
            return p
    return None


class ServerError(Exception):
    pass


class Server:
    """tls: None for plain http, or (flags, ctx): the client URL is https,
    the server gets the TLS flags (--cert-file ...) and every request to
    it goes over TLS with the client context ctx (rawhttp.use_tls)."""

    def __init__(self, kind, binary, name='d', tls=None):
        self.kind = kind
        self.tls = tls
        self.binary = binary
        self.name = name
        self.proc = None
        self.tmp = None
        self.port = None
        self.peer_port = None
        self.log = None
        self.sanitizer_report = ''

    @property
    def url(self):
        return '%s://127.0.0.1:%d' % ('https' if self.tls else 'http', self.port)

    def start(self, ready_timeout=30.0, extra_args=()):
        self.tmp = tempfile.mkdtemp(prefix='metcd-diff-%s-' % self.kind)
        data = os.path.join(self.tmp, 'data')
        self.port = free_port()
        self.peer_port = free_port()
        while self.peer_port == self.port:
            self.peer_port = free_port()
        c = self.url
        p = 'http://127.0.0.1:%d' % self.peer_port
        args = [self.binary, '--enable-v2=true', '--name', self.name,
                '--data-dir', data,
                '--listen-client-urls', c, '--advertise-client-urls', c,
                '--listen-peer-urls', p, '--initial-advertise-peer-urls', p,
                '--initial-cluster', '%s=%s' % (self.name, p)] + list(extra_args)
        if self.tls:
            args += list(self.tls[0])
            rawhttp.use_tls(self.port, self.tls[1])
        if self.kind == 'metcd':
            args += backend_args()
        self.log = os.path.join(self.tmp, 'server.log')
        self.args = args
        return self._spawn(ready_timeout)

    def restart(self, ready_timeout=30.0, kill=False, down=0.0):
        """Stop the process (SIGTERM, or SIGKILL when kill), stay down for
        `down` seconds, and start it again on the same ports and data
        directory."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._note_crash()
        if down > 0:
            time.sleep(down)
        if self in _live:
            _live.remove(self)
        # a sanitizer report from the first run must not be lost
        self.sanitizer_report = sanitizer_findings(self.log)
        return self._spawn(ready_timeout)

    def _spawn(self, ready_timeout):
        args = self.args
        env = dict(os.environ)
        # etcd reads ETCD_* variables; keep the environment from leaking in.
        for k in list(env):
            if k.startswith('ETCD_') and k != 'ETCDCTL_API':
                del env[k]
        with open(self.log, 'ab') as logf:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)
        _live.append(self)
        deadline = time.monotonic() + ready_timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError('%s exited with %s during startup:\n%s'
                                  % (self.kind, self.proc.returncode, self.log_tail()))
            try:
                r = rawhttp.request('127.0.0.1', self.port, 'GET', '/v2/keys/', timeout=2.0)
                if r.status == 200 and r.header('X-Etcd-Index') is not None:
                    self._settle(deadline)
                    return self
                last = 'status %d' % r.status
            except (OSError, rawhttp.HTTPError) as e:
                last = str(e)
            time.sleep(0.1)
        raise ServerError('%s did not answer GET /v2/keys/ within %.0fs (%s):\n%s'
                          % (self.kind, ready_timeout, last, self.log_tail()))

    def _settle(self, deadline):
        """etcd writes to its v2 store on its own just after it starts
        (publishing the member, setting the cluster version). Wait until the
        store index has been still for a second, so that no case sees
        those writes."""
        last, since = None, time.monotonic()
        while time.monotonic() < deadline:
            try:
                r = rawhttp.request('127.0.0.1', self.port, 'GET', '/v2/keys/', timeout=2.0)
                idx = r.header('X-Etcd-Index')
            except (OSError, rawhttp.HTTPError):
                idx = None
            if idx != last:
                last, since = idx, time.monotonic()
            elif time.monotonic() - since >= 1.0:
                return
            time.sleep(0.1)

    def log_tail(self, n=30):
        try:
            with open(self.log, 'rb') as f:
                lines = f.read().decode('utf-8', 'replace').splitlines()
            return '\n'.join(lines[-n:])
        except OSError:
            return ''

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _note_crash(self):
        """A metcd that crashed fails the run (metcd_proc.CRASHES)."""
        if self.kind == 'metcd' and self.proc is not None and self.proc.poll() is not None:
            note_crash(self.proc, 'metcd', self.log)

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    self.proc.send_signal(signal.SIGTERM)
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    try:
                        self.proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        pass
                except ProcessLookupError:
                    pass
            self._note_crash()
            self.proc = None
        if self in _live:
            _live.remove(self)
        if self.tls and self.port:
            rawhttp.use_tls(self.port, None)
        if self.log and os.path.exists(self.log) and not self.sanitizer_report:
            self.sanitizer_report = sanitizer_findings(self.log)
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


def stop_all(started, out=print):
    """Stops every server of a run, then prints any sanitizer report found
    in their logs; True when there was one (the run fails)."""
    for s in started:
        s.stop()
    bad = False
    for s in started:
        if s.sanitizer_report:
            out('FAIL: sanitizer report in %s\'s log:\n%s' % (s.kind, s.sanitizer_report))
            bad = True
    return bad


SANITIZER_MARKERS = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:',
                     'ERROR: ThreadSanitizer')


def sanitizer_findings(log):
    """The lines around any ASan/LSan/UBSan report in a server log."""
    try:
        with open(log, 'rb') as f:
            lines = f.read().decode('utf-8', 'replace').splitlines()
    except OSError:
        return ''
    for i, ln in enumerate(lines):
        if any(m in ln for m in SANITIZER_MARKERS):
            return '\n'.join(lines[max(0, i - 2):i + 40])
    return ''


def _cleanup():
    for s in list(_live):
        s.stop()


atexit.register(_cleanup)
for _sig in (signal.SIGTERM, signal.SIGINT):
    # meson test sends SIGTERM on timeout: still stop the servers.
    signal.signal(_sig, lambda signum, frame: (_cleanup(), os._exit(128 + signum)))
