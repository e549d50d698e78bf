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
    if (p.status === "pending") return { text: T("Đang in phiếu…", "Printing…"), fail: false };
    return { text: T("Không in (chỉ hiển thị)", "Not printed (screen only)"), fail: false };
  }

  function showResult(ans) {
    const t = ans.ticket;
    last = { ticket: t, printer: $("d-printer").value };
    $("d-result").hidden = false;
    $("d-number").textContent = t.number;
    $("d-service-name").textContent = (en ? t.service_name_en : t.service_name) + (t.priority_name ? " – " + T("Ưu tiên", "Priority") + ": " + t.priority_name : "");
    $("d-detail").textContent = T("Quầy ", "Counters ") + (t.counters || []).join(", ") + " · " +
      T("Trước: " + t.ahead + " người", "Ahead: " + t.ahead) + " · " + xephang.waitRange(t.estimated_wait_range_s, en ? "en" : "vi");
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

  // Kiosk printers that fail: named, with the numbers still without paper and a reprint for each.
  let problems = [];
  let loadTimer = null;
  function loadPrinters() {
    clearTimeout(loadTimer);
    loadTimer = setTimeout(async () => {
      try {
        problems = (await xephang.api("GET", "/desk/" + encodeURIComponent(site) + "/printers")).printers;
      } catch (e) { return; /* next event or resync */ }
      renderPrinters();
    }, 200);
  }

  function renderPrinters() {
    xephang.printerAlert($("d-printers"), problems, { T, onReprint: reprintFor });
    // Each printer by its kiosk's name and its state, as staff understand it (never the driver's name).
    document.querySelectorAll("#d-printer option[data-name], #d-reprint-on option[data-name]").forEach((o) => {
      const p = problems.find((x) => x.kiosk === o.value);
      o.textContent = o.dataset.name + " – " +
        (p ? T("không in được: ", "cannot print: ") + T(p.message, p.message_en) : T("sẵn sàng", "ready"));
    });
    // Offer a working printer first: not one of those failing.
    const select = $("d-reprint-on");
    const failing = new Set(problems.map((p) => p.kiosk));
    if (select && failing.has(select.value)) {
      const good = Array.from(select.options).find((o) => !failing.has(o.value));
      if (good) select.value = good.value;
    }
  }

  async function reprintFor(ticket) {
    if (busy) return;
    const kiosk = $("d-reprint-on") && $("d-reprint-on").value;
    if (!kiosk) { showError({ message: "Chưa có máy in nào để in lại", message_en: "No printer to reprint on" }); return; }
    busy = true;
    $("d-error").hidden = true;
    document.querySelectorAll("#d-printers button.reprint").forEach((b) => { b.disabled = true; });
    try {
      const ans = await xephang.api("POST", "/kiosk/tickets/" + ticket.id + "/reprint", { kiosk });
      if (!(ans.print || {}).ok) showError({ message: ans.message, message_en: ans.message_en });
    } catch (e) { showError(e); } finally {
      busy = false;
      loadPrinters();
    }
  }

  // Wrong booking codes typed again and again at a kiosk (or on the API) pause check-in there: someone may be
  // guessing codes. Staff see each pause of the last hour; it is in the audit log too.
  async function loadCodeAlerts() {
    let ans;
    try { ans = await xephang.api("GET", "/desk/" + encodeURIComponent(site) + "/code-alerts"); } catch (e) { return; }
    const box = $("d-code-alert");
    box.replaceChildren(...(ans.alerts || []).map((a) => {
      const who = a.scope === "site" ? T("Cả điểm tiếp nhận", "The whole site") : (a.caller_name || a.caller);
      const until = xephang.clockTime(a.until);
      return xephang.el("div", {}, a.active
        ? T("Cảnh báo: " + who + " nhập sai mã đặt lịch nhiều lần – tạm khóa nhập mã đến " + until +
            " (lần " + a.pauses + " trong 1 giờ). Nếu có công dân cần giúp, mời hỗ trợ tại kiosk.",
            "Warning: " + who + " typed wrong booking codes again and again – code check-in paused until " + until +
            " (pause " + a.pauses + " within the hour). Help the citizen at the kiosk if needed.")
        : T("Lưu ý: " + who + " đã bị tạm khóa nhập mã đặt lịch đến " + until + " do nhập sai nhiều lần.",
            "Note: " + who + " was paused for booking codes until " + until + " after repeated wrong codes."));
    }));
    box.hidden = !(ans.alerts || []).length;
  }
  loadCodeAlerts();
  setInterval(loadCodeAlerts, 15000);

  xephang.live({
    site,
    onState: () => { loadPrinters(); loadCodeAlerts(); },
    on: { "printer.status": loadPrinters, "queue.updated": loadPrinters },
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
