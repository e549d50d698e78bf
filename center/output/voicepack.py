"""Voice packs: calls spoken from clips recorded at the center (issue 18), joined on the server.

A pack is a language and clips keyed by center/output/voice.py's Token.key (center/storage/voicepacks.py keeps
them in the database). Which clips a pack needs follows from config.toml: the template's phrases (and the
short sentence's), the letters of the ticket prefixes in use, and the words the ticket and counter numbers can
need; Vietnamese by voice.py's reading rules, any other language digit by digit (`needed_tokens`).

Clips are normalised once, when stored (`prepare_clip`): mono 16-bit 22,050 Hz, silence trimmed at both ends,
loudness levelled on the voiced part (pure Python on the PCM: no audio library to install). The browser
already sends WAV (it decodes its own webm/opus recording), so the server never parses a compressed format.
A call is the clips of its tokens joined with short gaps (`call_wav`), a longer one at a comma and between
languages; a clip the pack lacks is spoken by espeak-ng and levelled alike, so the call is whole.
"""

from __future__ import annotations

import array
import io
import json
import math
import re
import sys
import wave
import zipfile
from collections.abc import Callable, Iterable
from typing import Any

from ..config.model import Config, Voice
from .voice import DIGITS, SCALES, TICKET_RE, Token, call_tokens, counter_tokens, ticket_tokens

RATE = 22050
CHIME = Token("chime", "♪ chuông / chime")
TARGET_RMS = 0.12  # of full scale, over the voiced windows: every clip as loud as the others
PEAK_MAX = 0.89
WORD_GAP_S = 0.06
PAUSE_S = 0.22
LANG_GAP_S = 0.8
LANG_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
MAX_CLIP_S = 12.0
MAX_ZIP_BYTES = 24 * 1024 * 1024
MANIFEST_FORMAT = "xephang-voice-pack"

Samples = array.array


# ------------------------------------------------------------------------------------------------ PCM


def read_wav(data: bytes) -> tuple[int, Samples]:
    """(rate, mono 16-bit samples) of a PCM WAV; stereo is mixed down; anything else is a ValueError."""
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            channels, width, rate, frames = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            if width != 2 or channels not in (1, 2) or not 8000 <= rate <= 96000:
                raise ValueError("a clip must be 16-bit PCM WAV, mono or stereo, 8–96 kHz")
            if frames > rate * MAX_CLIP_S * 4:
                raise ValueError(f"a clip must be under {MAX_CLIP_S:g} s")
            raw = w.readframes(frames)
    except (wave.Error, EOFError) as e:
        raise ValueError(f"not a WAV file: {e}") from None
    samples = array.array("h", raw[: len(raw) // 2 * 2])
    if sys.byteorder == "big":
        samples.byteswap()
    if channels == 2:
        samples = array.array("h", ((samples[i] + samples[i + 1]) // 2 for i in range(0, len(samples) - 1, 2)))
    return rate, samples


def write_wav(samples: Samples, rate: int = RATE) -> bytes:
    out = io.BytesIO()
    data = array.array("h", samples)
    if sys.byteorder == "big":
        data.byteswap()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.tobytes())
    return out.getvalue()


def resample(samples: Samples, src: int, dst: int = RATE) -> Samples:
    """Linear interpolation: enough for speech going down to 22 kHz (a browser records at 44.1 or 48 kHz)."""
    if src == dst or not samples:
        return array.array("h", samples)
    n = max(1, int(len(samples) * dst / src))
    step, last = src / dst, len(samples) - 1
    out = array.array("h", bytes(2 * n))
    for i in range(n):
        x = i * step
        j = int(x)
        k = min(j + 1, last)
        out[i] = int(samples[j] + (samples[k] - samples[j]) * (x - j))
    return out


def _window_rms(samples: Samples, rate: int, window_s: float = 0.01) -> list[float]:
    w = max(1, int(rate * window_s))
    return [math.sqrt(sum(s * s for s in samples[i:i + w]) / len(samples[i:i + w])) / 32768
            for i in range(0, len(samples), w)]


def active_rms(samples: Samples, rate: int = RATE) -> float:
    """RMS (0..1) over the windows that carry sound (within 26 dB of the loudest): loudness that ignores pauses."""
    windows = _window_rms(samples, rate)
    if not windows:
        return 0.0
    floor = max(windows) * 0.05
    voiced = [r for r in windows if r >= floor and r > 0]
    return math.sqrt(sum(r * r for r in voiced) / len(voiced)) if voiced else 0.0


def trim(samples: Samples, rate: int = RATE, *, before_s: float = 0.04, after_s: float = 0.08) -> Samples:
    """Without the silence before the first and after the last sound (below a tenth of the loudest 10 ms)."""
    windows = _window_rms(samples, rate)
    if not windows:
        return samples
    floor = max(max(windows) * 0.1, 0.004)
    loud = [i for i, r in enumerate(windows) if r >= floor]
    if not loud:
        return samples[:0]
    w = max(1, int(rate * 0.01))
    start = max(0, loud[0] * w - int(rate * before_s))
    end = min(len(samples), (loud[-1] + 1) * w + int(rate * after_s))
    return samples[start:end]


def level(samples: Samples, rate: int = RATE, target: float = TARGET_RMS) -> Samples:
    """Scaled so that its voiced part has RMS `target`, its peak never over PEAK_MAX (no clipping)."""
    rms = active_rms(samples, rate)
    peak = max((abs(s) for s in samples), default=0) / 32768
    if rms <= 0 or peak <= 0:
        return samples
    gain = min(target / rms, PEAK_MAX / peak)
    return array.array("h", (max(-32768, min(32767, round(s * gain))) for s in samples))


def prepare_clip(data: bytes, *, cut: bool = True) -> tuple[bytes, float]:
    """A clip as stored: mono 16-bit RATE, trimmed (`cut`) and levelled; (WAV, duration). A silent or
    too-short recording is a ValueError, so that a manager hears at once that the microphone gave nothing."""
    rate, samples = read_wav(data)
    samples = resample(samples, rate)
    if cut:
        samples = trim(samples)
    if len(samples) < RATE * 0.05 or max((abs(s) for s in samples), default=0) < 300:
        raise ValueError("the recording is silent or too short")
    if len(samples) > RATE * MAX_CLIP_S:
        raise ValueError(f"a clip must be under {MAX_CLIP_S:g} s")
    samples = level(samples)
    return write_wav(samples), len(samples) / RATE


# ------------------------------------------------------------------------------------------------ what a pack needs


def _number_values(config: Config) -> Iterable[int]:
    """Every ticket number the formats can print (bounded: wide ranges are sampled up to 20,000 values)."""
    seen: set[tuple[int, int]] = set()
    for site in config.sites.values():
        for service in config.services:
            f = config.number_format(site.code, service)
            seen.add((f.first, f.last))
    for first, last in seen:
        yield from range(first, min(last, first + 20_000) + 1)
        yield last


def needed_tokens(config: Config, lang: str) -> list[Token]:
    """The clips a pack of `lang` needs to say every call of this center, in a speaking order, one per key."""
    voice = config.voice
    out: dict[str, Token] = {CHIME.key: CHIME}
    for form in ("full", "short"):
        for t in call_tokens(voice, "A1", 1, form=form, lang=lang):
            if " " in t.key or t.key in ("lead", "to_counter", "tail", "short_lead", "short_to_counter",
                                         "short_tail"):
                out.setdefault(t.key, Token(t.key, t.text))
    prefixes = {config.number_format(s.code, svc).prefix for s in config.sites.values() for svc in config.services}
    for ch in sorted({ch for p in prefixes for ch in p}):
        t = ticket_tokens(f"{ch}1", lang=lang)[0]
        out.setdefault(t.key, Token(t.key, t.text))
    words: list[Token] = []
    if lang != "vi" or voice.read_digits:
        words += [Token(f"digit:{d}" if lang != "vi" else w, w) for d, w in enumerate(DIGITS)]
    else:
        for n in _number_values(config):
            words += ticket_tokens(str(n), southern=voice.southern)
    for site in config.sites.values():
        for c in site.counters:
            words += counter_tokens(c.number, southern=voice.southern, lang=lang)
    order = {w: i for i, w in enumerate((*DIGITS, "mười", "mươi", "mốt", "tư", "lăm", "trăm", "linh", "lẻ", *SCALES))}
    for t in sorted(words, key=lambda t: (order.get(t.text, 99), t.key)):
        out.setdefault(t.key, Token(t.key, t.text))
    return list(out.values())


def missing(config: Config, lang: str, have: Iterable[str]) -> list[Token]:
    keys = set(have)
    return [t for t in needed_tokens(config, lang) if t.key not in keys]


# ------------------------------------------------------------------------------------------------ joining


Fallback = Callable[[str], bytes]  # Vietnamese text -> WAV (espeak-ng), for a clip a pack lacks


def call_wav(voice: Voice, languages: list[tuple[str, dict[str, bytes]]], number: str, counter: int, *,
             form: str = "full", fallback: Fallback | None = None) -> tuple[bytes, list[str]]:
    """The call in each (lang, clips) in turn, one WAV; and the keys that were spoken by `fallback`
    (left silent when there is none)."""
    if not TICKET_RE.match(number):
        raise ValueError(f"{number!r} is not a ticket number")
    out = array.array("h")
    fell_back: list[str] = []
    word_gap, pause, lang_gap = (array.array("h", bytes(2 * int(RATE * s))) for s in (WORD_GAP_S, PAUSE_S, LANG_GAP_S))
    for li, (lang, clips) in enumerate(languages):
        if li:
            out += lang_gap
        tokens = call_tokens(voice, number, counter, form=form, lang=lang)
        for i, t in enumerate(tokens):
            data = clips.get(t.key)
            if data is None:
                fell_back.append(t.key)
                if fallback is None:
                    continue
                data, _ = prepare_clip(fallback(t.text))
            out += read_wav(data)[1]
            if i < len(tokens) - 1:
                out += pause if t.pause else word_gap
    return write_wav(out), fell_back


# ------------------------------------------------------------------------------------------------ one file per pack


def export_zip(pack: dict[str, Any], clips: dict[str, bytes], texts: dict[str, str]) -> bytes:
    """A zip: manifest.json (format, lang, name, rate, clips [{key, file, text}]) and clips/NNN.wav."""
    buf = io.BytesIO()
    entries = []
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for i, key in enumerate(sorted(clips)):
            name = f"clips/{i:03d}.wav"
            z.writestr(name, clips[key])
            entries.append({"key": key, "file": name, "text": texts.get(key, key)})
        manifest = {"format": MANIFEST_FORMAT, "version": 1, "lang": pack["lang"], "name": pack["name"],
                    "rate": RATE, "clips": entries}
        z.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1))
    return buf.getvalue()


def import_zip(data: bytes, max_clips: int = 400) -> tuple[str, str, dict[str, tuple[bytes, float]]]:
    """(lang, name, {key: (wav, duration)}) of an exported pack; every clip converted and levelled again, so a
    hand-made zip is held to the same format. A bad file is a ValueError saying what is wrong."""
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        if sum(i.file_size for i in z.infolist()) > MAX_ZIP_BYTES * 2:
            raise ValueError("the pack is too large")
        manifest = json.loads(z.read("manifest.json").decode("utf-8"))
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"not a voice pack file: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError("not a voice pack file (manifest.json has no xephang-voice-pack format)")
    lang, name, entries = manifest.get("lang"), manifest.get("name"), manifest.get("clips")
    if not isinstance(lang, str) or not LANG_RE.match(lang) or not isinstance(name, str) or not name.strip():
        raise ValueError("the manifest needs a language code and a name")
    if not isinstance(entries, list) or len(entries) > max_clips:
        raise ValueError(f"the manifest needs a list of at most {max_clips} clips")
    clips: dict[str, tuple[bytes, float]] = {}
    for e in entries:
        if not isinstance(e, dict) or not isinstance(e.get("key"), str) or not isinstance(e.get("file"), str) \
                or not 0 < len(e["key"]) <= 100:
            raise ValueError("each clip needs a key and a file")
        try:
            raw = z.read(e["file"])
        except KeyError:
            raise ValueError(f"the file {e['file']!r} is missing") from None
        try:
            clips[e["key"]] = prepare_clip(raw, cut=False)
        except ValueError as err:
            raise ValueError(f"clip {e['key']!r}: {err}") from None
    return lang, name.strip()[:100], clips
