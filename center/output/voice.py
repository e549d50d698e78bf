"""Vietnamese call announcements: number words of our own, the announcement text, and espeak-ng audio.

Number words follow the standard (northern) reading used by public address systems:

* 1–9 after "mươi": 1 is "mốt" (21 "hai mươi mốt"), 5 is "lăm" (25 "hai mươi lăm"), 4 is "tư"
  (24 "hai mươi tư"; `four_as_tu=False` gives "hai mươi bốn"). After "mười", 5 is "lăm"
  (15 "mười lăm") but 1 and 4 stay "một", "bốn" (11 "mười một", 14 "mười bốn").
* An empty tens place inside a hundreds group reads "linh" (105 "một trăm linh năm"); the southern
  variant says "lẻ" (`southern=True`; `zero_tens = "lẻ"` in config.toml's [voice]).
* A group after a higher group keeps its zero hundreds: 1005 "một nghìn không trăm linh năm",
  1023 "một nghìn không trăm hai mươi ba" (a common package wrongly says "một nghìn lẻ hai mươi ba").

Ticket numbers such as "A023" are read as the letter's Vietnamese name, then the number
("a, hai mươi ba"); in digit mode every digit is read on its own ("một, không, hai, ba").

Audio: when a display has no Vietnamese browser voice, the server renders the announcement with
espeak-ng's "vi" voice to a WAV file, cached on disk by a hash of (voice, rate, text).
"""

from __future__ import annotations

import array
import hashlib
import io
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config.model import Voice

DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")
SCALES = ("", "nghìn", "triệu", "tỷ")

# Vietnamese names of the letters as staff read them over a loudspeaker.
LETTERS = {
    "A": "a", "B": "bê", "C": "xê", "D": "đê", "Đ": "đê", "E": "e", "F": "ép", "G": "giê", "H": "hát",
    "I": "i", "J": "gi", "K": "ca", "L": "e lờ", "M": "em mờ", "N": "en nờ", "O": "o", "P": "pê",
    "Q": "quy", "R": "e rờ", "S": "ét", "T": "tê", "U": "u", "V": "vê", "W": "vê kép", "X": "ích",
    "Y": "i dài", "Z": "dét",
}

TICKET_RE = re.compile(r"^([A-Z]{0,2})(\d{1,6})$")
MAX_NUMBER = 999_999_999_999


def _tens_units(t: int, u: int, *, four_as_tu: bool) -> list[str]:
    """Words for a two-digit value t*10+u with t >= 1."""
    if t == 1:
        words = ["mười"]
        if u == 5:
            words.append("lăm")
        elif u:
            words.append(DIGITS[u])
        return words
    words = [DIGITS[t], "mươi"]
    if u == 1:
        words.append("mốt")
    elif u == 4 and four_as_tu:
        words.append("tư")
    elif u == 5:
        words.append("lăm")
    elif u:
        words.append(DIGITS[u])
    return words


def _group(n: int, *, full: bool, southern: bool, four_as_tu: bool) -> list[str]:
    """Words for 1 <= n <= 999. `full`: a higher group came before, so zero hundreds are read."""
    h, t, u = n // 100, n // 10 % 10, n % 10
    words: list[str] = []
    if h or full:
        words += [DIGITS[h], "trăm"]
    if t:
        words += _tens_units(t, u, four_as_tu=four_as_tu)
    elif u:
        if words:
            words += ["lẻ" if southern else "linh", DIGITS[u]]
        else:
            words.append(DIGITS[u])
    return words


def number_list(n: int, *, southern: bool = False, four_as_tu: bool = True) -> list[str]:
    """A whole number as its list of Vietnamese words: 1023 -> ["một", "nghìn", "không", "trăm", ...]."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0 or n > MAX_NUMBER:
        raise ValueError(f"number_words takes a whole number from 0 to {MAX_NUMBER}")
    if n == 0:
        return [DIGITS[0]]
    groups = []
    while n:
        groups.append(n % 1000)
        n //= 1000
    words: list[str] = []
    for i in range(len(groups) - 1, -1, -1):
        g = groups[i]
        if g == 0:
            continue
        words += _group(g, full=bool(words), southern=southern, four_as_tu=four_as_tu)
        if SCALES[i]:
            words.append(SCALES[i])
    return words


def number_words(n: int, *, southern: bool = False, four_as_tu: bool = True) -> str:
    """A whole number in Vietnamese words: 1023 -> "một nghìn không trăm hai mươi ba"."""
    return " ".join(number_list(n, southern=southern, four_as_tu=four_as_tu))


@dataclass(frozen=True)
class Token:
    """One recorded clip of a voice pack (center/output/voicepack.py) and what it says.

    `key` names the clip: in a Vietnamese pack the word or phrase itself ("mươi", "đến quầy số"), so that a
    new template or number range asks for exactly the new words; in a pack of another language, which reads
    digit by digit, a slot ("lead", "to_counter", "digit:3", "letter:A") that the speaker says in that
    language. `text` is the Vietnamese, shown as the prompt and spoken by espeak-ng when the clip is missing.
    `pause`: a comma follows (a longer gap when clips are joined)."""

    key: str
    text: str
    pause: bool = False


def tokens_text(tokens: list[Token]) -> str:
    return "".join(t.text + (", " if t.pause else " ") for t in tokens).strip(" ,")


def ticket_tokens(number: str, *, read_digits: bool = False, southern: bool = False, lang: str = "vi"
                  ) -> list[Token]:
    """The words of a ticket number: letters by name, then the number (digit by digit outside Vietnamese)."""
    m = TICKET_RE.match((number or "").strip().upper())
    if not m:
        raise ValueError(f"{number!r} is not a ticket number")
    letters, digits = m.groups()
    out = [Token(LETTERS.get(ch, ch.lower()) if lang == "vi" else f"letter:{ch}", LETTERS.get(ch, ch.lower()), True)
           for ch in letters]
    if lang != "vi":
        out += [Token(f"digit:{d}", DIGITS[int(d)]) for d in digits]
    elif read_digits:
        out += [Token(DIGITS[int(d)], DIGITS[int(d)], True) for d in digits]
    else:
        out += [Token(w, w) for w in number_list(int(digits), southern=southern)]
    if out:
        out[-1] = Token(out[-1].key, out[-1].text, False)
    return out


def counter_tokens(counter: int, *, southern: bool = False, lang: str = "vi") -> list[Token]:
    if lang != "vi":
        return [Token(f"digit:{d}", DIGITS[int(d)]) for d in str(int(counter))]
    return [Token(w, w) for w in number_list(int(counter), southern=southern)]


PHRASE_SLOTS = {"full": ("lead", "to_counter", "tail"), "short": ("short_lead", "short_to_counter", "short_tail")}


def template_tokens(template: str, number: list[Token], counter: list[Token], *, form: str = "full",
                    lang: str = "vi") -> list[Token]:
    """The template's phrases around the number and the counter; a phrase is one clip."""
    out: list[Token] = []
    slots = iter(PHRASE_SLOTS[form])
    for part in re.split(r"(\{number\}|\{counter\})", template):
        if part == "{number}":
            out += number
        elif part == "{counter}":
            out += counter
        else:
            slot = next(slots, "tail")
            phrase = " ".join(part.replace(",", " ").split()).strip(" .:;!")
            if phrase:
                if out:  # a breath before the phrase too
                    out[-1] = Token(out[-1].key, out[-1].text, True)
                out.append(Token(phrase.lower() if lang == "vi" else slot, phrase, True))
    return out


def call_tokens(voice: Voice, number: str, counter: int, *, form: str = "full", lang: str = "vi",
                read_digits: bool | None = None) -> list[Token]:
    """The call as clips: `form` "full" the configured template, "short" SHORT_TEMPLATE."""
    digits_mode = voice.read_digits if read_digits is None else read_digits
    num = ticket_tokens(number, read_digits=digits_mode, southern=voice.southern, lang=lang)
    cnt = counter_tokens(counter, southern=voice.southern, lang=lang)
    template = voice.template if form == "full" else SHORT_TEMPLATE
    return template_tokens(template, num, cnt, form=form, lang=lang)


def digit_words(digits: str) -> str:
    """Digit by digit: "1023" -> "một, không, hai, ba"."""
    return ", ".join(DIGITS[int(d)] for d in digits if d.isdigit())


def letter_words(letters: str) -> str:
    return ", ".join(LETTERS.get(ch, ch.lower()) for ch in letters.upper())


def ticket_words(number: str, *, read_digits: bool = False, southern: bool = False) -> str:
    """How a ticket number is spoken: "A023" -> "a, hai mươi ba"; "1023" -> "một nghìn không trăm hai mươi ba"."""
    return tokens_text(ticket_tokens(number, read_digits=read_digits, southern=southern))


@dataclass(frozen=True)
class Announcement:
    number: str
    counter: int
    text: str  # Vietnamese, as spoken (numbers in words)
    text_en: str | None  # English line, when the voice config asks for one
    display_text: str  # as shown on a screen, with digits
    short_text: str = ""  # "Mời số … đến quầy …": read while other calls wait (SHORT_TEMPLATE)


# A call read while other calls wait: a complete sentence of its own (a citizen who hears only this part
# knows where to go), a third shorter than the usual template; see docs/display.md, Voice.
SHORT_TEMPLATE = "Mời số {number} đến quầy {counter}"


def announcement(voice: Voice, number: str, counter: int, *, read_digits: bool | None = None,
                 southern: bool | None = None) -> Announcement:
    """The call for a ticket at a counter from the configured templates (reading, and "linh" or the southern
    "lẻ", as config.toml's [voice] says unless the caller chooses)."""
    digits_mode = voice.read_digits if read_digits is None else read_digits
    southern = voice.southern if southern is None else southern
    spoken_number = ticket_words(number, read_digits=digits_mode, southern=southern)
    spoken_counter = number_words(int(counter), southern=southern)
    text = voice.template.format(number=spoken_number, counter=spoken_counter)
    shown = voice.template.format(number=number, counter=counter)
    text_en = None
    if voice.english:
        m = TICKET_RE.match(number.upper())
        en_number = " ".join(m.group(1)) + " " + " ".join(m.group(2)) if m else number
        text_en = voice.template_en.format(number=en_number.strip(), counter=counter)
    short = SHORT_TEMPLATE.format(number=spoken_number, counter=spoken_counter)
    return Announcement(number=number, counter=int(counter), text=text, text_en=text_en, display_text=shown,
                        short_text=short)


# ------------------------------------------------------------------------------------------------
# Audio


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def words_per_minute(rate: float) -> int:
    """espeak-ng speaks 175 words a minute by default; `rate` is relative (0.8 slower)."""
    return max(80, min(400, round(175 * rate)))


def speak_wav(text: str, *, voice: str = "vi", rate: float = 0.8, timeout_s: float = 20) -> bytes:
    """Render `text` with espeak-ng; the text goes on stdin, so it can never be taken for an option."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wav"
        subprocess.run([exe, "-v", voice, "-s", str(words_per_minute(rate)), "-w", str(out), "--stdin"],
                       input=text.encode("utf-8"), capture_output=True, timeout=timeout_s, check=True)
        return out.read_bytes()


def _read_pcm(data: bytes) -> tuple[wave._wave_params, bytes]:
    with wave.open(io.BytesIO(data), "rb") as w:
        return w.getparams(), w.readframes(w.getnframes())


def join_wavs(parts: list[bytes], gap_s: float = 0.7) -> bytes:
    """Concatenate WAV files of the same format with silence between them."""
    params, _ = _read_pcm(parts[0])
    silence = b"\x00" * (round(params.framerate * gap_s) * params.sampwidth * params.nchannels)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(params.nchannels)
        w.setsampwidth(params.sampwidth)
        w.setframerate(params.framerate)
        for i, part in enumerate(parts):
            p, frames = _read_pcm(part)
            if (p.nchannels, p.sampwidth, p.framerate) != (params.nchannels, params.sampwidth, params.framerate):
                raise ValueError("WAV parts differ in format")
            if i:
                w.writeframes(silence)
            w.writeframes(frames)
    return out.getvalue()


def trim_silence(data: bytes, *, keep_s: float = 0.05, threshold: int = 300) -> bytes:
    """The WAV without the silence after its last sound (16-bit mono, as espeak-ng writes), `keep_s` kept."""
    params, frames = _read_pcm(data)
    if params.sampwidth != 2 or params.nchannels != 1 or not frames:
        return data
    samples = array.array("h", frames)
    if sys.byteorder == "big":
        samples.byteswap()
    end = len(samples)
    while end > 0 and abs(samples[end - 1]) <= threshold:
        end -= 1
    end = min(len(samples), end + round(params.framerate * keep_s))
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(params.framerate)
        w.writeframes(frames[: end * 2])
    return out.getvalue()


class VoiceCache:
    """Announcement audio rendered once and kept on disk (a directory next to the database)."""

    def __init__(self, directory: str | Path, max_files: int = 2000):
        self.dir = Path(directory)
        self.max_files = max_files
        self._lock = threading.RLock()  # reentrant: a joined call renders its missing words through the cache

    def path_for(self, key: str) -> Path:
        return self.dir / (hashlib.sha256(key.encode("utf-8")).hexdigest()[:32] + ".wav")

    def announcement_wav(self, voice: Voice, ann: Announcement) -> bytes:
        """The announcement, repeated `voice.repeat` times, then the English line if configured."""
        def make() -> bytes:
            parts = [speak_wav(ann.text, voice="vi", rate=voice.rate)] * voice.repeat
            if ann.text_en:
                parts.append(speak_wav(ann.text_en, voice="en", rate=voice.rate))
            return join_wavs(parts)

        return self.cached("\n".join(["v1", str(voice.rate), str(voice.repeat), ann.text, ann.text_en or ""]), make)

    def reading_wav(self, text: str, *, rate: float, lang: str = "vi") -> bytes:
        """One reading of `text`, without espeak-ng's trailing silence (~0.45 s): the display times the
        pauses between readings itself, so that several calls in a row follow each other closely."""
        return self.cached("\n".join(["r1", lang, str(rate), text]),
                           lambda: trim_silence(speak_wav(text, voice=lang, rate=rate)))

    def cached(self, key: str, make: Callable[[], bytes]) -> bytes:
        """Any audio keyed by `key` (a voice pack's joined call: its packs' versions are in the key)."""
        path = self.path_for(key)
        if path.exists():
            return path.read_bytes()
        with self._lock:
            if path.exists():
                return path.read_bytes()
            data = make()
            self._store(path, data)
            return data

    def _store(self, path: Path, data: bytes) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._trim()
        fd, tmp = tempfile.mkstemp(dir=self.dir, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    def _trim(self) -> None:
        files = sorted(self.dir.glob("*.wav"), key=lambda p: p.stat().st_mtime)
        for old in files[: max(0, len(files) - self.max_files + 1)]:
            old.unlink(missing_ok=True)


def chime_wav(rate: int = 22050) -> bytes:
    """A two-tone "ding-dong" (E6 then C6) with a soft decay, synthesised here: no audio file to ship."""
    frames = bytearray()
    for freq, dur in ((1318.5, 0.55), (1046.5, 0.9)):
        n = int(rate * dur)
        for i in range(n):
            t = i / rate
            env = math.exp(-3.2 * t) * min(1.0, i / (0.01 * rate))
            s = env * (0.6 * math.sin(2 * math.pi * freq * t) + 0.25 * math.sin(4 * math.pi * freq * t))
            frames += struct.pack("<h", int(max(-1, min(1, s)) * 22000))
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return out.getvalue()


def wav_stats(data: bytes) -> tuple[float, float]:
    """(duration in seconds, RMS of 16-bit samples scaled to 0..1) of a mono or stereo 16-bit WAV."""
    params, frames = _read_pcm(data)
    if params.sampwidth != 2:
        raise ValueError("only 16-bit WAV is measured")
    count = len(frames) // 2
    if count == 0:
        return 0.0, 0.0
    samples = struct.unpack(f"<{count}h", frames[: count * 2])
    rms = math.sqrt(sum(s * s for s in samples) / count) / 32768
    return params.nframes / params.framerate, rms
