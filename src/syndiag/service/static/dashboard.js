// The live dashboard: latest state per sensor and a trend chart per sensor (class probability and window RMS).
const site = decodeURIComponent((location.pathname.match(/^\/site\/(.+)$/) || [])[1] || "");
const charts = {};
document.getElementById("site").textContent = site || "all sites";

async function json(url) { const r = await fetch(url); return r.json(); }

function chartFor(sensor) {
  if (charts[sensor]) return charts[sensor];
  const box = document.createElement("div");
  box.className = "chart";
  box.dataset.sensor = sensor;
  box.innerHTML = `<h3>${sensor}</h3>`;
  document.getElementById("charts").appendChild(box);
  const options = {width: 420, height: 180, series: [{}, {label: "probability", stroke: "steelblue", scale: "p"},
                   {label: "RMS", stroke: "darkorange", scale: "rms"}],
                   axes: [{}, {scale: "p"}, {scale: "rms", side: 1}], scales: {p: {range: [0, 1]}}};
  charts[sensor] = new uPlot(options, [[], [], []], box);
  return charts[sensor];
}

async function refresh() {
  const found = await json("/api/sensors" + (site ? "?site=" + encodeURIComponent(site) : ""));
  const c = found.counts;
  document.getElementById("counts").textContent =
    `${found.sensors.length} sensors; windows in ${c.windows_in || 0}, diagnosed ${c.diagnosed || 0}, dropped ${c.dropped_queue_full || 0}, queue ${c.queue_depth}`;
  document.getElementById("rows").innerHTML = found.sensors.map(r => {
    const [s, machine, sensor] = r.sensor.split("/");
    const label = r.unknown ? `<span class="unknown">unknown fault</span> (${r.label})` : r.label;
    return `<tr><td>${machine}</td><td>${sensor}</td><td>${label}</td><td>${r.probability.toFixed(3)}</td>` +
           `<td>${new Date(r.t_end * 1000).toISOString()}</td><td>${r.latency_ms.toFixed(1)}</td>` +
           `<td><a href="/report/${r.sensor.split("/").map(encodeURIComponent).join("/")}">report</a></td></tr>`;
  }).join("");
  for (const r of found.sensors) {
    const history = await json("/api/history?sensor=" + encodeURIComponent(r.sensor));
    chartFor(r.sensor).setData([history.map(h => h.t_end), history.map(h => h.probability), history.map(h => h.rms)]);
  }
  document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
}
// paint timings, read by the load benchmark: first contentful paint, and the first refresh drawn whole (table and charts)
new PerformanceObserver(list => {
  for (const e of list.getEntries()) if (e.name === "first-contentful-paint") document.body.dataset.firstPaintMs = e.startTime.toFixed(0);
}).observe({type: "paint", buffered: true});
refresh().then(() => { document.body.dataset.firstRenderMs = performance.now().toFixed(0); });
setInterval(refresh, 2000);
