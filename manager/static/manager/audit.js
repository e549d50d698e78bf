// Audit log page: the entries of GET /api/audit for the chosen day, site and staff member, in local time.
(function () {
  "use strict";
  const table = document.getElementById("audit");
  if (!table) return;
  const el = xephang.el;
  const d = table.dataset;
  const en = d.lang === "en";
  const t = (vi, eng) => (en ? eng : vi);
  let names = {};
  try { names = JSON.parse(document.getElementById("audit-names").textContent || "{}"); } catch (e) { names = {}; }
  const counters = names.counters || {};
  const sites = names.sites || {};
  const KEYS = { call_count: ["lần gọi", "call"], reason: ["lý do", "reason"], note: ["ghi chú", "note"],
    kiosk: ["kiosk", "kiosk"], error: ["lỗi", "error"], message: ["", ""], procedures: ["thủ tục", "procedures"],
    to_service: ["sang dịch vụ", "to service"], to_counter: ["sang quầy", "to counter"], reprint: ["in lại", "reprint"],
    forced_release: ["buộc đóng quầy", "forced release"], held_by: ["quầy do", "counter held by"],
    ticket: ["số", "ticket"], citizen: ["công dân", "citizen"] };
  const VALUES = { requeue: ["về lại chỗ trong hàng chờ", "back at their place in the queue"],
    no_show: ["vắng mặt", "no-show"] };
  const HIDDEN = new Set(["counter_number", "job", "health", "implicit"]);

  const ACTIONS = {
    called: ["Gọi số", "Called"], called_again: ["Gọi lại số vắng mặt", "Called again"],
    recalled: ["Nhắc lại số", "Recalled"], started: ["Bắt đầu phục vụ", "Service started"],
    finished: ["Hoàn thành", "Finished"], no_show: ["Vắng mặt", "No-show"],
    transferred: ["Chuyển tiếp", "Transferred"], left: ["Công dân bỏ về", "Citizen left"],
    cancelled: ["Hủy khi kết thúc ngày", "Cancelled at closing"], printed: ["In số", "Printed"],
    print_failed: ["In số không thành công", "Print failed"], rated: ["Đánh giá", "Rated"],
    counter_open: ["Nhận quầy", "Took the counter"], counter_close: ["Rời quầy", "Left the counter"],
    counter_release: ["Buộc đóng quầy", "Forced counter release"], requeued: ["Đưa số về hàng chờ", "Back in the queue"],
    counter_pause: ["Tạm dừng quầy", "Paused the counter"], counter_resume: ["Tiếp tục phục vụ", "Resumed"],
    login: ["Đăng nhập", "Signed in"], login_failed: ["Đăng nhập sai", "Failed sign-in"],
    "printer.test": ["In thử máy in", "Test print"], "user.add": ["Thêm tài khoản", "Account added"],
    "user.disable": ["Khóa tài khoản", "Account disabled"], "user.enable": ["Mở tài khoản", "Account enabled"],
    "user.role": ["Đổi vai trò", "Role changed"], "user.reset": ["Đặt lại mật khẩu", "Password reset"],
    "token.create": ["Tạo mã thiết bị", "Device token created"], "token.revoke": ["Thu hồi mã thiết bị", "Device token revoked"],
    "counter.services": ["Đổi dịch vụ của quầy", "Counter services changed"],
  };
  const REASONS = { break: ["nghỉ giải lao", "break"], meeting: ["họp", "meeting"],
    kiosk_help: ["hỗ trợ tại kiosk", "helping at the kiosk"], paperwork: ["xử lý hồ sơ", "paperwork"],
    other: ["lý do khác", "other"] };

  const fmt = new Intl.DateTimeFormat(en ? "en-GB" : "vi-VN", {
    timeZone: d.timezone || "Asia/Ho_Chi_Minh", hour: "2-digit", minute: "2-digit", second: "2-digit",
    day: "2-digit", month: "2-digit", year: "numeric", hourCycle: "h23" });

  function when(iso) {
    const moment = new Date(iso);
    return isNaN(moment) ? iso : fmt.format(moment);
  }

  function detail(entry) {
    const raw = entry.detail;
    if (!raw) return "";
    if (entry.action === "counter_pause") {
      const [code, ...rest] = String(raw).split(": ");
      const label = REASONS[code] ? t(...REASONS[code]) : code;
      return rest.length ? label + ": " + rest.join(": ") : label;
    }
    if (entry.ticket_id || entry.action === "counter_release") {
      try {
        const data = JSON.parse(raw);
        return Object.entries(data).filter(([k, v]) => v !== null && v !== "" && !HIDDEN.has(k))
          .map(([k, v]) => {
            const label = KEYS[k] ? t(...KEYS[k]) : k;
            if (v === true) return label;
            const value = typeof v === "object" ? JSON.stringify(v) : k === "citizen" && VALUES[v] ? t(...VALUES[v]) : String(v);
            return label ? label + ": " + value : value;
          }).join(" · ");
      } catch (e) { return String(raw); }
    }
    return String(raw).trim();
  }

  function row(entry) {
    const label = ACTIONS[entry.action] ? t(...ACTIONS[entry.action]) : entry.action;
    return el("tr", { dataset: { action: entry.action, actor: entry.actor || "" } },
      el("td", {}, when(entry.at)),
      el("td", {}, entry.actor || "–"),
      el("td", {}, label),
      el("td", {}, entry.ticket_number || ""),
      el("td", {}, entry.counter ? (counters[entry.counter] || entry.counter) : ""),
      el("td", {}, entry.site ? (sites[entry.site] || entry.site) : ""),
      el("td", {}, detail(entry)));
  }

  async function load() {
    const body = table.tBodies[0];
    const params = new URLSearchParams({ since: d.since, until: d.until, limit: "2000" });
    if (d.site) params.set("site", d.site);
    if (d.staff) params.set("staff", d.staff);
    const count = document.getElementById("audit-count");
    try {
      const out = await xephang.api("GET", "/api/audit?" + params.toString());
      const entries = out.entries || [];
      body.replaceChildren(...(entries.length ? entries.map(row)
        : [el("tr", { class: "empty" }, el("td", { colspan: "7" }, t("Không có thao tác nào trong ngày này",
          "Nothing recorded on this day")))]));
      count.textContent = entries.length >= 2000
        ? t("Chỉ hiện 2000 thao tác mới nhất", "Only the latest 2000 entries are shown")
        : t(entries.length + " thao tác", entries.length + " entries");
    } catch (e) {
      body.replaceChildren(el("tr", { class: "error" }, el("td", { colspan: "7" },
        (en ? e.message_en : e.message) || e.message)));
    }
  }

  load();
})();
