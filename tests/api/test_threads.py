#!/usr/bin/python3
"""--threads: several HTTP loops serving one store, v2 semantics unchanged.

Runs metcd with --threads 4 (more loops than this machine's cores, so that
loops really interleave) and many keep-alive connections at once, which the
kernel spreads over the loops:

- every acknowledged write is in the store afterwards, each with its own
  index, and every GET answer is consistent with one index (X-Etcd-Index is
  at least the node's modifiedIndex, and the value is the one written with
  that index);
- stream watchers on different connections each receive every event of
  the writes, in index order, with no gap and no duplicate;
- a long-poll watcher that chains waitIndex = last + 1 sees every index;
- quorum GETs, membership reads and /metrics answer on every loop; the
  server stops cleanly (exit 0) with connections and watches open;
- a write is answered as soon as it is written, whichever way the owner
  thread's wakeup and the loops interleave (owner_wakeup, with metcd-hooks);
- requests that arrive behind a write still waiting are answered after it,
  in order, and a client that leaves meanwhile loses nothing
  (input_while_waiting, with metcd-hooks).

No speed is asserted. Usage: test_threads.py [CASE...] (METCD_BIN set).
"""
import http.client
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from metcd_proc import SANITIZED, Metcd, run_cases  # noqa: E402

WRITERS = 6
WRITES_EACH = 40 if SANITIZED else 120
TIMEOUT = 60.0 if SANITIZED else 20.0


def connect(port):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)


def request(conn, method, path, body=None):
    headers = {}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    return r.status, r.headers, r.read()


class StreamWatcher(threading.Thread):
    """A recursive stream watch on prefix; collects (index, key, value)."""

    def __init__(self, port, prefix, want):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.sock.sendall(("GET /v2/keys%s?wait=true&recursive=true&stream=true HTTP/1.1\r\n"
                           "Host: 127.0.0.1\r\n\r\n" % prefix).encode())
        self.want = want
        self.events = []
        self.error = None
        self.started = threading.Event()

    def run(self):
        buf = b""
        try:
            while b"\r\n\r\n" not in buf:
                buf += self.sock.recv(65536)
            head, buf = buf.split(b"\r\n\r\n", 1)
            if not head.startswith(b"HTTP/1.1 200"):
                raise AssertionError("watch answered %r" % head[:40])
            self.started.set()
            # Chunked body; each event is one JSON line of the de-chunked stream.
            data = b""
            while len(self.events) < self.want:
                while True:
                    crlf = buf.find(b"\r\n")
                    if crlf < 0:
                        break
                    # The server sends a lone "0" ahead of each size line (leading
                    # zeros are legal): "0" + "1a\r\n" is one size line.
                    size = int(buf[:crlf], 16)
                    if len(buf) < crlf + 2 + size + 2:
                        break
                    data += buf[crlf + 2:crlf + 2 + size]
                    buf = buf[crlf + 2 + size + 2:]
                    if size == 0:
                        raise AssertionError("the stream ended after %d events" % len(self.events))
                while b"\n" in data:
                    line, data = data.split(b"\n", 1)
                    ev = json.loads(line)
                    if "errorCode" in ev:
                        raise AssertionError("stream error: %s" % ev)
                    n = ev["node"]
                    self.events.append((n["modifiedIndex"], n["key"], n.get("value")))
                if len(self.events) >= self.want:
                    break
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise AssertionError("the stream closed after %d events" % len(self.events))
                buf += chunk
        except Exception as e:  # reported by the case
            self.error = e
            self.started.set()
        finally:
            self.sock.close()


def write_all(port, prefix, results, errors):
    def writer(w):
        try:
            conn = connect(port)
            for i in range(WRITES_EACH):
                key = "%s/w%d/k%d" % (prefix, w, i)
                val = "v%d-%d" % (w, i)
                st, h, body = request(conn, "PUT", "/v2/keys" + key, "value=" + val)
                if st not in (200, 201):
                    raise AssertionError("PUT %s: %d %s" % (key, st, body))
                ev = json.loads(body)
                results.append((ev["node"]["modifiedIndex"], key, val))
                # A read on the same connection right after: one index.
                st, h, body = request(conn, "GET", "/v2/keys" + key)
                node = json.loads(body)["node"]
                if int(h["X-Etcd-Index"]) < node["modifiedIndex"]:
                    raise AssertionError("GET %s: X-Etcd-Index %s below modifiedIndex %d"
                                         % (key, h["X-Etcd-Index"], node["modifiedIndex"]))
                if node["modifiedIndex"] < ev["node"]["modifiedIndex"]:
                    raise AssertionError("GET %s after its PUT saw an older node" % key)
            conn.close()
        except Exception as e:
            errors.append(e)
    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 4)
        if t.is_alive():
            errors.append(AssertionError("a writer did not finish"))


def start_server():
    m = Metcd(args=["--threads", "4"])
    m.wait_ready()
    if "serving clients on 4 HTTP loops" not in m.stderr():
        raise AssertionError("no HTTP loops started:\n" + m.stderr())
    return m


def case_writes_reads_streams():
    with start_server() as m:
        port = m.client_port
        total = WRITERS * WRITES_EACH
        watchers = [StreamWatcher(port, "/s", total) for _ in range(4)]
        for w in watchers:
            w.start()
        for w in watchers:
            if not w.started.wait(TIMEOUT) or w.error:
                raise AssertionError("a stream watch did not start: %s" % w.error)
        results, errors = [], []
        write_all(port, "/s", results, errors)
        if errors:
            raise errors[0]
        indexes = sorted(r[0] for r in results)
        if len(set(indexes)) != total:
            raise AssertionError("%d writes got %d distinct indexes" % (total, len(set(indexes))))
        want = sorted(results)
        for w in watchers:
            w.join(TIMEOUT)
            if w.error:
                raise w.error
            if w.events != want:
                got = [e[0] for e in w.events]
                raise AssertionError("a stream watcher got %d events, first difference near %s"
                                     % (len(got), next((a, b) for a, b in zip(got, indexes)
                                                       if a != b) if got != indexes else "-"))
        # Every acknowledged write is there, with its value.
        conn = connect(port)
        st, h, body = request(conn, "GET", "/v2/keys/s?recursive=true")
        seen = {}

        def walk(n):
            for c in n.get("nodes", []):
                if c.get("dir"):
                    walk(c)
                else:
                    seen[c["key"]] = (c["modifiedIndex"], c["value"])
        walk(json.loads(body)["node"])
        for idx, key, val in results:
            if seen.get(key) != (idx, val):
                raise AssertionError("%s: want %s, store has %s" % (key, (idx, val), seen.get(key)))
        if m.stop() != 0:
            raise AssertionError("metcd exited with an error:\n" + m.stderr())


def case_longpoll_chain():
    """A long poll that asks again from the next index misses nothing."""
    with start_server() as m:
        port = m.client_port
        conn = connect(port)
        st, h, body = request(conn, "PUT", "/v2/keys/c/start", "value=0")
        start = json.loads(body)["node"]["modifiedIndex"]
        results, errors = [], []
        got = []

        def chain():
            try:
                c = connect(port)
                nxt = start + 1
                while len(got) < WRITERS * WRITES_EACH:
                    st, h, body = request(c, "GET", "/v2/keys/c?wait=true&recursive=true"
                                          "&waitIndex=%d" % nxt)
                    if st != 200:
                        raise AssertionError("long poll: %d %s" % (st, body))
                    n = json.loads(body)["node"]
                    got.append((n["modifiedIndex"], n["key"], n["value"]))
                    nxt = n["modifiedIndex"] + 1
            except Exception as e:
                errors.append(e)
        t = threading.Thread(target=chain, daemon=True)
        t.start()
        write_all(port, "/c", results, errors)
        t.join(TIMEOUT * 2)
        if errors:
            raise errors[0]
        if got != sorted(results):
            raise AssertionError("the chained long poll saw %d of %d events, or out of order"
                                 % (len(got), len(results)))
        # Other endpoints answer on whichever loop takes the connection.
        for path in ("/v2/keys/c?quorum=true", "/v2/members", "/v2/stats/store", "/metrics",
                     "/v2/stats/self", "/health"):
            for _ in range(4):
                c = connect(port)
                st, h, body = request(c, "GET", path)
                c.close()
                if st != 200:
                    raise AssertionError("GET %s: %d" % (path, st))
        # Stop with a long poll and a stream pending on some loop.
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
        for i, s in enumerate(idle):
            s.sendall(("GET /v2/keys/idle%d?wait=true%s HTTP/1.1\r\nHost: x\r\n\r\n"
                       % (i, "&stream=true" if i % 2 else "")).encode())
        time.sleep(0.3)
        if m.stop() != 0:
            raise AssertionError("metcd exited with an error:\n" + m.stderr())
        for s in idle:
            s.close()


def case_owner_wakeup():
    """A loop's proposal wakes the owner thread at once, whatever the
    interleaving. The owner reads its wakeup, then clears the flag that
    tells loops a wakeup is pending; the test hook "owner-wake" holds it
    20 ms between the two, so that loops proposing then find the flag set
    and write nothing, and must be served by that same turn. In the other
    order a wakeup written meanwhile was swallowed with the flag left set:
    from then on no loop woke the owner, and every write waited for one of
    its timers (the 500 ms SYNC, the heartbeat). After writes from six
    connections at once, which brought that interleaving about, writes one
    at a time must each be answered as soon as written: the median of 40
    under 150 ms (20 ms of it the hook), against about 250 ms when the
    owner runs on its timers only. No speed is measured."""
    if not os.environ.get("METCD_HOOKS_BIN"):
        raise AssertionError("METCD_HOOKS_BIN is not set (the build's tests/metcd-hooks)")
    with Metcd(args=["--threads", "2", "--heartbeat-interval", "5000",
                     "--election-timeout", "50000"],
               env={"METCD_TEST_PAUSE_AT": "owner-wake:20"}) as m:
        m.wait_ready()
        errors = []

        def writer(w, n, took):
            try:
                conn = connect(m.client_port)
                for i in range(n):
                    t0 = time.monotonic()
                    st, h, body = request(conn, "PUT", "/v2/keys/w/%d-%d" % (w, i), "value=v")
                    if st not in (200, 201):
                        raise AssertionError("PUT: %d %s" % (st, body))
                    took.append(time.monotonic() - t0)
                conn.close()
            except Exception as e:
                errors.append(e)
        burst = []
        writers = [threading.Thread(target=writer, args=(i, 50, burst), daemon=True)
                   for i in range(6)]
        for t in writers:
            t.start()
        for t in writers:
            t.join(120)
        alone = []
        writer(6, 40, alone)
        if errors:
            raise errors[0]
        if len(burst) != 300 or len(alone) != 40:
            raise AssertionError("%d of 340 writes acknowledged" % (len(burst) + len(alone)))
        median = sorted(alone)[len(alone) // 2]
        print("burst of 300: %.1f s; writes one at a time: median %.0f ms"
              % (sum(burst) / 6, median * 1000))
        if median > 0.150:
            raise AssertionError("writes one at a time waited for the owner's timers (a lost "
                                 "wakeup): median %.0f ms" % (median * 1000))
        if m.stop() != 0:
            raise AssertionError("metcd exited with an error:\n" + m.stderr())


def read_answers(sock, n):
    """n HTTP/1.1 answers with Content-Length bodies: [(status, body)]."""
    buf, out = b"", []
    while len(out) < n:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError("closed after %d answers" % len(out))
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        length = [int(l.split(":", 1)[1]) for l in lines if l.lower().startswith("content-length:")]
        if not length:
            raise AssertionError("an answer without Content-Length: %r" % head)
        while len(buf) < length[0]:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError("closed inside answer %d" % (len(out) + 1))
            buf += chunk
        out.append((int(lines[0].split()[1]), buf[:length[0]]))
        buf = buf[length[0]:]
    return out


def put_request(key, value):
    body = "value=" + value
    return ("PUT /v2/keys%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded"
            "\r\nContent-Length: %d\r\n\r\n%s" % (key, len(body), body)).encode()


def case_input_while_waiting():
    """A connection whose write waits for raft keeps its read registration
    (api_read_while_waiting): what arrives meanwhile must wait for the
    answer, in order, even when it makes the connection's input buffer
    grow (which moves it), and a client that leaves meanwhile must not
    disturb the server or lose the write. The hook "owner-wake" holds each
    write 50 ms, so the next requests arrive while the first waits."""
    if not os.environ.get("METCD_HOOKS_BIN"):
        raise AssertionError("METCD_HOOKS_BIN is not set (the build's tests/metcd-hooks)")
    with Metcd(args=["--threads", "2"], env={"METCD_TEST_PAUSE_AT": "owner-wake:50"}) as m:
        m.wait_ready()
        big = "b" * (200 * 1024)
        for round_ in range(3):
            s = socket.create_connection(("127.0.0.1", m.client_port), timeout=TIMEOUT)
            s.sendall(put_request("/wait/first%d" % round_, "one"))
            time.sleep(0.02)
            s.sendall(put_request("/wait/big%d" % round_, big))
            s.sendall(("GET /v2/keys/wait/first%d HTTP/1.1\r\nHost: x\r\n\r\n"
                       "DELETE /v2/keys/wait/first%d HTTP/1.1\r\nHost: x\r\n\r\n"
                       % (round_, round_)).encode())
            got = read_answers(s, 4)
            s.close()
            evs = [json.loads(b) for _, b in got]
            want = [(201, "set", "/wait/first%d" % round_, "one"),
                    (201, "set", "/wait/big%d" % round_, big),
                    (200, "get", "/wait/first%d" % round_, "one"),
                    (200, "delete", "/wait/first%d" % round_, None)]
            have = [(st, ev.get("action"), ev.get("node", {}).get("key"),
                     ev.get("node", {}).get("value")) for (st, _), ev in zip(got, evs)]
            if have != want:
                raise AssertionError("pipelined behind a waiting write: %r" % [
                    (a, b, c, (d or "")[:20]) for a, b, c, d in have])
        # A client that sends a write and leaves before it is answered.
        for i in range(5):
            s = socket.create_connection(("127.0.0.1", m.client_port), timeout=TIMEOUT)
            s.sendall(put_request("/wait/left%d" % i, "gone"))
            time.sleep(0.01)
            s.close()
        conn = connect(m.client_port)
        for i in range(5):
            deadline = time.monotonic() + TIMEOUT
            while True:
                st, h, body = request(conn, "GET", "/v2/keys/wait/left%d" % i)
                if st == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            if st != 200 or json.loads(body)["node"]["value"] != "gone":
                raise AssertionError("the write of a client that left: %d %s" % (st, body[:80]))
        conn.close()
        if m.stop() != 0:
            raise AssertionError("metcd exited with an error:\n" + m.stderr())


if __name__ == "__main__":
    run_cases({"writes_reads_streams": case_writes_reads_streams,
               "longpoll_chain": case_longpoll_chain,
               "owner_wakeup": case_owner_wakeup,
               "input_while_waiting": case_input_while_waiting})
