#!/usr/bin/python3
"""The real v2 CLI (`ETCDCTL_API=2 etcdctl`) against metcd, step by step,
compared with the same steps against etcd 3.4.23.

Usage: etcdctl_test.py [--etcd-only] [STEP-SUBSTRING...]
Exit 0 all equal, 1 differences, 77 skip (no etcdctl).
"""

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client_common import expect, main, wait_pipe_line, stop_proc, SKIP  # noqa: E402

ETCDCTL = shutil.which('etcdctl') or '/usr/bin/etcdctl'


def ctl(c, *args, timeout=10):
    """Run etcdctl; returns 'rc=N\\n<stdout><stderr>'."""
    env = dict(os.environ, ETCDCTL_API='2')
    for k in list(env):
        if k.startswith('ETCDCTL_') and k != 'ETCDCTL_API':
            del env[k]
    p = subprocess.run([ETCDCTL, '--endpoints', c.url] + list(args), env=env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return 'rc=%d\n%s%s' % (p.returncode, p.stdout.decode('utf-8', 'replace'),
                            p.stderr.decode('utf-8', 'replace'))


def run(c, *cmds):
    """Run commands; '{b+N}' in an argument is the store index before the
    step plus N (the printed command keeps the template)."""
    import re
    out = []
    for cmd in cmds:
        real = [re.sub(r'\{b\+(\d+)\}', lambda m: str(c.base + int(m.group(1))), a) for a in cmd]
        out.append('$ etcdctl %s\n%s' % (' '.join(cmd), ctl(c, *real)))
    return '\n'.join(out)


def s_set_get(c):
    o = run(c, ['set', c.K + '/k', 'hello'], ['get', c.K + '/k'])
    expect(o.count('rc=0\nhello\n') == 2, 'set/get did not echo the value: ' + o)
    return o


def s_set_ttl_extended(c):
    return run(c, ['set', '--ttl', '100', c.K + '/k', 'v'], ['-o', 'extended', 'get', c.K + '/k'])


def s_get_json(c):
    return run(c, ['set', c.K + '/k', 'v'], ['-o', 'json', 'get', c.K + '/k'])


def s_get_missing(c):
    o = run(c, ['get', c.K + '/nope'])
    expect('100' in o, 'missing key should be error 100: ' + o)
    return o


def s_mk(c):
    o = run(c, ['mk', c.K + '/m', 'v'], ['mk', c.K + '/m', 'v2'], ['get', c.K + '/m'])
    expect('105' in o, 'second mk should fail with 105: ' + o)
    return o


def s_mk_in_order(c):
    return run(c, ['mk', '--in-order', c.K + '/q', 'job1'], ['mk', '--in-order', c.K + '/q', 'job2'],
               ['ls', '--sort', c.K + '/q'])


def s_mkdir(c):
    return run(c, ['mkdir', c.K + '/d'], ['mkdir', c.K + '/d'], ['ls', c.K],
               ['mkdir', '--ttl', '100', c.K + '/t'], ['-o', 'extended', 'get', c.K + '/t'])


def s_setdir_updatedir(c):
    return run(c, ['setdir', c.K + '/d'], ['updatedir', '--ttl', '100', c.K + '/d'],
               ['updatedir', '--ttl', '100', c.K + '/nope'])


def s_rm(c):
    o = run(c, ['set', c.K + '/k', 'v'], ['rm', c.K + '/k'], ['get', c.K + '/k'], ['rm', c.K + '/k'])
    return o


def s_rm_with_value(c):
    return run(c, ['set', c.K + '/k', 'v'], ['rm', '--with-value', 'x', c.K + '/k'],
               ['rm', '--with-value', 'v', c.K + '/k'])


def s_rm_with_index(c):
    return run(c, ['set', c.K + '/k', 'v'], ['rm', '--with-index', '{b+100}', c.K + '/k'],
               ['rm', '--with-index', '{b+1}', c.K + '/k'])


def s_rmdir(c):
    return run(c, ['mkdir', c.K + '/d'], ['set', c.K + '/e/x', '1'], ['rmdir', c.K + '/d'],
               ['rmdir', c.K + '/e'], ['ls', '--sort', c.K])


def s_rm_recursive(c):
    return run(c, ['set', c.K + '/d/a', '1'], ['set', c.K + '/d/b/c', '2'],
               ['rm', c.K + '/d'], ['rm', '--recursive', c.K + '/d'], ['ls', c.K])


def s_ls_recursive(c):
    o = run(c, ['set', c.K + '/d/a', '1'], ['set', c.K + '/d/b/c', '2'], ['set', c.K + '/d/_h', '3'],
            ['ls', '--recursive', '--sort', c.K], ['ls', '--sort', '-p', c.K + '/d'],
            ['ls', '--recursive', '--sort', '-p', c.K])
    expect(c.K + '/d/b/c' in o, 'recursive ls misses /d/b/c: ' + o)
    expect('_h' not in o.split('$ etcdctl ls')[1], 'ls shows a hidden key: ' + o)
    return o


def s_ls_missing(c):
    return run(c, ['ls', c.K + '/nope'])


def s_get_dir(c):
    return run(c, ['mkdir', c.K + '/d'], ['get', c.K + '/d'])


def s_update(c):
    return run(c, ['update', c.K + '/k', 'v'], ['set', c.K + '/k', 'v1'],
               ['update', c.K + '/k', 'v2'], ['get', c.K + '/k'],
               ['update', '--ttl', '100', c.K + '/k', 'v3'], ['-o', 'extended', 'get', c.K + '/k'])


def s_swap(c):
    return run(c, ['set', c.K + '/k', 'v1'], ['set', '--swap-with-value', 'v1', c.K + '/k', 'v2'],
               ['set', '--swap-with-value', 'zz', c.K + '/k', 'v3'],
               ['set', '--swap-with-index', '{b+2}', c.K + '/k', 'v4'],
               ['set', '--swap-with-index', '{b+100}', c.K + '/k', 'v5'], ['get', c.K + '/k'])


def s_json_output(c):
    return run(c, ['-o', 'json', 'set', c.K + '/k', 'v'], ['-o', 'json', 'mk', c.K + '/k', 'v'],
               ['-o', 'json', 'rm', c.K + '/k'])


def s_watch(c):
    """watch exits after the first event; bounded by a timeout."""
    env = dict(os.environ, ETCDCTL_API='2')
    p = subprocess.Popen([ETCDCTL, '--endpoints', c.url, 'watch', '--after-index',
                          str(c.base), c.K + '/k'], env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        set_out = ctl(c, 'set', c.K + '/k', 'watched')
        out, _ = p.communicate(timeout=10)
        o = 'set: %s\nwatch rc=%d\n%s' % (set_out, p.returncode, out.decode())
    finally:
        stop_proc(p)
    expect('watched' in o.split('watch rc')[1], 'watch did not print the value: ' + o)
    return o


def s_watch_recursive(c):
    env = dict(os.environ, ETCDCTL_API='2')
    p = subprocess.Popen([ETCDCTL, '--endpoints', c.url, 'watch', '--recursive', '--after-index',
                          str(c.base), c.K + '/d'], env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        ctl(c, 'set', c.K + '/d/x/y', 'deep')
        out, _ = p.communicate(timeout=10)
        o = 'watch rc=%d\n%s' % (p.returncode, out.decode())
    finally:
        stop_proc(p)
    return o


def s_watch_forever(c):
    """watch --forever prints every event; read two, then stop it."""
    env = dict(os.environ, ETCDCTL_API='2')
    p = subprocess.Popen([ETCDCTL, '--endpoints', c.url, 'watch', '--forever', '--after-index',
                          str(c.base), c.K + '/k'], env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = []
    try:
        ctl(c, 'set', c.K + '/k', 'one')
        lines.append(wait_pipe_line(p, 5))
        ctl(c, 'set', c.K + '/k', 'two')
        lines.append(wait_pipe_line(p, 5))
    finally:
        stop_proc(p)
    expect(lines == ['one', 'two'], 'watch --forever lines: %r' % lines)
    return lines


def s_exec_watch(c):
    """exec-watch runs a command per event with ETCD_WATCH_* set."""
    env = dict(os.environ, ETCDCTL_API='2')
    # etcdctl v2 takes the key as the LAST argument once flags are given
    p = subprocess.Popen([ETCDCTL, '--endpoints', c.url, 'exec-watch', '--after-index',
                          str(c.base), 'sh', '-c',
                          'echo "$ETCD_WATCH_ACTION $ETCD_WATCH_KEY $ETCD_WATCH_VALUE '
                          'Index: $ETCD_WATCH_MODIFIED_INDEX"', c.K + '/k'],
                         env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    lines = []
    try:
        ctl(c, 'set', c.K + '/k', 'ex1')
        lines.append(wait_pipe_line(p, 5))
    finally:
        stop_proc(p)
    expect(lines[0] and 'ex1' in lines[0], 'exec-watch output: %r' % lines)
    return ['%s' % l for l in lines]


def s_member_list(c):
    o = run(c, ['member', 'list'])
    expect('isLeader=true' in o, 'member list: ' + o)
    return o


def s_cluster_health(c):
    o = run(c, ['cluster-health'])
    expect('cluster is healthy' in o, 'cluster-health: ' + o)
    return o


def s_ttl_expire(c):
    import time
    o = run(c, ['set', '--ttl', '1', c.K + '/k', 'v'])
    time.sleep(2.2)
    return o + '\n' + run(c, ['get', c.K + '/k'])


def s_quorum_reads(c):
    return run(c, ['set', c.K + '/d/a', '1'], ['get', '--quorum', c.K + '/d/a'],
               ['ls', '--quorum', '--recursive', c.K])


def s_dash_value(c):
    return run(c, ['set', '--', c.K + '/k', '-dash'], ['get', c.K + '/k'])


def s_rmdir_missing(c):
    return run(c, ['rmdir', c.K + '/nope'], ['rm', '--dir', c.K + '/nope'])


def s_watch_forever_recursive(c):
    env = dict(os.environ, ETCDCTL_API='2')
    p = subprocess.Popen([ETCDCTL, '--endpoints', c.url, 'watch', '--forever', '--recursive',
                          '--after-index', str(c.base), c.K], env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = []
    try:
        ctl(c, 'set', c.K + '/a', 'one')
        lines.append(wait_pipe_line(p, 5))
        lines.append(wait_pipe_line(p, 5))
        ctl(c, 'rm', c.K + '/a')
        lines.append(wait_pipe_line(p, 5))
        lines.append(wait_pipe_line(p, 5))
    finally:
        stop_proc(p)
    return lines


STEPS = [(f.__name__[2:], f) for f in [
    s_quorum_reads, s_dash_value, s_rmdir_missing, s_watch_forever_recursive,
    s_set_get, s_set_ttl_extended, s_get_json, s_get_missing, s_mk, s_mk_in_order, s_mkdir,
    s_setdir_updatedir, s_rm, s_rm_with_value, s_rm_with_index, s_rmdir, s_rm_recursive,
    s_ls_recursive, s_ls_missing, s_get_dir, s_update, s_swap, s_json_output, s_watch,
    s_watch_recursive, s_watch_forever, s_exec_watch, s_member_list, s_cluster_health,
    s_ttl_expire]]

if __name__ == '__main__':
    if not os.path.exists(ETCDCTL):
        print('SKIP: etcdctl not installed (apt-get install etcd-client)')
        sys.exit(SKIP)
    sys.exit(main('etcdctl', STEPS, sys.argv))
