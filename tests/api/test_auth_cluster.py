"""v2 auth in a three-member metcd cluster: users and roles go through raft.

Auth changes sent to a follower are forwarded and applied everywhere; a
login works on every member; a member that was down while a user was added
(with more entries than --snapshot-count meanwhile, so that it restarts
from a snapshot and the log after it) knows that user once it is back.
Usage: test_auth_cluster.py; METCD_BIN names the server.
"""
import base64
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))
import metcd_proc as mp  # noqa: E402
from cluster import Cluster  # noqa: E402


def basic(user, pw):
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()}


ROOT = basic("root", "rootpw")
JSON = {"Content-Type": "application/json"}


def check(cond, what, c=None):
    if not cond:
        raise AssertionError(what + ("\n" + c.logs() if c else ""))


def call(m, method, path, body=None, headers=None):
    h = dict(JSON if body is not None else {})
    h.update(headers or {})
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    return mp.http(method, m.url(path), data, h, timeout=10)


def wait_for(fn, what, c, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return
        time.sleep(0.05)
    check(False, "timed out waiting for " + what, c)


def main():
    with Cluster(3, impl="metcd", relay=False, snapshot_count=10) as c:
        lead = c.start()
        f1, f2 = [m for m in c.members if m is not lead]
        st, _, b = call(f1, "PUT", "/v2/auth/users/root", {"user": "root", "password": "rootpw"})
        check(st == 201, "root user through a follower: %d %r" % (st, b), c)
        st, _, b = call(f1, "PUT", "/v2/auth/enable")
        check(st == 200, "enable through a follower: %d %r" % (st, b), c)
        st, _, b = call(f1, "PUT", "/v2/auth/roles/app",
                        {"role": "app", "permissions": {"kv": {"read": ["/app/*"],
                                                               "write": ["/app/*"]}}}, ROOT)
        check(st == 201, "role: %d %r" % (st, b), c)
        st, _, b = call(f1, "PUT", "/v2/auth/users/alice",
                        {"user": "alice", "password": "apw", "roles": ["app"]}, ROOT)
        check(st == 200, "alice: %d %r" % (st, b), c)
        for m in c.members:
            wait_for(lambda: call(m, "GET", "/v2/auth/enable")[2] == b'{"enabled":true}\n',
                     "auth enabled on %s" % m.name, c)
            wait_for(lambda: call(m, "PUT", "/v2/keys/app/%s" % m.name, b"value=1",
                                  dict(basic("alice", "apw"), **{
                                      "Content-Type": "application/x-www-form-urlencoded"}))[0]
                     == 201, "alice writes through %s" % m.name, c)
            st, _, _ = call(m, "GET", "/v2/keys/app/x", headers=basic("alice", "wrong"))
            check(st == 401, "wrong password on %s: %d" % (m.name, st), c)
            st, _, _ = call(m, "GET", "/v2/keys/other", headers=basic("alice", "apw"))
            check(st == 401, "alice outside /app on %s: %d" % (m.name, st), c)
            st, _, _ = call(m, "GET", "/v2/keys/app/x")
            check(st == 404, "guest read on %s: %d" % (m.name, st), c)

        # f2 misses a new user and more than --snapshot-count entries
        c.kill(f2)
        st, _, b = call(lead, "PUT", "/v2/auth/users/bob",
                        {"user": "bob", "password": "bpw", "roles": ["app"]}, ROOT)
        check(st == 200, "bob: %d %r" % (st, b), c)
        for i in range(30):
            st, _, _ = call(lead, "PUT", "/v2/keys/app/k%d" % i, b"value=v",
                            dict(ROOT, **{"Content-Type": "application/x-www-form-urlencoded"}))
            check(st in (200, 201), "write %d: %d" % (i, st), c)
        c.restart(f2)
        wait_for(lambda: call(f2, "GET", "/v2/keys/app/k29", headers=basic("bob", "bpw"))[0]
                 == 200, "bob's read on the restarted member", c)
        lists = [call(m, "GET", "/v2/auth/users", headers=ROOT)[2] for m in c.members]
        check(len(set(lists)) == 1 and b'"bob"' in lists[0], "user lists differ: %r" % lists, c)
        # a restarted leader keeps them too (its own snapshot and log)
        c.kill(lead)
        c.restart(lead)
        wait_for(lambda: call(lead, "GET", "/v2/auth/users/bob", headers=ROOT)[0] == 200,
                 "bob on the restarted leader", c)
    print("ok   auth_cluster")


if __name__ == "__main__":
    main()
