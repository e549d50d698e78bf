"""`xephang hub …`: the province hub's commands (init the database, centers' tokens, serve)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

DEFAULT_HUB_CONFIG = "hub.toml"


def _conn(cfg: Any) -> Any:
    from .app import connection_for

    return connection_for(cfg)


def cmd_init(args: argparse.Namespace) -> int:
    from .config import load_hub_config
    from .ingest import ensure_schema

    cfg = load_hub_config(args.config)
    with _conn(cfg) as conn:
        ensure_schema(conn)
    print(f"hub {cfg.name}: schema ready, {len(cfg.centers)} center(s) in {args.config}")
    return 0


def cmd_refresh(args: argparse.Namespace) -> int:
    from .config import load_hub_config
    from .ingest import ensure_schema
    from .rollup import refresh

    cfg = load_hub_config(args.config)
    with _conn(cfg) as conn:
        ensure_schema(conn)
        n = refresh(conn, datetime.now(cfg.tz).date())
    print(f"hub {cfg.name}: {n} month(s) rolled up")
    return 0


def cmd_held(args: argparse.Namespace) -> int:
    """A center's rows the hub holds back, with why; `--retry` applies them again (hub.toml put right), `--drop`
    forgets them."""
    from .config import load_hub_config
    from .ingest import ensure_schema, retry_held

    cfg = load_hub_config(args.config)
    center = cfg.center(args.center)
    if center is None:
        print(f"no center {args.center!r} in {args.config}", file=sys.stderr)
        return 2
    with _conn(cfg) as conn:
        ensure_schema(conn)
        if args.drop:
            with conn.transaction():
                n = conn.execute("DELETE FROM hub_held WHERE center = %s", (center.id,)).rowcount
                conn.execute("UPDATE hub_centers SET refused_at = NULL, refused = NULL WHERE center = %s", (center.id,))
            print(f"{center.id}: {n} held record(s) dropped")
        elif args.retry:
            applied, left = retry_held(conn, center)
            print(f"{center.id}: {applied} applied, {left} still held")
        rows = conn.execute("SELECT tbl, key, reason, first_at FROM hub_held WHERE center = %s ORDER BY first_at, tbl, "
                            "key LIMIT 50", (center.id,)).fetchall()
        total = conn.execute("SELECT count(*) FROM hub_held WHERE center = %s", (center.id,)).fetchone()[0]
    print(f"{center.id}: {total} record(s) held")
    for tbl, key, reason, first in rows:
        print(f"  {tbl} {key}: {reason} (since {first:%d/%m/%Y %H:%M} UTC)")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from .config import load_hub_config
    from .ingest import create_token, ensure_schema

    cfg = load_hub_config(args.config)
    with _conn(cfg) as conn:
        ensure_schema(conn)
        token = create_token(conn, cfg, args.center, datetime.now(UTC))
    print(f"Token for center {args.center} (shown once; give it to `sync join` at the center):", file=sys.stderr)
    print(token)
    return 0


def cmd_api_token(args: argparse.Namespace) -> int:
    """A token for one of the province's other systems (the booking API); only its SHA-256 is kept."""
    from ..errors import QueueError
    from .booking_pages import create_api_token
    from .config import load_hub_config
    from .ingest import ensure_schema

    cfg = load_hub_config(args.config)
    try:
        with _conn(cfg) as conn:
            ensure_schema(conn)
            token = create_api_token(conn, args.name, datetime.now(UTC))
    except QueueError as e:
        print(f"error: {e.message_en or e.message}", file=sys.stderr)
        return 1
    print(f"API token for system {args.name} (shown once; send it as `Authorization: Bearer …`):", file=sys.stderr)
    print(token)
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from .config import load_hub_config
    from .ingest import revoke

    cfg = load_hub_config(args.config)
    with _conn(cfg) as conn:
        done = revoke(conn, args.center)
    print(f"{args.center}: {'token revoked' if done else 'had no token'}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from .config import load_hub_config

    cfg = load_hub_config(args.config)
    with _conn(cfg) as conn:
        rows = {r[0]: r for r in conn.execute("SELECT center, token_hash IS NOT NULL, last_contact_at, records, hwm, "
                                               "clock_offset_s FROM hub_centers")}
    for c in cfg.centers:
        r = rows.get(c.id)
        print(f"{c.id:<16} sites {','.join(c.sites):<24} token {'yes' if r and r[1] else 'no ':<4} "
              f"last contact {r[2] if r and r[2] else 'never'}, {r[3] if r else 0} records")
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    """A province or center account; the password is read from stdin so it never shows in `ps` or history."""
    from ..errors import QueueError
    from .accounts import add_user, ensure_users
    from .config import load_hub_config

    cfg = load_hub_config(args.config)
    if not args.password_stdin:
        print("--password-stdin is required (the password is read from standard input)", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        with _conn(cfg) as conn:
            ensure_users(conn)
            add_user(conn, cfg, args.name, args.role, password, center=args.center, display_name=args.display_name)
    except QueueError as e:
        print(f"error: {e.message_en or e.message}", file=sys.stderr)
        return 1
    print(f"user {args.name} ({args.role}{' ' + args.center if args.role == 'center' else ''}) added")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from gunicorn.app.base import BaseApplication

    from .app import create_hub_app
    from .config import load_hub_config

    cfg = load_hub_config(args.config)

    class Hub(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in {"bind": f"{args.host}:{args.port}", "workers": args.workers, "threads": 8,
                               "worker_class": "gthread", "timeout": 60, "graceful_timeout": 10,
                               "errorlog": "-", "loglevel": "info", "proc_name": "xephang-hub",
                               "control_socket_disable": True}.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return create_hub_app(cfg)

    Hub().run()
    return 0


def add_commands(sub: Any) -> None:
    h = sub.add_parser("hub", help="the province hub (PostgreSQL): every center's records")
    hsub = h.add_subparsers(dest="hub_command", required=True)
    for name, fn, text in (("init", cmd_init, "create the hub's tables (idempotent)"),
                           ("list", cmd_list, "each center's last contact and records"),
                           ("refresh", cmd_refresh, "roll up the months that changed now (the hub does it every "
                            "minute)")):
        p = hsub.add_parser(name, help=text)
        p.add_argument("--config", default=DEFAULT_HUB_CONFIG)
        p.set_defaults(func=fn)
    for name, fn, text in (("token", cmd_token, "make a center's token (the old one stops working)"),
                           ("revoke", cmd_revoke, "revoke a center's token: refused at once")):
        p = hsub.add_parser(name, help=text)
        p.add_argument("center")
        p.add_argument("--config", default=DEFAULT_HUB_CONFIG)
        p.set_defaults(func=fn)
    p = hsub.add_parser("held", help="a center's records the hub holds back, and why (--retry, --drop)")
    p.add_argument("center")
    p.add_argument("--retry", action="store_true", help="apply them again (after hub.toml was put right)")
    p.add_argument("--drop", action="store_true", help="forget them for good")
    p.add_argument("--config", default=DEFAULT_HUB_CONFIG)
    p.set_defaults(func=cmd_held)
    p = hsub.add_parser("api-token", help="make a token for another system of the province (the booking API)")
    p.add_argument("name")
    p.add_argument("--config", default=DEFAULT_HUB_CONFIG)
    p.set_defaults(func=cmd_api_token)
    u = hsub.add_parser("user", help="the hub's accounts (province staff, center managers)")
    usub = u.add_subparsers(dest="user_command", required=True)
    p = usub.add_parser("add", help="add an account; the password comes on stdin")
    p.add_argument("name")
    p.add_argument("--role", choices=("province", "center"), required=True)
    p.add_argument("--center", help="the center a `center` account sees (an id of hub.toml)")
    p.add_argument("--display-name")
    p.add_argument("--password-stdin", action="store_true")
    p.add_argument("--config", default=DEFAULT_HUB_CONFIG)
    p.set_defaults(func=cmd_user_add)
    p = hsub.add_parser("serve", help="run the hub's web server")
    p.add_argument("--config", default=DEFAULT_HUB_CONFIG)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090)
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(func=cmd_serve)
