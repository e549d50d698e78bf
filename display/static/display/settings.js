// Display settings: which voice this browser would use, test announcements, and the notice line.
(function () {
  "use strict";
  const X = window.xephang;
  const cfg = JSON.parse(document.getElementById("page-config").textContent);
  const $ = (id) => document.getElementById(id);
  const en = document.documentElement.lang === "en";
  const t = (vi, e) => (en ? e : vi);

  const announcer = window.xephangVoice.Announcer({
    chimeUrl: cfg.chime_url, announceUrl: cfg.announce_url, textUrl: cfg.text_url, voice: cfg.voice,
    mode: new URLSearchParams(location.search).get("voice") || "auto", logEl: $("announce-log"),
    onWarning: () => { $("chime-only").hidden = false; },
  });

  window.xephangVoice.capability(cfg.text_url.replace("announce.txt", "voice-status")).then((mode) => {
    $("voice-status").dataset.mode = mode;
    $("voice-status").textContent = {
      browser: t("Dùng giọng đọc tiếng Việt của trình duyệt.", "Using the browser's Vietnamese voice."),
      server: t("Trình duyệt không có giọng tiếng Việt: dùng âm thanh do máy chủ tạo (espeak-ng).",
                "No Vietnamese browser voice: using audio rendered by the server (espeak-ng)."),
      chime: t("Không có giọng đọc: chỉ phát chuông.", "No voice available: chime only."),
    }[mode];
    $("chime-only").hidden = mode !== "chime";
    if (cfg.voice.pack) {
      $("voice-status").dataset.mode = "pack";
      $("voice-status").textContent = t("Đọc bằng bộ giọng thu âm (" + cfg.voice.languages.join(", ") + ").",
                                        "Calls use the recorded voice packs (" + cfg.voice.languages.join(", ") + ").");
    }
  });

  $("play-here").addEventListener("click", () => {
    const number = $("test-number").value.trim().toUpperCase();
    if (!/^[A-Z]{0,2}\d{1,6}$/.test(number)) { $("test-result").textContent = t("Số thử không hợp lệ", "Invalid test number"); return; }
    $("test-result").textContent = "";
    announcer.enqueue({ number, counter: Number($("test-counter").value), test: true });
  });

  $("play-display").addEventListener("click", async () => {
    try {
      await X.api("POST", "/display/" + encodeURIComponent(cfg.display) + "/test", {});
      $("test-result").textContent = t("Đã gửi lệnh phát thử tới màn hình.", "Test sent to the display.");
    } catch (e) { $("test-result").textContent = en ? e.message_en || e.message : e.message; }
  });

  $("save-packs").addEventListener("click", async () => {
    const packs = [$("pack-0").value, $("pack-1").value].filter((v) => v).map(Number)
      .filter((v, i, all) => all.indexOf(v) === i);
    try {
      await X.api("POST", "/display/" + encodeURIComponent(cfg.display) + "/voice", { packs });
      $("packs-result").textContent = t("Đã lưu.", "Saved.");
      location.reload();
    } catch (e) { $("packs-result").textContent = en ? e.message_en || e.message : e.message; }
  });

  $("notice-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await X.api("POST", "/display/notice", { site: cfg.site, text: $("notice-text").value });
      $("notice-result").textContent = t("Đã lưu.", "Saved.");
    } catch (e) { $("notice-result").textContent = en ? e.message_en || e.message : e.message; }
  });
})();
