"""Who may read the hub: province staff see every center, a center's manager only their own center.

Accounts live in PostgreSQL (`hub_users`, created by `ensure_users` when the pages are registered), passwords
hashed with scrypt as at the centers. A browser session is a signed cookie holding the user's id and their
`session_gen`: raising the generation (password change, deactivation) ends every open session at once.
`visible_centers` is the one place that decides which centers a caller may see; every page, JSON answer
and export asks it.
"""

from __future__ import annotations

import functools
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import current_app, g, jsonify, redirect, request, session, url_for
from werkzeug.security import check_password_hash, generate_password_hash

from ..errors import Forbidden, Invalid
from ..web.auth import check_password_strength
from .config import HubCenter, HubConfig

ROLES = ("province", "center")

USERS_DDL = """
CREATE TABLE IF NOT EXISTS hub_users (
  id bigserial PRIMARY KEY,
  username text NOT NULL UNIQUE,
  display_name text NOT NULL,
  role text NOT NULL CHECK (role IN ('province', 'center')),
  center text,
  password_hash text NOT NULL,
  active boolean NOT NULL DEFAULT true,
  session_gen integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((role = 'center') = (center IS NOT NULL))
)"""

_DUMMY_HASH = generate_password_hash("not-a-real-password-" + secrets.token_hex(8))


@dataclass(frozen=True)
class HubUser:
    id: int
    username: str
    display_name: str
    role: str
    center: str | None
    session_gen: int


def ensure_users(conn: Any) -> None:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(7310003)")  # two workers starting at once
        conn.execute(USERS_DDL)


def add_user(conn: Any, cfg: HubConfig, username: str, role: str, password: str, center: str | None = None,
             display_name: str | None = None) -> int:
    """A new account; a center manager's center must be one of hub.toml's (else they would see nothing)."""
    username = (username or "").strip()
    if not username or len(username) > 64:
        raise Invalid("Tên đăng nhập không hợp lệ", "Invalid username", code="bad_username")
    if role not in ROLES:
        raise Invalid("Vai trò không hợp lệ", f"role must be one of {', '.join(ROLES)}", code="bad_role")
    if role == "center" and (not center or cfg.center(center) is None):
        raise Invalid("Cần mã trung tâm có trong hub.toml", "--center must name a center of hub.toml",
                      code="unknown_center")
    check_password_strength(password)
    with conn.transaction():
        row = conn.execute("INSERT INTO hub_users (username, display_name, role, center, password_hash) VALUES "
                           "(%s, %s, %s, %s, %s) ON CONFLICT (username) DO NOTHING RETURNING id",
                           (username, display_name or username, role, center if role == "center" else None,
                            generate_password_hash(password))).fetchone()
    if row is None:
        raise Invalid("Tên đăng nhập đã có", f"user {username!r} exists", code="user_exists")
    return int(row[0])


def _user(row: Any) -> HubUser:
    return HubUser(id=row[0], username=row[1], display_name=row[2], role=row[3], center=row[4], session_gen=row[5])


_COLS = "id, username, display_name, role, center, session_gen"


def authenticate(conn: Any, username: str, password: str) -> HubUser | None:
    """The active user with this password, or None (the hash is always checked: no timing hint of a name)."""
    row = conn.execute(f"SELECT {_COLS}, password_hash FROM hub_users WHERE username = %s AND active",  # noqa: S608
                       (username or "",)).fetchone()
    ok = check_password_hash(row[6] if row else _DUMMY_HASH, password or "")
    return _user(row) if row and ok else None


def user_by_id(conn: Any, user_id: int, gen: int) -> HubUser | None:
    row = conn.execute(f"SELECT {_COLS} FROM hub_users WHERE id = %s AND active AND session_gen = %s",  # noqa: S608
                       (user_id, gen)).fetchone()
    return _user(row) if row else None


def visible_centers(cfg: HubConfig, user: HubUser) -> list[HubCenter]:
    """THE rule of who sees what: the province every center of hub.toml, a center's manager only theirs."""
    if user.role == "province":
        return list(cfg.centers)
    return [c for c in cfg.centers if c.id == user.center]


def chosen_centers(cfg: HubConfig, user: HubUser, wanted: str | None) -> list[HubCenter]:
    """The visible centers narrowed to `?center=`: a center the caller may not see is refused, not emptied."""
    visible = visible_centers(cfg, user)
    if not wanted:
        return visible
    picked = [c for c in visible if c.id == wanted]
    if not picked:
        raise Forbidden("Không có quyền xem trung tâm này", "You may not see this center", code="center_forbidden")
    return picked


def secret_key(cfg: HubConfig) -> str:
    """XEPHANG_HUB_SECRET, else `hub.secret` beside hub.toml (made once, readable by its owner only)."""
    env = os.environ.get("XEPHANG_HUB_SECRET")
    if env:
        return env
    path = Path(cfg.source_path or "hub.toml").with_name("hub.secret")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key)
    return key


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return str(session["csrf"])


def check_csrf() -> None:
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    if not hmac.compare_digest(sent, str(session.get("csrf", ""))) or not sent:
        raise Forbidden("Phiên biểu mẫu đã hết hạn; vui lòng thử lại", "Form expired; try again", code="bad_csrf")


def current_user() -> HubUser | None:
    """The signed-in user of this request (looked up once; a raised session_gen signs them out)."""
    if "hub_user" not in g:
        from .app import connection

        uid, gen = session.get("uid"), session.get("gen")
        user = None
        if isinstance(uid, int) and isinstance(gen, int):
            with connection() as conn:
                user = user_by_id(conn, uid, gen)
        g.hub_user = user
    return g.hub_user


def signed_in(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Route guard: a page sends the anonymous to /hub/login, a JSON route or an export answers 401."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None or user.role not in ROLES:
                if kind == "page":
                    return redirect(url_for("hub_pages.login", next=request.full_path.rstrip("?")))
                resp = jsonify({"error": "unauthorized", "message": "Cần đăng nhập", "message_en": "Sign in first"})
                resp.status_code = 401
                return resp
            return fn(user, *args, **kwargs)

        return inner

    return wrap


def hub_cfg() -> HubConfig:
    return current_app.extensions["xephang_hub"]
