"""The center and the province hub share one contract (center/contract/): the records that flow upward, and the
rule for booking codes and phones (test_booking_rule.py). Here: the hub's tables hold exactly the columns a
center sends, table by table, read from the center's own schema (PRAGMA table_info), so a column added by a
center's migration and forgotten at the hub fails here, not as a refused batch in the field."""

from __future__ import annotations

import sqlite3

import pytest

from center.contract import records
from center.hub.ingest import TABLES as HUB_TABLES
from center.hub.screen import column_types
from center.storage.store import Store


@pytest.fixture(scope="module")
def center_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("contract") / "center.sqlite3"
    Store(path).close()
    return path


@pytest.mark.parametrize("table", records.ORDER)
def test_the_hub_has_every_column_a_center_sends(center_db, table):
    with sqlite3.connect(center_db) as conn:
        sent = [r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[1] not in records.LOCAL_COLUMNS]
    assert set(column_types(HUB_TABLES[table][2])) == set(sent)


@pytest.mark.parametrize("table", records.ORDER)
def test_each_synced_tables_key_is_its_primary_key_at_both_ends(center_db, table):
    with sqlite3.connect(center_db) as conn:
        pk = [r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[5]]
    assert pk == [records.SYNCED[table]]
    assert HUB_TABLES[table][0][0] == records.SYNCED[table]  # after `center`, and a partition column if any


def test_every_table_with_a_trigger_is_synced_and_every_synced_table_has_one(center_db):
    with sqlite3.connect(center_db) as conn:
        noted = {r[0].removeprefix("sync_").rsplit("_", 1)[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'sync\\_%' ESCAPE '\\'")}
        updated = {r[0].removeprefix("sync_").removesuffix("_update") for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'sync\\_%\\_update' ESCAPE '\\'")}
    assert noted == set(records.SYNCED)
    assert updated == set(records.MUTABLE)
