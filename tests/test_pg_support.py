"""The province hub's test server is a real PostgreSQL: the tests that build on it (issue 16) check durability and
partitioning on the database the hub will run, so this checks the fixture gives exactly that."""

from __future__ import annotations

import psycopg
import pytest

from tests.pg_support import PgCluster, pg, pg_db  # noqa: F401  (fixtures)


def test_a_real_server_with_password_auth_and_partitioned_tables(pg: PgCluster, pg_db: str) -> None:  # noqa: F811
    with psycopg.connect(pg_db) as conn:
        version = conn.execute("SELECT version()").fetchone()[0]
        assert version.startswith("PostgreSQL ")
        assert conn.execute("SHOW fsync").fetchone()[0] == "on"
        conn.execute("CREATE TABLE tickets (site text NOT NULL, day date NOT NULL, number int NOT NULL) "
                     "PARTITION BY RANGE (day)")
        conn.execute("CREATE TABLE tickets_2026_11 PARTITION OF tickets "
                     "FOR VALUES FROM ('2026-11-01') TO ('2026-12-01')")
        conn.execute("INSERT INTO tickets VALUES ('phuong-1', '2026-11-23', 1)")
        assert conn.execute("SELECT count(*) FROM tickets_2026_11").fetchone()[0] == 1
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg_db.replace(pg.password, "wrong"))


def test_committed_rows_survive_a_restart_and_a_kill(pg: PgCluster) -> None:  # noqa: F811
    dsn = pg.new_database("restarts")
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE batches (id int PRIMARY KEY)")
        conn.execute("INSERT INTO batches VALUES (1)")
    pg.restart()
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO batches VALUES (2)")
    pg.kill()  # no shutdown checkpoint: row 2 comes back from the WAL
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=2)
    pg.start()
    with psycopg.connect(dsn) as conn:
        assert [r[0] for r in conn.execute("SELECT id FROM batches ORDER BY id")] == [1, 2]
