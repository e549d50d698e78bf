"""What the center manages flows down: its config.toml (services, procedures, priority groups, rating, the
node's sites with their counters and devices) and the staff accounts (password hashes, never passwords).

A node keeps the last manifest it received in `sync_link` and runs on it, link or no link: its own file
holds only `[upstream]` (and optionally `[security]`). `effective_config` builds the node's Config from the
two; a server started on a node's file with no manifest yet says how to get one (`sync join`).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from ..config.model import Config, Node
from ..config.read import ConfigError, load_config, parse_config, read_toml
from ..queue.clock import to_iso

LOCAL_SECTIONS = ("upstream", "security")  # a node's own file keeps these; the rest comes from the center


def build(config: Config, conn: sqlite3.Connection, node: Node) -> dict[str, Any]:
    """The manifest for `node`: the center's config as written, the node's sites and id block, the accounts."""
    if not config.source_path:
        raise ConfigError("upstream", "the center's config was not read from a file: no manifest can be built")
    data = read_toml(config.source_path)
    users = [dict(r) for r in conn.execute(
        "SELECT username, display_name, role, password_hash, active FROM users ORDER BY username")]
    body = {"config": data, "node": node.id, "name": node.name, "sites": list(node.sites), "block": node.block,
            "users": users}
    path = conn.execute("PRAGMA database_list").fetchone()[2]
    if path:  # the key booking phones are hashed with (the province's, when the center has it): one citizen, one hash
        from ..storage.secret import booking_key

        body["phone_key"] = booking_key(path)
    return {**body, "hash": digest(body)}


def digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]


def node_data(local: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """config.toml data for the node: the center's, its sites only, with the node's own sections."""
    data = {k: v for k, v in manifest["config"].items() if k not in ("nodes", "hub", *LOCAL_SECTIONS)}
    if "security" in manifest["config"] and "security" not in local:
        data["security"] = manifest["config"]["security"]
    data["sites"] = [s for s in manifest["config"].get("sites", []) if s.get("code") in manifest["sites"]]
    for key in LOCAL_SECTIONS:
        if key in local:
            data[key] = local[key]
    return data


def stored(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """The last manifest this node received, or None."""
    try:
        row = conn.execute("SELECT manifest FROM sync_link").fetchone()
    except sqlite3.OperationalError:  # a database older than the sync tables
        return None
    return json.loads(row[0]) if row and row[0] else None


def is_node_file(path: str | Path) -> bool:
    try:
        return "upstream" in read_toml(path)
    except ConfigError:
        return False


def effective_config(path: str | Path, db_path: str) -> Config:
    """The Config a server runs on: the file itself at a center; at a node, the file's [upstream] over the
    center's last manifest (kept in the database)."""
    local = read_toml(path)
    if "upstream" not in local:
        return load_config(path)
    from ..storage.store import connect

    manifest = None
    if Path(db_path).exists():
        conn = connect(db_path)
        try:
            manifest = stored(conn)
        finally:
            conn.close()
    if manifest is None:
        raise ConfigError("upstream", f"this node has no configuration from its center yet: run "
                                      f"`xephang --db {db_path} sync join --config {path}` while the link is up, "
                                      f"or `sync join --manifest FILE` with a file made by `sync manifest` at the "
                                      f"center")
    if manifest.get("node") != local["upstream"].get("node"):
        raise ConfigError("upstream.node", f"the database holds node {manifest.get('node')!r}'s configuration, "
                                           f"not {local['upstream'].get('node')!r}'s")
    return parse_config(node_data(local, manifest), str(Path(path).resolve()))


def apply(conn: sqlite3.Connection, manifest: dict[str, Any], now: Any) -> bool:
    """Keep the manifest and bring the accounts in line (inside the caller's write transaction). An account
    whose password, role or state changed, or that the center no longer has, loses its sessions here too.
    Returns whether the configuration part changed (the server must reload to run on it)."""
    old = stored(conn)
    conn.execute("UPDATE sync_link SET manifest = ?, manifest_hash = ?, manifest_at = ?",
                 (json.dumps(manifest, ensure_ascii=False), manifest["hash"], to_iso(now)))
    names = []
    for u in manifest["users"]:
        names.append(u["username"])
        conn.execute(
            "INSERT INTO users (username, display_name, role, password_hash, active, created_at) VALUES (?,?,?,?,?,?) "
            "ON CONFLICT(username) DO UPDATE SET display_name = excluded.display_name, role = excluded.role, "
            "password_hash = excluded.password_hash, active = excluded.active, session_gen = CASE WHEN "
            "users.password_hash != excluded.password_hash OR users.role != excluded.role OR users.active != "
            "excluded.active THEN users.session_gen + 1 ELSE users.session_gen END",
            (u["username"], u["display_name"], u["role"], u["password_hash"], int(u["active"]), to_iso(now)))
    marks = ",".join("?" * len(names)) or "''"
    conn.execute(f"UPDATE users SET active = 0, session_gen = session_gen + 1 WHERE active = 1 AND "  # noqa: S608
                 f"username NOT IN ({marks})", names)
    changed = old is None or {k: old.get(k) for k in ("config", "sites", "block")} != \
        {k: manifest.get(k) for k in ("config", "sites", "block")}
    return changed
