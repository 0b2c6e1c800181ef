#!/usr/bin/python3
"""Randomized differential test: seeded random v2 request sequences run on
etcd 3.4.23 and on metcd, answers normalised and compared as diff_test.py
does (see randgen.py for what a sequence holds).

  randdiff.py                         the bounded run meson does: run seed 1,
                                      sequences 0..11 (every 4th in TTL mode)
  randdiff.py --seconds N --seed S    long run: sequences of run seed S until
                                      N seconds have passed
  randdiff.py --seed S --only I       just sequence I of run seed S
  randdiff.py --print S:I             print sequence I of run seed S as curl

Options:
  --sequences N      how many sequences (default 12 without --seconds)
  --ttl-every K      every K-th sequence runs in TTL mode (default 4; 0: never)
  --metcd-url URL    compare a running metcd at URL (e.g. one member, or a
                     follower of a cluster) instead of starting one
  --etcd-url URL     likewise for the reference etcd
  --cluster N        start N-member clusters of etcd and of metcd and
                     compare through a follower of each
  --etcd-vs-etcd     two etcds (checks that the generator and normalisation
                     are deterministic: nothing may differ)
  --no-shrink        report a difference without shrinking it
  --shrink-seconds S bound on shrinking one difference (default 240)
  --save             add each shrunk difference to regressions.py as a case
                     of the hand-written suite and record etcd's answers
  --max-failures N   stop after N differing sequences (default 3)
  --budget S         start no sequence after S seconds (a bound for slow,
                     e.g. sanitized, builds; the sequences left are reported)
  --no-rules         report the deliberate differences too (to see them, or
                     to try the shrinker on one)
  -v                 print every sequence's verdict

A difference that one of metcd's documented deliberate behaviours explains
(docs/api.md) is counted under its rule, never reported as a failure.
Exit status: 0 no unexplained difference, 1 otherwise, 77 skipped.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402
import randgen  # noqa: E402
import servers  # noqa: E402

SKIP = 77


class Remote:
    """A server someone else runs, given by its client URL."""

    def __init__(self, kind, url):
        u = urllib.parse.urlsplit(url)
        self.kind = kind
        self.host = u.hostname or '127.0.0.1'
        self.port = u.port or 2379
        self.peer_port = None
        self.url = url
        self.sanitizer_report = ''

    def alive(self):
        return True

    def stop(self):
        pass


class Cluster:
    """n members of etcd or metcd on loopback (fresh ports and data
    directories), compared through one follower's client URL."""

    def __init__(self, kind, binary, n=3):
        self.kind = kind
        self.members = []
        taken = set()

        def port():
            # all ports are picked before any member binds one: no repeats
            p = servers.free_port()
            while p in taken:
                p = servers.free_port()
            taken.add(p)
            return p
        for i in range(n):
            m = servers.Server(kind, binary, name='m%d' % i)
            m.tmp = tempfile.mkdtemp(prefix='metcd-randdiff-%s-' % kind)
            m.port = port()
            m.peer_port = port()
            m.log = os.path.join(m.tmp, 'server.log')
            self.members.append(m)
        initial = ','.join('%s=http://127.0.0.1:%d' % (m.name, m.peer_port)
                           for m in self.members)
        for m in self.members:
            c = 'http://127.0.0.1:%d' % m.port
            p = 'http://127.0.0.1:%d' % m.peer_port
            m.args = [binary, '--enable-v2=true', '--name', m.name,
                      '--data-dir', os.path.join(m.tmp, 'data'),
                      '--listen-client-urls', c, '--advertise-client-urls', c,
                      '--listen-peer-urls', p, '--initial-advertise-peer-urls', p,
                      '--initial-cluster', initial, '--initial-cluster-state', 'new',
                      '--initial-cluster-token', 'randdiff']
            if kind == 'metcd':
                m.args += servers.backend_args()
        self.follower = None

    def start(self, timeout=60.0):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith('ETCD_') or k == 'ETCDCTL_API'}
        for m in self.members:
            with open(m.log, 'ab') as logf:
                m.proc = subprocess.Popen(m.args, stdin=subprocess.DEVNULL, stdout=logf,
                                          stderr=subprocess.STDOUT, env=env,
                                          start_new_session=True)
            servers._live.append(m)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.members:
                if m.proc.poll() is not None:
                    raise servers.ServerError('%s member %s exited during startup:\n%s'
                                              % (self.kind, m.name, m.log_tail()))
            states = [self._state(m) for m in self.members]
            if states.count('StateLeader') == 1 and 'StateFollower' in states:
                f = self.members[states.index('StateFollower')]
                if all(self._ready(m) for m in self.members):
                    f._settle(deadline)
                    self.follower = f
                    return self
            time.sleep(0.2)
        raise servers.ServerError('%s cluster not ready within %.0fs:\n%s'
                                  % (self.kind, timeout, self.members[0].log_tail()))

    @staticmethod
    def _state(m):
        try:
            r = harness.rawhttp.request('127.0.0.1', m.port, 'GET', '/v2/stats/self', timeout=2)
            return r.json().get('state') if r.status == 200 else None
        except (OSError, ValueError, harness.rawhttp.HTTPError):
            return None

    @staticmethod
    def _ready(m):
        try:
            r = harness.rawhttp.request('127.0.0.1', m.port, 'GET', '/v2/keys/?quorum=true',
                                        timeout=2)
            return r.status == 200
        except (OSError, harness.rawhttp.HTTPError):
            return False

    # what the runner needs of a server: the follower's
    @property
    def port(self):
        return self.follower.port

    @property
    def peer_port(self):
        return self.follower.peer_port

    @property
    def sanitizer_report(self):
        return ''.join(m.sanitizer_report for m in self.members)

    def alive(self):
        return all(m.alive() for m in self.members)

    def log_tail(self):
        return '\n'.join('%s: %s' % (m.name, m.log_tail(10)) for m in self.members)

    def stop(self):
        for m in self.members:
            m.stop()


class Seq:
    """One sequence to run: its steps, and the case whose name is its prefix."""

    def __init__(self, name, steps):
        self.name = name
        self.steps = steps
        self.kase = harness.Case(name, None, 'random', 1, None, None, None)


def run_on(server, sq, out):
    """Run sq on server (harness.run_case, keeping the Runner); out gets
    (records, runner, prefix)."""
    c = harness.Ctx(server, sq.kase)
    c.host = getattr(server, 'host', '127.0.0.1')
    rn = None
    try:
        c.base = c.read_index()
        rn = randgen.run_steps(c, sq.steps)
    except (harness.rawhttp.HTTPError, OSError, harness.CaseError, ValueError, KeyError) as e:
        c.records.append({'step': 'exception', 'error': '%s: %s' % (type(e).__name__, e)})
    finally:
        c.close_watches()
        try:
            harness.rawhttp.request(c.host, c.port, 'DELETE',
                                    '/v2/keys/%s?recursive=true' % sq.name, timeout=5)
        except (harness.rawhttp.HTTPError, OSError):
            pass
    out.append((c.records, rn, c.K))


def run_pair(pair, sq):
    outs = [[], []]
    ts = [threading.Thread(target=run_on, args=(s, sq, outs[i]), daemon=True)
          for i, s in enumerate(pair)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=300)
    if not outs[0] or not outs[1]:
        raise RuntimeError('a sequence did not finish within 300 s')
    return outs[0][0], outs[1][0]


def lift_index(server):
    """A fresh metcd starts at store index 0 and etcd above it (its own
    startup writes), and index 0 means 'none' to waitIndex and prevIndex:
    {b+0} would mean different things. One write and its delete first."""
    host = getattr(server, 'host', '127.0.0.1')
    r = harness.rawhttp.request(host, server.port, 'GET', '/v2/keys/', timeout=10)
    if int(r.header('X-Etcd-Index') or 0) == 0:
        harness.rawhttp.request(host, server.port, 'PUT', '/v2/keys/_randdiff?value=1',
                                timeout=10)
        harness.rawhttp.request(host, server.port, 'DELETE', '/v2/keys/_randdiff', timeout=10)


class Result:
    def __init__(self, lines, rules, timing, ra, rb, frozen):
        self.lines = lines
        self.rules = rules
        self.timing = timing
        self.ra = ra
        self.rb = rb
        self.frozen = frozen


NO_RULES = [False]


def check(pair, sq, same_kind=False):
    (ra, rna, K), (rb, rnb, _) = run_pair(pair, sq)
    timing = (rna and rna.timing_bad) or (rnb and rnb.timing_bad)
    if same_kind or NO_RULES[0]:
        names = (pair[0].kind + '1', pair[1].kind + '2') if same_kind else ('etcd', 'metcd')
        lines = harness.compare_records(ra, rb, *names)
        rules = {}
    else:
        lines, rules = randgen.classify(ra, rb, K)
    return Result(lines, rules, timing, ra, rb, rna.frozen if rna else None)


def shrink(pair, steps, name, deadline, log):
    """Delta debugging (ddmin) over the steps: the smallest subsequence
    found before the deadline that still shows an unexplained difference."""
    runs = [0]

    def fails(st):
        runs[0] += 1
        r = check(pair, Seq('%s_s%d' % (name, runs[0]), st))
        return bool(r.lines) and not r.timing
    n = 2
    cur = list(steps)
    while len(cur) >= 2 and time.monotonic() < deadline:
        size = max(1, len(cur) // n)
        chunks = [cur[i:i + size] for i in range(0, len(cur), size)]
        reduced = False
        for i in range(len(chunks)):
            if time.monotonic() >= deadline:
                break
            comp = [s for j, ch in enumerate(chunks) if j != i for s in ch]
            if comp and fails(comp):
                cur = comp
                n = max(n - 1, 2)
                reduced = True
                log('  shrink: %d steps' % len(cur))
                break
        if not reduced:
            if n >= len(cur):
                break
            n = min(n * 2, len(cur))
    return cur, runs[0]


def save_regression(pair_etcd, steps, name, doc):
    """Append the sequence to regressions.py and record etcd's answers."""
    import diff_test
    import regressions
    path = os.path.join(HERE, 'regressions.py')
    with open(path, 'a') as f:
        f.write('\n# %s\nR(%r, [\n' % (doc, name))
        for st in steps:
            f.write('    %r,\n' % (st,))
        f.write('])\n')
    kase = regressions.R(name, steps, doc)
    res = {name: harness.run_case(pair_etcd, kase)}
    diff_test.write_recorded([kase], res)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--seconds', type=float)
    ap.add_argument('--sequences', type=int)
    ap.add_argument('--only', type=int)
    ap.add_argument('--print', dest='print_seq')
    ap.add_argument('--ttl-every', type=int, default=4)
    ap.add_argument('--metcd-url')
    ap.add_argument('--etcd-url')
    ap.add_argument('--metcd-bin')
    ap.add_argument('--etcd-vs-etcd', action='store_true')
    ap.add_argument('--no-shrink', action='store_true')
    ap.add_argument('--shrink-seconds', type=float, default=240)
    ap.add_argument('--save', action='store_true')
    ap.add_argument('--max-failures', type=int, default=3)
    ap.add_argument('--budget', type=float)
    ap.add_argument('--no-rules', action='store_true')
    ap.add_argument('--cluster', type=int, default=0)
    ap.add_argument('-v', action='store_true')
    args = ap.parse_args()

    NO_RULES[0] = args.no_rules

    def ttl_of(i):
        return args.ttl_every > 0 and i % args.ttl_every == args.ttl_every - 1

    if args.print_seq:
        s, _, i = args.print_seq.partition(':')
        i = int(i or 0)
        steps = randgen.generate(randgen.seq_seed(int(s), i), ttl_of(i))
        sys.stdout.write(randgen.curl_script(steps, 'r%08x' % randgen.seq_seed(int(s), i)))
        return 0

    started = []
    t0 = time.monotonic()

    def log(msg):
        print(msg, flush=True)

    try:
        if args.etcd_url:
            e = Remote('etcd', args.etcd_url)
        elif args.cluster and os.path.exists(servers.ETCD_BIN):
            e = Cluster('etcd', servers.ETCD_BIN, args.cluster)
            started.append(e)
            e.start()
        elif not os.path.exists(servers.ETCD_BIN):
            log('SKIP: etcd not installed (apt-get install etcd-server)')
            return SKIP
        else:
            e = servers.Server('etcd', servers.ETCD_BIN)
            started.append(e)
            e.start()
        if args.etcd_vs_etcd:
            m = servers.Server('etcd', servers.ETCD_BIN)
        elif args.metcd_url:
            m = Remote('metcd', args.metcd_url)
        else:
            mbin = args.metcd_bin or servers.metcd_bin()
            if not mbin or not os.path.exists(mbin):
                log('FAIL: metcd binary not found (set METCD_BIN)')
                return 1
            m = Cluster('metcd', mbin, args.cluster) if args.cluster else \
                servers.Server('metcd', mbin)
        if isinstance(m, (servers.Server, Cluster)):
            started.append(m)
            m.start()
        pair = (e, m)
        for srv in pair:
            lift_index(srv)
        if args.cluster:
            log('clusters of %d: etcd follower %s, metcd follower %s'
                % (args.cluster, e.url if isinstance(e, Remote) else e.follower.url,
                   m.url if isinstance(m, Remote) else m.follower.url))
        same = args.etcd_vs_etcd

        if args.only is not None:
            indexes = iter([args.only])
        elif args.seconds:
            indexes = iter(range(10 ** 9))
        else:
            indexes = iter(range(args.sequences or 12))
        nseq = nreq = failures = skipped = 0
        rules = {}
        next_progress = time.monotonic() + 300
        for i in indexes:
            if args.seconds and time.monotonic() >= next_progress:
                # a long run says how far it got every five minutes
                next_progress += 300
                log('%.0fs: %d sequences, %d requests, %d differ, %d not compared'
                    % (time.monotonic() - t0, nseq, nreq, failures, skipped))
            if args.seconds and time.monotonic() - t0 >= args.seconds:
                break
            if args.budget and time.monotonic() - t0 >= args.budget:
                log('time budget of %.0fs used: %d sequences not run' % (
                    args.budget, (args.sequences or 12) - i))
                break
            sseed = randgen.seq_seed(args.seed, i)
            ttl = ttl_of(i)
            steps = randgen.generate(sseed, ttl)
            name = 'r%08x' % sseed
            ts = time.monotonic()
            r = check(pair, Seq(name, steps), same)
            if r.timing:
                r = check(pair, Seq(name + 't', steps), same)  # once more
            nseq += 1
            nreq += sum(1 for s in steps if s[0] in ('req', 'watch'))
            if r.timing:
                skipped += 1
                log('seq %d (seed %d%s): timing-invalid, not compared: %s'
                    % (i, sseed, ', ttl' if ttl else '', r.timing))
                continue
            for k, v in r.rules.items():
                rules[k] = rules.get(k, 0) + v
            if not r.lines:
                if args.v:
                    log('seq %d (seed %d%s): %d steps, %.1fs, same%s' % (
                        i, sseed, ', ttl' if ttl else '', len(steps), time.monotonic() - ts,
                        (' (deliberate: %s)' % ', '.join(sorted(r.rules))) if r.rules else ''))
                continue
            failures += 1
            log('DIFF seq %d (run seed %d, sequence seed %d%s, %d steps):'
                % (i, args.seed, sseed, ', ttl mode' if ttl else '', len(steps)))
            for ln in r.lines[:40]:
                log(ln)
            log('  reproduce: %s --seed %d --only %d%s' % (
                os.path.relpath(__file__), args.seed, i,
                ' --ttl-every %d' % args.ttl_every if args.ttl_every != 4 else ''))
            if not args.no_shrink and not same:
                small, runs = shrink(pair, steps, name, time.monotonic() + args.shrink_seconds,
                                     log)
                final = check(pair, Seq(name + '_min', small))
                log('shrunk to %d steps in %d runs; minimal sequence differs:' % (len(small),
                                                                                  runs))
                for ln in final.lines[:40]:
                    log(ln)
                frozen = final.frozen or small
                log('--- curl script (URL=http://127.0.0.1:2379 sh script.sh) ---')
                log(randgen.curl_script(frozen, name).rstrip())
                log('--- end of script; steps: %r' % (frozen,))
                if args.save:
                    cname = 'rand_%08x' % sseed
                    p = save_regression(e, frozen, cname,
                                        'randdiff.py --seed %d --only %d' % (args.seed, i))
                    log('saved as case %s in %s (etcd answers recorded)' % (cname, p))
            if failures >= args.max_failures:
                log('stopping after %d differing sequences' % failures)
                break
        for s in started:
            if not s.alive():
                log('FAIL: %s exited during the run:\n%s' % (s.kind, s.log_tail()))
                failures += 1
        log('run seed %d: %d sequences (%d TTL-mode), %d requests, %d not compared (timing), '
            '%.0fs' % (args.seed, nseq, sum(1 for i in range(nseq) if ttl_of(i)), nreq, skipped,
                       time.monotonic() - t0))
        log('deliberate differences recognised: %s' % (
            ', '.join('%s=%d' % kv for kv in sorted(rules.items())) or 'none'))
        log('%d sequences, %d differ' % (nseq, failures))
        return 1 if failures else 0
    except servers.ServerError as ex:
        log('FAIL: %s' % ex)
        return 1
    finally:
        servers.stop_all(started)


if __name__ == '__main__':
    sys.exit(main())
