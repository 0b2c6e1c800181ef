"""A TCP relay between cluster members, for network partitions.

Each member advertises a peer URL that points at a relay port; the relay
forwards every connection it accepts there to the member's real peer listener.
Peer connections of etcd and metcd open with an HTTP/1.1 request whose headers
carry `X-Server-From: <sender member id, hex>`, so the relay reads the request
headers of each connection (and of every further request on a keep-alive
connection) before forwarding them, and knows which pair of members the
connection links. `cut(a, b)` closes every connection between a and b, in both
directions, and refuses new ones until `heal(a, b)`.

Connections that never name their sender (etcd's /version and /raft/probing
checks, which carry no raft messages) are forwarded as they are; `stats()`
counts them. When bytes that follow a request are not HTTP (a transport that
switches to its own framing after the opening request), the relay forwards
them untouched and keeps the identity the opening request gave.

Everything runs in daemon threads of the calling process; every blocking call
has a timeout, so `close()` returns in bounded time.
"""
import select
import socket
import threading
import time

HEADER_LIMIT = 64 * 1024     # longest request header block that is parsed
FIRST_BYTES_TIMEOUT = 10.0   # a new connection must send its headers by then
POLL = 0.2                   # accept/recv timeout: how often threads look at `closed`


def _parse_headers(block):
    """(request line, {lower-case name: value}) of one header block, or None."""
    try:
        text = block.decode("latin-1")
    except Exception:
        return None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None
    headers = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            return None
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers


def _recv(sock):
    """Bytes read from sock (b"" at EOF), or None when nothing came within POLL.
    Sockets stay blocking so that a send to a paused peer waits as a real
    network would; close() unblocks it by shutting the socket down."""
    r, _, _ = select.select([sock], [], [], POLL)
    if not r:
        return None
    return sock.recv(65536)


class _RequestStream:
    """Splits the client-to-member byte stream into requests.

    feed(data) returns a list of ("headers", bytes, headers-dict) and
    ("data", bytes) items in stream order; header blocks are held back until
    they are complete so that the caller can decide before forwarding them.
    """

    def __init__(self):
        self.buf = b""
        self.state = "headers"   # headers | body | chunk-size | chunk-data | trailer | raw
        self.remaining = 0

    def feed(self, data):
        out = []
        self.buf += data
        while self.buf:
            if self.state == "raw":
                out.append(("data", self.buf))
                self.buf = b""
            elif self.state == "headers":
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(self.buf) > HEADER_LIMIT or not self._could_be_http():
                        self.state = "raw"
                        continue
                    break
                block, self.buf = self.buf[:end + 4], self.buf[end + 4:]
                parsed = _parse_headers(block[:-4])
                if parsed is None:
                    out.append(("data", block))
                    self.state = "raw"
                    continue
                line, headers = parsed
                out.append(("headers", block, headers))
                method = line.split(" ", 1)[0]
                if headers.get("upgrade") or "upgrade" in headers.get("connection", "").lower():
                    self.state = "raw"
                elif (method in ("POST", "PUT") and "content-length" not in headers
                      and "transfer-encoding" not in headers):
                    # A body without a length: the connection's own framing
                    # follows the request (metcd's peer streams).
                    self.state = "raw"
                elif "chunked" in headers.get("transfer-encoding", "").lower():
                    self.state = "chunk-size"
                else:
                    try:
                        self.remaining = int(headers.get("content-length", "0"))
                    except ValueError:
                        self.state = "raw"
                        continue
                    self.state = "body" if self.remaining > 0 else "headers"
            elif self.state in ("body", "chunk-data"):
                n = min(self.remaining, len(self.buf))
                out.append(("data", self.buf[:n]))
                self.buf = self.buf[n:]
                self.remaining -= n
                if self.remaining == 0:
                    self.state = "headers" if self.state == "body" else "chunk-size"
            elif self.state == "chunk-size":
                end = self.buf.find(b"\r\n")
                if end < 0:
                    if len(self.buf) > 1024:
                        self.state = "raw"
                        continue
                    break
                line = self.buf[:end]
                try:
                    size = int(line.split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    self.state = "raw"
                    continue
                if end == 0:      # the CRLF that ends the previous chunk's data
                    out.append(("data", self.buf[:2]))
                    self.buf = self.buf[2:]
                    continue
                out.append(("data", self.buf[:end + 2]))
                self.buf = self.buf[end + 2:]
                if size == 0:
                    self.state = "trailer"
                else:
                    self.remaining = size
                    self.state = "chunk-data"
            elif self.state == "trailer":
                end = self.buf.find(b"\r\n")
                if end < 0:
                    break
                out.append(("data", self.buf[:end + 2]))
                self.buf = self.buf[end + 2:]
                if end == 0:
                    self.state = "headers"
        return out

    def _could_be_http(self):
        """False once the bytes held cannot start an HTTP request line."""
        head = self.buf[:16]
        first = head.split(b" ", 1)[0]
        return (first.isalpha() and first.isupper()) or (len(head) < 16 and b" " not in head
                                                          and head.isalpha())


class _Conn:
    def __init__(self, relay, client, dst):
        self.relay = relay
        self.client = client
        self.upstream = None
        self.dst = dst
        self.src = None          # member name, once a request names its sender
        self.closed = False
        self.lock = threading.Lock()

    def close(self):
        with self.lock:
            if self.closed:
                return
            self.closed = True
        for s in (self.client, self.upstream):
            if s is None:
                continue
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass


class Relay:
    """Relay ports for a set of members.

    add(name, target_port) opens a listening port (returned) that forwards to
    127.0.0.1:target_port. ids maps the hex member ID that appears in
    X-Server-From to the member's name (set_ids), so cut/heal take names.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.targets = {}         # name -> real peer port
        self.listeners = {}       # name -> listening socket
        self.ids = {}             # "hex id" -> name
        self.cuts = set()         # frozenset({a, b})
        self.conns = set()
        self.closed = False
        self.threads = []
        self.counters = {"accepted": 0, "refused": 0, "cut_closed": 0, "anonymous": 0}

    # ---- set-up -------------------------------------------------------
    def add(self, name, target_port, port=0):
        # port 0 lets the kernel choose, which can hand out a port a test has
        # already reserved for a server that has not bound it yet: callers
        # that reserve ports pass one of theirs.
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(64)
        s.settimeout(POLL)
        with self.lock:
            self.targets[name] = target_port
            self.listeners[name] = s
        t = threading.Thread(target=self._accept_loop, args=(name, s),
                             name="relay-accept-" + name, daemon=True)
        t.start()
        self.threads.append(t)
        return s.getsockname()[1]

    def set_ids(self, ids):
        """ids: {member id as int or hex string: name}."""
        with self.lock:
            for k, v in ids.items():
                key = ("%x" % k) if isinstance(k, int) else k.lower().lstrip("0")
                self.ids[key.lstrip("0") or "0"] = v

    # ---- partitions ---------------------------------------------------
    def cut(self, a, b):
        """Cut the link between members a and b, both directions."""
        pair = frozenset((a, b))
        with self.lock:
            self.cuts.add(pair)
            doomed = [c for c in self.conns if c.src is not None
                      and frozenset((c.src, c.dst)) == pair]
        for c in doomed:
            c.close()
            with self.lock:
                self.counters["cut_closed"] += 1

    def heal(self, a, b):
        with self.lock:
            self.cuts.discard(frozenset((a, b)))

    def isolate(self, name):
        """Cut name from every other member."""
        for other in list(self.targets):
            if other != name:
                self.cut(name, other)

    def partition(self, *groups):
        """Cut every pair of members that are in different groups."""
        for i, g in enumerate(groups):
            for h in groups[i + 1:]:
                for a in g:
                    for b in h:
                        self.cut(a, b)

    def heal_all(self):
        with self.lock:
            self.cuts.clear()

    def is_cut(self, a, b):
        with self.lock:
            return frozenset((a, b)) in self.cuts

    def stats(self):
        with self.lock:
            d = dict(self.counters)
            d["open"] = len(self.conns)
            d["open_by_pair"] = {}
            for c in self.conns:
                key = "%s->%s" % (c.src or "?", c.dst)
                d["open_by_pair"][key] = d["open_by_pair"].get(key, 0) + 1
            return d

    def close(self):
        with self.lock:
            self.closed = True
            conns = list(self.conns)
            listeners = list(self.listeners.values())
        for c in conns:
            c.close()
        for s in listeners:
            try:
                s.close()
            except OSError:
                pass
        deadline = time.monotonic() + 5.0
        for t in self.threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))

    # ---- internals ----------------------------------------------------
    def _name_of(self, hexid):
        key = hexid.strip().lower().lstrip("0") or "0"
        with self.lock:
            return self.ids.get(key)

    def _accept_loop(self, name, lsock):
        while not self.closed:
            try:
                client, _ = lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.counters["accepted"] += 1
            conn = _Conn(self, client, name)
            t = threading.Thread(target=self._serve, args=(conn,),
                                 name="relay-conn-" + name, daemon=True)
            t.start()

    def _admit(self, conn, src):
        """Registers the connection's sender; False if its pair is cut."""
        with self.lock:
            if self.closed:
                return False
            if src is not None:
                conn.src = src
            if conn.src is not None and frozenset((conn.src, conn.dst)) in self.cuts:
                self.counters["refused"] += 1
                return False
            self.conns.add(conn)
            return True

    def _forget(self, conn):
        with self.lock:
            self.conns.discard(conn)

    def _sender(self, headers):
        value = headers.get("x-server-from")
        if value is None:
            return None
        return self._name_of(value) or ("id:" + value)

    def _serve(self, conn):
        try:
            conn.client.settimeout(None)
            stream = _RequestStream()
            pending = []        # items parsed before the upstream connection exists
            deadline = time.monotonic() + FIRST_BYTES_TIMEOUT
            # Hold the first request's headers: decide before connecting.
            while not pending and time.monotonic() < deadline and not self.closed:
                data = _recv(conn.client)
                if data is None:
                    continue
                if not data:
                    return
                pending = stream.feed(data)
            if not pending:
                return
            src = None
            for item in pending:
                if item[0] == "headers":
                    src = self._sender(item[2])
                    break
            if src is None:
                with self.lock:
                    self.counters["anonymous"] += 1
            if not self._admit(conn, src):
                return
            up = socket.create_connection(("127.0.0.1", self.targets[conn.dst]), timeout=5.0)
            up.settimeout(None)
            with conn.lock:
                if conn.closed:
                    up.close()
                    return
                conn.upstream = up
            back = threading.Thread(target=self._pump_back, args=(conn,),
                                    name="relay-back-" + conn.dst, daemon=True)
            back.start()
            if not self._forward(conn, pending):
                return
            while not conn.closed and not self.closed:
                data = _recv(conn.client)
                if data is None:
                    continue
                if not data:
                    try:
                        up.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    back.join(timeout=30.0)
                    return
                if not self._forward(conn, stream.feed(data)):
                    return
        except (OSError, ValueError):   # ValueError: select on a socket closed by cut()
            return
        finally:
            conn.close()
            self._forget(conn)

    def _forward(self, conn, items):
        for item in items:
            if item[0] == "headers":
                src = self._sender(item[2])
                if src is not None and src != conn.src:
                    if not self._admit(conn, src):
                        return False
            with conn.lock:
                up = conn.upstream
                if conn.closed or up is None:
                    return False
            if conn.src is not None and self.is_cut(conn.src, conn.dst):
                return False
            up.sendall(item[1])
        return True

    def _pump_back(self, conn):
        try:
            while not conn.closed and not self.closed:
                data = _recv(conn.upstream)
                if data is None:
                    continue
                if not data:
                    break
                if conn.src is not None and self.is_cut(conn.src, conn.dst):
                    break
                conn.client.sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            conn.close()
