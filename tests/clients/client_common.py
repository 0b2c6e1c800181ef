"""Shared parts of the real-client tests: start etcd and metcd, run the same
steps against each, normalise and compare.

A step is a function(ctx) that returns its output (text or JSON-able data)
and may raise StepFailed when the client's answer is plainly wrong (those
checks run against etcd too, which validates the test itself). Outputs are
normalised (indexes relative to the store index before the step, member ids
and URLs replaced by markers) and etcd's and metcd's must be equal.
"""

import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'diff'))

import rawhttp  # noqa: E402
import servers  # noqa: E402

SKIP = 77


class StepFailed(Exception):
    pass


def expect(cond, msg):
    if not cond:
        raise StepFailed(msg)


class Ctx:
    def __init__(self, server, step_name):
        self.server = server
        self.port = server.port
        self.url = server.url
        self.K = '/' + step_name
        self.base = 0

    def index(self):
        r = rawhttp.request('127.0.0.1', self.port, 'GET', '/v2/keys/', timeout=5)
        return int(r.header('X-Etcd-Index') or 0)

    def http(self, method, target, body=None):
        h = [('Content-Type', 'application/x-www-form-urlencoded')] if body else None
        return rawhttp.request('127.0.0.1', self.port, method, target, body, h, timeout=5)


def normalise(v, ctx, ids):
    """Indexes relative to ctx.base, ids and URLs to markers."""
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if k in ('createdIndex', 'modifiedIndex', 'etcd_index', 'raft_index', 'index') \
                    and isinstance(x, int):
                out[k] = rel(x, ctx)
            elif k == 'expiration' and x:
                out[k] = '<exp>'
            else:
                out[k] = normalise(x, ctx, ids)
        return out
    if isinstance(v, (list, tuple)):
        return [normalise(x, ctx, ids) for x in v]
    if isinstance(v, str):
        s = v.replace('127.0.0.1:%d' % ctx.server.port, '<client-addr>')
        s = s.replace('127.0.0.1:%d' % ctx.server.peer_port, '<peer-addr>')

        def idrep(m):
            if m.group(0) not in ids:
                ids[m.group(0)] = '<id%d>' % (len(ids) + 1)
            return ids[m.group(0)]
        # member ids are printed with %x: up to 16 hex digits, fewer when
        # the id starts with zeros
        s = re.sub(r'\b[0-9a-f]{16}\b', idrep, s)
        s = re.sub(r'(?m)^[0-9a-f]{1,16}(?=: name=)', idrep, s)
        s = re.sub(r'(?<=member )[0-9a-f]{1,16}(?= is )', idrep, s)
        # etcdctl: "Created-Index: 9", "Index: 9", errors end in "[9]"
        s = re.sub(r'((?:Created-|Modified-)?Index: )(\d+)',
                   lambda m: m.group(1) + rel(int(m.group(2)), ctx), s)
        s = re.sub(r'\[(\d+) != (\d+)\]', lambda m: '[%s != %s]' % (
            rel(int(m.group(1)), ctx), rel(int(m.group(2)), ctx)), s)
        s = re.sub(r'\[(\d+)\]', lambda m: '[%s]' % rel(int(m.group(1)), ctx), s)
        s = re.sub(r'"(createdIndex|modifiedIndex)":(\d+)',
                   lambda m: '"%s":"%s"' % (m.group(1), rel(int(m.group(2)), ctx)), s)
        s = re.sub(r'"expiration":"[^"]*"', '"expiration":"<exp>"', s)
        s = re.sub(r'/(\d{20})\b', lambda m: '/<seq %s>' % rel(int(m.group(1)), ctx), s)
        s = re.sub(r'TTL: ([1-9]\d*)', lambda m: 'TTL: <%s>' % ttl_bucket(int(m.group(1))), s)
        s = re.sub(r'"ttl":(\d+)', lambda m: '"ttl":"<%s>"' % ttl_bucket(int(m.group(1))), s)
        return s
    return v


def ttl_bucket(t):
    # TTLs count down; compare them coarsely.
    return '~%d' % (int(round(t / 10.0)) * 10)


def rel(v, ctx):
    if v == 0:
        return '0'
    d = v - ctx.base
    return 'b+%d' % d if d >= 0 else 'b-%d' % -d


def run_steps(server, steps):
    """Run every step against one server; returns {name: output}."""
    out = {}
    for name, fn in steps:
        ctx = Ctx(server, name)
        try:
            ctx.base = ctx.index()
            res = fn(ctx)
            out[name] = ('ok', normalise(res, ctx, {}))
        except StepFailed as e:
            out[name] = ('failed', normalise(str(e), ctx, {}))
        except Exception as e:  # the client itself blew up: record it
            out[name] = ('error', normalise('%s: %s' % (type(e).__name__, e), ctx, {}))
        if not server.alive():
            out[name] = ('error', 'server exited:\n' + server.log_tail(10))
    return out


def main(title, steps, argv):
    """Run the steps against etcd (when installed) and metcd and compare.
    --etcd-only checks the test against etcd alone. Returns the exit code."""
    etcd_only = '--etcd-only' in argv
    verbose = '-v' in argv
    only = [a for a in argv[1:] if not a.startswith('-')]
    if only:
        steps = [s for s in steps if any(o in s[0] for o in only)]
    have_etcd = os.path.exists(servers.ETCD_BIN)
    mbin = servers.metcd_bin()
    if '--etcd-vs-etcd' in argv:
        mbin = servers.ETCD_BIN  # checks that the normalisation is deterministic
    results = {}
    started = []
    try:
        if have_etcd:
            e = servers.Server('etcd', servers.ETCD_BIN)
            started.append(e)
            e.start()
            results['etcd'] = run_steps(e, steps)
            e.stop()
        elif etcd_only:
            print('SKIP: etcd not installed (apt-get install etcd-server)')
            return SKIP
        if not etcd_only:
            if not mbin or not os.path.exists(mbin):
                print('FAIL: metcd binary not found (set METCD_BIN)')
                return 1
            m = servers.Server('metcd', mbin)
            started.append(m)
            try:
                m.start()
            except servers.ServerError as ex:
                print('FAIL: %s' % ex)
                print('%s: %d steps, %d differ' % (title, len(steps), len(steps)))
                return 1
            results['metcd'] = run_steps(m, steps)
    finally:
        for s in started:
            s.stop()
    bad = 0
    for s in started:
        if s.sanitizer_report:
            bad += 1
            print('FAIL: sanitizer report in %s\'s log:\n%s' % (s.kind, s.sanitizer_report))
    for name, _ in steps:
        if verbose:
            for who, res in results.items():
                print('== %s [%s] %s\n%s' % (name, who, res[name][0], res[name][1]))
        lines = []
        for who, res in results.items():
            st, val = res[name]
            if st != 'ok':
                lines.append('  %s: %s %s' % (who, st, val))
        if 'etcd' in results and 'metcd' in results:
            a, b = results['etcd'][name], results['metcd'][name]
            if a != b:
                lines.append('  etcd:  %r\n  metcd: %r' % (a[1], b[1]))
        if lines:
            bad += 1
            print('DIFF %s' % name)
            print('\n'.join(lines))
    print('%s: %d steps, %d differ' % (title, len(steps), bad))
    return 1 if bad else 0


def wait_pipe_line(proc, timeout):
    """Read one line from proc.stdout within timeout (None if none). Bytes
    after the line are kept for the next call."""
    import select
    deadline = time.monotonic() + timeout
    buf = getattr(proc, '_linebuf', b'')
    fd = proc.stdout.fileno()
    while b'\n' not in buf and time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            break
        d = os.read(fd, 4096)
        if not d:
            break
        buf += d
    if b'\n' not in buf:
        proc._linebuf = buf
        return None
    line, proc._linebuf = buf.split(b'\n', 1)
    return line.decode('utf-8', 'replace')


def stop_proc(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=3)
        except Exception:
            p.kill()
            p.wait(timeout=3)
