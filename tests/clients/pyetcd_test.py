#!/usr/bin/python3
"""python3-etcd (the v2 Python client) against metcd, step by step, compared
with the same steps against etcd 3.4.23. Run with /usr/bin/python3: the
pyenv python3 on PATH does not see Debian's python3-etcd.

Usage: pyetcd_test.py [--etcd-only] [-v] [STEP-SUBSTRING...]
Exit 0 all equal, 1 differences, 77 skip (no python3-etcd).
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client_common import expect, main, SKIP  # noqa: E402

try:
    import etcd
except ImportError:
    etcd = None


def client(c):
    return etcd.Client(host='127.0.0.1', port=c.port, protocol='http', read_timeout=10,
                       allow_reconnect=False)


def res(r, with_index=True):
    """The parts of an EtcdResult the tests compare. A watch's etcd_index is
    the index when the watch was registered, which depends on timing: leave it
    out there."""
    d = {'action': r.action, 'key': r.key, 'value': r.value, 'dir': r.dir,
         'createdIndex': r.createdIndex, 'modifiedIndex': r.modifiedIndex,
         'ttl': None if r.ttl is None else '<ttl>', 'expiration': r.expiration,
         'etcd_index': getattr(r, 'etcd_index', None) if with_index else '-'}
    if r.dir:
        d['children'] = sorted(ch.key for ch in r.leaves if ch.key != r.key) \
            if getattr(r, '_children', None) else []
    if getattr(r, '_prev_node', None) is not None:
        d['prev'] = {'key': r._prev_node.key, 'value': r._prev_node.value}
    return d


def exc(e):
    return {'exception': type(e).__name__, 'message': str(e)}


def attempt(fn, with_index=True):
    try:
        return res(fn(), with_index)
    except etcd.EtcdException as e:
        return exc(e)


def s_write_read(c):
    cl = client(c)
    out = [attempt(lambda: cl.write(c.K + '/k', 'hello')),
           attempt(lambda: cl.read(c.K + '/k'))]
    expect(out[1].get('value') == 'hello', 'read back %r' % out[1])
    return out


def s_set_get(c):
    cl = client(c)
    out = [attempt(lambda: cl.set(c.K + '/k', 'v')), attempt(lambda: cl.get(c.K + '/k'))]
    return out


def s_write_ttl(c):
    cl = client(c)
    out = [attempt(lambda: cl.write(c.K + '/k', 'v', ttl=100)), attempt(lambda: cl.read(c.K + '/k'))]
    expect(out[1].get('ttl') == '<ttl>', 'ttl missing: %r' % out[1])
    return out


def s_read_missing(c):
    cl = client(c)
    out = attempt(lambda: cl.read(c.K + '/nope'))
    expect(out.get('exception') == 'EtcdKeyNotFound', 'expected EtcdKeyNotFound: %r' % out)
    return out


def s_delete(c):
    cl = client(c)
    return [attempt(lambda: cl.write(c.K + '/k', 'v')), attempt(lambda: cl.delete(c.K + '/k')),
            attempt(lambda: cl.read(c.K + '/k')), attempt(lambda: cl.delete(c.K + '/k'))]


def s_test_and_set(c):
    cl = client(c)
    out = [attempt(lambda: cl.write(c.K + '/k', 'v1')),
           attempt(lambda: cl.test_and_set(c.K + '/k', 'v2', 'v1')),
           attempt(lambda: cl.test_and_set(c.K + '/k', 'v3', 'v1')),
           attempt(lambda: cl.write(c.K + '/k', 'v4', prevIndex=c.base + 2)),
           attempt(lambda: cl.write(c.K + '/k', 'v5', prevIndex=c.base + 100)),
           attempt(lambda: cl.read(c.K + '/k'))]
    expect(out[2].get('exception') == 'EtcdCompareFailed', 'CAS should fail: %r' % out[2])
    return out


def s_lock_create(c):
    """Lock-style create: prevExist=False."""
    cl = client(c)
    out = [attempt(lambda: cl.write(c.K + '/lock', 'me', prevExist=False, ttl=30)),
           attempt(lambda: cl.write(c.K + '/lock', 'you', prevExist=False, ttl=30)),
           attempt(lambda: cl.delete(c.K + '/lock', prevValue='you')),
           attempt(lambda: cl.delete(c.K + '/lock', prevValue='me')),
           attempt(lambda: cl.write(c.K + '/lock', 'you', prevExist=False))]
    expect(out[1].get('exception') == 'EtcdAlreadyExist', 'second create: %r' % out[1])
    return out


def s_update_prevexist(c):
    cl = client(c)
    out = [attempt(lambda: cl.write(c.K + '/k', 'v', prevExist=True)),
           attempt(lambda: cl.write(c.K + '/k', 'v')),
           attempt(lambda: cl.write(c.K + '/k', 'v2', prevExist=True))]
    r = cl.read(c.K + '/k')
    r.value = 'v3'
    out.append(attempt(lambda: cl.update(r)))
    return out


def s_dirs(c):
    cl = client(c)
    return [attempt(lambda: cl.write(c.K + '/d', None, dir=True)),
            attempt(lambda: cl.write(c.K + '/d/a', '1')),
            attempt(lambda: cl.write(c.K + '/d/b/c', '2')),
            attempt(lambda: cl.read(c.K + '/d', recursive=True)),
            attempt(lambda: cl.read(c.K + '/d', recursive=True, sorted=True)),
            attempt(lambda: cl.delete(c.K + '/d')),
            attempt(lambda: cl.delete(c.K + '/d', dir=True)),
            attempt(lambda: cl.delete(c.K + '/d', recursive=True)),
            attempt(lambda: cl.read(c.K + '/d'))]


def s_append(c):
    cl = client(c)
    out = [attempt(lambda: cl.write(c.K + '/q', 'job1', append=True)),
           attempt(lambda: cl.write(c.K + '/q', 'job2', append=True)),
           attempt(lambda: cl.read(c.K + '/q', sorted=True))]
    r = attempt(lambda: cl.pop(c.K + '/q/%020d' % (c.base + 1)))
    out.append(r)
    return out


def s_watch(c):
    """client.watch blocks until the next change; a thread writes."""
    cl = client(c)
    cl.write(c.K + '/k', 'v0')
    box = {}

    def w():
        try:
            box['r'] = res(cl.watch(c.K + '/k', timeout=8), False)
        except etcd.EtcdException as e:
            box['r'] = exc(e)
    t = threading.Thread(target=w, daemon=True)
    t.start()
    time.sleep(0.5)
    client(c).write(c.K + '/k', 'v1')
    t.join(10)
    expect('r' in box and box['r'].get('value') == 'v1', 'watch result %r' % box.get('r'))
    return box.get('r')


def s_watch_index(c):
    cl = client(c)
    cl.write(c.K + '/k', 'a')
    cl.write(c.K + '/k', 'b')
    return [attempt(lambda: cl.watch(c.K + '/k', index=c.base + 1, timeout=5), False),
            attempt(lambda: cl.watch(c.K + '/k', index=c.base + 2, timeout=5), False),
            attempt(lambda: cl.read(c.K + '/k', wait=True, waitIndex=c.base + 2, timeout=5),
                    False)]


def s_watch_recursive(c):
    cl = client(c)
    cl.write(c.K + '/d/x', '1')
    cl.write(c.K + '/d/y/z', '2')
    return attempt(lambda: cl.watch(c.K + '/d', index=c.base + 2, recursive=True, timeout=5),
                   False)


def s_watch_timeout(c):
    """A watch with no event times out on the client side."""
    cl = client(c)
    cl.write(c.K + '/k', 'a')
    t0 = time.monotonic()
    try:
        cl.watch(c.K + '/k', timeout=1)
        out = 'no timeout'
    except etcd.EtcdWatchTimedOut as e:
        out = type(e).__name__
    except etcd.EtcdException as e:
        out = exc(e)
    expect(time.monotonic() - t0 < 5, 'watch timeout not honoured')
    return out


def s_eternal_watch(c):
    cl = client(c)
    cl.write(c.K + '/k', 'a')
    got = []

    def w():
        for r in cl.eternal_watch(c.K + '/k', index=c.base + 1):
            got.append(res(r, False))
            if len(got) == 3:
                return
    t = threading.Thread(target=w, daemon=True)
    t.start()
    cl2 = client(c)
    cl2.write(c.K + '/k', 'b')
    cl2.write(c.K + '/k', 'c')
    t.join(8)
    return got


def s_refresh(c):
    cl = client(c)
    return [attempt(lambda: cl.write(c.K + '/k', 'v', ttl=100)),
            attempt(lambda: cl.refresh(c.K + '/k', ttl=200)),
            attempt(lambda: cl.read(c.K + '/k')),
            attempt(lambda: cl.refresh(c.K + '/nope', ttl=200))]


def s_errors(c):
    cl = client(c)
    cl.write(c.K + '/f', 'v')
    return [attempt(lambda: cl.write(c.K + '/f/x', 'v')),
            attempt(lambda: cl.write(c.K + '/f', 'v', ttl='abc')),
            attempt(lambda: cl.write(c.K, 'v')),
            attempt(lambda: cl.delete('/')),
            attempt(lambda: cl.write(c.K + '/f', 'v', prevValue=''))]


def s_ttl_expire(c):
    cl = client(c)
    a = attempt(lambda: cl.write(c.K + '/k', 'v', ttl=1))
    time.sleep(2.2)
    return [a, attempt(lambda: cl.read(c.K + '/k'))]


def s_cluster_info(c):
    cl = client(c)
    out = {}
    ms = cl.members
    out['members'] = sorted(
        (m['name'], sorted(m['peerURLs']), sorted(m['clientURLs'])) for m in ms.values())
    out['leader'] = {k: cl.leader[k] for k in ('name', 'peerURLs', 'clientURLs')}
    out['machines'] = cl.machines
    out['version'] = cl.version
    out['cluster_version'] = cl.cluster_version
    out['store_stats_keys'] = sorted(cl.store_stats.keys())
    out['leader_stats_keys'] = sorted(cl.leader_stats.keys())
    out['stats_keys'] = sorted(cl.stats.keys())
    return out


def s_lock_object(c):
    """etcd.Lock (in-order keys + watch) acquire/release."""
    cl = client(c)
    lk = etcd.Lock(cl, c.K[1:] + '-lock')
    ok = lk.acquire(blocking=True, lock_ttl=30, timeout=5)
    held = lk.is_acquired
    lk2 = etcd.Lock(client(c), c.K[1:] + '-lock')
    other = lk2.acquire(blocking=False, lock_ttl=30)
    lk.release()
    after = lk.is_acquired
    other2 = lk2.acquire(blocking=True, lock_ttl=30, timeout=5)
    lk2.release()
    cl.delete('/_locks/' + c.K[1:] + '-lock', recursive=True, dir=True)
    return {'acquired': ok, 'held': held, 'second_nonblocking': other, 'after_release': after,
            'second_after': other2}


def s_quorum_read(c):
    cl = client(c)
    cl.write(c.K + '/k', 'q')
    return [attempt(lambda: cl.read(c.K + '/k', quorum=True)),
            attempt(lambda: cl.get(c.K + '/nope'))]


def s_write_refresh(c):
    cl = client(c)
    return [attempt(lambda: cl.write(c.K + '/k', 'v', ttl=100)),
            attempt(lambda: cl.write(c.K + '/k', None, ttl=50, refresh=True, prevExist=True)),
            attempt(lambda: cl.read(c.K + '/k'))]


def s_unicode(c):
    cl = client(c)
    return [attempt(lambda: cl.write(c.K + '/cl\u00e9', 'v\u00e9<&>\u2028')),
            attempt(lambda: cl.read(c.K, recursive=True))]


def s_reconnect_client(c):
    """A client that discovers the cluster (allow_reconnect) at start."""
    cl = etcd.Client(host=(('127.0.0.1', c.port),), protocol='http', allow_reconnect=True,
                     read_timeout=5)
    return [sorted(cl.machines), attempt(lambda: cl.write(c.K + '/k', 'v')),
            attempt(lambda: cl.read(c.K + '/k'))]


STEPS = [(f.__name__[2:], f) for f in [
    s_reconnect_client, s_quorum_read, s_write_refresh, s_unicode,
    s_write_read, s_set_get, s_write_ttl, s_read_missing, s_delete, s_test_and_set, s_lock_create,
    s_update_prevexist, s_dirs, s_append, s_watch, s_watch_index, s_watch_recursive,
    s_watch_timeout, s_eternal_watch, s_refresh, s_errors, s_ttl_expire, s_cluster_info,
    s_lock_object]]

if __name__ == '__main__':
    if etcd is None:
        print('SKIP: python3-etcd not installed for %s (apt-get install python3-etcd; '
              'run with /usr/bin/python3)' % sys.executable)
        sys.exit(SKIP)
    sys.exit(main('python3-etcd', STEPS, sys.argv))
