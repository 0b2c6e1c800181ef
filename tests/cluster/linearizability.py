"""A linearizability checker for histories of etcd v2 key operations.

The model is one v2 key: absent (None) or holding a string value. Operations:

  read    GET ?quorum=true          ok: the value, or None for 100 Key not found
  write   PUT value=V               ok
  cas     PUT prevValue=P value=V   ok; fail 101 (value differs); fail 100 (absent)
  create  PUT prevExist=false       ok; fail 105 (node exists)
  delete  DELETE                    ok; fail 100 (absent)

Each operation has an invoke time and, unless its outcome is unknown, a
complete time. An operation whose outcome is unknown (a timeout, a connection
reset, an error such as etcd's "request timed out" that does not say whether
the proposal was applied) is "info" as in Knossos: it may have taken effect at
any point after its invocation, or never. Definite failures (100, 101, 105)
are observations like reads: they must fit the state at their linearization
point.

Keys are independent in this model, so the history is split per key and each
key is checked on its own (P-compositionality). Per key the search is Wing and
Gong's with Lowe's memoisation: the call and return events sit in one time
ordered linked list; the search tries, in order, every call that precedes the
first pending return, linearizes it if the model allows it and the pair
(set of linearized operations, state) was not seen before, and backtracks when
it meets the return of an operation it has not linearized. A history is
linearizable when every definite operation is linearized; info operations may
be left out.

    h = History()
    op = h.invoke("c1", "k", "cas", prev="a", value="b")
    h.complete(op, "fail", 101)          # or "ok", result; or h.info(op)
    result = check(h.ops)
    assert result.ok, result.report()

`python3 linearizability.py history.jsonl` checks a saved history
(History.save) and prints the verdict.
"""
import json
import sys
import threading
import time

READ, WRITE, CAS, CREATE, DELETE = "read", "write", "cas", "create", "delete"
KINDS = (READ, WRITE, CAS, CREATE, DELETE)
OK, FAIL, INFO = "ok", "fail", "info"
INF = float("inf")


class Op:
    __slots__ = ("id", "client", "key", "kind", "value", "prev", "invoke", "complete",
                 "outcome", "result", "note")

    def __init__(self, id, client, key, kind, value=None, prev=None, invoke=0.0,
                 complete=None, outcome=None, result=None, note=None):
        if kind not in KINDS:
            raise ValueError("unknown operation kind %r" % kind)
        self.id = id
        self.client = client
        self.key = key
        self.kind = kind
        self.value = value        # write/cas/create: the value written
        self.prev = prev          # cas: prevValue
        self.invoke = invoke
        self.complete = complete  # None while pending or when info
        self.outcome = outcome    # ok | fail | info | None (pending)
        self.result = result      # read ok: value or None; fail: the error code
        self.note = note          # free text (member asked, index, error)

    def to_dict(self):
        return {s: getattr(self, s) for s in self.__slots__}

    @classmethod
    def from_dict(cls, d):
        return cls(**{s: d.get(s) for s in cls.__slots__})

    def __repr__(self):
        if self.kind == READ:
            what = "read()"
        elif self.kind == WRITE:
            what = "write(%r)" % self.value
        elif self.kind == CAS:
            what = "cas(%r -> %r)" % (self.prev, self.value)
        elif self.kind == CREATE:
            what = "create(%r)" % self.value
        else:
            what = "delete()"
        if self.outcome == OK:
            out = "ok" + (" %r" % (self.result,) if self.kind == READ else "")
        elif self.outcome == FAIL:
            out = "fail %s" % self.result
        else:
            out = str(self.outcome)
        end = "..." if self.complete is None else "%.3f" % self.complete
        s = "#%d %s key=%s %s -> %s [%.3f, %s]" % (self.id, self.client, self.key, what,
                                                   out, self.invoke, end)
        if self.note:
            s += " (%s)" % self.note
        return s


class History:
    """Thread-safe recorder of operations; times from time.monotonic()."""

    def __init__(self, clock=time.monotonic):
        self.ops = []
        self.lock = threading.Lock()
        self.clock = clock

    def invoke(self, client, key, kind, value=None, prev=None, note=None):
        with self.lock:
            op = Op(len(self.ops), client, key, kind, value=value, prev=prev,
                    invoke=self.clock(), note=note)
            self.ops.append(op)
            return op

    def complete(self, op, outcome, result=None, note=None):
        """outcome ok (result: a read's value or None) or fail (result: code)."""
        if outcome not in (OK, FAIL):
            raise ValueError(outcome)
        op.complete = self.clock()
        op.outcome = outcome
        op.result = result
        if note:
            op.note = note
        if outcome == FAIL and (op.kind, result) not in DEFINITE_FAILURES:
            raise ValueError("%s cannot fail with %r (use info for unknown outcomes)"
                             % (op.kind, result))

    def info(self, op, note=None):
        """The outcome is unknown: the operation may or may not have happened."""
        op.outcome = INFO
        op.complete = None
        if note:
            op.note = note

    def forget(self, op):
        """The operation certainly did not happen (e.g. connection refused)."""
        op.outcome = "dropped"
        op.complete = None

    def save(self, path):
        with open(path, "w") as f:
            for op in self.ops:
                f.write(json.dumps(op.to_dict()) + "\n")

    @staticmethod
    def load(path):
        with open(path) as f:
            return [Op.from_dict(json.loads(line)) for line in f if line.strip()]


DEFINITE_FAILURES = {(CAS, 101), (CAS, 100), (CREATE, 105), (DELETE, 100)}


def step(state, op):
    """(allowed, new state) when op takes effect in state."""
    k = op.kind
    if op.outcome == INFO:
        # It happened (successfully) or it did not happen at all.
        if k == WRITE:
            return True, op.value
        if k == CAS:
            return (state == op.prev and state is not None), op.value
        if k == CREATE:
            return state is None, op.value
        if k == DELETE:
            return state is not None, None
        return True, state
    if op.outcome == OK:
        if k == READ:
            return state == op.result, state
        if k == WRITE:
            return True, op.value
        if k == CAS:
            return (state is not None and state == op.prev), op.value
        if k == CREATE:
            return state is None, op.value
        return state is not None, None          # delete
    # definite failure
    code = op.result
    if k == CAS:
        if code == 101:
            return state is not None and state != op.prev, state
        return state is None, state             # 100
    if k == CREATE:
        return state is not None, state         # 105
    return state is None, state                 # delete 100


class KeyResult:
    def __init__(self, key, ok, ops, states=0, elapsed=0.0, best=None, blocked=None,
                 best_state=None, reason=""):
        self.key = key
        self.ok = ok              # True, False, or None (search budget exhausted)
        self.ops = ops
        self.states = states
        self.elapsed = elapsed
        self.best = best or []    # the longest linearized prefix found (ops)
        self.blocked = blocked    # the op whose return the search could not pass
        self.best_state = best_state
        self.reason = reason

    def report(self, context=6):
        if self.ok:
            return "key %s: linearizable (%d ops, %d states, %.2fs)" % (
                self.key, len(self.ops), self.states, self.elapsed)
        if self.ok is None:
            return "key %s: UNKNOWN, %s (%d ops, %d states)" % (
                self.key, self.reason, len(self.ops), self.states)
        lines = ["key %s: NOT linearizable (%d ops, %d states searched)" % (
            self.key, len(self.ops), self.states)]
        lines.append("  longest linearization found places %d ops; its last ones:" % len(self.best))
        for op in self.best[-context:]:
            lines.append("    " + repr(op))
        lines.append("  state after them: %r" % (self.best_state,))
        if self.blocked is not None:
            lines.append("  offending operation (completed, but cannot be placed):")
            lines.append("    " + repr(self.blocked))
            b = self.blocked
            end = b.complete if b.complete is not None else b.invoke
            near = [o for o in self.ops if o is not b and o.invoke <= end and
                    (o.complete is None or o.complete >= b.invoke - 1.0)]
            near.sort(key=lambda o: o.invoke)
            if near:
                lines.append("  operations around it:")
                for op in near[-2 * context:]:
                    lines.append("    " + repr(op))
        return "\n".join(lines)


class Result:
    def __init__(self, per_key):
        self.per_key = per_key

    @property
    def ok(self):
        return all(r.ok is True for r in self.per_key.values())

    @property
    def violations(self):
        return [r for r in self.per_key.values() if r.ok is False]

    def counts(self):
        ops = [o for r in self.per_key.values() for o in r.ops]
        c = {"ops": len(ops), "keys": len(self.per_key)}
        for o in ops:
            c[o.outcome] = c.get(o.outcome, 0) + 1
        return c

    def report(self):
        return "\n".join(self.per_key[k].report() for k in sorted(self.per_key, key=str))


def check_key(ops, initial=None, max_states=2000000, key=None):
    """Checks the operations of one key. ops: Op with outcome ok, fail or info
    (others are ignored). Returns a KeyResult."""
    t0 = time.monotonic()
    ops = [o for o in ops if o.outcome in (OK, FAIL) or
           (o.outcome == INFO and o.kind != READ)]
    n = len(ops)
    events = []
    for i, o in enumerate(ops):
        events.append((o.invoke, 0, i))
        if o.outcome != INFO:
            if o.complete is None or o.complete < o.invoke:
                raise ValueError("operation without a valid completion: %r" % o)
            events.append((o.complete, 1, i))
    events.sort()         # at equal times calls come first: the more permissive order
    size = len(events)
    head, tail = 0, size + 1
    nxt = list(range(1, size + 2)) + [tail]
    prv = [0] + list(range(0, size + 1))
    is_call = [False] * (size + 2)
    op_of = [0] * (size + 2)
    ret_of = [0] * (size + 2)      # call node -> its return node (0 for info)
    call_node = [0] * n
    for pos, (_, typ, i) in enumerate(events, start=1):
        op_of[pos] = i
        if typ == 0:
            is_call[pos] = True
            call_node[i] = pos
        else:
            ret_of[call_node[i]] = pos
    definite = [o.outcome != INFO for o in ops]
    remaining = sum(definite)

    def unlink(x):
        nxt[prv[x]] = nxt[x]
        prv[nxt[x]] = prv[x]

    def relink(x):
        nxt[prv[x]] = x
        prv[nxt[x]] = x

    state = initial
    linearized = 0
    seen = set()
    stack = []                    # (call node, state before)
    best_len, best, best_state, blocked = -1, [], None, None
    cur = nxt[head]
    while remaining > 0:
        if cur != tail and is_call[cur]:
            i = op_of[cur]
            allowed, new_state = step(state, ops[i])
            if allowed:
                nl = linearized | (1 << i)
                memo = (nl, new_state)
                if memo not in seen:
                    seen.add(memo)
                    if len(seen) > max_states:
                        return KeyResult(key, None, ops, len(seen), time.monotonic() - t0,
                                         reason="more than %d states" % max_states)
                    stack.append((cur, state))
                    state, linearized = new_state, nl
                    unlink(cur)
                    if ret_of[cur]:
                        unlink(ret_of[cur])
                    if definite[i]:
                        remaining -= 1
                    cur = nxt[head]
                    continue
            cur = nxt[cur]
            continue
        # A return of an operation not linearized yet (or the end): backtrack.
        if len(stack) > best_len:
            best_len = len(stack)
            best = [ops[op_of[c]] for c, _ in stack]
            best_state = state
            blocked = ops[op_of[cur]] if cur != tail else None
        if not stack:
            return KeyResult(key, False, ops, len(seen), time.monotonic() - t0,
                             best=best, blocked=blocked, best_state=best_state)
        c, state = stack.pop()
        i = op_of[c]
        linearized &= ~(1 << i)
        if ret_of[c]:
            relink(ret_of[c])
        relink(c)
        if definite[i]:
            remaining += 1
        cur = nxt[c]
    return KeyResult(key, True, ops, len(seen), time.monotonic() - t0)


def check(ops, initial=None, max_states=2000000):
    """Checks a whole history, key by key. initial: {key: value} before the
    history (absent keys start as None). Returns a Result."""
    by_key = {}
    for o in ops:
        by_key.setdefault(o.key, []).append(o)
    initial = initial or {}
    per_key = {}
    for k, kops in by_key.items():
        per_key[k] = check_key(kops, initial.get(k), max_states, key=k)
    return Result(per_key)


def main(argv):
    if len(argv) != 2:
        print("usage: %s history.jsonl" % argv[0], file=sys.stderr)
        return 2
    result = check(History.load(argv[1]))
    print(result.report())
    print("counts: %r" % result.counts())
    print("verdict: %s" % ("linearizable" if result.ok else "NOT linearizable"))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
