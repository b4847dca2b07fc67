// The live status page serve answers at / : plain HTML, CSS and JavaScript in one document, no
// build step and nothing fetched from anywhere but this serve (/status.json and /history.json,
// once a second). It draws per-device usage bars and states, jobs with progress and ETA, recent
// events and a throughput chart. The token in the page's own URL (?token=T) is passed on.
export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>elastripe</title>
<style>
  :root { --bg: #f6f7f9; --card: #fff; --ink: #1d2330; --muted: #69707d; --line: #e1e4ea;
          --online: #2e9d57; --draining: #c98a12; --missing: #d2691e; --failed: #c8283b; --bar: #3b6fd8; --parity: #8aa6e8; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--ink); }
  header { padding: 14px 24px; background: #1d2330; color: #fff; display: flex; gap: 24px; align-items: baseline; flex-wrap: wrap; }
  header h1 { margin: 0; font-size: 18px; }
  header .meta { color: #b8bfcc; font-size: 13px; }
  #health { padding: 2px 10px; border-radius: 10px; font-weight: 600; font-size: 13px; }
  main { padding: 18px 24px; display: grid; gap: 18px; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); }
  section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; }
  section.wide { grid-column: 1 / -1; }
  h2 { margin: 0 0 10px; font-size: 15px; }
  table { width: 100%; border-collapse: collapse; }
  th, td { text-align: left; padding: 5px 6px; border-bottom: 1px solid var(--line); vertical-align: middle; }
  th { color: var(--muted); font-weight: 500; font-size: 12px; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
  .path { font-family: ui-monospace, monospace; font-size: 12px; word-break: break-all; }
  .state { display: inline-block; padding: 1px 8px; border-radius: 9px; color: #fff; font-size: 12px; font-weight: 600; }
  .state.online, .state.done { background: var(--online); } .state.draining, .state.running { background: var(--draining); }
  .state.missing, .state.interrupted, .state.aborted, .state.incomplete { background: var(--missing); } .state.failed { background: var(--failed); }
  .bar { position: relative; height: 16px; background: #eceff4; border-radius: 4px; overflow: hidden; min-width: 120px; }
  .bar > span { position: absolute; left: 0; top: 0; bottom: 0; background: var(--bar); }
  .bar > em { position: absolute; right: 6px; top: 0; font-size: 11px; font-style: normal; line-height: 16px; color: var(--ink); }
  #events { list-style: none; margin: 0; padding: 0; max-height: 280px; overflow: auto; font-size: 13px; }
  #events li { padding: 3px 0; border-bottom: 1px solid var(--line); }
  #events time { color: var(--muted); font-variant-numeric: tabular-nums; margin-right: 8px; }
  .muted { color: var(--muted); }
  canvas { width: 100%; height: 180px; display: block; }
  .legend span { margin-right: 14px; font-size: 12px; } .legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 2px; }
  #error { color: var(--failed); font-weight: 600; }
</style>
</head>
<body data-loaded="false">
<header>
  <h1>elastripe</h1>
  <span id="health" class="state">…</span>
  <span class="meta" id="summary">loading…</span>
  <span id="error"></span>
</header>
<main>
  <section class="wide">
    <h2>Devices</h2>
    <table>
      <thead><tr><th>#</th><th>device</th><th>state</th><th style="width:32%">used</th><th class="num">capacity</th><th class="num">read/s</th><th class="num">write/s</th><th class="num">read errors</th></tr></thead>
      <tbody id="devices"></tbody>
    </table>
  </section>
  <section>
    <h2>Throughput</h2>
    <canvas id="chart" width="900" height="180"></canvas>
    <div class="legend"><span><i style="background:#3b6fd8"></i>read</span><span><i style="background:#d2691e"></i>write</span><span class="muted" id="peak"></span></div>
  </section>
  <section>
    <h2>Jobs</h2>
    <table>
      <thead><tr><th>job</th><th>state</th><th style="width:40%">progress</th><th class="num">ETA</th></tr></thead>
      <tbody id="jobs"></tbody>
    </table>
  </section>
  <section class="wide">
    <h2>Recent events</h2>
    <ul id="events"></ul>
  </section>
</main>
<script>
"use strict";
const token = new URLSearchParams(location.search).get("token");
const headers = token ? { authorization: "Bearer " + token } : {};
const $ = (id) => document.getElementById(id);
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value; else if (key === "style") node.style.cssText = value; else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}
function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0; while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n.toFixed(0) : n.toFixed(n < 10 ? 2 : 1)) + " " + units[i];
}
function duration(ms) {
  if (!isFinite(ms) || ms < 0) return "–";
  const s = Math.round(ms / 1000);
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}
function bar(fraction, label) {
  const pct = Math.max(0, Math.min(1, fraction)) * 100;
  return el("div", { class: "bar" }, el("span", { style: "width:" + pct.toFixed(1) + "%" }), el("em", {}, label));
}
function rates(history) {
  const samples = history.samples || [];
  const perDevice = {};
  const series = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1], b = samples[i];
    const dt = (b.timeMs - a.timeMs) / 1000;
    if (dt <= 0) continue;
    series.push({ timeMs: b.timeMs, read: (b.readBytes - a.readBytes) / dt, write: (b.writtenBytes - a.writtenBytes) / dt });
  }
  if (samples.length >= 2) {
    const a = samples[samples.length - 2], b = samples[samples.length - 1];
    const dt = (b.timeMs - a.timeMs) / 1000;
    for (const path of Object.keys(b.devices || {})) {
      const before = (a.devices || {})[path] || { readBytes: 0, writtenBytes: 0 };
      perDevice[path] = { read: (b.devices[path].readBytes - before.readBytes) / dt, write: (b.devices[path].writtenBytes - before.writtenBytes) / dt };
    }
  }
  return { series, perDevice };
}
function renderDevices(status, perDevice) {
  const rows = status.devices.map((d) => {
    const r = perDevice[d.path] || { read: 0, write: 0 };
    return el("tr", { "data-device": d.deviceId, "data-state": d.state },
      el("td", {}, d.deviceId),
      el("td", { class: "path" }, d.path),
      el("td", {}, el("span", { class: "state " + d.state, title: d.reason || "" }, d.state)),
      el("td", {}, bar(d.usedFraction, (d.usedFraction * 100).toFixed(1) + "% · " + bytes(d.usedBytes))),
      el("td", { class: "num" }, bytes(d.capacityBytes)),
      el("td", { class: "num" }, bytes(r.read) + "/s"),
      el("td", { class: "num" }, bytes(r.write) + "/s"),
      el("td", { class: "num" }, d.readErrors));
  });
  $("devices").replaceChildren(...rows);
}
function renderJobs(status, nowMs) {
  const jobs = status.jobs || [];
  if (jobs.length === 0) { $("jobs").replaceChildren(el("tr", {}, el("td", { colspan: 4, class: "muted" }, "no jobs yet"))); return; }
  $("jobs").replaceChildren(...jobs.map((job) => {
    const p = job.progress || { doneBytes: 0 };
    const total = p.totalBytes;
    const fraction = total ? p.doneBytes / total : (job.state === "done" ? 1 : 0);
    const elapsed = Math.max(1, job.updatedMs - job.startedMs);
    const rate = p.doneBytes / elapsed;
    const eta = job.state === "running" && total && rate > 0 ? duration((total - p.doneBytes) / rate) : (job.state === "running" ? "…" : "–");
    const label = bytes(p.doneBytes) + (total ? " of " + bytes(total) : "");
    return el("tr", { "data-job": job.jobId, "data-kind": job.kind, "data-state": job.state },
      el("td", {}, job.kind + " #" + job.jobId),
      el("td", {}, el("span", { class: "state " + job.state }, job.state)),
      el("td", {}, bar(fraction, label)),
      el("td", { class: "num" }, eta));
  }));
}
function renderEvents(history) {
  const events = (history.events || []).slice().reverse();
  if (events.length === 0) { $("events").replaceChildren(el("li", { class: "muted" }, "no events yet")); return; }
  $("events").replaceChildren(...events.slice(0, 50).map((e) => {
    const details = Object.entries(e).filter(([k]) => k !== "type" && k !== "at").map(([k, v]) => k + "=" + (typeof v === "object" ? JSON.stringify(v) : v)).join(" ");
    return el("li", { "data-event": e.type }, el("time", {}, new Date(e.at).toLocaleTimeString()), el("strong", {}, e.type), " ", el("span", { class: "muted" }, details));
  }));
}
function renderChart(series) {
  const canvas = $("chart");
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 900, height = canvas.clientHeight || 180;
  canvas.width = width * ratio; canvas.height = height * ratio;
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  g.clearRect(0, 0, width, height);
  const peak = Math.max(1, ...series.map((s) => Math.max(s.read, s.write)));
  g.strokeStyle = "#e1e4ea"; g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) { const y = 8 + (height - 16) * i / 4; g.beginPath(); g.moveTo(0, y); g.lineTo(width, y); g.stroke(); }
  const plot = (key, color) => {
    g.strokeStyle = color; g.lineWidth = 2; g.beginPath();
    series.forEach((s, i) => {
      const x = series.length === 1 ? width : (i / (series.length - 1)) * width;
      const y = height - 8 - (s[key] / peak) * (height - 16);
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
  };
  plot("read", "#3b6fd8"); plot("write", "#d2691e");
  $("peak").textContent = "peak " + bytes(peak) + "/s over the last " + duration(series.length ? series[series.length - 1].timeMs - series[0].timeMs : 0);
}
async function refresh() {
  try {
    const [status, history] = await Promise.all([
      fetch("status.json" + location.search, { headers, cache: "no-store" }).then((r) => { if (!r.ok) throw new Error("status.json: HTTP " + r.status); return r.json(); }),
      fetch("history.json" + location.search, { headers, cache: "no-store" }).then((r) => { if (!r.ok) throw new Error("history.json: HTTP " + r.status); return r.json(); }),
    ]);
    const { series, perDevice } = rates(history);
    const health = $("health");
    health.textContent = status.degraded ? "degraded" : "healthy";
    health.className = "state " + (status.degraded ? "failed" : "online");
    $("summary").textContent = status.home + " · " + status.devices.length + " devices · parity " + status.parityCount +
      " · " + bytes(status.storedBytes) + " stored in " + status.fileCount + " files · " + bytes(status.allocatedBytes) + " of " + bytes(status.capacityBytes) + " allocated";
    renderDevices(status, perDevice);
    renderJobs(status, Date.now());
    renderEvents(history);
    renderChart(series);
    $("error").textContent = "";
    document.body.dataset.loaded = "true";
  } catch (error) {
    $("error").textContent = "cannot reach serve: " + error.message;
  }
}
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
`;
