"""Voice packs made of tones for the tests: each clip a tone of its own frequency, so that a joined call can be
cut at its silences and each part named by its frequency (zero crossings: no numpy on the machine)."""

from __future__ import annotations

import array
import io
import math
import wave

from center.output.voice import Token


def tone_wav(freq: float, *, seconds: float = 0.25, amplitude: float = 0.3, rate: int = 22050, channels: int = 1,
             lead_s: float = 0.15, tail_s: float = 0.2) -> bytes:
    """A tone between stretches of silence (which the server trims), as a 16-bit WAV."""
    samples = array.array("h", [0] * int(rate * lead_s))
    n = int(rate * seconds)
    for i in range(n):
        ramp = min(1.0, i / (0.005 * rate), (n - i) / (0.005 * rate))
        samples.append(int(32767 * amplitude * ramp * math.sin(2 * math.pi * freq * i / rate)))
    samples.extend([0] * int(rate * tail_s))
    if channels == 2:
        samples = array.array("h", (s for x in samples for s in (x, x)))
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return out.getvalue()


def tone_pack(tokens: list[Token], base: float = 300, step: float = 50) -> tuple[dict[str, bytes], dict[float, str]]:
    """({key: tone WAV}, {frequency: key}); amplitudes vary so that levelling has work to do."""
    clips, names = {}, {}
    for i, t in enumerate(tokens):
        freq = base + step * i
        clips[t.key] = tone_wav(freq, amplitude=0.05 + 0.1 * (i % 5))
        names[freq] = t.key
    return clips, names


def segments(data: bytes, *, quiet: int = 60, min_gap_s: float = 0.03) -> list[tuple[float, float, float, float]]:
    """The sounds of a WAV between silences: (start s, duration s, frequency Hz by zero crossings, RMS 0..1)."""
    with wave.open(io.BytesIO(data), "rb") as w:
        rate = w.getframerate()
        s = array.array("h", w.readframes(w.getnframes()))
    gap = int(rate * min_gap_s)
    out, i, n = [], 0, len(s)
    while i < n:
        while i < n and abs(s[i]) <= quiet:
            i += 1
        if i >= n:
            break
        start, last_loud, j = i, i, i
        while j < n and j - last_loud < gap:
            if abs(s[j]) > quiet:
                last_loud = j
            j += 1
        part = s[start:last_loud + 1]
        crossings = sum(1 for a, b in zip(part, part[1:], strict=False) if (a < 0) != (b < 0))
        duration = len(part) / rate
        rms = math.sqrt(sum(x * x for x in part) / len(part)) / 32768
        out.append((start / rate, duration, crossings / 2 / duration, rms))
        i = last_loud + 1
    return out


def name_segments(found: list[tuple[float, float, float, float]], names: dict[float, str],
                  tolerance: float = 15) -> list[str]:
    """Each segment's key by the nearest tone frequency ("?" when none is within `tolerance` Hz)."""
    out = []
    for _, _, freq, _ in found:
        best = min(names, key=lambda f: abs(f - freq))
        out.append(names[best] if abs(best - freq) <= tolerance else f"?{freq:.0f}")
    return out
