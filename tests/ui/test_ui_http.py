#!/usr/bin/python3
"""The console's files as metcd serves them: /ui redirects to /ui/, every
embedded file with its Content-Type, ETag and Content-Security-Policy, 304
for a matching If-None-Match, gzip only to clients that accept it, 404 and
405 as for any other path, and nothing at all with --ui=false.

Usage: test_ui_http.py [CASE...]. Standard library only; METCD_BIN and
METCD_SOURCE_ROOT come from meson.
"""
import gzip
import hashlib
from http.client import HTTPConnection
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from metcd_proc import Metcd, http, run_cases  # noqa: E402

ROOT = os.environ.get("METCD_SOURCE_ROOT") or os.path.join(os.path.dirname(__file__), "..", "..")
UI_DIR = os.path.join(ROOT, "api", "ui")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


def ui_files():
    out = []
    for dirpath, _, names in os.walk(UI_DIR):
        for n in names:
            p = os.path.join(dirpath, n)
            out.append(("/" + os.path.relpath(p, UI_DIR).replace(os.sep, "/"), p))
    return sorted(out)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def case_files_and_headers():
    with Metcd() as m:
        m.wait_ready()
        base = m.client_url
        files = ui_files()
        expect(len(files) >= 5, "api/ui holds the console's files")
        for path, src in files:
            data = open(src, "rb").read()
            st, h, body = http("GET", base + "/ui" + path)
            expect(st == 200, "%s: %d" % (path, st))
            expect(body == data, "%s: the served bytes are the file's" % path)
            expect(h["Content-Type"] == TYPES[os.path.splitext(path)[1]], "%s: %s" % (path, h["Content-Type"]))
            expect(h["Content-Security-Policy"] == CSP, "%s: CSP %r" % (path, h["Content-Security-Policy"]))
            expect(h["X-Content-Type-Options"] == "nosniff", path)
            expect(h["Cache-Control"] == "no-cache", path)
            expect(h["Content-Encoding"] is None, path + ": not gzip unless asked")
            etag = h["ETag"]
            expect(etag == '"%s"' % hashlib.sha256(data).hexdigest()[:16], "%s: ETag %s" % (path, etag))
            # Revalidation: the same ETag (also weak, also in a list) gives 304 and no body.
            for inm in (etag, 'W/' + etag, '"x", ' + etag, "*"):
                st, h2, body = http("GET", base + "/ui" + path, headers={"If-None-Match": inm})
                expect(st == 304 and body == b"", "%s: If-None-Match %s -> %d" % (path, inm, st))
                expect(h2["ETag"] == etag and h2["Content-Length"] is None, path)
            st, _, _ = http("GET", base + "/ui" + path, headers={"If-None-Match": '"other"'})
            expect(st == 200, path + ": another ETag gets the file")
            # gzip only when it pays, with its own ETag; q=0 refuses it.
            st, h3, body = http("GET", base + "/ui" + path, headers={"Accept-Encoding": "br, gzip;q=0.8"})
            if h3["Content-Encoding"] == "gzip":
                expect(gzip.decompress(body) == data, path + ": gzip body")
                expect(h3["ETag"] != etag and h3["Vary"] == "Accept-Encoding", path)
                st, h4, _ = http("GET", base + "/ui" + path, headers={"Accept-Encoding": "gzip;q=0"})
                expect(h4["Content-Encoding"] is None, path + ": gzip;q=0 refuses gzip")
            else:
                expect(len(data) < 2000 or path.endswith(".svg"), path + ": a large text file is offered gzipped")
            st, h5, body = http("HEAD", base + "/ui" + path)
            expect(st == 200 and body == b"" and h5["Content-Length"] == str(len(data)), path + ": HEAD")


def case_index_redirect_and_errors():
    with Metcd() as m:
        m.wait_ready()
        base = m.client_url
        index = open(os.path.join(UI_DIR, "index.html"), "rb").read()
        st, h, body = http("GET", base + "/ui/")
        expect(st == 200 and body == index, "/ui/ is index.html")
        # index.html loads only same-origin, relative files.
        for ref in re.findall(rb'(?:src|href)="([^"]+)"', index):
            expect(not re.match(rb"[a-z]+:|//", ref), "index.html refers to another host: %r" % ref)
        c = HTTPConnection("127.0.0.1", m.client_port, timeout=5)
        c.request("GET", "/ui")
        r = c.getresponse()
        expect(r.status == 301 and r.getheader("Location") == "/ui/", "/ui -> 301 /ui/")
        r.read()
        c.close()
        st, _, body = http("GET", base + "/ui/nothing.js")
        expect(st == 404 and body == b"404 page not found\n", "unknown file: 404 %r" % body)
        st, h, _ = http("POST", base + "/ui/index.html", body=b"")
        expect(st == 405 and h["Allow"] == "GET,HEAD", "POST: 405")
        st, _, _ = http("GET", base + "/uix")
        expect(st == 404, "/uix is no console path")


def case_ui_false():
    with Metcd(args=["--ui=false"]) as m:
        m.wait_ready()
        for path in ("/ui", "/ui/", "/ui/index.html", "/ui/js/app.js"):
            st, _, body = http("GET", m.client_url + path)
            expect(st == 404 and body == b"404 page not found\n", "--ui=false: %s -> %d" % (path, st))
    with Metcd(env={"ETCD_UI": "false"}) as m:
        m.wait_ready()
        st, _, _ = http("GET", m.client_url + "/ui/")
        expect(st == 404, "ETCD_UI=false: no console")


if __name__ == "__main__":
    run_cases({
        "files_and_headers": case_files_and_headers,
        "index_redirect_and_errors": case_index_redirect_and_errors,
        "ui_false": case_ui_false,
    })
