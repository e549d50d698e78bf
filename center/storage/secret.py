"""The installation's random secret, kept beside the database: the web sessions' key (center/app.py) and the
pepper of booking phone hashes (center/queue/bookings.py), so a copied database file alone reveals neither."""

from __future__ import annotations

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
