"""SQLite storage: durable settings, a small connection pool, short write transactions, migrations.

Why these settings:
- WAL + `synchronous=FULL`: a ticket is acknowledged only after its commit reached the disk, so a
  power cut never loses a printed ticket; readers never block the writer.
- Writes open with `BEGIN IMMEDIATE`: the write lock is taken before anything is read, so two
  processes never both read "last number = 41" and both issue 42, and there is no lock-upgrade storm.
- A pool of connections shared by all greenlets (or threads), so a server with hundreds of WebSockets
  holds a handful of file handles, and every operation holds one only for the milliseconds it needs.
  Work moved to a native thread (center/offload.py) gets its own short-lived connection instead.
- Group commit in the gevent server: the fsync of a commit blocks the whole worker (0.4–3 ms on the
  test VM), and kiosks and counters that arrived meanwhile would each pay one more. So the write
  transactions of the greenlets ready in one turn of the event loop share one transaction and one fsync
  (`_grouped_write`); each runs inside its own SAVEPOINT, so one that fails leaves the others intact, and
  none returns before the shared COMMIT reached the disk.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..offload import gevent_active, on_native_thread
from .migrations import MIGRATIONS

BUSY_TIMEOUT_MS = 10_000
# Page cache per connection. SQLite's default (2 MB) no longer held the pages a burst of tickets touches
# (the table and its 14 indexes) once the day had a few thousand tickets: 8 kiosks issued ~7 % fewer
# tickets per second (interleaved runs, BENCHMARKS.md). The pool is small: its caches hold at most 64 MB.
CACHE_KIB = 16 * 1024
POOL_SIZE = 4


class StoreError(RuntimeError):
    """The database cannot be used (locked for too long, read-only, disk full, wrong file)."""


def connect(path: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    return conn


class _Group:
    """One transaction shared by the writes of one event-loop turn (`Store._grouped_write`)."""

    def __init__(self, conn: sqlite3.Connection, pooled: bool):
        import gevent.event

        self.conn, self.pooled = conn, pooled
        self.members = 0
        self.error: Exception | None = None
        self.done = gevent.event.Event()


def owner_only(path: str) -> None:
    """The database holds password and token hashes: readable by its owner only, from its creation (SQLite gives
    its -wal and -shm files the same mode). An existing file left readable by others is closed to them."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        st = os.stat(path)
        if st.st_mode & 0o077 and st.st_uid == os.getuid():
            os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)


class Store:
    """Owns the database file: migrations on open, pooled connections, read and write scopes."""

    def __init__(self, path: str | Path, pool_size: int = POOL_SIZE):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            owner_only(self.path)
        self._pool: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._size = pool_size
        self._created = 0
        self._lock = threading.Lock()
        self._held = threading.local()
        self._write_lock = threading.RLock()
        self._group_commit = gevent_active()
        self._group: _Group | None = None
        self._in_group: set[Any] = set()
        with self.connection() as conn:
            migrate(conn)

    def _checkout(self) -> tuple[sqlite3.Connection, bool]:
        if on_native_thread():  # the pool's gevent queue belongs to the event loop's thread
            return connect(self.path), False
        """A pooled connection, or an extra one when this thread already holds one (never deadlock)."""
        try:
            return self._pool.get_nowait(), True
        except queue.Empty:
            pass
        with self._lock:
            if self._created < self._size:
                self._created += 1
                return connect(self.path), True
        if getattr(self._held, "count", 0):
            return connect(self.path), False
        try:
            return self._pool.get(timeout=BUSY_TIMEOUT_MS / 1000), True
        except queue.Empty:
            raise StoreError("no database connection free") from None

    @contextlib.contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        conn, pooled = self._checkout()
        self._held.count = getattr(self._held, "count", 0) + 1
        try:
            yield conn
        finally:
            self._held.count -= 1
            self._checkin(conn, pooled)

    def _checkin(self, conn: sqlite3.Connection, pooled: bool) -> None:
        if conn.in_transaction:
            conn.rollback()
        if pooled:
            self._pool.put(conn)
        else:
            conn.close()

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several queries (a deferred transaction)."""
        with self.connection() as conn:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.rollback()

    def write(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """One short write transaction holding the database write lock from its first statement; what it
        wrote is on disk when the block exits without an exception, and none of it when it raises."""
        if self._group_commit and not on_native_thread():
            return self._grouped_write()
        return self._single_write()

    @contextlib.contextmanager
    def _single_write(self) -> Iterator[sqlite3.Connection]:
        """One transaction per block, used outside the gevent server and on offload threads.

        Threads of one process queue on a lock first: only one of them at a time asks SQLite for the
        write lock, so they do not all sleep in SQLite's busy handler with growing back-off (a lock storm
        that made 8 concurrent kiosks slower than one). Other processes still meet the busy timeout, and
        so does an offload thread (center/offload.py): gevent locks do not wake reliably across OS threads,
        so it asks SQLite directly, like another process, and keeps its transactions short.
        """
        lock = contextlib.nullcontext() if on_native_thread() else self._write_lock
        with lock, self.connection() as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as e:
                raise StoreError(f"database busy or unavailable: {e}") from e
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise

    @contextlib.contextmanager
    def _grouped_write(self) -> Iterator[sqlite3.Connection]:
        """The block joins the open group transaction (or opens one), inside a SAVEPOINT of its own, then
        waits for the group's COMMIT. The COMMIT runs in a greenlet spawned when the group opens, so it comes
        after every greenlet that the event loop made ready in the same turn has had its chance to join."""
        import gevent

        me = gevent.getcurrent()
        if me in self._in_group:
            raise RuntimeError("nested write transaction")
        with self._write_lock:
            group = self._group
            if group is None:
                conn, pooled = self._checkout()
                try:
                    _begin_cooperatively(conn)
                except sqlite3.OperationalError as e:
                    self._checkin(conn, pooled)
                    raise StoreError(f"database busy or unavailable: {e}") from e
                group = self._group = _Group(conn, pooled)
                gevent.spawn(self._commit_group, group)
            conn = group.conn
            self._in_group.add(me)
            try:
                conn.execute("SAVEPOINT one_write")
                try:
                    yield conn
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK TO one_write")
                        conn.execute("RELEASE one_write")
                    elif self._group is group:  # SQLite rolled the whole group back: later writes start anew
                        self._group = None
                    raise
                conn.execute("RELEASE one_write")
                group.members += 1
            finally:
                self._in_group.discard(me)
        group.done.wait()
        if group.error is not None:
            raise type(group.error)(*group.error.args)

    def _commit_group(self, group: _Group) -> None:
        """COMMIT the shared transaction once (one fsync) and wake every block that joined it."""
        with self._write_lock:
            if self._group is group:
                self._group = None
            conn = group.conn
            try:
                if conn.in_transaction:
                    conn.execute("COMMIT")
                elif group.members:  # SQLite rolled the whole transaction back (disk full, I/O error)
                    group.error = StoreError("the write was rolled back by the database")
            except sqlite3.Error as e:
                group.error = e
                if conn.in_transaction:
                    conn.rollback()
            finally:
                self._checkin(conn, group.pooled)
                group.done.set()

    def close(self) -> None:
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                break


def _begin_cooperatively(conn: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE that waits for another process's write lock without stopping the event loop.

    SQLite's own busy handler sleeps inside C (1, 2, 5, 10 … ms), and under gevent that sleep stops every
    greenlet of the worker. Here SQLite gives up at once and the greenlet sleeps cooperatively between
    tries, so the worker goes on parsing requests and feeding screens while another process commits."""
    import gevent

    conn.execute("PRAGMA busy_timeout = 0")
    try:
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        pause = 0.0005
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e) or time.monotonic() > deadline:
                    raise
            gevent.sleep(pause)
            pause = min(pause * 2, 0.004)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection) -> int:
    """Apply every migration newer than the file's `user_version`, all in one transaction: a file is either at
    its old version or at the newest, never in between."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = schema_version(conn)
        if current > len(MIGRATIONS):
            raise StoreError(f"database schema v{current} is newer than this program (v{len(MIGRATIONS)})")
        for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("COMMIT")
    except BaseException:
        conn.rollback()
        raise
    return schema_version(conn)


def _statements(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit our transaction)."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
