// rask's dashboard pages: one script for the status, graph and failures pages. It reads
// snapshots from the server (server-sent events, at most two a second) and redraws the
// page's part; nothing is fetched from anywhere but this server.
"use strict";

const page = document.body.dataset.page;
const params = new URLSearchParams(location.search);
let token = params.get("token") || sessionStorage.getItem("rask-token") || "";
const withToken = (path) => token ? `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}` : path;
for (const a of document.querySelectorAll("header a")) a.href = withToken(a.getAttribute("href"));

// Statistics the browser test reads: updates applied and the slowest one (ms).
window.rask = { updates: 0, slowestApplyMs: 0, lastSnapshot: null };

const palette = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f", "#bab0ac", "#e15759"];
function colour(name) {
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return palette[h % palette.length];
}
const fmtBytes = (n) => n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(1)} GiB` : n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`;
const el = (tag, attrs = {}, text = "") => { const e = document.createElement(tag); Object.assign(e, attrs); if (text) e.textContent = text; return e; };

function setState(text) { document.getElementById("state").textContent = text; }

async function connect() {
  const probe = await fetch(withToken("/api/v1/status")).catch(() => null);
  if (probe && probe.status === 401) {
    const given = prompt("This dashboard asks for the cluster's token");
    if (given) { token = given; sessionStorage.setItem("rask-token", token); return connect(); }
    setState("no token");
    return;
  }
  const source = new EventSource(withToken("/api/v1/stream"));
  source.addEventListener("snapshot", (e) => {
    const begin = performance.now();
    const snapshot = JSON.parse(e.data);
    apply(snapshot);
    const took = performance.now() - begin;
    window.rask.updates += 1;
    window.rask.slowestApplyMs = Math.max(window.rask.slowestApplyMs, took);
    window.rask.lastSnapshot = snapshot;
    setState(snapshot.running > 0 ? `running · ${snapshot.elapsed_s.toFixed(1)} s` : `idle · ${snapshot.scheduler || "no computation yet"}`);
  });
  source.onerror = () => setState("reconnecting…");
}

function apply(s) {
  if (page === "status") { totals(s); groups(s); stream(s); workers(s); }
  else if (page === "graph") graph(s);
  else if (page === "failures") failures(s);
}

function totals(s) {
  const t = s.totals;
  const box = document.getElementById("totals");
  box.replaceChildren(
    el("span", { id: "total-tasks" }, `${t.tasks} tasks`),
    el("span", { id: "total-memory" }, `${t.memory} in memory`),
    el("span", { id: "total-processing" }, `${t.processing} processing`),
    el("span", { id: "total-waiting" }, `${t.waiting} waiting`),
    el("span", { id: "total-erred" }, `${t.erred} erred`),
    el("span", {}, `${s.elapsed_s.toFixed(2)} s`),
    el("span", {}, `${fmtBytes(t.bytes)} produced`));
}

function groups(s) {
  const box = document.getElementById("groups");
  const rows = s.groups.map((g) => {
    const row = el("div", { className: "group" });
    row.dataset.group = g.name;
    row.dataset.total = g.total; row.dataset.memory = g.memory; row.dataset.erred = g.erred;
    const bar = el("div", { className: "bar" });
    const pct = (n) => g.total ? `${(100 * n / g.total).toFixed(2)}%` : "0%";
    const memory = el("div"); memory.style.width = pct(g.memory); memory.style.background = colour(g.name);
    const running = el("div"); running.style.width = pct(g.processing); running.style.background = colour(g.name); running.style.opacity = 0.45;
    const erred = el("div", { className: "erred" }); erred.style.width = pct(g.erred);
    bar.append(memory, running, erred);
    row.append(el("span", { className: "name", title: g.name }, g.name), bar,
      el("span", { className: "counts" }, `${g.memory} / ${g.total}${g.erred ? ` · ${g.erred} erred` : ""}`));
    return row;
  });
  box.replaceChildren(...rows);
}

let drawn = [];
function stream(s) {
  const canvas = document.getElementById("stream");
  const lanes = [...new Set(s.stream.map((t) => t.worker))].sort((a, b) => a - b);
  const laneHeight = 18;
  canvas.height = Math.max(40, lanes.length * laneHeight + 20);
  canvas.width = canvas.clientWidth * (window.devicePixelRatio || 1);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(window.devicePixelRatio || 1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  drawn = [];
  if (!s.stream.length) return;
  const start = Math.min(...s.stream.map((t) => t.start_ms));
  const end = Math.max(...s.stream.map((t) => t.start_ms + t.duration_ms));
  const width = canvas.clientWidth, span = Math.max(end - start, 1);
  for (const t of s.stream) {
    const lane = lanes.indexOf(t.worker);
    const x = (t.start_ms - start) / span * width, w = Math.max(t.duration_ms / span * width, 1);
    const y = lane * laneHeight + 2;
    ctx.fillStyle = colour(t.group);
    ctx.fillRect(x, y, w, laneHeight - 4);
    drawn.push({ x, y, w, h: laneHeight - 4, t });
  }
  ctx.fillStyle = "#555";
  ctx.fillText(`${(span / 1000).toFixed(3)} s`, width - 60, canvas.height - 4);
}

function showTip(e) {
  const canvas = document.getElementById("stream");
  const tip = document.getElementById("tip");
  const r = canvas.getBoundingClientRect();
  const x = e.clientX - r.left, y = e.clientY - r.top;
  const hit = drawn.find((d) => x >= d.x && x <= d.x + d.w && y >= d.y && y <= d.y + d.h);
  if (!hit) { tip.style.display = "none"; return; }
  tip.textContent = `${hit.t.key} · ${hit.t.duration_ms.toFixed(3)} ms · worker ${hit.t.worker}`;
  tip.style.left = `${e.clientX + 12}px`; tip.style.top = `${e.clientY + 12}px`; tip.style.display = "block";
}

function workers(s) {
  const body = document.querySelector("#workers tbody");
  body.replaceChildren(...s.workers.map((w) => {
    const row = el("tr");
    for (const cell of [w.name, w.pid || "", w.nthreads, w.running, w.finished, `${(100 * w.cpu).toFixed(0)}%`, fmtBytes(w.memory), fmtBytes(w.spilled), w.left ? `left: ${w.left}` : ""]) row.append(el("td", {}, String(cell)));
    return row;
  }));
}

function graph(s) {
  const svg = document.getElementById("graph");
  const names = s.groups.map((g) => g.name);
  const byName = Object.fromEntries(s.groups.map((g) => [g.name, g]));
  // Layers: a group sits one right of the deepest group it reads.
  const reads = Object.fromEntries(names.map((n) => [n, []]));
  for (const [reader, read] of s.edges) if (reads[reader] && byName[read]) reads[reader].push(read);
  const depth = {};
  const visit = (n, seen = new Set()) => {
    if (depth[n] !== undefined) return depth[n];
    if (seen.has(n)) return 0;
    seen.add(n);
    depth[n] = reads[n].length ? 1 + Math.max(...reads[n].map((m) => visit(m, seen))) : 0;
    return depth[n];
  };
  names.forEach((n) => visit(n));
  const columns = [];
  for (const n of names) (columns[depth[n]] ||= []).push(n);
  const boxW = 150, boxH = 34, gapX = 70, gapY = 16;
  const pos = {};
  columns.forEach((col, c) => col.forEach((n, r) => { pos[n] = { x: 10 + c * (boxW + gapX), y: 10 + r * (boxH + gapY) }; }));
  svg.setAttribute("height", Math.max(60, 20 + Math.max(0, ...columns.map((c) => c.length)) * (boxH + gapY)));
  svg.setAttribute("width", Math.max(300, 20 + columns.length * (boxW + gapX)));
  const ns = "http://www.w3.org/2000/svg";
  const make = (tag, attrs) => { const e = document.createElementNS(ns, tag); for (const k in attrs) e.setAttribute(k, attrs[k]); return e; };
  const parts = [];
  for (const [reader, read] of s.edges) {
    if (!pos[reader] || !pos[read]) continue;
    parts.push(make("line", { x1: pos[read].x + boxW, y1: pos[read].y + boxH / 2, x2: pos[reader].x, y2: pos[reader].y + boxH / 2, stroke: "#9aa3b2" }));
  }
  for (const n of names) {
    const g = byName[n], p = pos[n];
    const done = g.total ? g.memory / g.total : 0;
    const group = make("g", { "data-group": n, "data-memory": g.memory, "data-total": g.total });
    group.append(make("rect", { x: p.x, y: p.y, width: boxW, height: boxH, fill: "#eceff4", stroke: g.erred ? "#d64545" : "#9aa3b2", rx: 4 }));
    group.append(make("rect", { x: p.x, y: p.y, width: boxW * done, height: boxH, fill: colour(n), opacity: 0.8, rx: 4 }));
    const label = make("text", { x: p.x + 6, y: p.y + 21 });
    label.textContent = `${n} ${g.memory}/${g.total}`;
    group.append(label);
    parts.push(group);
  }
  svg.replaceChildren(...parts);
}

function failures(s) {
  const body = document.querySelector("#failures tbody");
  body.replaceChildren(...s.failures.slice().reverse().map((f) => {
    const row = el("tr");
    row.append(el("td", {}, f.key), el("td", {}, f.group), el("td", {}, String(f.worker)),
      el("td", {}, new Date(f.at_ms).toLocaleTimeString()), el("td", { className: "error" }, f.error));
    return row;
  }));
}

if (page === "status") document.getElementById("stream").addEventListener("mousemove", showTip);
connect();
