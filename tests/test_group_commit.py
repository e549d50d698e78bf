"""Group commit in the gevent server (center/store.py): the writes of one event-loop turn share one COMMIT,
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
    import center.store as store_module

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
