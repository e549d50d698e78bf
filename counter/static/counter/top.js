// Counter-top display: the number being served at one counter, and a blinking "Mời số ..." on each call.
(function () {
  "use strict";
  const X = window.xephang;
  const root = document.getElementById("top");
  const CID = root.dataset.counter;
  const en = root.dataset.lang === "en";
  const $ = (id) => document.getElementById(id);
  let callTimer = null;

  function show(counter) {
    if (!counter || counter.id !== CID) return;
    const t = counter.ticket;
    $("top-number").textContent = t ? t.number : "—";
    document.body.dataset.number = t ? t.number : "";
    const paused = counter.status === "paused", closed = counter.status === "closed";
    $("top-state").textContent = closed ? (en ? "Counter closed" : "Quầy tạm đóng")
      : paused ? (en ? "Counter paused, please wait" : "Quầy tạm dừng, xin vui lòng chờ") : "";
    if (!t) hideCall();
  }

  function hideCall() {
    $("top-call").hidden = true;
    $("top-call").classList.remove("blink");
  }

  function call(p) {
    if (p.counter !== CID) return;
    $("top-number").textContent = p.number;
    document.body.dataset.number = p.number;
    const box = $("top-call");
    box.textContent = (en ? "Now calling " : "Mời số ") + p.number;
    box.hidden = false;
    box.classList.remove("blink");
    void box.offsetWidth; // restart the animation on a recall
    box.classList.add("blink");
    clearTimeout(callTimer);
    callTimer = setTimeout(hideCall, 15000);
  }

  X.live({
    site: root.dataset.site,
    onState: (s) => show((s.counters || []).find((c) => c.id === CID)),
    on: {
      "ticket.called": call,
      "counter.updated": show,
    },
    onStatus: (ok) => { $("top-conn").hidden = ok; },
  });
})();
