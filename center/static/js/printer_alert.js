// Kiosk printer problems on staff pages (counter, desk): which kiosk, by its configured name, what is wrong,
// since when, and the numbers that did not print. The list comes from the server (printer_problems), so a
// page opened after the failure shows it too; pages re-read it on every `printer.status` event.
// Load after live.js.
(function () {
  "use strict";

  // render(box, problems, {T, onReprint(ticket, problem)?, extra(problem)?})
  function render(box, problems, opts) {
    const X = window.xephang;
    const el = X.el;
    const T = opts.T;
    const list = problems || [];
    const keep = box.querySelector(".printer-alert-tools");  // page controls kept across renders
    box.textContent = "";
    list.forEach((p) => {
      const item = el("div", { class: "printer-problem", dataset: { kiosk: p.kiosk } },
        el("strong", { class: "printer-name", title: p.kiosk_name }, T("Máy in ", "Printer of ") + p.kiosk_name),
        " ", T("không in được: ", "cannot print: "), T(p.message, p.message_en),
        " (" + T("từ ", "since ") + X.clockTime(p.since) + ")");
      const tickets = p.tickets || [];
      if (tickets.length) {
        const nums = el("div", { class: "printer-tickets" }, T("Số chưa có phiếu: ", "Numbers without a paper ticket: "));
        tickets.forEach((t) => {
          nums.appendChild(el("span", { class: "unprinted", dataset: { ticket: String(t.id) } }, t.number));
          if (opts.onReprint) {
            nums.appendChild(el("button", { type: "button", class: "small reprint", dataset: { ticket: String(t.id) },
              "aria-label": T("In lại số ", "Reprint ticket ") + t.number, onclick: () => opts.onReprint(t, p) },
              T("In lại", "Reprint")));
          }
          nums.appendChild(document.createTextNode(" "));
        });
        item.appendChild(nums);
      }
      if (opts.extra) item.appendChild(opts.extra(p));
      box.appendChild(item);
    });
    if (keep) box.appendChild(keep);
    box.hidden = !list.length;
  }

  window.xephang.printerAlert = render;
})();
