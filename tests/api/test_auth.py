"""v2 auth on a real metcd: what the differential test (tests/diff/auth_diff.py)
cannot compare with etcd.

- an empty user name is refused (etcd 3.4.23 panics on it and drops the
  connection);
- failed logins are counted in /metrics;
- the auth records' place in the store is out of reach of /v2/keys and
  never listed;
- passwords are in no file of the data directory and not in the log;
- a remembered good password stops working once it is changed or its user
  deleted;
- many wrong passwords over one HTTP/2 connection do not hold up another
  client's login: its answer comes while the guesses are still queued.
Usage: test_auth.py [case...]; METCD_BIN names the server.
"""
import base64
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import metcd_proc as mp  # noqa: E402

PASSWORD = "s3cret-Pa55word-xyzzy"


def basic(user, pw):
    tok = base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()
    return {"Authorization": "Basic " + tok}


ROOT = basic("root", PASSWORD)


def put_json(url, obj, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return mp.http("PUT", url, json.dumps(obj).encode(), h)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def start_with_auth(extra_users=()):
    m = mp.Metcd()
    try:
        return enable_auth(m, extra_users)
    except BaseException:
        m.close()
        raise


def enable_auth(m, extra_users):
    m.wait_ready()
    u = m.client_url
    st, _, b = put_json(u + "/v2/auth/users/root", {"user": "root", "password": PASSWORD})
    check(st == 201, "root user: %d %r" % (st, b))
    st, _, b = put_json(u + "/v2/auth/roles/all",
                        {"role": "all", "permissions": {"kv": {"read": ["/*"], "write": ["/*"]}}})
    check(st == 201, "role: %d %r" % (st, b))
    for name, pw in extra_users:
        st, _, b = put_json(u + "/v2/auth/users/" + name,
                            {"user": name, "password": pw, "roles": ["all"]})
        check(st == 200, "user %s: %d %r" % (name, st, b))
    st, _, b = mp.http("PUT", u + "/v2/auth/enable")
    check(st == 200, "enable: %d %r" % (st, b))
    return m


def stop_clean(m):
    """Stops m with SIGTERM (a normal exit) and fails on a sanitizer report."""
    rc = m.stop()
    err = m.stderr()
    check("Sanitizer" not in err and "runtime error:" not in err, "sanitizer report:\n" + err)
    check(rc == 0, "exit status %d:\n%s" % (rc, err[-2000:]))


def failed_logins(m):
    _, _, body = mp.http("GET", m.client_url + "/metrics")
    mt = re.search(rb"^metcd_auth_failed_logins_total (\d+)$", body, re.M)
    check(mt is not None, "no metcd_auth_failed_logins_total in /metrics")
    return int(mt.group(1))


def case_empty_user_and_metrics():
    with start_with_auth() as m:
        u = m.client_url + "/v2/keys/k"
        base = failed_logins(m)
        st, _, b = mp.http("GET", u, headers=basic("", "x"))
        check(st == 401 and json.loads(b)["errorCode"] == 110, "empty user: %d %r" % (st, b))
        mp.http("GET", u, headers=basic("root", "wrong"))
        mp.http("GET", u, headers=basic("nobody", "x"))
        mp.http("GET", u, headers={"Authorization": "Basic ###"})
        check(failed_logins(m) == base + 4, "failed logins: %d, want %d"
              % (failed_logins(m), base + 4))
        st, _, _ = mp.http("GET", u, headers=ROOT)
        check(st == 404, "root's GET of a missing key: %d" % st)
        check(failed_logins(m) == base + 4, "a good login was counted as failed")
        stop_clean(m)


def case_nul_in_password():
    # crypt() would stop at the NUL and let the prefix in: refused (etcd
    # hashes every byte)
    with start_with_auth() as m:
        st, _, b = mp.http("PUT", m.client_url + "/v2/auth/users/n",
                           b'{"user":"n","password":"ab\\u0000cd"}',
                           dict(ROOT, **{"Content-Type": "application/json"}))
        check(st == 500 and b == b'{"message":"Internal Server Error"}', "%d %r" % (st, b))
        st, _, _ = mp.http("GET", m.client_url + "/v2/auth/users/n", headers=ROOT)
        check(st == 404, "the user was created: %d" % st)
        stop_clean(m)


def case_reserved_root():
    with start_with_auth() as m:
        k = m.client_url + "/v2/keys"
        for method, target in (("GET", "/_%00auth"), ("GET", "/_%00auth/users/root"),
                               ("PUT", "/_%00auth/users/root?value=x"),
                               ("DELETE", "/_%00auth?recursive=true"),
                               ("POST", "/_%00auth/users?value=x"),
                               ("GET", "/_%00auth/enabled?wait=true")):
            st, _, b = mp.http(method, k + target, headers=ROOT)
            check(st == 400 and json.loads(b)["errorCode"] == 106,
                  "%s %s: %d %r" % (method, target, st, b))
        st, _, b = mp.http("GET", k + "/?recursive=true", headers=ROOT)
        check(st == 200 and "nodes" not in json.loads(b)["node"], "root listing: %r" % b)
        st, _, b = mp.http("GET", m.client_url + "/v2/auth/users/root", headers=ROOT)
        check(st == 200, "root user still readable: %d %r" % (st, b))
        stop_clean(m)


def case_no_clear_password():
    with start_with_auth([("alice", PASSWORD + "-alice")]) as m:
        mp.http("GET", m.client_url + "/v2/keys/x", headers=basic("alice", "wrong-" + PASSWORD))
        mp.http("GET", m.client_url + "/v2/keys/x", headers=basic("alice", PASSWORD + "-alice"))
        stop_clean(m)
        needle = PASSWORD.encode()
        for d, _, files in os.walk(m.data_dir):
            for f in files:
                with open(os.path.join(d, f), "rb") as fh:
                    check(needle not in fh.read(), "password in clear in %s" % f)
        check(PASSWORD not in m.stderr(), "password in the log")
        # the hashes are there: bcrypt, cost 10
        found = False
        for d, _, files in os.walk(m.data_dir):
            for f in files:
                with open(os.path.join(d, f), "rb") as fh:
                    found = found or re.search(rb"\$2[aby]\$10\$", fh.read()) is not None
        check(found, "no bcrypt hash in the data directory")


def case_cached_password_revoked():
    with start_with_auth([("bob", "pw1")]) as m:
        u = m.client_url
        for _ in range(2):  # the second one is answered from the cache
            st, _, _ = mp.http("GET", u + "/v2/keys/x", headers=basic("bob", "pw1"))
            check(st == 404, "bob's read: %d" % st)
        st, _, b = put_json(u + "/v2/auth/users/bob", {"user": "bob", "password": "pw2"}, ROOT)
        check(st == 200, "password change: %d %r" % (st, b))
        st, _, _ = mp.http("GET", u + "/v2/keys/x", headers=basic("bob", "pw1"))
        check(st == 401, "old password after the change: %d" % st)
        st, _, _ = mp.http("GET", u + "/v2/keys/x", headers=basic("bob", "pw2"))
        check(st == 404, "new password: %d" % st)
        st, _, _ = mp.http("DELETE", u + "/v2/auth/users/bob", headers=ROOT)
        check(st == 200, "delete bob: %d" % st)
        st, _, _ = mp.http("GET", u + "/v2/keys/x", headers=basic("bob", "pw2"))
        check(st == 401, "deleted user's cached password: %d" % st)


def h2c_burst(port, target, headers, n):
    """Sends n GETs at once as streams of one HTTP/2 connection (prior
    knowledge, the smallest client that does it: literal HPACK fields, no
    Huffman); returns a socket and a function that reads every answer's body
    (the bodies, in stream order). Bounded by the socket timeout."""
    import socket
    import struct

    def frame(ftype, flags, sid, payload):
        return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
            struct.pack(">I", sid) + payload

    def lit(s):
        b = s.encode()
        assert len(b) < 127
        return bytes([len(b)]) + b

    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b"")
    block = b"\x82\x86" + b"\x04" + lit(target) + b"\x01" + lit("127.0.0.1:%d" % port)
    for k, v in headers.items():
        block += b"\x00" + lit(k.lower()) + lit(v)
    sids = [1 + 2 * i for i in range(n)]
    for sid in sids:
        out += frame(1, 0x5, sid, block)  # HEADERS, END_STREAM | END_HEADERS
    s.sendall(out)

    def read_all():
        buf, bodies, done = b"", {sid: b"" for sid in sids}, set()
        while len(done) < n:
            while len(buf) < 9 or len(buf) < 9 + int.from_bytes(buf[:3], "big"):
                chunk = s.recv(65536)
                if not chunk:
                    raise AssertionError("connection closed after %d answers" % len(done))
                buf += chunk
            ln = int.from_bytes(buf[:3], "big")
            ftype, flags = buf[3], buf[4]
            sid = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
            payload, buf = buf[9:9 + ln], buf[9 + ln:]
            if ftype == 4 and not flags & 1:
                s.sendall(frame(4, 1, 0, b""))  # SETTINGS ack
            if ftype == 0 and sid in bodies:
                bodies[sid] += payload
            if ftype in (0, 1) and flags & 1 and sid in bodies:
                done.add(sid)
            if ftype == 7:  # GOAWAY
                raise AssertionError("GOAWAY after %d answers" % len(done))
        return [bodies[sid] for sid in sids]
    return s, read_all


def case_guessing_does_not_block_others():
    with start_with_auth([("carol", "carol-pw")]) as m:
        n = 16
        base = failed_logins(m)
        sock, read_all = h2c_burst(m.client_port, "/v2/keys/x", basic("root", "guess"), n)
        try:
            # once the first guess has been checked, the others are queued
            deadline = time.monotonic() + 30
            while failed_logins(m) == base and time.monotonic() < deadline:
                time.sleep(0.005)
            st, _, b = mp.http("GET", m.client_url + "/v2/keys/x",
                               headers=basic("carol", "carol-pw"), timeout=60)
            check(st == 404, "carol's read: %d %r" % (st, b))
            # an ordering, not a speed: carol was answered while most of the
            # guesses were still waiting for their checks
            waiting = n - (failed_logins(m) - base)
            print("guesses checked before carol was answered: %d of %d" % (n - waiting, n))
            check(waiting >= n // 2, "carol was answered after %d of %d guesses"
                  % (n - waiting, n))
            bodies = read_all()
        finally:
            sock.close()
        for body in bodies:
            check(json.loads(body)["errorCode"] == 110, "a guess was answered %r" % body)
        check(failed_logins(m) == base + n, "guesses counted: %d of %d"
              % (failed_logins(m) - base, n))
        stop_clean(m)


CASES = {
    "empty_user_and_metrics": case_empty_user_and_metrics,
    "nul_in_password": case_nul_in_password,
    "reserved_root": case_reserved_root,
    "no_clear_password": case_no_clear_password,
    "cached_password_revoked": case_cached_password_revoked,
    "guessing_does_not_block_others": case_guessing_does_not_block_others,
}

if __name__ == "__main__":
    mp.run_cases(CASES)
