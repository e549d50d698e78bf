"""Voice packs page (issue 18): record each clip a pack still needs in the browser, play it back, import and
export a pack as one zip. Registered on the manager blueprint (imported at the end of manager/views.py).

The browser records with MediaRecorder (webm/opus), decodes that itself (Web Audio `decodeAudioData`) and sends
16-bit WAV: the server parses no compressed audio. It trims and levels every clip (center/output/voicepack.py)
and keeps it in the database (center/storage/voicepacks.py). Uploads are raw bodies (audio/wav, application/zip)
on paths outside /manager/api/, so the JSON body parser leaves them alone; their errors answer JSON to a client
that asks for it (the page does).
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, render_template, request

from center.errors import MAX_NAME, Invalid, NotFound, QueueError, clean_text
from center.output import voicepack
from center.queue.clock import to_iso
from center.storage import voicepacks
from center.web.request import center, field, json_body, require

from .views import _audit, bp, page

MAX_CLIP_BYTES = 2 * 1024 * 1024
MAX_IMPORT_BYTES = voicepack.MAX_ZIP_BYTES
# Languages of the citizens the centers name (the code is free: any ISO 639 code works).
LANGUAGES = {"vi": "Tiếng Việt", "tay": "Tày", "nut": "Nùng", "hnj": "H'Mông", "ium": "Dao", "tdd": "Thái",
             "km": "Khmer", "en": "English"}


def _packs_state() -> list[dict[str, Any]]:
    cfg = center().config
    with center().store.read() as conn:
        packs = voicepacks.packs(conn)
    for p in packs:
        needed = voicepack.needed_tokens(cfg, p["lang"])
        p["needed"] = [{"key": t.key, "text": t.text, "have": t.key in p["clips"]} for t in needed]
        p["missing"] = [t.key for t in needed if t.key not in p["clips"]]
        p["complete"] = not p["missing"]
    return packs


def _pack_arg(value: Any) -> dict[str, Any]:
    try:
        pack_id = int(value)
    except (TypeError, ValueError):
        raise Invalid("Thiếu bộ giọng", "pack must be a pack id", code="bad_pack", field="pack") from None
    with center().store.read() as conn:
        p = voicepacks.pack(conn, pack_id)
    if p is None:
        raise NotFound("Không có bộ giọng này", f"No voice pack {pack_id}", code="unknown_pack")
    return p


def _key_arg(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 100:
        raise Invalid("Thiếu tên đoạn thu", "key must name a clip", code="bad_key", field="key")
    return value


def _now() -> str:
    return to_iso(center().engine.clock())


@bp.get("/manager/voice")
def voice_page() -> Any:
    actor = page("admin.settings")
    return render_template("manager/voice.html", actor=actor, packs=_packs_state(), languages=LANGUAGES)


@bp.get("/manager/api/voice")
def voice_packs_json() -> Any:
    require("admin.settings")
    return jsonify({"packs": _packs_state(), "languages": LANGUAGES})


@bp.post("/manager/api/voice/packs")
def voice_pack_create() -> Any:
    actor = require("admin.settings")
    data = json_body()
    lang = field(data, "lang", str, required=True)
    if not voicepack.LANG_RE.match(lang):
        raise Invalid("Mã ngôn ngữ không hợp lệ", "lang must be an ISO 639 code such as vi or km", code="bad_lang",
                      field="lang")
    name = clean_text(data.get("name") if isinstance(data.get("name"), str) else "", "name", limit=MAX_NAME)
    if not name:
        raise Invalid("Cần đặt tên bộ giọng", "name is required", code="missing_field", field="name")
    with center().store.write() as conn:
        try:
            pack_id = voicepacks.create(conn, lang, name, _now())
        except ValueError as e:
            raise Invalid("Đã có quá nhiều bộ giọng", str(e), code="too_many_packs") from None
    _audit(actor, "voice_pack.create", str(pack_id), {"lang": lang, "name": name})
    return jsonify({"id": pack_id, "lang": lang, "name": name}), 201


@bp.post("/manager/api/voice/delete")
def voice_pack_delete() -> Any:
    actor = require("admin.settings")
    p = _pack_arg(json_body().get("pack"))
    with center().store.write() as conn:
        voicepacks.delete(conn, p["id"])
    _audit(actor, "voice_pack.delete", str(p["id"]), {"name": p["name"]})
    return jsonify({"deleted": p["id"]})


@bp.post("/manager/api/voice/clip-delete")
def voice_clip_delete() -> Any:
    actor = require("admin.settings")
    data = json_body()
    p, key = _pack_arg(data.get("pack")), _key_arg(data.get("key"))
    with center().store.write() as conn:
        voicepacks.drop_clip(conn, p["id"], key, _now())
    _audit(actor, "voice_clip.delete", str(p["id"]), {"key": key})
    return jsonify({"pack": p["id"], "key": key})


def _raw_body(limit: int) -> bytes:
    request.max_content_length = limit
    if request.content_length and request.content_length > limit:
        raise QueueError("Tệp quá lớn", f"Body too large (at most {limit} bytes)", code="too_large", status=413)
    return request.get_data(cache=False)


@bp.post("/manager/voice/clip")
def voice_clip_upload() -> Any:
    """A recorded clip (16-bit WAV body) for `?pack=&key=`: trimmed, levelled, stored; answers its duration."""
    actor = require("admin.settings")
    p, key = _pack_arg(request.args.get("pack")), _key_arg(request.args.get("key"))
    if key not in {t.key for t in voicepack.needed_tokens(center().config, p["lang"])}:
        raise Invalid("Bộ giọng không cần đoạn này", f"The pack needs no clip {key!r}", code="bad_key", field="key")
    try:
        wav, duration = voicepack.prepare_clip(_raw_body(MAX_CLIP_BYTES))
    except ValueError as e:
        raise Invalid("Đoạn thu không dùng được (im lặng, quá ngắn hay không phải WAV)", str(e),
                      code="bad_clip") from None
    with center().store.write() as conn:
        voicepacks.put_clip(conn, p["id"], key, wav, duration, _now(), actor.name)
    _audit(actor, "voice_clip.record", str(p["id"]), {"key": key, "duration_s": round(duration, 2)})
    return jsonify({"pack": p["id"], "key": key, "duration_s": round(duration, 3)})


@bp.get("/manager/voice/clip.wav")
def voice_clip_wav() -> Any:
    require("admin.settings")
    p, key = _pack_arg(request.args.get("pack")), _key_arg(request.args.get("key"))
    with center().store.read() as conn:
        data = voicepacks.clip(conn, p["id"], key)
    if data is None:
        raise NotFound("Chưa thu đoạn này", f"No clip {key!r} in this pack", code="no_clip")
    resp = Response(data, mimetype="audio/wav")
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/manager/voice/export")
def voice_pack_export() -> Any:
    require("admin.settings")
    p = _pack_arg(request.args.get("pack"))
    with center().store.read() as conn:
        clips = voicepacks.clips(conn, p["id"])
    texts = {t.key: t.text for t in voicepack.needed_tokens(center().config, p["lang"])}
    resp = Response(voicepack.export_zip(p, clips, texts), mimetype="application/zip")
    safe = "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in p["name"])[:40] or "pack"
    resp.headers["Content-Disposition"] = f'attachment; filename="voice-{p["lang"]}-{safe}.zip"'
    return resp


@bp.post("/manager/voice/import")
def voice_pack_import() -> Any:
    """A zip exported by another center (or this one): a new pack with its clips."""
    actor = require("admin.settings")
    try:
        lang, name, clips = voicepack.import_zip(_raw_body(MAX_IMPORT_BYTES), voicepacks.MAX_CLIPS)
    except ValueError as e:
        raise Invalid("Tệp bộ giọng không hợp lệ", str(e), code="bad_pack_file") from None
    now = _now()
    with center().store.write() as conn:
        try:
            pack_id = voicepacks.create(conn, lang, name, now)
        except ValueError as e:
            raise Invalid("Đã có quá nhiều bộ giọng", str(e), code="too_many_packs") from None
        for key, (wav, duration) in clips.items():
            voicepacks.put_clip(conn, pack_id, key, wav, duration, now, actor.name)
    _audit(actor, "voice_pack.import", str(pack_id), {"lang": lang, "name": name, "clips": len(clips)})
    return jsonify({"id": pack_id, "lang": lang, "name": name, "clips": len(clips)}), 201
