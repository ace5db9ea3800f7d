// The live dashboard: latest state per sensor (health state colours, RMS velocity and its ISO zone, anomaly ratio), the
// alarm list with acknowledge, and two trend charts per sensor: class probability and window RMS; RMS velocity against
// its ISO 20816 zone boundaries, with the anomaly ratio (1: the sensor's own baseline threshold).
// Every name from the outside (site, machine, sensor, label) reaches the page as text, never as markup.
const site = decodeURIComponent((location.pathname.match(/^\/site\/(.+)$/) || [])[1] || "");
const charts = {};
document.getElementById("site").textContent = site || "all sites";

async function json(url) { const r = await fetch(url); return r.json(); }

function element(tag, text, className) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (className) e.className = className;
  return e;
}

function utc(seconds) {
  const date = new Date(seconds * 1000);
  return Number.isFinite(date.getTime()) ? date.toISOString() : `invalid time ${seconds}`;
}

function number(value, digits) { return Number.isFinite(value) ? value.toFixed(digits) : "n/a"; }

function chartFor(sensor) {
  if (charts[sensor]) return charts[sensor];
  const box = element("div", undefined, "chart");
  box.dataset.sensor = sensor;
  box.appendChild(element("h3", sensor));
  document.getElementById("charts").appendChild(box);
  const options = {width: 420, height: 180, series: [{}, {label: "probability", stroke: "steelblue", scale: "p"},
                   {label: "RMS", stroke: "darkorange", scale: "rms"}],
                   axes: [{}, {scale: "p"}, {scale: "rms", side: 1}], scales: {p: {range: [0, 1]}}};
  charts[sensor] = new uPlot(options, [[], [], []], box);
  return charts[sensor];
}

const healthCharts = {};
function healthChartFor(sensor) {
  if (healthCharts[sensor]) return healthCharts[sensor];
  const box = element("div", undefined, "chart health-chart");
  box.dataset.sensor = sensor;
  box.appendChild(element("h3", sensor + ": RMS velocity (ISO zones), anomaly ratio"));
  const after = charts[sensor] && charts[sensor].root.parentNode;
  document.getElementById("charts").insertBefore(box, after ? after.nextSibling : null);
  const zone = (label, stroke) => ({label, stroke, dash: [5, 5], scale: "v"});
  const options = {width: 420, height: 180, series: [{}, {label: "velocity mm/s", stroke: "black", scale: "v"},
                   zone("A/B", "green"), zone("B/C", "orange"), zone("C/D", "red"),
                   {label: "anomaly ratio", stroke: "purple", scale: "r"}],
                   axes: [{}, {scale: "v"}, {scale: "r", side: 1}]};
  healthCharts[sensor] = new uPlot(options, [[], [], [], [], [], []], box);
  return healthCharts[sensor];
}

const STATES = ["ok", "watch", "alarm"];
function stateCell(state) {
  return STATES.includes(state) ? element("td", state, "state-" + state) : element("td", state === undefined || state === null ? "n/a" : state);
}

async function acknowledge(id) {
  const result = document.getElementById("ack-result");
  const r = await fetch("/api/alarms/" + encodeURIComponent(id) + "/ack", {method: "POST",
    headers: {"Authorization": "Bearer " + document.getElementById("token").value, "Content-Type": "application/json"},
    body: JSON.stringify({comment: document.getElementById("comment").value})});
  const body = await r.json();
  result.textContent = r.ok ? `acknowledged by ${body.acked_by}` : `refused (${r.status}): ${JSON.stringify(body.detail)}`;
  await refreshAlarms();
}

function alarmRow(a) {
  const tr = document.createElement("tr");
  tr.appendChild(element("td", utc(a.raised_at)));
  tr.appendChild(element("td", a.sensor));
  tr.appendChild(stateCell(a.level));
  tr.appendChild(element("td", a.previous));
  tr.appendChild(element("td", Object.entries(a.reasons || {}).filter(([, v]) => v !== "ok").map(([k, v]) => `${k}: ${v}`).join(", ")));
  tr.appendChild(element("td", Object.entries(a.deliveries || {}).map(([t, d]) =>
    `${t}: ${d.delivered_at ? "yes" : "waiting"} (${d.attempts})${d.last_error ? " last error " + d.last_error : ""}`).join("; ")));
  tr.appendChild(element("td", a.acked_by ? `${a.acked_by} at ${utc(a.acked_at)}` : "", "acked"));
  const cell = element("td");
  if (!a.acked_by && a.level !== "ok") {
    const button = element("button", "acknowledge");
    button.addEventListener("click", () => acknowledge(a.id));
    cell.appendChild(button);
  }
  tr.appendChild(cell);
  return tr;
}

async function refreshAlarms() {
  const found = await json("/api/alarms?limit=50");
  const rows = [];
  for (const a of found.alarms) {
    if (site && !a.sensor.startsWith(site + "/")) continue;
    try { rows.push(alarmRow(a)); } catch (e) { rows.push(element("tr", `unreadable alarm: ${e}`)); }
  }
  document.getElementById("alarms").replaceChildren(...rows);
  const c = found.counts;
  document.getElementById("alarm-counts").textContent =
    `alarms ${c.alarms}, deliveries ${c.deliveries}, failed attempts ${c.delivery_failures}, waiting ${c.waiting}, acknowledged ${c.acks}, ` +
    `repeated acknowledgements ${c.acks_repeated}, refused tokens ${c.auth_refused}`;
}

function row(r, health) {
  const [, machine, sensor] = r.sensor.split("/");
  const tr = document.createElement("tr");
  tr.appendChild(element("td", machine));
  tr.appendChild(stateCell(r.machine_state));
  tr.appendChild(element("td", sensor));
  tr.appendChild(stateCell(r.state));
  const fault = element("td");
  if (r.unknown) {
    fault.appendChild(element("span", "unknown fault", "unknown"));
    fault.appendChild(document.createTextNode(` (${r.label})`));
  } else fault.textContent = r.label;
  tr.appendChild(fault);
  tr.appendChild(element("td", number(r.probability, 3)));
  const seen = (health || {}).evidence || {};
  tr.appendChild(element("td", Number.isFinite(seen.velocity_mm_s) ? `${number(seen.velocity_mm_s, 2)} (${seen.zone})` : "n/a"));
  tr.appendChild(element("td", Number.isFinite(seen.anomaly_ratio) ? number(seen.anomaly_ratio, 2) : (seen.baseline || "n/a")));
  tr.appendChild(element("td", utc(r.t_end)));
  tr.appendChild(element("td", number(r.latency_ms, 1)));
  const link = element("a", "report");
  link.href = "/report/" + r.sensor.split("/").map(encodeURIComponent).join("/");
  const cell = element("td");
  cell.appendChild(link);
  tr.appendChild(cell);
  return tr;
}

async function refresh() {
  const found = await json("/api/sensors" + (site ? "?site=" + encodeURIComponent(site) : ""));
  const c = found.counts;
  document.getElementById("counts").textContent =
    `${found.sensors.length} sensors; windows in ${c.windows_in || 0}, diagnosed ${c.diagnosed || 0}, dropped ${c.dropped_queue_full || 0}, queue ${c.queue_depth}`;
  let states = {};
  try { states = (await json("/api/states")).sensors || {}; } catch (e) { console.error("states", e); }
  const rows = [];
  for (const r of found.sensors) {
    try { rows.push(row(r, states[r.sensor])); } catch (e) { rows.push(element("tr", `unreadable row: ${e}`)); }
  }
  document.getElementById("rows").replaceChildren(...rows);
  try { await refreshAlarms(); } catch (e) { console.error("alarms", e); }
  for (const r of found.sensors) {
    try {
      const history = await json("/api/history?sensor=" + encodeURIComponent(r.sensor));
      const t = history.map(h => h.t_end);
      chartFor(r.sensor).setData([t, history.map(h => h.probability), history.map(h => h.rms)]);
      const bounds = (states[r.sensor] || {}).zone_boundaries_mm_s;
      if (Array.isArray(bounds) && bounds.length === 3)
        healthChartFor(r.sensor).setData([t, history.map(h => h.velocity_mm_s), ...bounds.map(b => t.map(() => b)),
                                          history.map(h => h.anomaly_ratio)]);
    } catch (e) { console.error(r.sensor, e); }
  }
  document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
}
// paint timings, read by the load benchmark: first contentful paint, and the first refresh drawn whole (table and charts)
new PerformanceObserver(list => {
  for (const e of list.getEntries()) if (e.name === "first-contentful-paint") document.body.dataset.firstPaintMs = e.startTime.toFixed(0);
}).observe({type: "paint", buffered: true});
refresh().then(() => { document.body.dataset.firstRenderMs = performance.now().toFixed(0); });
setInterval(refresh, 2000);
