"""Request helpers shared by every blueprint: who is asking, may they, and JSON in and out.

One place decides the caller (bearer token first, then the staff cookie session) and one place turns
QueueError into the JSON error shape `{"error", "message", "message_en"}`, so no route repeats it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app, g, request, session
from flask_socketio import SocketIO

from ..config.model import Config
from ..errors import MAX_TEXT, BadRequest, Forbidden, Invalid, QueueError, Unauthorized, clean_text
from ..queue.actors import Actor
from ..queue.engine import Engine
from ..storage.store import Store
from .auth import Accounts, allowed

MAX_JSON_BYTES = 64 * 1024
MAX_JSON_DEPTH = 16  # the deepest body the API takes is 3 levels (finish: procedures: [{code}])
MAX_CODE = 64  # a code or id sent in a body: site, service, counter, ticket number, request id
JSON_PREFIXES = ("/api/", "/manager/api/")  # everything under these is JSON; elsewhere views say @json_route


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
    link: Any = None  # at a node, in the one process that sends: its sync loop (center/sync/link.py)
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


def json_route(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view as a JSON route: its errors answer JSON whatever the Accept header says (see wants_json)."""
    fn.json_route = True  # type: ignore[attr-defined]
    return fn


def json_body() -> dict[str, Any]:
    """The request's JSON object, parsed once per request by the one bounded parser (parse_json)."""
    if "json_body" in g:
        return g.json_body
    if request.content_length and request.content_length > MAX_JSON_BYTES:
        raise QueueError("Yêu cầu quá lớn", f"Request body too large (at most {MAX_JSON_BYTES} bytes)",
                         code="too_large", status=413)
    raw = request.get_data(cache=True)
    if len(raw) > MAX_JSON_BYTES:  # a chunked body has no Content-Length
        raise QueueError("Yêu cầu quá lớn", f"Request body too large (at most {MAX_JSON_BYTES} bytes)",
                         code="too_large", status=413)
    g.json_body = parse_json(raw) if raw.strip() else {}
    return g.json_body


def _bad_json(message_en: str, code: str = "bad_json") -> BadRequest:
    return BadRequest("Dữ liệu gửi lên không phải JSON hợp lệ", message_en, code=code)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes) -> dict[str, Any]:
    """A JSON object from raw bytes, or a 400: strict UTF-8, no NaN/Infinity, at most MAX_JSON_DEPTH levels,
    no lone surrogate (which could not be written back out) in any key or string."""
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad_json("Body is not valid UTF-8", "bad_encoding") from None
    try:
        data = json.loads(decoded, parse_constant=_no_constant)
    except RecursionError:
        raise _bad_json(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", "too_deep") from None
    except ValueError:
        raise _bad_json("Body must be a JSON object") from None
    if not isinstance(data, dict):
        raise _bad_json("Body must be a JSON object")
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:  # iterative: the check itself never recurses
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise _bad_json(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", "too_deep")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and not _encodable(key):
                    raise _bad_json("A key is not valid Unicode (lone surrogate)", "bad_unicode")
                stack.append((item, depth + 1))
        elif isinstance(value, str):
            if not _encodable(value):
                raise _bad_json("A string is not valid Unicode (lone surrogate)", "bad_unicode")
        elif isinstance(value, float) and not math.isfinite(value):
            raise _bad_json("A number is out of range")
    return data


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def field(data: dict[str, Any], name: str, kind: type | tuple[type, ...], *, required: bool = False,
          default: Any = None) -> Any:
    """One field of a JSON body, type-checked, with a 422 naming it when wrong. A string field is a code or an
    id (site, service, counter, number, request id...): 1–MAX_CODE characters. Free text goes through text_field()."""
    if name not in data or data[name] is None:
        if required:
            raise Invalid(f"Thiếu trường '{name}'", f"'{name}' is required", code="missing_field", field=name)
        return default
    value = data[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kind):
        raise Invalid(f"Trường '{name}' sai kiểu", f"'{name}' has the wrong type", code="bad_field", field=name)
    if isinstance(value, str) and not 0 < len(value) <= MAX_CODE:
        if not value and not required:
            return default
        raise Invalid(f"Trường '{name}' phải dài 1–{MAX_CODE} ký tự", f"'{name}' must be 1–{MAX_CODE} characters",
                      code="bad_field", field=name, limit=MAX_CODE)
    return value


def text_field(data: dict[str, Any], name: str, *, limit: int = MAX_TEXT) -> str | None:
    """A free-text field of a JSON body (a note, a notice...): checked by clean_text; None when absent."""
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"Trường '{name}' sai kiểu", f"'{name}' has the wrong type", code="bad_field", field=name)
    return clean_text(value, name, limit=limit)


def wants_json() -> bool:
    """Whether this request's errors answer JSON (the one rule for every error handler): always on a JSON
    route; on a page only for a client that asks for JSON."""
    return is_json_route() or request.accept_mimetypes.best == "application/json"


def is_json_route() -> bool:
    """JSON routes are the paths under JSON_PREFIXES and the views marked @json_route. A request that matched
    no route (an id that is not a number, a method the route does not take) is on a JSON route when its path
    would fit one with any value in its placeholders."""
    if request.path.startswith(JSON_PREFIXES):
        return True
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    if view is not None:
        return bool(getattr(view, "json_route", False))
    return _json_paths(current_app).fullmatch(request.path) is not None


def _json_paths(app: Any) -> re.Pattern[str]:
    """The paths of every JSON route, placeholders widened to any segment (built once per app)."""
    pattern = app.extensions.get("xephang_json_paths")
    if pattern is None:
        alternatives = []
        for rule in app.url_map.iter_rules():
            view = app.view_functions.get(rule.endpoint)
            if getattr(view, "json_route", False):
                parts = re.split(r"<[^>]+>", rule.rule)
                alternatives.append("[^/]+".join(re.escape(p) for p in parts))
        pattern = re.compile("|".join(f"(?:{a})" for a in alternatives) or "(?!)")
        app.extensions["xephang_json_paths"] = pattern
    return pattern
