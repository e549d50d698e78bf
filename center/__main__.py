"""Operator command line: `python -m center <command>`. Every command takes --db (default below).

The default database is the production one; `make run` keeps its demo apart in var/demo.sqlite3 (wiped at
every start), so a demo can never erase a center's data: give `--db var/demo.sqlite3` to try commands on it.
"""

from __future__ import annotations

import argparse
import sys

DEFAULT_DB = "var/xephang.sqlite3"
DEMO_DB = "var/demo.sqlite3"  # make run's demo (Makefile DEMO_DB)
DEFAULT_CONFIG = "config.toml"
# Commands that work without a database, or make one on purpose.
NO_DB_NEEDED = ("serve", "check-config", "demo-init", "restore", "hub")


def _demo_only(args: argparse.Namespace) -> str | None:
    """Why a command is refused when it would create an empty var/xephang.sqlite3 beside the running demo's
    database: an operator trying the README's commands during `make run` means the demo."""
    from pathlib import Path

    if args.command in NO_DB_NEEDED or args.db is not None or Path(DEFAULT_DB).exists():
        return None
    if not Path(DEMO_DB).exists():
        return None
    return (f"there is no database at {DEFAULT_DB} (the default), but the make run demo's is {DEMO_DB}: "
            f"add --db {DEMO_DB} to work on the demo, or --db {DEFAULT_DB} to start a new database there")


def _store(args: argparse.Namespace):
    from .storage.store import Store

    return Store(args.db)


def _config(args: argparse.Namespace):
    """The config a command works with: the file at a center; at a node, its [upstream] over the manifest."""
    from .sync.manifest import effective_config

    return effective_config(args.config, args.db)


def cmd_serve(args: argparse.Namespace) -> int:
    from .server import serve

    serve(config_path=args.config, db_path=args.db, host=args.host, port=args.port, workers=args.workers,
          connections=args.connections, redis_url=args.redis, access_log=args.access_log,
          simulate_from=args.simulate_from, time_scale=args.time_scale)
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    from .config.read import ConfigError
    from .sync.manifest import effective_config

    try:
        cfg = effective_config(args.file, args.db)  # a node's file is checked with its center's manifest
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    counters = sum(len(s.counters) for s in cfg.sites.values())
    print(f"{args.file}: OK – {len(cfg.sites)} site(s), {len(cfg.services)} service(s), {counters} counter(s)")
    return 0


def _cli_audit(store, action: str, target: str, detail: dict | None = None) -> None:
    """Account changes made on the command line appear in the audit log like those made on the web."""
    from .queue.actors import SYSTEM
    from .queue.clock import system_clock, to_iso
    from .storage import audit

    with store.write() as conn:
        audit.record(conn, to_iso(system_clock()), SYSTEM.name, SYSTEM.role, action, target, detail)


def _stdin_password() -> str:
    return sys.stdin.readline().rstrip("\n")


def cmd_user_add(args: argparse.Namespace) -> int:
    from .web.auth import Accounts

    if not args.password_stdin:
        print("give the password on standard input with --password-stdin", file=sys.stderr)
        return 2
    store = _store(args)
    Accounts(store).add_user(args.name, args.role, _stdin_password(), args.display_name)
    _cli_audit(store, "user.add", args.name, {"role": args.role})
    print(f"user {args.name} ({args.role}) added")
    return 0


def cmd_user_lock(args: argparse.Namespace) -> int:
    """lock: the account can no longer sign in (kept, with its history); unlock: it can again, and a sign-in
    lockout after wrong passwords is lifted too."""
    from .web.auth import Accounts

    store = _store(args)
    lock = args.user_command == "lock"
    Accounts(store).update_user(args.name, active=not lock)
    _cli_audit(store, "user.disable" if lock else "user.enable", args.name)
    print(f"user {args.name} {'locked' if lock else 'unlocked'}")
    return 0


def cmd_user_reset_password(args: argparse.Namespace) -> int:
    """The new password is read from standard input (never from the command line: it would stay in the shell
    history and be visible to every user in the process list)."""
    from .web.auth import Accounts

    store = _store(args)
    password = _stdin_password()
    if not password:
        print("give the new password on standard input, e.g. echo '…' | python -m center user reset-password "
              f"{args.name}", file=sys.stderr)
        return 2
    Accounts(store).set_password(args.name, password)
    _cli_audit(store, "user.reset", args.name)
    print(f"password of {args.name} changed")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    from .web.auth import Accounts

    users = Accounts(_store(args)).users()
    print(f"{'username':20} {'role':8} {'status':8} name")
    for u in users:
        status = "active" if u["active"] else "locked"
        print(f"{u['username']:20} {u['role']:8} {status:8} {u['display_name'] or ''}".rstrip())
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from .web.auth import Accounts

    accounts = Accounts(_store(args))
    if args.user:
        token = accounts.create_token(user=args.user)
        print(f"token for user {args.user}:")
    else:
        if not args.device:
            print("a device token needs --device ID (a kiosk or display of config.toml), or --user NAME",
                  file=sys.stderr)
            return 2
        found = _device(args)
        if isinstance(found, str):
            print(found, file=sys.stderr)
            return 2
        role, site = found
        token = accounts.create_token(device=args.device, role=role, site=site)
        print(f"token for {role} device {args.device} at site {site}; open once on the device "
              f"(--base-url: the address devices reach):")
        print(f"  {device_url(args.base_url, role, args.device, token)}")
    print(token)
    return 0


def device_url(base_url: str, role: str, device: str, token: str) -> str:
    """The address a kiosk or display opens once: the token rides in the fragment (never sent in a request) and
    the screen keeps it (center/static/js/live.js)."""
    return f"{base_url.rstrip('/')}/{role}/{device}#token={token}"


def served_by_node(cfg, site: str) -> str | None:
    """Why a device of `site` gets no token here: a node's site runs on the node's own server, which hands out
    its own device tokens (`token create` there); a token made at the center opens that site's screens at the
    wrong server. None for a site served here."""
    node = cfg.node_of_site(site)
    if node is None:
        return None
    return (f"điểm {site} do máy tại chỗ '{node.name}' (node {node.id}) phục vụ: tạo mã thiết bị trên máy đó "
            f"(xephang token create --device … --config node.toml) / site {site} is served by node {node.id}: "
            f"create its device tokens on the node's own server")


def _device(args: argparse.Namespace) -> tuple[str, str] | str:
    """(role, site) of --device from the config file, or why the token is refused: a token for a device the
    center does not have opens no screen, and one for the wrong site issues tickets at the wrong place."""
    cfg = _config(args)
    if args.site and args.site not in cfg.sites:
        return f"unknown site {args.site!r}: {args.config} has {', '.join(cfg.sites)}"
    devices = cfg.devices()
    if args.device not in devices:
        return (f"unknown device {args.device!r}: {args.config} has kiosks and displays "
                f"{', '.join(sorted(devices)) or '(none)'}")
    role, site = devices[args.device]
    if args.role and args.role != role:
        return f"{args.device} is a {role}, not a {args.role}"
    if args.site and args.site != site:
        return f"{args.device} is at site {site!r}, not {args.site!r}"
    refused = served_by_node(cfg, site)
    if refused:
        return f"{args.device}: {refused}"
    return role, site


def cmd_demo_init(args: argparse.Namespace) -> int:
    """Fresh demo accounts with generated passwords and a token per kiosk and display."""
    from .web.auth import Accounts, generate_password

    cfg = _config(args)
    accounts = Accounts(_store(args))
    print("Demo credentials (generated now, shown once):")
    for name, role in (("admin", "admin"), ("quanly", "manager"), ("canbo1", "staff"), ("canbo2", "staff")):
        password = generate_password()
        accounts.add_user(name, role, password)
        print(f"  {role:8} {name:8} password: {password}")
    for site in cfg.sites.values():
        refused = served_by_node(cfg, site.code)
        if refused:
            print(f"  (no kiosk or display link: {refused})")
            continue
        for kind, devices in (("kiosk", site.kiosks), ("display", site.displays)):
            for dev in devices:
                token = accounts.create_token(device=dev.id, role=kind, site=site.code)
                print(f"  {kind:8} {dev.id}: {device_url(args.base_url, kind, dev.id, token)}")
    print(f"Operator commands on this demo take --db {args.db}, e.g.: "
          f"python -m center --db {args.db} backup --dest backups/")
    return 0


def cmd_close_day(args: argparse.Namespace) -> int:
    from .queue.actors import SYSTEM
    from .queue.clock import vn_date
    from .queue.engine import Engine

    engine = Engine(_store(args), _config(args))
    day = engine.today(engine.site(args.site))
    n = engine.close_day(args.site, SYSTEM)
    print(f"Đã đóng ngày phục vụ {vn_date(day)} tại {args.site}: {n} số chưa phục vụ được hủy / "
          f"{n} ticket(s) closed at {args.site}")
    return 0


def _timezone(config_path: str):
    """The center's time zone from its config file; the default (Asia/Ho_Chi_Minh) when the file cannot be
    read, since a backup must never fail over the configuration."""
    from zoneinfo import ZoneInfo

    from .config.read import ConfigError, load_config

    try:
        return load_config(config_path).tz
    except ConfigError as e:
        print(f"note: {e}; backup names use Asia/Ho_Chi_Minh time", file=sys.stderr)
        return ZoneInfo("Asia/Ho_Chi_Minh")


def cmd_backup(args: argparse.Namespace) -> int:
    import time

    from .storage.backup import BackupError, backup

    t0 = time.monotonic()
    try:
        tz = _timezone(args.config)
        path = backup(args.db, args.dest, keep=args.keep, tz=tz)
    except BackupError as e:
        print(f"backup failed: {e}", file=sys.stderr)
        return 1
    from .queue.clock import system_clock, vn_datetime

    size = path.stat().st_size
    print(f"Đã sao lưu lúc {vn_datetime(system_clock(), tz)} (giờ địa phương), dữ liệu "
          f"nguyên vẹn: {path}")
    print(f"backup {path} ({size / 1e6:.1f} MB, integrity ok) in {time.monotonic() - t0:.1f} s")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from .storage.backup import BackupError, restore

    try:
        aside = restore(args.file, args.db, tz=_timezone(args.config))
    except BackupError as e:
        print(f"restore refused: {e}", file=sys.stderr)
        return 1
    if aside:
        print(f"previous database kept as {aside}")
    print(f"restored {args.file} to {args.db}")
    return 0


def cmd_generate_history(args: argparse.Namespace) -> int:
    from .history import main as history_main

    # The options after the command go to center/history.py as they are.
    return history_main(["--db", args.db, *args.rest])


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m center", description="xephang queue server and tools")
    p.add_argument("--db", default=None, help=f"SQLite database file (default {DEFAULT_DB})")
    sub = p.add_subparsers(dest="command", required=True)

    def with_db(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--db", default=argparse.SUPPRESS, help=f"SQLite database file (default {DEFAULT_DB})")
        return sp

    s = with_db(sub.add_parser("serve", help="run the server (gunicorn, gevent worker)"))
    s.add_argument("--config", default=DEFAULT_CONFIG)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--connections", type=int, default=1000,
                   help="simultaneous connections per worker (screens, counters, kiosks, API clients)")
    s.add_argument("--redis", default=None, help="Redis URL for Socket.IO across several workers")
    s.add_argument("--access-log", action="store_true")
    s.add_argument("--simulate-from", default=None, help="day simulation only: start the clock at this ISO time")
    s.add_argument("--time-scale", type=float, default=1.0, help="day simulation only: clock speed factor")
    s.set_defaults(func=cmd_serve)

    c = with_db(sub.add_parser("check-config", help="validate a config file"))
    c.add_argument("file")
    c.set_defaults(func=cmd_check_config)

    u = sub.add_parser("user", help="staff accounts")
    usub = u.add_subparsers(dest="user_command", required=True)
    ua = with_db(usub.add_parser("add", help="add a staff account"))
    ua.add_argument("name")
    ua.add_argument("--role", required=True, choices=["admin", "manager", "staff"])
    ua.add_argument("--password-stdin", action="store_true")
    ua.add_argument("--display-name")
    ua.set_defaults(func=cmd_user_add)
    for name, text in (("lock", "lock an account: it can no longer sign in (history kept)"),
                       ("unlock", "unlock an account (also lifts a lockout after wrong passwords)")):
        ul = with_db(usub.add_parser(name, help=text))
        ul.add_argument("name")
        ul.set_defaults(func=cmd_user_lock)
    ur = with_db(usub.add_parser("reset-password", help="set a new password, read from standard input"))
    ur.add_argument("name")
    ur.set_defaults(func=cmd_user_reset_password)
    with_db(usub.add_parser("list", help="list the accounts")).set_defaults(func=cmd_user_list)

    t = sub.add_parser("token", help="bearer tokens for scripts and devices")
    tsub = t.add_subparsers(dest="token_command", required=True)
    tc = with_db(tsub.add_parser("create", help="create a token (printed on the last line)"))
    tc.add_argument("--user")
    tc.add_argument("--device")
    tc.add_argument("--role", choices=["kiosk", "display"], help="checked against the config (found there if left out)")
    tc.add_argument("--site", help="checked against the config (found there if left out)")
    tc.add_argument("--config", default=DEFAULT_CONFIG, help="the config file that lists the devices")
    tc.add_argument("--base-url", default="http://127.0.0.1:8080",
                    help="the server's address as devices reach it, for the printed link (e.g. http://192.168.1.10)")
    tc.set_defaults(func=cmd_token_create)

    d = with_db(sub.add_parser("demo-init", help="create demo accounts and device tokens, printed once"))
    d.add_argument("--config", default=DEFAULT_CONFIG)
    d.add_argument("--base-url", default="http://127.0.0.1:8080")
    d.set_defaults(func=cmd_demo_init)

    cd = with_db(sub.add_parser("close-day", help="end the service day at a site now"))
    cd.add_argument("--config", default=DEFAULT_CONFIG)
    cd.add_argument("--site", required=True)
    cd.set_defaults(func=cmd_close_day)

    b = with_db(sub.add_parser("backup", help="copy the live database (safe while serving), keep the newest N"))
    b.add_argument("--dest", required=True, help="backup folder")
    b.add_argument("--keep", type=int, default=14, help="how many backups to keep (default 14)")
    b.add_argument("--config", default=DEFAULT_CONFIG, help="its time zone names the backups (local time)")
    b.set_defaults(func=cmd_backup)

    r = with_db(sub.add_parser("restore", help="put a backup in place of the database (server stopped)"))
    r.add_argument("file")
    r.add_argument("--config", default=DEFAULT_CONFIG, help="its time zone names the set-aside database")
    r.set_defaults(func=cmd_restore)

    g = with_db(sub.add_parser("generate-history", add_help=False,
                               help="fill the database with a synthetic history (see --help after it)"))
    g.set_defaults(func=cmd_generate_history)

    from .hub.cli import add_commands as add_hub_commands
    from .sync.cli import add_commands

    add_commands(sub, with_db)
    add_hub_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    from .config.read import ConfigError
    from .errors import QueueError
    from .storage.outbox import SyncRefused

    p = parser()
    args, rest = p.parse_known_args(argv)
    if args.command == "generate-history":
        args.rest = rest  # its own options, parsed by center/history.py
    elif rest:
        p.error(f"unrecognized arguments: {' '.join(rest)}")
    refused = _demo_only(args)
    if refused:
        print(refused, file=sys.stderr)
        return 2
    args.db = args.db or DEFAULT_DB
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    except QueueError as e:
        print(f"lỗi: {e.message} / error: {e.message_en}", file=sys.stderr)
        return 2
    except SyncRefused as e:
        print(f"sync error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
