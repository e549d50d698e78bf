"""Vietnamese number words, ticket readings, announcement text and espeak-ng audio."""

from __future__ import annotations

import shutil

import pytest

from center.config.model import Voice
from center.output.voice import (
    VoiceCache,
    announcement,
    chime_wav,
    digit_words,
    number_words,
    speak_wav,
    ticket_words,
    wav_stats,
)

NUMBER_WORDS = {
    0: "không",
    5: "năm",
    10: "mười",
    11: "mười một",
    14: "mười bốn",
    15: "mười lăm",
    20: "hai mươi",
    21: "hai mươi mốt",
    24: "hai mươi tư",
    25: "hai mươi lăm",
    100: "một trăm",
    105: "một trăm linh năm",
    110: "một trăm mười",
    1005: "một nghìn không trăm linh năm",
    1015: "một nghìn không trăm mười lăm",
    1021: "một nghìn không trăm hai mươi mốt",
    1023: "một nghìn không trăm hai mươi ba",
    1100: "một nghìn một trăm",
    2000: "hai nghìn",
    9999: "chín nghìn chín trăm chín mươi chín",
    # beyond the list: the same rules one level up
    31: "ba mươi mốt",
    101: "một trăm linh một",
    1000: "một nghìn",
    1010: "một nghìn không trăm mười",
    9001: "chín nghìn không trăm linh một",
    21000: "hai mươi mốt nghìn",
    105015: "một trăm linh năm nghìn không trăm mười lăm",
    1_000_000: "một triệu",
}


@pytest.mark.parametrize(("n", "words"), sorted(NUMBER_WORDS.items()))
def test_number_words(n, words):
    assert number_words(n) == words


def test_southern_variant_says_le():
    assert number_words(1005, southern=True) == "một nghìn không trăm lẻ năm"
    assert number_words(105, southern=True) == "một trăm lẻ năm"


def test_four_after_muoi_can_be_bon():
    assert number_words(24, four_as_tu=False) == "hai mươi bốn"
    assert number_words(14, four_as_tu=False) == "mười bốn"


@pytest.mark.parametrize("bad", [-1, 1.5, True, "12", 10**13])
def test_number_words_refuses_non_numbers(bad):
    with pytest.raises(ValueError):
        number_words(bad)


def test_ticket_read_as_letter_then_number():
    assert ticket_words("A023") == "a, hai mươi ba"
    assert ticket_words("B105") == "bê, một trăm linh năm"
    assert ticket_words("C001") == "xê, một"
    assert ticket_words("D010") == "đê, mười"
    assert ticket_words("G015") == "giê, mười lăm"
    assert ticket_words("H021") == "hát, hai mươi mốt"
    assert ticket_words("E002") == "e, hai"
    assert ticket_words("1023") == "một nghìn không trăm hai mươi ba"


def test_ticket_read_digit_by_digit():
    assert digit_words("1023") == "một, không, hai, ba"
    assert ticket_words("1023", read_digits=True) == "một, không, hai, ba"
    assert ticket_words("A023", read_digits=True) == "a, không, hai, ba"


@pytest.mark.parametrize("bad", ["", "A", "ABC1", "1-2", "A 12", "12345678"])
def test_ticket_words_refuses_other_text(bad):
    with pytest.raises(ValueError):
        ticket_words(bad)


VOICE = Voice(template="Xin mời công dân có số thứ tự {number} đến quầy số {counter}",
              template_en="Ticket number {number}, please go to counter {counter}", read_digits=False,
              repeat=1, rate=0.8, english=False)


def test_announcement_from_template():
    ann = announcement(VOICE, "1023", 3)
    assert ann.text == "Xin mời công dân có số thứ tự một nghìn không trăm hai mươi ba đến quầy số ba"
    assert ann.display_text == "Xin mời công dân có số thứ tự 1023 đến quầy số 3"
    assert ann.text_en is None


def test_announcement_digit_mode_and_english_line():
    voice = Voice(**{**VOICE.__dict__, "read_digits": True, "english": True})
    ann = announcement(voice, "A023", 12)
    assert ann.text == "Xin mời công dân có số thứ tự a, không, hai, ba đến quầy số mười hai"
    assert ann.text_en == "Ticket number A 0 2 3, please go to counter 12"


def test_chime_is_audible_and_short():
    duration, rms = wav_stats(chime_wav())
    assert 0.5 < duration < 3
    assert rms > 0.02


needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


@needs_espeak
def test_espeak_announcement_is_non_silent_and_plausibly_long():
    ann = announcement(VOICE, "1023", 3)
    duration, rms = wav_stats(speak_wav(ann.text, rate=0.8))
    assert 2 <= duration <= 12, duration
    assert rms > 0.01, rms


@needs_espeak
def test_voice_cache_renders_repeats_once_and_reuses_the_file(tmp_path):
    voice = Voice(**{**VOICE.__dict__, "repeat": 2})
    cache = VoiceCache(tmp_path / "voice")
    ann = announcement(voice, "A023", 3)
    first = cache.announcement_wav(voice, ann)
    files = list((tmp_path / "voice").glob("*.wav"))
    assert len(files) == 1
    single, _ = wav_stats(speak_wav(ann.text, rate=voice.rate))
    doubled, rms = wav_stats(first)
    assert doubled > 2 * single  # two readings with a pause between them
    assert rms > 0.01
    mtime = files[0].stat().st_mtime_ns
    assert cache.announcement_wav(voice, ann) == first
    assert files[0].stat().st_mtime_ns == mtime
