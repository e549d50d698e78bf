"""Errors the engine and the API refuse with: a stable code, an HTTP status, Vietnamese and English text.

Screens show `message` (Vietnamese) or `message_en`; scripts branch on `error`.
"""

from __future__ import annotations

import re

MAX_TEXT = 500  # every free-text field: notes (left, transfer, pause), the display notice, device errors
MAX_NAME = 100  # a person's name typed by an admin (the same rule, clean_text, with a shorter limit)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


class QueueError(Exception):
    status = 409
    code = "conflict"

    def __init__(self, message: str, message_en: str = "", *, code: str | None = None,
                 status: int | None = None, **details: object):
        super().__init__(message_en or message)
        self.message = message
        self.message_en = message_en or message
        if code:
            self.code = code
        if status:
            self.status = status
        self.details = details

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"error": self.code, "message": self.message, "message_en": self.message_en}
        out.update(self.details)
        return out


class NotFound(QueueError):
    status = 404
    code = "not_found"


class Invalid(QueueError):
    """Well-formed request with values that cannot be accepted (unknown service, bad procedure)."""

    status = 422
    code = "invalid"


class BadRequest(QueueError):
    status = 400
    code = "bad_request"


class Conflict(QueueError):
    status = 409
    code = "conflict"


class Unauthorized(QueueError):
    status = 401
    code = "unauthorized"


class Forbidden(QueueError):
    status = 403
    code = "forbidden"


class Unavailable(QueueError):
    status = 503
    code = "unavailable"


def clean_text(value: str, name: str, *, limit: int = MAX_TEXT) -> str:
    """The one rule for text people type (notes, notices, names), wherever it arrives: trimmed, no control
    character but line breaks and tabs, no lone surrogate, at most `limit` characters; else a 422 naming the
    field and the limit. Nothing is ever cut silently."""
    if not isinstance(value, str):
        raise Invalid(f"Trường '{name}' sai kiểu", f"'{name}' has the wrong type", code="bad_field", field=name)
    value = value.strip()
    if _CONTROL.search(value):
        raise Invalid(f"Trường '{name}' có ký tự không hợp lệ", f"'{name}' contains control characters",
                      code="bad_text", field=name)
    if len(value) > limit:
        raise Invalid(f"Trường '{name}' dài tối đa {limit} ký tự", f"'{name}' is limited to {limit} characters",
                      code="text_too_long", field=name, limit=limit)
    return value
