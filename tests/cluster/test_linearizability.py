"""Unit tests of linearizability.py: histories known to be linearizable pass,
known violations are found and reported with the offending operation.

    /usr/bin/python3 tests/cluster/test_linearizability.py [-v] [TestName...]
"""
import random
import sys
import time
import unittest

import linearizability as L
from linearizability import CAS, CREATE, DELETE, FAIL, INFO, OK, READ, WRITE, Op


class H:
    """Builds a history by hand: h.op(client, kind, start, end, ...)."""

    def __init__(self):
        self.ops = []

    def op(self, client, kind, start, end, value=None, prev=None, outcome=OK, result=None,
           key="k"):
        o = Op(len(self.ops), client, key, kind, value=value, prev=prev, invoke=start,
               complete=None if outcome == INFO else end, outcome=outcome, result=result)
        self.ops.append(o)
        return o


def verdict(h, **kw):
    return L.check(h.ops, **kw)


class Linearizable(unittest.TestCase):
    def test_empty(self):
        self.assertTrue(L.check([]).ok)

    def test_sequential(self):
        h = H()
        h.op("a", READ, 0, 1, result=None)
        h.op("a", CREATE, 2, 3, value="1")
        h.op("a", CREATE, 4, 5, value="x", outcome=FAIL, result=105)
        h.op("a", CAS, 6, 7, prev="1", value="2")
        h.op("a", CAS, 8, 9, prev="1", value="3", outcome=FAIL, result=101)
        h.op("a", READ, 10, 11, result="2")
        h.op("a", WRITE, 12, 13, value="4")
        h.op("a", DELETE, 14, 15)
        h.op("a", DELETE, 16, 17, outcome=FAIL, result=100)
        h.op("a", CAS, 18, 19, prev="4", value="5", outcome=FAIL, result=100)
        h.op("a", READ, 20, 21, result=None)
        r = verdict(h)
        self.assertTrue(r.ok, r.report())

    def test_concurrent_writes_read_either(self):
        for seen in ("1", "2"):
            h = H()
            h.op("a", WRITE, 0, 10, value="1")
            h.op("b", WRITE, 1, 9, value="2")
            h.op("c", READ, 11, 12, result=seen)
            self.assertTrue(verdict(h).ok, seen)

    def test_read_concurrent_with_write_sees_old_or_new(self):
        for seen in ("0", "1"):
            h = H()
            h.op("a", WRITE, 0, 1, value="0")
            h.op("a", WRITE, 2, 10, value="1")
            h.op("b", READ, 3, 4, result=seen)
            self.assertTrue(verdict(h).ok, seen)

    def test_reads_order_new_then_old_when_write_overlaps_both_is_bad(self):
        # A read that returned the new value precedes (in real time) a read
        # that returns the old one: not linearizable even though both overlap
        # the write.
        h = H()
        h.op("a", WRITE, 0, 1, value="0")
        h.op("a", WRITE, 2, 20, value="1")
        h.op("b", READ, 3, 4, result="1")
        h.op("c", READ, 5, 6, result="0")
        self.assertFalse(verdict(h).ok)

    def test_info_write_may_have_happened(self):
        for seen in ("0", "1"):
            h = H()
            h.op("a", WRITE, 0, 1, value="0")
            h.op("a", WRITE, 2, None, value="1", outcome=INFO)
            h.op("b", READ, 30, 31, result=seen)
            h.op("b", READ, 32, 33, result=seen)
            self.assertTrue(verdict(h).ok, seen)

    def test_info_cas_and_create_and_delete(self):
        h = H()
        h.op("a", CREATE, 0, 1, value="0")
        h.op("a", CAS, 2, None, prev="0", value="1", outcome=INFO)
        h.op("b", READ, 5, 6, result="1")
        h.op("c", DELETE, 7, None, outcome=INFO)
        h.op("b", READ, 8, 9, result=None)
        h.op("c", CREATE, 10, None, value="2", outcome=INFO)
        h.op("b", READ, 11, 12, result="2")
        self.assertTrue(verdict(h).ok)

    def test_info_read_is_ignored(self):
        h = H()
        h.op("a", WRITE, 0, 1, value="0")
        h.op("b", READ, 2, None, outcome=INFO)
        self.assertTrue(verdict(h).ok)

    def test_initial_value(self):
        h = H()
        h.op("a", CAS, 0, 1, prev="init", value="1")
        self.assertTrue(L.check(h.ops, initial={"k": "init"}).ok)
        self.assertFalse(L.check(h.ops).ok)

    def test_keys_are_independent(self):
        h = H()
        h.op("a", WRITE, 0, 1, value="x", key="k1")
        h.op("a", READ, 2, 3, result=None, key="k2")
        h.op("a", READ, 4, 5, result="x", key="k1")
        r = verdict(h)
        self.assertTrue(r.ok, r.report())
        self.assertEqual(set(r.per_key), {"k1", "k2"})

    def test_recorder(self):
        hist = L.History()
        a = hist.invoke("c1", "k", WRITE, value="1")
        hist.complete(a, OK)
        b = hist.invoke("c1", "k", CAS, prev="0", value="2")
        hist.complete(b, FAIL, 101)
        c = hist.invoke("c2", "k", WRITE, value="3")
        hist.info(c, note="timed out")
        d = hist.invoke("c2", "k", READ)
        hist.forget(d)
        with self.assertRaises(ValueError):
            hist.complete(hist.invoke("c1", "k", WRITE, value="x"), FAIL, 300)
        self.assertTrue(L.check(hist.ops[:4]).ok)


class Violations(unittest.TestCase):
    def assertViolation(self, h, offending=None, **kw):
        r = verdict(h, **kw)
        self.assertFalse(r.ok, r.report())
        text = r.report()
        self.assertIn("NOT linearizable", text)
        if offending is not None:
            bad = r.violations[0]
            self.assertIsNotNone(bad.blocked, text)
            self.assertEqual(bad.blocked.id, offending.id, text)
            self.assertIn("#%d " % offending.id, text)
        return text

    def test_stale_read_after_acknowledged_write(self):
        h = H()
        h.op("a", WRITE, 0, 1, value="1")
        h.op("a", WRITE, 2, 3, value="2")
        stale = h.op("b", READ, 4, 5, result="1")
        self.assertViolation(h, stale)

    def test_read_of_absent_after_acknowledged_write(self):
        h = H()
        h.op("a", WRITE, 0, 1, value="1")
        bad = h.op("b", READ, 2, 3, result=None)
        self.assertViolation(h, bad)

    def test_lost_acknowledged_cas(self):
        h = H()
        h.op("a", WRITE, 0, 1, value="1")
        h.op("a", CAS, 2, 3, prev="1", value="2")
        bad = h.op("b", READ, 4, 5, result="1")
        self.assertViolation(h, bad)

    def test_two_successful_cas_from_same_prev(self):
        h = H()
        h.op("a", WRITE, 0, 1, value="1")
        h.op("a", CAS, 2, 6, prev="1", value="2")
        h.op("b", CAS, 3, 5, prev="1", value="3")
        self.assertViolation(h)

    def test_two_successful_creates(self):
        h = H()
        h.op("a", CREATE, 0, 5, value="1")
        h.op("b", CREATE, 1, 4, value="2")
        self.assertViolation(h)

    def test_read_after_acknowledged_delete(self):
        h = H()
        h.op("a", WRITE, 0, 1, value="1")
        h.op("a", DELETE, 2, 3)
        bad = h.op("b", READ, 4, 5, result="1")
        self.assertViolation(h, bad)

    def test_cas_failed_although_value_matched(self):
        h = H()
        h.op("a", WRITE, 0, 1, value="1")
        bad = h.op("b", CAS, 2, 3, prev="1", value="2", outcome=FAIL, result=101)
        self.assertViolation(h, bad)

    def test_create_failed_on_absent_key(self):
        h = H()
        bad = h.op("b", CREATE, 2, 3, value="2", outcome=FAIL, result=105)
        self.assertViolation(h, bad)

    def test_read_of_value_never_written(self):
        h = H()
        h.op("a", WRITE, 0, 1, value="1")
        bad = h.op("b", READ, 2, 3, result="ghost")
        self.assertViolation(h, bad)

    def test_info_write_seen_before_it_was_invoked(self):
        h = H()
        h.op("a", WRITE, 0, 1, value="0")
        bad = h.op("b", READ, 2, 3, result="1")
        h.op("a", WRITE, 4, None, value="1", outcome=INFO)
        self.assertViolation(h, bad)

    def test_info_write_appears_then_disappears(self):
        # An unknown write may happen once, at one point: it cannot be seen,
        # then unseen with nothing in between, then seen again.
        h = H()
        h.op("a", WRITE, 0, 1, value="0")
        h.op("a", WRITE, 2, None, value="1", outcome=INFO)
        h.op("b", READ, 3, 4, result="1")
        h.op("b", READ, 5, 6, result="0")
        h.op("b", READ, 7, 8, result="1")
        self.assertViolation(h)

    def test_violation_on_one_key_only(self):
        h = H()
        h.op("a", WRITE, 0, 1, value="1", key="good")
        h.op("a", READ, 2, 3, result="1", key="good")
        h.op("a", WRITE, 0, 1, value="1", key="bad")
        h.op("a", WRITE, 2, 3, value="2", key="bad")
        h.op("b", READ, 4, 5, result="1", key="bad")
        r = verdict(h)
        self.assertFalse(r.ok)
        self.assertEqual([v.key for v in r.violations], ["bad"])
        self.assertTrue(r.per_key["good"].ok)

    def test_budget_exhausted_is_not_a_pass(self):
        h = H()
        for i in range(12):
            h.op("c%d" % i, WRITE, i * 0.01, None, value=str(i), outcome=INFO)
        h.op("z", READ, 50, 51, result="nothing-wrote-this")
        r = verdict(h, max_states=50)
        self.assertFalse(r.ok)
        self.assertIsNone(r.per_key["k"].ok)
        self.assertIn("UNKNOWN", r.report())


def random_history(seed, n_ops, keys, clients, info_rate=0.02):
    """A history produced by a simulated linearizable store: each operation
    takes effect at a random instant inside its [invoke, complete] window."""
    rng = random.Random(seed)
    state = {k: None for k in keys}
    ops = []
    # Each client issues operations back to back; linearization points are
    # drawn in global time order so the history is linearizable by build.
    t = [0.0] * clients
    pending = []
    counter = 0
    for _ in range(n_ops):
        c = rng.randrange(clients)
        invoke = t[c] + rng.random() * 0.01
        point = invoke + rng.random() * 0.05
        complete = point + rng.random() * 0.05
        t[c] = complete
        pending.append((point, c, invoke, complete))
    pending.sort()
    for point, c, invoke, complete in pending:
        k = rng.choice(keys)
        counter += 1
        kind = rng.choice([READ, READ, WRITE, CAS, CAS, CREATE, DELETE])
        cur = state[k]
        value = "v%d" % counter
        outcome, result, prev = OK, None, None
        if kind == READ:
            result = cur
        elif kind == WRITE:
            state[k] = value
        elif kind == CAS:
            prev = cur if (cur is not None and rng.random() < 0.6) else "v%d" % rng.randrange(counter)
            if cur is None:
                outcome, result = FAIL, 100
            elif cur == prev:
                state[k] = value
            else:
                outcome, result = FAIL, 101
        elif kind == CREATE:
            if cur is None:
                state[k] = value
            else:
                outcome, result = FAIL, 105
        else:
            if cur is None:
                outcome, result = FAIL, 100
            else:
                state[k] = None
        if kind != READ and outcome == OK and rng.random() < info_rate:
            outcome, result = INFO, None
        ops.append(Op(len(ops), "c%d" % c, k, kind, value=value, prev=prev, invoke=invoke,
                      complete=None if outcome == INFO else complete,
                      outcome=outcome, result=result))
    return ops


class Scale(unittest.TestCase):
    """A few thousand operations over a handful of keys, checked quickly."""

    def test_random_linearizable_histories(self):
        for seed in range(3):
            ops = random_history(seed, 3000, ["a", "b", "c", "d", "e"], clients=6)
            t0 = time.monotonic()
            r = L.check(ops)
            dt = time.monotonic() - t0
            self.assertTrue(r.ok, r.report())
            self.assertLess(dt, 30.0)

    def test_random_history_with_one_stale_read(self):
        ops = random_history(7, 3000, ["a", "b", "c", "d", "e"], clients=6, info_rate=0.0)
        # Make one read in the middle return the value its key had two
        # acknowledged writes earlier, long after both writes completed.
        by_key = {}
        target = None
        for o in ops:
            if o.kind == WRITE and o.outcome == OK:
                by_key.setdefault(o.key, []).append(o)
            if (o.kind == READ and o.id > 1500 and len(by_key.get(o.key, [])) >= 2 and
                    by_key[o.key][-1].complete + 0.5 < o.invoke and
                    o.result != by_key[o.key][-2].value):
                target = (o, by_key[o.key][-2].value)
                break
        self.assertIsNotNone(target)
        o, old = target
        # Only stale if the older value cannot be current at the read.
        for later in ops:
            if later.key == o.key and later.value == old and later.invoke > o.invoke:
                self.skipTest("value reused")
        o.result = old
        t0 = time.monotonic()
        r = L.check(ops)
        self.assertFalse(r.ok)
        self.assertLess(time.monotonic() - t0, 30.0)
        self.assertEqual(len(r.violations), 1)
        self.assertIn("#%d " % o.id, r.report())


if __name__ == "__main__":
    unittest.main(verbosity=2 if "-v" in sys.argv else 1)
