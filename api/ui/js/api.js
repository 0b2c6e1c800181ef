// The v2 API of the member that serves this page (same origin), with v2
// basic auth: the credentials typed in the login form go in an Authorization
// header. Requests never carry the browser's own credentials
// (credentials: "omit"), so a 401 reaches this code instead of the browser's
// password prompt; every request that gets a 401 waits for a login and is
// sent again.

const STORE = "metcd.auth";

let authHeader = sessionStorage.getItem(STORE + ".header") || "";
let authUser = sessionStorage.getItem(STORE + ".user") || "";
let loginWaiters = null; // promise resolvers while the login form is shown
let onLoginNeeded = () => {};
let onRaftHeaders = () => {};

export function setLoginHandler(fn) { onLoginNeeded = fn; }
export function setRaftHeaderHandler(fn) { onRaftHeaders = fn; }
export function user() { return authHeader ? authUser : ""; }

function b64(s) {
  // UTF-8 user names and passwords, as Go's Request.BasicAuth decodes them.
  const bytes = new TextEncoder().encode(s);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

export function setCredentials(name, password) {
  authUser = name;
  authHeader = name ? "Basic " + b64(name + ":" + password) : "";
  if (authHeader) {
    sessionStorage.setItem(STORE + ".header", authHeader);
    sessionStorage.setItem(STORE + ".user", authUser);
  } else {
    sessionStorage.removeItem(STORE + ".header");
    sessionStorage.removeItem(STORE + ".user");
  }
}

// Resolves true once the user has signed in, false if they gave up.
function waitForLogin(why) {
  if (!loginWaiters) {
    loginWaiters = [];
    onLoginNeeded(why);
  }
  return new Promise((resolve) => loginWaiters.push(resolve));
}

// signedIn false: the waiting requests end with their 401.
export function loginDone(signedIn) {
  const w = loginWaiters || [];
  loginWaiters = null;
  for (const resolve of w) resolve(signedIn);
}

// "/a b/c" -> "/v2/keys/a%20b/c": each name escaped, slashes kept.
export function keyURL(key) {
  const parts = key.split("/").filter((p) => p !== "");
  return "/v2/keys/" + parts.map(encodeURIComponent).join("/");
}

export class HTTPError extends Error {
  constructor(res) {
    const j = res.json || {};
    super(j.message ? j.message + (j.cause ? " (" + j.cause + ")" : "") : "HTTP " + res.status);
    this.res = res;
    this.status = res.status;
    this.code = j.errorCode || 0;
    this.cause = j.cause || "";
    this.index = j.index || 0;
  }
}

// One HTTP request. Returns {status, headers, json, text}; throws only when
// the network fails or the request is aborted. params go in the query;
// form (an object) is sent as application/x-www-form-urlencoded.
export async function request(method, path, { params, form, signal } = {}) {
  let url = path;
  if (params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params))
      if (v !== undefined && v !== null && v !== false) q.set(k, String(v));
    const qs = q.toString();
    if (qs) url += "?" + qs;
  }
  for (;;) {
    const headers = {};
    if (authHeader) headers["Authorization"] = authHeader;
    let body;
    if (form) {
      headers["Content-Type"] = "application/x-www-form-urlencoded";
      const f = new URLSearchParams();
      for (const [k, v] of Object.entries(form))
        if (v !== undefined && v !== null) f.set(k, String(v));
      body = f.toString();
    }
    const r = await fetch(url, { method, headers, body, signal, credentials: "omit", cache: "no-store" });
    const text = method === "HEAD" ? "" : await r.text();
    let json = null;
    if (text && (r.headers.get("Content-Type") || "").includes("json")) {
      try { json = JSON.parse(text); } catch (e) { json = null; }
    }
    const res = { status: r.status, headers: r.headers, json, text };
    if (r.status === 401) {
      // v2 auth: ask for credentials, then send the same request again.
      const why = json && json.message ? json.message : "This member asks for a user name and password.";
      if (await waitForLogin(why)) continue;
      return res;
    }
    const ri = r.headers.get("X-Raft-Index");
    if (ri) onRaftHeaders(Number(ri), Number(r.headers.get("X-Raft-Term")), Number(r.headers.get("X-Etcd-Index")));
    return res;
  }
}

// request() that throws HTTPError unless the status is 2xx.
export async function ok(method, path, opts) {
  const res = await request(method, path, opts);
  if (res.status < 200 || res.status > 299) throw new HTTPError(res);
  return res;
}

// v2 error codes the console explains.
export const E = {
  KEY_NOT_FOUND: 100,
  TEST_FAILED: 101,
  NOT_FILE: 102,
  NODE_EXIST: 105,
  DIR_NOT_EMPTY: 108,
  EVENT_INDEX_CLEARED: 401,
};
