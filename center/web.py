"""Request helpers shared by every blueprint: who is asking, may they, and JSON in and out.

One place decides the caller (bearer token first, then the staff cookie session) and one place turns
QueueError into the JSON error shape `{"error", "message", "message_en"}`, so no route repeats it.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any

from flask import current_app, g, request, session
from flask_socketio import SocketIO

from .actors import Actor
from .auth import Accounts, allowed
from .config import Config
from .engine import Engine
from .errors import BadRequest, Forbidden, QueueError, Unauthorized
from .store import Store

MAX_JSON_BYTES = 64 * 1024


@dataclass
class Center:
    """Everything the web layer needs, kept on the Flask app (app.extensions['xephang'])."""

    config: Config
    store: Store
    engine: Engine
    accounts: Accounts
    socketio: SocketIO
    public_url: str = ""
    # What this app remembers between requests, here rather than in module globals: two apps in one process
    # (tests, the command line) must not see each other's printers or files. Guarded by `lock`.
    printers_ok: dict[str, bool] = dataclasses.field(default_factory=dict)  # kiosk → its last print worked
    voice_cache: Any = None  # display/views.py: the spoken calls rendered to files next to the database
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)


def center() -> Center:
    return current_app.extensions["xephang"]


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


def current_actor() -> Actor | None:
    """The caller: a bearer token if one is sent, else the signed-in staff member, else None."""
    if "actor" in g:
        return g.actor
    actor = None
    token = bearer_token()
    if token is not None:
        actor = center().accounts.actor_for_token(token)
        if actor is None:
            raise Unauthorized("Mã truy cập không hợp lệ hoặc đã bị thu hồi", "Invalid or revoked token",
                               code="bad_token")
    elif "uid" in session:
        # Of the account's current session generation only: sign-out, a password reset, a role change or
        # disabling the account ended every older session, copies of the cookie included.
        actor = center().accounts.actor_for_user(session["uid"], session.get("gen", -1))
        if actor is None:
            session.clear()
    g.actor = actor
    return actor


def require(permission: str, *, site: str | None = None) -> Actor:
    """The caller, if allowed `permission` (and bound to `site` when it is a device); else 401/403."""
    actor = current_actor()
    if actor is None:
        raise Unauthorized("Cần đăng nhập", "Sign-in or a bearer token is required")
    if not allowed(actor, permission):
        raise Forbidden("Bạn không có quyền thực hiện thao tác này", f"Role {actor.role} may not do this")
    if site is not None and actor.site is not None and actor.site != site:
        raise Forbidden("Thiết bị này thuộc điểm tiếp nhận khác", "This device belongs to another site",
                        code="wrong_site")
    return actor


def json_body() -> dict[str, Any]:
    """The request's JSON object; a clear 400 for anything else."""
    if request.content_length and request.content_length > MAX_JSON_BYTES:
        raise QueueError("Yêu cầu quá lớn", "Request body too large", code="too_large", status=413)
    if not request.data:
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("Dữ liệu gửi lên không phải JSON hợp lệ", "Body must be a JSON object",
                         code="bad_json")
    return data


def field(data: dict[str, Any], name: str, kind: type | tuple[type, ...], *, required: bool = False,
          default: Any = None) -> Any:
    """One field of a JSON body, type-checked, with a 422 naming it when wrong."""
    from .errors import Invalid

    if name not in data or data[name] is None:
        if required:
            raise Invalid(f"Thiếu trường '{name}'", f"'{name}' is required", code="missing_field", field=name)
        return default
    value = data[name]
    if isinstance(value, bool) and kind is not bool and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise Invalid(f"Trường '{name}' sai kiểu", f"'{name}' has the wrong type", code="bad_field", field=name)
    if not isinstance(value, kind):
        raise Invalid(f"Trường '{name}' sai kiểu", f"'{name}' has the wrong type", code="bad_field", field=name)
    return value


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"
