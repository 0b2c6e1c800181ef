// The console's entry point: tabs, the login form, keyboard shortcuts, and
// the recursive watch on "/" that keeps the tree current.

import * as api from "./api.js";
import { $, typing, toast } from "./dom.js";
import { Tree } from "./tree.js";
import { Watcher, WatchPane } from "./watch.js";
import { Cluster } from "./cluster.js";

const TABS = ["keys", "watch", "cluster"];
let tree, pane, cluster;

function showTab(name, focus) {
  for (const t of TABS) {
    const on = t === name;
    $("tab-" + t).setAttribute("aria-selected", on ? "true" : "false");
    $("tab-" + t).tabIndex = on ? 0 : -1;
    $("view-" + t).hidden = !on;
  }
  cluster.show(name === "cluster");
  if (focus && name === "keys") tree.focusSelected();
  if (focus && name === "watch") $("watch-key").focus();
  if (focus && name === "cluster") $("tab-cluster").focus();
  if (location.hash !== "#" + name) history.replaceState(null, "", "#" + name);
}

function setConn(state, text) {
  const c = $("conn");
  c.dataset.state = state;
  c.textContent = state === "live" ? "live" : state === "retry" ? "reconnecting…" : text;
  c.title = text;
}

function showUser() {
  const u = api.user();
  $("who").hidden = !u;
  $("who-name").textContent = u ? "signed in as " + u : "";
}

function setupLogin() {
  const d = $("login-dialog");
  let asked = false;
  api.setLoginHandler((why) => {
    $("login-why").textContent = why;
    $("login-error").hidden = !asked || !api.user();
    $("login-error").textContent = asked && api.user() ? "That user name and password were refused." : "";
    if (!d.open) d.showModal();
    $("login-user").focus();
    setConn("auth", "sign in to go on");
  });
  $("login-form").addEventListener("submit", () => {
    d.returnValue = "signin";
    asked = true;
    api.setCredentials($("login-user").value, $("login-password").value);
    $("login-password").value = "";
    showUser();
    api.loginDone(true);
  });
  // Cancel (or Esc): the requests waiting for a login end with their 401.
  $("login-cancel").addEventListener("click", () => d.close());
  d.addEventListener("close", () => {
    if (d.returnValue !== "signin") api.loginDone(false);
    d.returnValue = "";
  });
  $("logout").addEventListener("click", () => {
    api.setCredentials("", "");
    showUser();
    toast("signed out");
    tree.reload();
  });
  showUser();
}

function setupKeys() {
  for (const t of TABS) $("tab-" + t).addEventListener("click", () => showTab(t));
  document.querySelector(".tabs").addEventListener("keydown", (e) => {
    if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
    const cur = TABS.findIndex((t) => $("tab-" + t).getAttribute("aria-selected") === "true");
    const next = TABS[(cur + (e.key === "ArrowRight" ? 1 : TABS.length - 1)) % TABS.length];
    showTab(next);
    $("tab-" + next).focus();
  });
  $("help-button").addEventListener("click", () => $("help-dialog").showModal());
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e) || document.querySelector("dialog[open]")) return;
    const k = e.key;
    if (k === "1" || k === "2" || k === "3") showTab(TABS[Number(k) - 1], true);
    else if (k === "/") { showTab("keys"); $("goto-input").focus(); $("goto-input").select(); }
    else if (k === "?") $("help-dialog").showModal();
    else if (k === "w" && !$("view-keys").hidden) {
      const n = tree.nodes.get(tree.selected);
      if (n) watchKey(n.key, n.dir);
    } else if (!$("view-keys").hidden && tree.shortcut(k)) { /* done */ }
    else return;
    e.preventDefault();
  });
}

function watchKey(key, recursive) {
  pane.start(key, recursive, 0);
  showTab("watch");
}

async function main() {
  tree = new Tree();
  pane = new WatchPane(tree);
  cluster = new Cluster();
  api.setRaftHeaderHandler((i, t, e) => cluster.raftHeaders(i, t, e));
  tree.onWatch = watchKey;
  pane.onShowKey = (key) => { showTab("keys"); tree.reveal(key, true); };
  setupLogin();
  setupKeys();
  const tab = location.hash.slice(1);
  showTab(TABS.includes(tab) ? tab : "keys");
  let index = 0;
  for (let pause = 500; ; pause = Math.min(pause * 2, 5000)) {
    try {
      index = await tree.start();
      break;
    } catch (e) {
      setConn("retry", "cannot read the keys: " + e.message);
      await new Promise((r) => setTimeout(r, pause));
    }
  }
  // The tree's own watch: everything below "/" from just after the read.
  const w = new Watcher("/", {
    recursive: true,
    waitIndex: index + 1,
    onEvent: (ev) => tree.applyEvent(ev, "root"),
    onResync: () => tree.resync(),
    onStatus: setConn,
  });
  w.start();
  document.body.dataset.ready = "true";
}

main();
