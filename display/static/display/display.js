// Waiting-room display: latest call, number at each counter, last calls, waiting per service, notice
// line, clock. Live over Socket.IO; the whole state is re-read on connect, reconnect and every 15 s.
(function () {
  "use strict";
  const X = window.xephang;
  const cfg = JSON.parse(document.getElementById("page-config").textContent);
  const root = document.getElementById("tv");
  const en = root.dataset.lang === "en";
  const t = (vi, e) => (en ? e : vi);
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const token = X.deviceToken(cfg.display);

  const counterIds = cfg.counters;
  const counterSet = new Set(counterIds);
  const serviceSet = new Set(cfg.services);
  const shows = (counterId, service) => counterSet.has(counterId) && (!service || serviceSet.has(service));

  const counters = {};
  window.xephangCallLog = [];  // {number, counter, at (server), shown_at (DOM updated)}: for tests and benchmarks
  let recent = [];
  let firstState = true;
  const announced = new Set();
  const calledAt = {};  // counter id → server time of the latest call seen there (ms)
  let blinkTimer = null;

  // A call is still worth announcing while its ticket is the one called at its counter, by that very
  // call: not yet at the desk (serving), served, no-show, transferred, or called again (docs/display.md).
  function isCurrent(item) {
    const c = counters[item.counter_id];
    if (!c) return true;  // nothing known about the counter yet: the call itself is the news
    const tk = c.ticket;
    return !!tk && tk.id === item.ticket && (tk.status === undefined || tk.status === "called")
      && (tk.call_count === undefined || tk.call_count === null || tk.call_count === item.call_count);
  }

  const announcer = window.xephangVoice.Announcer({
    chimeUrl: cfg.chime_url, announceUrl: cfg.announce_url, textUrl: cfg.text_url, voice: cfg.voice,
    mode: params.get("voice") || "auto", logEl: $("announce-log"), isCurrent,
    onBlocked: () => { $("sound-unlock").hidden = false; },
  });
  window.xephangAnnouncer = announcer;
  $("sound-unlock").addEventListener("click", () => {
    $("sound-unlock").hidden = true;
    window.xephangVoice.playUrl(cfg.chime_url).catch(() => {});
  });

  // ------------------------------------------------------------------ rendering
  function callFromTicket(tk) {
    return { ticket: tk.id, number: tk.number, counter: tk.counter && tk.counter.id,
             counter_number: tk.counter && tk.counter.number, service: tk.service,
             service_name: en ? tk.service_name_en : tk.service_name, at: tk.last_called_at,
             call_count: tk.call_count };
  }
  function callFromEvent(p) {
    return { ticket: p.ticket, number: p.number, counter: p.counter, counter_number: p.counter_number,
             service: p.service, service_name: p.service_name, at: p.at, call_count: p.call_count,
             recall: p.recall };
  }
  const keyOf = (c) => c.ticket + ":" + c.call_count;

  function renderLatest(blink) {
    const c = recent[0];
    $("latest-number").textContent = c ? c.number : "—";
    $("latest-counter").textContent = c ? String(c.counter_number) : "—";
    $("latest-service").textContent = c ? c.service_name || "" : "";
    if (blink) {
      const box = $("latest");
      box.classList.remove("blink");
      void box.offsetWidth;  // restart the animation
      box.classList.add("blink");
      clearTimeout(blinkTimer);
      blinkTimer = setTimeout(() => box.classList.remove("blink"), 15000);
    }
  }

  function renderRecent() {
    const list = $("recent");
    list.replaceChildren(...recent.slice(1, 7).map((c) => X.el("li", {},
      X.el("span", { class: "n" }, c.number), X.el("span", { class: "a" }, "→"),
      X.el("span", { class: "c" }, t("Quầy ", "Counter ") + c.counter_number))));
  }

  function renderCounters() {
    $("counters").replaceChildren(...counterIds.filter((id) => counters[id]).map((id) => {
      const c = counters[id];
      const tk = c.ticket;
      let num = "—", cls = "counter";
      if (c.status === "closed") { cls += " closed"; num = t("Đóng", "Closed"); }
      else if (c.status === "paused") { cls += " paused"; num = t("Tạm nghỉ", "Paused"); }
      else if (tk) num = tk.number;
      return X.el("div", { class: cls, dataset: { counter: id } },
        X.el("div", { class: "cn" }, t("Quầy ", "Counter ") + c.number),
        X.el("div", { class: "ct", dataset: { ticket: tk ? tk.number : "" } }, num),
        X.el("div", { class: "cname" }, c.name));
    }));
  }

  // No counter open for a service: the kiosk's first words ("Chưa có quầy mở"), never "no wait" (live.js serviceWait).
  function renderServices(services) {
    const shown = services.filter((s) => serviceSet.has(s.code));
    $("services").closest("table").style.setProperty("--rows", String(Math.max(shown.length, 1)));
    $("services").replaceChildren(...shown.map((s) =>
      X.el("tr", { dataset: { service: s.code } },
        X.el("td", {}, en ? s.name_en : s.name),
        X.el("td", { class: "num" }, String(s.waiting)),
        X.el("td", {}, X.serviceWait(s, en ? "en" : "vi", true)))));
  }

  function setNotice(text) {
    const n = $("notice");
    n.textContent = text || "";
    root.classList.toggle("no-notice", !text);
    n.style.animation = "none"; void n.offsetWidth; n.style.animation = "";
  }

  function announce(call) {
    const k = keyOf(call);
    if (announced.has(k)) return;
    announced.add(k);
    announcer.enqueue({ number: call.number, counter: call.counter_number, counter_id: call.counter,
                        ticket: call.ticket, call_count: call.call_count, recall: !!call.recall });
  }

  // ------------------------------------------------------------------ live
  function onState(state) {
    const serverNow = Date.parse(state.at);
    // A state read before a call that already reached this page must not undo it (nor drop its voice).
    state.counters.forEach((c) => { if (counterSet.has(c.id) && !(calledAt[c.id] > serverNow)) counters[c.id] = c; });
    const calls = state.recent_calls.filter((tk) => tk.counter && shows(tk.counter.id, tk.service)).map(callFromTicket);
    // Calls made while this screen was disconnected are announced, if they are fresh (< 2 min).
    calls.slice().reverse().forEach((c) => {
      if (firstState) announced.add(keyOf(c));
      else if (!announced.has(keyOf(c)) && serverNow - Date.parse(c.at) < 120000) announce(c);
    });
    const changed = !recent.length || !calls.length || keyOf(recent[0]) !== keyOf(calls[0]);
    recent = calls;
    renderLatest(changed && !firstState);
    renderRecent();
    renderCounters();
    renderServices(state.services);
    firstState = false;
    announcer.prune();
  }

  function onCalled(p) {
    if (!shows(p.counter, p.service)) return;
    const call = callFromEvent(p);
    recent = [call, ...recent.filter((c) => c.ticket !== call.ticket)].slice(0, 10);
    calledAt[p.counter] = Math.max(calledAt[p.counter] || 0, Date.parse(p.at) || 0);
    if (counters[p.counter]) {
      counters[p.counter] = { ...counters[p.counter], status: "open",
                              ticket: { number: p.number, id: p.ticket, service: p.service, status: "called",
                                        call_count: p.call_count } };
    }
    // The same ticket called here after being called at another counter: the earlier call is over.
    Object.values(counters).forEach((c) => {
      if (c.id !== p.counter && c.ticket && c.ticket.id === p.ticket) counters[c.id] = { ...c, ticket: null };
    });
    renderLatest(true);
    renderRecent();
    renderCounters();
    window.xephangLastCall = { number: p.number, counter: p.counter_number, at: p.at, shown_at: Date.now() };
    window.xephangCallLog.push(window.xephangLastCall);
    if (window.xephangCallLog.length > 500) window.xephangCallLog.shift();
    announce(call);
  }

  const socket = X.live({
    site: cfg.site, token: token || undefined, resyncMs: 15000, onState,
    on: {
      "ticket.called": onCalled,
      "counter.updated": (c) => {
        if (counterSet.has(c.id)) { counters[c.id] = c; renderCounters(); announcer.prune(); }
      },
      "queue.updated": (q) => renderServices(q.services),
      "notice.updated": (n) => { if (n.site === cfg.site) setNotice(n.text); },
      "day.closed": () => socket.emit("resync"),
      "display.test": (p) => {
        if (p.display === cfg.display) announcer.enqueue({ number: p.number, counter: p.counter, test: true });
      },
    },
    onStatus: (ok) => { $("conn-status").hidden = ok; root.classList.toggle("offline", !ok); },
  });
  window.xephangSocket = socket;

  // ------------------------------------------------------------------ clock
  // The shared rules (live.js), in the center's zone: "14:05" and "Thứ Hai, 07/12/2026" (capitalised: it
  // starts the line), "Mon 07/12/2026" in English.
  function tick() {
    const now = new Date();
    $("clock").textContent = X.clockTime(now);
    const day = X.date(now, { weekday: true, lang: en ? "en" : "vi" });
    $("date").textContent = day.charAt(0).toUpperCase() + day.slice(1);
  }
  tick();
  setInterval(tick, 1000);
  setNotice($("notice").textContent.trim());
})();
