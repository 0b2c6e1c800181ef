#!/usr/bin/python3
"""The web console in a real browser: headless Chromium (Debian's chromium),
driven over the DevTools protocol (cdp.py), against a metcd started here on
its own loopback ports. Through the page it creates, edits and deletes keys
and directories, adds an in-order key, opens a hidden key and refreshes a
TTL; it checks that a concurrent change is reported and not overwritten
(prevIndex), that a write made over HTTP appears in the watch pane within a
second and in the tree, that the watch resumes after the member restarts and
re-reads when the history no longer holds its index, and that the cluster
view shows the member, its health, raft index and term and the /metrics
charts, and that turning v2 auth on brings up the sign-in form, after which
the page goes on where it was. The page must raise no script error and break no CSP rule.

Screenshots go to $UI_SCREENSHOT_DIR (default: ui-screenshots/ in the build
directory); docs/ui/*.png come from
    UI_SCREENSHOT_DIR=$PWD/docs/ui meson test -C build ui-browser ui-browser-cluster

Skips (exit 77) only when no Chromium is installed (make test-deps installs
Debian's chromium).
"""
import base64
import json
import os
import sys
import tempfile
import time
from urllib.parse import urlencode

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from metcd_proc import Metcd, http, json_body  # noqa: E402
from cdp import Browser, find_chromium  # noqa: E402

SHOTS = os.environ.get("UI_SCREENSHOT_DIR") or os.path.join(os.getcwd(), "ui-screenshots")
STEP = 5.0  # bound on each wait for the page


def basic(auth):
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode()} if auth else {}


def put(m, key, auth=None, **form):
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    headers.update(basic(auth))
    st, _, body = http("PUT", m.client_url + "/v2/keys" + key, body=urlencode(form).encode(),
                       headers=headers)
    assert st in (200, 201), (key, st, body)
    return json_body(body)


def get(m, key, auth=None, **params):
    q = ("?" + urlencode(params)) if params else ""
    st, _, body = http("GET", m.client_url + "/v2/keys" + key + q, headers=basic(auth))
    return st, json_body(body)


def enable_auth(m, user, password):
    """etcd's v2 auth on: a root user, then the guest role's rights taken
    away so that a request without credentials gets 401."""
    for method, path, doc, auth in (
            ("PUT", "/v2/auth/users/root", {"user": user, "password": password}, None),
            ("PUT", "/v2/auth/enable", None, None),
            ("PUT", "/v2/auth/roles/guest",
             {"role": "guest", "revoke": {"kv": {"read": ["/*"], "write": ["/*"]}}}, (user, password))):
        st, _, body = http(method, m.client_url + path, body=json.dumps(doc).encode() if doc else b"",
                           headers=dict(basic(auth), **{"Content-Type": "application/json"}))
        assert st in (200, 201), (path, st, body)
    st, _, _ = http("GET", m.client_url + "/v2/keys/")
    assert st == 401, "auth is on: %d" % st


def js(s):
    return json.dumps(s)


def row(key):
    return 'li[data-key=%s]' % js(key)


def text_of(b, selector):
    return b.eval("(document.querySelector(%s) || {}).textContent" % js(selector))


def select_key(b, key):
    """Goes to a key with the page's "Go to" box (typed, then Enter)."""
    b.type("#goto-input", key)
    b.key("Enter")
    b.wait_for("document.querySelector('#detail h2') && document.querySelector('#detail h2')"
               ".firstChild.textContent === %s" % js(key), STEP, "detail of " + key)


_last = [time.monotonic(), "start Chromium, load the page"]


def step(name):
    """Prints how long the previous step took, then starts the next."""
    now = time.monotonic()
    print("  %5.2fs  %s" % (now - _last[0], _last[1]))
    _last[0], _last[1] = now, name


def open_form(b, key, field):
    """Presses a shortcut key and waits for the form's first field to have the focus."""
    b.key(key)
    b.wait_for("document.activeElement && document.activeElement.id === %s" % js(field), STEP,
               "the %s field after %s" % (field, key))


def shot(b, name):
    os.makedirs(SHOTS, exist_ok=True)
    b.eval("document.querySelectorAll('.toast').forEach(t => t.remove())")
    b.screenshot(os.path.join(SHOTS, name + ".png"))


def start_metcd(data_dir=None, client_port=None, peer_port=None):
    m = Metcd(name="ui", args=["--watch-history", "50"], data_dir=data_dir,
              client_port=client_port, peer_port=peer_port)
    return m.wait_ready()


def main():
    chromium = find_chromium()
    if chromium is None:
        print("SKIP: no Chromium here (Debian's chromium package could not be installed); "
              "the console was not tested in a browser")
        sys.exit(77)
    t_start = time.monotonic()
    tmp = tempfile.TemporaryDirectory(prefix="metcd-ui-test-")
    data = os.path.join(tmp.name, "data")
    m = start_metcd(data)
    b = None
    try:
        put(m, "/app/config", value="color=blue")
        put(m, "/app/feature/flags", value="dark-mode,beta")
        put(m, "/app/session", value="token-1", ttl="600")
        put(m, "/_internal/secret", value="hidden value")
        put(m, "/services/web/10.0.0.1", value='{"port":8080}')
        b = Browser(chromium, width=1280, height=800)
        b.goto(m.client_url + "/ui/")
        b.wait_for("document.body && document.body.dataset.ready === 'true'", 10, "the console to start")
        b.wait_for("document.querySelector(%s)" % js(row("/app")), STEP, "the /app row")
        assert not b.eval("!!document.querySelector(%s)" % js(row("/_internal"))), \
            "a listing shows no hidden key"

        step('Open /app with the arrow keys')
        # Keyboard: open /app with the arrow keys, then select /app/config.
        b.click(row("/app") + " .name")
        b.key("ArrowRight")
        b.wait_for("document.querySelector(%s)" % js(row("/app/config")), STEP, "/app opened")
        b.key("ArrowDown")
        b.wait_for("document.querySelector('#detail-value') && "
                   "document.querySelector('#detail-value').textContent === 'color=blue'", STEP)
        select_key(b, "/app/session")
        ttl = text_of(b, "#detail .long")
        assert ttl and "left" in ttl, ttl
        shot(b, "keys")

        step('Create a key through the page')
        # Create a key through the page (n: new key in the selected directory).
        select_key(b, "/app")
        open_form(b, "n", "new-name")
        b.type("#new-name", "made/in-page")
        b.type("#new-value", "first value")
        b.click("#new-create")
        b.wait_for("(document.querySelector('#detail h2') || {}).textContent?.startsWith('/app/made/in-page')",
                   STEP, "the new key selected")
        st, j = get(m, "/app/made/in-page")
        assert st == 200 and j["node"]["value"] == "first value", j

        step('Edit it (e), then save')
        # Edit it (e), then save: the value changes.
        open_form(b, "e", "edit-value")
        b.type("#edit-value", "second value")
        b.click("#edit-save")
        b.wait_for("(document.querySelector('#detail-value') || {}).textContent === 'second value'", STEP)
        st, j = get(m, "/app/made/in-page")
        assert j["node"]["value"] == "second value", j
        modified = j["node"]["modifiedIndex"]
        assert text_of(b, "#detail-modified") == str(modified)

        step('A concurrent change')
        # A concurrent change: the form was opened at `modified`; another
        # client writes meanwhile; saving reports it and overwrites nothing.
        open_form(b, "e", "edit-value")
        b.type("#edit-value", "edit from the page")
        other = put(m, "/app/made/in-page", value="written by another client")
        step("The tree's watch sees the write first and warns; saving then fails")
        # The tree's watch sees the write first and warns; saving then fails.
        b.wait_for("(document.querySelector('#conflict') || {}).textContent?.includes('while you edit it')",
                   STEP, "the warning that the key changed")
        b.click("#edit-save")
        b.wait_for("(document.querySelector('#conflict-value') || {}).textContent === 'written by another client'",
                   STEP, "the conflict to be reported")
        msg = text_of(b, "#conflict")
        assert "changed since you opened it" in msg and str(modified) in msg, msg
        st, j = get(m, "/app/made/in-page")
        assert j["node"]["value"] == "written by another client", "a conflicting save overwrote: %r" % j
        shot(b, "conflict")
        step('The user chooses to overwrite')
        # The user chooses to overwrite: now against the new modifiedIndex.
        b.click("#conflict-overwrite")
        b.wait_for("(document.querySelector('#detail-value') || {}).textContent === 'edit from the page'", STEP)
        st, j = get(m, "/app/made/in-page")
        assert j["node"]["value"] == "edit from the page", j
        assert j["node"]["modifiedIndex"] > other["node"]["modifiedIndex"]

        step('Delete it (Delete key, then confirm)')
        # Delete it (Delete key, then confirm).
        b.key("Delete")
        b.wait_for("document.querySelector('#confirm-dialog').open", STEP)
        b.click("#confirm-ok")
        b.wait_for("!document.querySelector(%s)" % js(row("/app/made/in-page")), STEP, "the row to go")
        st, j = get(m, "/app/made/in-page")
        assert st == 404 and j["errorCode"] == 100, j

        step('A directory, an in-order key in it, then the directory deleted')
        # A directory, an in-order key in it, then the directory deleted.
        select_key(b, "/")
        open_form(b, "d", "new-name")
        b.type("#new-name", "queue")
        b.click("#new-create")
        b.wait_for("(document.querySelector('#detail h2') || {}).textContent?.startsWith('/queue')", STEP)
        st, j = get(m, "/queue")
        assert st == 200 and j["node"].get("dir") is True, j
        open_form(b, "o", "new-value")
        b.type("#new-value", "job-1")
        b.click("#new-create")
        b.wait_for("document.querySelector('#detail-value') && "
                   "document.querySelector('#detail-value').textContent === 'job-1'", STEP)
        st, j = get(m, "/queue", sorted="true")
        nodes = j["node"].get("nodes", [])
        assert len(nodes) == 1 and nodes[0]["value"] == "job-1", j
        assert nodes[0]["key"].startswith("/queue/000"), nodes[0]["key"]
        select_key(b, "/queue")
        b.click("#act-delete")
        b.wait_for("document.querySelector('#confirm-dialog').open", STEP)
        b.click("#confirm-ok")
        b.wait_for("!document.querySelector(%s)" % js(row("/queue")), STEP)
        st, j = get(m, "/queue")
        assert st == 404, j

        step('A hidden key, opened by name')
        # A hidden key, opened by name.
        select_key(b, "/_internal/secret")
        assert text_of(b, "#detail-value") == "hidden value"
        assert "hidden" in text_of(b, "#detail h2")

        step('Refresh a TTL (t)')
        # Refresh a TTL (t): a new TTL, the value and createdIndex kept.
        select_key(b, "/app/session")
        before = get(m, "/app/session")[1]["node"]
        open_form(b, "t", "ttl-value")
        b.type("#ttl-value", "900")
        b.click("#ttl-save")
        b.wait_for("document.querySelector('#ttl-form') === null", STEP)
        after = get(m, "/app/session")[1]["node"]
        assert after["value"] == "token-1" and after["createdIndex"] == before["createdIndex"], after
        assert 890 <= after["ttl"] <= 900, after

        step('The watch pane')
        # The watch pane: a write made over HTTP shows up within a second,
        # and the tree updates itself from its own watch.
        b.key("2")
        b.type("#watch-key", "/app")
        b.click("#watch-start")
        b.wait_for("document.querySelector('#watch-status').dataset.state === 'live'", STEP)
        time.sleep(0.2)  # the poll is on its way to the member
        t0 = time.monotonic()
        ev = put(m, "/app/config", value="color=green")
        b.wait_for("[...document.querySelectorAll('#events li.event')].some(li => li.dataset.key === "
                   "'/app/config' && li.dataset.index === %s)" % js(str(ev["node"]["modifiedIndex"])),
                   1.0, "the event in the watch pane within a second")
        seen = time.monotonic() - t0
        assert "color=green" in text_of(b, "#events li.event"), text_of(b, "#events")
        b.wait_for("(document.querySelector(%s) || {}).textContent?.includes('color=green')"
                   % js(row("/app/config") + " .preview"), STEP, "the tree to update")
        for i in range(3):
            put(m, "/app/feature/flags", value="v%d" % i)
        b.wait_for("document.querySelectorAll('#events li.event').length >= 4", STEP)
        shot(b, "watch")

        step('The member goes away and comes back')
        # The member goes away and comes back: the watch resumes from the
        # index after its last event and misses nothing.
        m.stop()
        m.close()
        b.wait_for("document.querySelector('#watch-status').dataset.state === 'retry'", STEP,
                   "the pane to notice the member is gone")
        m = start_metcd(data, m.client_port, m.peer_port)
        ev = put(m, "/app/config", value="after restart")
        b.wait_for("[...document.querySelectorAll('#events li.event')].some(li => li.dataset.index === %s)"
                   % js(str(ev["node"]["modifiedIndex"])), 8.0, "the event after the restart")

        step('History cleared')
        # History cleared: a watch from index 1 is older than the 50 events
        # this member keeps: the pane says so and goes on from the present.
        for i in range(60):
            put(m, "/load/k%d" % (i % 5), value=str(i))
        b.type("#watch-key", "/load")
        b.type("#watch-index", "1")
        b.click("#watch-start")
        b.wait_for("[...document.querySelectorAll('#events li.notice')].some(li => "
                   "li.textContent.includes('no longer in the member'))", STEP, "the history-cleared notice")
        ev = put(m, "/load/k0", value="fresh")
        b.wait_for("[...document.querySelectorAll('#events li.event')].some(li => li.dataset.index === %s)"
                   % js(str(ev["node"]["modifiedIndex"])), STEP)

        step('The cluster view')
        # The cluster view: member, health, raft index and term, charts.
        b.key("3")
        b.wait_for("(document.querySelector('#health') || {}).textContent === 'healthy'", STEP)
        b.wait_for("Number((document.querySelector('#raft-index') || {}).textContent) > 0 && "
                   "Number(document.querySelector('#raft-term').textContent) > 0", STEP)
        assert "ui" in text_of(b, "#members tbody") and "leader" in text_of(b, "#members tbody")
        assert int(b.eval("Number([...document.querySelectorAll('#store-stats dt')].find(d => "
                          "d.textContent === 'setsSuccess').nextSibling.textContent)")) > 60
        b.wait_for("document.querySelector('#chart-requests polyline').getAttribute('points').split(' ')"
                   ".length >= 2", 8.0, "two /metrics samples plotted")

        step('A phone')
        # A phone: one column, still readable.
        b.viewport(390, 844, mobile=True, scale=2)
        b.key("1")
        select_key(b, "/app/config")
        width = b.eval("document.documentElement.scrollWidth")
        assert width <= 392, "the page is wider than a phone: %s" % width
        shot(b, "phone")

        step('v2 basic auth turned on while the page is open')
        # v2 basic auth turned on while the page is open: the next request
        # of its watch gets a 401, which brings up the sign-in form; a wrong
        # password is refused and asked again; the right one lets the
        # waiting requests go on, and the watch misses nothing meanwhile.
        b.viewport(1280, 800)
        b.key("1")
        select_key(b, "/app/config")
        enable_auth(m, "root", "s3cret")
        put(m, "/app/config", value="written as root", auth=("root", "s3cret"))
        b.wait_for("document.querySelector('#login-dialog').open", STEP, "the sign-in form")
        assert "requires user authentication" in text_of(b, "#login-why"), text_of(b, "#login-why")
        put(m, "/app/config", value="written while signing in", auth=("root", "s3cret"))
        b.type("#login-user", "root")
        b.type("#login-password", "wrong")
        b.click("#login-submit")
        b.wait_for("document.querySelector('#login-dialog').open && "
                   "!document.querySelector('#login-error').hidden", STEP, "the refusal")
        shot(b, "login")
        b.type("#login-user", "root")
        b.type("#login-password", "s3cret")
        b.click("#login-submit")
        b.wait_for("!document.querySelector('#login-dialog').open", STEP, "the form to close")
        assert "root" in text_of(b, "#who-name")
        b.wait_for("(document.querySelector('#detail-value') || {}).textContent === 'written while signing in'",
                   STEP, "the tree's watch to go on after the sign-in")
        b.wait_for("(document.querySelector('#conn') || {}).dataset?.state === 'live'", STEP)
        # Edits go on with the credentials.
        open_form(b, "e", "edit-value")
        b.type("#edit-value", "edited as root")
        b.key_chord("Enter", ctrl=True)
        b.wait_for("(document.querySelector('#detail-value') || {}).textContent === 'edited as root'", STEP)
        st, j = get(m, "/app/config", auth=("root", "s3cret"))
        assert j["node"]["value"] == "edited as root", j

        step("end")
        problems = [p for p in b.problems() if "Failed to load resource" not in p]
        assert not problems, "the page reported problems:\n" + "\n".join(problems)
        print("ok   ui-browser: %.2fs (watch event after %.0f ms); screenshots in %s"
              % (time.monotonic() - t_start, seen * 1000, SHOTS))
    except Exception:
        if b is not None:
            try:
                shot(b, "failure")
                print("detail pane at the failure: %r" % text_of(b, "#detail"))
            except Exception as e:  # the browser may be the problem
                print("no failure screenshot: %s" % e)
        raise
    finally:
        if b is not None:
            b.close()
        m.close()
        tmp.cleanup()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        import traceback
        traceback.print_exc()
        print("FAIL ui-browser: %s" % e)
        sys.exit(1)
