"""`xephang node …` (at the center: the nodes' tokens and status) and `xephang sync …` (at a node: join its
center, send now, export a bundle; at the center: import one). docs/federation.md walks through them."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..queue.clock import to_iso
from ..storage.outbox import SyncRefused

DEFAULT_CONFIG = "config.toml"


def _now() -> datetime:
    return datetime.now(UTC)


def _center(args: argparse.Namespace) -> tuple[Any, Any]:
    from ..config.read import load_config
    from ..storage.store import Store

    return load_config(args.config), Store(args.db)


def _node(args: argparse.Namespace) -> tuple[Any, Any]:
    from ..storage.store import Store
    from .manifest import effective_config

    cfg = effective_config(args.config, args.db)
    if cfg.outbound is None:
        raise SyncRefused(f"{args.config} has no [upstream] (a node) nor [hub] (a center): it sends nowhere")
    return cfg, Store(args.db)


def cmd_node_token(args: argparse.Namespace) -> int:
    from ..storage.audit import record
    from .nodes import create_token

    cfg, store = _center(args)
    with store.write() as conn:
        token = create_token(conn, cfg, args.node, _now())
        record(conn, at=to_iso(_now()), actor="cli", role="admin", action="node.token", target=args.node)
    print(f"Node token for {args.node} (shown once; give it to `sync join` on the node):", file=sys.stderr)
    print(token)
    return 0


def cmd_node_revoke(args: argparse.Namespace) -> int:
    from ..storage.audit import record
    from .nodes import revoke

    _, store = _center(args)
    with store.write() as conn:
        done = revoke(conn, args.node)
        record(conn, at=to_iso(_now()), actor="cli", role="admin", action="node.revoke", target=args.node)
    print(f"{args.node}: {'token revoked' if done else 'had no token'}")
    return 0


def cmd_node_list(args: argparse.Namespace) -> int:
    from .nodes import status

    cfg, store = _center(args)
    with store.read() as conn:
        rows = status(conn, cfg, _now())
    for r in rows:
        age = "never" if r["age_s"] is None else f"{r['age_s']} s ago"
        clock = "" if r["clock_offset_s"] is None else f", clock {r['clock_offset_s']:+.0f} s"
        print(f"{r['node']:<16} sites {','.join(r['sites']):<20} token {'yes' if r['has_token'] else 'no ':<4} "
              f"last contact {age}, {r['records']} records{clock}")
    return 0


def cmd_sync_join(args: argparse.Namespace) -> int:
    from ..config.read import read_toml
    from ..storage.store import Store
    from .link import LinkError, receive_manifest, request, save_token, session_for

    local = read_toml(args.config)
    if "hub" in local and "upstream" not in local:
        return _join_hub(args)
    up = local.get("upstream")
    if not isinstance(up, dict) or not up.get("url") or not up.get("node"):
        raise SyncRefused(f"{args.config} needs an [upstream] with url and node")
    token_file = Path(up.get("token_file") or Path(args.db).with_suffix(".node-token"))
    store = Store(args.db)
    if args.manifest:
        body = json.loads(Path(args.manifest).read_text(encoding="utf-8"))
    else:
        token = sys.stdin.readline().strip()
        if not token.startswith("xn_"):
            raise SyncRefused("give the node token made at the center (`node token NODE`) on standard input")
        try:
            body, _, _ = request(f"{str(up['url']).rstrip('/')}/sync/manifest", token,
                                 session=session_for(str(up.get("ca_file") or "")))
        except LinkError as e:
            raise SyncRefused(str(e)) from None
        save_token(token_file, token)
    if body.get("node") != up["node"]:
        raise SyncRefused(f"the manifest is node {body.get('node')!r}'s, not {up['node']!r}'s")
    receive_manifest(store, body, _now())
    print(f"{args.db}: node {up['node']} of {up['url']}, sites {', '.join(body['sites'])}, "
          f"{len(body['users'])} account(s). Start it with: xephang --db {args.db} serve --config {args.config}")
    return 0


def _join_hub(args: argparse.Namespace) -> int:
    """A center joins its province hub: keep the token, note everything it holds to be sent (oldest first),
    and send the first batch now (which checks the token)."""
    from ..config.read import load_config
    from ..storage import outbox
    from ..storage.store import Store
    from .link import Link, LinkError, save_token, token_path

    cfg = load_config(args.config)
    assert cfg.hub is not None
    token = sys.stdin.readline().strip()
    if not token.startswith("xc_"):
        raise SyncRefused("give the center token made at the hub (`hub token CENTER`) on standard input")
    save_token(token_path(args.db, cfg), token)
    store = Store(args.db)
    with store.write() as conn:
        outbox.link(conn, cfg.hub.node, None)
    try:
        answer = Link(store, cfg, args.db).push_once()
    except LinkError as e:
        raise SyncRefused(str(e)) from None
    print(f"{args.db}: center {cfg.hub.node} of the hub {cfg.hub.url}; first batch of {answer['records']} "
          f"record(s) sent, {Link(store, cfg, args.db).state()['pending']} position(s) to go (the server sends them)")
    return 0


def cmd_sync_now(args: argparse.Namespace) -> int:
    from .link import Link, LinkError

    cfg, store = _node(args)
    link = Link(store, cfg, args.db)
    try:
        sent = link.sync()
    except LinkError as e:
        print(f"sync failed: {e}", file=sys.stderr)
        return 1
    state = link.state()
    print(f"sent {sent} record(s); the center has everything up to {state['acked']}, {state['pending']} pending")
    return 0


def cmd_sync_status(args: argparse.Namespace) -> int:
    from .link import Link

    cfg, store = _node(args)
    print(json.dumps(Link(store, cfg, args.db).state(), ensure_ascii=False, indent=2))
    return 0


def cmd_sync_export(args: argparse.Namespace) -> int:
    from .bundle import export

    _, store = _node(args)
    path, header = export(store, args.dest, _now(), since=args.since)
    print(f"{path}: {header['records']} record(s), positions {header['after']}–{header['to']}, "
          f"{header['bytes']} bytes in {len(header['parts'])} part(s), each checksummed (sha256)")
    return 0


def cmd_sync_import(args: argparse.Namespace) -> int:
    from ..storage.audit import record
    from .bundle import import_

    cfg, store = _center(args)
    result = import_(store, cfg, args.file, _now())
    with store.write() as conn:
        record(conn, at=to_iso(_now()), actor="cli", role="admin", action="sync.import", target=result["node"],
               detail={"file": Path(args.file).name, "records": result["records"], "written": result["written"]})
    print(f"{args.file}: node {result['node']}, {result['records']} record(s) in the bundle, {result['written']} "
          f"new or newer; the center now has everything up to {result['hwm']}")
    if result["held_count"]:
        print(f"  {result['held_count']} record(s) held back (see `sync held {result['node']}`), e.g. "
              f"{result['held'][0]['table']} {result['held'][0]['key']!r}: {result['held'][0]['reason']}")
        return 1
    return 0


def cmd_sync_held(args: argparse.Namespace) -> int:
    """At the center: the rows of a node's batches it holds back, with why; `--retry` applies them again once
    config.toml is put right (they are checked again as a batch is), `--drop` forgets them for good."""
    from ..storage.audit import record
    from ..storage.outbox import retry_held
    from . import nodes

    cfg, store = _center(args)
    wanted = [cfg.node(args.node)] if args.node else list(cfg.nodes)
    if args.node and wanted[0] is None:
        raise SyncRefused(f"no node {args.node!r} in {args.config}")
    for node in wanted:
        kiosks = [k.id for code in node.sites for k in cfg.sites[code].kiosks]
        if args.retry or args.drop:
            with store.write() as conn:
                if args.drop:
                    n = conn.execute("DELETE FROM sync_held WHERE node = ?", (node.id,)).rowcount
                    done = {"dropped": n}
                else:
                    applied, left = retry_held(conn, node, kiosks, only_retry=False)
                    done = {"applied": applied, "still_held": left}
                if not conn.execute("SELECT 1 FROM sync_held WHERE node = ?", (node.id,)).fetchone():
                    conn.execute("UPDATE sync_nodes SET refused_at = NULL, refused = NULL WHERE node = ?", (node.id,))
                record(conn, at=to_iso(_now()), actor="cli", role="admin", action="sync.held", target=node.id,
                       detail=done)
            print(f"{node.id}: {done}")
        with store.read() as conn:
            rows = nodes.held(conn, node.id)
        print(f"{node.id}: {len(rows)} record(s) held")
        for r in rows[:50]:
            print(f"  {r['tbl']} {r['key']}: {r['reason']} (since {r['first_at']})")
    return 0


def cmd_sync_fix_clock(args: argparse.Namespace) -> int:
    from ..storage.audit import record
    from .clock_fix import fix, flagged

    cfg, store = _center(args)
    node = cfg.node(args.node)
    if node is None:
        raise SyncRefused(f"no node {args.node!r} in {args.config}")
    if args.dry_run:
        with store.read() as conn:
            found = flagged(conn, node)
        print(f"{node.id}: {len(found)} ticket(s) made while its clock was off "
              f"(offsets {sorted({round(o) for _, o in found})} s); run without --dry-run to correct them")
        return 0
    with store.write() as conn:
        result = fix(conn, node)
        record(conn, at=to_iso(_now()), actor="cli", role="admin", action="sync.fix_clock", target=node.id,
               detail=result)
    print(f"{node.id}: {result['tickets']} ticket(s) corrected by {result['offsets_s']} s")
    return 0


def cmd_sync_manifest(args: argparse.Namespace) -> int:
    from ..storage.secret import write_private
    from .manifest import build

    cfg, store = _center(args)
    node = cfg.node(args.node)
    if node is None:
        raise SyncRefused(f"no node {args.node!r} in {args.config}")
    with store.read() as conn:
        body = build(cfg, conn, node)
    out = Path(args.dest) / f"xephang-manifest-{node.id}.json"
    write_private(out, json.dumps(body, ensure_ascii=False))  # password hashes: owner-only
    print(f"{out}: for `sync join --manifest {out.name}` on the node (holds password hashes: keep it safe)")
    return 0


def add_commands(sub: Any, with_db: Any) -> None:
    n = sub.add_parser("node", help="at the center: the nodes (second reception points, mobile teams)")
    nsub = n.add_subparsers(dest="node_command", required=True)
    for name, fn, text in (("token", cmd_node_token, "make a node's token (the old one stops working)"),
                           ("revoke", cmd_node_revoke, "revoke a node's token: it is refused at once")):
        p = with_db(nsub.add_parser(name, help=text))
        p.add_argument("node")
        p.add_argument("--config", default=DEFAULT_CONFIG)
        p.set_defaults(func=fn)
    p = with_db(nsub.add_parser("list", help="each node's last contact, records and clock"))
    p.add_argument("--config", default=DEFAULT_CONFIG)
    p.set_defaults(func=cmd_node_list)

    s = sub.add_parser("sync", help="records between a node and its center")
    ssub = s.add_subparsers(dest="sync_command", required=True)
    p = with_db(ssub.add_parser("join", help="at a node: fetch the center's manifest (token on standard input)"))
    p.add_argument("--config", default=DEFAULT_CONFIG, help="the node's file, with [upstream]")
    p.add_argument("--manifest", help="no link: a manifest file made at the center with `sync manifest`")
    p.set_defaults(func=cmd_sync_join)
    for name, fn, text in (("now", cmd_sync_now, "at a node: send everything pending now"),
                           ("status", cmd_sync_status, "at a node: the link's state")):
        p = with_db(ssub.add_parser(name, help=text))
        p.add_argument("--config", default=DEFAULT_CONFIG)
        p.set_defaults(func=fn)
    p = with_db(ssub.add_parser("export", help="at a node: write a bundle for the center to a folder"))
    p.add_argument("--dest", required=True)
    p.add_argument("--since", type=int, default=None, help="from this position (default: the center's last mark)")
    p.add_argument("--config", default=DEFAULT_CONFIG)
    p.set_defaults(func=cmd_sync_export)
    p = with_db(ssub.add_parser("import", help="at the center: import a node's bundle (safe to repeat)"))
    p.add_argument("file")
    p.add_argument("--config", default=DEFAULT_CONFIG)
    p.set_defaults(func=cmd_sync_import)
    p = with_db(ssub.add_parser("fix-clock", help="at the center: move a node's records made while its clock was "
                                                 "off by the offset measured then"))
    p.add_argument("node")
    p.add_argument("--dry-run", action="store_true", help="only count them")
    p.add_argument("--config", default=DEFAULT_CONFIG)
    p.set_defaults(func=cmd_sync_fix_clock)
    p = with_db(ssub.add_parser("held", help="at the center: the records of a node it holds back, and why"))
    p.add_argument("node", nargs="?")
    p.add_argument("--retry", action="store_true", help="apply them again (after config.toml was put right)")
    p.add_argument("--drop", action="store_true", help="forget them for good")
    p.add_argument("--config", default=DEFAULT_CONFIG)
    p.set_defaults(func=cmd_sync_held)
    p = with_db(ssub.add_parser("manifest", help="at the center: a node's manifest as a file (set-up with no link)"))
    p.add_argument("node")
    p.add_argument("--dest", required=True)
    p.add_argument("--config", default=DEFAULT_CONFIG)
    p.set_defaults(func=cmd_sync_manifest)
