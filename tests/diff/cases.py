"""The catalogue of differential cases (see harness.py for the rules)."""
from harness import seq, case  # noqa: F401

F = [('Content-Type', 'application/x-www-form-urlencoded')]

seq('set', 'set_new', [('PUT', '{P}/a?value=1'), ('GET', '{P}/a')])
seq('set', 'set_body', [('PUT', '{P}/a', 'value=hello'), ('GET', '{P}/a')])
seq('err', 'e100_missing', [('GET', '{P}/no/such/key')])
seq('list', 'list_rec', [('PUT', '{P}/d/x?value=1'), ('PUT', '{P}/d/y/z?value=2'),
                         ('GET', '{P}?recursive=true')])


@case('watch')
def watch_simple(c):
    c.req('PUT', '{P}/k?value=1')
    w = c.watch('{P}/k?wait=true')
    c.req('PUT', '{P}/k?value=2')
    c.watch_body(w)
