// Rating pad facing the citizen: asks only when this counter has just finished a visit; one answer per
// ticket (the server refuses any other ticket and any second answer); back to idle after a timeout.
(function () {
  "use strict";
  const X = window.xephang;
  const data = JSON.parse(document.getElementById("rating-data").textContent);
  const en = document.documentElement.lang === "en";
  const CID = data.counter.id;
  const S = data.settings;
  const PATH = "/counter/" + encodeURIComponent(CID) + "/rating";
  const $ = (id) => document.getElementById(id);
  let ticket = null;     // {ticket, number, expires_in_s}
  let level = null;
  let timer = null;
  let sending = false;
  const dismissed = new Set(); // tickets whose question timed out: never asked again on this pad

  function screen(name) {
    ["idle", "ask", "reasons", "thanks"].forEach((n) => { $("screen-" + n).hidden = n !== name; });
    document.body.dataset.screen = name;
  }

  function message(text) {
    const m = $("pad-message");
    m.textContent = text || "";
    m.hidden = !text;
  }

  function timedOut() {
    if (ticket) dismissed.add(ticket.ticket);
    idle();
  }

  function idle() {
    clearTimeout(timer);
    ticket = null;
    level = null;
    screen("idle");
  }

  function arm(seconds, fn) {
    clearTimeout(timer);
    timer = setTimeout(fn, Math.max(1, seconds) * 1000);
  }

  async function check() {
    if (ticket || sending) return;
    let out;
    try { out = await X.api("GET", PATH + "/pending"); } catch (e) { return; }
    const p = out && out.pending;
    if (!p || ticket || dismissed.has(p.ticket)) return;
    ticket = p;
    message("");
    $("ask-number").textContent = p.number;
    document.querySelectorAll(".reason").forEach((b) => b.setAttribute("aria-pressed", "false"));
    screen("ask");
    arm(Math.min(S.timeout_s, p.expires_in_s), timedOut);
  }

  async function send(reasons) {
    if (!ticket || !level || sending) return;
    sending = true;
    clearTimeout(timer);
    try {
      await X.api("POST", PATH, { ticket: ticket.ticket, level: level.code, reasons });
      screen("thanks");
      message("");
    } catch (e) {
      message(en && e.message_en ? e.message_en : e.message);
      screen("idle");
    } finally {
      sending = false;
      ticket = null;
      level = null;
      timer = setTimeout(() => { message(""); idle(); check(); }, 5000);
    }
  }

  document.querySelectorAll(".face").forEach((b) => b.addEventListener("click", () => {
    if (!ticket) return;
    level = S.levels.find((l) => l.code === b.dataset.level);
    if (!level) return;
    if (level.ask_reasons && S.reasons.length) {
      screen("reasons");
      // A citizen who walks away after an unhappy answer still counts: send what was chosen.
      arm(S.timeout_s, () => send(chosen()));
    } else {
      send([]);
    }
  }));

  const chosen = () => Array.from(document.querySelectorAll(".reason[aria-pressed='true']")).map((b) => b.dataset.reason);
  document.querySelectorAll(".reason").forEach((b) => b.addEventListener("click", () => {
    b.setAttribute("aria-pressed", b.getAttribute("aria-pressed") === "true" ? "false" : "true");
    arm(S.timeout_s, () => send(chosen()));
  }));
  $("send-reasons").addEventListener("click", () => send(chosen()));

  X.live({
    site: data.counter.site,
    onState: () => check(),
    on: {
      "ticket.finished": (t) => { if (t.counter && t.counter.id === CID) check(); },
    },
    onStatus: (ok) => { $("pad-conn").hidden = ok; },
  });
  idle();
  check();
})();
