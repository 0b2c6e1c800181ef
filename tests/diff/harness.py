"""Case framework of the differential tests: running request sequences,
normalising responses, comparing them.

A case is a small named function that receives a Ctx and sends requests
through it. Every request it makes is recorded in normalised form:

- indexes (createdIndex, modifiedIndex, index, X-Etcd-Index) become
  "b+k", relative to the store index read just before the case ("0" stays 0,
  which etcd uses for request-parsing errors);
- expiration timestamps become "<exp>" once checked to be RFC 3339 with
  nanoseconds, fractional zeros trimmed, UTC 'Z';
- member and cluster ids become "<id1>", "<id2>"... in order of
  appearance in one response, the cluster id header "<cid>";
- the server's own URLs become "<client-url>" / "<peer-url>";
- listings are sorted by key unless the request said sorted=true;
- ttl stays a number and is compared within +-1.

Each case gets its own key prefix /<name> (Ctx.K, and Ctx.P for
/v2/keys/<name>) and the harness deletes it afterwards, so cases do not see
each other's keys. Cases with order=0 run first, on an empty store.
"""

import json
import re
import socket
import time
import urllib.parse

import rawhttp

CASES = []
_NAMES = set()


class Case:
    def __init__(self, name, fn, group, order, metcd_check, etcd_bug, doc):
        self.name = name
        self.fn = fn
        self.group = group
        self.order = order
        # For etcd bugs metcd must not copy: a function(records) -> list of
        # problems, applied to metcd's records instead of comparing with etcd.
        self.metcd_check = metcd_check
        # Optional function(records) -> list of problems confirming that etcd
        # still shows the bug (a warning only).
        self.etcd_bug = etcd_bug
        self.doc = doc


def case(group, order=1, metcd_check=None, etcd_bug=None, name=None):
    def deco(fn):
        n = name or fn.__name__
        add_case(n, fn, group, order, metcd_check, etcd_bug)
        return fn
    return deco


def add_case(name, fn, group, order=1, metcd_check=None, etcd_bug=None, doc=None):
    if not re.match(r'^[A-Za-z0-9_]+$', name):
        raise ValueError('bad case name %r' % name)
    if name in _NAMES:
        raise ValueError('duplicate case %r' % name)
    _NAMES.add(name)
    CASES.append(Case(name, fn, group, order, metcd_check, etcd_bug, doc or fn.__doc__))


def seq(group, name, steps, order=1, metcd_check=None, etcd_bug=None):
    """A case made of plain requests: each step is (method, target) or
    (method, target, body) or (method, target, body, headers); '{P}' in a
    target is /v2/keys/<name>, '{K}' is /<name>, '{b+N}' is base+N. A form
    body gets the form Content-Type unless headers are given."""
    def fn(c):
        for st in steps:
            m, t = st[0], st[1]
            body = st[2] if len(st) > 2 else None
            hdrs = st[3] if len(st) > 3 else None
            if body is not None and hdrs is None:
                hdrs = [('Content-Type', 'application/x-www-form-urlencoded')]
            c.req(m, t, body, hdrs)
    fn.__doc__ = ' ; '.join('%s %s%s' % (s[0], s[1], ' <' + repr(s[2]) if len(s) > 2 else '')
                            for s in steps)
    add_case(name, fn, group, order, metcd_check, etcd_bug, fn.__doc__)


EXP_RE = re.compile(r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d*[1-9])?Z$')
INDEX_KEYS = ('createdIndex', 'modifiedIndex', 'index')
ID_KEYS = ('id', 'leader', 'leaderInfo')


class CaseError(Exception):
    pass


class Ctx:
    """What a case sees: the server, its prefix, and request helpers."""

    def __init__(self, server, kase):
        self.server = server
        self.kind = server.kind
        self.host = '127.0.0.1'
        self.port = server.port
        self.name = kase.name
        self.K = '/' + kase.name
        self.P = '/v2/keys/' + kase.name
        self.records = []
        self.base = 0
        self.watches = []
        self.cur_prev_index = None
        self.base2 = None
        self.last_before = 0
        self.cur_parse_error = False
        # TLS only: the client context (certificate) of the next requests;
        # None is the server's default (rawhttp.use_tls).
        self.tls = None

    # ---- target templating -------------------------------------------------
    def expand(self, t):
        t = t.replace('{P}', self.P).replace('{K}', self.K)

        def rep(m):
            v = self.base + int(m.group(2) or 0)
            # {B+N}: the 20-digit name of an in-order key created at base+N
            return '%020d' % v if m.group(1) == 'B' else str(v)
        return re.sub(r'\{([bB])([+-]\d+)?\}', rep, t)

    def read_index(self):
        r = rawhttp.request(self.host, self.port, 'GET', '/v2/keys/', timeout=10)
        return int(r.header('X-Etcd-Index') or 0)

    # ---- requests -----------------------------------------------------------
    def raw(self, method, target, body=None, headers=None, timeout=10.0):
        """Unrecorded request."""
        return rawhttp.request(self.host, self.port, method, self.expand(target),
                               body, headers, timeout, self.tls)

    def req(self, method, target, body=None, headers=None, label=None, timeout=10.0,
            sorted_listing=None):
        t = self.expand(target)
        if isinstance(body, str):
            body = self.expand(body).encode('utf-8')
        r = rawhttp.request(self.host, self.port, method, t, body, headers, timeout, self.tls)
        self.record(label or '%s %s' % (method, target), r, t, sorted_listing)
        return r

    def form(self, method, target, body, label=None):
        return self.req(method, target, body,
                        [('Content-Type', 'application/x-www-form-urlencoded')], label)

    def note(self, label, value):
        """Record a value computed by the case (e.g. a check's outcome)."""
        self.records.append({'step': label, 'value': value})

    def sleep(self, s):
        time.sleep(s)

    def wait_until(self, fn, timeout, interval=0.1):
        """Poll fn() (unrecorded) until true; returns its last value."""
        deadline = time.monotonic() + timeout
        v = fn()
        while not v and time.monotonic() < deadline:
            time.sleep(interval)
            v = fn()
        return v

    def wait_gone(self, target, timeout=4.0):
        """Poll until GET target answers 404 (unrecorded)."""
        return self.wait_until(lambda: self.raw('GET', target).status == 404, timeout)

    # ---- watches ------------------------------------------------------------
    def watch(self, target, label=None, method='GET', timeout=5.0, header_wait=1.5):
        """Start a long-poll request and record its headers, which etcd
        flushes at once. If they do not come within header_wait seconds the
        step records that, and the headers are read later with the body, so
        the event itself is still compared. Returns the connection."""
        t = self.expand(target)
        conn = rawhttp.Conn(self.host, self.port, timeout, self.tls)
        self.watches.append(conn)
        conn.label = label or '%s %s' % (method, target)
        conn.target = t
        conn.failed = False
        conn.deferred = False
        conn.send(method, t)
        try:
            r = conn.read_headers(header_wait)
            self.record(conn.label + ' [headers]', r, t, headers_only=True)
        except rawhttp.HTTPError as e:
            if conn.eof:
                conn.failed = True
                self.records.append({'step': conn.label + ' [headers]', 'error': str(e)})
            else:
                conn.deferred = True
                self.records.append({'step': conn.label + ' [headers]',
                                     'error': 'headers not sent within %.1fs' % header_wait})
        except OSError as e:
            conn.failed = True
            self.records.append({'step': conn.label + ' [headers]', 'error': str(e)})
        return conn

    def _late_headers(self, conn, timeout):
        """For a deferred watch: read the headers now; True if they came."""
        if not conn.deferred:
            return True
        try:
            conn.read_headers(timeout)
            conn.deferred = False
            return True
        except (rawhttp.HTTPError, OSError):
            return False

    def watch_body(self, conn, timeout=5.0):
        """Wait (bounded) for the long-poll's body and record it."""
        if conn.failed:
            self.records.append({'step': conn.label + ' [body]', 'error': 'no headers'})
            return None
        deadline = time.monotonic() + timeout
        if not self._late_headers(conn, timeout):
            self.records.append({'step': conn.label + ' [body]',
                                 'error': 'no answer within %.1fs' % timeout})
            conn.close()
            return None
        try:
            conn.read_body(max(0.1, deadline - time.monotonic()))
            self.record(conn.label + ' [body]', conn.resp, conn.target, body_only=True)
        except (rawhttp.HTTPError, OSError):
            self.records.append({'step': conn.label + ' [body]',
                                 'error': 'no complete body within %.1fs (%d bytes)'
                                 % (timeout, len(conn.resp.body))})
        conn.close()
        return conn.resp

    def watch_pending(self, conn, wait=1.0):
        """Record whether the long-poll is still open with no body."""
        if conn.failed:
            self.records.append({'step': conn.label + ' [pending]', 'error': 'no headers'})
            return
        if conn.deferred:
            if not self._late_headers(conn, wait):
                self.records.append({'step': conn.label + ' [pending]', 'pending': True,
                                     'body': ''})
                return
            wait = 0.2
        try:
            got = conn.read_some(wait)
        except (rawhttp.HTTPError, OSError) as e:
            got = ('error: %s' % e).encode()
        text = got.decode('utf-8', 'replace')
        self.records.append({'step': conn.label + ' [pending]',
                             'pending': not conn.resp.complete and conn.resp.body == b'',
                             'body': (self.norm_json_text(text, conn.target)
                                      if text.strip() else '')})

    def stream_events(self, conn, n, timeout=5.0):
        """Read (bounded) until n newline-terminated JSON events have come
        on a stream=true watch; record them all as one step."""
        if conn.failed:
            self.records.append({'step': conn.label + ' [events]', 'error': 'no headers'})
            return []
        deadline = time.monotonic() + timeout
        if not self._late_headers(conn, timeout):
            self.records.append({'step': conn.label + ' [events]',
                                 'error': 'no answer within %.1fs' % timeout})
            return []
        while conn.resp.body.count(b'\n') < n and time.monotonic() < deadline \
                and not conn.resp.complete:
            try:
                conn.read_some(max(0.01, deadline - time.monotonic()))
            except (rawhttp.HTTPError, OSError):
                break
        lines = conn.resp.body.split(b'\n')
        evs = []
        for ln in lines[:-1]:
            evs.append(self.norm_json_text(ln.decode('utf-8', 'replace'), conn.target))
        self.records.append({'step': conn.label + ' [events]', 'events': evs,
                             'partial': self.norm_text(lines[-1].decode('utf-8', 'replace')),
                             'ended': conn.resp.complete})
        return evs

    def close_watches(self):
        for w in self.watches:
            w.close()
        self.watches = []

    # ---- normalisation ------------------------------------------------------
    def rel(self, v, current=False):
        """v relative to the base. current: v is a store index at answer
        time (X-Etcd-Index, an error's index) rather than a node's."""
        if not isinstance(v, int) or isinstance(v, bool):
            return v
        if v == 0 and (self.base != 0 or self.cur_parse_error):
            # etcd answers request-parsing errors (2xx codes) with index 0
            return 0
        d = v - self.base
        if abs(d) > 10 ** 12:
            return v  # a huge literal (e.g. prevIndex=2^64-1), not an index
        if self.base2 is not None and (v > self.last_before or (current and v >= self.base2)):
            # written after a restart: relative to the index once restarted
            return 'r+%d' % (v - self.base2)
        return 'b+%d' % d if d >= 0 else 'b-%d' % -d

    def restart(self, kill=False, down=0.0):
        """Restart the server on the same data directory. Indexes up to the
        last one before the restart stay 'b+k'; later ones become 'r+k',
        relative to the index after the restart (etcd writes to its store
        on startup, and metcd need not). Records whether the store index
        survived."""
        self.close_watches()
        before = self.read_index()
        self.server.restart(kill=kill, down=down)
        after = self.read_index()
        self.last_before = before
        self.base2 = after
        self.records.append({'step': 'restart%s' % (' (SIGKILL)' if kill else ''),
                             'index kept': after >= before})

    def norm_text(self, s):
        # in-order keys are named after their index, zero-padded to 20 digits
        s = re.sub(r'/(\d{20})(?![0-9])', lambda m: '/<seq %s>' % self.rel(int(m.group(1))), s)
        s = s.replace('127.0.0.1:%d' % self.server.port, '<client-addr>')
        if self.server.peer_port:
            s = s.replace('127.0.0.1:%d' % self.server.peer_port, '<peer-addr>')
        return s

    def norm_json(self, v, ids, sorted_listing, key=None):
        if isinstance(v, dict):
            out = {}
            for k, x in v.items():
                if k in INDEX_KEYS and isinstance(x, int):
                    out[k] = self.rel(x, current=(k == 'index'))
                elif k == 'ttl' and isinstance(x, int) and self.base2 is not None:
                    # after a restart the remaining time depends on how long
                    # each server took to come back
                    out[k] = 'positive' if x > 0 else x
                elif k == 'expiration' and isinstance(x, str):
                    out[k] = check_expiration(x, v.get('ttl'))
                elif k in ID_KEYS and isinstance(x, str) and re.match(r'^[0-9a-f]{1,16}$', x):
                    if x not in ids:
                        ids[x] = '<id%d>' % (len(ids) + 1)
                    out[k] = ids[x]
                elif k == 'cause' and isinstance(x, str):
                    # 401: "the requested history has been cleared [A/B]"
                    x = re.sub(r'\[(\d+)/(\d+)\]',
                               lambda m: '[%s/%s]' % (self.rel(int(m.group(1))),
                                                      self.rel(int(m.group(2)))), x)
                    # 101 on prevIndex: "[prevIndex != modifiedIndex]"; the
                    # prevValue bracket "[prevValue != value]" holds values.
                    pi = self.cur_prev_index

                    def idx_bracket(m):
                        if pi is None or m.group(1) != pi:
                            return m.group(0)
                        return '[%s != %s]' % (self.rel(int(m.group(1))),
                                               self.rel(int(m.group(2))))
                    x = re.sub(r'\[(\d+) != (\d+)\]', idx_bracket, x)
                    out[k] = self.norm_text(x)
                else:
                    out[k] = self.norm_json(x, ids, sorted_listing, k)
            # keep key order visible: etcd's field order is part of the API
            out['__order__'] = list(v.keys())
            return out
        if isinstance(v, list):
            items = [self.norm_json(x, ids, sorted_listing, key) for x in v]
            if key == 'nodes' and not sorted_listing:
                items.sort(key=lambda n: str(n.get('key')) if isinstance(n, dict) else '')
            return items
        if isinstance(v, str):
            v = self.norm_text(v)
            if len(v) > 512:
                # long values: compared exactly, stored short
                import hashlib
                return '<%d chars sha256:%s>' % (
                    len(v), hashlib.sha256(v.encode('utf-8', 'surrogatepass')).hexdigest()[:16])
            return v
        return v

    def norm_json_text(self, text, target):
        sl = 'sorted=true' in target or 'sorted=1' in target
        try:
            v = json.loads(text)
        except ValueError:
            return {'text': self.norm_text(text)}
        return self.norm_json(v, {}, sl)

    def record(self, label, r, target, sorted_listing=None, headers_only=False,
               body_only=False):
        rec = {'step': label}
        self.cur_parse_error = False
        try:
            code = json.loads(r.body.decode('utf-8')).get('errorCode')
            self.cur_parse_error = isinstance(code, int) and 200 <= code < 300
        except (ValueError, AttributeError):
            pass
        q = parse_qs_raw(target)
        self.cur_prev_index = q['prevIndex'][0] if q.get('prevIndex') else None
        if not body_only:
            rec['status'] = r.status
            h = {}
            ct = r.header('Content-Type')
            if ct is not None:
                h['Content-Type'] = ct
            for name in ('X-Etcd-Index',):
                v = r.header(name)
                if v is not None:
                    try:
                        h[name] = self.rel(int(v), current=True)
                    except ValueError:
                        h[name] = 'bad:' + v
            for name in ('X-Raft-Index', 'X-Raft-Term'):
                v = r.header(name)
                if v is not None:
                    h[name] = 'present' if re.match(r'^\d+$', v) else 'bad:' + v
            if r.header('X-Etcd-Cluster-Id') is not None:
                h['X-Etcd-Cluster-Id'] = ('<cid>' if re.match(r'^[0-9a-f]+$',
                                                             r.header('X-Etcd-Cluster-Id'))
                                          else 'bad:' + r.header('X-Etcd-Cluster-Id'))
            for name in ('Access-Control-Allow-Origin', 'Access-Control-Allow-Methods',
                         'Access-Control-Allow-Headers', 'Allow'):
                v = r.header(name)
                if v is not None:
                    h[name] = v
            loc = r.header('Location')
            if loc is not None:
                h['Location'] = self.norm_text(loc)
            # Go always sends Date and never Server, except on the 400s its
            # server writes itself before any handler runs (a request line
            # that does not parse), which carry no Date; h2o dates every
            # response, and a Date on an error is harmless, so those 400s
            # are compared without it. Connection matters only when it
            # announces a close ("keep-alive" is HTTP/1.1's default).
            early_reject = r.status == 400 and 'close' in (r.header('Connection') or '').lower() \
                and not (r.header('Content-Type') or '').startswith('application/json')
            if r.header('Date') is not None and not early_reject:
                h['Date'] = 'present'
            if r.header('Server') is not None:
                h['Server'] = r.header('Server')
            if 'close' in (r.header('Connection') or '').lower():
                h['Connection'] = 'close'
            h['framing'] = r.framing
            if getattr(r, 'interim', None):
                h['interim'] = r.interim
            if r.framing in ('length', 'chunked') and len(r.body) > 2048 \
                    and 'wait=true' not in target:
                # Go's server switches to chunked once a handler has written
                # 2048 bytes; either framing is correct HTTP/1.1.
                h['framing'] = 'length-or-chunked'
            rec['headers'] = h
        if headers_only:
            self.records.append(rec)
            return
        body = r.body.decode('utf-8', 'replace')
        ct = r.header('Content-Type') or ''
        if sorted_listing is None:
            sorted_listing = 'sorted=true' in target or 'sorted=1' in target
        if body and 'json' in ct:
            try:
                v = json.loads(body)
                stats = '/v2/stats/' in target
                if stats:
                    v = shape(v)
                rec['json'] = self.norm_json(v, {}, sorted_listing)
                rec['nl'] = body.endswith('\n')
            except ValueError:
                rec['body'] = self.norm_text(body)
        else:
            rec['body'] = self.norm_text(body)
        self.records.append(rec)


def check_expiration(x, ttl):
    """'<exp>' when x is RFC 3339 UTC with nanoseconds and trimmed zeros
    and, given the node's ttl, lies about ttl seconds from now (the clock of
    this machine is the servers' clock); a description of the fault
    otherwise."""
    import calendar
    m = EXP_RE.match(x)
    if not m:
        return '<bad-exp %s>' % x
    if isinstance(ttl, int) and not isinstance(ttl, bool) and 0 < ttl < 10 ** 9:
        secs = calendar.timegm(time.strptime(x[:19], '%Y-%m-%dT%H:%M:%S'))
        frac = float('0' + (m.group(1) or ''))
        off = secs + frac - (time.time() + ttl)
        # ttl is rounded up, the answer took a moment to arrive, and an
        # event read from history carries the ttl it had back then
        if off > 1.5 or off < -15.0:
            return '<exp %+.0fs from now+ttl>' % off
    return '<exp>'


def shape(v):
    """Type skeleton of a JSON value (for /v2/stats): numbers become "<num>",
    strings "<str>", keys kept."""
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(x) for x in v[:1]]
    if isinstance(v, bool):
        return '<bool>'
    if isinstance(v, (int, float)):
        return '<num>'
    if isinstance(v, str):
        return '<str>'
    return v


def run_case(server, kase):
    """Run one case; returns its records (a list of dicts)."""
    c = Ctx(server, kase)
    try:
        c.base = c.read_index()
        kase.fn(c)
    except (rawhttp.HTTPError, OSError, CaseError, ValueError, KeyError) as e:
        c.records.append({'step': 'exception', 'error': '%s: %s' % (type(e).__name__, e)})
    finally:
        c.close_watches()
        try:
            rawhttp.request(c.host, c.port, 'DELETE', '/v2/keys/%s?recursive=true' % kase.name,
                            timeout=5)
        except (rawhttp.HTTPError, OSError):
            pass
    return c.records


# ---- comparison ---------------------------------------------------------------

def differences(a, b, path=''):
    """List of (path, a, b) where the normalised values differ; ttl values
    within 1 of each other count as equal."""
    out = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a.keys()) + [k for k in b if k not in a]:
            p = '%s.%s' % (path, k) if path else k
            if k not in a:
                out.append((p, '<absent>', b[k]))
            elif k not in b:
                out.append((p, a[k], '<absent>'))
            elif k == 'ttl' and isinstance(a[k], int) and isinstance(b[k], int):
                if abs(a[k] - b[k]) > 1:
                    out.append((p, a[k], b[k]))
            else:
                out.extend(differences(a[k], b[k], p))
        return out
    if isinstance(a, list) and isinstance(b, list):
        for i in range(max(len(a), len(b))):
            p = '%s[%d]' % (path, i)
            if i >= len(a):
                out.append((p, '<absent>', b[i]))
            elif i >= len(b):
                out.append((p, a[i], '<absent>'))
            else:
                out.extend(differences(a[i], b[i], p))
        return out
    if a != b:
        out.append((path, a, b))
    return out


def compact(v):
    """Readable JSON without the __order__ bookkeeping."""
    def strip(x):
        if isinstance(x, dict):
            return {k: strip(y) for k, y in x.items() if k != '__order__'}
        if isinstance(x, list):
            return [strip(y) for y in x]
        return x
    s = json.dumps(strip(v), sort_keys=False, ensure_ascii=False)
    return s if len(s) < 400 else s[:400] + '...'


def compare_records(ra, rb, name_a, name_b):
    """Human-readable lines for every differing step; [] if equal."""
    lines = []
    for i in range(max(len(ra), len(rb))):
        a = ra[i] if i < len(ra) else None
        b = rb[i] if i < len(rb) else None
        if a is None or b is None:
            lines.append('  step %d: only %s has %s' % (i, name_a if b is None else name_b,
                                                       compact(a if b is None else b)))
            continue
        d = differences(a, b)
        if not d:
            continue
        lines.append('  step %d %s:' % (i, a.get('step')))
        for p, x, y in d[:8]:
            if p.endswith('__order__'):
                lines.append('    field order %s: %s=%s %s=%s' % (p, name_a, x, name_b, y))
            else:
                lines.append('    %s: %s=%s | %s=%s' % (p, name_a, compact(x), name_b, compact(y)))
        if len(d) > 8:
            lines.append('    ... %d more' % (len(d) - 8))
    return lines


def parse_qs_raw(target):
    return urllib.parse.parse_qs(urllib.parse.urlsplit(target).query, keep_blank_values=True)


def port_open(port):
    try:
        socket.create_connection(('127.0.0.1', port), timeout=1).close()
        return True
    except OSError:
        return False
