// The live dashboard: latest state per sensor and a trend chart per sensor (class probability and window RMS).
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

function row(r) {
  const [, machine, sensor] = r.sensor.split("/");
  const tr = document.createElement("tr");
  tr.appendChild(element("td", machine));
  tr.appendChild(element("td", sensor));
  const fault = element("td");
  if (r.unknown) {
    fault.appendChild(element("span", "unknown fault", "unknown"));
    fault.appendChild(document.createTextNode(` (${r.label})`));
  } else fault.textContent = r.label;
  tr.appendChild(fault);
  tr.appendChild(element("td", number(r.probability, 3)));
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
  const rows = [];
  for (const r of found.sensors) {
    try { rows.push(row(r)); } catch (e) { rows.push(element("tr", `unreadable row: ${e}`)); }
  }
  document.getElementById("rows").replaceChildren(...rows);
  for (const r of found.sensors) {
    try {
      const history = await json("/api/history?sensor=" + encodeURIComponent(r.sensor));
      chartFor(r.sensor).setData([history.map(h => h.t_end), history.map(h => h.probability), history.map(h => h.rms)]);
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
