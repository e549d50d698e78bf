// Call announcements for the waiting-room display and the settings page.
// The voice follows the queue's state, and keeps up with a burst of calls (docs/display.md, Voice):
// - a call is announced only while it is still current: `isCurrent(item)` (given by the page) is asked
//   when the call is queued, whenever the page learns something new (`prune()`), and before every
//   reading; a call whose ticket was served, marked no-show, transferred or called again is dropped;
// - the queue holds at most one call per ticket: a later call of the same ticket (a recall, a call at
//   another counter) takes the place of the earlier one still waiting; once announced, a recall is
//   announced again, as a new call;
// - a chime opens a run of announcements; the first call of a run is read with the configured sentence,
//   the calls that follow in the same run with the short one ("Mời số … đến quầy …"); a call is read a
//   second time (`repeat`) at once only if no other call waits; otherwise it is read again after every
//   waiting call has had its turn, if it is still current then;
// - a reading is never cut off by a new call.
// Voice: the display's voice packs when it has some (`voice.pack`: one WAV per reading, every language of the
// display in it, so the rules above apply to the whole; mode "pack"); else the browser's speech synthesis
// when it has a Vietnamese voice; otherwise the WAV the server renders with espeak-ng; otherwise the chime alone. Every announcement is recorded in
// window.xephangAnnouncements ({number, counter, ticket, call_count, text, form, readings, again, mode,
// queued_at, started_at, ended_at}; started_at is when its first sound starts playing) and in a DOM log.
(function () {
  "use strict";

  window.xephangAnnouncements = window.xephangAnnouncements || [];
  const MAX_LOG = 50;
  const GAP_MS = 350;  // between two calls of a run (the server trims the silence after each reading)
  const REPEAT_GAP_MS = 700;  // between two readings of the same call
  const AGAIN_MAX_MS = 120000;  // a call not read again within 2 minutes is not read again

  function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

  function viVoice() {
    if (!("speechSynthesis" in window)) return null;
    return speechSynthesis.getVoices().find((v) => (v.lang || "").toLowerCase().replace("_", "-").startsWith("vi")) || null;
  }
  function enVoice() {
    if (!("speechSynthesis" in window)) return null;
    return speechSynthesis.getVoices().find((v) => (v.lang || "").toLowerCase().startsWith("en")) || null;
  }

  // Play an audio URL (or a prepared element) to its end. Resolves "ended"; rejects on error or when
  // autoplay is refused. onStart() runs when the sound really starts playing. A safety timer (duration
  // + 3 s) keeps a stuck audio element from blocking the queue forever.
  function playUrl(url, audio, onStart) {
    return new Promise((resolve, reject) => {
      const a = audio || new Audio(url);
      let done = false;
      let guard = setTimeout(() => finish(null, "timeout"), 30000);
      function finish(err, how) {
        if (done) return;
        done = true;
        clearTimeout(guard);
        a.onended = a.onerror = a.onplaying = null;
        if (err) reject(err); else resolve(how);
      }
      const armGuard = () => {
        if (isFinite(a.duration) && a.duration > 0) {
          clearTimeout(guard);
          guard = setTimeout(() => finish(null, "timeout"), a.duration * 1000 + 3000);
        }
      };
      a.onloadedmetadata = armGuard;
      if (a.readyState >= 1) armGuard();
      a.onplaying = () => { a.onplaying = null; if (onStart) onStart(); };
      a.onended = () => finish(null, "ended");
      a.onerror = () => finish(new Error("audio error"));
      const p = a.play();
      if (p && p.catch) p.catch((e) => finish(e));
    });
  }

  function speak(text, voice, lang, rate, onStart) {
    return new Promise((resolve) => {
      const u = new SpeechSynthesisUtterance(text);
      u.lang = lang; if (voice) u.voice = voice; u.rate = rate || 0.8;
      const guard = setTimeout(resolve, 4000 + text.length * 150);
      u.onstart = () => { if (onStart) onStart(); };
      u.onend = u.onerror = () => { clearTimeout(guard); resolve(); };
      speechSynthesis.speak(u);
    });
  }

  // opts: {chimeUrl, announceUrl, textUrl, voice: {repeat, rate}, mode: "auto"|"server"|"browser"|"chime",
  //        isCurrent(item) -> bool, logEl, onBlocked(), onWarning(msg)}
  // item: {number, counter (its number), ticket, call_count, counter_id, recall, test}
  function Announcer(opts) {
    const queue = [];  // calls not announced yet, in call order
    const again = [];  // calls read once while others waited, to read again when nothing waits
    let busy = false;
    const repeat = () => Math.max(1, (opts.voice && opts.voice.repeat) || 1);
    const q = (item) => "number=" + encodeURIComponent(item.number) + "&counter=" + encodeURIComponent(item.counter);
    const current = (item) => item.test || !opts.isCurrent || opts.isCurrent(item);
    const sameTicket = (a, b) => a.ticket !== undefined && a.ticket !== null && a.ticket === b.ticket;

    function texts(item) {
      if (!item.texts) {
        item.texts = fetch(opts.textUrl + "?" + q(item), { headers: { Accept: "application/json" } })
          .then((r) => (r.ok ? r.json() : null)).catch(() => null)
          .then((t) => t || { text: item.number + " → " + item.counter, short_text: null, text_en: null });
      }
      return item.texts;
    }
    const audioUrl = (item, form) => opts.announceUrl + "?" + q(item) + "&form=" + form;
    // The server renders each reading once and keeps it: asking early hides espeak-ng's time.
    const pack = () => !!(opts.voice && opts.voice.pack) && opts.mode !== "chime" && opts.mode !== "browser";
    function warm(item, form) {
      if (!pack() && (opts.mode === "chime" || opts.mode === "browser" || (opts.mode !== "server" && viVoice()))) return;
      fetch(audioUrl(item, form)).then((r) => r.arrayBuffer()).catch(() => {});
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

    function prune() {
      for (const list of [queue, again]) {
        for (let i = list.length - 1; i >= 0; i--) if (!current(list[i])) list.splice(i, 1);
      }
    }

    // One reading in the voice this browser has; resolves the mode used.
    async function reading(item, t, form, onStart) {
      const mode = opts.mode || "auto";
      if (pack() && form !== "en") {
        try {
          await playUrl(audioUrl(item, form === "full" ? "once" : form), null, onStart);
          return "pack";
        } catch (e) {
          if (e && e.name === "NotAllowedError" && opts.onBlocked) opts.onBlocked();
          else if (opts.onWarning) opts.onWarning("pack_voice_failed");
          return "chime";
        }
      }
      const browserVoice = mode === "browser" || mode === "auto" ? viVoice() : null;
      const rate = opts.voice && opts.voice.rate;
      if (browserVoice) {
        const text = form === "en" ? t.text_en : form === "short" && t.short_text ? t.short_text : t.text;
        await speak(text, form === "en" ? enVoice() : browserVoice, form === "en" ? "en-US" : "vi-VN", rate, onStart);
        return "browser";
      }
      if (mode === "auto" || mode === "server") {
        try {
          await playUrl(audioUrl(item, form === "full" ? "once" : form), null, onStart);
          return "server";
        } catch (e) {
          if (e && e.name === "NotAllowedError" && opts.onBlocked) opts.onBlocked();
          else if (opts.onWarning) opts.onWarning("server_voice_failed");
          return "chime";
        }
      }
      return "chime";
    }

    // Announce one call: the chime if it opens a run, then its readings. Returns the mode used, or null if
    // the call was dropped.
    async function one(item, { chime, form, isAgain }) {
      if (!current(item)) return null;
      const t = await texts(item);
      const rec = { number: item.number, counter: item.counter, ticket: item.ticket, call_count: item.call_count,
                    recall: !!item.recall, test: !!item.test, text: form === "short" && t.short_text ? t.short_text : t.text,
                    form, readings: 0, again: !!isAgain, chime: !!chime, mode: null,
                    queued_at: item.queued_at, started_at: null, ended_at: null };
      const started = () => { if (rec.started_at === null) rec.started_at = Date.now(); };
      if (chime) {
        try { await playUrl(opts.chimeUrl, null, started); } catch (e) {
          if (e && e.name === "NotAllowedError" && opts.onBlocked) opts.onBlocked();
        }
        if (!current(item)) return null;  // ended while the chime played: its number is not read
      }
      const wanted = isAgain ? 1 : repeat() - (item.readings || 0);
      for (let i = 0; i < wanted; i++) {
        if (i > 0) {
          if (queue.length || !current(item)) break;  // others wait: they go first, this one comes again later
          await sleep(REPEAT_GAP_MS);
          if (queue.length || !current(item)) break;
        }
        const mode = await reading(item, t, form, started);
        if (!rec.mode || mode !== "chime") rec.mode = mode;
        rec.readings += 1;
        item.readings = (item.readings || 0) + 1;
        if (mode === "chime") break;
      }
      if (t.text_en && !pack() && !isAgain && !queue.length && current(item) && rec.mode !== "chime") {
        await reading(item, t, "en", started);
      }
      if (rec.started_at === null) rec.started_at = Date.now();
      rec.ended_at = Date.now();
      logEntry(rec);
      if (!isAgain && item.readings < repeat() && current(item) && rec.mode !== "chime") {
        item.again_until = Date.now() + AGAIN_MAX_MS;
        again.push(item);
      }
      return rec.mode;
    }

    async function pump() {
      if (busy) return;
      busy = true;
      let inRun = false;
      let lastMode = null;
      try {
        for (;;) {
          prune();
          let item = queue.shift();
          let isAgain = false;
          if (!item) {
            while (again.length && again[0].again_until < Date.now()) again.shift();
            item = again.shift();
            isAgain = !!item;
          }
          if (!item) break;
          // The first call of a run gets the chime and the configured sentence; the calls that follow it
          // (listeners already attentive) the short one.
          const form = inRun || isAgain ? "short" : "full";
          if (queue.length) warm(queue[0], "short");
          let spoke = null;
          try {
            // Without a voice, the chime is all there is: every call gets it.
            spoke = await one(item, { chime: !inRun || lastMode === "chime", form, isAgain });
          } catch (e) { /* never stop the queue */ }
          if (spoke) {
            lastMode = spoke;
            inRun = true;
            await sleep(GAP_MS);
          }
        }
      } finally { busy = false; }
    }

    return {
      enqueue(item) {
        item = { ...item, queued_at: Date.now(), readings: 0 };
        for (let i = again.length - 1; i >= 0; i--) if (sameTicket(again[i], item)) again.splice(i, 1);
        const at = queue.findIndex((x) => sameTicket(x, item));
        if (at >= 0) queue[at] = item; else queue.push(item);
        texts(item);
        warm(item, busy ? "short" : "once");
        prune();
        pump();
      },
      prune,
      // What waits, for tests: {number, counter, ticket, call_count, again}
      queued() {
        return queue.map((x) => ({ ...x, again: false })).concat(again.map((x) => ({ ...x, again: true })))
          .map(({ number, counter, ticket, call_count, again: a }) => ({ number, counter, ticket, call_count, again: a }));
      },
      busy: () => busy,
      pending() { return queue.length + again.length + (busy ? 1 : 0); },
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
