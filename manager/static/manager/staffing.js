(function () {
  "use strict";
  const node = document.getElementById("staffing-data");
  if (!node || typeof Chart === "undefined") return;
  const adv = JSON.parse(node.textContent);
  const en = document.documentElement.lang === "en";
  const t = (vi, e) => (en ? e : vi);
  Chart.defaults.animation = false;
  new Chart(document.getElementById("chart-staffing"), {
    type: "bar",
    data: { labels: adv.hours.map((h) => h.label), datasets: [
      { label: t("Cần (gộp)", "Needed (pooled)"), data: adv.hours.map((h) => h.pooled), backgroundColor: "#0b63c5" },
      { label: t("Cần (riêng)", "Needed (dedicated)"), data: adv.hours.map((h) => h.dedicated), backgroundColor: "#7fb0e6" },
      { label: t("Thực tế mở", "Had open"), data: adv.hours.map((h) => h.had), backgroundColor: "#d08a00" }] },
    options: { responsive: true, maintainAspectRatio: false, scales: { y: { beginAtZero: true, title: { display: true, text: t("Số quầy", "Counters") } } } },
  });
})();
