// The citizen's phone: one ticket, live. Resyncs over HTTP on every (re)connect.
(function () {
  "use strict";
  const root = document.getElementById("follow");
  const publicId = root.dataset.publicId;
  const en = root.dataset.lang === "en";
  const T = (vi, e) => (en ? e : vi);
  const $ = (id) => document.getElementById(id);
  const STATUS = {
    waiting: ["Đang chờ", "Waiting"], called: ["Đang được mời", "Being called"],
    serving: ["Đang được phục vụ", "Being served"], served: ["Đã phục vụ xong – cảm ơn Ông/Bà!", "Served – thank you!"],
    no_show: ["Đã gọi nhưng vắng mặt – vui lòng liên hệ cán bộ", "Called but absent – please ask staff"],
    transferred: ["Đã chuyển sang lĩnh vực khác", "Transferred"],
    cancelled: ["Đã hết giờ làm việc", "Cancelled at closing"], left: ["Đã rời đi", "Left"],
  };
  let current = null;

  function render(t) {
    if (!t) return;
    const wasCalled = current && current.status === "called" && current.call_count === t.call_count;
    current = t;
    $("f-number").textContent = t.number;
    $("f-service").textContent = en ? t.service_name_en : t.service_name;
    const s = STATUS[t.status] || [t.status, t.status];
    $("f-status").textContent = T(s[0], s[1]);
    const called = t.status === "called" && t.counter;
    $("f-called").hidden = !called;
    if (called) $("f-called").textContent = T("Mời Ông/Bà đến quầy số " + t.counter.number,
                                              "Please go to counter " + t.counter.number);
    const waiting = t.status === "waiting";
    $("f-ahead").textContent = waiting && t.ahead !== null && t.ahead !== undefined
      ? T("Trước Ông/Bà: " + t.ahead + " người", "People ahead: " + t.ahead) : "";
    const note = en ? t.counter_note_en : t.counter_note;  // no counter open for the service: why no estimate
    $("f-wait").textContent = !waiting ? "" : note && !t.estimated_wait_range_s ? note
      : T("Chờ dự kiến: ", "Estimated wait: ") + xephang.waitRange(t.estimated_wait_range_s, en ? "en" : "vi");
    if (called && !wasCalled && navigator.vibrate) navigator.vibrate([300, 150, 300]);
  }

  function resync() {
    xephang.api("GET", "/api/public/tickets/" + encodeURIComponent(publicId)).then(render).catch(() => {});
  }

  // Queue movement changes "people ahead"; refresh at most every 5 s so a busy hall stays light.
  let soonTimer = null;
  function resyncSoon() {
    if (soonTimer) return;
    soonTimer = setTimeout(() => { soonTimer = null; resync(); }, 5000);
  }

  resync();
  xephang.live({
    ticket: publicId,
    on: {
      "ticket.updated": (t) => { if (t && current && t.id === current.id) resync(); else if (current && current.status === "transferred") resync(); },
      "ticket.called": (c) => { if (current && c && c.ticket === current.id) resync(); },
      "queue.updated": () => { if (current && current.status === "waiting") resyncSoon(); },
    },
    onStatus: (ok) => { $("f-conn").hidden = ok; if (ok) resync(); },
  });
})();
