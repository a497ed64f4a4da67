// The mmstats dashboard. Once a second it fetches `snapshot` (every file,
// process and command, combined by the server), shows the chosen view as a
// table and graphs its numeric stats over the last five minutes. With a
// store (`mmstats serve --store`), the graphs start from its history.
// Everything from the files is put in the page as text, never as markup.
"use strict";

const WINDOW_MS = 5 * 60 * 1000; // how much of the past the graphs show
const POLL_MS = 1000;
const MAX_CHARTS = 48;
// A family's graph draws its members with the largest values, at most this many.
const MAX_MEMBER_LINES = 8;
const MEMBER_COLORS = ["#e63946", "#457b9d", "#2a9d8f", "#e9c46a", "#8d5a97", "#f4a261", "#264653", "#6c757d"];
// KINDS (put in front of this script by the server) says, per kind, whether
// it is graphed and whether it is shown per second.
const graphed = (kind) => Boolean(KINDS[kind] && KINDS[kind].graphed);
const perSecond = (kind) => Boolean(KINDS[kind] && KINDS[kind].perSecond);
const SVG = "http://www.w3.org/2000/svg";

const viewSelect = document.getElementById("view");
const filterInput = document.getElementById("filter");
const statusLine = document.getElementById("status");
const charts = document.getElementById("charts");
const tbody = document.querySelector("#stats tbody");
const errorList = document.getElementById("errors");

// The quantiles a histogram's graph draws, a line each.
const HISTOGRAM_LINES = ["p50", "p99"];

// "view\u0000label" -> {live: [[ms, value]], history: [[ms, value]]}; a
// histogram's has, per quantile of HISTOGRAM_LINES, {live, history} in `q`.
const series = new Map();
let latest = null;

const params = new URLSearchParams(location.search);
if (params.has("filter")) filterInput.value = params.get("filter");
// The view asked for in the address, chosen once the server lists it.
let wantedView = params.get("view");

function seriesOf(view, label) {
  const key = view + "\u0000" + label;
  let s = series.get(key);
  if (!s) {
    s = { live: [], history: [], q: {} };
    for (const name of HISTOGRAM_LINES) s.q[name] = { live: [], history: [] };
    series.set(key, s);
  }
  return s;
}

function asNumber(value) {
  if (typeof value === "number") return value;
  if (typeof value === "boolean") return value ? 1 : 0;
  return null;
}

function show(value) {
  if (Array.isArray(value)) return value.map(show).join(" | ");
  if (value === null) return "–";
  // A histogram (see `export::json::histogram`): its count and quantiles.
  if (typeof value === "object") {
    return ["count", "p50", "p90", "p99"].filter((k) => k in value).map((k) => k + " " + show(value[k])).join(", ");
  }
  if (typeof value === "number" && !Number.isInteger(value)) {
    if (Math.abs(value) >= 1e5) return value.toFixed(3);
    return Number(value.toPrecision(6)).toString();
  }
  return String(value);
}

function record(snapshot) {
  const now = snapshot.time;
  for (const view of snapshot.views) {
    for (const stat of view.stats) {
      if (stat.kind === "histogram") {
        // The quantiles of the values recorded since the previous poll,
        // which the server computes (`snapshot?since=`): no point when no
        // value came, or the window is unknown.
        const w = stat.window;
        if (!w || !(w.count > 0)) continue;
        const s = seriesOf(view.id, stat.label);
        for (const name of HISTOGRAM_LINES) {
          if (typeof w[name] !== "number") continue;
          const line = s.q[name].live;
          line.push([now, w[name]]);
          while (line.length && line[0][0] < now - WINDOW_MS) line.shift();
        }
        continue;
      }
      if (!graphed(stat.kind)) continue;
      const y = asNumber(stat.value);
      if (y === null) continue;
      const s = seriesOf(view.id, stat.label);
      s.live.push([now, y]);
      while (s.live.length && s.live[0][0] < now - WINDOW_MS) s.live.shift();
    }
  }
}

// Counters are graphed as a rate per second; a counter that went down (its
// writer restarted) gives no point.
function rates(list) {
  const out = [];
  for (let i = 1; i < list.length; i++) {
    const dt = (list[i][0] - list[i - 1][0]) / 1000;
    const dv = list[i][1] - list[i - 1][1];
    if (dt > 0 && dv >= 0) out.push([list[i][0], dv / dt]);
  }
  return out;
}

// The points to draw: [history, live], each in time order. History is kept
// up to a second before the first live point (a stored sample may have been
// taken after the page's first poll, in the same slot), and no rate is
// computed across the two: their clocks are not the same.
function points(stat, s) {
  const firstLive = s.live.length ? s.live[0][0] : Infinity;
  const past = s.history.filter((p) => p[0] < firstLive - 1000).sort((a, b) => a[0] - b[0]);
  if (!perSecond(stat.kind)) return [past, s.live];
  return [rates(past), rates(s.live)];
}

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

function chart(stat, unit, s, now) {
  const [past, live] = points(stat, s);
  const pts = past.concat(live);
  const box = document.createElement("div");
  box.className = "chart";
  box.dataset.label = stat.label;
  const h = document.createElement("h2");
  const name = document.createElement("span");
  name.textContent = stat.label;
  const value = document.createElement("span");
  value.className = "now";
  value.textContent = show(stat.value) + (unit ? " " + unit : "");
  h.append(name, value);
  const what = document.createElement("div");
  what.className = "what";
  what.textContent = perSecond(stat.kind) ? "per second" : stat.kind;
  const W = 300, H = 80, TOP = 13, BOTTOM = 12;
  const graph = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img" });
  graph.setAttribute("aria-label", stat.label);
  let lo = Infinity, hi = -Infinity;
  for (const [, y] of pts) { lo = Math.min(lo, y); hi = Math.max(hi, y); }
  if (!pts.length) { lo = 0; hi = 1; }
  if (lo === hi) { lo -= 1; hi += 1; }
  // The graph spans from its first point, up to the whole window.
  const start = Math.max(now - WINDOW_MS, pts.length ? pts[0][0] : now);
  const span = Math.max(now - start, 1000);
  const x = (t) => ((t - (now - span)) / span) * W;
  const y = (v) => TOP + (1 - (v - lo) / (hi - lo)) * (H - TOP - BOTTOM);
  for (const [part, cls] of [[past, "line history"], [live, "line"]]) {
    if (!part.length) continue;
    const d = part.map((p, i) => (i ? "L" : "M") + x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1)).join(" ");
    const path = svg("path", { d, class: cls });
    path.dataset.points = String(part.length);
    graph.append(path);
  }
  const top = svg("text", { x: 2, y: 10 });
  top.textContent = show(hi);
  const bottom = svg("text", { x: 2, y: H - 2 });
  bottom.textContent = show(lo) + "   (last " + Math.round(span / 1000) + " s)";
  graph.append(top, bottom);
  box.append(h, what, graph);
  return box;
}

// A histogram: one graph, a line per quantile of HISTOGRAM_LINES, each
// from its stored history (the series `mmstats record` writes,
// `<series>:<label>:p50`) then its live windows.
const QUANTILE_COLORS = { p50: "#457b9d", p99: "#e63946" };

function histogramChart(stat, unit, s, now) {
  const lines = HISTOGRAM_LINES.map((name) => {
    const q = s.q[name];
    const firstLive = q.live.length ? q.live[0][0] : Infinity;
    const past = q.history.filter((p) => p[0] < firstLive - 1000).sort((a, b) => a[0] - b[0]);
    return { name, past, live: q.live };
  });
  const box = document.createElement("div");
  box.className = "chart histogram";
  box.dataset.label = stat.label;
  const h = document.createElement("h2");
  const name = document.createElement("span");
  name.textContent = stat.label;
  const value = document.createElement("span");
  value.className = "now";
  const v = stat.value || {};
  value.textContent = HISTOGRAM_LINES.map((q) => q + " " + show(v[q] === undefined ? null : v[q])).join(", ") +
    (unit ? " " + unit : "");
  h.append(name, value);
  const what = document.createElement("div");
  what.className = "what";
  what.textContent = "histogram: " + HISTOGRAM_LINES.join(" and ") + " of each interval, " + show(v.count) + " values in all";
  const W = 300, H = 80, TOP = 13, BOTTOM = 12;
  const graph = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img" });
  graph.setAttribute("aria-label", stat.label);
  let lo = Infinity, hi = -Infinity, first = now;
  for (const { past, live } of lines) {
    for (const [t, y] of past.concat(live)) { lo = Math.min(lo, y); hi = Math.max(hi, y); first = Math.min(first, t); }
  }
  if (lo === Infinity) { lo = 0; hi = 1; }
  if (lo === hi) { lo -= 1; hi += 1; }
  const start = Math.max(now - WINDOW_MS, first);
  const span = Math.max(now - start, 1000);
  const x = (t) => ((t - (now - span)) / span) * W;
  const y = (val) => TOP + (1 - (val - lo) / (hi - lo)) * (H - TOP - BOTTOM);
  const legend = document.createElement("ul");
  legend.className = "members";
  for (const { name: q, past, live } of lines) {
    for (const [part, cls] of [[past, "line history " + q], [live, "line " + q]]) {
      if (!part.length) continue;
      const d = part.map((p, i) => (i ? "L" : "M") + x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1)).join(" ");
      const path = svg("path", { d, class: cls });
      path.style.stroke = QUANTILE_COLORS[q] || "#6c757d";
      path.dataset.points = String(part.length);
      path.dataset.min = String(Math.min(...part.map((p) => p[1])));
      path.dataset.max = String(Math.max(...part.map((p) => p[1])));
      graph.append(path);
    }
    const li = document.createElement("li");
    li.style.color = QUANTILE_COLORS[q] || "#6c757d";
    const last = live.length ? live[live.length - 1][1] : past.length ? past[past.length - 1][1] : null;
    li.textContent = q + " " + show(last);
    legend.append(li);
  }
  const top = svg("text", { x: 2, y: 10 });
  top.textContent = show(hi);
  const bottom = svg("text", { x: 2, y: H - 2 });
  bottom.textContent = show(lo) + "   (last " + Math.round(span / 1000) + " s)";
  graph.append(top, bottom);
  box.append(h, what, graph, legend);
  return box;
}

// A member of a labelled family (`web.requests{method="get"}`, a part's
// suffix after its label set: `web.latency{method="get"}.count`): its
// family (the text around the set) and its label set; null for a field
// that is not one.
const MEMBER = /^([^{]*)(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})(.*)$/s;
function memberOf(label) {
  const m = MEMBER.exec(label);
  return m ? { family: m[1] + m[3], set: m[2] } : null;
}

// One graph for a family, a line per member (those with the largest
// values when there are more than MAX_MEMBER_LINES), with a legend.
function familyChart(family, members, unit, view, now) {
  const shown = members
    .slice()
    .sort((a, b) => asNumber(b.stat.value) - asNumber(a.stat.value))
    .slice(0, MAX_MEMBER_LINES);
  const kind = members[0].stat.kind;
  const lines = shown.map((m) => {
    const [past, live] = points(m.stat, seriesOf(view.id, m.stat.label));
    return { m, pts: past.concat(live) };
  });
  const box = document.createElement("div");
  box.className = "chart family";
  box.dataset.family = family;
  const h = document.createElement("h2");
  const name = document.createElement("span");
  name.textContent = family;
  const value = document.createElement("span");
  value.className = "now";
  const total = members.reduce((sum, m) => sum + asNumber(m.stat.value), 0);
  value.textContent = show(total) + (unit ? " " + unit : "");
  h.append(name, value);
  const what = document.createElement("div");
  what.className = "what";
  what.textContent = (perSecond(kind) ? "per second" : kind) + ", " + members.length + " members" +
    (members.length > shown.length ? ", the " + shown.length + " largest drawn" : "");
  const W = 300, H = 80, TOP = 13, BOTTOM = 12;
  const graph = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img" });
  graph.setAttribute("aria-label", family);
  let lo = Infinity, hi = -Infinity, first = now;
  for (const { pts } of lines) {
    for (const [t, y] of pts) { lo = Math.min(lo, y); hi = Math.max(hi, y); first = Math.min(first, t); }
  }
  if (lo === Infinity) { lo = 0; hi = 1; }
  if (lo === hi) { lo -= 1; hi += 1; }
  const start = Math.max(now - WINDOW_MS, first);
  const span = Math.max(now - start, 1000);
  const x = (t) => ((t - (now - span)) / span) * W;
  const y = (v) => TOP + (1 - (v - lo) / (hi - lo)) * (H - TOP - BOTTOM);
  const legend = document.createElement("ul");
  legend.className = "members";
  lines.forEach(({ m, pts }, i) => {
    const color = MEMBER_COLORS[i % MEMBER_COLORS.length];
    if (pts.length) {
      const d = pts.map((p, j) => (j ? "L" : "M") + x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1)).join(" ");
      const path = svg("path", { d, class: "line member" });
      path.style.stroke = color;
      path.dataset.member = m.set;
      path.dataset.points = String(pts.length);
      graph.append(path);
    }
    const li = document.createElement("li");
    li.style.color = color;
    li.textContent = m.set + " " + show(m.stat.value);
    legend.append(li);
  });
  const top = svg("text", { x: 2, y: 10 });
  top.textContent = show(hi);
  const bottom = svg("text", { x: 2, y: H - 2 });
  bottom.textContent = show(lo) + "   (last " + Math.round(span / 1000) + " s)";
  graph.append(top, bottom);
  box.append(h, what, graph, legend);
  return box;
}

function render() {
  if (!latest) return;
  const chosen = viewSelect.value;
  const view = latest.views.find((v) => v.id === chosen) || latest.views[0];
  if (!view) return;
  if (latest.history && !historyAsked.has(view.id)) loadHistory(view, latest.time);
  const prefix = filterInput.value;
  const stats = view.stats.filter((s) => s.label.startsWith(prefix));
  const now = latest.time;
  const rows = [];
  for (const stat of stats) {
    const tr = document.createElement("tr");
    tr.dataset.label = stat.label;
    const unit = (latest.meta[stat.label] || {}).unit || "";
    for (const [text, cls] of [[stat.label, "label"], [stat.kind, "kind"], [show(stat.value), "value"], [unit, "unit"]]) {
      const td = document.createElement("td");
      td.className = cls;
      td.textContent = text;
      tr.append(td);
    }
    const help = (latest.meta[stat.label] || {}).help;
    if (help) tr.title = help;
    rows.push(tr);
  }
  tbody.replaceChildren(...rows);
  // A graph per field, but one per labelled family, where it first comes.
  const order = [];
  const families = new Map();
  for (const stat of stats) {
    if (stat.kind === "histogram") {
      order.push({ histogram: stat });
      continue;
    }
    if (!graphed(stat.kind) || asNumber(stat.value) === null) continue;
    const member = memberOf(stat.label);
    if (!member) {
      order.push({ stat });
      continue;
    }
    if (!families.has(member.family)) {
      families.set(member.family, []);
      order.push({ family: member.family });
    }
    families.get(member.family).push({ stat, set: member.set });
  }
  const boxes = [];
  for (const entry of order) {
    if (boxes.length >= MAX_CHARTS) break;
    if (entry.histogram) {
      const unit = (latest.meta[entry.histogram.label] || {}).unit || "";
      boxes.push(histogramChart(entry.histogram, unit, seriesOf(view.id, entry.histogram.label), now));
    } else if (entry.stat) {
      const unit = (latest.meta[entry.stat.label] || {}).unit || "";
      boxes.push(chart(entry.stat, unit, seriesOf(view.id, entry.stat.label), now));
    } else {
      const members = families.get(entry.family);
      const unit = (latest.meta[members[0].stat.label] || {}).unit || "";
      boxes.push(familyChart(entry.family, members, unit, view, now));
    }
  }
  charts.replaceChildren(...boxes);
}

function updateViews(views) {
  const chosen = viewSelect.value;
  const ids = views.map((v) => v.id).join("\u0000");
  if (viewSelect.dataset.ids === ids) return;
  viewSelect.dataset.ids = ids;
  viewSelect.replaceChildren(...views.map((v) => {
    const option = document.createElement("option");
    option.value = v.id;
    option.textContent = `${v.name} (${v.files} file${v.files === 1 ? "" : "s"})`;
    return option;
  }));
  if (wantedView && views.some((v) => v.id === wantedView)) {
    viewSelect.value = wantedView;
    wantedView = null;
  } else {
    viewSelect.value = views.some((v) => v.id === chosen) ? chosen : "all";
  }
}

// With a store: what it holds for the view's labels, as far back as the
// graphs reach. Series are named as `mmstats record` names them (the view's
// `series` prefix, `:`, the label), and times are Unix milliseconds.
const historyAsked = new Set();

async function loadHistory(view, time) {
  historyAsked.add(view.id);
  if (!view.series) return;
  try {
    const list = await (await fetch("history/", { cache: "no-store" })).json();
    const names = new Set((list.metrics || []).map((m) => m.name));
    const to = time + 1;
    const from = to - WINDOW_MS;
    // About one point per pixel of the graph, whatever the range.
    const pixels = Math.max(100, Math.round((charts.firstElementChild || charts).clientWidth || 300));
    const step = Math.max(1, Math.floor((to - from) / pixels));
    const stored = async (name) => {
      // Times in Unix seconds, as every command and route takes them.
      const url = `history/${encodeURIComponent(name)}?from=${from / 1000}&to=${to / 1000}&step=${step}`;
      const answer = await (await fetch(url, { cache: "no-store" })).json();
      return (answer.points || []).filter((p) => typeof p[1] === "number");
    };
    for (const stat of view.stats) {
      const name = view.series + ":" + stat.label;
      if (stat.kind === "histogram") {
        // `mmstats record` keeps a histogram's quantiles of each interval.
        for (const q of HISTOGRAM_LINES) {
          if (names.has(name + ":" + q)) seriesOf(view.id, stat.label).q[q].history = await stored(name + ":" + q);
        }
        continue;
      }
      if (!names.has(name) || !graphed(stat.kind)) continue;
      seriesOf(view.id, stat.label).history = await stored(name);
    }
  } catch (e) {
    statusLine.textContent = "history unavailable: " + e;
  }
  render();
}

async function poll() {
  try {
    // `since`: the server adds each histogram's window since that answer.
    const asked = latest ? "snapshot?since=" + latest.time : "snapshot";
    const answer = await fetch(asked, { cache: "no-store" });
    if (!answer.ok) throw new Error("HTTP " + answer.status);
    const snapshot = await answer.json();
    latest = snapshot;
    record(snapshot);
    updateViews(snapshot.views);
    const all = snapshot.views.find((v) => v.id === "all");
    statusLine.className = "";
    statusLine.textContent = `${all ? all.files : 0} files, ` +
      `updated ${new Date(snapshot.time).toLocaleTimeString()}` +
      (snapshot.truncated ? " (incomplete: over the server's limits, see below)" : "");
    errorList.replaceChildren(...snapshot.errors.map((e) => {
      const li = document.createElement("li");
      li.textContent = (e.file ? e.file + ": " : "") + e.error;
      return li;
    }));
    render();

  } catch (e) {
    statusLine.className = "stale";
    statusLine.textContent = "cannot reach the server (" + e.message + "); retrying";
  }
}

viewSelect.addEventListener("change", render);
filterInput.addEventListener("input", render);
poll();
setInterval(poll, POLL_MS);
