// The Cluster tab: members (/v2/members), this member's view of the leader
// (/v2/stats/self), health (/health), raft index and term (the X-Raft-*
// headers of a keys read), follower latency (/v2/stats/leader, answered by
// the leader only), store counters (/v2/stats/store), and a few /metrics
// figures sampled every 2 s and plotted over the last 5 minutes.

import { request, ok } from "./api.js";
import { $, h, clear, fillKV, duration } from "./dom.js";

const SAMPLE_MS = 2000;
const KEEP = 150; // samples: 5 minutes

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  return el;
}

// Sums every sample of each metric name in a Prometheus text page.
export function parseMetrics(text) {
  const out = new Map();
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const v = Number(m[3]);
    if (!Number.isFinite(v)) continue;
    out.set(m[1], (out.get(m[1]) || 0) + v);
  }
  return out;
}

// Go's time.Duration text ("1h2m3.5s", "707.78ms") in seconds.
function goSeconds(text) {
  const unit = { h: 3600, m: 60, s: 1, ms: 1e-3, "µs": 1e-6, us: 1e-6, ns: 1e-9 };
  let total = 0;
  for (const [, n, u] of text.matchAll(/([\d.]+)(h|ms|m|s|µs|us|ns)/g)) total += Number(n) * unit[u];
  return total;
}

const CHARTS = [
  { id: "requests", title: "HTTP requests/s", metric: "metcd_http_requests_total", rate: true },
  { id: "proposals", title: "proposals committed/s", metric: "etcd_server_proposals_committed_total", rate: true },
  { id: "pending", title: "proposals pending", metric: "etcd_server_proposals_pending" },
  { id: "watchers", title: "watchers", metric: "metcd_watchers" },
];

function fmt(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  if (Math.abs(v) >= 100) return String(Math.round(v));
  if (v !== 0 && Math.abs(v) < 1) return v.toPrecision(2);
  return String(Math.round(v * 10) / 10);
}

export class Cluster {
  constructor() {
    this.samples = []; // {t, values: Map}
    this.raft = { index: 0, term: 0, etcdIndex: 0 };
    this.visible = false;
    this.buildCharts();
    this.sample();
    setInterval(() => this.sample(), SAMPLE_MS);
    setInterval(() => { if (this.visible) this.refresh(); }, SAMPLE_MS);
  }

  raftHeaders(index, term, etcdIndex) {
    this.raft = { index, term, etcdIndex };
  }

  show(on) {
    this.visible = on;
    if (on) this.refresh();
  }

  async sample() {
    try {
      const res = await request("GET", "/metrics");
      if (res.status !== 200) return;
      this.samples.push({ t: Date.now(), values: parseMetrics(res.text) });
      if (this.samples.length > KEEP + 1) this.samples.shift();
      if (this.visible) this.drawCharts();
    } catch (e) {
      // the connection status in the header already says the member is away
    }
  }

  buildCharts() {
    const box = $("charts");
    for (const c of CHARTS) {
      const s = svg("svg", { viewBox: "0 0 300 80", preserveAspectRatio: "none", role: "img", "aria-label": c.title, class: "spark" });
      s.append(svg("polyline", { class: "line", fill: "none", points: "" }));
      c.svg = s;
      c.now = h("span", { class: "now" }, "–");
      c.max = h("span", { class: "max muted" }, "");
      box.append(h("figure", { class: "chart", id: "chart-" + c.id }, h("figcaption", null, c.title, " ", c.now, " ", c.max), s));
    }
  }

  series(c) {
    const pts = [];
    for (let i = 1; i < this.samples.length; i++) {
      const a = this.samples[i - 1], b = this.samples[i];
      if (!b.values.has(c.metric)) continue;
      const v = c.rate
        ? Math.max(0, (b.values.get(c.metric) - (a.values.get(c.metric) || 0)) / ((b.t - a.t) / 1000))
        : b.values.get(c.metric);
      pts.push({ t: b.t, v });
    }
    return pts;
  }

  drawCharts() {
    // The window fills as samples come: 5 minutes once the page has been open that long.
    const end = Date.now();
    const start = Math.max(end - KEEP * SAMPLE_MS, this.samples.length ? this.samples[0].t : end - 1);
    for (const c of CHARTS) {
      const pts = this.series(c);
      const max = Math.max(1, ...pts.map((p) => p.v));
      const line = c.svg.querySelector("polyline");
      line.setAttribute("points", pts.map((p) => {
        const x = ((p.t - start) / (end - start)) * 300;
        const y = 78 - (p.v / max) * 74;
        return x.toFixed(1) + "," + y.toFixed(1);
      }).join(" "));
      c.now.textContent = pts.length ? fmt(pts[pts.length - 1].v) : "–";
      c.max.textContent = "(max " + fmt(max) + ")";
    }
  }

  async refresh() {
    const [members, self, health, store] = await Promise.all([
      request("GET", "/v2/members").catch(() => null),
      request("GET", "/v2/stats/self").catch(() => null),
      request("GET", "/health").catch(() => null),
      request("GET", "/v2/stats/store").catch(() => null),
    ]);
    // A HEAD of the root carries X-Raft-Index and X-Raft-Term (api.js reads them).
    await request("HEAD", "/v2/keys/").catch(() => null);
    const st = self && self.status === 200 ? self.json : null;
    const leaderId = st && st.leaderInfo ? st.leaderInfo.leader : "";
    const isLeader = st && st.state === "StateLeader";
    let healthy = "unknown";
    if (health) {
      try { healthy = JSON.parse(health.text).health === "true" ? "healthy" : "unhealthy"; } catch (e) { healthy = "unhealthy"; }
    }
    fillKV($("self-info"), [
      ["name", st ? st.name : "–"],
      ["id", st ? st.id : "–"],
      ["state", st ? st.state.replace("State", "").toLowerCase() : "–"],
      ["health", h("span", { class: "health " + healthy, id: "health" }, healthy)],
      ["raft index", h("span", { id: "raft-index" }, this.raft.index || "–")],
      ["raft term", h("span", { id: "raft-term" }, this.raft.term || "–")],
      ["store index", this.raft.etcdIndex || "–"],
      ["leader", leaderId || "none"],
      ["leader for", st && st.leaderInfo && st.leaderInfo.uptime ? duration(goSeconds(st.leaderInfo.uptime)) : undefined],
      ["started", st ? new Date(st.startTime).toLocaleString() : undefined],
      ["appends received", st ? st.recvAppendRequestCnt : undefined],
      ["appends sent", st ? st.sendAppendRequestCnt : undefined],
    ]);
    const ss = store && store.status === 200 ? store.json : {};
    fillKV($("store-stats"), Object.entries(ss).map(([k, v]) => [k, v]));
    const list = members && members.status === 200 ? members.json.members || [] : [];
    const t = clear($("members"));
    t.append(h("thead", null, h("tr", null, h("th", null, "name"), h("th", null, "id"), h("th", null, "role"),
      h("th", null, "client URLs"), h("th", null, "peer URLs"))));
    const tb = h("tbody");
    let leaderURL = "";
    for (const m of list) {
      const lead = m.id === leaderId;
      if (lead && m.clientURLs && m.clientURLs.length) leaderURL = m.clientURLs[0];
      tb.append(h("tr", { class: lead ? "leader" : "" },
        h("td", null, m.name || "(not started)", st && m.id === st.id ? h("span", { class: "badge" }, "this member") : null),
        h("td", { class: "mono" }, m.id),
        h("td", null, lead ? h("span", { class: "badge leader" }, "leader") : "follower"),
        h("td", null, (m.clientURLs || []).map((u) => h("div", { class: "mono" }, u))),
        h("td", null, (m.peerURLs || []).map((u) => h("div", { class: "mono" }, u)))));
    }
    t.append(tb);
    await this.followers(isLeader, leaderURL, list);
    this.drawCharts();
  }

  async followers(isLeader, leaderURL, members) {
    const box = clear($("followers"));
    if (!isLeader) {
      box.append(h("p", { class: "muted" }, "Only the leader measures its followers. ",
        leaderURL ? h("a", { href: leaderURL.replace(/\/$/, "") + "/ui/" }, "Open the leader's console") : "There is no leader now.",
        leaderURL ? " (its own origin: sign in again there if auth is on)." : ""));
      return;
    }
    const res = await ok("GET", "/v2/stats/leader").catch(() => null);
    const f = res && res.json ? res.json.followers || {} : {};
    const names = new Map(members.map((m) => [m.id, m.name]));
    if (!Object.keys(f).length) {
      box.append(h("p", { class: "muted" }, "No followers: a one-member cluster."));
      return;
    }
    const t = h("table", { class: "grid" }, h("thead", null, h("tr", null,
      ["follower", "latency now (ms)", "average", "std dev", "min", "max", "sends ok", "failed"].map((x) => h("th", null, x)))));
    const tb = h("tbody");
    for (const [id, s] of Object.entries(f)) {
      const l = s.latency || {}, c = s.counts || {};
      tb.append(h("tr", null, h("td", null, names.get(id) || id, " ", h("span", { class: "mono muted" }, id)),
        h("td", null, fmt(l.current)), h("td", null, fmt(l.average)), h("td", null, fmt(l.standardDeviation)),
        h("td", null, fmt(l.minimum)), h("td", null, fmt(l.maximum)),
        h("td", null, c.success), h("td", { class: c.fail ? "bad" : "" }, c.fail)));
    }
    t.append(tb);
    box.append(t);
  }
}
