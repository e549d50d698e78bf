// Call announcements for the waiting-room display and the settings page.
// Each call is queued: chime, then the Vietnamese announcement (repeated as configured), then the
// next call. A second call never cuts off the first; a recall is announced again.
// Voice: the browser's speech synthesis when it has a Vietnamese voice; otherwise the WAV the server
// renders with espeak-ng; otherwise the chime alone. Every announcement is recorded in
// window.xephangAnnouncements ({number, counter, text, mode, started_at, ended_at}) and in a DOM log.
(function () {
  "use strict";

  window.xephangAnnouncements = window.xephangAnnouncements || [];
  const MAX_LOG = 50;

  function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

  function viVoice() {
    if (!("speechSynthesis" in window)) return null;
    return speechSynthesis.getVoices().find((v) => (v.lang || "").toLowerCase().replace("_", "-").startsWith("vi")) || null;
  }
  function enVoice() {
    if (!("speechSynthesis" in window)) return null;
    return speechSynthesis.getVoices().find((v) => (v.lang || "").toLowerCase().startsWith("en")) || null;
  }

  // Play an audio URL to its end. Resolves "ended"; rejects on error or when autoplay is refused.
  // A safety timer (duration + 3 s) keeps a stuck audio element from blocking the queue forever.
  function playUrl(url, audio) {
    return new Promise((resolve, reject) => {
      const a = audio || new Audio(url);
      let done = false;
      let guard = setTimeout(() => finish(null, "timeout"), 30000);
      function finish(err, how) {
        if (done) return;
        done = true;
        clearTimeout(guard);
        a.onended = a.onerror = null;
        if (err) reject(err); else resolve(how);
      }
      a.onloadedmetadata = () => {
        if (isFinite(a.duration) && a.duration > 0) {
          clearTimeout(guard);
          guard = setTimeout(() => finish(null, "timeout"), a.duration * 1000 + 3000);
        }
      };
      a.onended = () => finish(null, "ended");
      a.onerror = () => finish(new Error("audio error"));
      const p = a.play();
      if (p && p.catch) p.catch((e) => finish(e));
    });
  }

  function speak(text, voice, lang, rate) {
    return new Promise((resolve) => {
      const u = new SpeechSynthesisUtterance(text);
      u.lang = lang; if (voice) u.voice = voice; u.rate = rate || 0.8;
      const guard = setTimeout(resolve, 4000 + text.length * 150);
      u.onend = u.onerror = () => { clearTimeout(guard); resolve(); };
      speechSynthesis.speak(u);
    });
  }

  // opts: {chimeUrl, announceUrl, textUrl, voice: {repeat, rate, english}, mode: "auto"|"server"|"browser"|"chime",
  //        logEl, onBlocked(), onWarning(msg)}
  function Announcer(opts) {
    const queue = [];
    let busy = false;
    const q = (item) => "number=" + encodeURIComponent(item.number) + "&counter=" + encodeURIComponent(item.counter);

    async function texts(item) {
      try {
        const r = await fetch(opts.textUrl + "?" + q(item), { headers: { Accept: "application/json" } });
        if (r.ok) return await r.json();
      } catch (e) { /* server unreachable: fall through */ }
      return { text: item.number + " → " + item.counter, text_en: null, repeat: 1 };
    }

    function logEntry(rec) {
      window.xephangAnnouncements.push(rec);
      if (window.xephangAnnouncements.length > MAX_LOG) window.xephangAnnouncements.shift();
      if (opts.logEl) {
        const li = window.xephang.el("li", { dataset: { number: rec.number, counter: String(rec.counter), mode: rec.mode } },
          rec.number + " → " + rec.counter + " (" + rec.mode + "): " + (rec.text || ""));
        opts.logEl.appendChild(li);
        while (opts.logEl.children.length > MAX_LOG) opts.logEl.removeChild(opts.logEl.firstChild);
      }
    }

    async function one(item) {
      const rec = { number: item.number, counter: item.counter, recall: !!item.recall, test: !!item.test,
                    text: null, mode: null, started_at: Date.now(), ended_at: null };
      const mode = opts.mode || "auto";
      const browserVoice = mode === "browser" || mode === "auto" ? viVoice() : null;
      const useServer = !browserVoice && (mode === "auto" || mode === "server");
      // Start loading the rendered audio while the chime plays.
      let speech = null;
      if (useServer) { speech = new Audio(opts.announceUrl + "?" + q(item)); speech.preload = "auto"; }
      const t = await texts(item);
      rec.text = t.text;
      try { await playUrl(opts.chimeUrl); } catch (e) { if (e && e.name === "NotAllowedError" && opts.onBlocked) opts.onBlocked(); }
      if (browserVoice) {
        rec.mode = "browser";
        const repeat = (opts.voice && opts.voice.repeat) || 1;
        for (let i = 0; i < repeat; i++) {
          await speak(t.text, browserVoice, "vi-VN", opts.voice && opts.voice.rate);
          if (i + 1 < repeat) await sleep(600);
        }
        if (t.text_en) await speak(t.text_en, enVoice(), "en-US", opts.voice && opts.voice.rate);
      } else if (useServer) {
        try {
          await playUrl(null, speech);
          rec.mode = "server";
        } catch (e) {
          rec.mode = "chime";
          if (e && e.name === "NotAllowedError" && opts.onBlocked) opts.onBlocked();
          else if (opts.onWarning) opts.onWarning("server_voice_failed");
        }
      } else {
        rec.mode = "chime";
      }
      rec.ended_at = Date.now();
      logEntry(rec);
    }

    async function pump() {
      if (busy) return;
      busy = true;
      try {
        while (queue.length) {
          const item = queue.shift();
          try { await one(item); } catch (e) { /* never let one failure stop the queue */ }
          await sleep(400);
        }
      } finally { busy = false; }
    }

    return {
      enqueue(item) { queue.push(item); pump(); },
      pending() { return queue.length + (busy ? 1 : 0); },
    };
  }

  // What this browser can do: "browser" (Vietnamese voice), else "server" if espeak-ng answers, else "chime".
  async function capability(statusUrl) {
    if ("speechSynthesis" in window && !viVoice()) {
      await new Promise((r) => { speechSynthesis.onvoiceschanged = r; setTimeout(r, 1000); });
    }
    if (viVoice()) return "browser";
    try {
      const r = await fetch(statusUrl, { headers: { Accept: "application/json" } });
      if (r.ok && (await r.json()).espeak) return "server";
    } catch (e) { /* offline */ }
    return "chime";
  }

  window.xephangVoice = { Announcer, capability, viVoice, playUrl };
})();
