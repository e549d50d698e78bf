"""Waiting-room display (TV), its settings page, voice audio, and the public status page.

* `/display/<id>`: public HTML; the socket connects with the device token kept by the browser
  (`#token=...` once) or without one (public state only). Which counters and services it shows comes
  from the display's entry in config.toml.
* `/display/announce.wav?number=A023&counter=3`: the call rendered by espeak-ng and cached on disk.
  Only a ticket number and a configured counter number are accepted: it is not an open TTS endpoint.
* `/display/<id>/announce.wav`: the call joined from the voice packs chosen for that display (issue 18),
  one language after the other; `/display/<id>/chime.wav` the first pack's recorded chime.
* `/display/<id>/settings`: for managers: voice check, voice packs, test announcement, notice line.
* `/status/<site>`: for citizens' phones and a screen at the gate.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request, url_for

from center.config.model import Config, Display, Site
from center.errors import Invalid, NotFound, QueueError
from center.output import voicepack
from center.output.voice import TICKET_RE, VoiceCache, announcement, chime_wav, espeak_available, speak_wav
from center.queue.clock import to_iso
from center.queue.events import Event
from center.storage import audit, settings, voicepacks
from center.web.pages import signed_in
from center.web.request import center, field, json_body, json_route, require, text_field

bp = Blueprint("display", __name__, template_folder="templates", static_folder="static",
               static_url_path="/display/static")

_chime: bytes | None = None


def _display(display_id: str) -> tuple[Display, Site]:
    cfg = center().config
    d = cfg.display(display_id)
    if d is None:
        raise NotFound(f"Không có màn hình '{display_id}'", f"No display '{display_id}'", code="unknown_display")
    return d, cfg.sites[d.site]


def _site(code: str) -> Site:
    site = center().config.sites.get(code)
    if site is None:
        raise NotFound(f"Không có điểm tiếp nhận '{code}'", f"No site '{code}'", code="unknown_site")
    return site


def voice_cache() -> VoiceCache:
    """This app's cache of rendered calls, next to its database (kept on the app: `Center.voice_cache`)."""
    c = center()
    with c.lock:
        if c.voice_cache is None:
            base = Path("var") if c.store.path == ":memory:" else Path(c.store.path).parent
            c.voice_cache = VoiceCache(base / "voice-cache")
        return c.voice_cache


# ------------------------------------------------------------------------------------------------
# Notice line (center/storage/settings.py keeps it, per site)


def read_notice(site: str) -> str:
    with center().store.connection() as conn:
        return settings.notice(conn, site)


def write_notice(site: str, text: str, actor_name: str) -> None:
    c = center()
    with c.store.write() as conn:
        now = to_iso(c.engine.clock())
        settings.set_notice(conn, site, text, c.config.sites, now, actor_name)
        audit.record(conn, now, actor_name, "", f"display_notice:{site}")


@bp.post("/display/notice")
@json_route
def set_notice() -> Any:
    require("admin.settings")
    data = json_body()
    site = field(data, "site", str, required=True)
    _site(site)
    actor = require("admin.settings", site=site)
    text = " ".join((text_field(data, "text") or "").split())  # one line on the screen
    write_notice(site, text, actor.name)
    payload = {"site": site, "text": text}
    center().engine.publish([Event("notice.updated", site, payload)])
    return jsonify(payload)


@bp.get("/display/notice/<site>")
@json_route
def get_notice(site: str) -> Any:
    _site(site)
    return jsonify({"site": site, "text": read_notice(site)})


# ------------------------------------------------------------------------------------------------
# Pages


def _page_config(display: Display | None, site: Site, cfg: Config) -> dict[str, Any]:
    packs = display_packs(display.id) if display else []
    counters = [c for c in site.counters if display is None or not display.counters or c.id in display.counters]
    services = [s for s in site.services if display is None or not display.services or s in display.services]
    return {
        "display": display.id if display else None,
        "site": site.code,
        "timezone": cfg.timezone,
        "counters": [c.id for c in counters],
        "services": services,
        "voice": {"repeat": cfg.voice.repeat, "rate": cfg.voice.rate, "english": cfg.voice.english,
                  "read_digits": cfg.voice.read_digits, "pack": bool(packs),
                  "languages": [p["lang"] for p in packs]},
        "announce_url": url_for("display.pack_announce_wav", display_id=display.id) if packs
        else url_for("display.announce_wav"),
        "chime_url": url_for("display.pack_chime", display_id=display.id) if packs else url_for("display.chime"),
        "text_url": url_for("display.announce_text"),
    }


@bp.get("/display/<display_id>")
def display_page(display_id: str) -> Any:
    d, site = _display(display_id)
    cfg = center().config
    return render_template("display/display.html", display=d, site=site,
                           page=_page_config(d, site, cfg), notice=read_notice(site.code))


@bp.get("/display/<display_id>/settings")
def settings_page(display_id: str) -> Any:
    d, site = _display(display_id)
    actor = signed_in()
    require("admin.settings", site=site.code)
    cfg = center().config
    with center().store.read() as conn:
        packs = voicepacks.packs(conn)
    chosen = {p["id"]: p for p in display_packs(d.id)}
    gaps = {pid: voicepack.missing(cfg, p["lang"], p["clips"]) for pid, p in chosen.items()}
    return render_template("display/settings.html", display=d, site=site, actor=actor, voice=cfg.voice,
                           page=_page_config(d, site, cfg), notice=read_notice(site.code),
                           espeak=espeak_available(), packs=packs, chosen=list(chosen), gaps=gaps)


@bp.post("/display/<display_id>/test")
@json_route
def test_announcement(display_id: str) -> Any:
    """Make the display itself play a test call (chime and voice) where it hangs."""
    d, site = _display(display_id)
    require("admin.settings", site=site.code)
    counter = site.counters[0].number if site.counters else 1
    payload = {"display": d.id, "number": "A001", "counter": counter}
    center().engine.publish([Event("display.test", site.code, payload)])
    return jsonify(payload)


@bp.get("/status/<site>")
def status_page(site: str) -> Any:
    s = _site(site)
    cfg = center().config
    return render_template("display/status.html", site=s, page=_page_config(None, s, cfg))


# ------------------------------------------------------------------------------------------------
# Voice


def _announcement_args() -> tuple[str, int, bool | None]:
    number = (request.args.get("number") or "").strip().upper()
    counter_arg = request.args.get("counter") or ""
    if not TICKET_RE.match(number):
        raise Invalid("Số thứ tự không hợp lệ", "number must look like A023 or 1023", code="bad_number",
                      field="number")
    known = {c.number for s in center().config.sites.values() for c in s.counters}
    if not counter_arg.isdigit() or int(counter_arg) not in known:
        raise Invalid("Quầy không có trong cấu hình", "counter must be a configured counter number",
                      code="bad_counter", field="counter")
    digits = request.args.get("digits")
    return number, int(counter_arg), (None if digits is None else digits == "1")


@bp.get("/display/announce.txt")
@json_route
def announce_text() -> Any:
    """The texts a browser voice speaks (same rules as the server audio)."""
    number, counter, digits = _announcement_args()
    voice = center().config.voice
    ann = announcement(voice, number, counter, read_digits=digits)
    return jsonify({"number": ann.number, "counter": ann.counter, "text": ann.text, "text_en": ann.text_en,
                    "short_text": ann.short_text, "display_text": ann.display_text, "repeat": voice.repeat,
                    "rate": voice.rate})


FORMS = ("full", "once", "short", "en")


@bp.get("/display/announce.wav")
@json_route
def announce_wav() -> Any:
    """`form`: `full` (default) the readings joined as configured, then the English line; `once` one reading;
    `short` the short sentence read while other calls wait; `en` the English line. The display plays
    `once`/`short`/`en` and decides itself how many readings there is time for."""
    number, counter, digits = _announcement_args()
    form = request.args.get("form") or "full"
    if form not in FORMS:
        raise Invalid("Dạng đọc không hợp lệ", f"form must be one of {', '.join(FORMS)}", code="bad_form",
                      field="form")
    voice = center().config.voice
    ann = announcement(voice, number, counter, read_digits=digits)
    if form == "en" and not ann.text_en:
        raise NotFound("Cấu hình không có câu tiếng Anh", "No English line is configured", code="no_english")
    if not espeak_available():
        raise QueueError("Máy chủ chưa cài espeak-ng: chỉ phát chuông", "espeak-ng is not installed on the server",
                         code="no_tts", status=503)
    try:
        cache = voice_cache()
        if form == "full":
            data = cache.announcement_wav(voice, ann)
        elif form == "en":
            data = cache.reading_wav(ann.text_en or "", rate=voice.rate, lang="en")
        else:
            data = cache.reading_wav(ann.short_text if form == "short" else ann.text, rate=voice.rate)
    except Exception as e:  # noqa: BLE001 - any renderer failure becomes a clear 503, the display plays the chime
        raise QueueError("Không tạo được âm thanh gọi số", f"Speech rendering failed: {e}", code="tts_failed",
                         status=503) from None
    resp = Response(data, mimetype="audio/wav")
    resp.headers["Cache-Control"] = "public, max-age=86400"
    return resp


@bp.get("/display/chime.wav")
def chime() -> Any:
    global _chime
    if _chime is None:
        _chime = chime_wav()
    resp = Response(_chime, mimetype="audio/wav")
    resp.headers["Cache-Control"] = "public, max-age=86400"
    return resp


@bp.get("/display/voice-status")
@json_route
def voice_status() -> Any:
    return jsonify({"espeak": espeak_available(), "voice": "vi"})


# ------------------------------------------------------------------------------------------------
# Voice packs (center/output/voicepack.py): recorded clips joined per call, per display


def display_packs(display_id: str) -> list[dict[str, Any]]:
    """The packs chosen for a display that still exist, in order, each with its clips' keys."""
    with center().store.read() as conn:
        ids = settings.display_voice_packs(conn, display_id)
        known = {p["id"]: p for p in voicepacks.packs(conn)} if ids else {}
    return [known[i] for i in ids if i in known]


@bp.post("/display/<display_id>/voice")
@json_route
def set_voice_packs(display_id: str) -> Any:
    """Choose the packs a display announces with: [] back to espeak-ng / the browser's voice."""
    d, site = _display(display_id)
    actor = require("admin.settings", site=site.code)
    packs = field(json_body(), "packs", list, required=True)
    c = center()
    with c.store.write() as conn:
        if len(packs) > 3 or len(set(packs)) != len(packs) or any(
                isinstance(p, bool) or not isinstance(p, int) or voicepacks.pack(conn, p) is None for p in packs):
            raise Invalid("Bộ giọng không hợp lệ", "packs must be up to 3 distinct existing pack ids",
                          code="bad_packs", field="packs")
        now = to_iso(c.engine.clock())
        settings.set_display_voice_packs(conn, d.id, packs, now, actor.name)
        audit.record(conn, now, actor.name, actor.role, "display_voice", d.id, {"packs": packs})
    return jsonify({"display": d.id, "packs": packs})


def _fallback(rate: float) -> Any:
    def speak(text: str) -> bytes:
        if not espeak_available():
            raise QueueError("Máy chủ chưa cài espeak-ng", "espeak-ng is not installed", code="no_tts", status=503)
        return voice_cache().cached("\n".join(["w1", str(rate), text]), lambda: speak_wav(text, rate=rate))
    return speak


@bp.get("/display/<display_id>/announce.wav")
@json_route
def pack_announce_wav(display_id: str) -> Any:
    """The call from the display's packs, one language after the other (`form` once or short): one file, so
    that the display's queue (drop what is no longer current, short sentences at peaks) treats it whole."""
    d, _site_ = _display(display_id)
    number, counter, digits = _announcement_args()
    form = request.args.get("form") or "once"
    if form not in ("once", "full", "short"):
        raise Invalid("Dạng đọc không hợp lệ", "form must be once or short", code="bad_form", field="form")
    packs = display_packs(d.id)
    if not packs:
        raise NotFound("Màn hình chưa chọn bộ giọng", "No voice pack is chosen for this display", code="no_pack")
    voice = center().config.voice
    if digits is not None:
        voice = dataclasses.replace(voice, read_digits=digits)
    kind = "short" if form == "short" else "full"
    key = "\n".join(["p1", kind, number, str(counter), str(voice), *(f"{p['id']}:{p['version']}" for p in packs)])

    def make() -> bytes:
        with center().store.read() as conn:
            languages = [(p["lang"], voicepacks.clips(conn, p["id"])) for p in packs]
        data, _ = voicepack.call_wav(voice, languages, number, counter, form=kind, fallback=_fallback(voice.rate))
        return data

    resp = Response(voice_cache().cached(key, make), mimetype="audio/wav")
    resp.headers["Cache-Control"] = "no-cache"  # a new recording changes it
    return resp


@bp.get("/display/<display_id>/chime.wav")
def pack_chime(display_id: str) -> Any:
    """The chime recorded in the display's first pack that has one, else the synthesised one."""
    d, _site_ = _display(display_id)
    data = None
    packs = display_packs(d.id)
    with center().store.read() as conn:
        for p in packs:
            data = voicepacks.clip(conn, p["id"], voicepack.CHIME.key)
            if data:
                break
    if data is None:
        return chime()
    resp = Response(data, mimetype="audio/wav")
    resp.headers["Cache-Control"] = "no-cache"
    return resp
