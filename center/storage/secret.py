"""The installation's random secret, kept beside the database: the web sessions' key (center/app.py) and the
pepper of booking phone hashes (center/queue/bookings.py), so a copied database file alone reveals neither."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path


def installation_secret(db_path: str) -> str:
    """XEPHANG_SECRET_KEY, else the `.secret` file beside the database (created once, mode 0600)."""
    if os.environ.get("XEPHANG_SECRET_KEY"):
        return os.environ["XEPHANG_SECRET_KEY"]
    path = Path(db_path).with_suffix(".secret")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it meanwhile
            return path.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()


def booking_key_path(db_path: str | Path) -> Path:
    return Path(db_path).with_suffix(".phone-key")


def booking_key(db_path: str | Path) -> str:
    """The key booking phone numbers are hashed with: the province hub's (`.phone-key` beside the database, sent
    down by the hub to its centers and by a center to its nodes), so the per-person cap counts a citizen once
    across the hub's page and every desk; a center with no hub, its own installation secret."""
    try:
        key = booking_key_path(db_path).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        key = ""
    # not the secret itself: it also signs the web sessions, and this key goes to the center's nodes
    return key or hmac.new(installation_secret(str(db_path)).encode(), b"booking phone key", "sha256").hexdigest()


def keep_booking_key(db_path: str | Path, key: str) -> bool:
    """Keep the province's key (owner-only); whether it changed."""
    path = booking_key_path(db_path)
    try:
        if path.read_text(encoding="utf-8").strip() == key:
            return False
    except FileNotFoundError:
        pass
    write_private(path, key)
    return True


def write_private(path: str | Path, data: bytes | str) -> None:
    """Write a file only its owner can read (mode 0600 from its creation, whatever the umask): manifests with
    password hashes, tokens, bundles, backups. Through a temporary file, fsync and a rename: never half written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
