"""The production server: gunicorn with a gevent worker, started by `python -m center serve`.

Why gevent and not threads (gthread, the first choice, measured in BENCHMARKS.md): the work of a center
is a few short SQLite transactions per minute and a fan-out of every change to hundreds of screens. With
one OS thread per WebSocket, each event to each screen woke a writer thread and fought for the GIL:
with 200 screens connected, an issue → call → finish cycle cost the server ~170 ms of CPU and a call
took ~50 ms to answer. Greenlets make the same fan-out about four times cheaper.
The price: a call that blocks in C freezes the whole worker. Queue operations are short (one
transaction, well under a millisecond of SQLite work, serialized by the store's write lock which
greenlets wait on cooperatively); long work (reports, roll-up builds, printer writes to USB/serial
devices) runs on native threads through center/offload.py. With several workers a SQLite lock wait
between processes does block its worker, for at most one short transaction.

With several workers (`--workers N`) Socket.IO needs a Redis message queue (`--redis URL`) so that an
event from one process reaches clients of all, and the proxy needs sticky sessions (docs/deploy.md).
"""

from __future__ import annotations

import gc
from typing import Any

from gunicorn.app.base import BaseApplication


def check_database(db_path: str) -> None:
    """Open (and migrate) the database once before starting: a read-only disk, a full disk or a file that
    is not a database stops the server with one clear line instead of a worker boot loop."""
    import sqlite3

    from .storage.store import Store, StoreError

    try:
        store = Store(db_path)
        with store.write() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS _write_check (x)")
            conn.execute("DROP TABLE _write_check")
        store.close()
    except (sqlite3.Error, StoreError, OSError) as e:
        raise SystemExit(f"database {db_path} cannot be used for writing: {e}") from None


class _Gunicorn(BaseApplication):
    def __init__(self, factory: Any, options: dict[str, Any]):
        self.factory = factory
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self.factory()


def serve(*, config_path: str, db_path: str, host: str, port: int, workers: int = 1, connections: int = 1000,
          redis_url: str | None = None, access_log: bool = False, simulate_from: str | None = None,
          time_scale: float = 1.0) -> None:
    import os

    from .sync.manifest import effective_config

    check_database(db_path)
    cfg = effective_config(config_path, db_path)  # fail before forking, with the key named
    os.environ["XEPHANG_MASTER_PID"] = str(os.getpid())  # a node's new manifest reloads the workers (sync/link.py)
    if workers > 1 and not redis_url:
        raise SystemExit("--workers > 1 needs --redis URL: Socket.IO events must reach every process")
    if redis_url:
        try:
            import redis  # noqa: F401 - an optional extra: say so before gunicorn forks
        except ImportError:
            raise SystemExit("--redis needs the Redis client: pip install 'xephang[redis]'") from None

    clock = None
    if simulate_from:
        from datetime import datetime

        from .queue.clock import scaled_clock

        start = datetime.fromisoformat(simulate_from)
        if start.tzinfo is None:  # stored times are UTC: a time given without an offset is read as UTC
            from datetime import UTC

            start = start.replace(tzinfo=UTC)
        clock = scaled_clock(start, time_scale)

    def factory() -> Any:
        # Imported in the worker only: the master process stays small (it only watches its workers).
        from .app import create_app

        # Read again in each new worker: a node reloads its workers when its center's manifest changed.
        fresh = effective_config(config_path, db_path) if cfg.upstream is not None else cfg
        app = create_app(fresh, db_path, message_queue=redis_url, **({} if clock is None else {"clock": clock}))
        # Everything built so far lives as long as the worker. Frozen, the cyclic garbage collector stops
        # walking it on every full collection: those took 40–56 ms with 200 screens connected, during which
        # the worker answered nobody (a call's p99); 17 ms after (BENCHMARKS.md).
        gc.freeze()
        return app

    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gevent",
        "worker_connections": connections,
        "timeout": 60,
        # workers finish what they serve within this on SIGTERM (open websockets hold them to the end)
        "graceful_timeout": int(os.environ.get("XEPHANG_GRACEFUL_S", "10")),
        "keepalive": 5,
        "control_socket_disable": True,
        "accesslog": "-" if access_log else None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "xephang",
    }
    _Gunicorn(factory, options).run()
