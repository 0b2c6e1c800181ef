"""Regression cases found by the random differential test.

`randdiff.py --save` appends each difference it shrinks here, as the steps
of randgen.py with every dynamic template frozen ({b+N}, {P}), and records
etcd's answers in expected/regress.json. The cases run with the rest of the
hand-written suite (diff_test.py, group `regress`).
"""

import harness
import randgen


def R(name, steps, doc=None):
    """Register a case that runs `steps` (randgen's step lists)."""
    def fn(c):
        randgen.run_steps(c, steps)
    doc = doc or ' ; '.join('%s %s' % (s[1], s[2]) if s[0] == 'req' else s[0] for s in steps)
    harness.add_case(name, fn, 'regress', 1, None, None, doc)
    return [c for c in harness.CASES if c.name == name][0]
