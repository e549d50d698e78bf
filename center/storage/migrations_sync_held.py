"""Migration 19: a link that never stops (issue 25), kept apart because center/storage/migrations.py is at its
size limit.

`sync_held`: rows of a node's batch the center could not apply (a reference to a record it does not have yet, a
record of another site or id block). They are kept, not lost, the rest of the batch is applied and the node's mark
moves on, so one bad row never stops a link; a held row whose reason may pass (a missing reference) is tried
again with every later batch of that node. `sync_seen`: digests of the batches a center took, so a batch sent
again later is answered as the replay it is, not as a node put back from a backup. The refusal columns are what
the node's staff screens, `sync status` and the center's overview show.
"""

V19_SYNC_HELD = """
CREATE TABLE sync_held (
  node TEXT NOT NULL,
  tbl TEXT NOT NULL,
  key TEXT NOT NULL,                    -- the row's key as text (an id, a counter id, a booking code)
  cols TEXT NOT NULL,                   -- JSON list of the row's columns
  row TEXT NOT NULL,                    -- JSON list of its cells
  ver INTEGER NOT NULL,                 -- the snapshot it came from: a newer copy replaces it
  reason TEXT NOT NULL,
  retry INTEGER NOT NULL,               -- 1: tried again with each later batch (a reference may arrive)
  first_at TEXT NOT NULL,
  at TEXT NOT NULL,
  PRIMARY KEY (node, tbl, key)
) WITHOUT ROWID;
CREATE TABLE sync_seen (
  node TEXT NOT NULL,
  digest TEXT NOT NULL,                 -- sha256 of the batch as received
  at TEXT NOT NULL,
  PRIMARY KEY (node, digest)
) WITHOUT ROWID;
CREATE INDEX sync_seen_at ON sync_seen (at);
ALTER TABLE sync_nodes ADD COLUMN refused_at TEXT;      -- the last batch with rows the center could not apply
ALTER TABLE sync_nodes ADD COLUMN refused TEXT;         -- why, in English (the table, key and reason)
ALTER TABLE sync_link ADD COLUMN refused_at TEXT;       -- at the node: the upstream's last refusal, as answered
ALTER TABLE sync_link ADD COLUMN refused TEXT;          -- JSON {message, message_en, records}
ALTER TABLE sync_link ADD COLUMN bundle_to INTEGER NOT NULL DEFAULT 0;  -- the outbox position the last bundle reached
ALTER TABLE sync_link ADD COLUMN bundle_at TEXT;
"""
