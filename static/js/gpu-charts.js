/* GPU charts of the VM GPU page: one request per panel (a slow panel does not hold up the
   others), drawn with the vendored uPlot. Refreshes while the tab is visible. */
(function () {
  "use strict";
  var COLOURS = ["#3a4fd8", "#d8453a", "#1e7f4f", "#a15c00", "#7b3ad8", "#0e8a9a", "#c2185b", "#5d6778"];
  var container = document.querySelector(".gpu-panels");
  if (!container || typeof uPlot === "undefined") return;
  var panels = Array.prototype.slice.call(container.querySelectorAll(".gpu-panel"));
  var refreshSeconds = 0;
  var lastLoad = 0;

  function format(value, unit) {
    if (value === null || value === undefined) return "—";
    var digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
    return value.toFixed(digits) + " " + unit;
  }

  function gpuLabel(gpu) {
    return "GPU " + gpu.index + " · " + gpu.model;
  }

  function showMessage(panel, text) {
    var message = panel.querySelector(".panel-message");
    message.textContent = text || "";
    message.hidden = !text;
  }

  function fillLegend(panel, data) {
    var table = panel.querySelector(".gpu-legend");
    var body = table.querySelector("tbody");
    body.textContent = "";
    data.gpus.forEach(function (gpu, position) {
      var row = body.insertRow();
      var name = row.insertCell();
      var swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = COLOURS[position % COLOURS.length];
      name.appendChild(swatch);
      name.appendChild(document.createTextNode(gpuLabel(gpu)));
      name.title = gpu.uuid;
      [gpu.current, gpu.avg, gpu.max].forEach(function (value) {
        row.insertCell().textContent = format(value, data.unit);
      });
    });
    table.hidden = data.gpus.length === 0;
  }

  function draw(panel, data) {
    var target = panel.querySelector(".gpu-chart");
    if (panel.chart) {
      panel.chart.destroy();
      panel.chart = null;
    }
    target.textContent = "";
    if (!data.gpus.length) return;
    var series = [{}].concat(data.gpus.map(function (gpu, position) {
      return {
        label: gpuLabel(gpu), stroke: COLOURS[position % COLOURS.length], width: 1.5, spanGaps: false,
        value: function (u, v) { return format(v, data.unit); }
      };
    }));
    var options = {
      width: Math.max(target.clientWidth, 200), height: 200, series: series, legend: {show: false},
      axes: [{}, {size: 76, values: function (u, ticks) { return ticks.map(function (t) { return t + " " + data.unit; }); }}],
      scales: {x: {time: true}},
      // Times in the portal's time zone, as the rest of the page shows them, not the browser's.
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), container.dataset.timeZone); }
    };
    var values = [data.timestamps].concat(data.gpus.map(function (gpu) { return gpu.values; }));
    panel.chart = new uPlot(options, values, target);
  }

  function load(panel) {
    var width = Math.round(panel.querySelector(".gpu-chart").clientWidth || 800);
    var url = panel.dataset.url + "&width=" + width;
    return fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (response) { return response.json(); })
      .then(function (data) {
        if (data.error) {
          panel.dataset.state = "error";
          showMessage(panel, data.error);
          return;
        }
        draw(panel, data);
        fillLegend(panel, data);
        showMessage(panel, data.message);
        var points = data.gpus.reduce(function (count, gpu) {
          return count + gpu.values.filter(function (v) { return v !== null; }).length;
        }, 0);
        panel.dataset.points = String(points);
        panel.dataset.step = String(data.step_seconds);
        panel.dataset.state = data.gpus.length ? "drawn" : "empty";
        if (data.refresh_seconds) refreshSeconds = Math.max(refreshSeconds, data.refresh_seconds);
      })
      .catch(function () {
        panel.dataset.state = "error";
        showMessage(panel, panel.closest(".gpu-panels").dataset.failed || "The chart could not be loaded.");
      });
  }

  function loadAll() {
    lastLoad = Date.now();
    panels.forEach(load);
  }

  function due() {
    return refreshSeconds > 0 && Date.now() - lastLoad >= refreshSeconds * 1000;
  }

  loadAll();
  if (Number(container.dataset.refreshSeconds) > 0) {
    // Ticks often but loads only when a refresh is due and somebody can see the page.
    setInterval(function () { if (!document.hidden && due()) loadAll(); }, 5000);
    document.addEventListener("visibilitychange", function () { if (!document.hidden && due()) loadAll(); });
  }
})();
