// The live dashboard, plant -> machine -> sensor. The plant page (/, or /site/<site>) lists the machines with their state
// (the worst of their sensors'), each sensor's latest state and the alarms; a machine page (/machine/<site>/<machine>) its
// sensors with their trends; a sensor page (/sensor/<site>/<machine>/<sensor>) one sensor: its trends (class probability
// and window RMS; RMS velocity against its ISO 20816 zone boundaries with the anomaly ratio, 1: the sensor's own baseline
// threshold; the RUL once the unit degrades, and the RUL it exceeds: its interval's low end, before the onset the
// "at least" bound), its alarms and its report. Trends are drawn on machine and sensor pages only.
// Every name from the outside (site, machine, sensor, label) reaches the page as text, never as markup.
const parts = location.pathname.split("/").filter(Boolean).map(decodeURIComponent);
const view = parts[0] === "machine" && parts.length === 3 ? {kind: "machine", site: parts[1], prefix: parts[1] + "/" + parts[2] + "/"}
  : parts[0] === "sensor" && parts.length === 4 ? {kind: "sensor", site: parts[1], sensor: parts.slice(1).join("/")}
  : {kind: "plant", site: parts[0] === "site" && parts.length === 2 ? parts[1] : ""};
const charts = {};

async function json(url) { const r = await fetch(url); return r.json(); }

function element(tag, text, className) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (className) e.className = className;
  return e;
}

function link(text, href) { const a = element("a", text); a.href = href; return a; }
const path = (...names) => names.map(encodeURIComponent).join("/");
const machineHref = (site, machine) => "/machine/" + path(site, machine);
const sensorHref = sensor => "/sensor/" + path(...sensor.split("/"));

function utc(seconds) {
  const date = new Date(seconds * 1000);
  return Number.isFinite(date.getTime()) ? date.toISOString() : `invalid time ${seconds}`;
}

function number(value, digits) { return Number.isFinite(value) ? value.toFixed(digits) : "n/a"; }

function rulText(rul) {
  if (!rul) return "n/a";
  if (!rul.degrading) return `no degradation yet (at least ${number(rul.at_least_h, 1)} h)`;
  return `${number(rul.rul_h, 2)} h (${Math.round(rul.level * 100)} %: ${number(rul.low_h, 2)}-${number(rul.high_h, 2)} h)`;
}

function shows(sensor) {
  if (view.kind === "machine") return sensor.startsWith(view.prefix);
  if (view.kind === "sensor") return sensor === view.sensor;
  return !view.site || sensor.startsWith(view.site + "/");
}

function crumbs() {
  const box = document.getElementById("crumbs");
  const where = document.getElementById("where");
  box.appendChild(link("plant", "/"));
  if (view.kind === "plant") { where.textContent = view.site || "plant"; if (view.site) box.appendChild(link(view.site, "/site/" + path(view.site))); return; }
  const [site, machine, sensor] = (view.sensor || view.prefix).split("/");
  box.appendChild(link(site, "/site/" + path(site)));
  box.appendChild(link(machine, machineHref(site, machine)));
  if (sensor) box.appendChild(link(sensor, sensorHref(view.sensor)));
  where.textContent = view.kind === "sensor" ? view.sensor : `${site}/${machine}`;
  document.getElementById("machines-part").hidden = true;
}

function chart(key, title, series, axes, scales) {
  if (charts[key]) return charts[key];
  const box = element("div", undefined, "chart " + key.split(":")[0]);
  box.dataset.sensor = key.split(":").slice(1).join(":");
  box.appendChild(element("h3", title));
  document.getElementById("charts").appendChild(box);
  charts[key] = new uPlot({width: 420, height: 180, series: [{}, ...series], axes: [{}, ...axes], scales: scales || {}},
                          [[], ...series.map(() => [])], box);
  return charts[key];
}

function drawTrends(sensor, history, health) {
  const t = history.map(h => h.t_end);
  chart("class-chart:" + sensor, sensor + ": class probability, window RMS",
        [{label: "probability", stroke: "steelblue", scale: "p"}, {label: "RMS", stroke: "darkorange", scale: "rms"}],
        [{scale: "p"}, {scale: "rms", side: 1}], {p: {range: [0, 1]}})
    .setData([t, history.map(h => h.probability), history.map(h => h.rms)]);
  const bounds = (health || {}).zone_boundaries_mm_s;
  if (Array.isArray(bounds) && bounds.length === 3) {
    const zone = (label, stroke) => ({label, stroke, dash: [5, 5], scale: "v"});
    chart("health-chart:" + sensor, sensor + ": RMS velocity (ISO zones), anomaly ratio",
          [{label: "velocity mm/s", stroke: "black", scale: "v"}, zone("A/B", "green"), zone("B/C", "orange"), zone("C/D", "red"),
           {label: "anomaly ratio", stroke: "purple", scale: "r"}], [{scale: "v"}, {scale: "r", side: 1}])
      .setData([t, history.map(h => h.velocity_mm_s), ...bounds.map(b => t.map(() => b)), history.map(h => h.anomaly_ratio)]);
  }
  if (history.some(h => Number.isFinite(h.rul_bound_h)) || ((health || {}).evidence || {}).rul)
    chart("rul-chart:" + sensor, sensor + ": remaining useful life (h)",
          [{label: "RUL h", stroke: "firebrick", scale: "h"}, {label: "at least h", stroke: "grey", dash: [4, 4], scale: "h"}], [{scale: "h"}])
      .setData([t, history.map(h => h.rul_h), history.map(h => h.rul_bound_h)]);
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
  const sensor = element("td");
  sensor.appendChild(link(a.sensor, sensorHref(a.sensor)));
  tr.appendChild(sensor);
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

let openAlarms = {};
async function refreshAlarms() {
  const found = await json("/api/alarms?limit=50");
  const rows = [];
  for (const a of found.alarms) {
    if (!shows(a.sensor)) continue;
    try { rows.push(alarmRow(a)); } catch (e) { rows.push(element("tr", `unreadable alarm: ${e}`)); }
  }
  if (view.kind === "plant") {  // every open alarm counted per machine, not only the latest 50 listed
    openAlarms = {};
    for (const [sensor, n] of Object.entries((await json("/api/alarms/open")).sensors || {})) {
      const m = sensor.split("/").slice(0, 2).join("/");
      openAlarms[m] = (openAlarms[m] || 0) + n;
    }
  }
  document.getElementById("alarms").replaceChildren(...rows);
  const c = found.counts;
  document.getElementById("alarm-counts").textContent =
    `alarms ${c.alarms}, deliveries ${c.deliveries}, failed attempts ${c.delivery_failures}, waiting ${c.waiting}, acknowledged ${c.acks}, ` +
    `repeated acknowledgements ${c.acks_repeated}, refused tokens ${c.auth_refused}`;
}

function sensorRow(r, health) {
  const tr = document.createElement("tr");
  const name = element("td");
  name.appendChild(link(view.kind === "plant" ? r.sensor : r.sensor.split("/").slice(2).join("/"), sensorHref(r.sensor)));
  tr.appendChild(name);
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
  tr.appendChild(element("td", rulText(seen.rul)));
  tr.appendChild(element("td", utc(r.t_end)));
  tr.appendChild(element("td", number(r.latency_ms, 1)));
  const cell = element("td");
  cell.appendChild(link("report", "/report/" + path(...r.sensor.split("/"))));
  tr.appendChild(cell);
  return tr;
}

let machineTally = "";
function machineRows(sensors) {
  const machines = {};
  for (const r of sensors) {
    const [site, machine] = r.sensor.split("/");
    const key = site + "/" + machine;
    (machines[key] = machines[key] || {site, machine, state: r.machine_state, sensors: []}).sensors.push(r);
  }
  const worst = m => STATES.indexOf(m.state);
  const ordered = Object.values(machines).sort((a, b) => worst(b) - worst(a) ||
    `${a.site}/${a.machine}`.localeCompare(`${b.site}/${b.machine}`, undefined, {numeric: true}));
  machineTally = "; machines: " + STATES.map(s => `${ordered.filter(m => m.state === s).length} ${s}`).join(", ");
  return ordered.map(m => {
    const tr = document.createElement("tr");
    const name = element("td");
    name.appendChild(link(view.site ? m.machine : `${m.site}/${m.machine}`, machineHref(m.site, m.machine)));
    tr.appendChild(name);
    tr.appendChild(stateCell(m.state));
    tr.appendChild(element("td", m.sensors.map(r => `${r.sensor.split("/").slice(2).join("/")} (${r.state || "n/a"})`).join(", ")));
    tr.appendChild(element("td", openAlarms[m.site + "/" + m.machine] || 0));
    return tr;
  });
}

async function refresh() {
  const found = await json("/api/sensors" + (view.site ? "?site=" + encodeURIComponent(view.site) : ""));
  const mine = found.sensors.filter(r => shows(r.sensor));
  const c = found.counts;
  const counts = `${mine.length} sensors; windows in ${c.windows_in || 0}, diagnosed ${c.diagnosed || 0}, dropped ${c.dropped_queue_full || 0}, ` +
    `queue ${c.queue_depth}`;
  let states = {};
  try { states = (await json("/api/states")).sensors || {}; } catch (e) { console.error("states", e); }
  try { await refreshAlarms(); } catch (e) { console.error("alarms", e); }
  const rows = [];
  for (const r of mine) {
    try { rows.push(sensorRow(r, states[r.sensor])); } catch (e) { rows.push(element("tr", `unreadable row: ${e}`)); }
  }
  document.getElementById("rows").replaceChildren(...rows);
  if (view.kind === "plant") {
    try { document.getElementById("machines").replaceChildren(...machineRows(mine)); } catch (e) { console.error("machines", e); }
    document.getElementById("counts").textContent = counts + machineTally;
  } else {
    document.getElementById("counts").textContent = counts;
    for (const r of mine) {
      try { drawTrends(r.sensor, await json("/api/history?sensor=" + encodeURIComponent(r.sensor)), states[r.sensor]); }
      catch (e) { console.error(r.sensor, e); }
    }
  }
  document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
}
crumbs();
// paint timings, read by the load benchmark: first contentful paint, and the first refresh drawn whole (tables and charts)
new PerformanceObserver(list => {
  for (const e of list.getEntries()) if (e.name === "first-contentful-paint") document.body.dataset.firstPaintMs = e.startTime.toFixed(0);
}).observe({type: "paint", buffered: true});
refresh().then(() => { document.body.dataset.firstRenderMs = performance.now().toFixed(0); });
setInterval(refresh, 2000);
