"""The `voice_packs` and `voice_clips` tables (migration 17): the only module that writes them.

A pack is a language code, a name and clips keyed by center/output/voice.py's Token.key. Clips arrive already
checked and levelled (center/output/voicepack.py); here they are only stored, listed and read. Every change
of a clip bumps the pack's `version`, which keys the cache of joined calls.
"""

from __future__ import annotations

import sqlite3
from typing import Any

MAX_PACKS = 50
MAX_CLIPS = 400  # a pack needs about forty; a bound so that a scripted upload cannot fill the disk


def packs(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every pack with the keys of its clips, oldest first."""
    out = []
    for row in conn.execute("SELECT id, lang, name, version, created_at, updated_at FROM voice_packs ORDER BY id"):
        pack = dict(row)
        pack["clips"] = {r["key"]: {"duration_s": r["duration_s"], "recorded_at": r["recorded_at"],
                                    "recorded_by": r["recorded_by"]}
                         for r in conn.execute("SELECT key, duration_s, recorded_at, recorded_by FROM voice_clips "
                                               "WHERE pack_id = ? ORDER BY key", (pack["id"],))}
        out.append(pack)
    return out


def pack(conn: sqlite3.Connection, pack_id: int) -> dict[str, Any] | None:
    row = conn.execute("SELECT id, lang, name, version, created_at, updated_at FROM voice_packs WHERE id = ?",
                       (pack_id,)).fetchone()
    return dict(row) if row else None


def create(conn: sqlite3.Connection, lang: str, name: str, at: str) -> int:
    (count,) = conn.execute("SELECT count(*) FROM voice_packs").fetchone()
    if count >= MAX_PACKS:
        raise ValueError(f"at most {MAX_PACKS} voice packs")
    cur = conn.execute("INSERT INTO voice_packs (lang, name, version, created_at, updated_at) VALUES (?,?,0,?,?)",
                       (lang, name, at, at))
    return int(cur.lastrowid or 0)


def delete(conn: sqlite3.Connection, pack_id: int) -> None:
    conn.execute("DELETE FROM voice_clips WHERE pack_id = ?", (pack_id,))
    conn.execute("DELETE FROM voice_packs WHERE id = ?", (pack_id,))


def clip(conn: sqlite3.Connection, pack_id: int, key: str) -> bytes | None:
    row = conn.execute("SELECT wav FROM voice_clips WHERE pack_id = ? AND key = ?", (pack_id, key)).fetchone()
    return bytes(row[0]) if row else None


def clips(conn: sqlite3.Connection, pack_id: int) -> dict[str, bytes]:
    return {r[0]: bytes(r[1]) for r in conn.execute("SELECT key, wav FROM voice_clips WHERE pack_id = ?", (pack_id,))}


def put_clip(conn: sqlite3.Connection, pack_id: int, key: str, wav: bytes, duration_s: float, at: str,
             by: str | None) -> None:
    """Store (or replace) a clip and bump the pack's version, in the caller's transaction."""
    known = conn.execute("SELECT 1 FROM voice_clips WHERE pack_id = ? AND key = ?", (pack_id, key)).fetchone()
    (count,) = conn.execute("SELECT count(*) FROM voice_clips WHERE pack_id = ?", (pack_id,)).fetchone()
    if not known and count >= MAX_CLIPS:
        raise ValueError(f"at most {MAX_CLIPS} clips in a pack")
    conn.execute("INSERT INTO voice_clips (pack_id, key, wav, duration_s, recorded_at, recorded_by) "
                 "VALUES (?,?,?,?,?,?) ON CONFLICT(pack_id, key) DO UPDATE SET wav = excluded.wav, "
                 "duration_s = excluded.duration_s, recorded_at = excluded.recorded_at, "
                 "recorded_by = excluded.recorded_by", (pack_id, key, wav, duration_s, at, by))
    conn.execute("UPDATE voice_packs SET version = version + 1, updated_at = ? WHERE id = ?", (at, pack_id))


def drop_clip(conn: sqlite3.Connection, pack_id: int, key: str, at: str) -> None:
    conn.execute("DELETE FROM voice_clips WHERE pack_id = ? AND key = ?", (pack_id, key))
    conn.execute("UPDATE voice_packs SET version = version + 1, updated_at = ? WHERE id = ?", (at, pack_id))
