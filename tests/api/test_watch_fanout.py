#!/usr/bin/python3
"""Watch fan-out: ordering and isolation, not speed.

- The write that wakes many watchers is answered before any of them is
  written to (kernel receive timestamps, SO_TIMESTAMPNS, order the writes
  exactly, whoever reads first).
- Every watcher gets exactly the write's event; watchers of other keys get
  nothing and stay registered.
- A stream watcher that does not read is ended with an error line that says
  where to resume (waitIndex = the index after the last event it got), and
  resuming from there works; a reading stream watcher on the same key gets
  every event meanwhile.

Usage: test_watch_fanout.py [API_TEST_SERVER_BINARY] (as test_api_server.py).
"""
import json
import os
import selectors
import socket
import struct
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_api_server import (Reader, Server, build_request, read_chunk,  # noqa: E402
                             read_head, stats_watchers, wait_until)

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def eq(a, b, what):
    if a != b:
        raise Failure("%s: got %r, want %r" % (what, a, b))


def timestamped(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s


def recv_ts(s):
    """One recvmsg: (data, kernel receive time in ns of its first byte)."""
    data, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(16))
    ts = None
    for level, typ, val in anc:
        if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
            sec, nsec = struct.unpack("qq", val[:16])
            ts = sec * 10**9 + nsec
    return data, ts


def drain(s):
    """Everything already received (the early chunk framing), without blocking."""
    s.setblocking(False)
    try:
        while s.recv(65536):
            pass
    except BlockingIOError:
        pass
    s.setblocking(True)
    s.settimeout(10)


def dechunk(raw):
    """The body of a complete chunked stream that began with a dangling size line."""
    r = Reader(None)
    r.buf = raw
    out = b""
    while True:
        c = read_chunk(r)
        if c is None:
            return out
        out += c


def open_watchers(srv, path, n, timestamps=False):
    socks = []
    for i in range(n):
        s = timestamped(srv.port) if timestamps else socket.create_connection(
            ("127.0.0.1", srv.port), timeout=10)
        s.sendall(build_request("GET", path))
        socks.append(s)
    for s in socks:
        r = Reader(s)
        st, h = read_head(r)
        eq(st, 200, "watch status")
    time.sleep(0.2)  # every "0" of the early framing is in
    for s in socks:
        drain(s)
    return socks


def test_writer_answered_before_the_fanout(srv):
    n = 300
    base = stats_watchers(srv)
    watchers = open_watchers(srv, "/v2/keys/fo/k?wait=true", n, timestamps=True)
    others = open_watchers(srv, "/v2/keys/fo/other?wait=true", 5)
    eq(stats_watchers(srv), base + n + 5, "watchers registered")

    w = timestamped(srv.port)
    w.sendall(build_request("PUT", "/v2/keys/fo/k", "value=fan"))
    put_raw, put_ts = recv_ts(w)
    check(put_ts is not None, "the kernel gives receive timestamps")
    r = Reader(w)
    r.buf = put_raw
    st, h = read_head(r)
    check(st in (200, 201), "PUT status %d" % st)
    index = int(h["X-Etcd-Index"])

    first_ts = []
    bodies = []
    for s in watchers:
        raw, ts = recv_ts(s)
        first_ts.append(ts)
        # The rest of the one-shot answer (usually in the same segment).
        while not raw.endswith(b"0\r\n\r\n"):
            d = s.recv(65536)
            if not d:
                break
            raw += d
        bodies.append(dechunk(b"0" + raw))
    # One loop answers the writer before it writes to any watcher. With
    # several loops (--threads) the watchers on other loops are written by
    # their own threads while the writer's loop answers it: neither waits
    # for the other, and neither order is promised.
    if srv.threads == 1:
        check(min(first_ts) >= put_ts,
              "the PUT was answered %.3f ms after the first watcher was written to"
              % ((put_ts - min(first_ts)) / 1e6))
    for b in bodies:
        lines = [l for l in b.split(b"\n") if l]
        eq(len(lines), 1, "events per one-shot watcher")
        d = json.loads(lines[0])
        eq((d["action"], d["node"]["key"], d["node"]["value"], d["node"]["modifiedIndex"]),
           ("set", "/fo/k", "fan", index), "each watcher's event")
    # Watchers of another key heard nothing and still wait.
    for s in others:
        s.setblocking(False)
        try:
            got = s.recv(100)
        except BlockingIOError:
            got = None
        check(got is None, "a watcher of another key got %r" % got)
    wait_until(lambda: stats_watchers(srv) == base + 5, 3, "one-shot watchers to be removed")
    for s in watchers + others + [w]:
        s.close()
    wait_until(lambda: stats_watchers(srv) == base, 3, "watchers to be freed")


def test_slow_stream_watcher_ended_and_others_served(srv):
    base = stats_watchers(srv)
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.settimeout(10)
    stalled.connect(("127.0.0.1", srv.port))
    stalled.sendall(build_request("GET", "/v2/keys/fo/s?wait=true&stream=true"))
    rs = Reader(stalled)
    read_head(rs)
    reader = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    reader.sendall(build_request("GET", "/v2/keys/fo/s?wait=true&stream=true"))
    rr = Reader(reader)
    read_head(rr)
    big = "x" * 100000
    indexes = []
    got = []
    buf = b""
    sel = selectors.DefaultSelector()
    sel.register(reader, selectors.EVENT_READ)
    for i in range(60):
        st, h, _ = srv.request("PUT", "/v2/keys/fo/s", "value=%d%s" % (i, big), timeout=10)
        indexes.append(int(h["X-Etcd-Index"]))
        # The reading watcher keeps up while the other one stalls: it reads
        # this PUT's event (over 100 KB) before the next PUT. Reading only
        # what had arrived when the PUT was answered let a loop that was
        # not scheduled for a few PUTs (a busy machine, --threads 4 on two
        # cores) pass the 256 KB limit for the reader too.
        want = len(buf) + len(big)
        deadline = time.time() + 5
        while len(buf) < want and time.time() < deadline:
            if sel.select(0.1):
                d = reader.recv(1 << 20)
                check(d, "the reading stream was closed")
                buf += d
    deadline = time.time() + 10
    while time.time() < deadline:
        body = dechunk_partial(buf)
        lines = [json.loads(l) for l in body.split(b"\n") if l]
        check(all("node" in d for d in lines),
              "the reading stream watcher was ended too: %r" % lines[-1:])
        got = [d["node"]["modifiedIndex"] for d in lines]
        if len(got) >= 60:
            break
        if sel.select(1):
            buf += reader.recv(1 << 20)
    eq(got, indexes, "the reading stream watcher got every event, in order")

    # The stalled watcher: some events, then an error line saying where to resume, then the end.
    stalled.settimeout(10)
    body = b""
    while True:
        c = read_chunk(rs)
        if c is None:
            break
        body += c
    lines = [json.loads(l) for l in body.split(b"\n") if l]
    tail = lines[-1]
    eq(tail.get("errorCode"), 400, "a stream that cannot keep up ends with an error line")
    resume = int(tail["cause"].rsplit("=", 1)[1])
    events = [d["node"]["modifiedIndex"] for d in lines[:-1]]
    check(len(events) < 60, "the stalled stream was not buffered without bound")
    eq(events, indexes[:len(events)], "the stalled watcher's events are a prefix, in order")
    eq(resume, indexes[len(events)], "resume index = the last event it got + 1")
    # Resuming from there gives exactly the first event it missed.
    st, h, b = srv.request("GET", "/v2/keys/fo/s?wait=true&waitIndex=%d" % resume)
    eq(json.loads(b)["node"]["modifiedIndex"], resume, "the watch resumes where it stopped")
    stalled.close()
    reader.close()
    # The next case counts watchers: this one's must be gone first.
    wait_until(lambda: stats_watchers(srv) == base, 3, "the stream watchers to be freed")


def test_connection_after_a_watch(srv):
    """The socket a waiting watch held goes back to serving requests: a request
    pipelined behind the watch is answered after its event, and a watch sent
    with Connection: close ends with the connection."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(build_request("GET", "/v2/keys/fo/ka?wait=true") +
              build_request("GET", "/v2/keys/fo/ka"))
    r = Reader(s)
    st, h = read_head(r)
    eq(st, 200, "watch status")
    srv.request("PUT", "/v2/keys/fo/ka", "value=1")
    body = b""
    while True:
        c = read_chunk(r)
        if c is None:
            break
        body += c
    eq(json.loads(body)["node"]["value"], "1", "the watch's event")
    st, h = read_head(r)
    eq(st, 200, "the pipelined GET is answered after the watch")
    eq(json.loads(r.exact(int(h["Content-Length"])))["node"]["value"], "1", "pipelined GET body")
    s.sendall(build_request("GET", "/v2/keys/fo/ka"))
    st, h = read_head(r)
    eq(st, 200, "and the connection keeps serving")
    r.exact(int(h["Content-Length"]))
    s.close()

    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(build_request("GET", "/v2/keys/fo/ka?wait=true", close=True))
    r = Reader(s)
    read_head(r)
    srv.request("PUT", "/v2/keys/fo/ka", "value=2")
    while read_chunk(r) is not None:
        pass
    eq(s.recv(100), b"", "Connection: close ends the connection after the event")
    s.close()


def test_dropped_raw_watchers_freed(srv):
    base = stats_watchers(srv)
    socks = open_watchers(srv, "/v2/keys/fo/drop?wait=true&stream=true", 50)
    eq(stats_watchers(srv), base + 50, "stream watchers registered")
    for s in socks:
        s.close()
    wait_until(lambda: stats_watchers(srv) == base, 3, "dropped watchers to be freed")


def dechunk_partial(raw):
    """The complete chunks at the start of a stream's body (after the headers)."""
    out = b""
    pos = 0
    while True:
        end = raw.find(b"\r\n", pos)
        if end < 0:
            return out
        size = int(raw[pos:end].split(b";")[0] or b"0", 16)
        if size == 0 or end + 2 + size + 2 > len(raw):
            return out
        out += raw[end + 2:end + 2 + size]
        pos = end + 2 + size + 2


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else None
    # metcd: every case with one HTTP loop, then with four (--threads).
    if binary is None and "--threads" not in sys.argv:
        rc1 = subprocess.call([sys.executable, __file__, "--threads", "1"])
        rc4 = subprocess.call([sys.executable, __file__, "--threads", "4"])
        return 1 if rc1 or rc4 else 0
    if binary == "--threads":
        srv = Server(None, args=sys.argv[1:3])
    else:
        srv = Server(binary)
    print("server: %s" % ("metcd --threads %d" % srv.threads if srv.metcd else binary))
    tests = [v for k, v in sorted(globals().items()) if k.startswith("test_")]
    failed = []
    try:
        for t in tests:
            try:
                t(srv)
                print("ok   " + t.__name__)
            except Exception:
                failed.append(t.__name__)
                print("FAIL " + t.__name__)
                traceback.print_exc()
    finally:
        rc = srv.stop()
    if rc not in (0, -15):
        failed.append("server exit status %r" % rc)
    print("%d passed, %d failed" % (len(tests) - len(failed) + (rc not in (0, -15)), len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
