"""Staff accounts, device and script tokens, and what each role may do.

Passwords are hashed with scrypt (werkzeug); tokens are random and only their SHA-256 is stored, so
a copied database file holds no usable secret. No account or token exists until an operator creates one:
there is no default password.

Sign-in attempts are counted before any password is checked, in one write transaction (valid across
processes): per account name, existing or not (5 unresolved attempts lock the name for 15 minutes, with the
same answer whether the account exists), and per client address (10, then one every 30 s). A burst of
attempts therefore gets at most 5 password checks, and spraying many names from one address is slowed down.

A cookie session and a socket hold the account's `session_gen` from sign-in; sign-out, a password reset, a
role change and disabling the account bump it, which ends every session and socket of the account. A socket
opened with a token ends when the token is revoked or its account disabled (center/web/realtime.py sweeps).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from werkzeug.security import check_password_hash, generate_password_hash

from .. import offload
from ..errors import Conflict, Invalid, NotFound, QueueError, Unauthorized
from ..queue.actors import Actor
from ..queue.clock import Clock, from_iso, system_clock, to_iso
from ..storage import audit
from ..storage.store import Store

USER_ROLES = ("admin", "manager", "staff")
DEVICE_ROLES = ("kiosk", "display")
ROLES = USER_ROLES + DEVICE_ROLES
MIN_PASSWORD = 10
LOCK_AFTER = 5
LOCK_MINUTES = 15
ADDRESS_BURST = 10  # sign-in failures one client address may have in hand...
ADDRESS_EVERY_S = 30.0  # ...one of which is forgotten every 30 s
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
    "booking.manage": ("admin", "manager", "staff"),
    "booking.check_in": ("admin", "manager", "staff", "kiosk"),
}


def allowed(actor: Actor | None, permission: str) -> bool:
    return actor is not None and actor.role in PERMISSIONS[permission]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Credential:
    """What a session or socket rests on: an account at a session generation, or a token (and, for a
    person's token, the account's generation). Ends when that changes (`Accounts.ended`)."""

    kind: str  # "user" or "token"
    id: int
    gen: int | None = None


@dataclass(frozen=True)
class Limit:
    """Attempts under one key. With `per_s`, each attempt adds 1 to a level that drains at that rate and an
    attempt past `capacity` waits (the address rule). Without, attempts add up until `forget_s` passes with
    none, and the one that reaches `capacity` locks the key for `lock_s` (the account rule)."""

    prefix: str
    capacity: int
    per_s: float = 0.0
    lock_s: float = 0.0
    forget_s: float = 0.0


ACCOUNT_LIMIT = Limit("user", LOCK_AFTER, lock_s=LOCK_MINUTES * 60, forget_s=LOCK_MINUTES * 60)
ADDRESS_LIMIT = Limit("addr", ADDRESS_BURST, per_s=1 / ADDRESS_EVERY_S)


def _reserve(conn: Any, limit: Limit, key: str, now: datetime) -> float | None:
    """Count one attempt under `key` inside the caller's write transaction; the seconds to wait instead when
    the key is locked or full (nothing is counted then). Expired rows were deleted by the caller."""
    row = conn.execute("SELECT level, updated_at, locked_until FROM login_limits WHERE key = ?",
                       (f"{limit.prefix}:{key}",)).fetchone()
    level = 0.0
    if row is not None:
        if row["locked_until"]:
            until = from_iso(row["locked_until"])
            if until > now:
                return (until - now).total_seconds()
        elif limit.per_s:
            level = max(0.0, row["level"] - (now - from_iso(row["updated_at"])).total_seconds() * limit.per_s)
        else:
            level = row["level"]
    if limit.per_s and level + 1 > limit.capacity:
        return (level + 1 - limit.capacity) / limit.per_s
    level += 1
    locked = now + timedelta(seconds=limit.lock_s) if limit.lock_s and level >= limit.capacity else None
    expires = now + timedelta(seconds=level / limit.per_s if limit.per_s else limit.forget_s)
    conn.execute("INSERT OR REPLACE INTO login_limits (key, level, updated_at, locked_until, expires_at) "
                 "VALUES (?,?,?,?,?)", (f"{limit.prefix}:{key}", level, to_iso(now),
                                        to_iso(locked) if locked else None, to_iso(max(expires, locked or expires))))
    return None


def _refund(conn: Any, limit: Limit, key: str) -> None:
    """A right password: the attempt it counted is given back (an account starts again from zero)."""
    if limit.lock_s:
        conn.execute("DELETE FROM login_limits WHERE key = ?", (f"{limit.prefix}:{key}",))
    else:
        conn.execute("UPDATE login_limits SET level = max(0, level - 1) WHERE key = ?", (f"{limit.prefix}:{key}",))


def _locked(seconds: float) -> Unauthorized:
    minutes = max(1, round(seconds / 60))
    return Unauthorized(f"Tạm khóa đăng nhập với tên này do sai nhiều lần; thử lại sau {minutes} phút",
                        f"Sign-in with this name is locked after repeated failures; try again in {minutes} min",
                        code="locked", retry_after=round(seconds))


def _throttled(seconds: float) -> QueueError:
    return QueueError(f"Quá nhiều lần đăng nhập sai từ máy này; vui lòng thử lại sau {max(1, round(seconds))} giây",
                      f"Too many failed sign-ins from this device; try again in {max(1, round(seconds))} s",
                      code="too_many_attempts", status=429, retry_after=round(seconds, 1))


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
                "SELECT u.id, u.username, u.display_name, u.role, u.active, l.locked_until, u.created_at "
                "FROM users u LEFT JOIN login_limits l ON l.key = 'user:' || lower(u.username) "
                "AND l.locked_until > ? ORDER BY u.username", (to_iso(self.clock()),))]

    def user(self, username: str) -> dict[str, Any]:
        with self.store.connection() as conn:
            row = conn.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
        if row is None:
            raise NotFound(f"Không có tài khoản {username}", f"No user {username}", code="unknown_user")
        return dict(row)

    def set_password(self, username: str, password: str) -> None:
        check_password_strength(password)
        with self.store.write() as conn:
            cur = conn.execute("UPDATE users SET password_hash = ?, failed_logins = 0, locked_until = NULL, "
                               "session_gen = session_gen + 1 WHERE username = ?",
                               (generate_password_hash(password), username))
            if cur.rowcount == 0:
                raise NotFound(f"Không có tài khoản {username}", f"No user {username}", code="unknown_user")
            conn.execute("DELETE FROM login_limits WHERE key = ?", (f"{ACCOUNT_LIMIT.prefix}:{username.lower()}",))

    def update_user(self, username: str, *, role: str | None = None, active: bool | None = None,
                    display_name: str | None = None) -> None:
        if role is not None and role not in USER_ROLES:
            raise Invalid("Vai trò không hợp lệ", "bad role", code="bad_role")
        with self.store.write() as conn:
            row = conn.execute("SELECT id, role, active FROM users WHERE username = ?", (username,)).fetchone()
            if row is None:
                raise NotFound(f"Không có tài khoản {username}", f"No user {username}", code="unknown_user")
            if role is not None:
                conn.execute("UPDATE users SET role = ? WHERE id = ?", (role, row["id"]))
            if active is not None:
                conn.execute("UPDATE users SET active = ? WHERE id = ?", (1 if active else 0, row["id"]))
            if active:  # unlocking an account lifts a sign-in lockout after wrong passwords too
                conn.execute("DELETE FROM login_limits WHERE key = ?", (f"{ACCOUNT_LIMIT.prefix}:{username.lower()}",))
            if (role is not None and role != row["role"]) or (active is False and row["active"]):
                # What the sessions of this account were opened with no longer holds: end them all.
                conn.execute("UPDATE users SET session_gen = session_gen + 1 WHERE id = ?", (row["id"],))
            if display_name:
                conn.execute("UPDATE users SET display_name = ? WHERE id = ?", (display_name[:100], row["id"]))

    def authenticate(self, username: str, password: str, address: str = "") -> tuple[Actor, Credential]:
        """Check a sign-in from client `address`. The attempt is counted (per name and per address) and the
        lock decided in one transaction before the password is checked; a right password gives it back."""
        now = self.clock()
        refused = Unauthorized("Sai tên đăng nhập hoặc mật khẩu", "Wrong username or password",
                               code="bad_credentials")
        name = (username or "").strip()
        if not name or not password or len(name) > 64 or len(password) > 256:
            raise refused  # nothing to check: not counted
        key = name.lower()
        with self.store.write() as conn:
            conn.execute("DELETE FROM login_limits WHERE expires_at < ?", (to_iso(now),))
            wait = _reserve(conn, ADDRESS_LIMIT, address, now)
            if wait is not None:
                raise _throttled(wait)
            wait = _reserve(conn, ACCOUNT_LIMIT, key, now)
            if wait is not None:
                raise _locked(wait)  # same answer whether the account exists; rolls the address count back
            row = conn.execute("SELECT * FROM users WHERE username = ?", (name,)).fetchone()
        real = row is not None and row["active"]
        # Same work for a missing account as for a wrong password (no hint which names exist), on a native
        # thread: scrypt takes ~70 ms of CPU and would otherwise stop every screen of the worker meanwhile.
        ok = offload.run(check_password_hash, row["password_hash"] if real else _DUMMY_HASH, password) and real
        with self.store.write() as conn:
            if ok:
                _refund(conn, ACCOUNT_LIMIT, key)
                _refund(conn, ADDRESS_LIMIT, address)
            audit.record(conn, to_iso(now), row["username"] if row is not None else name[:64],
                         row["role"] if row is not None else "", "login" if ok else "login_failed",
                         detail={"address": address} if address else None)
        if not ok:
            raise refused
        return Actor(row["username"], row["role"]), Credential("user", row["id"], row["session_gen"])

    def end_sessions(self, user_id: int) -> None:
        """Sign-out: every cookie session and socket of the account ends (copies of the cookie included)."""
        with self.store.write() as conn:
            conn.execute("UPDATE users SET session_gen = session_gen + 1 WHERE id = ?", (user_id,))

    def actor_for_user(self, user_id: int, gen: Any = None) -> Actor | None:
        """The person of a cookie session, if the account is active and the session is of its current
        generation (`gen` None: any generation, for callers that hold no session)."""
        with self.store.connection() as conn:
            row = conn.execute("SELECT username, role, active, session_gen FROM users WHERE id = ?",
                               (user_id,)).fetchone()
        if row is None or not row["active"] or (gen is not None and gen != row["session_gen"]):
            return None
        return Actor(row["username"], row["role"])

    def ended(self, credentials: Iterable[Credential]) -> set[Credential]:
        """Those of `credentials` that no longer hold: account disabled or its sessions ended, token revoked."""
        creds = set(credentials)
        users = {c.id for c in creds if c.kind == "user"}
        tokens = {c.id for c in creds if c.kind == "token"}
        now_users: dict[int, Any] = {}
        now_tokens: dict[int, Any] = {}
        with self.store.connection() as conn:
            for chunk in _chunks(sorted(users)):
                now_users.update((r["id"], r) for r in conn.execute(
                    f"SELECT id, active, session_gen FROM users WHERE id IN ({','.join('?' * len(chunk))})", chunk))
            for chunk in _chunks(sorted(tokens)):
                now_tokens.update((r["id"], r) for r in conn.execute(
                    "SELECT t.id, t.revoked_at, t.user_id, u.active, u.session_gen FROM tokens t "
                    f"LEFT JOIN users u ON u.id = t.user_id WHERE t.id IN ({','.join('?' * len(chunk))})", chunk))
        out = set()
        for c in creds:
            if c.kind == "user":
                r = now_users.get(c.id)
                if r is None or not r["active"] or r["session_gen"] != c.gen:
                    out.add(c)
            else:
                r = now_tokens.get(c.id)
                if r is None or r["revoked_at"] or (r["user_id"] is not None and (
                        not r["active"] or r["session_gen"] != c.gen)):
                    out.add(c)
        return out

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
        found = self.token_credential(token)
        return found[0] if found else None

    def token_credential(self, token: str) -> tuple[Actor, Credential] | None:
        """The holder of a valid token, and what a socket opened with it rests on."""
        if not isinstance(token, str) or not token or len(token) > 200:
            return None
        with self.store.connection() as conn:
            row = conn.execute(
                "SELECT t.id, t.name, t.role, t.site, t.revoked_at, u.active, u.role AS user_role, u.username, "
                "u.session_gen FROM tokens t LEFT JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?",
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
        return actor, Credential("token", row["id"], row["session_gen"])

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


def _chunks(ids: list[int], size: int = 500) -> Iterable[list[int]]:
    for i in range(0, len(ids), size):
        yield ids[i:i + size]


def check_password_strength(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise Invalid(f"Mật khẩu cần ít nhất {MIN_PASSWORD} ký tự", f"Password needs {MIN_PASSWORD}+ characters",
                      code="weak_password")
    if len(password) > 256:
        raise Invalid("Mật khẩu quá dài", "Password too long", code="weak_password")


def generate_password() -> str:
    return secrets.token_urlsafe(12)


_DUMMY_HASH = generate_password_hash("not-a-real-password-" + secrets.token_hex(8))
