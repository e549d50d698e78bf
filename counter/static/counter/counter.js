// Counter workstation: every action goes to the JSON API with the ticket the screen believes is current,
// so a stale screen is refused (stale_ticket) instead of obeyed; every state or counter event re-reads
// GET /api/counters/<id>, so the page never shows a ticket that is no longer its own.
(function () {
  "use strict";
  const X = window.xephang;
  const el = X.el;
  const data = JSON.parse(document.getElementById("counter-data").textContent);
  const lang = document.documentElement.lang === "en" ? "en" : "vi";
  const T = (vi, en) => (lang === "en" ? en : vi);
  const CID = data.counter.id;
  const BASE = "/api/counters/" + encodeURIComponent(CID);
  const $ = (id) => document.getElementById(id);
  const services = Object.fromEntries(data.services.map((s) => [s.code, s]));
  const me = $("who").textContent.trim();

  let view = null;          // GET /api/counters/<id>
  let queue = null;         // last queue state (services)
  let queueAt = 0;          // Date.now() when it arrived
  let offset = 0;           // server clock - local clock, ms
  let blocked = null;       // holder's name when another staff member holds this counter
  let busy = false;
  let marks = [];           // [{code, at}] procedures tapped for the current ticket
  let marksFor = null;      // ticket id the marks belong to
  let leaving = false;      // signing out: no more reads or redirects

  // ------------------------------------------------------------------ messages

  const msg = (e) => (lang === "en" && e.message_en ? e.message_en : e.message);

  function banner(text) {
    const b = $("banner");
    b.textContent = text || "";
    b.hidden = !text;
  }

  let noticeTimer = null;
  function notice(text) {
    const n = $("notice");
    n.textContent = text;
    n.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { n.hidden = true; }, 6000);
  }

  function failed(e) {
    if (leaving) return;
    if (e.status === 401) {
      location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
      return;
    }
    if (e.code === "counter_taken") {
      blocked = (e.data && e.data.holder) || blocked || "?";
      showBlocked();
    } else {
      banner(msg(e));
    }
    refresh();
  }

  function showBlocked() {
    banner(T("Quầy " + data.counter.number + " đang do " + blocked + " phụ trách. Bạn không thể gọi số tại quầy này.",
             "Counter " + data.counter.number + " is held by " + blocked + ". You cannot call tickets at this counter."));
    document.body.classList.add("blocked");
  }

  // ------------------------------------------------------------------ time

  const serverNow = () => Date.now() + offset;
  const pad = (n) => String(n).padStart(2, "0");
  function clock(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const s = Math.max(0, Math.round(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return (h ? h + ":" + pad(m) : String(m)) + ":" + pad(s % 60);
  }
  const since = (iso) => (serverNow() - Date.parse(iso)) / 1000;

  // ------------------------------------------------------------------ rendering

  function current() {
    if (!view || blocked) return null;
    return view.ticket;
  }

  function render() {
    const t = current();
    const status = view ? view.status : "closed";
    const labels = { open: T("Đang mở", "Open"), paused: T("Tạm dừng", "Paused"), closed: T("Đóng", "Closed") };
    $("counter-status").textContent = labels[status] || status;
    $("counter-status").className = "pill " + status;
    const reason = view && view.pause_reason ? view.pause_reason.split(":")[0] : "";
    const r = data.pause_reasons.find((p) => p.code === reason);
    $("pause-reason").textContent = status === "paused" && r ? T(r.name, r.name_en) : "";
    $("pause-label").textContent = status === "paused" ? T("Tiếp tục", "Resume") : T("Tạm dừng", "Pause");
    $("now-label").textContent = !t ? T("Số hiện tại", "Current ticket")
      : t.status === "serving" ? T("Đang phục vụ", "Now serving") : T("Đã gọi – chờ công dân đến", "Called – waiting for the citizen");
    $("current-number").textContent = t ? t.number : "—";
    $("current-service").textContent = t ? T(t.service_name, t.service_name_en) +
      (t.priority_name ? " · " + T("Ưu tiên", "Priority") + ": " + t.priority_name : "") : "";
    if (t && t.status === "serving") $("current-state").textContent = T("Đang phục vụ", "Serving");
    else if (t) $("current-state").textContent = T("Đã gọi", "Called") + (t.call_count > 1 ? " (" + T("lần ", "x") + t.call_count + ")" : "");
    else $("current-state").textContent = T("Chưa có số", "No ticket");
    document.body.dataset.ticket = t ? String(t.id) : "";
    document.body.dataset.status = t ? t.status : "";
    if (!t && (openId === "panel-finish" || openId === "panel-transfer")) closePanels();
    if (openId === "panel-noshow" && (!t || t.id !== noShowFor || t.status !== "called")) closePanels();
    if (t && marksFor !== t.id) { marks = []; marksFor = t.id; }
    updateButtons();
    tick();
    renderWaiting();
  }

  // Why an action cannot act now (null: it can): its button is disabled with this reason on hover, and its
  // key says it, instead of a request the engine would refuse with a 409.
  function unavailable(name) {
    // Not known yet (page loading) or held by another (the banner names them; act() sends nothing): as before.
    if (blocked || !view) return null;
    const t = current();
    const paused = view.status === "paused";
    const noTicket = T("Quầy chưa gọi số nào", "This counter has no current ticket");
    const hasTicket = t ? T("Quầy đang có số " + t.number + " — hãy hoàn thành, báo vắng mặt hoặc chuyển trước",
                            "Counter still has ticket " + t.number + ": finish, mark no-show or transfer it first") : "";
    switch (name) {
      case "next": case "callnum": case "callprio":
        if (t) return hasTicket;
        return paused ? T("Quầy đang tạm dừng — bấm Tiếp tục trước khi gọi số", "The counter is paused: resume it first") : null;
      case "recall": case "noshow":
        if (!t) return noTicket;
        return t.status === "called" ? null : T("Công dân đã đến và đang được phục vụ", "The citizen is already being served");
      case "start":
        if (!t) return noTicket;
        return t.status === "called" ? null : T("Đã bắt đầu phục vụ", "Service has already started");
      case "finish": case "transfer":
        return t ? null : noTicket;
      case "pause":
        return t && !paused ? hasTicket : null;
      default:
        return null;
    }
  }

  function updateButtons() {
    document.querySelectorAll("[data-act]").forEach((b) => setAvailable(b, unavailable(b.dataset.act)));
    const why = unavailable("callprio");
    document.querySelectorAll("button.call-prio").forEach((b) => setAvailable(b, why));
  }

  function setAvailable(button, why) {
    button.disabled = Boolean(why);
    if (why) button.title = why;
    else button.removeAttribute("title");
  }

  function tick() {
    const t = current();
    const from = t ? (t.status === "serving" ? t.started_at : t.last_called_at) : null;
    $("timer").textContent = from ? clock(since(from)) : "";
  }

  function renderWaiting() {
    const body = $("waiting-body");
    body.textContent = "";
    if (!queue || !view) return;
    const extra = (Date.now() - queueAt) / 1000;
    let longest = 0;
    view.services.forEach((code) => {
      const s = (queue.services || []).find((x) => x.code === code);
      if (!s) return;
      const wait = s.waiting ? s.longest_wait_s + extra : 0;
      longest = Math.max(longest, wait);
      body.appendChild(el("tr", { dataset: { service: code } },
        el("td", {}, T(s.name, s.name_en)), el("td", { class: "num" }, String(s.waiting)),
        el("td", { class: "num" }, String(s.priority_waiting || 0)),
        el("td", { class: "num" }, s.waiting ? clock(wait) : "—")));
    });
    $("longest-wait").textContent = longest ? clock(longest) : "—";
  }

  function renderPrinters(problems) {
    X.printerAlert($("printer-alert"), problems, { T, extra: () => el("a", {
      class: "printer-desk", href: "/desk/" + encodeURIComponent(data.counter.site) },
      T("In lại tại bàn tiếp đón", "Reprint at the reception desk")) });
  }

  function renderMe(m) {
    renderPrinters(m.printers);
    $("me-served").textContent = String(m.served);
    $("me-mean").textContent = m.mean_service_s === null ? "—" : clock(m.mean_service_s);
    $("me-noshow").textContent = String(m.no_show);
    const r = m.ratings;
    $("me-rating").textContent = r.count ? r.satisfied + "/" + r.count + " (" + Math.round(r.satisfied_share * 100) + "%)" : "—";
    const list = $("priority-list");
    list.textContent = "";
    if (!m.priority_waiting.length) list.appendChild(el("li", { class: "empty" }, T("Không có", "None")));
    m.priority_waiting.forEach((p) => {
      list.appendChild(el("li", {},
        el("strong", {}, p.number), " ", T(p.priority_name, p.priority_name_en), " · ", clock(p.waiting_s), " ",
        el("button", { type: "button", class: "small call-prio", onclick: () => act(() => X.api("POST", BASE + "/call", { ticket: p.id })) },
          T("Gọi", "Call"))));
    });
    updateButtons();
  }

  // ------------------------------------------------------------------ reading

  let refreshing = null;
  let refreshAgain = false;
  async function refresh() {
    // A change announced while a read is in flight may postdate that read: read once more after it.
    if (refreshing) { refreshAgain = true; return refreshing; }
    if (leaving) return null;
    refreshing = (async () => {
      try {
        const before = view;
        view = await X.api("GET", BASE);
        if (before && before.status !== "closed" && before.staff === me && view.status === "closed" && !leaving) {
          // Closed from elsewhere (a manager's forced release, the end of the day): say so, and where the citizen went.
          const t = before.ticket;
          banner(T("Quầy đã được đóng từ nơi khác" + (t ? "; số " + t.number + " không còn ở quầy này" : "") +
                   ". Bấm Gọi số tiếp theo để mở lại quầy.",
                   "This counter was closed elsewhere" + (t ? "; ticket " + t.number + " is no longer at it" : "") +
                   ". Press Call next to open it again."));
        }
        if (view.status !== "closed" && view.staff && view.staff !== me) {
          blocked = view.staff;
          showBlocked();
        } else if (blocked) {
          blocked = null;
          document.body.classList.remove("blocked");
          banner("");
          if (view.status === "closed") await take();
        }
        render();
      } catch (e) {
        if (e.status === 401) failed(e);
        else banner(msg(e));
      } finally {
        refreshing = null;
        if (refreshAgain) { refreshAgain = false; refresh(); }
      }
    })();
    return refreshing;
  }

  let meTimer = null;
  function loadMe() {
    clearTimeout(meTimer);
    meTimer = setTimeout(async () => {
      try { renderMe(await X.api("GET", "/counter/" + encodeURIComponent(CID) + "/me")); } catch (e) { /* next time */ }
    }, 300);
  }

  async function take() {
    try {
      view = await X.api("POST", BASE + "/take");
      blocked = null;
      document.body.classList.remove("blocked");
      banner("");
      render();
    } catch (e) {
      failed(e);
    }
  }

  // ------------------------------------------------------------------ actions

  async function act(fn, after) {
    if (busy) return;
    if (blocked) { showBlocked(); return; }
    busy = true;
    document.body.classList.add("busy");
    try {
      const out = await fn();
      banner("");
      if (after) after(out);
      await refresh();
      loadMe();
    } catch (e) {
      failed(e);
    } finally {
      busy = false;
      document.body.classList.remove("busy");
    }
  }

  function needTicket() {
    const t = current();
    if (!t) notice(T("Quầy chưa gọi số nào", "This counter has no current ticket"));
    return t;
  }

  const actions = {
    next() {
      act(() => X.api("POST", BASE + "/call-next"), (t) => {
        if (t === null) notice(T("Không có công dân nào đang chờ tại quầy này", "Nobody is waiting for this counter"));
      });
    },
    recall() { const t = needTicket(); if (t) act(() => X.api("POST", BASE + "/recall", { ticket: t.id })); },
    noshow() {
      const t = needTicket();
      if (!t) return;
      // Right after the call the citizen may still be on the way, and V may be a stray key: ask first.
      const after = since(t.last_called_at);
      if (after < data.no_show_confirm_s) openNoShow(t, after);
      else act(() => X.api("POST", BASE + "/no-show", { ticket: t.id }));
    },
    start() { const t = needTicket(); if (t) act(() => X.api("POST", BASE + "/start", { ticket: t.id })); },
    finish() { if (needTicket()) openFinish(); },
    transfer() { if (needTicket()) openTransfer(); },
    callnum() { openPanel("panel-callnum"); $("callnum-input").value = ""; $("callnum-input").focus(); },
    pause() {
      if (view && view.status === "paused") act(() => X.api("POST", BASE + "/resume"));
      else { openPanel("panel-pause"); $("pause-note").value = ""; }
    },
  };

  // ------------------------------------------------------------------ panels

  let openId = null;
  function openPanel(id) {
    closePanels();
    $(id).hidden = false;
    openId = id;
  }
  function closePanels() {
    // Focus left in a closed panel's search box would swallow the next shortcut key (H right after Esc).
    const focused = document.activeElement;
    if (focused && focused.closest && focused.closest(".panel")) focused.blur();
    document.querySelectorAll(".panel").forEach((p) => { p.hidden = true; });
    openId = null;
  }
  document.querySelectorAll(".panel .cancel").forEach((b) => b.addEventListener("click", closePanels));

  async function openFinish() {
    const t = current();
    openPanel("panel-finish");
    $("finish-ticket").textContent = t.number;  // the dialog covers the card that shows it
    $("proc-search").value = "";
    // Rebuild the marks from the server: a reloaded page keeps the procedures already tapped.
    try {
      const full = await X.api("GET", "/api/tickets/" + t.id);
      const fromServer = (full.events || []).filter((e) => e.kind === "procedure" && e.data)
        .map((e) => ({ code: e.data.procedure, at: e.at }));
      if (fromServer.length >= marks.length) marks = fromServer;
    } catch (e) { /* keep local marks */ }
    if (openId !== "panel-finish") return;  // closed while the marks were loading
    renderProcedures();
    $("proc-search").focus();
  }

  function norm(s) {
    return s.normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/đ/g, "d").replace(/Đ/g, "D").toLowerCase();
  }

  function renderProcedures() {
    const t = current();
    const list = $("proc-list");
    list.textContent = "";
    if (!t) return;
    const sv = services[t.service];
    const q = norm($("proc-search").value || "");
    const base = t.started_at || t.last_called_at;
    (sv ? sv.procedures : []).forEach((p) => {
      if (q && !norm(p.name + " " + p.name_en + " " + p.code).includes(q)) return;
      const i = marks.findIndex((m) => m.code === p.code);
      let time = "";
      if (i >= 0) {
        const prev = i > 0 ? marks[i - 1].at : base;
        time = clock((Date.parse(marks[i].at) - Date.parse(prev)) / 1000);
      }
      list.appendChild(el("li", {},
        el("button", { type: "button", class: "proc" + (i >= 0 ? " done" : ""), dataset: { code: p.code },
                       "aria-pressed": i >= 0 ? "true" : "false", onclick: () => toggleProcedure(p.code) },
          el("span", { class: "check", "aria-hidden": "true" }, i >= 0 ? "✓" : ""),
          el("span", { class: "pname" }, T(p.name, p.name_en)),
          el("span", { class: "ptime" }, time))));
    });
  }
  $("proc-search").addEventListener("input", renderProcedures);

  let marking = null;       // the procedure tap in flight: finishing waits for it
  function toggleProcedure(code) {
    marking = markProcedure(code).finally(() => { marking = null; });
    return marking;
  }

  async function markProcedure(code) {
    const t = current();
    if (!t || busy) return;
    const i = marks.findIndex((m) => m.code === code);
    if (i >= 0) { marks.splice(i, 1); renderProcedures(); return; }
    busy = true;
    try {
      await X.api("POST", BASE + "/procedure", { procedure: code, ticket: t.id });
      marks.push({ code, at: new Date(serverNow()).toISOString() });
      const full = await X.api("GET", "/api/tickets/" + t.id);
      const ev = (full.events || []).filter((e) => e.kind === "procedure" && e.data && e.data.procedure === code).pop();
      if (ev) marks[marks.length - 1].at = ev.at;
      if (view && view.ticket && view.ticket.id === t.id && full.status) {
        view.ticket.status = full.status;
        view.ticket.started_at = full.started_at;
      }
    } catch (e) {
      busy = false;
      failed(e);
      return;
    }
    busy = false;
    renderProcedures();
    render();
  }

  $("finish-confirm").addEventListener("click", confirmFinish);
  function confirmFinish() {
    if (marking) { marking.then(confirmFinish); return; }
    const t = current();
    if (!t) return;
    if (!marks.length) { notice(T("Hãy chọn ít nhất một thủ tục đã giải quyết", "Tap at least one procedure done")); return; }
    const procedures = marks.map((m) => m.code);
    act(() => X.api("POST", BASE + "/finish", { ticket: t.id, procedures }), (done) => {
      closePanels();
      marks = [];
      notice(T("Đã hoàn thành số " + done.number, "Finished ticket " + done.number));
    });
  }

  // Enter in the finish panel: with a search left with one procedure, tick it (and clear the search);
  // with no search, finish. The next Enter after a tick therefore finishes.
  function finishEnter() {
    if (!$("proc-search").value.trim()) { confirmFinish(); return; }
    const shown = Array.from(document.querySelectorAll("#proc-list button.proc"));
    if (shown.length !== 1) {
      notice(shown.length ? T("Gõ thêm để chỉ còn một thủ tục, rồi bấm Enter để chọn", "Type more until one procedure is left, then press Enter to tick it")
                          : T("Không có thủ tục nào khớp", "No procedure matches"));
      return;
    }
    $("proc-search").value = "";
    if (shown[0].getAttribute("aria-pressed") === "true") renderProcedures();
    else toggleProcedure(shown[0].dataset.code);
  }

  function openTransfer() {
    const t = current();
    openPanel("panel-transfer");
    const ss = $("transfer-service"), cs = $("transfer-counter");
    ss.textContent = ""; cs.textContent = "";
    ss.appendChild(el("option", { value: "" }, "—"));
    cs.appendChild(el("option", { value: "" }, "—"));
    data.services.forEach((s) => { if (s.code !== t.service) ss.appendChild(el("option", { value: s.code }, T(s.name, s.name_en))); });
    data.counters.forEach((c) => { if (c.id !== CID) cs.appendChild(el("option", { value: c.id }, c.name)); });
    $("transfer-note").value = "";
    ss.focus();
  }
  $("transfer-confirm").addEventListener("click", confirmTransfer);
  function confirmTransfer() {
    const t = current();
    if (!t) return;
    const body = { ticket: t.id };
    if ($("transfer-service").value) body.service = $("transfer-service").value;
    if ($("transfer-counter").value) body.counter = $("transfer-counter").value;
    if ($("transfer-note").value.trim()) body.note = $("transfer-note").value.trim();
    if (!body.service && !body.counter) { notice(T("Hãy chọn dịch vụ hoặc quầy để chuyển", "Choose a service or a counter")); return; }
    act(() => X.api("POST", BASE + "/transfer", body), (n) => {
      closePanels();
      notice(T("Đã chuyển số " + n.number, "Transferred ticket " + n.number));
    });
  }

  let noShowFor = null;     // the ticket the no-show dialog asks about
  function openNoShow(t, after) {
    openPanel("panel-noshow");
    noShowFor = t.id;
    const s = Math.max(0, Math.round(after));
    $("noshow-text").textContent = s < 1
      ? T("Số " + t.number + " vừa được gọi — công dân có thể đang đi tới quầy.",
          "Ticket " + t.number + " was called just now: the citizen may be on the way.")
      : T("Số " + t.number + " mới được gọi " + s + " giây trước — công dân có thể đang đi tới quầy.",
          "Ticket " + t.number + " was called only " + s + " s ago: the citizen may be on the way.");
    $("noshow-confirm").focus();
  }
  $("noshow-confirm").addEventListener("click", confirmNoShow);
  function confirmNoShow() {
    const t = current();
    if (!t || t.id !== noShowFor) { closePanels(); return; }
    act(() => X.api("POST", BASE + "/no-show", { ticket: t.id, confirmed: true }), () => closePanels());
  }

  $("callnum-confirm").addEventListener("click", confirmCallnum);
  function confirmCallnum() {
    const number = $("callnum-input").value.trim();
    if (!number) return;
    act(() => X.api("POST", BASE + "/call", { number }), () => closePanels());
  }

  data.pause_reasons.forEach((r) => {
    $("pause-reasons").appendChild(el("button", { type: "button", class: "reason", dataset: { reason: r.code },
      onclick: () => {
        const note = $("pause-note").value.trim();
        act(() => X.api("POST", BASE + "/pause", note ? { reason: r.code, note } : { reason: r.code }), () => closePanels());
      } }, T(r.name, r.name_en)));
  });

  // ------------------------------------------------------------------ buttons and keys

  document.querySelectorAll("[data-act]").forEach((b) => b.addEventListener("click", () => actions[b.dataset.act]()));

  const keys = { n: "next", f1: "next", r: "recall", v: "noshow", b: "start", h: "finish", c: "transfer", s: "callnum", p: "pause" };
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (openId) {
      if (e.key === "Escape") { e.preventDefault(); closePanels(); return; }
      if (e.key === "Enter" && !(e.target && e.target.tagName === "BUTTON")) {
        e.preventDefault();
        if (openId === "panel-finish") finishEnter();
        else if (openId === "panel-transfer") confirmTransfer();
        else if (openId === "panel-callnum") confirmCallnum();
        else if (openId === "panel-noshow") confirmNoShow();
        return;
      }
      const tag = e.target && e.target.tagName;
      if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return;
    } else {
      const tag = e.target && e.target.tagName;
      if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return;
    }
    const name = keys[(e.key || "").toLowerCase()];
    if (!name) return;
    e.preventDefault();
    const why = unavailable(name);
    if (why) { notice(why); return; }
    actions[name]();
  });

  $("signout").addEventListener("click", async () => {
    if (!blocked && view && view.status !== "closed") {
      try {
        await X.api("POST", BASE + "/release");
      } catch (e) {
        if (e.status !== 401) { banner(msg(e)); return; }
      }
    }
    leaving = true;
    $("logout-form").submit();
  });

  // ------------------------------------------------------------------ live

  X.live({
    site: data.counter.site,
    onState: (s) => {
      queue = s; queueAt = Date.now();
      if (s.at) offset = Date.parse(s.at) - Date.now();
      refresh();
      loadMe();
    },
    on: {
      "queue.updated": (p) => {
        if (!queue) queue = { services: [] };
        queue.services = p.services; queueAt = Date.now();
        if (p.at) offset = Date.parse(p.at) - Date.now();
        renderWaiting();
        loadMe();
      },
      "counter.updated": (c) => { if (c.id === CID) refresh(); },
      "day.closed": () => refresh(),
      "rating.recorded": (r) => { if (r.counter === CID) loadMe(); },
      // A kiosk printer failed: staff near it must know at once (the citizen has only the number on screen).
      "printer.status": (p) => {
        loadMe();  // the lasting alert, from the server's list
        if (p && p.ok === false) {
          const text = (lang === "en" ? p.message_en : p.message) || "";
          notice((lang === "en" ? "Printer " : "Máy in ") + (p.kiosk_name || p.kiosk || "") + ": " + text +
                 (p.number ? (lang === "en" ? " (ticket " : " (số ") + p.number + ")" : ""));
        }
      },
    },
    onStatus: (ok) => {
      socketUp = ok;
      showConnection();
      if (ok && blocked === null) refresh();
    },
  });

  // The "Đang kết nối lại…" sign within 3 s of the server going away: the socket's status, and whether the
  // server answers (xephang.watchServer: the socket alone tells only at its ping timeout).
  let socketUp = true;
  let serverUp = true;
  function showConnection() {
    const ok = socketUp && serverUp;
    $("conn").hidden = ok;
    document.body.classList.toggle("offline", !ok);
  }
  xephang.watchServer((up) => {
    if (leaving) return;
    serverUp = up;
    showConnection();
  });

  setInterval(() => { tick(); renderWaiting(); }, 1000);
  take().then(loadMe);
})();
