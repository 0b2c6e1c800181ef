#!/usr/bin/python3
"""Unit tests of randgen.py (no servers): the generator is deterministic
and keeps to its bounds, the rules recognise each deliberate difference and
nothing next to it, and frozen templates mean what they meant."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import randgen  # noqa: E402

K = '/r1'


def ev(action, key, mi, dir_=False, prev=None):
    n = {'key': key, 'modifiedIndex': 'b+%d' % mi, 'createdIndex': 'b+1'}
    if dir_:
        n['dir'] = True
    e = {'action': action, 'node': n}
    if prev is not None:
        e['prevNode'] = prev
    return e


def body(label, e):
    return {'step': label + ' [body]', 'json': e} if e else \
        {'step': label + ' [body]', 'error': 'no complete body within 0.3s (0 bytes)'}


class Generator(unittest.TestCase):
    def test_deterministic_and_bounded(self):
        for seed in range(40):
            ttl = seed % 4 == 3
            a = randgen.generate(randgen.seq_seed(9, seed), ttl)
            self.assertEqual(a, randgen.generate(randgen.seq_seed(9, seed), ttl))
            reqs = [s for s in a if s[0] in ('req', 'watch')]
            self.assertGreaterEqual(len(a), 30)
            self.assertLessEqual(len(a), 200 + 8)
            for s in reqs:
                t = s[2]
                self.assertTrue(t.startswith(('{P}', '{POSTKEY}')), t)
            opened = {s[1] for s in a if s[0] == 'watch'}
            collected = [s[1] for s in a if s[0] in ('body', 'pending', 'events')]
            self.assertEqual(sorted(opened), sorted(collected))
            if ttl:
                self.assertIn(['sleep', randgen.TTL_SLEEP], a)

    def test_covers_the_vocabulary(self):
        text = repr([randgen.generate(randgen.seq_seed(3, i), i % 4 == 3) for i in range(30)])
        for want in ('prevExist=false', 'prevExist=true', 'prevValue=', 'prevIndex={mi:',
                     'refresh=true', 'noValueOnSuccess=true', "'POST'", 'dir=true',
                     'recursive=true', 'sorted=', 'quorum=', 'waitIndex={b+', 'stream=true',
                     "'pending'", '%00', '%FF', 'd~e', '_h', '//', 'ttl=1&', 'ttl=1\'',
                     'application/json', "'HEAD'"):
            self.assertIn(want, text)


class Rules(unittest.TestCase):
    def classify(self, ra, rb):
        return randgen.classify(ra, rb, K)

    def test_identical(self):
        r = [{'step': 'PUT {P}/a?value=1', 'status': 201}]
        self.assertEqual(self.classify(r, r), ([], {}))

    def test_unexplained(self):
        lines, rules = self.classify([{'step': 'GET {P}/a', 'status': 200}],
                                     [{'step': 'GET {P}/a', 'status': 404}])
        self.assertTrue(lines)
        self.assertEqual(rules, {})

    def test_hidden_history(self):
        lab = 'w1 GET {P}/d?wait=true&recursive=true&waitIndex={b+1}'
        a = [body(lab, ev('set', K + '/d/_h', 1))]
        b = [body(lab, ev('set', K + '/d/v', 2))]
        self.assertEqual(self.classify(a, b), ([], {'hidden-history': 1}))
        # not recursive, or not from history, or metcd answered an earlier event: a failure
        for lab2 in ('w1 GET {P}/d?wait=true&waitIndex={b+1}',
                     'w1 GET {P}/d?wait=true&recursive=true'):
            self.assertTrue(self.classify([body(lab2, a[0]['json'])],
                                          [body(lab2, b[0]['json'])])[0])
        self.assertTrue(self.classify(a, [body(lab, ev('set', K + '/d/v', 0))])[0])

    def test_prefix_boundary_history(self):
        lab = 'w1 GET {P}/foobar?wait=true&waitIndex={b+1}'
        dele = ev('delete', K + '/foo', 3, True, {'key': K + '/foo', 'dir': True})
        self.assertEqual(self.classify([body(lab, dele)], [body(lab, None)]),
                         ([], {'prefix-boundary-history': 1}))
        lab = 'w1 GET {P}/foo/x?wait=true&waitIndex={b+1}'  # a real child: must match
        self.assertTrue(self.classify([body(lab, dele)], [body(lab, None)])[0])

    def test_live_missing_below(self):
        lab = 'w1 GET {P}/d/x?wait=true'
        dele = ev('delete', K + '/d', 3, True, {'key': K + '/d', 'dir': True})
        self.assertEqual(self.classify([body(lab, None)], [body(lab, dele)]),
                         ([], {'live-missing-below-removed-dir': 1}))
        # a later event at etcd is fine; an earlier one, or a file, is not
        self.assertFalse(self.classify([body(lab, ev('create', K + '/d/x', 5))],
                                       [body(lab, dele)])[0])
        self.assertTrue(self.classify([body(lab, ev('create', K + '/d/x', 2))],
                                      [body(lab, dele)])[0])
        self.assertTrue(self.classify([body(lab, None)],
                                      [body(lab, ev('delete', K + '/d', 3))])[0])

    def test_stream_rules(self):
        lab = 'w1 GET {P}/k?wait=true&stream=true [events]'
        d = ev('delete', K + '/k', 2)
        s = ev('set', K + '/k', 1)
        self.assertEqual(self.classify([{'step': lab, 'events': [s, d, d]}],
                                       [{'step': lab, 'events': [s, d]}]),
                         ([], {'stream-removal-twice': 1}))
        # a duplicate of something else is a failure
        self.assertTrue(self.classify([{'step': lab, 'events': [s, s, d]}],
                                      [{'step': lab, 'events': [s, d]}])[0])
        lab = 'w1 GET {P}/k?wait=true&stream=true&waitIndex={b+1} [events]'
        self.assertEqual(self.classify([{'step': lab, 'events': [s]}],
                                       [{'step': lab, 'events': [s, d]}]),
                         ([], {'stream-history': 1}))
        # ttl within 1, as everywhere else
        s2 = dict(s, prevNode={'key': K + '/k', 'ttl': 99})
        s3 = dict(s, prevNode={'key': K + '/k', 'ttl': 100})
        self.assertEqual(self.classify([{'step': lab, 'events': [s2]}],
                                       [{'step': lab, 'events': [s3, d]}]),
                         ([], {'stream-history': 1}))
        # but not a different first event, nor two events from etcd
        self.assertTrue(self.classify([{'step': lab, 'events': [d]}],
                                      [{'step': lab, 'events': [s, d]}])[0])
        self.assertTrue(self.classify([{'step': lab, 'events': [s, d]}],
                                      [{'step': lab, 'events': [s, d, s]}])[0])

    def test_dir_ttl_update_index(self):
        up = {'step': 'PUT {P}/d?dir=true&prevExist=true&ttl=100',
              'json': {'action': 'update', 'node': {'key': K + '/d', 'dir': True,
                                                    'modifiedIndex': 'b+2'},
                       'prevNode': {'key': K + '/d', 'dir': True, 'modifiedIndex': 'b+1'}}}
        get_a = {'step': 'GET {P}/d', 'json': {'action': 'get', 'node': {
            'key': K + '/d', 'dir': True, 'modifiedIndex': 'b+1'}}}
        get_b = {'step': 'GET {P}/d', 'json': {'action': 'get', 'node': {
            'key': K + '/d', 'dir': True, 'modifiedIndex': 'b+2'}}}
        self.assertEqual(self.classify([up, get_a], [up, get_b]),
                         ([], {'dir-ttl-update-index': 1}))
        # without the update, or on another field, it is a failure
        self.assertTrue(self.classify([get_a], [get_b])[0])
        get_c = {'step': 'GET {P}/d', 'json': {'action': 'get', 'node': {
            'key': K + '/d', 'dir': True, 'modifiedIndex': 'b+1', 'ttl': 5}}}
        self.assertTrue(self.classify([up, get_a], [up, get_c])[0])
        # an update hidden by noValueOnSuccess still counts, for dirs only
        nv = {'step': 'PUT {P}/d?prevExist=true&noValueOnSuccess=true',
              'json': {'action': 'update'}}
        self.assertEqual(self.classify([nv, get_a], [nv, get_b])[1],
                         {'dir-ttl-update-index': 1})
        fa = {'step': 'GET {P}/d', 'json': {'action': 'get', 'node': {
            'key': K + '/d', 'modifiedIndex': 'b+1'}}}
        fb = {'step': 'GET {P}/d', 'json': {'action': 'get', 'node': {
            'key': K + '/d', 'modifiedIndex': 'b+2'}}}
        self.assertTrue(self.classify([nv, fa], [nv, fb])[0])
        # an old delete of the dir read by a watch does not end it
        old = body('w1 GET {P}/e?wait=true&waitIndex={b+1}',
                   ev('delete', K + '/d', 1, True, {'key': K + '/d', 'dir': True}))
        self.assertEqual(self.classify([up, old, get_a], [up, old, get_b])[1],
                         {'dir-ttl-update-index': 1})


class Curl(unittest.TestCase):
    def test_script(self):
        steps = [['req', 'PUT', '{P}/a?value=1&prevIndex={b+2}', 'value=x', None],
                 ['watch', 1, '{P}//a?wait=true'], ['body', 1, 0.3], ['sleep', 2.2]]
        s = randgen.curl_script(steps, 'rx')
        self.assertIn('P=/v2/keys/rx', s)
        self.assertIn('"$URL$P/a?value=1&prevIndex=$((B+2))" --data-binary value=x', s)
        self.assertIn('--path-as-is', s)
        self.assertIn('sleep 2.2', s)


if __name__ == '__main__':
    unittest.main()
