// The report's charts with the locally served Chart.js: counts per group and service level / satisfaction.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  if (typeof Chart === "undefined") return;
  const labels = data.rows.map(function (r) { return r.label; });
  const pct = function (x) { return x === null ? null : Math.round(x * 1000) / 10; };
  new Chart(document.getElementById("chart-rows"), {
    type: "bar",
    data: {labels: labels, datasets: [
      {label: data.labels.issued, data: data.rows.map(function (r) { return r.issued; }), backgroundColor: "#1f6feb"},
      {label: data.labels.served, data: data.rows.map(function (r) { return r.served; }), backgroundColor: "#2da44e"}]},
    options: {animation: false, responsive: false},
  });
  new Chart(document.getElementById("chart-sl"), {
    type: "bar",
    data: {labels: labels, datasets: [
      {label: data.labels.sl, data: data.rows.map(function (r) { return pct(r.service_level); }), backgroundColor: "#bf8700"},
      {label: data.labels.sat, data: data.rows.map(function (r) { return pct(r.satisfied_share); }), backgroundColor: "#8250df"}]},
    options: {animation: false, responsive: false, scales: {y: {min: 0, max: 100}}},
  });
})();
