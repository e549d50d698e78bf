// Public status page: numbers being served and waiting per service, live, no sign-in.
(function () {
  "use strict";
  const X = window.xephang;
  const cfg = JSON.parse(document.getElementById("page-config").textContent);
  const en = document.getElementById("status").dataset.lang === "en";
  const t = (vi, e) => (en ? e : vi);
  const $ = (id) => document.getElementById(id);
  const counters = {};
  const fmt = new Intl.DateTimeFormat("en-GB", { timeZone: cfg.timezone, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });

  function stamp() { $("st-updated").textContent = fmt.format(new Date()); }

  function renderCounters() {
    $("st-counters").replaceChildren(...cfg.counters.filter((id) => counters[id]).map((id) => {
      const c = counters[id];
      let num = "—", cls = "";
      if (c.status === "closed") { cls = "closed"; num = t("Đóng", "Closed"); }
      else if (c.status === "paused") { cls = "paused"; num = t("Tạm nghỉ", "Paused"); }
      else if (c.ticket) num = c.ticket.number;
      return X.el("li", { class: cls, dataset: { counter: id } },
        X.el("div", { class: "cn" }, t("Quầy ", "Counter ") + c.number), X.el("div", { class: "ct" }, num));
    }));
  }

  // No estimate while people wait means no open counter serves the service now: say so, not a bare "—".
  function renderServices(services) {
    $("st-services").replaceChildren(...services.filter((s) => cfg.services.includes(s.code)).map((s) =>
      X.el("tr", { dataset: { service: s.code } }, X.el("td", {}, en ? s.name_en : s.name),
        X.el("td", { class: "num" }, String(s.waiting)),
        X.el("td", {}, X.serviceWait(s, en ? "en" : "vi")))));
    stamp();
  }

  function renderOpening(o) {
    if (!o) return;
    $("st-open").textContent = o.issuing ? t("Đang cấp số", "Issuing tickets")
      : o.open ? t("Đã ngừng cấp số hôm nay", "No more tickets today") : t("Ngoài giờ làm việc", "Closed now");
  }

  X.live({
    site: cfg.site, resyncMs: 20000,
    onState: (s) => {
      s.counters.forEach((c) => { counters[c.id] = c; });
      renderCounters(); renderServices(s.services); renderOpening(s.opening);
    },
    on: {
      "counter.updated": (c) => { if (cfg.counters.includes(c.id)) { counters[c.id] = c; renderCounters(); stamp(); } },
      "queue.updated": (q) => renderServices(q.services),
    },
    onStatus: (ok) => { $("conn-status").hidden = ok; },
  });
})();
