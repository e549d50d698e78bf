// Shared by every screen: JSON API calls with the CSRF token, and a live Socket.IO connection that
// resyncs the whole state on connect, after every reconnect and every 30 s, so a lost event never
// leaves a screen wrong. Load /static/vendor/socket.io.min.js before this file.
(function () {
  "use strict";

  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  // Device pages receive their token once in the URL fragment (#token=...) and keep it locally.
  function deviceToken(key) {
    const m = location.hash.match(/token=([^&]+)/);
    if (m) {
      localStorage.setItem("xephang-token:" + key, decodeURIComponent(m[1]));
      history.replaceState(null, "", location.pathname + location.search);
    }
    return localStorage.getItem("xephang-token:" + key) || "";
  }

  // fetch() wrapper: JSON in, JSON out; throws an Error carrying the server's {error, message}.
  async function api(method, path, body, token) {
    const headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers["Authorization"] = "Bearer " + token;
    else headers["X-CSRFToken"] = csrf();
    let resp;
    try {
      resp = await fetch(path, { method, headers, credentials: "same-origin",
                                 body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      const err = new Error("Mất kết nối tới máy chủ, vui lòng thử lại");
      err.code = "network"; err.message_en = "Cannot reach the server, please try again";
      throw err;
    }
    if (resp.status === 204) return null;
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (!resp.ok) {
      const err = new Error((data && data.message) || ("Lỗi " + resp.status));
      err.code = (data && data.error) || "http_" + resp.status;
      err.message_en = data && data.message_en;
      err.status = resp.status;
      err.data = data;
      throw err;
    }
    return data;
  }

  // live({site, token, ticket, onState, on: {event: handler}, onStatus}) -> socket
  // onStatus(connected: boolean) drives the discreet "reconnecting" sign every screen shows.
  function live(opts) {
    const auth = {};
    if (opts.site) auth.site = opts.site;
    if (opts.token) auth.token = opts.token;
    if (opts.ticket) auth.ticket = opts.ticket;
    const socket = io({ auth, transports: ["websocket", "polling"], reconnectionDelayMax: 5000 });
    socket.on("connect", () => opts.onStatus && opts.onStatus(true));
    socket.on("disconnect", () => opts.onStatus && opts.onStatus(false));
    socket.on("connect_error", () => opts.onStatus && opts.onStatus(false));
    if (opts.onState) socket.on("state", opts.onState);
    Object.entries(opts.on || {}).forEach(([name, fn]) => socket.on(name, fn));
    // Periodic resync: the server answers with a full "state".
    const every = opts.resyncMs || 30000;
    setInterval(() => { if (socket.connected) socket.emit("resync"); }, every);
    return socket;
  }

  // Text helpers: never build HTML from data; set textContent.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "class") node.className = v;
      else if (k === "dataset") Object.assign(node.dataset, v);
      else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
      else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : v);
    });
    children.flat().forEach((c) => {
      if (c === null || c === undefined || c === false) return;
      node.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    });
    return node;
  }

  // A duration as m:ss, or h:mm:ss from an hour: the total is rounded to whole seconds (half up) before it is
  // split, so 1619.6 s reads "27:00", never "26:60". Twin of center.reports.fmt_duration (same rule).
  function duration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return "—";
    const total = Math.floor(Math.max(Number(seconds), 0) + 0.5);
    const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    const two = (n) => String(n).padStart(2, "0");
    return h ? h + ":" + two(m) + ":" + two(s) : m + ":" + two(s);
  }

  // The estimated wait as printed everywhere: a calibrated range [low, high] in seconds from the API
  // (`estimated_wait_range_s`), "dưới 5 phút" / "khoảng 10–20 phút". The same rule as center.queue.estimate.wait_text.
  function waitRange(bounds, lang) {
    if (!bounds || bounds.length !== 2) return "—";
    const lo = Math.round(bounds[0] / 60), hi = Math.round(bounds[1] / 60);
    if (lang === "en") return lo <= 0 ? "under " + hi + " min" : "about " + lo + "–" + hi + " min";
    return lo <= 0 ? "dưới " + hi + " phút" : "khoảng " + lo + "–" + hi + " phút";
  }

  // A service's wait on screens (hall display, status page). No counter open for it now: the words the kiosk
  // tile and the paper ticket use (`counter_note`, center.queue.availability.note: "Chưa có quầy mở – …",
  // "Quầy đang tạm nghỉ – …"; with `brief`, their first words alone, `counter_label`, where a row has room
  // for a few words), whether or not anyone waits, never "Không phải chờ"; else nobody waiting, or the
  // printed range. One rule for every screen that lists services.
  function serviceWait(s, lang, brief) {
    const en = lang === "en";
    const note = brief ? (en ? s.counter_label_en : s.counter_label) : (en ? s.counter_note_en : s.counter_note);
    if (note) return note;
    if (!s.waiting) return en ? "No wait" : "Không phải chờ";
    return waitRange(s.estimated_wait_range_s, lang);
  }

  // Clock time in the center's time zone (never the browser's: a TV or PC may be set to UTC).
  function clockTime(value, withSeconds) {
    const tz = (document.querySelector('meta[name="timezone"]') || {}).content || "Asia/Ho_Chi_Minh";
    const opts = { timeZone: tz, hour: "2-digit", minute: "2-digit", hour12: false };
    if (withSeconds) opts.second = "2-digit";
    return new Intl.DateTimeFormat("en-GB", opts).format(value ? new Date(value) : new Date());
  }

  // A date in the center's time zone as Vietnamese text writes it: 07/12/2026 (en: the same digits), or with
  // the weekday: "thứ Hai, 07/12/2026" / "Mon 07/12/2026". The same rule as center.queue.clock.vn_date.
  // `value`: an ISO time, a Date, or a "YYYY-MM-DD" day (taken as that calendar day, not converted).
  const WEEKDAYS_VI = ["Chủ nhật", "thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy"];
  const WEEKDAYS_EN = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  function dayParts(value) {
    if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}$/.test(value)) {
      const [y, m, d] = value.split("-").map(Number);
      return { y, m, d, wd: new Date(Date.UTC(y, m - 1, d)).getUTCDay() };
    }
    const tz = (document.querySelector('meta[name="timezone"]') || {}).content || "Asia/Ho_Chi_Minh";
    const parts = {};
    new Intl.DateTimeFormat("en-GB", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit",
                                       weekday: "short" })
      .formatToParts(value ? new Date(value) : new Date()).forEach((p) => { parts[p.type] = p.value; });
    return { y: +parts.year, m: +parts.month, d: +parts.day, wd: WEEKDAYS_EN.indexOf(parts.weekday) };
  }
  function date(value, opts) {
    const p = dayParts(value);
    const text = String(p.d).padStart(2, "0") + "/" + String(p.m).padStart(2, "0") + "/" + p.y;
    if (!(opts && opts.weekday)) return text;
    return (opts.lang === "en" ? WEEKDAYS_EN[p.wd] + " " : WEEKDAYS_VI[p.wd] + ", ") + text;
  }
  // "22:30 07/12/2026": a moment in the center's zone, 24-hour, Vietnamese date order.
  function dateTime(value, withSeconds) { return clockTime(value, withSeconds) + " " + date(value); }

  // Whether the server answers, asked every `everyMs`: a server that goes without closing its socket (stopping
  // through gunicorn's 10 s graceful shutdown, a cable pulled, a frozen machine) shows at Socket.IO only after
  // its ping timeout (20 s). `onResult(up)` after each probe: a refusal, a 5xx or no answer in `timeoutMs` is
  // down. The counter and the kiosk show their "reconnecting" sign from it and their socket's status: a probe
  // starts at most `everyMs` after the last one ended and gives up after `timeoutMs`, so the sign shows within
  // 2.5 s of a freeze (≤ 3 s, tests/test_kiosk_reconnect_browser.py). Returns a function that stops it.
  function watchServer(onResult, everyMs = 1000, timeoutMs = 1500) {
    let stopped = false;
    async function probe() {
      if (stopped) return;
      const stop = new AbortController();
      const late = setTimeout(() => stop.abort(), timeoutMs);
      let up;
      try {
        const r = await fetch("/api/health", { cache: "no-store", credentials: "omit", signal: stop.signal });
        up = r.status < 500;
      } catch (e) {
        up = false;
      }
      clearTimeout(late);
      if (stopped) return;
      onResult(up);
      setTimeout(probe, everyMs);
    }
    setTimeout(probe, everyMs);
    return () => { stopped = true; };
  }

  window.xephang = { api, live, deviceToken, el, waitRange, serviceWait, csrf, clockTime, duration, date, dateTime,
                     watchServer };
})();
