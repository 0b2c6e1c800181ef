// The key tree: directories are read one level at a time when opened, kept
// up to date by a recursive watch on "/" (see app.js) and by the answers to
// the console's own writes. A v2 listing never shows hidden keys (names
// starting with "_"); the console shows those the user opens by name
// ("Go to"), marked as hidden.

import { request, ok, keyURL, E, HTTPError } from "./api.js";
import { $, h, clear, duration, toast, confirmDialog } from "./dom.js";

function parentOf(key) {
  const i = key.lastIndexOf("/");
  return i <= 0 ? "/" : key.slice(0, i);
}

function nameOf(key) {
  return key.slice(key.lastIndexOf("/") + 1);
}

function join(dir, name) {
  return (dir === "/" ? "" : dir) + "/" + name.replace(/^\/+/, "");
}

// A name starting with "_" hides a key and everything below it from listings.
function isHidden(key) {
  return key.split("/").some((p) => p.startsWith("_"));
}

function cleanKey(key) {
  const parts = key.split("/").filter((p) => p !== "" && p !== ".");
  return "/" + parts.join("/");
}

class Node {
  constructor(key) {
    this.key = key;
    this.name = key === "/" ? "/" : nameOf(key);
    this.dir = key === "/";
    this.value = undefined;
    this.ttl = 0;
    this.expiresAt = 0; // ms, local clock
    this.createdIndex = 0;
    this.modifiedIndex = 0;
    this.children = null; // Map name -> Node, null until read
    this.open = false;
    this.hidden = false; // opened by name: listings never show it
  }

  // Takes the fields of a v2 node (an answer or an event).
  set(n) {
    this.dir = !!n.dir || this.key === "/";
    this.value = n.dir ? undefined : n.value;
    this.ttl = n.ttl || 0;
    this.expiresAt = n.ttl ? Date.now() + n.ttl * 1000 : 0;
    if (n.createdIndex) this.createdIndex = n.createdIndex;
    if (n.modifiedIndex) this.modifiedIndex = n.modifiedIndex;
    if (!this.dir) this.children = null;
  }
}

export class Tree {
  constructor() {
    this.root = new Node("/");
    this.root.open = true;
    this.nodes = new Map([["/", this.root]]);
    this.selected = "/";
    this.index = 0; // X-Etcd-Index of the first read
    this.watchIndex = 0; // the last index the root watch brought
    this.renderQueued = false;
    this.form = null; // {kind, key, base} while a form is open
    this.el = $("tree");
    this.el.addEventListener("keydown", (e) => this.onKey(e));
    this.el.addEventListener("click", (e) => this.onClick(e));
    $("goto-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const v = $("goto-input").value.trim();
      if (v) this.reveal(cleanKey(v), true);
    });
    $("reload-tree").addEventListener("click", () => this.reload());
    setInterval(() => this.tick(), 1000);
  }

  // ---- Reading ----

  // Reads the root; returns the store index it was read at.
  async start() {
    const res = await this.load(this.root);
    this.index = Number(res.headers.get("X-Etcd-Index") || 0);
    this.watchIndex = this.index;
    this.select("/");
    return this.index;
  }

  // Reads one directory level into node.children (open children keep their state).
  async load(node) {
    const res = await request("GET", keyURL(node.key), { params: { sorted: true } });
    if (res.status === 404 && res.json && res.json.errorCode === E.KEY_NOT_FOUND && node !== this.root) {
      this.remove(node.key);
      return res;
    }
    if (res.status !== 200) throw new HTTPError(res);
    const n = res.json.node;
    node.set(n);
    if (node.dir) {
      const old = node.children || new Map();
      const next = new Map();
      for (const c of n.nodes || []) {
        const child = old.get(nameOf(c.key)) || this.nodes.get(c.key) || new Node(c.key);
        child.set(c);
        child.hidden = false;
        this.nodes.set(c.key, child);
        next.set(child.name, child);
      }
      // Hidden keys opened by name stay: the listing cannot show them.
      for (const [name, child] of old) {
        if (!next.has(name) && child.hidden) next.set(name, child);
        else if (!next.has(name)) this.forget(child);
      }
      node.children = next;
    }
    this.queueRender();
    return res;
  }

  // Reads the root and every open directory again (after missed events).
  async reload() {
    const open = [...this.nodes.values()].filter((n) => n.dir && n.open && n.children).map((n) => n.key);
    open.sort((a, b) => a.length - b.length);
    for (const key of open) {
      const n = this.nodes.get(key);
      if (n) {
        try { await this.load(n); } catch (e) { toast(e.message, "error"); }
      }
    }
    for (const n of [...this.nodes.values()]) {
      if (n.hidden) {
        const res = await request("GET", keyURL(n.key));
        if (res.status === 200) n.set(res.json.node);
        else this.remove(n.key);
      }
    }
    this.queueRender();
    this.renderDetail();
  }

  resync() { return this.reload(); }

  // Opens every directory above key, reads key itself when no listing
  // shows it (a hidden key), and selects it.
  async reveal(key, focus) {
    key = cleanKey(key);
    const names = key.split("/").filter(Boolean);
    let node = this.root;
    try {
      for (let i = 0; i < names.length; i++) {
        if (!node.children) await this.load(node);
        node.open = true;
        let child = node.children && node.children.get(names[i]);
        if (!child) {
          const k = "/" + names.slice(0, i + 1).join("/");
          const res = await ok("GET", keyURL(k), { params: { sorted: true } });
          child = this.upsert(res.json.node);
          if (!child) break;
          child.hidden = true;
        }
        node = child;
      }
    } catch (e) {
      toast(key + ": " + e.message, "error");
    }
    this.select(node.key, focus);
  }

  // ---- Changes ----

  // Adds or updates a node from a v2 node object; its parent must be read.
  upsert(n) {
    const parent = this.nodes.get(parentOf(n.key));
    if (!parent) {
      // Add the directories between the nearest read ancestor and n.
      const up = parentOf(n.key);
      if (up === n.key) return null;
      if (!this.upsert({ key: up, dir: true })) return null;
      return this.upsert(n);
    }
    if (!parent.children) return null; // not read yet: opening it will read it
    let node = this.nodes.get(n.key);
    if (!node) {
      node = new Node(n.key);
      this.nodes.set(n.key, node);
      node.hidden = node.name.startsWith("_");
    }
    const wasDir = node.dir;
    node.set(n);
    if (node.dir && !wasDir && !n.nodes) node.children = node.children || null;
    parent.children.set(node.name, node);
    if (parent.children.size > 1) {
      parent.children = new Map([...parent.children.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
    }
    this.queueRender();
    return node;
  }

  forget(node) {
    this.nodes.delete(node.key);
    if (node.children) for (const c of node.children.values()) this.forget(c);
  }

  remove(key) {
    const node = this.nodes.get(key);
    if (!node || node === this.root) return;
    const parent = this.nodes.get(parentOf(key));
    if (parent && parent.children) parent.children.delete(node.name);
    this.forget(node);
    if (this.selected === key || this.selected.startsWith(key + "/")) this.selected = parent ? parent.key : "/";
    this.queueRender();
  }

  // One event: from the tree's own watch of "/" (source "root"), from the
  // Watch tab ("pane"), or the answer to a write of the console. The root
  // watch sees every change in order except those of hidden keys, so a
  // pane event counts only for a hidden key and only when it is newer than
  // what the root watch has brought (the pane may replay old history).
  applyEvent(ev, source) {
    const n = ev.node;
    if (source === "root") this.watchIndex = Math.max(this.watchIndex, n.modifiedIndex);
    if (source === "pane" && (!isHidden(n.key) || n.modifiedIndex <= this.watchIndex)) return;
    const existing = this.nodes.get(n.key);
    switch (ev.action) {
      case "delete":
      case "compareAndDelete":
      case "expire":
        if (existing && existing.modifiedIndex <= n.modifiedIndex) this.remove(n.key);
        break;
      default:
        if (existing && existing.modifiedIndex > n.modifiedIndex) break; // older than what we show
        this.upsert(n);
    }
    if (this.selected === n.key || (ev.action !== "get" && this.selected.startsWith(n.key + "/"))) {
      this.renderDetail();
      if (this.form && this.form.key === n.key && this.form.kind === "edit") this.changedWhileEditing(ev);
    }
  }

  // ---- Rendering ----

  queueRender() {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      this.render();
    });
  }

  visible() {
    const out = [];
    const walk = (node, level) => {
      out.push([node, level]);
      if (node.dir && node.open && node.children) for (const c of node.children.values()) walk(c, level + 1);
    };
    walk(this.root, 1);
    return out;
  }

  render() {
    const hadFocus = this.el.contains(document.activeElement);
    clear(this.el);
    for (const [node, level] of this.visible()) {
      const sel = node.key === this.selected;
      const li = h("li", {
        role: "treeitem",
        class: "row" + (sel ? " selected" : "") + (isHidden(node.key) ? " hidden-key" : "") + (node.dir ? " dir" : " file"),
        "aria-level": level,
        "aria-selected": sel ? "true" : "false",
        "aria-expanded": node.dir ? (node.open ? "true" : "false") : null,
        tabindex: sel ? 0 : -1,
        dataset: { key: node.key },
      });
      li.style.paddingLeft = (level - 1) * 1.1 + 0.3 + "em";
      li.append(h("span", { class: "twisty", "aria-hidden": "true" }, node.dir ? (node.open ? "▾" : "▸") : ""),
        h("span", { class: "name" }, node.key === "/" ? "/" : node.name + (node.dir ? "/" : "")));
      if (!node.dir) li.append(h("span", { class: "preview" }, String(node.value).slice(0, 80)));
      if (node.ttl) li.append(h("span", { class: "ttl", dataset: { expires: node.expiresAt } }, this.ttlText(node)));
      if (node.dir && node.open && node.children && node.children.size === 0)
        li.append(h("span", { class: "muted" }, " (empty)"));
      this.el.append(li);
    }
    if (hadFocus) this.focusSelected();
  }

  ttlText(node) {
    const left = (node.expiresAt - Date.now()) / 1000;
    return left > 0 ? "ttl " + duration(left) : "expiring";
  }

  tick() {
    for (const el of document.querySelectorAll("[data-expires]")) {
      const left = (Number(el.dataset.expires) - Date.now()) / 1000;
      el.textContent = left > 0 ? (el.classList.contains("long") ? duration(left) + " left" : "ttl " + duration(left)) : "expiring";
    }
  }

  focusSelected() {
    const li = this.el.querySelector('[aria-selected="true"]');
    if (li) {
      li.focus({ preventScroll: true });
      li.scrollIntoView({ block: "nearest" });
    }
  }

  select(key, focus) {
    if (!this.nodes.has(key)) return;
    if (this.selected !== key) this.form = null;
    this.selected = key;
    this.render();
    this.renderDetail();
    if (focus) this.focusSelected();
  }

  async toggle(node, open) {
    if (!node.dir) return;
    node.open = open === undefined ? !node.open : open;
    if (node.open && !node.children) {
      try { await this.load(node); } catch (e) { toast(e.message, "error"); }
    }
    this.render();
  }

  onClick(e) {
    const li = e.target.closest("li[data-key]");
    if (!li) return;
    const node = this.nodes.get(li.dataset.key);
    if (!node) return;
    if (e.target.classList.contains("twisty") || (node.dir && node.key === this.selected)) this.toggle(node);
    this.select(node.key, true);
  }

  onKey(e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const list = this.visible().map(([n]) => n);
    const i = list.findIndex((n) => n.key === this.selected);
    const node = list[i];
    const go = (j) => { if (list[j]) this.select(list[j].key, true); };
    switch (e.key) {
      case "ArrowDown": go(Math.min(i + 1, list.length - 1)); break;
      case "ArrowUp": go(Math.max(i - 1, 0)); break;
      case "Home": go(0); break;
      case "End": go(list.length - 1); break;
      case "ArrowRight":
        if (node.dir && !node.open) this.toggle(node, true);
        else if (node.dir && node.children && node.children.size) go(i + 1);
        break;
      case "ArrowLeft":
        if (node.dir && node.open && node !== this.root) this.toggle(node, false);
        else this.select(parentOf(node.key), true);
        break;
      case "Enter":
      case " ":
        if (node.dir) this.toggle(node);
        else this.openForm("edit");
        break;
      default:
        return;
    }
    e.preventDefault();
  }

  // Shortcut keys that act on the selected node (app.js calls this).
  shortcut(k) {
    const node = this.nodes.get(this.selected);
    if (!node) return false;
    switch (k) {
      case "e": if (!node.dir) this.openForm("edit"); else if (node !== this.root) this.openForm("dirttl"); return true;
      case "n": this.openForm("new", "key"); return true;
      case "d": this.openForm("new", "dir"); return true;
      case "o": this.openForm("new", "inorder"); return true;
      case "t": if (node.ttl) this.openForm("refresh"); return true;
      case "Delete": this.remove_(node); return true;
      case "r": this.reload(); return true;
    }
    return false;
  }

  // ---- The detail pane and its forms ----

  renderDetail() {
    const d = $("detail");
    const node = this.nodes.get(this.selected);
    if (!node) { clear(d); return; }
    const keepForm = this.form && this.form.key === node.key && d.querySelector("form");
    const formEl = keepForm ? d.querySelector(".form-slot") : null;
    clear(d);
    d.append(h("h2", { class: "key" }, node.key, " ",
      h("span", { class: "badge" }, node.dir ? "directory" : "key"),
      isHidden(node.key) ? h("span", { class: "badge hidden" }, "hidden") : null));
    const dl = h("dl", { class: "kv" });
    if (!node.dir) dl.append(h("dt", null, "value"), h("dd", null, h("pre", { class: "value", id: "detail-value" }, node.value)));
    if (node !== this.root) {
      dl.append(h("dt", null, "createdIndex"), h("dd", { id: "detail-created" }, node.createdIndex),
        h("dt", null, "modifiedIndex"), h("dd", { id: "detail-modified" }, node.modifiedIndex));
      dl.append(h("dt", null, "TTL"), h("dd", null, node.ttl
        ? h("span", { class: "long", dataset: { expires: node.expiresAt } }, duration((node.expiresAt - Date.now()) / 1000) + " left")
        : "none (permanent)"));
    }
    if (node.dir && node.children) dl.append(h("dt", null, "children"), h("dd", null, node.children.size));
    d.append(dl);
    const act = h("div", { class: "actions" });
    const btn = (label, key, fn, cls, id) => h("button", { type: "button", class: cls, id, onclick: fn, title: key ? "(" + key + ")" : null },
      label, key ? h("kbd", null, key) : null);
    if (!node.dir) act.append(btn("Edit", "e", () => this.openForm("edit"), "primary", "act-edit"));
    if (node.dir && node !== this.root) act.append(btn("TTL", "e", () => this.openForm("dirttl"), null, "act-dirttl"));
    if (node.ttl) act.append(btn("Refresh TTL", "t", () => this.openForm("refresh"), null, "act-refresh"));
    if (node.dir) {
      act.append(btn("New key", "n", () => this.openForm("new", "key"), null, "act-new-key"),
        btn("New dir", "d", () => this.openForm("new", "dir"), null, "act-new-dir"),
        btn("In-order key", "o", () => this.openForm("new", "inorder"), null, "act-new-inorder"));
    }
    act.append(btn("Watch", "w", () => this.onWatch && this.onWatch(node.key, node.dir), null, "act-watch"));
    if (node !== this.root) act.append(btn("Delete", "Del", () => this.remove_(node), "danger", "act-delete"));
    d.append(act);
    d.append(formEl || h("div", { class: "form-slot" }));
  }

  openForm(kind, what) {
    const node = this.nodes.get(this.selected);
    if (!node) return;
    if (kind === "new" && !node.dir) return this.select(parentOf(node.key)) || this.openForm(kind, what);
    this.form = { kind, key: node.key, base: node.modifiedIndex };
    this.renderDetail();
    const slot = $("detail").querySelector(".form-slot");
    clear(slot);
    const field = (label, input) => h("label", null, label, input);
    const ttlNow = node.ttl ? Math.max(1, Math.round((node.expiresAt - Date.now()) / 1000)) : "";
    const cancel = h("button", { type: "button", onclick: () => { this.form = null; clear(slot); this.focusSelected(); } }, "Cancel");
    let form;
    if (kind === "edit") {
      form = h("form", { class: "edit", id: "edit-form" },
        h("h3", null, "Edit ", node.key, h("small", null, " (based on modifiedIndex " + node.modifiedIndex + ")")),
        field("Value", h("textarea", { id: "edit-value", rows: 4, spellcheck: "false" })),
        field("TTL (seconds, empty: none)", h("input", { id: "edit-ttl", type: "number", min: 1, inputmode: "numeric", value: ttlNow })),
        h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", id: "edit-save" }, "Save"), cancel),
        h("div", { id: "conflict", class: "conflict", hidden: true, role: "alert" }));
      form.querySelector("textarea").value = node.value || "";
      form.addEventListener("submit", (e) => { e.preventDefault(); this.save(node, this.form.base); });
    } else if (kind === "new") {
      const sel = h("select", { id: "new-kind" },
        h("option", { value: "key", selected: what === "key" }, "key"),
        h("option", { value: "dir", selected: what === "dir" }, "directory"),
        h("option", { value: "inorder", selected: what === "inorder" }, "in-order key (POST: the member names it)"));
      form = h("form", { class: "edit", id: "new-form" },
        h("h3", null, "New in ", node.key),
        field("Kind", sel),
        field("Name", h("input", { id: "new-name", type: "text", spellcheck: "false", placeholder: "name or a/b/c" })),
        field("Value", h("textarea", { id: "new-value", rows: 3, spellcheck: "false" })),
        field("TTL (seconds, empty: none)", h("input", { id: "new-ttl", type: "number", min: 1, inputmode: "numeric" })),
        h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", id: "new-create" }, "Create"), cancel),
        h("div", { id: "conflict", class: "conflict", hidden: true, role: "alert" }));
      const sync = () => {
        const k = sel.value;
        form.querySelector("#new-name").parentElement.hidden = k === "inorder";
        form.querySelector("#new-value").parentElement.hidden = k === "dir";
      };
      sel.addEventListener("change", sync);
      sync();
      form.addEventListener("submit", (e) => { e.preventDefault(); this.create(node); });
    } else if (kind === "refresh" || kind === "dirttl") {
      form = h("form", { class: "edit", id: "ttl-form" },
        h("h3", null, kind === "refresh" ? "Refresh the TTL of " : "TTL of ", node.key),
        field("TTL (seconds" + (kind === "dirttl" ? ", empty: none" : "") + ")", h("input", { id: "ttl-value", type: "number", min: 1, inputmode: "numeric", value: node.ttl || "", required: kind === "refresh" })),
        h("p", { class: "muted" }, kind === "refresh"
          ? "A refresh sets a new TTL without changing the value and without waking watchers (refresh=true)."
          : "Sets or removes the directory's TTL; its keys go when it expires."),
        h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", id: "ttl-save" }, "Set TTL"), cancel),
        h("div", { id: "conflict", class: "conflict", hidden: true, role: "alert" }));
      form.addEventListener("submit", (e) => { e.preventDefault(); this.setTTL(node, kind); });
    }
    form.addEventListener("keydown", (e) => {
      if (e.key === "Escape") { e.preventDefault(); cancel.click(); }
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
    });
    slot.append(form);
    const first = form.querySelector("textarea:not([hidden]), input:not([type=hidden])");
    const focusEl = kind === "new" ? (what === "inorder" ? form.querySelector("#new-value") : form.querySelector("#new-name")) : first;
    if (focusEl) focusEl.focus();
  }

  showConflict(...children) {
    const c = $("conflict");
    if (!c) return;
    clear(c);
    c.append(...children);
    c.hidden = false;
  }

  // A write the console made: its answer goes into the tree at once.
  applyAnswer(res) {
    const ev = res.json;
    if (ev && ev.node) this.applyEvent(ev);
    return ev;
  }

  async save(node, base, overwrite) {
    const value = $("edit-value").value;
    const ttl = $("edit-ttl").value;
    const params = overwrite === "create" ? { prevExist: false } : { prevIndex: base };
    const res = await request("PUT", keyURL(node.key), { params, form: { value, ttl: ttl || undefined } });
    if (res.status === 200 || res.status === 201) {
      this.form = null;
      const ev = this.applyAnswer(res);
      toast("saved " + node.key + " (modifiedIndex " + ev.node.modifiedIndex + ")");
      this.select(node.key, true);
      return;
    }
    const err = new HTTPError(res);
    if (err.code === E.TEST_FAILED || err.code === E.KEY_NOT_FOUND || err.code === E.NODE_EXIST) {
      // Someone else changed the key since this form was opened: say so and
      // let the user choose; nothing was overwritten.
      const cur = await request("GET", keyURL(node.key));
      if (cur.status === 200) {
        const n = cur.json.node;
        this.applyEvent({ action: "get", node: n });
        this.form.base = n.modifiedIndex;
        this.showConflict(
          h("strong", null, "Not saved: " + node.key + " changed since you opened it."),
          h("p", null, "You edited modifiedIndex " + base + "; it is now " + n.modifiedIndex + " with the value:"),
          h("pre", { class: "value", id: "conflict-value" }, n.dir ? "(a directory)" : n.value),
          h("div", { class: "buttons" },
            h("button", { type: "button", id: "conflict-overwrite", class: "danger", onclick: () => this.save(node, n.modifiedIndex) }, "Overwrite with my value"),
            h("button", { type: "button", id: "conflict-discard", onclick: () => { this.form = null; this.select(node.key, true); } }, "Discard my edit")));
      } else {
        this.showConflict(
          h("strong", null, "Not saved: " + node.key + " was deleted since you opened it."),
          h("div", { class: "buttons" },
            h("button", { type: "button", id: "conflict-recreate", onclick: () => this.save(node, 0, "create") }, "Create it again with my value"),
            h("button", { type: "button", onclick: () => { this.form = null; this.remove(node.key); this.renderDetail(); } }, "Discard my edit")));
      }
      return;
    }
    this.showConflict(h("strong", null, "Not saved: " + err.message));
  }

  changedWhileEditing(ev) {
    const c = $("conflict");
    if (!c || !c.hidden) return;
    const gone = ev.action === "delete" || ev.action === "expire" || ev.action === "compareAndDelete";
    this.showConflict(h("strong", null, gone
      ? "Careful: " + ev.node.key + " was " + (ev.action === "expire" ? "expired" : "deleted") + " while you edit it."
      : "Careful: " + ev.node.key + " was changed (" + ev.action + ", modifiedIndex " + ev.node.modifiedIndex + ") while you edit it. Saving will report a conflict."));
  }

  async create(dir) {
    const kind = $("new-kind").value;
    const name = $("new-name").value.trim();
    const value = $("new-value").value;
    const ttl = $("new-ttl").value || undefined;
    let res;
    if (kind === "inorder") {
      res = await request("POST", keyURL(dir.key), { form: { value, ttl } });
    } else {
      if (!name) { this.showConflict("A name is needed."); return; }
      const key = cleanKey(join(dir.key, name));
      res = kind === "dir"
        ? await request("PUT", keyURL(key), { params: { dir: true, prevExist: false }, form: { ttl } })
        : await request("PUT", keyURL(key), { params: { prevExist: false }, form: { value, ttl } });
    }
    if (res.status === 200 || res.status === 201) {
      const ev = res.json;
      this.form = null;
      if (!dir.children) await this.load(dir);
      dir.open = true;
      this.applyAnswer(res);
      toast("created " + ev.node.key + " (index " + ev.node.modifiedIndex + ")");
      await this.reveal(ev.node.key, true);
      return;
    }
    const err = new HTTPError(res);
    this.showConflict(h("strong", null, err.code === E.NODE_EXIST
      ? "Not created: " + err.cause + " already exists (perhaps created meanwhile)."
      : "Not created: " + err.message));
  }

  async setTTL(node, kind) {
    const ttl = $("ttl-value").value;
    const params = node.dir ? { dir: true, prevExist: true } : { prevExist: true, refresh: true };
    if (kind === "refresh") params.refresh = true;
    const res = await request("PUT", keyURL(node.key), { params, form: { ttl: ttl } });
    if (res.status === 200 || res.status === 201) {
      this.form = null;
      this.applyAnswer(res);
      toast((ttl ? "TTL of " + node.key + " set to " + ttl + " s" : "TTL of " + node.key + " removed"));
      this.select(node.key, true);
      return;
    }
    this.showConflict(h("strong", null, "Not changed: " + new HTTPError(res).message));
  }

  // Deletes a key only if it is still the version shown (prevIndex), or a
  // directory with everything in it, after the user confirms.
  async remove_(node) {
    if (node === this.root) return;
    const sure = await confirmDialog("Delete " + node.key + "?",
      node.dir ? "The directory and every key in it will be deleted." : "Value: " + String(node.value).slice(0, 200),
      "Delete");
    if (!sure) { this.focusSelected(); return; }
    const params = node.dir ? { dir: true, recursive: true } : { prevIndex: node.modifiedIndex };
    const res = await request("DELETE", keyURL(node.key), { params });
    if (res.status === 200) {
      this.applyAnswer(res);
      this.remove(node.key);
      toast("deleted " + node.key);
      this.select(this.selected, true);
      return;
    }
    const err = new HTTPError(res);
    if (err.code === E.KEY_NOT_FOUND) {
      toast("Not deleted: " + node.key + " was already gone.", "error");
      this.remove(node.key);
      this.renderDetail();
    } else if (err.code === E.TEST_FAILED) {
      toast("Not deleted: " + node.key + " changed since it was shown (" + err.cause + "); it is shown again now.", "error");
      await this.load(this.nodes.get(parentOf(node.key)) || this.root);
      this.renderDetail();
    } else {
      toast("Not deleted: " + err.message, "error");
    }
  }
}
