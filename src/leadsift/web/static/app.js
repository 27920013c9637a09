// leadsift's pages: charts from data embedded in the page, and keyboard shortcuts.
// No network beyond this site: Chart.js and htmx are served from /static/vendor.
(function () {
  "use strict";

  // <canvas data-chart='{"type": "bar", "data": {...}, "options": {...}}'> becomes a chart.
  function drawCharts(root) {
    if (typeof window.Chart === "undefined") return;
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas.dataset.drawn) return;
      canvas.dataset.drawn = "1";
      var config = JSON.parse(canvas.dataset.chart);
      config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false },
        config.options || {});
      new window.Chart(canvas, config);
    });
  }

  // Elements with data-key="x" are clicked when x is pressed (outside text fields).
  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    var button = document.querySelector('[data-key="' + CSS.escape(event.key) + '"]:not([disabled])');
    if (button) { event.preventDefault(); button.click(); }
  }

  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  document.addEventListener("htmx:afterSettle", function (event) { drawCharts(event.target); });
  document.addEventListener("keydown", onKey);
})();
