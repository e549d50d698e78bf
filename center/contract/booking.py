"""Booking codes and phone numbers, one rule for the center's desk, its kiosk and the hub's public page.

The per-person cap counts a citizen once wherever they booked only if every place writes their number the same
way and hashes it with the same key: a province's centers hash with the hub's key (it comes down the link, and to
a center's nodes in their manifest); a center with no hub uses its own installation secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any

from ..errors import Invalid, NotFound

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud and typed without doubt
CODE_LEN = 6
_CODE_RE = re.compile(f"^[{ALPHABET}]{{{CODE_LEN}}}$")
_PHONE_RE = re.compile(r"^0\d{9,10}$")  # mobiles 0 + 9 digits, landlines 0 + 10 (since 2017-2018)


def new_code() -> str:
    """A booking code: 6 characters of ALPHABET (31^6 ≈ 887 million codes), from `secrets`."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LEN))


def clean_code(value: Any) -> str:
    """A code as typed, read aloud or scanned: case, spaces, dots and dashes do not matter; a scanned QR may carry a
    URL or text ending in the code. Not checked against the alphabet (see `normal_code`)."""
    text = re.sub(r"[\s\-.]", "", str(value or "")).upper()[:200]
    return text.rsplit("/", 1)[-1].rsplit("=", 1)[-1][:16]


def normal_code(value: Any) -> str:
    """`clean_code`, or NotFound when it cannot be a booking code."""
    text = clean_code(value)
    if not _CODE_RE.match(text):
        raise NotFound("Mã đặt lịch không đúng — mã gồm 6 chữ và số", "No such booking code (6 letters and digits)",
                       code="unknown_booking")
    return text


def normal_phone(value: Any) -> str:
    """A Vietnamese number however it was typed (0912 345 678, +84 912…, 84912…, 0912.345.678, 912345678) as
    0xxxxxxxxx: one number, one hash. Invalid otherwise."""
    digits = re.sub(r"[\s.\-()]", "", str(value or ""))[:40]
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("0084"):
        digits = "0" + digits[4:]
    elif digits.startswith("84") and len(digits) >= 11:
        digits = "0" + digits[2:]
    elif digits.isdigit() and len(digits) == 9 and not digits.startswith("0"):
        digits = "0" + digits  # the leading 0 left out
    if not _PHONE_RE.match(digits):
        raise Invalid("Số điện thoại không hợp lệ (ví dụ 0912 345 678)", "Invalid phone number (e.g. 0912 345 678)",
                      code="bad_phone", field="phone")
    return digits


def phone_hash(key: bytes | str, phone: Any) -> str:
    """HMAC-SHA-256 of the normalised number: a stolen database does not give the numbers back by trying every
    number, and the same number hashes alike wherever the key is the province's."""
    raw = key.encode() if isinstance(key, str) else key
    return hmac.new(raw, normal_phone(phone).encode(), hashlib.sha256).hexdigest()


def key_id(key: bytes | str) -> str:
    """Which key a place hashes with, without telling it: the center sends this, the hub answers with its key
    when they differ."""
    raw = key.encode() if isinstance(key, str) else key
    return hashlib.sha256(b"xephang-phone-key:" + raw).hexdigest()[:16]
