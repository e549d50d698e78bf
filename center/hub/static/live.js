// The province's live panel: polls /hub/api/live every 10 s, keeps the chosen column order (no CDN, no framework).
// Times and dates come from the center's live.js (xephang.dateTime, loaded before this file): the hub's zone.
"use strict";
(function () {
  const table = document.getElementById("live");
  const body = table.querySelector("tbody");
  const text = JSON.parse(document.getElementById("live-text").textContent);
  let rows = [];
  let sortKey = "name";
  let sortDir = 1;

  function cell(tr, value, cls) {
    const td = document.createElement("td");
    td.textContent = value === null || value === undefined ? "–" : String(value);  // text only: nothing is HTML
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }
  // A wait with its units, whole seconds: "0 giây", "4 phút 5 giây", "2 giờ 3 phút".
  function duration(seconds) {
    const s = Math.max(0, Math.floor(Number(seconds) || 0));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    if (h) return h + " " + text.h + " " + m + " " + text.min;
    if (m) return m + " " + text.min + " " + (s % 60) + " " + text.s;
    return s + " " + text.s;
  }
  function value(r, key) {
    if (key === "printers") return r.printer_problems.length;
    const v = r[key];
    return v === null || v === undefined ? -Infinity : v;
  }
  function render() {
    const sorted = rows.slice().sort(function (a, b) {
      const x = value(a, sortKey), y = value(b, sortKey);
      if (typeof x === "string" || typeof y === "string") return sortDir * String(x).localeCompare(String(y), "vi");
      return sortDir * (x - y);
    });
    body.replaceChildren();
    for (const r of sorted) {
      const tr = document.createElement("tr");
      tr.dataset.center = r.center;
      cell(tr, r.name);
      cell(tr, r.waiting, "num waiting");
      cell(tr, duration(r.longest_wait_s), r.over_target.length ? "num warn" : "num");
      cell(tr, r.counters_open, "num");
      cell(tr, r.last_contact_text, r.last_contact_s === null || r.last_contact_s > 300 ? "warn" : "");
      cell(tr, r.version);
      cell(tr, r.clock_offset_s === null ? null : Math.round(r.clock_offset_s) + " " + text.s, r.clock_warn ? "num warn" : "num");
      cell(tr, r.printer_problems.length ? text.fail + ": " + r.printer_problems.map(function (p) { return p.kiosk; }).join(", ") : text.ok,
           r.printer_problems.length ? "warn" : "");
      body.appendChild(tr);
    }
    for (const th of table.querySelectorAll("th")) {
      th.setAttribute("aria-sort", th.dataset.key === sortKey ? (sortDir > 0 ? "ascending" : "descending") : "none");
    }
  }
  function alerts(list) {
    const box = document.getElementById("alerts");
    box.replaceChildren();
    for (const a of list) {
      const p = document.createElement("p");
      p.className = "alert alert-" + a.kind;
      const b = document.createElement("b");
      b.textContent = a.name + ": ";
      p.appendChild(b);
      p.appendChild(document.createTextNode(a.text));
      box.appendChild(p);
    }
  }
  function poll() {
    fetch(table.dataset.api, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) {
        rows = data.centers;
        render();
        alerts(data.alerts);
        document.getElementById("updated").textContent = text.updated + " " + xephang.dateTime(data.now, true);  // the center's zone, 24 h
      })
      .catch(function () { document.getElementById("updated").textContent = text.offline; });
  }
  for (const th of table.querySelectorAll("th")) {
    th.tabIndex = 0;
    const choose = function () {
      sortDir = sortKey === th.dataset.key ? -sortDir : 1;
      sortKey = th.dataset.key;
      render();
    };
    th.addEventListener("click", choose);
    th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); choose(); } });
  }
  poll();
  setInterval(poll, 10000);
})();
