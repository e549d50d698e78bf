// Live overview: rendered from /manager/api/overview, refreshed on every queue event and every 10 s. At a center
// with places (nodes), /manager/api/nodes every 5 s: the "Places" panel, the line "updated N s ago" of a site a
// node serves, and the nodes' alerts (whichever of the two answers came last).
(function () {
  "use strict";
  const root = document.getElementById("overview");
  const site = root.dataset.site;
  const en = root.dataset.lang === "en";
  const t = (vi, e) => (en ? e : vi);
  const el = xephang.el;
  const REASONS = { break: ["nghỉ giải lao", "break"], meeting: ["họp", "meeting"],
    kiosk_help: ["hỗ trợ tại kiosk", "helping at the kiosk"], paperwork: ["xử lý hồ sơ", "paperwork"],
    other: ["lý do khác", "other"] };

  function mins(s) {
    if (s === null || s === undefined) return "—";
    const m = Math.floor(s / 60);
    return m < 1 ? t("dưới 1 phút", "under 1 min") : m + t(" phút", " min");
  }
  function reason(text) {
    if (!text) return "";
    const code = text.split(":")[0];
    const r = REASONS[code];
    const rest = text.indexOf(":") > 0 ? text.slice(text.indexOf(":") + 1).trim() : "";
    return (r ? t(r[0], r[1]) : code) + (rest ? " – " + rest : "");
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  const isNodeAlert = (a) => a.kind.indexOf("node_") === 0;
  let queueAlerts = [], nodeAlerts = [];
  function renderAlerts() {
    const alerts = document.getElementById("alerts");
    clear(alerts);
    const all = nodeAlerts.concat(queueAlerts);
    if (!all.length) alerts.appendChild(el("li", { class: "none" }, t("Không có cảnh báo", "No alerts")));
    all.forEach((a) => alerts.appendChild(el("li", { "data-kind": a.kind, "data-node": a.node },
      en ? a.message_en : a.message)));
  }

  // ---- places (nodes): ages tick every second from the last answer, so "N s ago" stays true between polls
  let siteNode = null, places = null;
  const stamp = (n) => { if (n) n.receivedAt = Date.now(); return n; };
  function ago(n) {
    if (n.age_s === null || n.age_s === undefined) return t("chưa kết nối lần nào", "never connected");
    const s = Math.max(0, Math.round(n.age_s + (Date.now() - n.receivedAt) / 1000));
    if (s < 120) return s + t(" giây trước", " s ago");
    if (s < 7200) return Math.floor(s / 60) + t(" phút trước", " min ago");
    return Math.floor(s / 3600) + t(" giờ trước", " h ago");
  }
  function renderNodeLine() {
    const line = document.getElementById("node-line");
    line.hidden = !siteNode;
    if (!siteNode) return;
    const n = siteNode;
    line.className = "node-line" + (n.silent ? " silent" : "");
    line.textContent = t("Phục vụ bởi máy chủ tại chỗ: ", "Served by its own server: ") + n.name + " · "
      + (n.age_s === null ? t("chưa nhận được tin lần nào", "never heard from yet")
        : (n.silent ? t("chưa có tin mới – lần cuối ", "no news – last ") : t("cập nhật ", "updated ")) + ago(n));
  }
  function offsetText(x) {
    if (x === null || x === undefined) return "—";
    const sign = x > 0 ? "+" : (x < 0 ? "−" : "");
    return Math.abs(x) < 120 ? sign + Math.round(Math.abs(x)) + t(" giây", " s") : sign + Math.round(Math.abs(x) / 60) + t(" phút", " min");
  }
  function renderPlaces(data) {
    const body = document.querySelector("#places-table tbody");
    if (!body) return;
    clear(body);
    data.nodes.forEach((n) => {
      const sites = el("td", {});
      n.site_names.forEach((s, i) => {
        if (i) sites.appendChild(document.createTextNode(", "));
        sites.appendChild(el("a", { href: "?site=" + encodeURIComponent(s.code) }, en ? s.name_en : s.name));
      });
      const b = n.last_bundle;
      body.appendChild(el("tr", { "data-node": n.node, class: n.has_token && (n.silent || n.clock_off) ? "node-problem" : "" },
        el("td", {}, el("div", {}, n.name), el("div", { class: "muted" }, n.node)), sites,
        el("td", { class: "contact" + (n.has_token && n.silent ? " late" : "") },
          n.last_contact_local ? n.last_contact_local + " · " : "", el("span", { class: "ago" }, ago(n))),
        el("td", { class: "num" }, String(n.records)),
        el("td", {}, b ? b.at_local + " · " + b.records + t(" bản ghi", " records") : "—"),
        el("td", { class: n.clock_off ? "late" : "" }, offsetText(n.clock_offset_s)),
        el("td", {}, n.has_token ? t("Có", "Yes") : t("Chưa có / đã thu hồi", "None / revoked"))));
    });
  }
  function tick() {
    renderNodeLine();
    document.querySelectorAll("#places-table tr[data-node]").forEach((tr) => {
      const n = (places || { nodes: [] }).nodes.find((x) => x.node === tr.dataset.node);
      const span = tr.querySelector(".ago");
      if (n && span) span.textContent = ago(n);
    });
  }
  const placesBox = document.getElementById("places");
  async function refreshPlaces() {
    try {
      places = await xephang.api("GET", placesBox.dataset.api);
    } catch (e) {
      return;  // the overview's own status line says when the server cannot be reached
    }
    places.nodes.forEach(stamp);
    siteNode = places.nodes.find((n) => n.sites.indexOf(site) >= 0) || null;
    nodeAlerts = places.alerts;
    renderPlaces(places);
    renderNodeLine();
    renderAlerts();
  }

  function render(s) {
    queueAlerts = s.alerts.filter((a) => !isNodeAlert(a));
    nodeAlerts = s.alerts.filter(isNodeAlert);
    if (s.node !== undefined) siteNode = stamp(s.node);
    renderAlerts();
    renderNodeLine();

    const k = document.getElementById("kpis");
    clear(k);
    const waiting = s.services.reduce((n, x) => n + x.waiting, 0);
    const today = s.today || {};
    const pct = (x) => (x === null || x === undefined ? "—" : (x * 100).toFixed(1) + "%");  // as the reports' pct
    [[waiting, t("Đang chờ", "Waiting"), "waiting"], [mins(s.longest_wait_s), t("Chờ lâu nhất", "Longest wait"), "longest"],
     [today.issued || 0, t("Số đã cấp hôm nay", "Issued today"), "issued"],
     [today.served || 0, t("Đã phục vụ", "Served"), "served"], [today.no_show || 0, t("Vắng mặt", "No-show"), "no-show"],
     [xephang.duration(today.wait_mean_s), t("Chờ trung bình hôm nay (phút:giây)", "Mean wait today (min:s)"), "wait-mean"],
     [pct(today.service_level), t("Mức phục vụ hôm nay (gọi đúng hạn)", "Service level today (called in time)"),
      "service-level"],
     [pct(today.satisfied_share), t("Hài lòng hôm nay", "Satisfied today") + " (" + (today.rated || 0)
      + t(" lượt đánh giá)", " ratings)"), "satisfied"]]
      .forEach(([v, l, key]) => k.appendChild(el("div", { class: "kpi", "data-kpi": key },
        el("div", { class: "v" }, String(v)), el("div", { class: "l" }, l))));

    const body = document.querySelector("#services tbody");
    clear(body);
    s.services.forEach((x) => {
      const late = x.waiting && x.longest_wait_s > x.target_wait_min * 60;
      body.appendChild(el("tr", { "data-service": x.code },
        el("td", {}, en ? x.name_en : x.name), el("td", {}, String(x.waiting)),
        el("td", {}, String(x.priority_waiting)),
        el("td", { class: late ? "late" : "" }, x.waiting ? mins(x.longest_wait_s) : "—"),
        el("td", {}, x.waiting ? mins(x.estimated_wait_s) : "—"), el("td", {}, x.target_wait_min + t(" phút", " min"))));
    });

    const cs = document.getElementById("counters");
    clear(cs);
    s.counters.forEach((c) => {
      let cls = c.status, line;
      if (c.status === "closed") line = t("Đóng", "Closed");
      else if (c.status === "paused") line = t("Tạm dừng", "Paused") + ": " + reason(c.pause_reason) + " · " + mins(c.since_s);
      else if (c.ticket) {
        cls = "serving";
        line = (c.ticket.status === "serving" ? t("Đang phục vụ số ", "Serving ") : t("Đã gọi số ", "Called "))
          + c.ticket.number + " · " + (en ? c.ticket.service_name_en : c.ticket.service_name) + " · " + mins(c.busy_s);
      } else line = t("Mở, đang chờ công dân", "Open, idle");
      cs.appendChild(el("div", { class: "counter " + cls, "data-counter": c.id },
        el("div", { class: "name" }, c.name), el("div", { class: "status" }, line),
        el("div", { class: "muted" }, c.staff ? t("Cán bộ: ", "Staff: ") + c.staff : "")));
    });
  }

  let pending = null;
  async function refresh() {
    pending = null;
    try {
      render(await xephang.api("GET", root.dataset.api + "?site=" + encodeURIComponent(site)));
      document.getElementById("live-status").textContent = t("Cập nhật lúc ", "Updated at ") + xephang.clockTime(null, true);
    } catch (e) {
      document.getElementById("live-status").textContent = en ? (e.message_en || e.message) : e.message;
    }
  }
  function soon() { if (!pending) pending = setTimeout(refresh, 300); }

  render(JSON.parse(document.getElementById("overview-data").textContent));
  xephang.live({ site: site, onState: soon,
    on: { "queue.updated": soon, "counter.updated": soon, "ticket.called": soon, "ticket.finished": soon, "day.closed": soon },
    onStatus: (ok) => { document.getElementById("live-status").textContent = ok ? t("Đang kết nối trực tiếp", "Live") : t("Mất kết nối, đang thử lại…", "Reconnecting…"); } });
  setInterval(refresh, 10000);
  if (placesBox) {
    refreshPlaces();
    setInterval(refreshPlaces, 5000);
    setInterval(tick, 1000);
  }
})();
