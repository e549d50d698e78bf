"""No link at all: a node writes everything the center may not have yet to a file (a USB stick), the center
imports it, part by part, each part a batch within the bounds of one over the link. A bundle holds every record
changed since the last mark the center confirmed over the link, so bundles can be carried in any order, imported
twice, or overlap a live sync: the center's upsert keeps one copy of each record, the newest."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from ..config.model import Config
from ..queue.clock import from_iso, to_iso
from ..storage import outbox
from ..storage.outbox import BatchTooLarge, SyncRefused
from ..storage.store import Store
from . import nodes
from .protocol import CLOCK_TOLERANCE_S, encode, read_bundle, write_bundle

PART_POSITIONS = 1000  # outbox positions per part, halved while a part is past protocol's bounds


def export(store: Store, dest: str | Path, now: datetime, *, since: int | None = None) -> tuple[Path, dict[str, Any]]:
    """Write a bundle of everything after the center's last known mark (or `since`) into folder `dest`: parts of at
    most PART_POSITIONS positions, each a batch the center takes as it takes one over the link."""
    with store.read() as conn:
        link = conn.execute("SELECT node, acked, clock_offset_s FROM sync_link").fetchone()
    if link is None:
        raise SyncRefused("this database is not a node's (no [upstream] link): nothing to export")
    node, acked, offset = link[0], int(link[1]), link[2]
    start = acked if since is None else since
    extra = {"exported_at": to_iso(now), "clock_offset_s": offset}
    parts: list[bytes] = []
    after, records, limit = start, 0, PART_POSITIONS
    with store.connection() as conn:
        while True:
            batch = outbox.collect(conn, node, after, limit)
            try:
                parts.append(encode(batch, extra))
            except BatchTooLarge:
                if limit <= 1:
                    raise
                limit = max(1, limit // 2)
                continue
            records += batch.records()
            limit = PART_POSITIONS
            if batch.to == after or not outbox.pending(conn, batch.to):
                after = batch.to
                break
            after = batch.to
    folder = Path(dest)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"xephang-{node}-{stamp}-{start}-{after}.xhb"
    header = write_bundle(str(path), parts, {"node": node, "after": start, "to": after, "records": records, **extra})
    with store.write() as conn:  # what the node's staff screens count as "not in a bundle yet"
        conn.execute("UPDATE sync_link SET bundle_to = max(bundle_to, ?), bundle_at = ?", (after, to_iso(now)))
    return path, header


def import_(store: Store, config: Config, path: str | Path, now: datetime) -> dict[str, Any]:
    """Import a node's bundle at the center, part by part, each in its own write (as batches over the link).
    Refused with the reason when damaged, of an unknown node, or when it starts after what the center has (an
    earlier bundle is missing). Rows the center cannot apply are held, as over the link."""
    header, parts = read_bundle(str(path))
    node = config.node(str(header.get("node")))
    if node is None:
        raise SyncRefused(f"the bundle is node {header.get('node')!r}'s, which is not in this center's config.toml")
    offset = header.get("clock_offset_s")
    exported = header.get("exported_at")
    if isinstance(exported, str):
        try:
            ahead = (from_iso(exported) - now).total_seconds()
        except ValueError:
            ahead = 0.0
        if ahead > CLOCK_TOLERANCE_S and (not isinstance(offset, int | float) or offset < ahead):
            offset = round(ahead, 1)  # exported "in the future": the node's clock was at least this far ahead
    records = written = 0
    held: list[Any] = []
    result: dict[str, Any] = {"hwm": nodes.hwm_of(store, node.id)}
    for n, (batch, _fields) in enumerate(parts):
        if batch.node != node.id:
            raise SyncRefused(f"part {n + 1} of the bundle is node {batch.node!r}'s, not {node.id!r}'s")
        with store.write() as conn:
            result = nodes.receive(conn, config, node, batch, via="bundle", size=0, now=now,
                                   clock_offset_s=offset if isinstance(offset, int | float) else None)
        if result["gap"]:
            raise SyncRefused(f"the bundle starts at position {batch.after} of node {node.id!r}, but the center has "
                              f"everything only up to {result['hwm']}: import the earlier bundle first, or export "
                              f"again at the node with `sync export --since {result['hwm']}`")
        records += batch.records() + len(result["held"])
        written += result["written"]
        held += result["held"]
    return {"node": node.id, "records": records, "written": written, "hwm": result["hwm"],
            "sites": list(node.sites), "clock_offset_s": offset, "held": [h.describe() for h in held[:20]],
            "held_count": len(held)}
