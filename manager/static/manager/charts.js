// Report charts, drawn from the same JSON as the tables under them (embedded in the page).
(function () {
  "use strict";
  const data = document.getElementById("report-data");
  if (!data || typeof Chart === "undefined") return;
  const rep = JSON.parse(data.textContent);
  const en = document.documentElement.lang === "en";
  const t = (vi, e) => (en ? e : vi);
  const min = (s) => (s === null || s === undefined ? null : Math.round(s / 6) / 10);
  const colors = ["#0b63c5", "#1b8a3a", "#d08a00", "#c62828", "#6a1b9a", "#00838f", "#5d4037"];
  const satColors = ["#1b8a3a", "#7cc38a", "#f2c14e", "#e57373", "#c62828"];
  Chart.defaults.font.family = '"Noto Sans", system-ui, sans-serif';
  Chart.defaults.animation = false;
  const opts = (yTitle, extra) => Object.assign({ responsive: true, maintainAspectRatio: false,
    scales: { y: { beginAtZero: true, title: { display: !!yTitle, text: yTitle } } } }, extra || {});
  const mk = (id, config) => { const c = document.getElementById(id); if (c) new Chart(c, config); };

  const byProc = rep.filters.group === "procedure";
  const rows = rep.rows;
  // Days as Vietnamese text writes them (07/12/2026), the JSON keeps ISO.
  const day = (key) => (/^\d{4}-\d{2}-\d{2}$/.test(String(key)) ? xephang.date(key) : String(key));
  const labels = rows.map((r) => (rep.filters.group === "day" ? day(r.key) : String(r.label)));
  if (byProc) {
    mk("chart-counts", { type: "bar", data: { labels, datasets: [
      { label: t("Số lượt", "Count"), data: rows.map((r) => r.n), backgroundColor: colors[0] }] }, options: opts() });
  } else {
    mk("chart-counts", { type: "bar", data: { labels, datasets: [
      { label: t("Số cấp", "Issued"), data: rows.map((r) => r.issued), backgroundColor: colors[0] },
      { label: t("Đã phục vụ", "Served"), data: rows.map((r) => r.served), backgroundColor: colors[1] },
      { label: t("Vắng mặt", "No-show"), data: rows.map((r) => r.no_show), backgroundColor: colors[2] },
      { label: t("Hủy khi hết giờ", "Cancelled"), data: rows.map((r) => r.cancelled), backgroundColor: colors[3] }] },
      options: opts(t("Số lượt", "Tickets")) });
  }
  const timeSets = byProc
    ? [{ label: t("Phục vụ TB (phút)", "Service mean (min)"), data: rows.map((r) => min(r.service_mean_s)), backgroundColor: colors[1] }]
    : [{ label: t("Chờ TB (phút)", "Wait mean (min)"), data: rows.map((r) => min(r.wait_mean_s)), backgroundColor: colors[0] },
       { label: t("Chờ P90 (phút)", "Wait p90 (min)"), data: rows.map((r) => min(r.wait_p90_s)), backgroundColor: "#7fb0e6" },
       { label: t("Phục vụ TB (phút)", "Service mean (min)"), data: rows.map((r) => min(r.service_mean_s)), backgroundColor: colors[1] }];
  mk("chart-times", { type: "bar", data: { labels, datasets: timeSets }, options: opts(t("Phút", "Minutes")) });

  const procs = rep.procedures;
  mk("chart-procedures", { type: "bar", data: { labels: procs.map((p) => p.key), datasets: [
    { label: t("Trung bình (phút)", "Mean (min)"), data: procs.map((p) => min(p.service_mean_s)), backgroundColor: colors[0] },
    { label: t("Trung vị (phút)", "Median (min)"), data: procs.map((p) => min(p.service_median_s)), backgroundColor: colors[1] },
    { label: "P90 (" + t("phút", "min") + ")", data: procs.map((p) => min(p.service_p90_s)), backgroundColor: colors[2] }] },
    options: opts(t("Phút", "Minutes")) });

  const sat = rep.satisfaction.by_counter;
  const names = {};
  (rep.rating_levels || []).forEach((l) => { names[l.code] = en ? l.name_en : l.name; });
  const levels = (rep.rating_levels || []).map((l) => l.code);
  sat.forEach((s) => Object.keys(s.levels).forEach((l) => { if (!levels.includes(l)) levels.push(l); }));
  mk("chart-satisfaction", { type: "bar", data: { labels: sat.map((s) => String(s.label)), datasets: levels.map((l, i) => ({
    label: names[l] || l, data: sat.map((s) => (s.levels[l] ? Math.round(s.levels[l].share * 1000) / 10 : 0)),
    backgroundColor: satColors[i % satColors.length] })) },
    options: opts("%", { scales: { x: { stacked: true }, y: { stacked: true, max: 100, beginAtZero: true } } }) });

  const tr = rep.trend;
  mk("chart-trend", { type: "line", data: { labels: tr.map((d) => day(d.key)), datasets: [
    { label: t("Số cấp", "Issued"), data: tr.map((d) => d.issued), borderColor: colors[0], yAxisID: "y" },
    { label: t("Đã phục vụ", "Served"), data: tr.map((d) => d.served), borderColor: colors[1], yAxisID: "y" },
    { label: t("Mức phục vụ (%)", "Service level (%)"), data: tr.map((d) => (d.service_level === null ? null : Math.round(d.service_level * 1000) / 10)),
      borderColor: colors[2], yAxisID: "y1" }] },
    options: opts(t("Số lượt", "Tickets"), { scales: { y: { beginAtZero: true }, y1: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false } } } }) });
})();
