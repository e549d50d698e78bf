// At a node (a server that sends its records to a center), the staff screens' sign of that link, from
// GET /api/sync/status every 10 s: the link down since when and how many records wait (work goes on as
// usual), this machine's clock against the center's, and when the configuration came from the center.
// Texts come from the server in both languages; nothing here builds HTML. Load after live.js.
(function () {
  "use strict";
  const box = document.getElementById("sync-status");
  if (!box || !window.xephang) return;
  const X = window.xephang;
  const el = X.el;
  const en = document.documentElement.lang === "en";
  let shown = "";

  async function refresh() {
    let s;
    try {
      s = await X.api("GET", box.dataset.api);
    } catch (e) {
      return;  // the page's own sign says when this server cannot be reached
    }
    const items = (s.banners || []).map((b) => ["sync-banner", b.kind, en ? b.message_en : b.message]);
    if (s.config_note) items.push(["sync-note", "config", en ? s.config_note.message_en : s.config_note.message]);
    const key = JSON.stringify(items);
    if (key === shown) return;  // unchanged: no re-announcement to screen readers
    shown = key;
    box.textContent = "";
    items.forEach(([cls, kind, text]) => box.appendChild(el("div", { class: cls, "data-kind": kind }, text)));
    box.hidden = !items.length;
  }

  refresh();
  setInterval(refresh, Number(box.dataset.everyMs) || 10000);
})();
