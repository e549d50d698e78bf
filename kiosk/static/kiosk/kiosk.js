// Kiosk screen: one tap (or "Ưu tiên" + group: two taps) to a ticket; the outcome of printing on screen.
(function () {
  "use strict";
  const root = document.getElementById("kiosk");
  const kioskId = root.dataset.kiosk;
  const site = root.dataset.site;
  const lang = root.dataset.lang === "en" ? "en" : "vi";
  const T = (vi, en) => (lang === "en" ? en : vi);
  const $ = (id) => document.getElementById(id);
  const token = xephang.deviceToken(kioskId);
  const screens = ["k-start", "k-groups", "k-busy", "k-ticket", "k-error", "k-notoken", "k-code", "k-elsewhere"]
    .filter((s) => $(s));
  const offServices = {};   // service -> {vi, en, day}: daily cap reached today
  let opening = { open: true, issuing: true };
  let serviceDay = null;
  let inFlight = false;
  let backTimer = null;
  let countdown = null;
  let prioService = null;
  let shownTicket = null;  // the id of the ticket on screen, for its late printing outcome

  // Spoken guidance (kiosk `voice = true`): the browser's Vietnamese voice if it has one, else the audio
  // the server renders with espeak-ng, as the displays do. A new phrase cuts the previous one short.
  const voiceOn = root.dataset.voice === "on";
  let audio = null;
  window.xephangKioskSpeech = [];
  function viVoice() {
    if (!("speechSynthesis" in window)) return null;
    return speechSynthesis.getVoices().find((v) => (v.lang || "").toLowerCase().replace("_", "-").startsWith(lang)) || null;
  }
  function say(what, text, extra) {
    if (!voiceOn || !text) return;
    const rec = { say: what, text, mode: null, at: Date.now() };
    window.xephangKioskSpeech.push(rec);
    if (audio) { audio.pause(); audio = null; }
    const voice = viVoice();
    if (voice) {
      speechSynthesis.cancel();
      const u = new SpeechSynthesisUtterance(text);
      u.voice = voice; u.lang = voice.lang; u.rate = 0.85;
      speechSynthesis.speak(u);
      rec.mode = "browser";
      return;
    }
    rec.mode = "server";
    audio = new Audio("/kiosk/" + encodeURIComponent(kioskId) + "/speech.wav?say=" + what + "&lang=" + lang + (extra || ""));
    const p = audio.play();
    if (p && p.catch) p.catch(() => { rec.mode = "failed"; });
  }
  function stopSpeech() {
    if (audio) { audio.pause(); audio = null; }
    if ("speechSynthesis" in window) speechSynthesis.cancel();
  }

  function show(id) {
    screens.forEach((s) => { $(s).hidden = s !== id; });
    if (id !== "k-ticket" && countdown) { clearInterval(countdown); countdown = null; }
    if (backTimer) { clearTimeout(backTimer); backTimer = null; }
    if (id === "k-groups" || id === "k-error" || id === "k-code") {
      backTimer = setTimeout(() => show("k-start"), id === "k-error" ? 8000 : (id === "k-code" ? 60000 : 30000));
    }
  }

  function requestId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const a = new Uint32Array(4);
    (window.crypto || {}).getRandomValues ? crypto.getRandomValues(a) : a.forEach((_, i) => { a[i] = Math.random() * 4294967296; });
    return Array.from(a, (x) => x.toString(16)).join("-");
  }

  function closedText() {
    if (opening.issuing) return "";
    let vi, en;
    if (opening.reason === "closing_soon") { vi = "Đã ngừng cấp số trước giờ đóng cửa"; en = "Ticket issuing has stopped before closing"; }
    else { vi = "Ngoài giờ làm việc – tạm ngừng cấp số"; en = "Closed – no tickets now"; }
    if (opening.next_open) {
      const hh = xephang.clockTime(opening.next_open);
      vi += "; mời quay lại lúc " + hh; en += "; opens at " + hh;
    }
    return T(vi, en);
  }

  function setButtons() {
    const why = closedText();
    $("k-closed").hidden = !why;
    $("k-closed").textContent = why;
    $("k-headline").hidden = !!why;  // "Chạm vào lĩnh vực…" must not invite a tap that cannot issue
    document.querySelectorAll(".k-tile").forEach((tile) => {
      const code = tile.dataset.service;
      const off = offServices[code] && offServices[code].day === serviceDay ? offServices[code] : null;
      const disabled = inFlight || !!why || !!off;
      tile.classList.toggle("is-off", !!why || !!off);
      tile.querySelectorAll("button").forEach((b) => { b.disabled = disabled; });
      if (off) tile.querySelector(".k-info").textContent = T(off.vi, off.en);
    });
    document.querySelectorAll(".k-group").forEach((b) => { b.disabled = inFlight; });
    renderInfo();
  }

  let lastServices = [];

  // Each tile: people waiting and the wait range; no counter open for it (and whether one opens today);
  // while issuing is stopped only the people still waiting (no "no wait" under the stop banner).
  function renderInfo() {
    lastServices.forEach((s) => {
      const code = CSS.escape(s.code);
      const info = document.querySelector('[data-info="' + code + '"]');
      const noteEl = document.querySelector('[data-note="' + code + '"]');
      if (!info) return;
      const off = offServices[s.code] && offServices[s.code].day === serviceDay;
      const stopped = !opening.issuing;
      const note = stopped || off ? "" : T(s.counter_note || "", s.counter_note_en || "");
      if (noteEl) { noteEl.textContent = note; noteEl.hidden = !note; }
      if (off) return;
      if (stopped) {
        info.textContent = s.waiting ? T(s.waiting + " người đang chờ", s.waiting + " waiting") : "";
        return;
      }
      if (!s.waiting) { info.textContent = note ? "" : T("Không phải chờ", "No wait"); return; }
      const wait = s.estimated_wait_range_s ? " · " + xephang.waitRange(s.estimated_wait_range_s, lang) : "";
      info.textContent = T(s.waiting + " người đang chờ", s.waiting + " waiting") + wait;
    });
  }

  function onState(state) {
    if (!state) return;
    if (state.opening) opening = state.opening;
    if (state.service_day) serviceDay = state.service_day;
    if (state.services) lastServices = state.services;
    setButtons();
  }

  function serviceName(code) {
    const tile = document.querySelector('.k-tile[data-service="' + CSS.escape(code) + '"] .k-name');
    return tile ? tile.textContent : code;
  }

  function showTicket(answer) {
    const t = answer.ticket;
    const p = answer.print || {};
    $("t-number").textContent = t.number;
    $("t-priority").hidden = !t.priority;
    $("t-priority").textContent = t.priority ? T("ƯU TIÊN – ", "PRIORITY – ") + (t.priority_name || "") : "";
    $("t-service").textContent = lang === "en" ? t.service_name_en : t.service_name;
    const booked = T(t.booking_note || "", t.booking_note_en || "");
    $("t-booking").textContent = booked;
    $("t-booking").hidden = !booked;
    const counters = t.counters || [];
    $("t-counters").textContent = counters.length
      ? T((counters.length === 1 ? "Quầy " : "Các quầy ") + counters.join(", "),
          (counters.length === 1 ? "Counter " : "Counters ") + counters.join(", "))
      : "";
    $("t-ahead").textContent = t.ahead === null || t.ahead === undefined ? ""
      : T("Trước Ông/Bà: " + t.ahead + " người", "People ahead of you: " + t.ahead);
    const note = T(t.counter_note || "", t.counter_note_en || "");
    const bookedWait = T(t.booking_wait || "", t.booking_wait_en || "");  // booked: when they are called, alone
    $("t-note").textContent = note;
    $("t-note").hidden = !note || !!bookedWait;
    $("t-wait").hidden = !bookedWait && !t.estimated_wait_range_s && !!note;  // the note says why, instead of "—"
    $("t-wait").textContent = bookedWait ||
      T("Thời gian chờ dự kiến: ", "Estimated wait: ") + xephang.waitRange(t.estimated_wait_range_s, lang);
    $("t-qr").src = t.qr_url;
    shownTicket = t.id;
    showPrint(p.ok, p.status, lang === "en" ? answer.message_en : answer.message);
    show("k-ticket");
    // Read out to its end even when the screen goes back to the start (a citizen's tap or "Xong" stops it).
    if (voiceOn && t.speech) say("ticket", t.speech[lang], "&ticket=" + encodeURIComponent(t.public_id));
    let left = p.ok ? 8 : 15;
    $("t-count").textContent = left;
    countdown = setInterval(() => {
      left -= 1;
      $("t-count").textContent = Math.max(0, left);
      if (left <= 0) show("k-start");
    }, 1000);
  }

  // The printing line. "pending": the printer was still taking the job when the answer was due; the server
  // sends its real outcome (`printer.status` with `late`) and the line follows it, never a failure it did not have.
  function showPrint(ok, status, failText) {
    const pr = $("t-print");
    pr.classList.toggle("is-fail", !ok);
    if (!ok) pr.textContent = failText;
    else if (status === "printed") pr.textContent = T("Mời Ông/Bà nhận phiếu in bên dưới", "Please take your printed ticket below");
    else if (status === "pending") pr.textContent = T("Đang in phiếu…", "Printing your ticket…");
    else pr.textContent = T("Mời Ông/Bà ghi nhớ số thứ tự", "Please remember your number");
    pr.dataset.status = ok ? (status || "") : "failed";
  }
  function onPrinterStatus(e) {
    if (!e || !e.late || e.kiosk !== kioskId || e.ticket !== shownTicket || $("k-ticket").hidden) return;
    showPrint(e.ok, e.ok ? "printed" : "failed", T(e.kiosk_message || "", e.kiosk_message_en || ""));
  }

  function showError(text) {
    $("k-error-text").textContent = text;
    show("k-error");
  }

  async function issue(service, priority) {
    if (inFlight) return;
    inFlight = true;
    setButtons();
    show("k-busy");
    const body = { service, request_id: requestId() };
    if (priority) body.priority = priority;
    try {
      let answer = null;
      for (let attempt = 0; ; attempt += 1) {
        try {
          answer = await xephang.api("POST", "/kiosk/" + encodeURIComponent(kioskId) + "/issue", body, token);
          break;
        } catch (e) {
          // Network trouble: retry with the same request id (never a second ticket).
          if (e.code === "network" && attempt < 2) { await new Promise((r) => setTimeout(r, 800)); continue; }
          throw e;
        }
      }
      showTicket(answer);
    } catch (e) {
      if (e.code === "daily_cap_reached") {
        offServices[service] = { vi: "Đã hết số hôm nay", en: "No more tickets today", day: serviceDay };
      }
      if (e.code === "closed" || e.code === "issuing_stopped") {
        opening = { open: e.code !== "closed", issuing: false, reason: e.code === "closed" ? "closed" : "closing_soon",
                    next_open: e.data && e.data.next_open };
      }
      showError((lang === "en" ? e.message_en : e.message) || e.message);
    } finally {
      inFlight = false;
      setButtons();
    }
  }

  // "Tôi đã đặt lịch": the code on a big keypad, or typed by a USB barcode/QR scanner (it types like a keyboard
  // and ends with Enter, which submits the field). Scanning on the start screen opens this screen by itself.
  async function checkIn(code) {
    if (inFlight || !code) return;
    inFlight = true;
    setButtons();
    show("k-busy");
    let keep = false;
    try {
      const answer = await xephang.api("POST", "/kiosk/" + encodeURIComponent(kioskId) + "/check-in", { code }, token);
      showTicket(answer);
    } catch (e) {
      const text = (lang === "en" ? e.message_en : e.message) || e.message;
      // A code that is nobody's is most often one character mistyped: back to the code as typed, to correct it.
      keep = TYPO_ERRORS.includes(e.code);
      if (keep) codeError(text); else showError(text);
    } finally {
      inFlight = false;
      if (!keep) $("k-code-input").value = "";
      setButtons();
    }
  }
  const TYPO_ERRORS = ["unknown_booking", "too_many_codes", "network"];
  let editAt = null;  // the character being corrected (touched in the row of cells), or null: type at the end
  function renderCells() {
    const value = $("k-code-input").value;
    if (editAt !== null && editAt >= value.length) editAt = null;
    $("k-code-cells").replaceChildren(...Array.from(value, (ch, i) => {
      const cell = xephang.el("button", { type: "button", class: "k-cell" + (i === editAt ? " is-edit" : ""),
        dataset: { index: String(i) }, "aria-label": T("Sửa ký tự thứ " + (i + 1), "Correct character " + (i + 1)) }, ch);
      cell.addEventListener("click", () => { editAt = editAt === i ? null : i; renderCells(); keepCodeOpen(); });
      return cell;
    }));
  }
  function codeError(text) {
    editAt = null;
    $("k-code-error").textContent = text;
    $("k-code-fix").hidden = false;
    $("k-code-ask").hidden = false;
    $("k-code-staff").hidden = true;
    renderCells();
    show("k-code");
  }
  function keepCodeOpen() {
    if (backTimer) { clearTimeout(backTimer); backTimer = setTimeout(() => show("k-start"), 60000); }
  }
  function openCode(first) {
    $("k-code-input").value = first || "";
    editAt = null;
    $("k-code-fix").hidden = true;
    $("k-code-ask").hidden = true;
    $("k-code-staff").hidden = true;
    show("k-code");
    $("k-code-input").focus();
  }
  if ($("k-code")) {
    $("k-booked").addEventListener("click", () => openCode(""));
    $("k-code-form").addEventListener("submit", (ev) => { ev.preventDefault(); checkIn($("k-code-input").value.trim()); });
    document.querySelectorAll(".k-key").forEach((b) => b.addEventListener("click", () => {
      const input = $("k-code-input");
      const v = input.value;
      const key = b.dataset.key;
      if (editAt !== null) {  // replace (or delete) the character touched, keep the others
        input.value = key === "del" ? v.slice(0, editAt) + v.slice(editAt + 1) : v.slice(0, editAt) + key + v.slice(editAt + 1);
        editAt = null;
      } else {
        input.value = key === "del" ? v.slice(0, -1) : (v + key).slice(0, 64);
      }
      renderCells();
      keepCodeOpen();
    }));
    $("k-code-input").addEventListener("input", () => { editAt = null; renderCells(); });
    $("k-code-back").addEventListener("click", () => show("k-start"));
    $("k-code-ask").addEventListener("click", () => {
      const code = $("k-code-input").value;
      $("k-code-staff").textContent = T(
        "Mời Ông/Bà đến bàn tiếp đón hoặc gặp cán bộ hướng dẫn" + (code ? " và đọc mã đã nhập: " + code : "") +
        " – cán bộ sẽ tra cứu lịch hẹn giúp Ông/Bà.",
        "Please go to the reception desk or ask a staff member" + (code ? " and read out the code you typed: " + code : "") +
        " – they will look up your booking.");
      $("k-code-staff").hidden = false;
      keepCodeOpen();
    });
    document.addEventListener("keydown", (ev) => {
      if (!$("k-start").hidden && !inFlight && ev.key && ev.key.length === 1 && /[A-Za-z0-9]/.test(ev.key) &&
          !ev.ctrlKey && !ev.altKey && !ev.metaKey) {
        ev.preventDefault();
        openCode(ev.key.toUpperCase());
      }
    });
  }

  // A site that a node serves takes its numbers there: say where, and nothing else (no tiles, no live state).
  if (root.dataset.elsewhere) { show("k-elsewhere"); return; }
  if (!token) { show("k-notoken"); return; }

  document.querySelectorAll(".k-service[data-service]").forEach((b) => b.addEventListener("click", () => issue(b.dataset.service, null)));
  document.querySelectorAll(".k-prio").forEach((b) => b.addEventListener("click", () => {
    if (inFlight) return;
    prioService = b.dataset.priorityFor;
    $("k-groups-service").textContent = serviceName(prioService);
    show("k-groups");
    say("groups", $("k-groups-sub").dataset.text);
  }));
  document.querySelectorAll(".k-group").forEach((b) => b.addEventListener("click", () => {
    if (prioService) issue(prioService, b.dataset.group);
  }));
  $("k-groups-back").addEventListener("click", () => { stopSpeech(); show("k-start"); });
  if ($("k-listen")) $("k-listen").addEventListener("click", () => say("guide", $("k-listen").dataset.text));
  $("k-done").addEventListener("click", () => { stopSpeech(); show("k-start"); });
  $("k-error-ok").addEventListener("click", () => show("k-start"));

  xephang.api("GET", "/api/queue?site=" + encodeURIComponent(site), undefined, token).then(onState).catch(() => {});
  let socketUp = false;
  let probeOk = true;
  function showConn() { $("k-conn").hidden = socketUp && probeOk; }
  xephang.live({
    site, token, onState,
    on: { "queue.updated": (q) => onState({ services: q.services }), "printer.status": onPrinterStatus },
    onStatus: (ok) => {
      socketUp = ok;
      showConn();
      if (ok) xephang.api("GET", "/api/queue?site=" + encodeURIComponent(site), undefined, token).then(onState).catch(() => {});
    },
  });
  // A server that goes without closing the socket (cable pulled, machine frozen) is noticed by Socket.IO only
  // after its ping timeout (20 s), or at the next tap: xephang.watchServer shows the sign within 3 s.
  xephang.watchServer((up) => {
    probeOk = up;
    showConn();
  });
  show("k-start");
  setButtons();
})();
