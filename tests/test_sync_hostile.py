"""Issue 25: a center's `/sync/push` and a bundle under hostile or broken input. Every body is bounded before it
costs memory (bytes sent, bytes inflated while inflating, JSON values counted before parsing), every shape is
checked before anything is built from it, and the answer is a JSON 413 or 422, never a 500. A batch whose rows are
not the node's is applied without them: they are held with the reason, the node's mark moves on, the node and the
center's overview say so. (The hub's side, on a real PostgreSQL and measured in memory: test_hub_hostile.py.)"""

from __future__ import annotations

import json
import os
import shutil
import stat
import zlib
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from center.queue.clock import to_iso
from center.storage import outbox
from center.sync import nodes
from center.sync.protocol import CONTENT_TYPE, MAX_BODY, MAX_INFLATED, PROTOCOL, encode
from tests.conftest import FakeClock, WebClient
from tests.sync_support import center_config


@pytest.fixture
def center_app(tmp_path, accounts_template):
    """The center's app with its nodes, through Flask's test client, and a node token for `branch`."""
    from center.app import create_app

    db = tmp_path / "center.sqlite3"
    shutil.copyfile(accounts_template[0], db)
    cfg_path = center_config(tmp_path)
    clock = FakeClock()
    app = create_app(str(cfg_path), str(db), clock=clock, housekeeping=False)
    c = app.extensions["xephang"]
    with c.store.write() as conn:
        token = nodes.create_token(conn, c.config, "branch", clock())
    web = WebClient(app=app, client=app.test_client(), tokens={})
    web.node_token = token  # type: ignore[attr-defined]
    web.center = c  # type: ignore[attr-defined]
    yield web
    c.store.close()


def push(web, body: bytes, **headers):
    return web.client.post("/sync/push", data=body, headers={"Authorization": f"Bearer {web.node_token}",
                                                               "Content-Type": CONTENT_TYPE, **headers})


def body_of(obj) -> bytes:
    return zlib.compress(json.dumps(obj).encode(), 9)


def batch_dict(tables: dict, after: int = 0, to: int = 1) -> dict:
    return {"protocol": PROTOCOL, "node": "branch", "db_id": "d" * 32, "after": after, "to": to, "ver": to,
            "sent_at": to_iso(datetime.now(UTC)), "tables": tables}


def assert_json_refusal(r, *statuses):
    assert r.status_code in statuses, (r.status_code, r.get_data(as_text=True)[:300])
    data = r.get_json()
    assert data and data["error"] and data["message"] and data["message_en"]
    return data


def test_a_zlib_bomb_is_refused_at_the_bound_while_inflating(center_app):
    bomb = zlib.compress(b"[" + b"{}," * (40 * 1024 * 1024) + b"{}]", 9)  # ~120 MB of JSON in ~120 KB
    assert len(bomb) < MAX_BODY
    data = assert_json_refusal(push(center_app, bomb), 413)
    assert data["error"] == "too_large" and str(MAX_INFLATED) in data["message_en"]


def test_a_body_past_the_bound_is_refused_before_it_is_read(center_app):
    data = assert_json_refusal(push(center_app, b"x" * (MAX_BODY + 1)), 413)
    assert data["error"] in ("too_large", "request_entity_too_large")


def test_many_small_values_within_the_byte_bound_are_refused_before_parsing(center_app):
    raw = json.dumps(batch_dict({"tickets": {"cols": ["id"], "rows": [[1]] * 400_000}})).encode()
    assert len(raw) < MAX_INFLATED
    data = assert_json_refusal(push(center_app, zlib.compress(raw, 9)), 413)
    assert "values" in data["message_en"]


@pytest.mark.parametrize("cell", [{"a": 1}, [1, 2], True, 2**70])
def test_a_cell_that_is_no_text_nor_number_is_a_422(center_app, cell):
    row = [1_000_000_000_001, "branch", cell]
    r = push(center_app, body_of(batch_dict({"tickets": {"cols": ["id", "site", "note"], "rows": [row]}})))
    assert assert_json_refusal(r, 422)["error"] == "bad_batch"


def test_a_batch_of_the_wrong_shape_is_a_422_naming_it(center_app):
    for tables, words in (({"tickets": {"cols": ["id", "nope"], "rows": [[1, 2]]}}, "unknown column"),
                          ({"nope": {"cols": [], "rows": []}}, "unknown table"),
                          ({"tickets": {"cols": ["id"], "rows": [[1, 2]]}}, "does not match"),
                          ({"tickets": []}, "malformed table")):
        data = assert_json_refusal(push(center_app, body_of(batch_dict(tables))), 422)
        assert words in data["message_en"], data


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                 max_size=4), max_leaves=20)
FIELDS = ("protocol", "node", "db_id", "after", "to", "ver", "tables", "sent_at", "clock_offset_s", "version")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=8),
       st.dictionaries(st.sampled_from(outbox.ORDER), JSON | st.fixed_dictionaries({"cols": JSON, "rows": JSON}),
                       max_size=3))
def test_no_malformed_batch_gets_a_5xx(center_app, fields, tables):
    body = {**batch_dict({}), "tables": tables, **fields}  # a field drawn at random replaces the sound one
    r = push(center_app, body_of(body))
    assert r.status_code < 500, r.get_data(as_text=True)[:300]
    assert r.get_json() is not None


def test_rows_of_another_place_are_held_and_the_rest_applied(center_app):
    """A row of a site that is not the node's: the batch is answered 422 `records_refused` naming it, the other
    rows are applied, the mark moves on (a later batch is never blocked by it), and the center's overview raises
    an alert for that node until IT sees to it (`sync held`)."""
    c = center_app.center
    cols = ["id", "counter_id", "site", "at", "kind", "staff", "reason"]
    ok = [1_000_000_000_001, "branch-1", "branch", "2026-11-23T02:00:00.000Z", "open", "staff1", None]
    foreign = [1_000_000_000_002, "main-1", "main", "2026-11-23T02:00:00.000Z", "open", "staff1", None]
    r = push(center_app, body_of(batch_dict({"counter_events": {"cols": cols, "rows": [ok, foreign]}}, to=2)))
    data = assert_json_refusal(r, 422)
    assert data["error"] == "records_refused" and data["hwm"] == 2 and data["held_count"] == 1
    assert data["refused"][0]["key"] == foreign[0] and "site 'main'" in data["refused"][0]["reason"]
    with c.store.read() as conn:
        assert [r[0] for r in conn.execute("SELECT id FROM counter_events")] == [ok[0]]
        assert nodes.hwm(conn, "branch") == 2
        from center.sync.status import center_nodes

        alerts = center_nodes(conn, c.config, c.engine.clock())["alerts"]
    assert any(a["kind"] == "node_refused" and a["node"] == "branch" for a in alerts), alerts
    later = [1_000_000_000_003, "branch-1", "branch", "2026-11-23T02:05:00.000Z", "close", "staff1", None]
    r = push(center_app, body_of(batch_dict({"counter_events": {"cols": cols, "rows": [later]}}, after=2, to=3)))
    assert r.status_code == 200 and r.get_json()["hwm"] == 3 and r.get_json()["held_total"] == 1


def test_a_replayed_batch_is_answered_as_a_replay_not_as_a_restore(center_app):
    cols = ["id", "counter_id", "site", "at", "kind", "staff", "reason"]
    row = [1_000_000_000_001, "branch-1", "branch", "2026-11-23T02:00:00.000Z", "open", "staff1", None]
    first = body_of(batch_dict({"counter_events": {"cols": cols, "rows": [row]}}, to=1))
    assert push(center_app, first).status_code == 200
    row2 = [1_000_000_000_002, *row[1:]]
    assert push(center_app, body_of(batch_dict({"counter_events": {"cols": cols, "rows": [row2]}}, after=1,
                                               to=5))).status_code == 200
    again = push(center_app, first)  # the same bytes, after the mark moved past them
    assert again.status_code == 200 and again.get_json()["replay"] is True and again.get_json()["written"] == 0
    restored = body_of({**batch_dict({"counter_events": {"cols": cols, "rows": [row]}}, to=1), "sent_at": "x"})
    r = push(center_app, restored)  # fewer changes than the center holds, never seen: a node put back
    assert r.status_code == 403 and "backup" in r.get_json()["message_en"]


def test_files_that_carry_hashes_or_tokens_are_the_owners_only(tmp_path):
    """`sync manifest` (password hashes), a bundle, the node's token, the phone key, the database and its WAL (password
    and token hashes): mode 0600."""
    from center.config.read import load_config
    from center.storage.secret import keep_booking_key, write_private
    from center.storage.store import Store
    from center.sync.bundle import export
    from center.sync.link import save_token
    from center.sync.manifest import build

    cfg = load_config(center_config(tmp_path))
    store = Store(tmp_path / "node.sqlite3")
    old = os.umask(0o022)
    try:
        with store.write() as conn:
            outbox.link(conn, "branch", 1)
        with store.read() as conn:
            body = build(cfg, conn, cfg.node("branch"))
        write_private(tmp_path / "m.json", json.dumps(body))
        bundle, _ = export(store, tmp_path / "usb", datetime.now(UTC))
        save_token(tmp_path / "t.node-token", "xn_abc")
        keep_booking_key(tmp_path / "node.sqlite3", "k" * 32)
        for path in (tmp_path / "m.json", bundle, tmp_path / "t.node-token", tmp_path / "node.phone-key",
                     tmp_path / "node.sqlite3", tmp_path / "node.sqlite3-wal"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        loose = tmp_path / "copied.sqlite3"  # a database copied in with the umask's 0644 is closed to others
        shutil.copyfile(tmp_path / "node.sqlite3", loose)
        assert stat.S_IMODE(loose.stat().st_mode) == 0o644
        Store(loose).close()
        assert stat.S_IMODE(loose.stat().st_mode) == 0o600
    finally:
        os.umask(old)
        store.close()


def test_the_manifest_command_writes_an_owner_only_file(tmp_path, accounts_template):
    from center.sync.cli import cmd_sync_manifest

    db = tmp_path / "center.sqlite3"
    shutil.copyfile(accounts_template[0], db)

    class Args:
        config = str(center_config(tmp_path))
        node = "branch"
        dest = str(tmp_path / "out")

    Args.db = str(db)
    old = os.umask(0o022)
    try:
        cmd_sync_manifest(Args)
    finally:
        os.umask(old)
    out = tmp_path / "out" / "xephang-manifest-branch.json"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "password_hash" in out.read_text(encoding="utf-8")


def test_a_bundle_is_parts_each_within_the_bounds_and_imports_whole(tmp_path):
    """A month at a mobile team's laptop is more than one batch: the bundle is cut in parts the center takes as it
    takes batches, and a part damaged on the stick is refused by its checksum before it is read."""
    from center.config.read import parse_config, read_toml
    from center.queue.actors import Actor
    from center.queue.engine import Engine
    from center.storage.store import Store
    from center.sync import bundle, manifest

    center_cfg = parse_config(read_toml(center_config(tmp_path)), str(tmp_path / "center.toml"))
    node = center_cfg.node("branch")
    data = manifest.node_data({"upstream": {"url": "http://127.0.0.1:9", "node": "branch"}},
                              {"config": read_toml(center_cfg.source_path), "sites": list(node.sites)})
    clock = FakeClock()
    node_store, center_store = Store(tmp_path / "node.sqlite3"), Store(tmp_path / "center.sqlite3")
    try:
        with node_store.write() as conn:
            outbox.link(conn, "branch", node.block)
        node_cfg = parse_config(data)
        eng = Engine(node_store, node_cfg, clock=clock, publish=lambda events: None)
        Engine(center_store, center_cfg, clock=clock, publish=lambda events: None)
        staff = Actor(name="staff1", role="staff")
        eng.take_counter("branch-1", staff)
        done = node_cfg.services["HD"].procedures[0].code
        for _ in range(700):  # each citizen transferred once, then served
            eng.issue("branch", "CT")
            called = eng.call_next("branch-1", staff)
            if called and called["service"] == "CT":
                eng.transfer("branch-1", staff, service="HD")
            elif called:
                eng.start("branch-1", staff)
                eng.finish("branch-1", staff, [done])
            clock.advance(seconds=20)
        path, header = bundle.export(node_store, tmp_path / "usb", clock())
        assert len(header["parts"]) > 1 and all(p["bytes"] <= MAX_BODY for p in header["parts"])
        result = bundle.import_(center_store, center_cfg, path, clock())
        assert result["held_count"] == 0 and result["hwm"] == header["to"]
        with center_store.read() as conn, node_store.read() as nconn:
            for tbl in ("tickets", "ticket_events"):
                assert conn.execute(f"SELECT count(*) FROM {tbl}").fetchone() == nconn.execute(
                    f"SELECT count(*) FROM {tbl}").fetchone()
        damaged = bytearray(path.read_bytes())
        damaged[-10] ^= 0xFF
        bad = tmp_path / "bad.xhb"
        bad.write_bytes(bytes(damaged))
        with pytest.raises(outbox.SyncRefused, match="damaged"):
            bundle.import_(center_store, center_cfg, bad, clock())
    finally:
        node_store.close()
        center_store.close()


def test_the_link_sends_fewer_positions_when_a_batch_is_past_the_bounds():
    big = outbox.Batch(node="n", after=0, to=1, ver=1, tables={"audit_log": {"cols": ["id", "detail"],
                                                                             "rows": [[1, "x" * MAX_INFLATED]]}})
    with pytest.raises(outbox.BatchTooLarge):
        encode(big)
