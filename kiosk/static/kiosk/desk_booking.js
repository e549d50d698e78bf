// Reception desk, bookings: book a slot for a citizen (e.g. an elderly person who phoned in), look a booking
// up by its code and cancel it. The slots and their free places come from /api/bookings/slots.
(function () {
  "use strict";
  const root = document.getElementById("desk");
  const site = root.dataset.site;
  const en = root.dataset.lang === "en";
  const T = (vi, e) => (en ? e : vi);
  const $ = (id) => document.getElementById(id);
  const STATUS = { booked: T("đã đặt", "booked"), cancelled: T("đã hủy", "cancelled"),
                   checked_in: T("đã đến lấy số", "checked in"), no_show: T("không đến", "no-show") };
  let found = null;

  function fail(e) { $("b-error").hidden = false; $("b-error").textContent = (en ? e.message_en : e.message) || e.message; }

  async function loadSlots() {
    const sel = $("b-slot");
    sel.textContent = "";
    try {
      const q = "?site=" + encodeURIComponent(site) + "&service=" + encodeURIComponent($("b-service").value) +
        "&day=" + encodeURIComponent($("b-day").value);
      const ans = await xephang.api("GET", "/api/bookings/slots" + q);
      ans.slots.filter((s) => !s.past).forEach((s) => {
        const o = document.createElement("option");
        o.value = s.slot_at;
        o.textContent = s.time + " – " + T("còn " + s.free + "/" + s.capacity + " chỗ", s.free + "/" + s.capacity + " free");
        o.disabled = s.free <= 0;
        sel.appendChild(o);
      });
      const first = Array.from(sel.options).find((o) => !o.disabled);
      if (first) sel.value = first.value;
    } catch (e) { fail(e); }
  }

  function showFound(b) {
    found = b;
    const local = xephang.clockTime(b.slot_at);
    $("b-found").hidden = false;
    $("b-found").textContent = b.code + " · " + b.service_day + " " + local + " · " + b.service +
      (b.name ? " · " + b.name : "") + " · " + (STATUS[b.status] || b.status) +
      (b.ticket ? " · " + T("số ", "ticket ") + b.ticket.number : "");
    $("b-cancel").hidden = b.status !== "booked";
  }

  $("b-service").addEventListener("change", loadSlots);
  $("b-day").addEventListener("change", loadSlots);
  $("b-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("b-error").hidden = true;
    $("b-made").hidden = true;
    $("b-made").textContent = "";
    try {
      const body = { site, service: $("b-service").value, slot_at: $("b-slot").value,
                     name: $("b-name").value.trim() || null, phone: $("b-phone").value.trim() || null };
      const b = await xephang.api("POST", "/api/bookings", body);
      $("b-made").hidden = false;
      $("b-made").textContent = T("Đã đặt lịch. Mã: ", "Booked. Code: ") + b.code + " – " +
        xephang.clockTime(b.slot_at) + " " + b.service_day;
      $("b-made").dataset.code = b.code;
      $("b-name").value = ""; $("b-phone").value = "";
      loadSlots();
    } catch (e) { fail(e); }
  });
  $("b-lookup-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("b-error").hidden = true;
    try { showFound(await xephang.api("GET", "/api/bookings/" + encodeURIComponent($("b-code").value.trim()))); }
    catch (e) { $("b-found").hidden = true; $("b-cancel").hidden = true; fail(e); }
  });
  $("b-cancel").addEventListener("click", async () => {
    if (!found) return;
    $("b-error").hidden = true;
    try { showFound(await xephang.api("POST", "/api/bookings/" + encodeURIComponent(found.code) + "/cancel", {})); loadSlots(); }
    catch (e) { fail(e); }
  });
  loadSlots();
})();
