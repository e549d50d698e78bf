"""Errors the engine and the API refuse with: a stable code, an HTTP status, Vietnamese and English text.

Screens show `message` (Vietnamese) or `message_en`; scripts branch on `error`.
"""

from __future__ import annotations


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
