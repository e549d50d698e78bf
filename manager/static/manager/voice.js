// Voice packs page: the clips each pack still needs, recorded from the microphone (MediaRecorder), converted
// here to 16-bit mono WAV at 22,050 Hz with the Web Audio API (decodeAudioData, then an OfflineAudioContext),
// so that the server only ever handles WAV; it trims and levels each clip and answers its duration.
(function () {
  "use strict";
  const X = window.xephang;
  const root = document.getElementById("vp-packs");
  const en = document.documentElement.lang === "en";
  const t = (vi, e) => (en ? e : vi);
  const $ = (id) => document.getElementById(id);
  const RATE = 22050;
  const MAX_MS = 8000;  // a clip is a word or a phrase: recording stops by itself after 8 s
  let state = JSON.parse($("vp-state").textContent);
  let recording = null;  // {recorder, stream, pack, key, timer}
  window.xephangVoiceUploads = [];  // {pack, key, status, duration_s}: for tests

  const say = (msg) => { $("vp-message").textContent = msg; };
  const errText = (e) => (en ? e.message_en || e.message : e.message);

  async function refresh() {
    state = await X.api("GET", "/manager/api/voice");
    render();
  }

  // ------------------------------------------------------------------ WAV in the browser
  function wavFromSamples(samples, rate) {
    const buf = new ArrayBuffer(44 + samples.length * 2);
    const v = new DataView(buf);
    const str = (o, s) => { for (let i = 0; i < s.length; i++) v.setUint8(o + i, s.charCodeAt(i)); };
    str(0, "RIFF"); v.setUint32(4, 36 + samples.length * 2, true); str(8, "WAVE"); str(12, "fmt ");
    v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true); v.setUint32(24, rate, true);
    v.setUint32(28, rate * 2, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true); str(36, "data");
    v.setUint32(40, samples.length * 2, true);
    for (let i = 0; i < samples.length; i++) {
      const s = Math.max(-1, Math.min(1, samples[i]));
      v.setInt16(44 + i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
    }
    return new Blob([buf], { type: "audio/wav" });
  }

  async function toWav(blob) {
    const ctx = new (window.AudioContext || window.webkitAudioContext)();
    try {
      const decoded = await ctx.decodeAudioData(await blob.arrayBuffer());
      const off = new OfflineAudioContext(1, Math.max(1, Math.ceil(decoded.duration * RATE)), RATE);
      const src = off.createBufferSource();
      src.buffer = decoded;
      src.connect(off.destination);
      src.start();
      const rendered = await off.startRendering();
      return wavFromSamples(rendered.getChannelData(0), RATE);
    } finally { ctx.close(); }
  }

  async function upload(pack, key, wav) {
    const url = "/manager/voice/clip?pack=" + pack + "&key=" + encodeURIComponent(key);
    const r = await fetch(url, { method: "POST", body: wav, credentials: "same-origin",
                                 headers: { "Content-Type": "audio/wav", Accept: "application/json", "X-CSRFToken": X.csrf() } });
    const data = await r.json().catch(() => ({}));
    window.xephangVoiceUploads.push({ pack, key, status: r.status, duration_s: data.duration_s });
    if (!r.ok) throw Object.assign(new Error(data.message || "Lỗi " + r.status), { message_en: data.message_en });
    return data;
  }

  // ------------------------------------------------------------------ recording
  async function startRecording(pack, key, row) {
    if (recording) return;
    if (!navigator.mediaDevices || !window.MediaRecorder) { say(t("Trình duyệt không thu âm được.", "This browser cannot record.")); return; }
    let stream;
    try { stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: true, autoGainControl: false } }); }
    catch (e) { say(t("Không mở được micrô: ", "Cannot open the microphone: ") + e.message); return; }
    const chunks = [];
    const recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (ev) => { if (ev.data && ev.data.size) chunks.push(ev.data); };
    recorder.onstop = async () => {
      stream.getTracks().forEach((tr) => tr.stop());
      clearTimeout(recording && recording.timer);
      recording = null;
      row.classList.remove("recording");
      try {
        const wav = await toWav(new Blob(chunks, { type: recorder.mimeType || "audio/webm" }));
        const res = await upload(pack, key, wav);
        say(t("Đã lưu đoạn \"", "Saved \"") + key + "\" (" + res.duration_s.toFixed(2) + " s)");
        await refresh();
      } catch (e) { say(errText(e)); render(); }
    };
    recording = { recorder, stream, pack, key, timer: setTimeout(() => recorder.state !== "inactive" && recorder.stop(), MAX_MS) };
    row.classList.add("recording");
    recorder.start();
    render();
  }

  function stopRecording() {
    if (recording && recording.recorder.state !== "inactive") recording.recorder.stop();
  }

  // ------------------------------------------------------------------ rendering
  function clipRow(p, c) {
    const isRec = recording && recording.pack === p.id && recording.key === c.key;
    const info = p.clips[c.key];
    const prompt = p.lang === "vi" ? c.text
      : c.key.startsWith("digit:") ? c.key.slice(6) + " (" + c.text + ")"
      : c.key.startsWith("letter:") ? c.key.slice(7) : c.text;
    const row = X.el("tr", { class: (info ? "have" : "missing") + (isRec ? " recording" : ""), dataset: { key: c.key } },
      X.el("td", { class: "word" }, prompt),
      X.el("td", { class: "state" }, info ? "✓ " + info.duration_s.toFixed(2) + " s" : t("chưa thu", "missing")),
      X.el("td", {}));
    const cell = row.lastChild;
    const rec = X.el("button", { type: "button", class: "record" + (isRec ? " primary" : "") },
      isRec ? t("Dừng", "Stop") : info ? t("Thu lại", "Record again") : t("Thu", "Record"));
    rec.addEventListener("click", () => (isRec ? stopRecording() : startRecording(p.id, c.key, row)));
    rec.disabled = !!recording && !isRec;
    cell.appendChild(rec);
    if (info) {
      const play = X.el("button", { type: "button", class: "play" }, t("Nghe", "Play"));
      play.addEventListener("click", () => new Audio("/manager/voice/clip.wav?pack=" + p.id + "&key=" + encodeURIComponent(c.key) + "&v=" + p.version).play());
      const del = X.el("button", { type: "button", class: "delete" }, t("Xoá", "Delete"));
      del.addEventListener("click", async () => {
        try { await X.api("POST", "/manager/api/voice/clip-delete", { pack: p.id, key: c.key }); await refresh(); } catch (e) { say(errText(e)); }
      });
      cell.append(" ", play, " ", del);
    }
    return row;
  }

  function render() {
    root.replaceChildren();
    for (const p of state.packs) {
      const lang = state.languages[p.lang] || p.lang;
      const sec = X.el("section", { class: "card vp-pack", dataset: { pack: String(p.id), lang: p.lang } },
        X.el("h2", {}, p.name + " · " + lang),
        p.complete
          ? X.el("p", { class: "vp-complete" }, t("Đủ mọi đoạn: bộ giọng đã hoàn chỉnh.", "Every clip recorded: the pack is complete."))
          : X.el("p", { class: "vp-todo" }, t("Còn thiếu ", "Still needed: ") + p.missing.length + " / " + p.needed.length),
        p.lang === "vi" ? null : X.el("p", { class: "vp-hint" }, t("Đọc mỗi câu, chữ số, chữ cái bằng tiếng " + lang + ".", "Say each phrase, digit and letter in " + lang + ".")));
      const table = X.el("table", { class: "vp-clips" }, X.el("thead", {}, X.el("tr", {},
        X.el("th", {}, t("Từ / câu", "Word / phrase")), X.el("th", {}, t("Đoạn thu", "Clip")), X.el("th", {}, ""))));
      const body = X.el("tbody", {});
      p.needed.forEach((c) => body.appendChild(clipRow(p, c)));
      table.appendChild(body);
      const exp = X.el("a", { href: "/manager/voice/export?pack=" + p.id, class: "export" }, t("Xuất tệp .zip", "Export .zip"));
      const del = X.el("button", { type: "button", class: "delete-pack" }, t("Xoá bộ giọng", "Delete pack"));
      del.addEventListener("click", async () => {
        if (!confirm(t("Xoá bộ giọng này?", "Delete this pack?"))) return;
        try { await X.api("POST", "/manager/api/voice/delete", { pack: p.id }); await refresh(); } catch (e) { say(errText(e)); }
      });
      sec.append(table, X.el("p", { class: "actions" }, exp, " ", del));
      root.appendChild(sec);
    }
  }

  $("vp-new").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = $("vp-name");
    if (!name.value.trim()) {  // said here: the browser's own "required" bubble shows nothing on some screens
      name.setAttribute("aria-invalid", "true");
      name.focus();
      say(t("Hãy nhập tên bộ giọng (ví dụ: Giọng chị Lan) rồi bấm Tạo.", "Type a name for the pack (e.g. Ms Lan's voice), then Create."));
      return;
    }
    name.removeAttribute("aria-invalid");
    try {
      await X.api("POST", "/manager/api/voice/packs", { lang: $("vp-lang").value, name: name.value });
      $("vp-name").value = "";
      await refresh();
      say(t("Đã tạo bộ giọng.", "Pack created."));
    } catch (e) { say(errText(e)); }
  });

  $("vp-import").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const file = $("vp-file").files[0];
    if (!file) return;
    const r = await fetch("/manager/voice/import", { method: "POST", body: file, credentials: "same-origin",
                                                     headers: { "Content-Type": "application/zip", Accept: "application/json", "X-CSRFToken": X.csrf() } });
    const data = await r.json().catch(() => ({}));
    say(r.ok ? t("Đã nhập ", "Imported ") + data.name + " (" + data.clips + ")" : (en ? data.message_en : data.message) || String(r.status));
    if (r.ok) await refresh();
  });

  render();
})();
