"""Differential test of v2 auth: metcd against the real etcd 3.4.23.

Both servers start fresh (with a small --snapshot-count, so that the
restart scenario recovers from a snapshot) and run the same scenarios in
order: users, roles, grants and revokes with auth off, then auth enabled
with every kind of denial, then a restart. Each scenario leaves auth
disabled and no users or roles behind. Responses are normalised and
compared as in diff_test.py (indexes relative to the index before each
scenario).

With --tls both servers serve their client URL over https with
--cert-file, --key-file, --trusted-ca-file and --client-cert-auth
(certificates made in the test by tests/lib/certs.py); every scenario runs
over TLS with a client certificate whose common name names no user, and the
scenarios on certificates run too: a common name that names a user and no
Authorization header (etcd takes the user from the certificate), a common
name naming no user, a certificate together with a basic-auth header, root
by certificate, and handshakes without a certificate or with one from
another CA.

Usage: auth_diff.py [-k SUBSTR] [-v] [--tls] [--metcd-bin PATH]
Exit status 0 when nothing differs, 1 otherwise, 77 when etcd is missing.
"""

import argparse
import base64
import contextlib
import json
import os
import ssl
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402
import servers  # noqa: E402
from diff_test import compare_live  # noqa: E402

sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import certs as certs_mod  # noqa: E402

CASES = []
TLS_CASES = []  # run with --tls only
# --tls: client contexts by certificate common name ('' for none, 'stranger'
# for a certificate from a CA the servers do not trust).
CLIENT_TLS = {}
JSON = [('Content-Type', 'application/json')]
FORM = [('Content-Type', 'application/x-www-form-urlencoded')]


def case(fn):
    CASES.append(harness.Case(fn.__name__, fn, 'auth', 1, None, None, fn.__doc__))
    return fn


def tls_case(fn):
    TLS_CASES.append(harness.Case(fn.__name__, fn, 'auth-tls', 1, None, None, fn.__doc__))
    return fn


@contextlib.contextmanager
def cert(c, cn):
    """The requests (and watches) inside present the certificate for cn."""
    c.tls = CLIENT_TLS[cn]
    try:
        yield
    finally:
        c.tls = None


def basic(user, pw):
    tok = base64.b64encode(('%s:%s' % (user, pw)).encode()).decode()
    return [('Authorization', 'Basic ' + tok)]


ROOT = basic('root', 'rootpw')


def put_json(c, target, obj, auth=None, label=None):
    body = obj if isinstance(obj, (bytes, str)) else json.dumps(obj)
    if isinstance(body, str):
        body = body.encode()
    return c.req('PUT', target, body, JSON + (auth or []), label=label)


def cleanup(c, users=(), roles=()):
    """Leave auth off with no users or roles (recorded: it is compared too)."""
    c.req('DELETE', '/v2/auth/enable', None, ROOT)
    for u in users:
        c.req('DELETE', '/v2/auth/users/' + u, None, ROOT)
    for r in roles:
        c.req('DELETE', '/v2/auth/roles/' + r, None, ROOT)
    c.req('GET', '/v2/auth/users')
    c.req('GET', '/v2/auth/roles')


@case
def auth_off_reads(c):
    """Auth off: reads, methods, paths and bad bodies."""
    for t in ('/v2/auth/enable', '/v2/auth/users', '/v2/auth/users/', '/v2/auth/roles',
              '/v2/auth/roles/', '/v2/auth/roles/root', '/v2/auth/roles/guest',
              '/v2/auth/users/root', '/v2/auth/users/a/b', '/v2/auth/roles/a/b/',
              '/v2/auth/enable/', '/v2/auth/usersx', '/v2/auth/x', '/v2/auth'):
        c.req('GET', t)
    for m in ('POST', 'HEAD', 'PATCH'):
        c.req(m, '/v2/auth/users')
        c.req(m, '/v2/auth/users/u')
        c.req(m, '/v2/auth/enable')
    c.req('PUT', '/v2/auth/roles')
    c.req('DELETE', '/v2/auth/users')
    put_json(c, '/v2/auth/users/u', b'')
    put_json(c, '/v2/auth/users/u', b'{"user":')
    put_json(c, '/v2/auth/users/u', b'[1]')
    put_json(c, '/v2/auth/users/u', b'null')
    put_json(c, '/v2/auth/users/u', {'user': 'v', 'password': 'p'})
    put_json(c, '/v2/auth/users/u', {'user': 1})
    put_json(c, '/v2/auth/users/u', {'user': 'u', 'roles': 'r'})
    put_json(c, '/v2/auth/users/u', {'user': 'u'})
    put_json(c, '/v2/auth/users/u', {'user': 'u', 'password': ''})
    put_json(c, '/v2/auth/users/u', {'user': 'u', 'roles': ['r'], 'grant': ['x']})
    put_json(c, '/v2/auth/users/u', {'user': 'u', 'grant': ['x']})
    put_json(c, '/v2/auth/roles/r', b'{')
    put_json(c, '/v2/auth/roles/r', {'role': 'q'})
    put_json(c, '/v2/auth/roles/r', {'role': 'r', 'permissions': {'kv': {'read': 5}}})
    put_json(c, '/v2/auth/roles/root', {'role': 'root'})
    put_json(c, '/v2/auth/roles/root', {'role': 'root', 'grant': {'kv': {'read': ['/a']}}})
    put_json(c, '/v2/auth/roles/r', {'role': 'r', 'grant': {'kv': {'read': ['/a']}}})
    c.req('DELETE', '/v2/auth/roles/root')
    c.req('DELETE', '/v2/auth/roles/nope')
    c.req('DELETE', '/v2/auth/users/nope')
    c.req('PUT', '/v2/auth/enable')
    c.req('DELETE', '/v2/auth/enable')
    c.req('GET', '{P}/k')


@case
def auth_roles(c):
    """Roles: create, grant, revoke, duplicates, not updated, both fields."""
    put_json(c, '/v2/auth/roles/r1', {'role': 'r1'})
    c.req('PUT', '{P}/after-role', b'value=1', FORM)
    put_json(c, '/v2/auth/roles/r1', {'role': 'r1'})
    put_json(c, '/v2/auth/roles/r1', {'role': 'r1', 'revoke': {'kv': {'read': ['/nope']}}})
    put_json(c, '/v2/auth/roles/r1', {'role': 'r1', 'revoke': {'kv': {'read': ['/nope']}}})
    put_json(c, '/v2/auth/roles/r1',
             {'role': 'r1', 'grant': {'kv': {'read': ['/foo/*', '/bar', '/bar'],
                                            'write': ['/foo/*']}}})
    put_json(c, '/v2/auth/roles/r1',
             {'role': 'r1', 'grant': {'kv': {'read': ['/z', '/a'], 'write': ['/w']}}})
    put_json(c, '/v2/auth/roles/r1', {'role': 'r1', 'grant': {'kv': {'write': ['/w']}}})
    put_json(c, '/v2/auth/roles/r1', {'role': 'r1', 'grant': {'kv': {'read': ['/n', '/n']}}})
    put_json(c, '/v2/auth/roles/r1',
             {'role': 'r1', 'grant': {'kv': {'read': ['/n2', '/z'], 'write': ['/w']}}})
    put_json(c, '/v2/auth/roles/r1', {'role': 'r1', 'revoke': {'kv': {'write': ['/w', '/w']}}})
    put_json(c, '/v2/auth/roles/r1', {'role': 'r1', 'grant': {'kv': {'read': ['/a']}}})
    put_json(c, '/v2/auth/roles/r1',
             {'role': 'r1', 'grant': {'kv': {'read': ['/q']}}, 'revoke': {'kv': {'read': ['/q']}}})
    put_json(c, '/v2/auth/roles/r1', {'role': 'r1', 'revoke': {'kv': {'read': ['/bar']}}})
    put_json(c, '/v2/auth/roles/r1', {'role': 'r1', 'revoke': {'kv': {'read': ['/bar']}}})
    put_json(c, '/v2/auth/roles/r1', {'role': 'r1', 'permissions': {'kv': {'read': ['/x']}},
                                      'grant': {'kv': {'read': ['/y']}}})
    put_json(c, '/v2/auth/roles/nope', {'role': 'nope', 'grant': {'kv': {'read': ['/y']}}})
    put_json(c, '/v2/auth/roles/r2', {'role': 'r2', 'permissions': {'kv': {'read': ['/x']}}})
    put_json(c, '/v2/auth/roles/r3', {'ROLE': 'r3', 'Permissions': {'KV': {'Write': ['/w*']}},
                                      'grant': {'kv': {}}, 'extra': 1})
    put_json(c, '/v2/auth/roles/r3', {'role': 'r3', 'grant': {'kv': {'read': ['/r']}}})
    put_json(c, '/v2/auth/roles/_hidden', {'role': '_hidden'})
    put_json(c, '/v2/auth/roles/%3Cx%26y%3E', {'role': '<x&y>'})
    c.req('GET', '/v2/auth/roles/r1')
    c.req('GET', '/v2/auth/roles/r3')
    c.req('GET', '/v2/auth/roles/%3Cx%26y%3E')
    c.req('GET', '/v2/auth/roles')
    c.req('PUT', '{P}/after-roles', b'value=1', FORM)
    c.req('GET', '{P}/after-roles')
    c.req('GET', '/v2/keys/?recursive=true&sorted=true')
    cleanup(c, roles=('r1', 'r2', 'r3', '_hidden', '%3Cx%26y%3E'))


@case
def auth_users(c):
    """Users: create (201 and 200), password updates, grants, revokes, lists."""
    put_json(c, '/v2/auth/roles/r1', {'role': 'r1', 'permissions': {'kv': {'read': ['/a']}}})
    put_json(c, '/v2/auth/users/u1', {'user': 'u1', 'password': 'p1'})
    c.req('PUT', '{P}/after-user', b'value=1', FORM)
    put_json(c, '/v2/auth/users/u1', {'user': 'u1', 'password': 'p1'})
    put_json(c, '/v2/auth/users/u1', {'user': 'u1'})
    put_json(c, '/v2/auth/users/u1', {'user': 'u1'})
    put_json(c, '/v2/auth/users/u1', {'user': 'u1', 'grant': ['r1']})
    put_json(c, '/v2/auth/users/u1', {'user': 'u1', 'grant': ['r1']})
    put_json(c, '/v2/auth/users/u1', {'user': 'u1', 'grant': ['zz', 'missing']})
    c.req('GET', '/v2/auth/users/u1')
    c.req('GET', '/v2/auth/users')
    put_json(c, '/v2/auth/users/u1', {'user': 'u1', 'grant': ['q', 'q']})
    put_json(c, '/v2/auth/users/u1', {'user': 'u1', 'grant': ['new', 'r1', 'zz']})
    put_json(c, '/v2/auth/users/u1', {'user': 'u1', 'revoke': ['missing', 'missing']})
    put_json(c, '/v2/auth/users/u1', {'user': 'u1', 'grant': ['b'], 'revoke': ['b', 'nope']})
    put_json(c, '/v2/auth/users/u1', {'user': 'u1', 'revoke': ['missing', 'zz']})
    put_json(c, '/v2/auth/users/u1', {'user': 'u1', 'revoke': ['nope']})
    put_json(c, '/v2/auth/users/u1', {'user': 'u1', 'grant': ['x'], 'revoke': ['x']})
    put_json(c, '/v2/auth/users/u1', {'user': 'u1', 'roles': ['r1'], 'password': 'p'})
    put_json(c, '/v2/auth/users/u2', {'user': 'u2', 'roles': ['r1', 'r1', 'ghost'],
                                      'password': 'p2'})
    put_json(c, '/v2/auth/users/u2', {'user': 'u2', 'roles': ['r1'], 'password': 'p2'})
    put_json(c, '/v2/auth/users/u3', {'user': 'u3', 'roles': ['r1']})
    put_json(c, '/v2/auth/users/u4', {'user': 'u4', 'grant': ['r1']})
    put_json(c, '/v2/auth/users/root', {'user': 'root', 'password': 'rootpw'})
    put_json(c, '/v2/auth/users/root', {'user': 'root', 'revoke': ['root']})
    put_json(c, '/v2/auth/users/root', {'user': 'root', 'grant': ['r1']})
    put_json(c, '/v2/auth/users/_u', {'user': '_u', 'password': 'p'})
    put_json(c, '/v2/auth/users/%C3%A9%3C', {'user': '\u00e9<', 'password': 'p'})
    c.req('GET', '/v2/auth/users/u2')
    c.req('GET', '/v2/auth/users/root')
    c.req('GET', '/v2/auth/users/_u')
    c.req('GET', '/v2/auth/users')
    c.req('DELETE', '/v2/auth/users/u1')
    c.req('DELETE', '/v2/auth/users/u1')
    c.req('GET', '/v2/auth/users/u1')
    c.req('PUT', '{P}/after-users', b'value=1', FORM)
    cleanup(c, users=('u2', 'root', '_u', '%C3%A9%3C'), roles=('r1',))


def setup_enabled(c):
    put_json(c, '/v2/auth/users/root', {'user': 'root', 'password': 'rootpw'})
    c.req('PUT', '/v2/auth/enable')
    put_json(c, '/v2/auth/roles/rw', {'role': 'rw', 'permissions': {'kv': {
        'read': ['/auth_enabled/r/*', '/auth_enabled/exact', '/auth_enabled/d*'],
        'write': ['/auth_enabled/w/*', '/auth_enabled/d*']}}}, ROOT)
    put_json(c, '/v2/auth/users/alice', {'user': 'alice', 'password': 'apw', 'roles': ['rw']},
             ROOT)
    put_json(c, '/v2/auth/users/bob', {'user': 'bob', 'password': 'bpw'}, ROOT)


@case
def auth_enable(c):
    """Enabling: no root user, root user, twice, disabling, credentials."""
    c.req('PUT', '/v2/auth/enable')
    put_json(c, '/v2/auth/users/root', {'user': 'root', 'password': 'rootpw'})
    c.req('PUT', '/v2/auth/enable')
    c.req('GET', '/v2/auth/enable')
    c.req('GET', '/v2/auth/roles/guest', None, ROOT)
    c.req('PUT', '/v2/auth/enable', None, ROOT)
    c.req('PUT', '/v2/auth/enable')
    c.req('GET', '/v2/auth/users')
    c.req('GET', '/v2/auth/users', None, basic('root', 'wrong'))
    c.req('GET', '/v2/auth/users', None, basic('nobody', 'x'))
    c.req('GET', '/v2/auth/users', None, ROOT)
    c.req('DELETE', '/v2/auth/users/root', None, ROOT)
    c.req('DELETE', '/v2/auth/users/nope', None, ROOT)
    put_json(c, '/v2/auth/users/bob', {'user': 'bob', 'password': 'bpw'}, ROOT)
    c.req('GET', '/v2/auth/users', None, basic('bob', 'bpw'))
    c.req('DELETE', '/v2/auth/enable', None, basic('bob', 'bpw'))
    c.req('POST', '/v2/auth/users', None, ROOT)
    c.req('GET', '/v2/auth/enable', None, basic('bob', 'wrong'))
    c.req('DELETE', '/v2/auth/enable', None, ROOT)
    c.req('DELETE', '/v2/auth/enable', None, ROOT)
    c.req('GET', '/v2/auth/users')
    c.req('PUT', '/v2/auth/enable')
    c.req('GET', '/v2/auth/roles/guest', None, ROOT)
    cleanup(c, users=('bob', 'root'), roles=('guest',))


@case
def auth_headers(c):
    """Authorization headers Go reads, and those it does not."""
    setup_enabled(c)
    c.req('PUT', '/v2/keys/auth_headers/k', b'value=1', FORM + ROOT)
    b64 = base64.b64encode(b'root:rootpw').decode()
    for h in ('Basic ' + b64, 'basic ' + b64, 'BASIC ' + b64, 'Basic  ' + b64, 'Basic ' + b64 + ' ',
              'Bearer ' + b64, 'Basic', 'Basic ', 'Basic ' + b64[:-1], 'Basic ####',
              'Basic ' + base64.b64encode(b'rootrootpw').decode(),
              'Basic ' + base64.b64encode(b'root:rootpw:x').decode(),
              'Basic ' + base64.b64encode(b'nobody:').decode(), b64):
        # (an empty user name makes etcd 3.4.23 panic and drop the
        # connection; metcd refuses it: tests/api/test_auth.py)
        c.req('GET', '/v2/keys/auth_headers/k', None, [('Authorization', h)], label='GET k %r' % h)
    c.req('GET', '/v2/keys/auth_headers/k', None, [('Authorization', '')], label='empty header')
    c.req('DELETE', '/v2/keys/auth_headers?recursive=true', None, ROOT)
    cleanup(c, users=('alice', 'bob', 'root'), roles=('rw', 'guest'))


@case
def auth_enabled(c):
    """Auth on: guest, users, roles, reads, writes, recursion, watches, members."""
    setup_enabled(c)
    A = basic('alice', 'apw')
    B = basic('bob', 'bpw')
    for k in ('r/x', 'w/x', 'exact', 'd/x', 'other'):
        c.req('PUT', '{P}/%s' % k, b'value=v', FORM + ROOT)
    # guest: read and write "/*" until revoked
    c.req('GET', '{P}/other')
    c.req('GET', '/v2/keys')
    c.req('GET', '/v2/keys/')
    c.req('PUT', '{P}/guest', b'value=g', FORM)
    c.req('GET', '{P}?recursive=true')
    put_json(c, '/v2/auth/roles/guest', {'role': 'guest', 'revoke': {'kv': {'write': ['/*']}}},
             ROOT)
    c.req('PUT', '{P}/guest', b'value=g', FORM)
    c.req('GET', '{P}/guest')
    # alice
    c.req('GET', '{P}/r/x', None, A)
    c.req('GET', '{P}/r', None, A)
    c.req('GET', '{P}/r/', None, A)
    c.req('GET', '{P}/r?recursive=true', None, A)
    c.req('GET', '{P}/r/?recursive=true', None, A)
    c.req('GET', '{P}/exact', None, A)
    c.req('GET', '{P}/exact?recursive=true', None, A)
    c.req('GET', '{P}/exact/', None, A)
    c.req('GET', '{P}/w/x', None, A)
    c.req('PUT', '{P}/w/y', b'value=a', FORM + A)
    c.req('PUT', '{P}/r/y', b'value=a', FORM + A)
    c.req('POST', '{P}/w/', b'value=a', FORM + A)
    c.req('DELETE', '{P}/w/y', None, A)
    c.req('DELETE', '{P}/w?recursive=true', None, A)
    c.req('DELETE', '{P}/w/?recursive=true', None, A)
    c.req('GET', '{P}/d/x', None, A)
    c.req('GET', '{P}/d?recursive=true', None, A)
    c.req('PUT', '{P}/dz', b'value=a', FORM + A)
    c.req('GET', '{P}/missing', None, A)
    c.req('GET', '{P}/r/x', None, basic('alice', 'bad'))
    c.req('GET', '{P}/other', None, basic('ghost', 'x'))
    c.req('GET', '{P}/r/x?bad=%zz', None, A)
    c.req('GET', '{P}/r/x?wait=abc', None, basic('alice', 'bad'))
    # bob: no roles at all
    c.req('GET', '{P}/r/x', None, B)
    c.req('PUT', '{P}/w/x', b'value=b', FORM + B)
    # watches
    w1 = c.watch('{P}/r/x?wait=true')
    conn = c.raw('GET', '{P}/w/x?wait=true', None, A)
    c.record('watch denied', conn, c.expand('{P}/w/x?wait=true'))
    conn = c.raw('GET', '{P}/r?wait=true&recursive=true', None, A)
    c.record('recursive watch denied', conn, c.expand('{P}/r?wait=true&recursive=true'))
    c.req('PUT', '{P}/r/x', b'value=2', FORM + ROOT)
    c.watch_body(w1)
    # members and stats
    c.req('GET', '/v2/members')
    c.req('POST', '/v2/members', b'{"peerURLs":["http://127.0.0.1:1"]}', JSON + A)
    c.req('POST', '/v2/members', b'{"peerURLs":["http://127.0.0.1:1"]}', JSON)
    c.req('DELETE', '/v2/members/1', None, A)
    c.req('PUT', '/v2/members/1', b'{"peerURLs":["http://127.0.0.1:1"]}', JSON + B)
    c.req('DELETE', '/v2/members/1', None, ROOT)
    c.req('GET', '/v2/stats/self')
    c.req('GET', '/v2/machines')
    # root can do anything; role changes apply at once
    c.req('GET', '{P}?recursive=true&sorted=true', None, ROOT)
    put_json(c, '/v2/auth/users/bob', {'user': 'bob', 'grant': ['rw']}, ROOT)
    c.req('GET', '{P}/r/x', None, B)
    put_json(c, '/v2/auth/users/bob', {'user': 'bob', 'password': 'new'}, ROOT)
    c.req('GET', '{P}/r/x', None, B)
    c.req('GET', '{P}/r/x', None, basic('bob', 'new'))
    c.req('DELETE', '/v2/auth/roles/rw', None, ROOT)
    c.req('GET', '{P}/r/x', None, basic('bob', 'new'))
    c.req('GET', '/v2/auth/users/bob', None, ROOT)
    c.req('DELETE', '{P}?recursive=true', None, ROOT)
    cleanup(c, users=('alice', 'bob', 'root'), roles=('guest',))


@case
def auth_long_password(c):
    """bcrypt reads 72 bytes of a password: longer ones match on those."""
    setup_enabled(c)
    pw = 'p' * 80
    put_json(c, '/v2/auth/users/long', {'user': 'long', 'password': pw, 'roles': ['rw']}, ROOT)
    for n in (71, 72, 80, 100):
        c.req('GET', '/v2/keys/auth_enabled/r/x', None, basic('long', 'p' * n),
              label='GET with %d bytes' % n)
    c.req('GET', '/v2/keys/auth_enabled/r/x', None, basic('long', 'p' * 72 + 'q'),
          label='GET with 72 bytes and one more')
    cleanup(c, users=('alice', 'bob', 'long', 'root'), roles=('rw', 'guest'))


@case
def auth_restart(c):
    """Users, roles and the enabled flag survive a restart (from a snapshot)."""
    setup_enabled(c)
    for i in range(12):  # past --snapshot-count
        c.req('PUT', '{P}/k%d' % i, b'value=v', FORM + ROOT)
    # down=2: a snapshot child of the killed metcd keeps the data dir's lock
    # until it has written its snapshot (src/server/snapshotter.c forks with
    # the lock fd open), and a start in that window is refused.
    c.restart(kill=True, down=2.0)
    c.req('GET', '/v2/auth/enable')
    c.req('GET', '/v2/auth/users', None, ROOT)
    c.req('GET', '/v2/auth/roles', None, ROOT)
    c.req('GET', '{P}/k1', None, basic('alice', 'apw'))
    c.req('GET', '{P}/k1', None, basic('alice', 'bad'))
    put_json(c, '/v2/auth/users/carol', {'user': 'carol', 'password': 'c'}, ROOT)
    c.req('DELETE', '{P}?recursive=true', None, ROOT)
    cleanup(c, users=('alice', 'bob', 'carol', 'root'), roles=('rw', 'guest'))


@tls_case
def auth_cert_user(c):
    """--client-cert-auth: a certificate's common name is the user when no
    Authorization header is sent; a basic-auth header wins over it."""
    setup_enabled(c)
    for k in ('r/x', 'w/x', 'other'):
        c.req('PUT', '{P}/%s' % k, b'value=v', FORM + ROOT)
    put_json(c, '/v2/auth/roles/guest', {'role': 'guest', 'revoke': {'kv': {
        'read': ['/*'], 'write': ['/*']}}}, ROOT)
    with cert(c, 'alice'):
        c.req('GET', '{P}/r/x')
        c.req('GET', '{P}/r?recursive=true')
        c.req('GET', '{P}/w/x')
        c.req('GET', '{P}/other')
        c.req('PUT', '{P}/w/y', b'value=a', FORM)
        c.req('PUT', '{P}/r/y', b'value=a', FORM)
        c.req('DELETE', '{P}/w/y')
        c.req('GET', '{P}/r/x', None, [('Authorization', '')], label='GET r/x empty header')
        c.req('GET', '/v2/auth/users')
        c.req('GET', '/v2/auth/enable')
        c.req('DELETE', '/v2/auth/enable')
        c.req('GET', '/v2/members')
        c.req('DELETE', '/v2/members/1')
        c.req('GET', '/v2/stats/self')
        # a basic-auth header names the user, whatever the certificate says
        c.req('GET', '{P}/r/x', None, basic('bob', 'bpw'))
        c.req('GET', '{P}/r/x', None, basic('alice', 'bad'))
        c.req('GET', '{P}/r/x', None, basic('ghost', 'x'))
        c.req('GET', '{P}/other', None, ROOT)
        c.req('GET', '/v2/auth/users', None, ROOT)
        c.req('GET', '{P}/r/x', None, [('Authorization', 'Basic ####')], label='GET bad basic')
        w1 = c.watch('{P}/r/x?wait=true')
        conn = c.raw('GET', '{P}/w/x?wait=true')
        c.record('watch denied', conn, c.expand('{P}/w/x?wait=true'))
    c.req('PUT', '{P}/r/x', b'value=2', FORM + ROOT)
    c.watch_body(w1)
    with cert(c, 'bob'):  # a user with no roles
        c.req('GET', '{P}/r/x')
        c.req('PUT', '{P}/w/x', b'value=b', FORM)
        c.req('GET', '{P}/r/x', None, basic('alice', 'apw'))
    put_json(c, '/v2/auth/users/bob', {'user': 'bob', 'grant': ['rw']}, ROOT)
    with cert(c, 'bob'):  # role changes apply at once
        c.req('GET', '{P}/r/x')
    c.req('DELETE', '/v2/auth/users/alice', None, ROOT)
    with cert(c, 'alice'):  # no longer a user: a guest
        c.req('GET', '{P}/r/x')
    c.req('DELETE', '{P}?recursive=true', None, ROOT)
    cleanup(c, users=('bob', 'root'), roles=('rw', 'guest'))


@tls_case
def auth_cert_nobody(c):
    """A certificate whose common name names no user: the guest role."""
    setup_enabled(c)
    c.req('PUT', '{P}/r/x', b'value=v', FORM + ROOT)
    with cert(c, 'nobody'):
        c.req('GET', '{P}/r/x')
        c.req('PUT', '{P}/g', b'value=g', FORM)
        c.req('GET', '/v2/auth/users')
        c.req('GET', '{P}/r/x', None, basic('alice', 'apw'))
        c.req('GET', '{P}/r/x', None, basic('nobody', 'x'))
    put_json(c, '/v2/auth/roles/guest', {'role': 'guest', 'revoke': {'kv': {
        'read': ['/*']}}}, ROOT)
    with cert(c, 'nobody'):
        c.req('GET', '{P}/r/x')
        c.req('PUT', '{P}/g', b'value=g', FORM)
    c.req('DELETE', '{P}?recursive=true', None, ROOT)
    cleanup(c, users=('alice', 'bob', 'root'), roles=('rw', 'guest'))


@tls_case
def auth_cert_root(c):
    """Root by certificate: user and role changes, members, disabling auth."""
    setup_enabled(c)
    with cert(c, 'root'):
        c.req('GET', '/v2/auth/users')
        c.req('GET', '/v2/auth/roles/rw')
        put_json(c, '/v2/auth/users/carol', {'user': 'carol', 'password': 'c', 'roles': ['rw']})
        put_json(c, '/v2/auth/roles/rw', {'role': 'rw', 'grant': {'kv': {'read': ['/x']}}})
        c.req('PUT', '{P}/k', b'value=r', FORM)
        c.req('GET', '{P}?recursive=true&sorted=true')
        c.req('DELETE', '/v2/members/1')
        c.req('GET', '/v2/auth/users', None, basic('alice', 'apw'))
        c.req('GET', '/v2/auth/users', None, basic('root', 'wrong'))
        c.req('DELETE', '/v2/auth/users/carol')
        c.req('DELETE', '/v2/auth/enable', None, basic('alice', 'apw'))
        c.req('GET', '/v2/auth/enable')
        c.req('DELETE', '/v2/auth/enable')
        c.req('GET', '/v2/auth/enable')
        c.req('PUT', '/v2/auth/enable')
        c.req('GET', '/v2/auth/enable')
    c.req('DELETE', '{P}?recursive=true', None, ROOT)
    cleanup(c, users=('alice', 'bob', 'root'), roles=('rw', 'guest'))


@tls_case
def auth_cert_handshakes(c):
    """No certificate, or one from another CA: refused at the handshake,
    with auth on or off, whatever the Authorization header."""
    def outcome(cn, headers=None):
        try:
            with cert(c, cn):
                r = c.raw('GET', '/v2/keys/', None, headers, timeout=5.0)
            return 'status %d' % r.status
        except (OSError, servers.rawhttp.HTTPError):
            return 'refused'
    for cn in ('', 'stranger'):
        c.note('auth off, certificate %r' % cn, outcome(cn))
    setup_enabled(c)
    for cn in ('', 'stranger'):
        c.note('auth on, certificate %r' % cn, outcome(cn))
        c.note('auth on, certificate %r, root' % cn, outcome(cn, ROOT))
    c.note('auth on, certificate alice', outcome('alice'))
    cleanup(c, users=('alice', 'bob', 'root'), roles=('rw', 'guest'))


def first_write(server):
    """One write before the cases: a fresh metcd's index is 0, where etcd's
    start already wrote, and an index-0 answer (a 401) of the first case
    would then not normalise the same way on both (with -k)."""
    servers.rawhttp.request('127.0.0.1', server.port, 'PUT', '/v2/keys/auth_diff_start',
                            b'value=1', FORM)


def make_tls(top):
    """The servers' TLS flags and default client context; fills CLIENT_TLS."""
    ca = certs_mod.CA(top, 'ca')
    other = certs_mod.CA(top, 'other')
    server, server_key = ca.issue('server', 'metcd-server', 'server')

    def ctx(pair):
        x = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        x.load_verify_locations(ca.cert)
        if pair:
            x.load_cert_chain(*pair)
        return x
    for cn in ('diff-client', 'alice', 'bob', 'root', 'nobody'):
        CLIENT_TLS[cn] = ctx(ca.issue('client-' + cn, cn))
    CLIENT_TLS['stranger'] = ctx(other.issue('stranger', 'root'))
    CLIENT_TLS[''] = ctx(None)
    flags = ('--cert-file', server, '--key-file', server_key, '--trusted-ca-file', ca.cert,
             '--client-cert-auth')
    return flags, CLIENT_TLS['diff-client']


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('-k', action='append')
    ap.add_argument('-v', action='store_true')
    ap.add_argument('--metcd-bin')
    ap.add_argument('--tls', action='store_true', help='over https with client certificates')
    args = ap.parse_args()
    if not os.path.exists(servers.ETCD_BIN):
        print('SKIP: etcd not installed (apt-get install etcd-server)')
        return 77
    mbin = args.metcd_bin or servers.metcd_bin()
    if not mbin or not os.path.exists(mbin):
        print('FAIL: metcd binary not found (set METCD_BIN)')
        return 1
    all_cases = CASES + (TLS_CASES if args.tls else [])
    cs = [c for c in all_cases if not args.k or any(k in c.name for k in args.k)]
    t0 = time.monotonic()
    started = []
    tmp = tempfile.TemporaryDirectory(prefix='metcd-auth-diff-')
    try:
        tls = make_tls(tmp.name) if args.tls else None
        return compare_live(started, cs, mbin, False, args.v, t0, tls=tls,
                            extra_args=('--snapshot-count', '10'), prepare=first_write)
    except servers.ServerError as ex:
        print('FAIL: %s' % ex)
        return 1
    finally:
        bad = servers.stop_all(started)
        tmp.cleanup()
        if bad:
            return 1


if __name__ == '__main__':
    sys.exit(main())
