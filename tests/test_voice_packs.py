"""Voice packs (issue 18): which clips a pack needs, clips trimmed and levelled, a call joined from the right
clips in the right order (cut at its silences, each part named by its tone), espeak-ng for a missing word,
one file per pack, and the routes of the manager's page and of the display, in process."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from center.output import voicepack
from center.output.voice import call_tokens, tokens_text
from tests.voice_pack_support import name_segments, segments, tone_pack, tone_wav


def test_a_call_is_a_list_of_tokens_whose_text_is_the_announcement(demo_config):
    voice = demo_config.voice
    tokens = call_tokens(voice, "A105", 3)
    assert [t.key for t in tokens] == ["xin mời công dân có số thứ tự", "a", "một", "trăm", "linh", "năm",
                                       "đến quầy số", "ba"]
    assert tokens_text(tokens) == "Xin mời công dân có số thứ tự, a, một trăm linh năm, đến quầy số, ba"
    assert [t.key for t in call_tokens(voice, "A024", 12, form="short")] == [
        "mời số", "a", "hai", "mươi", "tư", "đến quầy", "mười", "hai"]
    # Another language reads digit by digit, its phrases are slots the speaker says in that language.
    assert [t.key for t in call_tokens(voice, "B105", 12, lang="km")] == [
        "lead", "letter:B", "digit:1", "digit:0", "digit:5", "to_counter", "digit:1", "digit:2"]


def test_the_clips_a_pack_needs_follow_the_config(demo_config):
    vi = [t.key for t in voicepack.needed_tokens(demo_config, "vi")]
    assert vi[0] == "chime" and len(vi) == len(set(vi))
    assert {"xin mời công dân có số thứ tự", "đến quầy số", "mời số", "đến quầy", "a", "bê", "mươi", "mốt", "lăm",
            "tư", "trăm", "linh", "nghìn", "không", "chín"} <= set(vi)
    assert "lẻ" not in vi and "triệu" not in vi
    southern = dataclasses.replace(demo_config, voice=dataclasses.replace(demo_config.voice, southern=True))
    assert "lẻ" in {t.key for t in voicepack.needed_tokens(southern, "vi")}
    digits = dataclasses.replace(demo_config, voice=dataclasses.replace(demo_config.voice, read_digits=True))
    assert not {"mươi", "trăm"} & {t.key for t in voicepack.needed_tokens(digits, "vi")}
    km = [t.key for t in voicepack.needed_tokens(demo_config, "km")]
    assert km[:5] == ["chime", "lead", "to_counter", "short_lead", "short_to_counter"]
    assert {f"digit:{d}" for d in range(10)} <= set(km) and "letter:A" in km and "mươi" not in km


def test_a_clip_is_converted_trimmed_and_levelled():
    wav, duration = voicepack.prepare_clip(tone_wav(440, rate=48000, channels=2, amplitude=0.02, lead_s=0.5,
                                                    tail_s=0.7))
    rate, samples = voicepack.read_wav(wav)
    assert rate == voicepack.RATE
    assert 0.25 <= duration <= 0.25 + 0.04 + 0.08 + 0.02  # the silence around the tone is gone, margins kept
    assert abs(voicepack.active_rms(samples) - voicepack.TARGET_RMS) < 0.01
    (seg,) = segments(wav)
    assert abs(seg[2] - 440) < 10
    with pytest.raises(ValueError, match="silent"):
        voicepack.prepare_clip(tone_wav(440, amplitude=0.0))
    with pytest.raises(ValueError, match="WAV"):
        voicepack.prepare_clip(b"RIFF....webm")


def _prepared(clips: dict[str, bytes]) -> dict[str, bytes]:
    return {k: voicepack.prepare_clip(v)[0] for k, v in clips.items()}


def test_a_call_is_the_right_clips_in_the_right_order_at_one_loudness(demo_config):
    voice = demo_config.voice
    clips, names = tone_pack(voicepack.needed_tokens(demo_config, "vi"))
    data, fell_back = voicepack.call_wav(voice, [("vi", _prepared(clips))], "A1023", 3)
    assert not fell_back
    found = segments(data)
    assert name_segments(found, names) == [t.key for t in call_tokens(voice, "A1023", 3)]
    assert "nghìn" in name_segments(found, names)
    loudness = [rms for *_, rms in found]
    assert all(0.09 <= r <= 0.15 for r in loudness), loudness  # recorded at 0.05–0.45 amplitude, levelled alike
    # Longer gaps at the commas (after the lead phrase, between the letter and the number) than between words.
    gaps = [b[0] - (a[0] + a[1]) for a, b in zip(found, found[1:], strict=False)]
    assert gaps[0] > gaps[2] + 0.1 and gaps[1] > gaps[2] + 0.1


def test_a_missing_clip_falls_back_in_its_place(demo_config):
    voice = demo_config.voice
    clips, names = tone_pack(voicepack.needed_tokens(demo_config, "vi"))
    del clips["mươi"], clips["đến quầy số"]
    spoken = []

    def fake_espeak(text: str) -> bytes:
        spoken.append(text)
        return tone_wav(2900, amplitude=0.6)

    data, fell_back = voicepack.call_wav(voice, [("vi", _prepared(clips))], "A023", 3, fallback=fake_espeak)
    assert fell_back == ["mươi", "đến quầy số"] and spoken == ["mươi", "đến quầy số"]
    found = segments(data)
    assert name_segments(found, {**names, 2900: "espeak"}) == [
        "xin mời công dân có số thứ tự", "a", "hai", "espeak", "ba", "espeak", "ba"]
    assert all(0.09 <= rms <= 0.15 for *_, rms in found)


def test_two_languages_one_after_the_other(demo_config):
    voice = demo_config.voice
    vi, vi_names = tone_pack(voicepack.needed_tokens(demo_config, "vi"), base=300)
    km, km_names = tone_pack(voicepack.needed_tokens(demo_config, "km"), base=2600, step=40)
    data, _ = voicepack.call_wav(voice, [("vi", _prepared(vi)), ("km", _prepared(km))], "B12", 4)
    found = segments(data)
    named = name_segments(found, {**vi_names, **km_names})
    vi_keys = [t.key for t in call_tokens(voice, "B12", 4)]
    assert named == vi_keys + ["lead", "letter:B", "digit:1", "digit:2", "to_counter", "digit:4"]
    between = found[len(vi_keys)][0] - (found[len(vi_keys) - 1][0] + found[len(vi_keys) - 1][1])
    assert between >= voicepack.LANG_GAP_S


def test_a_pack_exports_and_imports_as_one_zip(demo_config):
    clips = _prepared(tone_pack(voicepack.needed_tokens(demo_config, "km"))[0])
    data = voicepack.export_zip({"lang": "km", "name": "Khmer – Sóc Trăng"}, clips, {"lead": "Xin mời"})
    lang, name, back = voicepack.import_zip(data)
    assert (lang, name, set(back)) == ("km", "Khmer – Sóc Trăng", set(clips))
    for key, (wav, _) in back.items():
        assert abs(segments(wav)[0][2] - segments(clips[key])[0][2]) < 5
    with pytest.raises(ValueError, match="voice pack"):
        voicepack.import_zip(b"PK not a zip")


# ------------------------------------------------------------------------------------------------ routes


def _upload(web, pack: int, key: str, wav: bytes, who: str = "manager"):
    return web.post("/manager/voice/clip", who=who, query_string={"pack": pack, "key": key}, data=wav,
                    headers={"Content-Type": "audio/wav", "Accept": "application/json"})


def _make_pack(web, lang: str, name: str, tokens, *, base: float, step: float = 50, skip=()) -> tuple[int, dict]:
    r = web.post("/manager/api/voice/packs", who="manager", json={"lang": lang, "name": name})
    assert r.status_code == 201, r.get_data(as_text=True)
    pack = r.get_json()["id"]
    clips, names = tone_pack(tokens, base=base, step=step)
    for key, wav in clips.items():
        if key not in skip:
            assert _upload(web, pack, key, wav).status_code == 200
    return pack, names


def test_the_manager_records_a_pack_and_a_display_announces_from_it_in_two_languages(web, demo_config):
    vi_tokens = voicepack.needed_tokens(demo_config, "vi")
    vi, vi_names = _make_pack(web, "vi", "Giọng chị Lan", vi_tokens, base=300, skip={"lăm"})
    state = {p["id"]: p for p in web.get("/manager/api/voice", who="manager").get_json()["packs"]}
    assert state[vi]["missing"] == ["lăm"] and not state[vi]["complete"]
    assert _upload(web, vi, "lăm", tone_wav(2950)).status_code == 200
    assert web.get("/manager/api/voice", who="admin").get_json()["packs"][0]["complete"]
    played = web.get("/manager/voice/clip.wav", who="manager", query_string={"pack": vi, "key": "mươi"})
    assert played.status_code == 200
    assert name_segments(segments(played.data), vi_names) == ["mươi"]
    # Refused: a clip the pack does not need, a silent one, staff.
    assert _upload(web, vi, "xyz", tone_wav(400)).status_code == 422
    assert _upload(web, vi, "mươi", tone_wav(400, amplitude=0)).get_json()["error"] == "bad_clip"
    assert _upload(web, vi, "mươi", tone_wav(400), who="staff1").status_code == 403

    km_tokens = voicepack.needed_tokens(demo_config, "km")
    km, km_names = _make_pack(web, "km", "Khmer", km_tokens, base=3100, step=40, skip={"digit:3"})
    r = web.post("/display/main-hall/voice", who="manager", json={"packs": [vi, km]})
    assert r.status_code == 200, r.get_data(as_text=True)
    page = web.get("/display/main-hall", who=None).get_data(as_text=True)
    config = json.loads(re.search(r'<script type="application/json" id="page-config">(.*?)</script>', page, re.S)[1])
    assert config["voice"]["pack"] and config["announce_url"] == "/display/main-hall/announce.wav"
    assert config["chime_url"] == "/display/main-hall/chime.wav"

    r = web.get(config["announce_url"], who=None, query_string={"number": "A025", "counter": 3, "form": "once"})
    assert r.status_code == 200 and r.mimetype == "audio/wav"
    named = name_segments(segments(r.data), {**vi_names, 2950: "lăm", **km_names}, tolerance=12)
    # Vietnamese from its clips, then Khmer, whose missing "3" espeak-ng says (a sound of no tone of ours).
    assert named[:8] == ["xin mời công dân có số thứ tự", "a", "hai", "mươi", "lăm", "đến quầy số", "ba", "lead"]
    assert named[8:12] == ["letter:A", "digit:0", "digit:2", "digit:5"] and named[12] == "to_counter"
    assert named[-1].startswith("?")
    assert web.get("/display/main-hall/chime.wav", who=None).data == web.get(
        "/manager/voice/clip.wav", query_string={"pack": vi, "key": "chime"}).data

    settings = web.get("/display/main-hall/settings", who="manager").get_data(as_text=True)
    assert 'data-key="digit:3"' in settings and "espeak-ng" in settings
    assert web.post("/display/main-hall/voice", who="manager", json={"packs": [999]}).status_code == 422
    assert web.post("/display/main-hall/voice", who="staff1", json={"packs": []}).status_code == 403


def test_export_then_import_through_the_page_routes(web, demo_config):
    pack, _ = _make_pack(web, "km", "Khmer", voicepack.needed_tokens(demo_config, "km")[:4], base=500)
    exported = web.get("/manager/voice/export", who="manager", query_string={"pack": pack})
    assert exported.status_code == 200 and exported.mimetype == "application/zip"
    r = web.post("/manager/voice/import", who="manager", data=exported.data,
                 headers={"Content-Type": "application/zip", "Accept": "application/json"})
    assert r.status_code == 201 and r.get_json()["clips"] == 4
    bad = web.post("/manager/voice/import", who="manager", data=b"nope",
                   headers={"Content-Type": "application/zip", "Accept": "application/json"})
    assert bad.status_code == 422 and bad.get_json()["error"] == "bad_pack_file"
    assert web.post("/manager/api/voice/delete", who="manager", json={"pack": pack}).status_code == 200
    assert len(web.get("/manager/api/voice").get_json()["packs"]) == 1
