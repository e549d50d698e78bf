"""Online backups and restore of the SQLite database.

`backup()` uses SQLite's online backup API in a single step: it reads one consistent snapshot (a WAL
read transaction), so it is safe while the server issues and calls tickets, and the writers are never
blocked. The copy is written under a temporary name, switched to a self-contained rollback-journal
file, checked with `PRAGMA integrity_check` and only then renamed to its final name
`<db name>-YYYYMMDD-HHMMSS.sqlite3` (the center's local time, not the server's clock zone, often UTC),
so a half-written file never looks like a backup.
Backups hold password and token hashes: they are created with mode 0600.

`restore()` refuses while any process has the database open (a running server keeps pooled
connections, which SQLite sees as shared locks), checks the backup, moves the current database aside
as `<db>.before-restore-<ts>` (with its -wal/-shm, if any) and copies the backup in.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from .migrations import MIGRATIONS

STAMP = "%Y%m%d-%H%M%S"
SUFFIX = ".sqlite3"
CENTER_TZ = ZoneInfo("Asia/Ho_Chi_Minh")  # the default of config.toml's [center] timezone


def _stamp(tz: ZoneInfo | None) -> str:
    """Now in the center's time zone: the operator reads backup names in local time."""
    return datetime.now(tz or CENTER_TZ).strftime(STAMP)


class BackupError(RuntimeError):
    """A backup or restore could not be made safely; nothing was changed."""


def _pattern(stem: str) -> re.Pattern[str]:
    return re.compile(re.escape(stem) + r"-(\d{8}-\d{6})(?:-(\d+))?" + re.escape(SUFFIX) + "$")


def list_backups(dest_dir: str | Path, db_path: str | Path) -> list[Path]:
    """Backups of this database in `dest_dir`, oldest first."""
    pattern = _pattern(Path(db_path).stem)
    found = []
    for p in Path(dest_dir).iterdir() if Path(dest_dir).is_dir() else ():
        m = pattern.match(p.name)
        if m and p.is_file():
            found.append(((m.group(1), int(m.group(2) or 0)), p))
    return [p for _, p in sorted(found)]


def integrity(path: str | Path) -> str:
    """`PRAGMA integrity_check` of a database file opened read-only: "ok" or the first problems."""
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as conn:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError as e:
        return f"not a usable database: {e}"
    return "; ".join(str(r[0]) for r in rows[:5])


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup(db_path: str | Path, dest_dir: str | Path, keep: int = 14, tz: ZoneInfo | None = None) -> Path:
    """Copy the live database to `dest_dir`, verify the copy, keep only the newest `keep` backups."""
    db = Path(db_path)
    if not db.is_file():
        raise BackupError(f"no database at {db}")
    if keep < 1:
        raise BackupError("keep must be at least 1")
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    stamp = _stamp(tz)
    # Two backups within one second: the later one gets the next counter, so it always sorts newest.
    pattern = _pattern(db.stem)
    same = [int(m.group(2) or 1) for p in list_backups(dest, db) if (m := pattern.match(p.name))
            and m.group(1) == stamp]
    final = dest / (f"{db.stem}-{stamp}-{max(same) + 1}{SUFFIX}" if same else f"{db.stem}-{stamp}{SUFFIX}")
    partial = dest / f".{final.name}.partial"
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # owner-only from the start
    try:
        with contextlib.closing(sqlite3.connect(str(db), timeout=30)) as src, \
                contextlib.closing(sqlite3.connect(str(partial))) as dst:
            src.execute("PRAGMA busy_timeout = 30000")
            # pages=-1: the whole database from one read snapshot. A stepwise copy would restart each
            # time the server commits and might never finish on a busy day.
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal beside it
        with open(partial, "rb+") as f:
            os.fsync(f.fileno())
        result = integrity(partial)
        if result != "ok":
            raise BackupError(f"the copy failed its integrity check: {result}")
        os.replace(partial, final)
        _fsync_dir(dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    for old in list_backups(dest, db)[:-keep]:
        old.unlink(missing_ok=True)
    return final


def in_use(db_path: str | Path) -> bool:
    """True when another process has the database open (a running server holds pooled connections)."""
    with contextlib.closing(sqlite3.connect(str(db_path), timeout=0.2, isolation_level=None)) as conn:
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        try:
            conn.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError:
            return True
        conn.execute("ROLLBACK")
        with contextlib.suppress(sqlite3.DatabaseError):
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file before it moves
        return False


def restore(backup_file: str | Path, db_path: str | Path, tz: ZoneInfo | None = None) -> Path | None:
    """Put `backup_file` in place of `db_path`; the current database is moved aside (returned)."""
    src = Path(backup_file)
    db = Path(db_path)
    if not src.is_file():
        raise BackupError(f"no backup file at {src}")
    result = integrity(src)
    if result != "ok":
        raise BackupError(f"the backup failed its integrity check, nothing changed: {result}")
    uri = src.resolve().as_uri() + "?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise BackupError(f"the backup has schema v{version}, newer than this program (v{len(MIGRATIONS)})")
    aside = None
    if db.exists():
        if in_use(db):
            raise BackupError(f"{db} is in use (is the server running?): stop it first, nothing changed")
        aside = db.with_name(f"{db.name}.before-restore-{_stamp(tz)}")
        while aside.exists():
            time.sleep(1)
            aside = db.with_name(f"{db.name}.before-restore-{_stamp(tz)}")
        os.replace(db, aside)
        wal = Path(f"{db}-wal")
        if wal.exists() and wal.stat().st_size:  # normally checkpointed away by in_use(); kept just in case
            os.replace(wal, Path(f"{aside}-wal"))
    else:
        db.parent.mkdir(parents=True, exist_ok=True)
    for extra in ("-wal", "-shm", "-journal"):
        Path(f"{db}{extra}").unlink(missing_ok=True)
    tmp = db.with_name(f".{db.name}.restoring")
    tmp.unlink(missing_ok=True)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    with open(src, "rb") as fin, open(tmp, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
        fout.flush()
        os.fsync(fout.fileno())
    os.replace(tmp, db)
    _fsync_dir(db.parent)
    return aside
