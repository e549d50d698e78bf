// Administration page: a test print per kiosk printer, with the outcome shown next to the button.
(function () {
  "use strict";
  const table = document.getElementById("kiosk-printers");
  if (!table) return;
  const en = table.dataset.lang === "en";

  function show(cell, ok, text) {
    cell.textContent = "";
    cell.appendChild(xephang.el("span", { class: ok ? "ok" : "late" }, (ok ? "✓ " : "✗ ") + text));
  }

  table.addEventListener("click", async (ev) => {
    const button = ev.target.closest("button.test-print");
    if (!button) return;
    const row = button.closest("tr");
    const cell = row.querySelector(".outcome");
    const kiosk = button.dataset.kiosk;
    button.disabled = true;
    cell.textContent = en ? "Printing…" : "Đang in thử…";
    try {
      const out = await xephang.api("POST", "/kiosk/" + encodeURIComponent(kiosk) + "/test-print", {});
      show(cell, out.ok, (en ? out.message_en : out.message) || (out.ok ? (en ? "Printed" : "Đã in") : ""));
    } catch (e) {
      show(cell, false, (en ? e.message_en : e.message) || e.message);
    } finally {
      button.disabled = false;
    }
  });
})();
