// Small DOM helpers. Text from the store always goes in through textContent
// (never innerHTML), so a key or value cannot inject markup.

export function $(id) { return document.getElementById(id); }

// h("button", {class: "x", onclick: f}, "text", child, ...)
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// A definition list from [[term, value], ...].
export function fillKV(dl, rows) {
  clear(dl);
  for (const [k, v] of rows) {
    if (v === undefined) continue;
    dl.append(h("dt", null, k), h("dd", null, v));
  }
}

// "1h02m03s", "45s".
export function duration(seconds) {
  seconds = Math.max(0, Math.round(seconds));
  const hh = Math.floor(seconds / 3600), mm = Math.floor((seconds % 3600) / 60), ss = seconds % 60;
  if (hh) return hh + "h" + String(mm).padStart(2, "0") + "m" + String(ss).padStart(2, "0") + "s";
  if (mm) return mm + "m" + String(ss).padStart(2, "0") + "s";
  return ss + "s";
}

export function toast(text, kind) {
  const box = $("toasts");
  const t = h("div", { class: "toast " + (kind || "") }, text);
  box.append(t);
  while (box.children.length > 3) box.firstChild.remove();
  setTimeout(() => t.remove(), kind === "error" ? 8000 : 3000);
}

// Shows the confirm dialog; resolves true when the user confirms.
export function confirmDialog(title, text, okLabel) {
  const d = $("confirm-dialog");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = okLabel || "Delete";
  d.returnValue = "cancel";
  d.showModal();
  $("confirm-ok").focus();
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
  });
}

// True when a key press belongs to a text field, not to a shortcut.
export function typing(e) {
  const t = e.target;
  return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
}

export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    if (signal) signal.addEventListener("abort", () => { clearTimeout(t); resolve(); }, { once: true });
  });
}
