"""Voice packs in the real pages (issue 18), in Debian's chromium against a real server: the manager records a
clip from a (fake) microphone and the server stores it; the display announces a call from its packs, Vietnamese
then a second language, as one audio file."""

from __future__ import annotations

import time

import pytest
import requests

from center.config.read import load_config
from center.output import voicepack
from tests.conftest import PASSWORD
from tests.display_support import fast_voice_config, issue_and_call, wait_until
from tests.voice_pack_support import name_segments, segments, tone_pack, tone_wav


def sign_in(page, server, user: str = "manager") -> None:
    page.goto(server.url + "/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


@pytest.mark.browser
def test_a_clip_recorded_from_the_microphone_is_stored(make_server, browser_type, browser_type_launch_args,
                                                       tmp_path):
    server = make_server()
    mic = tmp_path / "mic.wav"  # what the fake microphone hears, over and over: a 660 Hz tone, then silence
    mic.write_bytes(tone_wav(660, seconds=0.6, amplitude=0.4, rate=48000, lead_s=0.3, tail_s=0.6))
    args = [*browser_type_launch_args.get("args", []), "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={mic}"]
    browser = browser_type.launch(**{**browser_type_launch_args, "args": args})
    try:
        page = browser.new_page()
        sign_in(page, server)
        page.goto(server.url + "/manager/voice")
        page.select_option("#vp-lang", "vi")
        page.fill("#vp-name", "Giọng thử")
        page.click("#vp-new button[type=submit]")
        page.wait_for_selector('section.vp-pack tr[data-key="a"] button.record')
        assert "a" in page.text_content('section.vp-pack tr[data-key="a"] td.word')
        page.click('section.vp-pack tr[data-key="a"] button.record')
        page.wait_for_selector('section.vp-pack tr[data-key="a"].recording')
        time.sleep(2.0)
        page.click('section.vp-pack tr[data-key="a"] button.record')  # now "Stop"
        uploads = wait_until(page, "window.xephangVoiceUploads.length && window.xephangVoiceUploads", 30)
        assert uploads[0]["status"] == 200, uploads
        page.wait_for_selector('section.vp-pack tr[data-key="a"].have')
        pack = int(page.get_attribute("section.vp-pack", "data-pack"))
    finally:
        browser.close()
    stored = server.get("/manager/voice/clip.wav", who="manager", params={"pack": pack, "key": "a"})
    assert stored.status_code == 200
    rate, samples = voicepack.read_wav(stored.content)
    assert rate == voicepack.RATE and abs(voicepack.active_rms(samples) - voicepack.TARGET_RMS) < 0.02
    tones = [seg for seg in segments(stored.content) if seg[1] > 0.3]
    assert tones and all(abs(freq - 660) < 15 for _, _, freq, _ in tones), segments(stored.content)
    listed = server.get("/manager/api/voice", who="manager").json()["packs"][0]
    assert "a" in listed["clips"] and "a" not in listed["missing"]


def _tone_pack_on(server, lang: str, name: str, tokens, base: float, step: float) -> tuple[int, dict]:
    r = server.post("/manager/api/voice/packs", who="manager", json={"lang": lang, "name": name})
    assert r.status_code == 201, r.text
    pack = r.json()["id"]
    clips, names = tone_pack(tokens, base=base, step=step)
    for key, wav in clips.items():
        up = server.post("/manager/voice/clip", who="manager", params={"pack": pack, "key": key}, data=wav,
                         headers={"Content-Type": "audio/wav", "Accept": "application/json"})
        assert up.status_code == 200, up.text
    return pack, names


@pytest.mark.browser
def test_the_display_announces_a_call_from_its_packs_in_two_languages(make_server, page, tmp_path):
    config_path = fast_voice_config(tmp_path)
    server = make_server(config=config_path)
    config = load_config(config_path)
    vi, vi_names = _tone_pack_on(server, "vi", "Tiếng Việt", voicepack.needed_tokens(config, "vi"), 300, 50)
    km, km_names = _tone_pack_on(server, "km", "Khmer", voicepack.needed_tokens(config, "km"), 2000, 40)
    assert server.post("/display/main-hall/voice", who="manager", json={"packs": [vi, km]}).status_code == 200

    page.goto(f"{server.url}/display/main-hall#token={server.tokens['main-hall']}")
    wait_until(page, "document.querySelectorAll('#counters .counter').length > 0 && window.xephangSocket.connected")
    called = issue_and_call(server, counter="main-1")
    number = called["number"]
    wait_until(page, f"window.xephangAnnouncements.some((a) => a.number === '{number}' && a.ended_at)", 60)
    (rec,) = [a for a in page.evaluate("window.xephangAnnouncements") if a["number"] == number]
    assert rec["mode"] == "pack" and rec["readings"] == 1
    fetched = [u for u in page.evaluate("performance.getEntriesByType('resource').map((e) => e.name)")
               if "/display/main-hall/announce.wav" in u and f"number={number}" in u]
    assert fetched and all("form=once" in u for u in fetched), fetched
    assert any(u.endswith("/display/main-hall/chime.wav") for u in page.evaluate(
        "performance.getEntriesByType('resource').map((e) => e.name)"))

    audio = requests.get(fetched[0], timeout=30)
    named = name_segments(segments(audio.content), {**vi_names, **km_names})
    counter = 1
    from center.output.voice import call_tokens

    expected = [t.key for t in call_tokens(config.voice, number, counter)] + [
        t.key for t in call_tokens(config.voice, number, counter, lang="km")]
    assert named == expected
