"""Unit tests of relay.py against small in-process servers (no cluster):
identities from X-Server-From, keep-alive requests, chunked bodies, a
connection that switches to its own framing, anonymous connections, and
cut/heal of one pair in both directions.

    /usr/bin/python3 tests/cluster/test_relay.py [-v]
"""
import socket
import sys
import threading
import time
import unittest

from relay import Relay, _RequestStream


class Echo:
    """A TCP server that answers every chunk it receives with the same bytes."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        self.received = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        c.settimeout(10.0)
        try:
            while True:
                data = c.recv(65536)
                if not data:
                    return
                self.received.append(data)
                c.sendall(data)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.closed = True
        self.sock.close()


def request(sender=None, path="/raft", body=b"", extra=""):
    h = "POST %s HTTP/1.1\r\nHost: x\r\n" % path
    if sender is not None:
        h += "X-Server-From: %s\r\n" % sender
    h += extra
    h += "Content-Length: %d\r\n\r\n" % len(body)
    return h.encode() + body


def read_exactly(s, n, timeout=5.0):
    s.settimeout(timeout)
    out = b""
    while len(out) < n:
        data = s.recv(n - len(out))
        if not data:
            break
        out += data
    return out


def closed_by_peer(s, timeout=5.0):
    """True when the relay closed s (EOF or reset) within timeout."""
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


class StreamParsing(unittest.TestCase):
    def items(self, chunks):
        st = _RequestStream()
        out = []
        for c in chunks:
            out += st.feed(c)
        return out, st

    def test_keep_alive_requests_byte_by_byte(self):
        data = request("a", body=b"xyz") + request("b", body=b"") + request("c", body=b"12")
        out, st = self.items([data[i:i + 1] for i in range(len(data))])
        senders = [i[2].get("x-server-from") for i in out if i[0] == "headers"]
        self.assertEqual(senders, ["a", "b", "c"])
        self.assertEqual(b"".join(i[1] for i in out), data)
        self.assertEqual(st.state, "headers")

    def test_chunked_body_then_next_request(self):
        body = b"4\r\nwiki\r\n5;ext=1\r\npedia\r\n0\r\n\r\n"
        first = (b"POST /raft/snapshot HTTP/1.1\r\nX-Server-From: a\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n" + body)
        data = first + request("b")
        out, st = self.items([data[:30], data[30:61], data[61:]])
        senders = [i[2].get("x-server-from") for i in out if i[0] == "headers"]
        self.assertEqual(senders, ["a", "b"])
        self.assertEqual(b"".join(i[1] for i in out), data)

    def test_binary_after_opening_request_is_raw(self):
        data = request("a", path="/peer") + b"\x00\x01\x02binary frames\xff" * 10
        out, st = self.items([data])
        self.assertEqual(st.state, "raw")
        self.assertEqual([i[0] for i in out].count("headers"), 1)
        self.assertEqual(b"".join(i[1] for i in out), data)

    def test_post_without_length_is_a_raw_stream(self):
        head = (b"POST /raft/metcd/stream/msg HTTP/1.1\r\nHost: metcd\r\n"
                b"X-Server-From: 1a\r\nContent-Type: application/octet-stream\r\n\r\n")
        data = head + b"GET / HTTP/1.1\r\n\r\n"       # frames that happen to look like HTTP
        out, st = self.items([data])
        self.assertEqual(st.state, "raw")
        self.assertEqual([i[0] for i in out].count("headers"), 1)
        self.assertEqual(b"".join(i[1] for i in out), data)

    def test_upgrade_switches_to_raw(self):
        data = (b"GET /peer HTTP/1.1\r\nX-Server-From: a\r\nConnection: Upgrade\r\n"
                b"Upgrade: metcd-raft\r\n\r\nGET / HTTP/1.1\r\n\r\n")
        out, st = self.items([data])
        self.assertEqual(st.state, "raw")
        self.assertEqual([i[0] for i in out].count("headers"), 1)


class Cutting(unittest.TestCase):
    def setUp(self):
        self.echo = {n: Echo() for n in ("a", "b", "c")}
        self.relay = Relay()
        self.port = {n: self.relay.add(n, e.port) for n, e in self.echo.items()}
        self.relay.set_ids({0x1a: "a", 0x2b: "b", 0x3c: "c"})
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            s.close()
        self.relay.close()
        for e in self.echo.values():
            e.close()

    def connect(self, dst, sender, body=b"hello"):
        """Opens a connection to dst's relay port as sender; returns the socket
        after one echoed request, or None when the relay closed it."""
        s = socket.create_connection(("127.0.0.1", self.port[dst]), timeout=5.0)
        self.socks.append(s)
        req = request(sender, body=body)
        s.sendall(req)
        got = b""
        try:
            got = read_exactly(s, len(req))
        except (ConnectionResetError, socket.timeout):
            pass
        return s if got == req else None

    def test_forward_keep_alive_and_identity(self):
        s = self.connect("b", "1a")
        self.assertIsNotNone(s)
        for i in range(3):
            req = request("1a", body=b"more %d" % i)
            s.sendall(req)
            self.assertEqual(read_exactly(s, len(req)), req)
        self.assertEqual(self.relay.stats()["open_by_pair"], {"a->b": 1})

    def test_leading_zeros_in_id(self):
        s = self.connect("b", "000000000000001a")
        self.assertIsNotNone(s)
        self.assertEqual(self.relay.stats()["open_by_pair"], {"a->b": 1})

    def test_cut_is_symmetric_and_only_that_pair(self):
        ab = self.connect("b", "1a")
        ba = self.connect("a", "2b")
        ac = self.connect("c", "1a")
        cb = self.connect("b", "3c")
        self.assertTrue(all((ab, ba, ac, cb)))
        self.relay.cut("b", "a")
        self.assertTrue(closed_by_peer(ab))
        self.assertTrue(closed_by_peer(ba))
        self.assertFalse(closed_by_peer(ac, timeout=0.5))
        self.assertFalse(closed_by_peer(cb, timeout=0.5))
        # New connections of the pair are refused, both ways; others pass.
        self.assertIsNone(self.connect("b", "1a"))
        self.assertIsNone(self.connect("a", "2b"))
        self.assertIsNotNone(self.connect("c", "2b"))
        self.relay.heal("a", "b")
        self.assertIsNotNone(self.connect("b", "1a"))
        self.assertIsNotNone(self.connect("a", "2b"))

    def test_later_request_naming_a_cut_sender_closes(self):
        s = self.connect("b", None)          # anonymous first request passes
        self.assertIsNotNone(s)
        self.relay.cut("a", "b")
        s.sendall(request("1a"))
        self.assertTrue(closed_by_peer(s))

    def test_isolate_and_partition(self):
        self.relay.isolate("c")
        self.assertIsNone(self.connect("c", "1a"))
        self.assertIsNone(self.connect("a", "3c"))
        self.assertIsNotNone(self.connect("a", "2b"))
        self.relay.heal_all()
        self.relay.partition(["a"], ["b", "c"])
        self.assertIsNone(self.connect("a", "2b"))
        self.assertIsNone(self.connect("c", "1a"))
        self.assertIsNotNone(self.connect("c", "2b"))

    def test_raw_framing_keeps_identity(self):
        s = socket.create_connection(("127.0.0.1", self.port["b"]), timeout=5.0)
        self.socks.append(s)
        opening = request("1a", path="/peer")
        s.sendall(opening + b"\x00\x00\x00\x05frame")
        self.assertEqual(read_exactly(s, len(opening) + 9), opening + b"\x00\x00\x00\x05frame")
        self.relay.cut("a", "b")
        self.assertTrue(closed_by_peer(s))

    def test_close_is_bounded(self):
        for _ in range(5):
            self.connect("a", "2b")
        t0 = time.monotonic()
        self.relay.close()
        self.assertLess(time.monotonic() - t0, 6.0)


if __name__ == "__main__":
    unittest.main(verbosity=2 if "-v" in sys.argv else 1)
