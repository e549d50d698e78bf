// Reception desk: staff issue a ticket for a citizen, with a priority group and a printer (or none).
(function () {
  "use strict";
  const root = document.getElementById("desk");
  const site = root.dataset.site;
  const en = root.dataset.lang === "en";
  const T = (vi, e) => (en ? e : vi);
  const $ = (id) => document.getElementById(id);
  let last = null;
  let busy = false;

  function printText(ans) {
    const p = ans.print || {};
    if (!p.ok) return { text: en ? ans.message_en : ans.message, fail: true };
    if (p.status === "printed") return { text: T("Đã in phiếu", "Ticket printed"), fail: false };
    return { text: T("Không in (chỉ hiển thị)", "Not printed (screen only)"), fail: false };
  }

  function showResult(ans) {
    const t = ans.ticket;
    last = { ticket: t, printer: $("d-printer").value };
    $("d-result").hidden = false;
    $("d-number").textContent = t.number;
    $("d-service-name").textContent = (en ? t.service_name_en : t.service_name) + (t.priority_name ? " – " + T("Ưu tiên", "Priority") + ": " + t.priority_name : "");
    $("d-detail").textContent = T("Quầy ", "Counters ") + (t.counters || []).join(", ") + " · " +
      T("Trước: " + t.ahead + " người", "Ahead: " + t.ahead) + " · " + xephang.minutes(t.estimated_wait_s, en ? "en" : "vi");
    const pt = printText(ans);
    $("d-print").textContent = pt.text;
    $("d-print").className = pt.fail ? "fail" : "okmsg";
    $("d-follow").href = t.public_url;
    $("d-png").href = "/tickets/" + t.id + "/ticket.png";
    $("d-reprint").hidden = !last.printer;
  }

  function showError(e) {
    $("d-error").hidden = false;
    $("d-error").textContent = (en ? e.message_en : e.message) || e.message;
  }

  $("d-service").addEventListener("change", () => {
    const opt = $("d-service").selectedOptions[0];
    $("d-priority").disabled = opt && opt.dataset.priority === "0";
    if ($("d-priority").disabled) $("d-priority").value = "";
  });

  $("desk-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (busy) return;
    busy = true;
    $("d-issue").disabled = true;
    $("d-error").hidden = true;
    try {
      const body = { service: $("d-service").value, priority: $("d-priority").value || null,
                     printer: $("d-printer").value || null };
      showResult(await xephang.api("POST", "/desk/" + encodeURIComponent(site) + "/issue", body));
    } catch (e) { showError(e); } finally { busy = false; $("d-issue").disabled = false; }
  });

  $("d-reprint").addEventListener("click", async () => {
    if (!last || busy) return;
    busy = true;
    $("d-reprint").disabled = true;
    try {
      const ans = await xephang.api("POST", "/kiosk/tickets/" + last.ticket.id + "/reprint", { kiosk: last.printer });
      const pt = printText(ans);
      $("d-print").textContent = pt.text;
      $("d-print").className = pt.fail ? "fail" : "okmsg";
    } catch (e) { showError(e); } finally { busy = false; $("d-reprint").disabled = false; }
  });
})();
