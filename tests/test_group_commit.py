"""Group commit in the gevent server (center/storage/store.py): the writes of one event-loop turn share one COMMIT,
a failing write leaves the others intact, and no write returns before the COMMIT.

Runs in a child process monkey-patched by gevent, as the production worker is."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.conftest import ROOT

SCRIPT = textwrap.dedent(r"""
    from gevent import monkey
    monkey.patch_all()

    import json, sqlite3, sys
    import gevent
    import center.storage.store as store_module

    statements = []
    plain_connect = store_module.connect

    def traced(path):
        conn = plain_connect(path)
        conn.set_trace_callback(statements.append)
        return conn

    store_module.connect = traced
    store = store_module.Store(sys.argv[1])
    seen_after_return = {}

    def write(i):
        with store.write() as conn:
            conn.execute("INSERT INTO settings (key, value, updated_at) VALUES (?, '1', 'now')", (f"k{i}",))
            if i == 3:
                raise ValueError("this one fails")
        # Returned: the row must already be on disk, visible to another connection.
        with sqlite3.connect(sys.argv[1]) as other:
            row = other.execute("SELECT count(*) FROM settings WHERE key = ?", (f"k{i}",)).fetchone()
            seen_after_return[i] = row[0]

    statements.clear()
    jobs = [gevent.spawn(write, i) for i in range(8)]
    gevent.joinall(jobs)
    with sqlite3.connect(sys.argv[1]) as check:
        keys = sorted(r[0] for r in check.execute("SELECT key FROM settings"))
    print(json.dumps({
        "commits": sum(1 for s in statements if s.strip().upper() == "COMMIT"),
        "begins": sum(1 for s in statements if s.strip().upper().startswith("BEGIN")),
        "keys": keys,
        "errors": [type(j.exception).__name__ if j.exception else None for j in jobs],
        "seen_after_return": seen_after_return,
    }))
""")


def test_writes_of_one_loop_turn_share_one_commit_and_a_failing_one_is_rolled_back_alone(tmp_path):
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "group.sqlite3")], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["begins"] == 1 and result["commits"] == 1  # eight writes, one transaction, one fsync
    assert result["keys"] == [f"k{i}" for i in range(8) if i != 3]
    assert result["errors"] == [None, None, None, "ValueError", None, None, None, None]
    assert result["seen_after_return"] == {str(i): 1 for i in range(8) if i != 3}


WAIT_SCRIPT = textwrap.dedent(r"""
    from gevent import monkey
    monkey.patch_all()

    import json, sqlite3, sys, time
    import gevent
    from center.storage.store import Store

    store = Store(sys.argv[1])
    holder = sqlite3.connect(sys.argv[1], isolation_level=None)  # another process's writer, in effect
    holder.execute("BEGIN IMMEDIATE")
    ticks = []

    def ticker():
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            ticks.append(time.monotonic())
            gevent.sleep(0.005)

    def release():
        gevent.sleep(0.3)
        holder.execute("COMMIT")

    def write():
        started = time.monotonic()
        with store.write() as conn:
            conn.execute("INSERT INTO settings (key, value, updated_at) VALUES ('k', '1', 'now')")
        return time.monotonic() - started

    jobs = [gevent.spawn(ticker), gevent.spawn(release), gevent.spawn(write)]
    gevent.joinall(jobs)
    print(json.dumps({"ticks": len(ticks), "write_s": jobs[2].value}))
""")


def test_a_write_waiting_for_another_processes_lock_does_not_stop_the_worker(tmp_path):
    out = subprocess.run([sys.executable, "-c", WAIT_SCRIPT, str(tmp_path / "wait.sqlite3")], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["write_s"] >= 0.25  # it did wait for the other writer...
    assert result["ticks"] >= 30  # ...while the other greenlets went on (60 ticks of 5 ms in 0.3 s at best)
