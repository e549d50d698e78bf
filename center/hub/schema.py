"""The province hub's PostgreSQL schema (issue 16, docs/federation.md "The province hub").

What centers send is stored as sent, append-only in spirit: a record is only ever replaced by a newer copy
of itself (its `sync_ver`), never edited here. Every table is keyed by `center` first, so a distributed
PostgreSQL (Citus: `create_distributed_table(…, 'center')`) or per-center read replicas can take a national
deployment without a schema change. The two tables that grow with every visit are partitioned by month
(tickets by service day, ticket events by time): a month is a file that can be detached, archived or kept
on another tablespace, and a report over a range reads only its months.
"""

from __future__ import annotations

from datetime import date, timedelta

from .cells import BOOKED, HIST, PHIST, PROC_SUMS, SUMS, columns_ddl

# (table, its key after `center`, the partition column or None, PostgreSQL columns)
TABLES: dict[str, tuple[tuple[str, ...], str | None, str]] = {
    "tickets": (("id", "service_day"), "service_day", """
  id bigint NOT NULL, public_id text, visit_id bigint, site text NOT NULL, service text NOT NULL,
  service_day date NOT NULL, seq integer, number text, priority text, source text, device text, status text NOT NULL,
  issued_at timestamptz, queue_at timestamptz, target_counter text, counter_id text, staff text,
  called_at timestamptz, last_called_at timestamptz, call_count integer, started_at timestamptz,
  ended_at timestamptz, wait_s double precision, service_s double precision, transferred_from bigint,
  transferred_to bigint, ahead_at_issue integer, estimated_wait_s integer, note text, booking text"""),
    "ticket_events": (("id", "at"), "at", """
  id bigint NOT NULL, ticket_id bigint NOT NULL, at timestamptz NOT NULL, kind text NOT NULL, site text NOT NULL,
  counter_id text, staff text, data text"""),
    "ticket_procedures": (("id",), None, """
  id bigint NOT NULL, ticket_id bigint NOT NULL, service text, procedure text, site text NOT NULL, counter_id text,
  staff text, started_at timestamptz, ended_at timestamptz, seconds double precision"""),
    "ratings": (("ticket_id",), None, """
  ticket_id bigint NOT NULL, site text NOT NULL, counter_id text, staff text, level text, reasons text,
  at timestamptz"""),
    "counter_events": (("id",), None, """
  id bigint NOT NULL, counter_id text, site text NOT NULL, at timestamptz, kind text, staff text, reason text"""),
    "counter_state": (("counter_id",), None, """
  counter_id text NOT NULL, site text NOT NULL, status text, staff text, ticket_id bigint, pause_reason text,
  since timestamptz, normal_since_priority integer, updated_at timestamptz"""),
    "print_jobs": (("id",), None, """
  id bigint NOT NULL, ticket_id bigint, kiosk text, status text, error text, created_at timestamptz,
  updated_at timestamptz"""),
    "audit_log": (("id",), None, """
  id bigint NOT NULL, at timestamptz, actor text, role text, action text, target text, detail text"""),
}

HUB_TABLES = """
CREATE TABLE IF NOT EXISTS hub_centers (
  center text PRIMARY KEY,
  token_hash text UNIQUE,
  token_created_at timestamptz,
  db_id text,
  hwm bigint NOT NULL DEFAULT 0,
  last_contact_at timestamptz,
  last_records_at timestamptz,
  clock_offset_s double precision,
  version text,
  records bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS hub_batches (
  id bigserial PRIMARY KEY,
  center text NOT NULL,
  at timestamptz NOT NULL,
  from_seq bigint NOT NULL,
  to_seq bigint NOT NULL,
  records integer NOT NULL,
  bytes integer NOT NULL
);
CREATE INDEX IF NOT EXISTS hub_batches_center ON hub_batches (center, at);
-- A center's batches as received (sha256): the same batch sent again is a replay, not a restore (ingest.py).
CREATE TABLE IF NOT EXISTS hub_seen (
  center text NOT NULL,
  digest text NOT NULL,
  at timestamptz NOT NULL,
  PRIMARY KEY (center, digest)
);
CREATE INDEX IF NOT EXISTS hub_seen_at ON hub_seen (at);
-- Rows of a center's batch the hub could not take (a cell of the wrong type, a site not the center's): kept as
-- sent, the rest applied, tried again once per hub process (hub.toml may have been put right) and by IT.
CREATE TABLE IF NOT EXISTS hub_held (
  center text NOT NULL,
  tbl text NOT NULL,
  key text NOT NULL,
  cols text NOT NULL,
  row text NOT NULL,
  ver bigint NOT NULL,
  reason text NOT NULL,
  first_at timestamptz NOT NULL,
  at timestamptz NOT NULL,
  PRIMARY KEY (center, tbl, key)
);
ALTER TABLE hub_centers ADD COLUMN IF NOT EXISTS refused_at timestamptz, ADD COLUMN IF NOT EXISTS refused text;
-- What each center sent of its config.toml: names, targets, rating levels (center/sync/labels.py).
CREATE TABLE IF NOT EXISTS hub_labels (
  center text PRIMARY KEY,
  hash text NOT NULL,
  labels jsonb NOT NULL,
  at timestamptz NOT NULL
);
"""


def ddl() -> list[str]:
    """Every statement that makes the hub's schema (idempotent: run at each start)."""
    out = []
    for table, (key, part, cols) in TABLES.items():
        pk = ", ".join(("center", *key))
        tail = f" PARTITION BY RANGE ({part})" if part else ""
        out.append(f"CREATE TABLE IF NOT EXISTS {table} (\n  center text NOT NULL,{cols},\n  sync_ver bigint,\n"
                   f"  PRIMARY KEY ({pk})){tail}")
    out.append("CREATE INDEX IF NOT EXISTS tickets_center_day ON tickets (center, service_day, site, service)")
    out.append("CREATE INDEX IF NOT EXISTS tickets_waiting ON tickets (center, site, status) WHERE status IN "
               "('waiting', 'called', 'serving')")
    out.append("CREATE INDEX IF NOT EXISTS ticket_procedures_ticket ON ticket_procedures (center, ticket_id)")
    out.extend(s.strip() for s in HUB_TABLES.split(";") if s.strip())
    return out + summary_ddl()


def summary_ddl() -> list[str]:
    """The summary tables (derived from the records, rebuilt at will: center/hub/summary.py, rollup.py).

    `hub_daily`: one row per center, site, service, day and hour, rebuilt for the (center, day)s a batch
    touches. `hub_rollup`: the same figures per day (grain 'd': all, per service, per hour) and per month
    (grain 'm': also per site and service, and each of those per hour), '' and -1 standing for "all";
    `hub_rollup_proc` per procedure; `hub_rollup_months` says which months' rows are up to date."""
    cells = columns_ddl(SUMS, (HIST,), ("wait_max",))
    key = ("center text NOT NULL, grain char(1) NOT NULL, period date NOT NULL, site text NOT NULL, "
           "service text NOT NULL")
    return [
        "CREATE TABLE IF NOT EXISTS hub_daily (center text NOT NULL, site text NOT NULL, service text NOT NULL, "
        f"service_day date NOT NULL, hour smallint NOT NULL, {cells}, "
        "PRIMARY KEY (center, service_day, site, service, hour))",
        f"CREATE TABLE IF NOT EXISTS hub_rollup ({key}, hour smallint NOT NULL, {cells}, "
        "PRIMARY KEY (center, grain, period, site, service, hour))",
        # the bookings of the slot's day, on the rows of all hours (hour -1) of all sites
        "ALTER TABLE hub_rollup " + ", ".join(f"ADD COLUMN IF NOT EXISTS {c} integer NOT NULL DEFAULT 0"
                                              for c in BOOKED),
        f"CREATE TABLE IF NOT EXISTS hub_rollup_proc ({key}, procedure text NOT NULL, "
        f"{columns_ddl(PROC_SUMS, (HIST, PHIST), ('wait_max', 'proc_max'))}, "
        "PRIMARY KEY (center, grain, period, site, service, procedure))",
        "CREATE TABLE IF NOT EXISTS hub_rollup_months (center text NOT NULL, month date NOT NULL, "
        "dirty boolean NOT NULL DEFAULT true, stale boolean NOT NULL DEFAULT false, PRIMARY KEY (center, month))",
        # a hub made before the histograms: the new columns, and its old rows' months marked for rollup.refresh
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = 'hub_daily' AND column_name = 'sl_total') THEN ALTER TABLE hub_daily "
        + ", ".join(f"ADD COLUMN IF NOT EXISTS {c}" for c in cells.split(", ")) + "; "
        "INSERT INTO hub_rollup_months (center, month, dirty, stale) SELECT DISTINCT center, "
        "date_trunc('month', service_day)::date, true, true FROM hub_daily "
        "ON CONFLICT (center, month) DO UPDATE SET dirty = true, stale = true; END IF; END $$",
    ]


def month_bounds(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, nxt


def partition_ddl(table: str, day: date) -> str:
    """The month partition of `table` that holds `day`."""
    first, nxt = month_bounds(day)
    return (f"CREATE TABLE IF NOT EXISTS {table}_{first:%Y_%m} PARTITION OF {table} "
            f"FOR VALUES FROM ('{first.isoformat()}') TO ('{nxt.isoformat()}')")
