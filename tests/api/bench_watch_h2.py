#!/usr/bin/python3
"""Watch fan-out over HTTP/2 (h2c, prior knowledge): a benchmark, not a test.

Usage: bench_watch_h2.py PORT PID [N]
Opens N (default 10000) one-shot watch streams on one key, multiplexed over
as few h2c connections as the server allows (h2o 2.2.5 advertises 100
concurrent streams per connection), then prints the server's RSS growth per
stream and its CPU time over 3 idle seconds; then one PUT on the key and
when it was answered and when every stream had its event, checking that each
got exactly that event. Needs Debian's python3-h2 (/usr/bin/python3).
The client is Python: its delivery times are bounded by its own speed.
"""
import json
import resource
import selectors
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events

port, pid = int(sys.argv[1]), int(sys.argv[2])
n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss_kb():
    with open("/proc/%d/status" % pid) as f:
        return int([l for l in f if l.startswith("VmRSS")][0].split()[1])


def cpu_ticks():
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


class Conn:
    def __init__(self):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.h2.initiate_connection()
        self.h2.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20})
        self.sock.sendall(self.h2.data_to_send())
        self.streams = {}  # id -> [status, body bytes, ended time]
        self.sock.setblocking(False)

    def pump(self):
        try:
            data = self.sock.recv(1 << 20)
        except BlockingIOError:
            return []
        if not data:
            raise EOFError("server closed an h2c connection")
        events = self.h2.receive_data(data)
        now = time.time()
        for ev in events:
            if isinstance(ev, h2.events.ResponseReceived):
                self.streams[ev.stream_id][0] = dict(ev.headers).get(":status")
            elif isinstance(ev, h2.events.DataReceived):
                self.streams[ev.stream_id][1] += ev.data
                self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                self.streams[ev.stream_id][2] = now
        out = self.h2.data_to_send()
        if out:
            self.sock.setblocking(True)
            self.sock.sendall(out)
            self.sock.setblocking(False)
        return events


def main():
    per_conn = 100
    rss0 = rss_kb()
    conns = []
    sel = selectors.DefaultSelector()
    left = n
    while left > 0:
        c = Conn()
        conns.append(c)
        sel.register(c.sock, selectors.EVENT_READ, c)
        k = min(per_conn, left)
        for _ in range(k):
            sid = c.h2.get_next_available_stream_id()
            c.h2.send_headers(sid, [(":method", "GET"), (":scheme", "http"),
                                    (":authority", "127.0.0.1"),
                                    (":path", "/v2/keys/h2fanout?wait=true")], end_stream=True)
            c.streams[sid] = [None, b"", None]
        c.sock.setblocking(True)
        c.sock.sendall(c.h2.data_to_send())
        c.sock.setblocking(False)
        left -= k
    deadline = time.time() + 60
    while time.time() < deadline:
        for key, _ in sel.select(0.5):
            key.data.pump()
        if all(s[0] is not None for c in conns for s in c.streams.values()):
            break
    heads = sum(1 for c in conns for s in c.streams.values() if s[0] == "200")
    time.sleep(1)
    rss1 = rss_kb()
    c0 = cpu_ticks()
    time.sleep(3)
    c1 = cpu_ticks()
    print("%d watch streams on %d h2c connections (%d answered 200): server RSS %d -> %d KB, "
          "%.0f bytes each; %d CPU ticks in 3 idle seconds"
          % (n, len(conns), heads, rss0, rss1, (rss1 - rss0) * 1024.0 / n, c1 - c0))

    w = socket.create_connection(("127.0.0.1", port))
    body = b"value=h2"
    t0 = time.time()
    w.sendall(b"PUT /v2/keys/h2fanout HTTP/1.1\r\nHost: x\r\nContent-Type: "
              b"application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s"
              % (len(body), body))
    put_t = None
    resp = b""
    sel.register(w, selectors.EVENT_READ, None)
    deadline = time.time() + 30
    while time.time() < deadline:
        for key, _ in sel.select(0.5):
            if key.data is None:
                resp += w.recv(65536)
                if b"}\n" in resp and put_t is None:
                    put_t = time.time()
                    sel.unregister(w)
            else:
                key.data.pump()
        if put_t and all(s[2] for c in conns for s in c.streams.values()):
            break
    index = int(resp.split(b"X-Etcd-Index: ")[1].split(b"\r\n")[0])
    ends = sorted(s[2] - t0 for c in conns for s in c.streams.values() if s[2])
    wrong = 0
    for c in conns:
        for s in c.streams.values():
            lines = [l for l in s[1].split(b"\n") if l]
            if len(lines) != 1 or json.loads(lines[0])["node"]["modifiedIndex"] != index:
                wrong += 1
    print("PUT answered after %.2f ms; streams ended: first %.2f ms, median %.2f ms, last %.2f ms "
          "(%d of %d); %d wrong"
          % ((put_t - t0) * 1e3, ends[0] * 1e3, ends[len(ends) // 2] * 1e3, ends[-1] * 1e3,
             len(ends), n, wrong))
    for c in conns:
        c.sock.close()
    w.close()


if __name__ == "__main__":
    main()
