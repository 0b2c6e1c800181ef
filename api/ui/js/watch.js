// Watching a key or directory with v2 long polls (GET ?wait=true), resumed
// without losing an event: each poll asks for waitIndex = the last event's
// modifiedIndex + 1, so events that happen between two polls come back from
// the member's event history. A dropped connection is retried with a
// growing pause; a 401 (auth) waits for the login form; when the history no
// longer holds waitIndex (v2 error 401 "The event in requested index is
// outdated and cleared") the key is read again and watching goes on from
// the index of that read, and the owner is told that events were missed.

import { request, keyURL, E } from "./api.js";
import { $, h, clear, sleep } from "./dom.js";

export class Watcher {
  // opts: {recursive, waitIndex (first index wanted; 0: from now),
  //        onEvent(ev), onResync(fromIndex, toIndex), onStatus(state, text)}
  constructor(key, opts) {
    this.key = key;
    this.opts = opts;
    this.waitIndex = opts.waitIndex || 0;
    this.abort = null;
    this.running = false;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    this.loop(this.abort.signal);
  }

  stop() {
    this.running = false;
    if (this.abort) this.abort.abort();
  }

  status(state, text) {
    if (this.opts.onStatus) this.opts.onStatus(state, text);
  }

  // The current store index: the X-Etcd-Index of a HEAD of the key, which
  // every answer carries, a 404 included. No listing is read.
  async currentIndex(signal) {
    const res = await request("HEAD", keyURL(this.key), { signal });
    if (res.status === 401) throw new Error("not allowed to read " + this.key);
    return Number(res.headers.get("X-Etcd-Index") || 0);
  }

  async loop(signal) {
    let pause = 250;
    while (!signal.aborted) {
      try {
        if (!this.waitIndex) {
          this.waitIndex = (await this.currentIndex(signal)) + 1;
        }
        this.status("live", "watching " + this.key + (this.opts.recursive ? " (recursive)" : "") + " from index " + this.waitIndex);
        const res = await request("GET", keyURL(this.key), {
          params: { wait: true, recursive: this.opts.recursive, waitIndex: this.waitIndex },
          signal,
        });
        if (res.status === 200 && res.json && res.json.node) {
          const ev = res.json;
          this.waitIndex = ev.node.modifiedIndex + 1;
          pause = 250;
          this.opts.onEvent(ev);
          continue;
        }
        if (res.status === 200) continue; // a poll ended without an event: ask again
        if (res.status === 401) {
          // The user gave up signing in: watching needs another user.
          this.status("denied", "not allowed to watch " + this.key + ": sign in as a user who may read it");
          this.running = false;
          return;
        }
        if (res.json && res.json.errorCode === E.EVENT_INDEX_CLEARED) {
          const from = this.waitIndex;
          const index = await this.currentIndex(signal);
          this.waitIndex = index + 1;
          if (this.opts.onResync) this.opts.onResync(from, index);
          continue;
        }
        throw new Error(res.json && res.json.message ? res.json.message : "HTTP " + res.status);
      } catch (e) {
        if (signal.aborted) break;
        this.status("retry", "connection lost (" + e.message + "); retrying in " + Math.round(pause / 1000 * 10) / 10 + " s from index " + (this.waitIndex || "now"));
        await sleep(pause, signal);
        pause = Math.min(pause * 2, 5000);
      }
    }
    this.status("stopped", "stopped");
  }
}

const MAX_EVENTS = 500;

function nodeText(n) {
  if (!n) return "";
  if (n.dir) return "(dir)";
  return n.value === undefined ? "" : n.value;
}

// The Watch tab: one watcher chosen by the user; its events are listed
// newest first and also given to the tree.
export class WatchPane {
  constructor(tree) {
    this.tree = tree;
    this.watcher = null;
    $("watch-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.start($("watch-key").value || "/", $("watch-recursive").checked, Number($("watch-index").value) || 0);
    });
    $("watch-stop").addEventListener("click", () => this.stop());
    $("watch-clear").addEventListener("click", () => clear($("events")));
  }

  start(key, recursive, fromIndex) {
    this.stop();
    if (!key.startsWith("/")) key = "/" + key;
    $("watch-key").value = key;
    $("watch-recursive").checked = recursive;
    $("watch-index").value = fromIndex || "";
    this.notice("watch " + key + (recursive ? " recursively" : "") + (fromIndex ? " from index " + fromIndex : " from now"));
    this.watcher = new Watcher(key, {
      recursive,
      waitIndex: fromIndex,
      onEvent: (ev) => { this.add(ev); this.tree.applyEvent(ev, "pane"); },
      onResync: (from, to) => {
        this.notice("events " + from + " to " + to + " are no longer in the member's history: re-read " + key + " at index " + to);
        this.tree.resync();
      },
      onStatus: (state, text) => {
        const s = $("watch-status");
        s.textContent = text;
        s.dataset.state = state;
      },
    });
    this.watcher.start();
    $("watch-stop").disabled = false;
  }

  stop() {
    if (!this.watcher) return;
    this.watcher.stop();
    this.watcher = null;
    $("watch-stop").disabled = true;
    $("watch-status").textContent = "Not watching.";
    $("watch-status").dataset.state = "stopped";
  }

  notice(text) {
    this.prepend(h("li", { class: "notice" }, h("time", null, new Date().toLocaleTimeString()), " ", text));
  }

  add(ev) {
    const n = ev.node, p = ev.prevNode;
    const li = h("li", { class: "event", dataset: { action: ev.action, key: n.key, index: n.modifiedIndex } },
      h("time", null, new Date().toLocaleTimeString()),
      h("span", { class: "action " + ev.action }, ev.action),
      h("button", { type: "button", class: "link key", title: "Show in the tree", onclick: () => (this.onShowKey ? this.onShowKey(n.key) : this.tree.reveal(n.key)) }, n.key),
      h("span", { class: "value" }, nodeText(n)),
      p && !p.dir && p.value !== undefined ? h("span", { class: "prev" }, "was ", p.value) : null,
      n.ttl ? h("span", { class: "ttl" }, "ttl " + n.ttl) : null,
      h("span", { class: "index" }, "#" + n.modifiedIndex));
    this.prepend(li);
  }

  prepend(li) {
    const list = $("events");
    list.prepend(li);
    while (list.children.length > MAX_EVENTS) list.lastChild.remove();
  }
}
