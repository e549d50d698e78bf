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
  const named = (table, code) => ((names[table] || {})[code] || code);
  // Each detail key: its label and how its value reads (codes become names, true/false become words).
  const KEYS = {
    call_count: [["lần gọi", "call"], String], note: [["ghi chú", "note"], String],
    reason: [["lý do", "reason"], (v) => (REASONS[v] ? t(...REASONS[v]) : v)],
    kiosk: [["kiosk", "kiosk"], (v) => named("kiosks", v)],
    error: [["lỗi", "error"], (v) => named("print_errors", v)],
    procedures: [["thủ tục", "procedures"], (v) => [].concat(v).map((c) => named("procedures", c)).join(", ")],
    procedure: [["thủ tục", "procedure"], (v) => named("procedures", v)],
    service: [["sang dịch vụ", "to service"], (v) => named("services", v)],
    counter: [["sang quầy", "to counter"], (v) => counters[v] || v],
    keep_place: [["", ""], (v) => (v ? t("giữ thứ tự trong hàng chờ mới", "keeps the place in the new queue")
      : t("xếp cuối hàng chờ mới", "joins the end of the new queue"))],
    reprint: [["", ""], (v) => (v ? t("in lại", "reprint") : "")],
    priority: [["ưu tiên", "priority"], (v) => named("groups", v)],
    role: [["vai trò", "role"], (v) => named("roles", v)],
    site: [["điểm", "site"], (v) => sites[v] || v],
    services: [["dịch vụ", "services"], (v) => (v ? [].concat(v).map((c) => named("services", c)).join(", ")
      : t("về mặc định", "back to default"))],
    ok: [["", ""], (v) => (v ? t("thành công", "succeeded") : t("không thành công", "failed"))],
    driver: [["máy in", "printer"], String],
    forced_release: [["", ""], (v) => (v ? t("buộc đóng quầy", "forced release") : "")],
    held_by: [["quầy do", "counter held by"], String], ticket: [["số", "ticket"], String],
    citizen: [["công dân", "citizen"], (v) => (VALUES[v] ? t(...VALUES[v]) : v)],
    address: [["địa chỉ máy", "address"], String], name: [["tên", "name"], String],
    lang: [["ngôn ngữ", "language"], String], key: [["đoạn thu", "clip"], String],
    duration_s: [["thời lượng", "length"], (v) => String(v).replace(".", en ? "." : ",") + t(" giây", " s")],
    clips: [["số đoạn thu", "clips"], String], packs: [["bộ giọng", "voice packs"], (v) => [].concat(v).join(", ")
      || t("không có", "none")],
    // wrong booking codes (center/queue/code_limits.py): how many, in what time, and the pause that follows
    wrong: [["mã sai", "wrong codes"], String],
    window_s: [["trong", "within"], (v) => String(Math.round(v)) + t(" giây", " s")],
    pause_s: [["tạm khóa", "paused for"], (v) => (v >= 60 ? Math.round(v / 60) + t(" phút", " min")
      : String(Math.round(v)) + t(" giây", " s"))],
    until: [["đến", "until"], (v) => xephang.clockTime(v)],
    scope: [["", ""], (v) => (v === "site" ? t("cả điểm tiếp nhận", "the whole site") : t("máy hoặc tài khoản này",
      "this device or account"))],
    // a no-show soon after the call (counter/, `[queue] no_show_confirm_s`): how soon, and whether it was confirmed
    after_call_s: [["sau khi gọi", "after the call"], (v) => String(Math.round(v)) + t(" giây", " s")],
    early: [["", ""], (v) => (v ? t("báo vắng sớm", "early no-show") : "")],
    confirmed: [["", ""], (v) => (v ? t("cán bộ đã xác nhận", "confirmed by the clerk")
      : t("không qua bước xác nhận", "not confirmed"))],
  };
  const VALUES = { requeue: ["về lại chỗ trong hàng chờ", "back at their place in the queue"],
    no_show: ["vắng mặt", "no-show"] };
  // Not for managers' eyes: internal ids, the printer's raw health, the Vietnamese message (error says it).
  const HIDDEN = new Set(["counter_number", "job", "health", "implicit", "to_ticket", "message", "status",
    "from_ticket", "source", "ahead", "estimated_wait_s"]);
  const REASONS = { break: ["nghỉ giải lao", "break"], meeting: ["họp", "meeting"],
    kiosk_help: ["hỗ trợ tại kiosk", "helping at the kiosk"], paperwork: ["xử lý hồ sơ", "paperwork"],
    other: ["lý do khác", "other"], closed: ["hết giờ làm việc, đóng ngày", "end of the day"] };
  // Notes the server writes on counter events (center/queue/seats.py).
  const NOTES = { "day closed": ["hết giờ làm việc, đóng ngày", "end of the day"] };

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
    issued: ["Cấp số", "Ticket issued"], procedure: ["Xong một thủ tục", "Procedure done"],
    "voice_pack.create": ["Tạo bộ giọng", "Voice pack created"], "voice_pack.delete": ["Xóa bộ giọng", "Voice pack deleted"],
    "voice_pack.import": ["Nhập bộ giọng", "Voice pack imported"], "voice_clip.record": ["Thu một đoạn giọng", "Clip recorded"],
    "voice_clip.delete": ["Xóa một đoạn giọng", "Clip deleted"], display_voice: ["Chọn bộ giọng cho màn hình", "Display voice packs set"],
    "booking.code_locked": ["Tạm khóa nhập mã đặt lịch (sai nhiều lần)", "Booking codes paused (too many wrong)"],
    "sync.import": ["Nhập dữ liệu từ USB", "Bundle imported"], "sync.held": ["Xử lý bản ghi bị giữ lại", "Held records handled"],
  };
  const WHO = { system: ["hệ thống", "system"] };
  // "22:30:05 07/12/2026" in the center's zone (live.js: the one rule for dates in Vietnamese text).
  function when(iso) {
    return isNaN(new Date(iso)) ? iso : xephang.dateTime(iso, true);
  }

  // A value no key above knows, still in words: lists joined, objects as "key: value", never raw JSON.
  function plain(v) {
    if (Array.isArray(v)) return v.map(plain).join(", ");
    if (v && typeof v === "object") return Object.entries(v).map(([k, x]) => k.replace(/_/g, " ") + ": " + plain(x)).join(", ");
    if (typeof v === "boolean") return v ? t("có", "yes") : t("không", "no");
    return String(v);
  }

  // {"key": value} → "label: value · …" in the reader's language (an unknown key reads as its own name).
  function fields(data) {
    if (!data || typeof data !== "object") return plain(data);
    return Object.entries(data).filter(([k, v]) => v !== null && v !== "" && !HIDDEN.has(k))
      .map(([k, v]) => {
        const [label, show] = KEYS[k] || [[k.replace(/_/g, " "), k.replace(/_/g, " ")], plain];
        const value = show(v);
        const name = t(...label);
        return value === "" ? "" : (name ? name + ": " + value : value);
      }).filter((x) => x).join(" · ");
  }

  function detail(entry) {
    const raw = entry.detail;
    if (!raw) return "";
    if (entry.action === "counter_pause") {
      const [code, ...rest] = String(raw).split(": ");
      const label = REASONS[code] ? t(...REASONS[code]) : code;
      return rest.length ? label + ": " + rest.join(": ") : label;
    }
    if (entry.action === "counter_release") {
      try { return fields(JSON.parse(raw)); } catch (e) { return String(raw); }
    }
    if (String(entry.action).startsWith("counter_")) return NOTES[raw] ? t(...NOTES[raw]) : String(raw);
    if (entry.ticket_id) {
      try { return fields(JSON.parse(raw)); } catch (e) { return String(raw); }
    }
    // Administration: "<target> <JSON detail>"; the target is an account, a device or a counter, or none (a
    // sign-in: the detail alone).
    const text = String(raw).trim();
    const cut = text.startsWith("{") ? 0 : text.indexOf(" {");
    const target = cut < 0 ? text : text.slice(0, cut);
    let extra = "";
    if (cut >= 0) {
      const json = text.slice(cut).trim();
      try { extra = fields(JSON.parse(json)); } catch (e) { extra = json; }
    }
    const shown = counters[target] || named("kiosks", target);
    return [shown, extra].filter((x) => x).join(" · ");
  }

  function actionLabel(action) {
    if (ACTIONS[action]) return t(...ACTIONS[action]);
    const [kind, where] = String(action).split(":");
    if (kind === "display_notice") return t("Đổi thông báo màn hình chờ", "Display notice changed") + (where ? " · " + (sites[where] || where) : "");
    return action;
  }

  function row(entry) {
    const label = actionLabel(entry.action);
    return el("tr", { dataset: { action: entry.action, actor: entry.actor || "" } },
      el("td", {}, when(entry.at)),
      el("td", {}, WHO[entry.actor] ? t(...WHO[entry.actor]) : (entry.actor || "–")),
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
