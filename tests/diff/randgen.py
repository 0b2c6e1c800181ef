"""Random request sequences for the differential tests: the generator, the
step executor, the rules that recognise metcd's deliberate differences, and
the curl script of a sequence.

A sequence is a list of steps, each a JSON-able list:

  ['req', method, target, body, headers]  one request (body None: none;
                                          headers None: the form
                                          Content-Type when there is a body)
  ['watch', wid, target]      open a long poll, record its headers
  ['body', wid, timeout]      record the long poll's body (or that none came)
  ['pending', wid]            record whether it is still open, no body
  ['events', wid, timeout]    record what a stream=true watch sent so far
  ['phase']                   TTL mode: a timing phase starts here
  ['sleep', seconds]          TTL mode: let every ttl=1 key expire

Targets use the harness templates ({P}, {K}, {b+N}) and two that are read
from the answers the same server gave earlier in the sequence, so that a
sequence means the same thing on both servers:

  {mi:KEY}   the last modifiedIndex seen for {K}/KEY (a right prevIndex);
             b+1 when none was seen
  {POSTKEY}  /v2/keys/<the key the last POST created>, or {P}/q/none

Every sequence runs under its own fresh prefix (the case name), so indexes
are compared relative to the store index before it (harness.rel).

TTL mode keeps timing out of the outcome: short TTLs are only ttl=1; every
request that could see such a key before it expires runs within
TTL_PHASE_LIMIT seconds of the first ttl=1 write of its phase (a key cannot
expire earlier than 1 s after its last write), and the next phase starts
after a sleep of TTL_SLEEP seconds (a ttl=1 key is gone 1.0-1.5 s after its
write, given the 500 ms expiry sweep of both servers). A run whose phase
took longer is marked timing-invalid and its answers are not compared.
"""

import json
import random
import re
import shlex
import time
import urllib.parse

import harness

TTL_PHASE_LIMIT = 0.85
TTL_SLEEP = 2.2

# Names that nest, extend one another (d, d~e, de), hide (_h), and carry
# escaped and odd bytes: NUL, invalid UTF-8, a space, '+', '<', U+00E9, an
# encoded slash (the same key as d/a).
KEYS = ['a', 'b', 'd', 'd/a', 'd/b', 'd/_h', 'd~e', 'de', 'd/x/y', 'd/x', '_h', '_h/a',
        'q', 'd/e~f', 'n%00ul', 'inv%FFx', 'sp%20c', 'pl+us', '%C3%A9', 'lt%3Cgt',
        'd%2Fa', 'A', 'd/_h/z', 'dx/y']
DIRS = ['d', 'd/x', '_h', 'q', 'dx', 'd/_h']
VALUES = ['1', '2', 'v', '', 'a%00b', '%00', '%FF%FEz', '%3C%26%3E', '%E2%80%A8',
          'x+y', 'sp%20c', '%F0%9F%98%80', 'a%3Db%26c', '%22q%22%5C', 'L' * 600]
BAD = ['ttl=abc', 'ttl=-1', 'ttl=1.5', 'prevIndex=abc', 'prevIndex=-1', 'recursive=maybe',
       'sorted=2', 'dir=x', 'prevExist=maybe', 'prevValue=', 'refresh=true', 'refresh=true&value=x',
       'refresh=maybe', 'noValueOnSuccess=yes', 'quorum=x', 'x=%zz', 'waitIndex=abc&wait=true',
       'wait=true', 'stream=x', 'ttl=99999999999999999999999']


class Gen:
    """Builds one sequence from a seed (deterministic)."""

    def __init__(self, seed, ttl_mode=False):
        self.r = random.Random(seed)
        self.ttl_mode = ttl_mode
        self.steps = []
        self.values = {}       # key -> last value written (a good guess for prevValue)
        self.writes = 0        # writes so far: an upper bound of the index advance
        self.wid = 0
        self.open = []         # live watches not yet collected
        self.phase_steps = 0

    # ---- small helpers -----------------------------------------------------
    def key(self):
        return self.r.choice(KEYS)

    def value(self):
        return self.r.choice(VALUES)

    def ttl(self):
        if self.ttl_mode and self.r.random() < 0.6:
            return 1
        return self.r.choice([100, 500, 3600])

    def add(self, *st):
        self.steps.append(list(st))
        self.phase_steps += 1

    def put(self, key, params, value=None, method='PUT', allow_body=True):
        """A write. The value goes into the query, a form body, or both."""
        q = list(params)
        body = None
        if value is not None:
            where = self.r.random()
            if where < 0.55 or not allow_body:
                q.insert(0, 'value=' + value)
            elif where < 0.9:
                body = 'value=' + value
            else:
                q.insert(0, 'value=ignored')
                body = 'value=' + value
        t = '{P}/%s' % key + ('?' + '&'.join(q) if q else '')
        self.add('req', method, t, body, None)
        self.writes += 1

    def extra(self):
        x = []
        if self.r.random() < 0.12:
            x.append('noValueOnSuccess=true')
        if self.r.random() < 0.2:
            x.append('ttl=%d' % self.ttl())
        return x

    def some_index(self):
        return '{b+%d}' % self.r.randint(0, max(1, self.writes + 2))

    # ---- operations ---------------------------------------------------------
    def op_set(self):
        k, v = self.key(), self.value()
        self.values[k] = v
        self.put(k, self.extra(), v)

    def op_set_dir(self):
        k = self.r.choice(DIRS + KEYS[:6])
        p = ['dir=true'] + (['ttl=%d' % self.ttl()] if self.r.random() < 0.3 else [])
        if self.r.random() < 0.15:
            p.append('value=x')
        self.put(k, p)

    def op_create(self):
        k = self.key()
        if self.r.random() < 0.25:
            self.put(k, ['prevExist=false', 'dir=true'] + self.extra())
        else:
            v = self.value()
            self.values.setdefault(k, v)
            self.put(k, ['prevExist=false'] + self.extra(), v)

    def op_update(self):
        k = self.key()
        c = self.r.random()
        if c < 0.5:
            v = self.value()
            self.values[k] = v
            self.put(k, ['prevExist=true'] + self.extra(), v)
        elif c < 0.7:
            self.put(k, ['prevExist=true', 'ttl=%d' % self.ttl()])
        elif c < 0.85:
            self.put(self.r.choice(DIRS), ['dir=true', 'prevExist=true', 'ttl=%d' % self.ttl()])
        else:
            self.put(k, ['prevExist=true', 'ttl='])

    def op_cas(self):
        k = self.key()
        p = []
        c = self.r.random()
        right = self.values.get(k, self.value())
        if c < 0.35:
            p.append('prevValue=' + (right if right else '1'))
        elif c < 0.55:
            p.append('prevValue=' + self.value() + 'w')
        elif c < 0.75:
            p.append('prevIndex={mi:%s}' % k)
        elif c < 0.85:
            p.append('prevIndex=' + self.some_index())
        else:
            p.append('prevValue=' + (right if right else '1'))
            p.append('prevIndex=' + self.r.choice(['{mi:%s}' % k, self.some_index()]))
        if self.r.random() < 0.15:
            p.append('prevExist=true')
        v = self.value()
        self.put(k, p + self.extra(), v)
        self.values[k] = v

    def op_cad(self):
        k = self.key()
        right = self.values.get(k, '1') or '1'
        c = self.r.random()
        if c < 0.4:
            q = 'prevValue=' + self.r.choice([right, self.value() + 'w'])
        elif c < 0.8:
            q = 'prevIndex=' + self.r.choice(['{mi:%s}' % k, self.some_index()])
        else:
            q = 'prevValue=%s&prevIndex={mi:%s}' % (right, k)
        self.add('req', 'DELETE', '{P}/%s?%s' % (k, q), None, None)
        self.writes += 1

    def op_delete(self):
        k = self.r.choice(KEYS + DIRS)
        q = self.r.choice(['', '?dir=true', '?recursive=true', '?recursive=true', '?dir=false'])
        self.add('req', 'DELETE', '{P}/%s%s' % (k, q), None, None)
        self.writes += 1

    def op_refresh(self):
        k = self.r.choice(KEYS + DIRS)
        p = ['refresh=true', 'ttl=%d' % self.ttl()]
        if self.r.random() < 0.5:
            p.append('prevExist=true')
        if self.r.random() < 0.2:
            p.append('value=')
        self.put(k, p)

    def op_post(self):
        d = self.r.choice(['q', 'q', 'd', 'a'])
        p = self.extra()
        self.put(d, p, self.value() if self.r.random() < 0.8 else None, method='POST')

    def op_postkey(self):
        c = self.r.random()
        if c < 0.4:
            self.add('req', 'GET', '{POSTKEY}', None, None)
        elif c < 0.7:
            self.add('req', 'DELETE', '{POSTKEY}', None, None)
            self.writes += 1
        else:
            self.add('req', 'PUT', '{POSTKEY}?value=p&prevExist=true', None, None)
            self.writes += 1

    def op_get(self):
        k = self.r.choice(KEYS + DIRS + ['', ''])
        q = []
        for f in ('recursive', 'sorted', 'quorum'):
            if self.r.random() < 0.3:
                q.append('%s=%s' % (f, self.r.choice(['true', 'true', '1', 'false'])))
        m = 'HEAD' if self.r.random() < 0.05 else 'GET'
        t = ('{P}/%s' % k if k else '{P}') + ('?' + '&'.join(q) if q else '')
        self.add('req', m, t, None, None)

    def op_bad(self):
        k = self.key()
        b = self.r.choice(BAD)
        m = self.r.choice(['PUT', 'PUT', 'GET', 'DELETE', 'POST'])
        if m == 'GET' and b.startswith(('wait=', 'waitIndex')):
            b = 'wait=true&waitIndex=abc'
        self.add('req', m, '{P}/%s?%s' % (k, b), None, None)
        self.writes += 1

    def op_odd_path(self):
        k = self.key()
        t = self.r.choice(['{P}//%s', '{P}/./%s', '{P}/x/../%s', '{P}/%s/', '{P}/%s//',
                           '{P}%%2F%s', '{P}/%s%%2F%%2Fz'])
        m = self.r.choice(['GET', 'PUT', 'DELETE'])
        t = t % k + ('?value=o' if m == 'PUT' else '')
        self.add('req', m, t, None, None)
        if m != 'GET':
            self.writes += 1

    def op_body_forms(self):
        k = self.key()
        c = self.r.random()
        if c < 0.4:
            self.add('req', 'PUT', '{P}/%s' % k, 'value=' + self.value(), [])
        elif c < 0.7:
            self.add('req', 'PUT', '{P}/%s' % k, '{"value":"j"}',
                     [['Content-Type', 'application/json']])
        else:
            self.add('req', 'DELETE', '{P}/%s' % k, 'recursive=true', None)
        self.writes += 1

    def watch_target(self, history):
        k = self.r.choice(KEYS + DIRS + ['zz/none', 'd/none', 'de/x', 'd~e/x'])
        q = ['wait=true']
        if self.r.random() < 0.45:
            q.append('recursive=true')
        if history:
            q.append('waitIndex=' + self.some_index())
        return '{P}/%s?%s' % (k, '&'.join(q))

    def op_watch_history(self):
        self.wid += 1
        t = self.watch_target(True)
        stream = self.r.random() < 0.15
        if stream:
            t += '&stream=true'
        self.add('watch', self.wid, t)
        if stream:
            self.add('events', self.wid, 0.25)
        else:
            self.add('body', self.wid, 0.25)

    def op_watch_live(self):
        if len(self.open) >= 4:
            return self.collect(self.open[0])
        self.wid += 1
        t = self.watch_target(False)
        stream = self.r.random() < 0.15
        if stream:
            t += '&stream=true'
        self.add('watch', self.wid, t)
        self.open.append((self.wid, stream))

    def collect(self, w):
        wid, stream = w
        self.open.remove(w)
        if stream:
            self.add('events', wid, 0.3)
        elif self.r.random() < 0.3:
            self.add('pending', wid)
        else:
            self.add('body', wid, 0.3)

    OPS = [('op_set', 14), ('op_set_dir', 5), ('op_create', 6), ('op_update', 6), ('op_cas', 8),
           ('op_cad', 5), ('op_delete', 6), ('op_refresh', 4), ('op_post', 3), ('op_postkey', 2),
           ('op_get', 12), ('op_bad', 4), ('op_odd_path', 3), ('op_body_forms', 2),
           ('op_watch_history', 5), ('op_watch_live', 5)]

    def one(self, exclude=()):
        ops = [(n, w) for n, w in self.OPS if n not in exclude]
        total = sum(w for _, w in ops)
        x = self.r.uniform(0, total)
        for n, w in ops:
            x -= w
            if x <= 0:
                break
        if self.open and self.r.random() < 0.08:
            self.collect(self.r.choice(self.open))
        else:
            getattr(self, n)()

    def build(self, n=None):
        # TTL mode sleeps TTL_SLEEP per phase of a few requests: keep it short
        n = n or (self.r.randint(30, 60) if self.ttl_mode else self.r.randint(30, 200))
        if not self.ttl_mode:
            while len(self.steps) < n:
                self.one()
        else:
            # phases: a few requests (history watches only at a phase's
            # start, when no ttl=1 write is pending), then a sleep.
            while len(self.steps) < n:
                self.add('phase')
                self.phase_steps = 0
                if self.r.random() < 0.5:
                    self.op_watch_history()
                for _ in range(self.r.randint(3, 9)):
                    self.one(exclude=('op_watch_history',))
                self.add('sleep', TTL_SLEEP)
                for w in list(self.open):
                    if self.r.random() < 0.7:
                        self.collect(w)
                for _ in range(self.r.randint(1, 3)):
                    self.op_get()
        for w in list(self.open):
            self.collect(w)
        return self.steps


def generate(seed, ttl_mode=False, n=None):
    return Gen(seed, ttl_mode).build(n)


def seq_seed(run_seed, i):
    """The seed of the i-th sequence of a run (stable across versions)."""
    return (run_seed * 1000003 + i) & 0xffffffff


def is_ttl_seq(run_seed, i, every=4):
    return i % every == every - 1


# ---- executing a sequence -----------------------------------------------------

def _walk_nodes(v, fn):
    if isinstance(v, dict):
        if 'key' in v and 'modifiedIndex' in v:
            fn(v)
        for k in ('node', 'prevNode'):
            if k in v:
                _walk_nodes(v[k], fn)
        for n in v.get('nodes') or []:
            _walk_nodes(n, fn)


class Runner:
    """Per-server state of a running sequence: the dynamic templates."""

    def __init__(self, c):
        self.c = c
        self.mi = {}
        self.post = None
        self.conns = {}
        self.ttl_first = None   # time of the first ttl=1 write of the phase
        self.timing_bad = None
        self.frozen = []

    def keypath(self, rel):
        return self.c.K + '/' + urllib.parse.unquote(rel.rstrip('/'))

    def freeze(self, t):
        """t with the dynamic templates replaced by what they mean on this
        server, relative to the base ({b+N}, {P}/q/{B+N}): a sequence that
        no longer depends on earlier answers (for a saved case)."""
        if t is None:
            return None

        def mi(m):
            v = self.mi.get(self.keypath(m.group(1)))
            return '{b+%d}' % ((v if v is not None else self.c.base + 1) - self.c.base)
        t = re.sub(r'\{mi:([^}]*)\}', mi, t)
        if '{POSTKEY}' in t:
            if self.post and self.post.startswith(self.c.K + '/'):
                rel = self.post[len(self.c.K):]
                rel = re.sub(r'/(\d{20})$', lambda m: '/{B+%d}' % (int(m.group(1)) - self.c.base),
                             rel)
                t = t.replace('{POSTKEY}', '{P}' + urllib.parse.quote(rel, safe='/{}+'))
            else:
                t = t.replace('{POSTKEY}', '{P}/q/none')
        return t

    def resolve(self, t):
        if t is None:
            return None

        def mi(m):
            v = self.mi.get(self.keypath(m.group(1)))
            return str(v) if v is not None else str(self.c.base + 1)
        t = re.sub(r'\{mi:([^}]*)\}', mi, t)
        if '{POSTKEY}' in t:
            t = t.replace('{POSTKEY}', '/v2/keys' + urllib.parse.quote(self.post, safe='/')
                          if self.post else '{P}/q/none')
        return t

    def observe(self, method, r):
        try:
            v = json.loads(r.body.decode('utf-8'))
        except ValueError:
            return
        if not isinstance(v, dict):
            return

        def note(n):
            if isinstance(n.get('key'), str) and isinstance(n.get('modifiedIndex'), int):
                self.mi.setdefault(n['key'], n['modifiedIndex'])
        # the node first (newest), then whatever else the answer shows
        n = v.get('node')
        if isinstance(n, dict) and isinstance(n.get('key'), str) and \
                isinstance(n.get('modifiedIndex'), int):
            self.mi[n['key']] = n['modifiedIndex']
        _walk_nodes(v, note)
        if method == 'POST' and v.get('action') == 'create' and isinstance(n, dict):
            self.post = n.get('key')

    def ttl_write(self, target, body):
        s = (target or '') + '&' + (body or '')
        return re.search(r'[?&]ttl=1(&|$)', s) is not None

    def check_phase(self):
        if self.ttl_first is not None:
            took = time.monotonic() - self.ttl_first
            if took > TTL_PHASE_LIMIT and self.timing_bad is None:
                self.timing_bad = 'a ttl=1 phase took %.2fs (limit %.2fs)' % (took,
                                                                           TTL_PHASE_LIMIT)

    def step(self, st):
        c = self.c
        kind = st[0]
        self.frozen.append([self.freeze(x) if isinstance(x, str) and i == 2 else x
                            for i, x in enumerate(st)])
        if kind == 'req':
            m, t, body, hdrs = st[1], st[2], st[3], st[4]
            if body is not None and hdrs is None:
                hdrs = [('Content-Type', 'application/x-www-form-urlencoded')]
            elif hdrs:
                hdrs = [tuple(h) for h in hdrs]
            if self.ttl_write(t, body) and self.ttl_first is None:
                self.ttl_first = time.monotonic()
            r = c.req(m, self.resolve(t), body, hdrs, label='%s %s' % (m, t), timeout=5.0)
            self.observe(m, r)
        elif kind == 'watch':
            wid, t = st[1], st[2]
            self.conns[wid] = c.watch(self.resolve(t), label='w%d GET %s' % (wid, t), timeout=5.0)
        elif kind == 'body':
            w = self.conns.pop(st[1], None)
            if w is not None:
                # not observed: an event (from history, or one of the
                # deliberate differences) may show an older index, and
                # {mi:KEY} must mean the same on both servers
                c.watch_body(w, st[2])
        elif kind == 'pending':
            w = self.conns.pop(st[1], None)
            if w is not None:
                c.watch_pending(w, 0.3)
                w.close()
        elif kind == 'events':
            w = self.conns.pop(st[1], None)
            if w is not None:
                c.stream_events(w, 1000, st[2])
                w.close()
        elif kind == 'phase':
            self.ttl_first = None
        elif kind == 'sleep':
            self.check_phase()
            self.ttl_first = None
            time.sleep(st[1])
        else:
            raise ValueError('unknown step %r' % (st,))


def run_steps(c, steps):
    """Run the steps through harness Ctx c; returns the Runner (its
    timing_bad says whether a TTL phase overran)."""
    rn = Runner(c)
    try:
        for st in steps:
            rn.step(st)
            if rn.ttl_first is not None and st[0] not in ('sleep', 'phase'):
                rn.check_phase()
    finally:
        for w in rn.conns.values():
            w.close()
    return rn


# ---- recognising deliberate differences ----------------------------------------

def _parse_label(step):
    """(method, template, suffix) of a record's step label."""
    m = re.match(r'^(?:w\d+ )?(\S+) (.*?)( \[(headers|body|pending|events)\])?$', step or '')
    if not m:
        return None, step, None
    return m.group(1), m.group(2), m.group(4)


def _watch_info(template, K):
    """(absolute watched key, recursive, has waitIndex, stream)."""
    u = urllib.parse.urlsplit(template.replace('{P}', '/v2/keys' + K))
    q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
    key = urllib.parse.unquote(u.path[len('/v2/keys'):]).rstrip('/')
    b = lambda n: (q.get(n) or [''])[0] in ('true', '1', 't', 'T', 'TRUE', 'True')
    return key, b('recursive'), 'waitIndex' in q, b('stream')


def _idx(v):
    if isinstance(v, str) and v.startswith('b+'):
        return int(v[2:])
    return None


def _below(anc, key):
    return key != anc and key.startswith(anc.rstrip('/') + '/')


def _hidden_below(wkey, nkey):
    if not _below(wkey, nkey):
        return False
    rest = nkey[len(wkey.rstrip('/')) + 1:]
    return any(p.startswith('_') for p in rest.split('/'))


def _is_hidden_history(ev, wkey, rec, hist):
    """etcd bug 1: a recursive watch from history reports a hidden child."""
    n = ev.get('node') or {}
    return hist and rec and _hidden_below(wkey, str(n.get('key', '')))


def _is_prefix_history(ev, wkey, rec, hist):
    """etcd bug 2: the delete/expiry of dir /foo matches a watch on /foobar
    from history."""
    n = ev.get('node') or {}
    pn = ev.get('prevNode') or {}
    key = str(n.get('key', ''))
    return (hist and ev.get('action') in ('delete', 'expire') and pn.get('dir')
            and not (wkey == key or _below(key, wkey) or (rec and _below(wkey, key)))
            and (wkey + ('/' if rec else '')).startswith(key))


def _is_missing_below(ev, wkey):
    """metcd: a live watch on a key below a removed dir gets that event
    (etcd: only from history). See docs/api.md."""
    n = ev.get('node') or {}
    return ev.get('action') in ('delete', 'expire') and n.get('dir') and \
        _below(str(n.get('key', '')), wkey)


def _is_removal_of(ev, wkey):
    """etcd sends the delete, compareAndDelete or expiry of the very node a
    stream=true watch is on twice in a row (once for the removed node, once
    on its path walk); metcd sends it once. See docs/api.md."""
    n = ev.get('node') or {}
    return ev.get('action') in ('delete', 'compareAndDelete', 'expire') and n.get('key') == wkey


def _event_of(rec):
    if rec is None:
        return None
    j = rec.get('json')
    if isinstance(j, dict) and 'action' in j:
        return j
    b = rec.get('body')
    if isinstance(b, dict) and 'action' in b:
        return b
    return None


def _get_path(v, path):
    """The value at a harness.differences path ('json.node.nodes[2].ttl'),
    and its parent dict."""
    parent = None
    for part in re.findall(r'[^.\[\]]+|\[\d+\]', path):
        parent = v
        if part.startswith('['):
            i = int(part[1:-1])
            v = v[i] if isinstance(v, list) and i < len(v) else None
        else:
            v = v.get(part) if isinstance(v, dict) else None
    return v, parent


def _updated_dirs(records, K, ever=False):
    """etcd bug 8: dirs whose TTL was updated (the answer reported a new
    modifiedIndex that etcd's store does not keep) and that still exist;
    with ever, also those removed since (a watch may read an old event)."""
    out = set()
    for r in records:
        j = r.get('json') if isinstance(r.get('json'), dict) else None
        if not j or _parse_label(r.get('step'))[2] is not None:
            # only answers to requests: a watch may show an old event
            continue
        n = j.get('node') or {}
        pn = j.get('prevNode') or {}
        a = j.get('action')
        key = n.get('key')
        if a in ('update', 'set') and 'node' not in j:
            # noValueOnSuccess hides the node: the key is the request's (it
            # counts only if it shows up as a dir, see _only_dir_ttl)
            method, template, _ = _parse_label(r.get('step'))
            if method == 'PUT':
                out.add(_watch_info(template, K)[0])
            continue
        if not isinstance(key, str):
            continue
        if a in ('update', 'set') and n.get('dir') and pn.get('dir'):
            out.add(key)
        elif a in ('delete', 'expire', 'compareAndDelete') and not ever:
            out = {d for d in out if d != key and not _below(key, d)}
    return out


def classify_step(i, a, b, ra, K):
    """Which deliberate difference explains record a (etcd) != b (metcd), or
    None. ra: etcd's records (for context)."""
    return _watch_rules(i, a, b, ra, K) or _dir_ttl_rule(i, a, b, ra, K)


def _watch_rules(i, a, b, ra, K):
    method, template, suffix = _parse_label(a.get('step'))
    if suffix in ('body', 'pending', 'events'):
        wkey, rec, hist, stream = _watch_info(template, K)
        ea, eb = _event_of(a), _event_of(b)
        if suffix == 'events':
            la = [e for e in a.get('events') or [] if isinstance(e, dict)]
            lb = [e for e in b.get('events') or [] if isinstance(e, dict)]
            dirs = _updated_dirs(ra[:i], K, True)

            def same(x, y):
                # as the comparison does (ttl within 1), and bug 8 allowed
                return not harness.differences(x, y) or _only_dir_ttl(x, y, dirs)
            rules = set()
            fa = []
            for j, e in enumerate(la):
                if j > 0 and e == la[j - 1] and _is_removal_of(e, wkey):
                    rules.add('stream-removal-twice')
                    continue
                if _is_hidden_history(e, wkey, rec, hist):
                    rules.add('hidden-history')
                elif _is_prefix_history(e, wkey, rec, hist):
                    rules.add('prefix-boundary-history')
                else:
                    fa.append(e)
            fb = []
            for e in lb:
                if _is_missing_below(e, wkey) and not any(same(e, x) for x in fa):
                    rules.add('live-missing-below-removed-dir')
                else:
                    fb.append(e)
            prefix = len(fa) <= len(fb) and all(same(x, y) for x, y in zip(fa, fb))
            if prefix and any(_only_dir_ttl(x, y, dirs) for x, y in zip(fa, fb)):
                rules.add('dir-ttl-update-index')
            if prefix and len(fa) == len(fb) and rules:
                return ','.join(sorted(rules))
            if prefix and hist and stream and len(fa) <= 1 and len(fb) > len(fa):
                # etcd bug 3: one event from history, then silence
                rules.add('stream-history')
                return ','.join(sorted(rules))
            return None
        if ea is not None and (_is_hidden_history(ea, wkey, rec, hist)
                               or _is_prefix_history(ea, wkey, rec, hist)):
            # metcd must then answer a later event, or nothing yet
            ia = _idx((ea.get('node') or {}).get('modifiedIndex'))
            ib = _idx(((eb or {}).get('node') or {}).get('modifiedIndex'))
            if eb is None or (ia is not None and ib is not None and ib > ia):
                return ('hidden-history' if _is_hidden_history(ea, wkey, rec, hist)
                        else 'prefix-boundary-history')
        if eb is not None and _is_missing_below(eb, wkey):
            ia = _idx(((ea or {}).get('node') or {}).get('modifiedIndex'))
            ib = _idx((eb.get('node') or {}).get('modifiedIndex'))
            if ea is None or (ia is not None and ib is not None and ia > ib):
                return 'live-missing-below-removed-dir'
    return None


def _only_dir_ttl(a, b, dirs):
    """True when a and b differ, and only in the modifiedIndex of nodes
    whose key is in dirs."""
    diffs = harness.differences(a, b)
    if not dirs or not diffs:
        return False
    for p, x, y in diffs:
        if not p.endswith('modifiedIndex'):
            return False
        _, node = _get_path(a, p)
        if not isinstance(node, dict) or node.get('key') not in dirs or not node.get('dir'):
            return False
    return True


def _dir_ttl_rule(i, a, b, ra, K):
    """etcd bug 8: only the modifiedIndex of TTL-updated dirs differs."""
    watch = _parse_label(a.get('step'))[2] is not None
    return 'dir-ttl-update-index' if _only_dir_ttl(a, b, _updated_dirs(ra[:i], K, watch)) else None


def classify(ra, rb, K):
    """(unexplained lines, {rule: count}) for two record lists."""
    lines = []
    rules = {}
    if len(ra) != len(rb):
        return harness.compare_records(ra, rb, 'etcd', 'metcd'), rules
    for i, (a, b) in enumerate(zip(ra, rb)):
        d = harness.differences(a, b)
        if not d:
            continue
        rule = classify_step(i, a, b, ra, K)
        if rule:
            for x in rule.split(','):
                rules[x] = rules.get(x, 0) + 1
            continue
        lines.append('  step %d %s:' % (i, a.get('step')))
        for p, x, y in d[:8]:
            lines.append('    %s: etcd=%s | metcd=%s' % (p, harness.compact(x), harness.compact(y)))
        if len(d) > 8:
            lines.append('    ... %d more' % (len(d) - 8))
    return lines, rules


# ---- curl -----------------------------------------------------------------------

def curl_script(steps, name='rdiff'):
    """A shell script replaying the steps with curl against $URL."""
    out = ['#!/bin/sh',
           '# Replays a random differential sequence; run it against etcd and metcd',
           '# (URL=http://127.0.0.1:2379 sh script.sh) and compare the answers.',
           'URL=${URL:-http://127.0.0.1:2379}',
           'P=/v2/keys/%s' % name,
           "B=$(curl -sS -D - -o /dev/null \"$URL/v2/keys/\" | tr -d '\\r' |"
           " sed -n 's/^[Xx]-[Ee]tcd-[Ii]ndex: //p')",
           'echo "base index $B"']

    def tpl(t):
        t = t.replace('{P}', '$P').replace('{K}', '/' + name)
        t = re.sub(r'\{b\+(\d+)\}', r'$((B+\1))', t)
        t = re.sub(r'\{mi:([^}]*)\}', r'$((B+1))', t)  # frozen runs carry {b+N} instead
        return t.replace('{POSTKEY}', '$P/q/none')
    for st in steps:
        if st[0] == 'req':
            m, t, body, hdrs = st[1:5]
            if m == 'HEAD':
                cmd = 'curl -sS --path-as-is -I "$URL%s"' % tpl(t)
            else:
                cmd = 'curl -sS --path-as-is -i -X %s "$URL%s"' % (m, tpl(t))
            if body is not None:
                if hdrs is None:
                    hdrs = [['Content-Type', 'application/x-www-form-urlencoded']]
                cmd += ' --data-binary %s' % shlex.quote(body)
                if not any(h[0].lower() == 'content-type' for h in hdrs):
                    cmd += " -H 'Content-Type:'"
            for h in hdrs or []:
                cmd += ' -H %s' % shlex.quote('%s: %s' % (h[0], h[1]))
            out.append(cmd + '; echo')
        elif st[0] == 'watch':
            out.append('curl -sS --path-as-is -i -m 3 "$URL%s" > /tmp/rdiff-w%d.out 2>&1 &' % (tpl(st[2]),
                                                                                st[1]))
            out.append('sleep 0.2')
        elif st[0] in ('body', 'pending', 'events'):
            out.append('sleep 0.4; echo "--- watch %d:"; cat /tmp/rdiff-w%d.out; echo'
                       % (st[1], st[1]))
        elif st[0] == 'sleep':
            out.append('sleep %s' % st[1])
    out.append('wait')
    out.append('curl -sS -X DELETE "$URL$P?recursive=true" > /dev/null')
    return '\n'.join(out) + '\n'
