#!/usr/bin/python3
"""The console's cluster view on a three-member metcd cluster, in headless
Chromium: on the leader it lists the three members with the leader marked
and the two followers with their latency and send counts from
/v2/stats/leader; on a follower it says that only the leader measures its
followers and links to the leader's console. Writes docs/ui/cluster.png
when $UI_SCREENSHOT_DIR points there (see test_ui_browser.py).

Skips (exit 77) only when no Chromium is installed.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))
sys.path.insert(0, HERE)
from cluster import Cluster, http_request  # noqa: E402
from cdp import Browser, find_chromium  # noqa: E402

SHOTS = os.environ.get("UI_SCREENSHOT_DIR") or os.path.join(os.getcwd(), "ui-screenshots")
STEP = 8.0


def main():
    chromium = find_chromium()
    if chromium is None:
        print("SKIP: no Chromium here (Debian's chromium package could not be installed); "
              "the console was not tested in a browser")
        sys.exit(77)
    t0 = time.monotonic()
    c = Cluster(size=3, relay=False)
    b = None
    try:
        leader = c.start()
        follower = c.others(leader)[0]
        for i in range(20):
            http_request(leader.url("/v2/keys/demo/k%d" % (i % 4)), "PUT", params={"value": str(i)})
        b = Browser(chromium, width=1280, height=900)
        b.goto(leader.url("/ui/#cluster"))
        b.wait_for("document.querySelectorAll('#members tbody tr').length === 3", STEP, "three members")
        b.wait_for("document.querySelectorAll('#followers tbody tr').length === 2", STEP, "two followers")
        rows = b.eval("[...document.querySelectorAll('#members tbody tr')].map(r => r.textContent)")
        assert sum("leader" in r for r in rows) == 1 and any(leader.name in r and "leader" in r for r in rows), rows
        f = b.eval("[...document.querySelectorAll('#followers tbody tr')].map(r => "
                   "[...r.children].map(td => td.textContent))")
        names = sorted(r[0].split(" ")[0] for r in f)
        assert names == sorted(m.name for m in c.others(leader)), f
        for r in f:
            assert int(r[6]) > 0, "sends counted: %r" % r
            float(r[1])  # latency now, in ms
        b.wait_for("document.querySelector('#chart-proposals polyline').getAttribute('points').split(' ')"
                   ".length >= 2", STEP, "two /metrics samples plotted")
        b.eval("document.querySelectorAll('.toast').forEach(t => t.remove())")
        os.makedirs(SHOTS, exist_ok=True)
        b.screenshot(os.path.join(SHOTS, "cluster.png"))

        b.goto(follower.url("/ui/#cluster"))
        b.wait_for("document.querySelector('#followers a')", STEP, "the link to the leader's console")
        href = b.eval("document.querySelector('#followers a').getAttribute('href')")
        assert href == leader.client_url + "/ui/", href
        state = b.eval("[...document.querySelectorAll('#self-info dt')].find(d => d.textContent === 'state')"
                       ".nextSibling.textContent")
        assert state == "follower", state
        problems = [p for p in b.problems() if "Failed to load resource" not in p]
        assert not problems, "the page reported problems:\n" + "\n".join(problems)
        print("ok   ui-cluster: %.2fs" % (time.monotonic() - t0))
    finally:
        if b is not None:
            b.close()
        c.close()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("FAIL ui-cluster: %s" % e)
        sys.exit(1)
