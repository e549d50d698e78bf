// Sortable tables (class "sortable"): click a heading; numbers sort by their data-v value.
"use strict";
(function () {
  for (const table of document.querySelectorAll("table.sortable")) {
    const heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, i) {
      let dir = 1;
      th.tabIndex = 0;
      const sort = function () {
        const body = table.tBodies[0];
        const num = th.dataset.type === "num";
        const rows = Array.from(body.rows).filter(function (r) { return r.cells.length === heads.length; });
        rows.sort(function (a, b) {
          const x = a.cells[i], y = b.cells[i];
          if (num) {
            const u = parseFloat(x.dataset.v), v = parseFloat(y.dataset.v);
            return dir * ((isNaN(u) ? -Infinity : u) - (isNaN(v) ? -Infinity : v));
          }
          return dir * x.textContent.localeCompare(y.textContent, "vi");
        });
        rows.forEach(function (r) { body.appendChild(r); });
        heads.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
        dir = -dir;
      };
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); } });
    });
  }
})();
