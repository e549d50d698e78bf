"""Staff accounts, device and script tokens, and what each role may do.

Passwords are hashed with scrypt (werkzeug); tokens are random and only their SHA-256 is stored, so
a copied database file holds no usable secret. Sign-in locks an account for a while after repeated
failures. No account or token exists until an operator creates one: there is no default password.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import timedelta
from typing import Any

from werkzeug.security import check_password_hash, generate_password_hash

from .clock import Clock, from_iso, system_clock, to_iso
from .engine import Actor
from .errors import Conflict, Invalid, NotFound, Unauthorized
from .store import Store

USER_ROLES = ("admin", "manager", "staff")
DEVICE_ROLES = ("kiosk", "display")
ROLES = USER_ROLES + DEVICE_ROLES
MIN_PASSWORD = 10
LOCK_AFTER = 5
LOCK_MINUTES = 15
TOKEN_TOUCH_S = 60  # write last_used_at at most once a minute per token: no write per request

# Who may do what. Checked by the API and by the Socket.IO handlers.
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "ticket.issue": ("admin", "manager", "staff", "kiosk"),
    "ticket.read": ("admin", "manager", "staff", "kiosk"),
    "counter.operate": ("admin", "manager", "staff"),
    "queue.detail": ("admin", "manager", "staff"),
    "day.close": ("admin", "manager"),
    "reports.read": ("admin", "manager"),
    "admin.users": ("admin",),
    "admin.devices": ("admin", "manager"),
    "admin.settings": ("admin", "manager"),
    "display.read": ("admin", "manager", "staff", "display"),
}


def allowed(actor: Actor | None, permission: str) -> bool:
    return actor is not None and actor.role in PERMISSIONS[permission]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    def __init__(self, store: Store, clock: Clock = system_clock):
        self.store = store
        self.clock = clock
        self._touched: dict[int, float] = {}

    # ---------------------------------------------------------------- users

    def add_user(self, username: str, role: str, password: str, display_name: str | None = None) -> int:
        username = (username or "").strip()
        if not username or len(username) > 64 or not username.replace(".", "").replace("_", "").replace(
                "-", "").isalnum():
            raise Invalid("Tên đăng nhập chỉ gồm chữ, số, dấu . _ -", "username: letters, digits, . _ - only",
                          code="bad_username")
        if role not in USER_ROLES:
            raise Invalid("Vai trò không hợp lệ", f"role must be one of {', '.join(USER_ROLES)}", code="bad_role")
        check_password_strength(password)
        with self.store.write() as conn:
            if conn.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
                raise Conflict(f"Tài khoản {username} đã có", f"User {username} exists", code="user_exists")
            cur = conn.execute(
                "INSERT INTO users (username, display_name, role, password_hash, created_at) VALUES (?,?,?,?,?)",
                (username, display_name or username, role, generate_password_hash(password),
                 to_iso(self.clock())))
            return int(cur.lastrowid)

    def users(self) -> list[dict[str, Any]]:
        with self.store.connection() as conn:
            return [dict(r) for r in conn.execute(
                "SELECT id, username, display_name, role, active, locked_until, created_at FROM users "
                "ORDER BY username")]

    def user(self, username: str) -> dict[str, Any]:
        with self.store.connection() as conn:
            row = conn.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
        if row is None:
            raise NotFound(f"Không có tài khoản {username}", f"No user {username}", code="unknown_user")
        return dict(row)

    def set_password(self, username: str, password: str) -> None:
        check_password_strength(password)
        with self.store.write() as conn:
            cur = conn.execute("UPDATE users SET password_hash = ?, failed_logins = 0, locked_until = NULL "
                               "WHERE username = ?", (generate_password_hash(password), username))
            if cur.rowcount == 0:
                raise NotFound(f"Không có tài khoản {username}", f"No user {username}", code="unknown_user")

    def update_user(self, username: str, *, role: str | None = None, active: bool | None = None,
                    display_name: str | None = None) -> None:
        if role is not None and role not in USER_ROLES:
            raise Invalid("Vai trò không hợp lệ", "bad role", code="bad_role")
        with self.store.write() as conn:
            row = conn.execute("SELECT id FROM users WHERE username = ?", (username,)).fetchone()
            if row is None:
                raise NotFound(f"Không có tài khoản {username}", f"No user {username}", code="unknown_user")
            if role is not None:
                conn.execute("UPDATE users SET role = ? WHERE id = ?", (role, row["id"]))
            if active is not None:
                conn.execute("UPDATE users SET active = ? WHERE id = ?", (1 if active else 0, row["id"]))
            if display_name:
                conn.execute("UPDATE users SET display_name = ? WHERE id = ?", (display_name[:100], row["id"]))

    def authenticate(self, username: str, password: str) -> Actor:
        """Check a sign-in; counts failures and locks the account after LOCK_AFTER of them."""
        now = self.clock()
        refused = Unauthorized("Sai tên đăng nhập hoặc mật khẩu", "Wrong username or password",
                               code="bad_credentials")
        with self.store.connection() as conn:
            row = conn.execute("SELECT * FROM users WHERE username = ?", ((username or "").strip(),)).fetchone()
        if row is None or not row["active"]:
            # Same work and answer as a wrong password: no hint which usernames exist.
            check_password_hash(_DUMMY_HASH, password or "")
            raise refused
        if row["locked_until"] and from_iso(row["locked_until"]) > now:
            raise Unauthorized("Tài khoản tạm khóa do đăng nhập sai nhiều lần; thử lại sau 15 phút",
                               "Account locked after repeated failures; try again in 15 minutes", code="locked")
        ok = check_password_hash(row["password_hash"], password or "")
        with self.store.write() as conn:
            if ok:
                conn.execute("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?", (row["id"],))
            else:
                conn.execute(
                    "UPDATE users SET failed_logins = CASE WHEN failed_logins + 1 >= ? THEN 0 ELSE failed_logins + 1 "
                    "END, locked_until = CASE WHEN failed_logins + 1 >= ? THEN ? ELSE locked_until END WHERE id = ?",
                    (LOCK_AFTER, LOCK_AFTER, to_iso(now + timedelta(minutes=LOCK_MINUTES)), row["id"]))
            conn.execute("INSERT INTO audit_log (at, actor, role, action) VALUES (?,?,?,?)",
                         (to_iso(now), row["username"], row["role"], "login" if ok else "login_failed"))
        if not ok:
            raise refused
        return Actor(row["username"], row["role"])

    def actor_for_user(self, user_id: int) -> Actor | None:
        with self.store.connection() as conn:
            row = conn.execute("SELECT username, role, active FROM users WHERE id = ?", (user_id,)).fetchone()
        if row is None or not row["active"]:
            return None
        return Actor(row["username"], row["role"])

    # ---------------------------------------------------------------- tokens

    def create_token(self, *, user: str | None = None, device: str | None = None, role: str | None = None,
                     site: str | None = None) -> str:
        """A new bearer token; returned once, stored hashed."""
        token = "xh_" + secrets.token_urlsafe(32)
        now = to_iso(self.clock())
        with self.store.write() as conn:
            if user:
                row = conn.execute("SELECT id, role FROM users WHERE username = ?", (user,)).fetchone()
                if row is None:
                    raise NotFound(f"Không có tài khoản {user}", f"No user {user}", code="unknown_user")
                conn.execute("INSERT INTO tokens (token_hash, name, role, site, user_id, created_at) "
                             "VALUES (?,?,?,?,?,?)", (hash_token(token), user, row["role"], None, row["id"], now))
            else:
                if not device or role not in DEVICE_ROLES:
                    raise Invalid("Thiết bị cần tên và vai trò kiosk hoặc display",
                                  "A device token needs a name and role kiosk or display", code="bad_device")
                if not site:
                    raise Invalid("Thiết bị cần điểm tiếp nhận", "A device token needs a site", code="bad_device")
                conn.execute("INSERT INTO tokens (token_hash, name, role, site, created_at) VALUES (?,?,?,?,?)",
                             (hash_token(token), device, role, site, now))
        return token

    def tokens(self) -> list[dict[str, Any]]:
        with self.store.connection() as conn:
            return [dict(r) for r in conn.execute(
                "SELECT id, name, role, site, user_id, created_at, revoked_at, last_used_at FROM tokens "
                "ORDER BY revoked_at IS NOT NULL, created_at DESC")]

    def revoke_token(self, token_id: int) -> None:
        with self.store.write() as conn:
            cur = conn.execute("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                               (to_iso(self.clock()), token_id))
            if cur.rowcount == 0:
                raise NotFound("Không có mã truy cập này hoặc đã thu hồi", "No such active token",
                               code="unknown_token")

    def actor_for_token(self, token: str) -> Actor | None:
        if not token or len(token) > 200:
            return None
        with self.store.connection() as conn:
            row = conn.execute(
                "SELECT t.id, t.name, t.role, t.site, t.revoked_at, u.active, u.role AS user_role, u.username "
                "FROM tokens t LEFT JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?",
                (hash_token(token),)).fetchone()
        if row is None or row["revoked_at"]:
            return None
        if row["username"] is not None:
            if not row["active"]:
                return None
            actor = Actor(row["username"], row["user_role"])
        else:
            actor = Actor(row["name"], row["role"], row["site"])
        self._touch(row["id"])
        return actor

    def _touch(self, token_id: int) -> None:
        now = time.monotonic()
        if now - self._touched.get(token_id, -1e9) < TOKEN_TOUCH_S:
            return
        self._touched[token_id] = now
        try:
            with self.store.write() as conn:
                conn.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", (to_iso(self.clock()), token_id))
        except Exception:  # noqa: BLE001,S110 - bookkeeping only; never fail a request for it
            pass


def check_password_strength(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise Invalid(f"Mật khẩu cần ít nhất {MIN_PASSWORD} ký tự", f"Password needs {MIN_PASSWORD}+ characters",
                      code="weak_password")
    if len(password) > 256:
        raise Invalid("Mật khẩu quá dài", "Password too long", code="weak_password")


def generate_password() -> str:
    return secrets.token_urlsafe(12)


_DUMMY_HASH = generate_password_hash("not-a-real-password-" + secrets.token_hex(8))
