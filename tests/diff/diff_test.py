#!/usr/bin/python3
"""Differential test: metcd against the real etcd 3.4.23 (v2 API).

Modes:
  diff_test.py                    etcd and metcd live, compared (the meson
                                  test); without etcd, metcd against the
                                  recorded answers; without either, skip (77)
  diff_test.py --record           run etcd alone, write expected/*.json
  diff_test.py --against-recorded metcd alone against expected/*.json
  diff_test.py --etcd-vs-recorded etcd alone against expected/*.json (checks
                                  the suite itself is deterministic)
  diff_test.py --etcd-vs-etcd     two live etcds compared
Options: -k SUBSTR (only cases whose name contains it, repeatable),
         --list, -v (print every record), --metcd-bin PATH.

Output: one block per case that differs, then "N cases, M differ".
Exit status 0 when nothing differs, 1 otherwise, 77 on skip.
"""

import argparse
import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402
import servers  # noqa: E402
import cases  # noqa: E402,F401  (registers the catalogue)
import regressions  # noqa: E402,F401  (cases found by randdiff.py)

EXPECTED = os.path.join(HERE, 'expected')
SKIP = 77


def selected(args):
    cs = sorted(harness.CASES, key=lambda c: c.order)  # stable: file order within an order
    if args.k:
        cs = [c for c in cs if any(k in c.name or k == c.group for k in args.k)]
    return cs


def run_all(server, cs, out, progress=None):
    stuck = 0
    for c in cs:
        if not server.alive():
            out[c.name] = [{'step': 'server', 'error': '%s is not running' % server.kind}]
            continue
        if stuck >= 5:
            # keep inside meson's timeout when the server stops answering
            out[c.name] = [{'step': 'server', 'error': '%s stopped answering' % server.kind}]
            continue
        out[c.name] = harness.run_case(server, c)
        if any('timeout' in str(r.get('error', '')) for r in out[c.name]
               if r.get('step') == 'exception'):
            stuck += 1
        else:
            stuck = 0
        if progress:
            progress(server, c)


def run_parallel(srvs, cs):
    """Run the catalogue against each server in its own thread."""
    results = [dict() for _ in srvs]
    threads = [threading.Thread(target=run_all, args=(s, cs, results[i]), daemon=True)
               for i, s in enumerate(srvs)]
    for t in threads:
        t.start()
    for t in threads:
        # bounded: meson's timeout is 600 s
        t.join(timeout=560)
    return results


def load_recorded():
    rec = {}
    if not os.path.isdir(EXPECTED):
        return rec
    for fn in sorted(os.listdir(EXPECTED)):
        if fn.endswith('.json'):
            with open(os.path.join(EXPECTED, fn)) as f:
                rec.update(json.load(f))
    return rec


def write_recorded(cs, res):
    os.makedirs(EXPECTED, exist_ok=True)
    groups = {}
    for c in cs:
        groups.setdefault(c.group, {})[c.name] = res[c.name]
    for g, d in groups.items():
        path = os.path.join(EXPECTED, g + '.json')
        old = {}
        if os.path.exists(path):
            with open(path) as f:
                old = json.load(f)
        old.update(d)
        # drop cases that no longer exist
        names = {c.name for c in harness.CASES}
        old = {k: v for k, v in old.items() if k in names}
        with open(path, 'w') as f:
            # one record per line: readable diffs when re-recorded
            f.write('{\n')
            for i, k in enumerate(sorted(old)):
                f.write(' %s: [\n' % json.dumps(k))
                f.write(',\n'.join('  ' + json.dumps(r, sort_keys=True, ensure_ascii=False)
                                    for r in old[k]))
                f.write('\n ]%s\n' % (',' if i + 1 < len(old) else ''))
            f.write('}\n')


def report(cs, ra, rb, name_a, name_b, check_fixed_on_b, verbose):
    """Compare; print one block per differing case; return (n, m)."""
    n = m = 0
    for c in cs:
        n += 1
        a = ra.get(c.name)
        b = rb.get(c.name)
        if a is None or b is None:
            m += 1
            print('DIFF %s: no result from %s' % (c.name, name_a if a is None else name_b))
            continue
        if verbose:
            print('== %s\n  %s: %s\n  %s: %s' % (c.name, name_a, harness.compact(a), name_b,
                                                harness.compact(b)))
        # A case that stops on an exception on the reference server tests
        # nothing, even when the other server stops the same way.
        broken = [r for r in a if r.get('step') == 'exception']
        if broken:
            m += 1
            print('DIFF %s: the case did not run to its end on %s: %s'
                  % (c.name, name_a, broken[0].get('error')))
            continue
        if c.metcd_check and check_fixed_on_b:
            probs = c.metcd_check(b, a)
            if probs:
                m += 1
                print('DIFF %s (metcd-specific expectation, etcd bug not copied): %s'
                      % (c.name, c.doc or ''))
                for p in probs:
                    print('  ' + p)
            if c.etcd_bug and name_a.startswith('etcd'):
                bp = c.etcd_bug(a)
                if bp:
                    print('NOTE %s: etcd no longer shows the bug: %s' % (c.name, '; '.join(bp)))
            continue
        lines = harness.compare_records(a, b, name_a, name_b)
        if lines:
            m += 1
            doc = (c.doc or '').strip().splitlines()[0] if c.doc else ''
            print('DIFF %s: %s' % (c.name, doc if len(doc) < 160 else doc[:160] + '...'))
            for ln in lines:
                print(ln)
    return n, m


def compare_live(started, cs, mbin, check_fixed, verbose, t0, tls=None, extra_args=(),
                 prepare=None):
    """Starts etcd and metcd (appended to started, for the caller to stop),
    calls prepare(server) on each when given, runs the cases on both and
    prints the comparison; the exit status."""
    e = servers.Server('etcd', servers.ETCD_BIN, tls=tls)
    started.append(e)
    e.start(extra_args=extra_args)
    mt = servers.Server('metcd', mbin, tls=tls)
    started.append(mt)
    try:
        mt.start(extra_args=extra_args)
    except servers.ServerError as ex:
        print('FAIL: %s' % ex)
        print('%d cases, %d differ' % (len(cs), len(cs)))
        return 1
    for s in (e, mt) if prepare else ():
        prepare(s)
    ra, rb = run_parallel([e, mt], cs)
    n, m = report(cs, ra, rb, 'etcd', 'metcd', check_fixed, verbose)
    if not mt.alive():
        print('metcd exited during the run (status %s):\n%s'
              % (mt.proc.returncode if mt.proc else '?', mt.log_tail()))
        m += 1
    print('(%.0fs)' % (time.monotonic() - t0))
    print('%d cases, %d differ' % (n, m))
    return 1 if m else 0


def main():
    ap = argparse.ArgumentParser()
    g = ap.add_mutually_exclusive_group()
    g.add_argument('--record', action='store_true')
    g.add_argument('--against-recorded', action='store_true')
    g.add_argument('--etcd-vs-recorded', action='store_true')
    g.add_argument('--etcd-vs-etcd', action='store_true')
    ap.add_argument('-k', action='append')
    ap.add_argument('-v', action='store_true')
    ap.add_argument('--list', action='store_true')
    ap.add_argument('--metcd-bin')
    args = ap.parse_args()
    cs = selected(args)
    if args.list:
        for c in cs:
            print('%-40s %-10s %s' % (c.name, c.group, (c.doc or '').strip().split('\n')[0]))
        print('%d cases' % len(cs))
        return 0
    have_etcd = os.path.exists(servers.ETCD_BIN)
    mbin = args.metcd_bin or servers.metcd_bin()
    started = []
    t0 = time.monotonic()
    try:
        if args.record or args.etcd_vs_recorded or args.etcd_vs_etcd:
            if not have_etcd:
                print('SKIP: etcd not installed (apt-get install etcd-server)')
                return SKIP
        mode = 'live'
        if args.record:
            mode = 'record'
        elif args.against_recorded:
            mode = 'recorded'
        elif args.etcd_vs_recorded:
            mode = 'etcd-recorded'
        elif args.etcd_vs_etcd:
            mode = 'etcd-etcd'
        elif not have_etcd:
            if not load_recorded():
                print('SKIP: etcd not installed (apt-get install etcd-server) '
                      'and no recorded answers in tests/diff/expected')
                return SKIP
            print('etcd not installed: comparing metcd with the recorded answers')
            mode = 'recorded'

        if mode in ('live', 'recorded') and (not mbin or not os.path.exists(mbin)):
            print('FAIL: metcd binary not found (set METCD_BIN)')
            return 1

        def start(kind, binary):
            s = servers.Server(kind, binary)
            started.append(s)
            s.start()
            return s

        if mode == 'record':
            e = start('etcd', servers.ETCD_BIN)
            (res,) = run_parallel([e], cs)
            write_recorded(cs, res)
            print('recorded %d cases in %s (%.0fs)' % (len(res), EXPECTED, time.monotonic() - t0))
            return 0
        if mode == 'etcd-etcd':
            e1 = start('etcd', servers.ETCD_BIN)
            e2 = start('etcd', servers.ETCD_BIN)
            ra, rb = run_parallel([e1, e2], cs)
            n, m = report(cs, ra, rb, 'etcd1', 'etcd2', False, args.v)
        elif mode == 'etcd-recorded':
            rec = load_recorded()
            e = start('etcd', servers.ETCD_BIN)
            (ra,) = run_parallel([e], cs)
            n, m = report(cs, rec, ra, 'recorded', 'etcd', False, args.v)
        elif mode == 'recorded':
            rec = load_recorded()
            try:
                mt = start('metcd', mbin)
            except servers.ServerError as ex:
                print('FAIL: %s' % ex)
                print('%d cases, %d differ' % (len(cs), len(cs)))
                return 1
            (rb,) = run_parallel([mt], cs)
            n, m = report(cs, rec, rb, 'etcd(recorded)', 'metcd', True, args.v)
        else:
            return compare_live(started, cs, mbin, True, args.v, t0)
        print('(%.0fs)' % (time.monotonic() - t0))
        print('%d cases, %d differ' % (n, m))
        return 1 if m else 0
    except servers.ServerError as ex:
        print('FAIL: %s' % ex)
        return 1
    finally:
        if servers.stop_all(started):
            return 1


if __name__ == '__main__':
    sys.exit(main())
