"""A tiny HTTP/1.1 client over raw sockets.

The differential tests need to send exact bytes (paths such as `//` or
`%2F`, odd methods, duplicate parameters, bodies with or without a
Content-Type) and to see exactly what comes back: the status, every header
in order, and whether the body was framed by Content-Length or chunked.
http.client cleans up too much of that, so this module speaks HTTP/1.1
itself. Every socket operation is bounded by a deadline.

TLS: use_tls(port, ctx) makes every connection to that port speak TLS with
the client context ctx (an ssl.SSLContext, which carries the client
certificate); a connection may name another context (Conn's tls).
"""

import socket
import time

_TLS = {}  # port -> default ssl.SSLContext for connections to it


def use_tls(port, ctx):
    """Connections to port speak TLS with ctx from now on (None: plain)."""
    if ctx is None:
        _TLS.pop(port, None)
    else:
        _TLS[port] = ctx


class HTTPError(Exception):
    pass


class Response:
    """One parsed response.

    headers is a list of (name, value) in wire order; framing is
    'length', 'chunked', 'close' or 'none' (HEAD, 1xx/204/304).
    """

    def __init__(self):
        self.status = 0
        self.reason = ''
        self.headers = []
        self.body = b''
        self.framing = 'none'
        self.complete = False

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        import json
        return json.loads(self.body.decode('utf-8'))

    def __repr__(self):
        return 'Response(%d, %r, %r)' % (self.status, self.headers, self.body[:200])


def build_request(method, target, host, body=None, headers=None):
    """Return the request bytes. headers: list of (name, value); a
    Content-Length is added when a body is given and none was set."""
    lines = ['%s %s HTTP/1.1' % (method, target), 'Host: %s' % host]
    names = set()
    for k, v in headers or []:
        names.add(k.lower())
        if v is not None:  # None: suppress a header that would be added
            lines.append('%s: %s' % (k, v))
    if body is not None and 'content-length' not in names:
        lines.append('Content-Length: %d' % len(body))
    if 'user-agent' not in names:
        lines.append('User-Agent: metcd-difftest')
    data = ('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1')
    if body is not None:
        data += body if isinstance(body, bytes) else body.encode('utf-8')
    return data


class Conn:
    """One connection carrying one request. Supports reading the headers
    first and the body later (long-poll watches)."""

    def __init__(self, host, port, timeout=10.0, tls=None):
        self.host = host
        self.port = port
        self.sock = socket.create_connection((host, port), timeout=timeout)
        tls = tls or _TLS.get(port)
        if tls is not None:
            try:
                self.sock = tls.wrap_socket(self.sock, server_hostname=host)
            except OSError:
                self.sock.close()
                raise
        self.buf = b''
        self.eof = False
        self.resp = None
        self.method = None
        self._chunk_left = None  # bytes left in the current chunk
        self._body_left = None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, method, target, body=None, headers=None):
        self.method = method
        self.sock.sendall(build_request(method, target, '%s:%d' % (self.host, self.port),
                                        body, headers))

    def _fill(self, deadline):
        """Read more bytes; False on timeout, sets eof on close."""
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            data = b''
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def read_headers(self, timeout=10.0):
        """Read the response head; interim 1xx answers (100 Continue) are
        skipped and their status lines kept in self.interim."""
        deadline = time.monotonic() + timeout
        self.interim = getattr(self, 'interim', [])
        while True:
            r = self._read_head(deadline)
            if 100 <= r.status < 200 and r.status != 101:
                self.interim.append(r.status)
                continue
            r.interim = list(self.interim)
            return r

    def _read_head(self, deadline):
        while b'\r\n\r\n' not in self.buf:
            if not self._fill(deadline):
                if self.eof:
                    raise HTTPError('connection closed before headers (got %r)' % self.buf[:200])
                raise HTTPError('timeout waiting for headers')
        head, self.buf = self.buf.split(b'\r\n\r\n', 1)
        lines = head.decode('latin-1').split('\r\n')
        r = Response()
        parts = lines[0].split(' ', 2)
        if len(parts) < 2 or not parts[0].startswith('HTTP/'):
            raise HTTPError('bad status line %r' % lines[0])
        r.status = int(parts[1])
        r.reason = parts[2] if len(parts) > 2 else ''
        for line in lines[1:]:
            k, _, v = line.partition(':')
            r.headers.append((k.strip(), v.strip()))
        te = (r.header('Transfer-Encoding') or '').lower()
        cl = r.header('Content-Length')
        if self.method == 'HEAD' or r.status in (204, 304) or 100 <= r.status < 200:
            r.framing = 'none'
            r.complete = True
        elif 'chunked' in te:
            r.framing = 'chunked'
            self._chunk_left = None
        elif cl is not None:
            r.framing = 'length'
            self._body_left = int(cl)
            if self._body_left == 0:
                r.complete = True
        else:
            r.framing = 'close'
        self.resp = r
        return r

    def read_some(self, timeout):
        """Read body bytes available within timeout; returns the new
        bytes (possibly b''). Sets resp.complete at the end of the body."""
        r = self.resp
        deadline = time.monotonic() + timeout
        out = b''
        while not r.complete:
            progressed = self._consume()
            if progressed:
                out += progressed
                if r.complete:
                    break
                # got something; return soon if nothing more is buffered
                if not self.buf:
                    deadline = min(deadline, time.monotonic() + 0.05)
                continue
            if not self._fill(deadline):
                if self.eof:
                    if r.framing == 'close':
                        r.complete = True
                    else:
                        raise HTTPError('connection closed mid-body')
                break
        r.body += out
        return out

    def _consume(self):
        """Move framed body bytes from buf; returns them (b'' if none)."""
        r = self.resp
        if r.framing == 'length':
            take = self.buf[:self._body_left]
            self.buf = self.buf[len(take):]
            self._body_left -= len(take)
            if self._body_left == 0:
                r.complete = True
            return take
        if r.framing == 'close':
            take, self.buf = self.buf, b''
            return take
        # chunked
        out = b''
        while True:
            if self._chunk_left is None:
                if b'\r\n' not in self.buf:
                    return out
                line, rest = self.buf.split(b'\r\n', 1)
                size = int(line.split(b';')[0].strip() or b'0', 16)
                if size == 0:
                    # trailers end with an empty line
                    if b'\r\n' not in rest:
                        return out
                    self.buf = rest.split(b'\r\n', 1)[1]
                    r.complete = True
                    return out
                self.buf = rest
                self._chunk_left = size
            if self._chunk_left > 0:
                take = self.buf[:self._chunk_left]
                self.buf = self.buf[len(take):]
                self._chunk_left -= len(take)
                out += take
                if self._chunk_left > 0:
                    return out
            if len(self.buf) < 2:
                return out
            self.buf = self.buf[2:]
            self._chunk_left = None

    def read_body(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not self.resp.complete:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HTTPError('timeout reading body (have %r)' % self.resp.body[:200])
            self.read_some(left)
        return self.resp


def request(host, port, method, target, body=None, headers=None, timeout=10.0, tls=None):
    """Send one request on a new connection and read the whole response
    (over TLS with tls, or with the port's default context)."""
    c = Conn(host, port, timeout, tls)
    try:
        c.send(method, target, body, headers)
        c.read_headers(timeout)
        c.read_body(timeout)
        return c.resp
    finally:
        c.close()
