"""No link at all: a node writes everything the center may not have yet to a file (a USB stick), the center
imports it. A bundle holds every record changed since the last mark the center confirmed over the link, so
bundles can be carried in any order, imported twice, or overlap a live sync: the center's upsert keeps one
copy of each record, the newest."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from ..config.model import Config
from ..queue.clock import from_iso, to_iso
from ..storage import outbox
from ..storage.outbox import SyncRefused
from ..storage.store import Store
from . import nodes
from .protocol import CLOCK_TOLERANCE_S, read_bundle, write_bundle


def export(store: Store, dest: str | Path, now: datetime, *, since: int | None = None) -> tuple[Path, dict[str, Any]]:
    """Write a bundle of everything after the center's last known mark (or `since`) into folder `dest`."""
    with store.read() as conn:
        link = conn.execute("SELECT node, acked, clock_offset_s FROM sync_link").fetchone()
    if link is None:
        raise SyncRefused("this database is not a node's (no [upstream] link): nothing to export")
    node, acked, offset = link[0], int(link[1]), link[2]
    start = acked if since is None else since
    with store.connection() as conn:
        batch = outbox.collect(conn, node, start, limit=10**9)
    folder = Path(dest)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"xephang-{node}-{stamp}-{batch.after}-{batch.to}.xhb"
    header = write_bundle(str(path), batch, {"exported_at": to_iso(now), "clock_offset_s": offset})
    return path, header


def import_(store: Store, config: Config, path: str | Path, now: datetime) -> dict[str, Any]:
    """Import a node's bundle at the center. Refused with the reason when damaged, of an unknown node, or
    when it starts after what the center has (an earlier bundle is missing)."""
    header, batch, fields = read_bundle(str(path))
    node = config.node(batch.node)
    if node is None:
        raise SyncRefused(f"the bundle is node {batch.node!r}'s, which is not in this center's config.toml")
    offset = header.get("clock_offset_s")
    exported = header.get("exported_at")
    if exported:
        ahead = (from_iso(str(exported)) - now).total_seconds()
        if ahead > CLOCK_TOLERANCE_S and (offset is None or offset < ahead):
            offset = round(ahead, 1)  # exported "in the future": the node's clock was at least this far ahead
    with store.write() as conn:
        result = nodes.receive(conn, config, node, batch, via="bundle", size=int(header.get("bytes", 0)), now=now,
                               clock_offset_s=offset if isinstance(offset, int | float) else None)
    if result["gap"]:
        raise SyncRefused(f"the bundle starts at position {batch.after} of node {node.id!r}, but the center has "
                          f"everything only up to {result['hwm']}: import the earlier bundle first, or export again "
                          f"at the node with `sync export --since {result['hwm']}`")
    return {"node": node.id, "records": batch.records(), "written": result["written"], "hwm": result["hwm"],
            "sites": list(node.sites), "clock_offset_s": offset}
