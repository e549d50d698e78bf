"""Migration 17: voice packs (issue 18), kept apart because center/storage/migrations.py is at its size limit.

The clips live in the database, not as files beside it: a pack is small (about forty clips of a second or two,
a few megabytes), a backup of the one file then carries the recordings a center spent an afternoon on, and a
pack changes atomically (a clip and the pack's version in one transaction). Neither table is synced: a pack
is the center's own, shared between centers as an exported file.
"""

V17_VOICE_PACKS = """
CREATE TABLE voice_packs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  lang TEXT NOT NULL,                   -- 'vi' reads numbers by center/output/voice.py; another code digit by digit
  name TEXT NOT NULL,
  version INTEGER NOT NULL DEFAULT 0,   -- bumped by every clip change: part of the joined calls' cache key
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE voice_clips (
  pack_id INTEGER NOT NULL REFERENCES voice_packs (id),
  key TEXT NOT NULL,                    -- center/output/voice.py Token.key: a word, a phrase or a slot
  wav BLOB NOT NULL,                    -- mono 16-bit 22,050 Hz, trimmed and levelled (center/output/voicepack.py)
  duration_s REAL NOT NULL,
  recorded_at TEXT NOT NULL,
  recorded_by TEXT,
  PRIMARY KEY (pack_id, key)
);
"""
