"""The versioned schema. Each entry is one migration; its position (from 1) is the schema version.

Append new migrations at the end; never edit one that has shipped. `PRAGMA user_version` records
what a database file has. All timestamps are UTC ISO 8601 text ending in Z.
"""

V1_CORE = """
CREATE TABLE sites (
  code TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  name_en TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT 1,
  updated_at TEXT NOT NULL
);
CREATE TABLE services (
  code TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  name_en TEXT NOT NULL,
  target_wait_min REAL NOT NULL,
  active INTEGER NOT NULL DEFAULT 1,
  updated_at TEXT NOT NULL
);
CREATE TABLE procedures (
  service TEXT NOT NULL,
  code TEXT NOT NULL,
  name TEXT NOT NULL,
  name_en TEXT NOT NULL,
  field TEXT NOT NULL DEFAULT '',
  active INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (service, code)
);
CREATE TABLE counters (
  id TEXT PRIMARY KEY,
  site TEXT NOT NULL,
  number INTEGER NOT NULL,
  name TEXT NOT NULL,
  services TEXT NOT NULL,            -- JSON list from config.toml, in order of preference
  active INTEGER NOT NULL DEFAULT 1,
  updated_at TEXT NOT NULL
);

-- The last sequence number issued per site, service and local service day. Incremented inside
-- the same BEGIN IMMEDIATE transaction that inserts the ticket.
CREATE TABLE day_sequences (
  site TEXT NOT NULL,
  service TEXT NOT NULL,
  service_day TEXT NOT NULL,
  last_seq INTEGER NOT NULL,
  PRIMARY KEY (site, service, service_day)
) WITHOUT ROWID;

-- One row per stay in one queue. A transfer ends a row as 'transferred' and opens a new one with
-- the same printed number, linked by transferred_from; visit_id groups the chain.
CREATE TABLE tickets (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  public_id TEXT NOT NULL UNIQUE,     -- unguessable, for the citizen's phone page
  visit_id INTEGER,
  site TEXT NOT NULL,
  service TEXT NOT NULL,
  service_day TEXT NOT NULL,          -- local date the numbering belongs to
  seq INTEGER,                        -- NULL on rows created by a transfer
  number TEXT NOT NULL,               -- as printed
  priority TEXT,                      -- priority group code, NULL for none
  source TEXT NOT NULL,               -- kiosk, desk, api
  device TEXT,                        -- kiosk id or user who issued
  status TEXT NOT NULL CHECK (status IN
    ('waiting','called','serving','served','no_show','transferred','cancelled','left')),
  issued_at TEXT NOT NULL,
  queue_at TEXT NOT NULL,             -- first-come-first-served key (kept by a transfer that keeps its place)
  target_counter TEXT,                -- only this counter may call it (transfer to a counter)
  counter_id TEXT,                    -- counter that called it last
  staff TEXT,                         -- username at that counter
  called_at TEXT,
  last_called_at TEXT,
  call_count INTEGER NOT NULL DEFAULT 0,
  started_at TEXT,
  ended_at TEXT,
  wait_s REAL,                        -- first call - issue (or queue entry for a transfer)
  service_s REAL,                     -- end - start, for served tickets
  transferred_from INTEGER REFERENCES tickets(id),
  transferred_to INTEGER REFERENCES tickets(id),
  ahead_at_issue INTEGER,
  estimated_wait_s INTEGER,
  note TEXT,
  UNIQUE (site, service, service_day, seq)
);
CREATE INDEX tickets_waiting ON tickets (site, service_day, status, service, queue_at);
CREATE INDEX tickets_counter ON tickets (counter_id, status);
CREATE INDEX tickets_day ON tickets (service_day, site);
CREATE INDEX tickets_visit ON tickets (visit_id);
CREATE INDEX tickets_recent_served ON tickets (site, service, status, ended_at);

-- Every state change of a ticket, with time, counter and staff member: statistics come from here.
CREATE TABLE ticket_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ticket_id INTEGER NOT NULL REFERENCES tickets(id),
  at TEXT NOT NULL,
  kind TEXT NOT NULL,                 -- issued, called, recalled, started, procedure, finished,
                                      -- no_show, transferred, cancelled, left, printed, print_failed
  site TEXT NOT NULL,
  counter_id TEXT,
  staff TEXT,
  data TEXT                           -- JSON details
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id);
CREATE INDEX ticket_events_at ON ticket_events (at);

-- Procedures done during a served ticket, each with its own service time.
CREATE TABLE ticket_procedures (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ticket_id INTEGER NOT NULL REFERENCES tickets(id),
  service TEXT NOT NULL,
  procedure TEXT NOT NULL,
  site TEXT NOT NULL,
  counter_id TEXT,
  staff TEXT,
  started_at TEXT NOT NULL,
  ended_at TEXT NOT NULL,
  seconds REAL NOT NULL
);
CREATE INDEX ticket_procedures_ticket ON ticket_procedures (ticket_id);

-- What each counter is doing now. History of openings and pauses is in counter_events.
CREATE TABLE counter_state (
  counter_id TEXT PRIMARY KEY,
  site TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('closed','open','paused')),
  staff TEXT,
  ticket_id INTEGER REFERENCES tickets(id),
  pause_reason TEXT,
  since TEXT NOT NULL,
  normal_since_priority INTEGER NOT NULL DEFAULT 0,
  updated_at TEXT NOT NULL
);
CREATE TABLE counter_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  counter_id TEXT NOT NULL,
  site TEXT NOT NULL,
  at TEXT NOT NULL,
  kind TEXT NOT NULL,                 -- open, pause, resume, close, release
  staff TEXT,
  reason TEXT
);
CREATE INDEX counter_events_at ON counter_events (at);

CREATE TABLE users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  username TEXT NOT NULL UNIQUE,
  display_name TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('admin','manager','staff')),
  password_hash TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT 1,
  failed_logins INTEGER NOT NULL DEFAULT 0,
  locked_until TEXT,
  created_at TEXT NOT NULL
);

-- Bearer tokens for scripts (bound to a user) and devices (kiosk, display, bound to a site).
CREATE TABLE tokens (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  token_hash TEXT NOT NULL UNIQUE,    -- sha256 of the token; the token itself is shown once
  name TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('admin','manager','staff','kiosk','display')),
  site TEXT,
  user_id INTEGER REFERENCES users(id),
  created_at TEXT NOT NULL,
  revoked_at TEXT,
  last_used_at TEXT
);

CREATE TABLE ratings (
  ticket_id INTEGER PRIMARY KEY REFERENCES tickets(id),
  site TEXT NOT NULL,
  counter_id TEXT,
  staff TEXT,
  level TEXT NOT NULL,
  reasons TEXT,                       -- JSON list
  at TEXT NOT NULL
);

CREATE TABLE print_jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ticket_id INTEGER NOT NULL REFERENCES tickets(id),
  kiosk TEXT NOT NULL,
  status TEXT NOT NULL,               -- pending, printed, failed
  error TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX print_jobs_kiosk ON print_jobs (kiosk, status);

-- Settings changed on the web (display notice, counter services today, ...): survive restarts.
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,                -- JSON
  updated_at TEXT NOT NULL,
  updated_by TEXT
);

CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  actor TEXT,
  role TEXT,
  action TEXT NOT NULL,
  target TEXT,
  detail TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
"""

MIGRATIONS: list[str] = [V1_CORE]

# Reports (manager statistics): covering indexes so a date-range report reads index pages only.
V2_REPORT_INDEXES = """
CREATE INDEX tickets_report ON tickets (site, service_day, service, status, counter_id, staff, transferred_from,
  wait_s, service_s, issued_at);
CREATE INDEX tickets_report_day ON tickets (service_day, site, service, status, counter_id, staff, transferred_from,
  wait_s, service_s, issued_at);
CREATE INDEX ticket_procedures_report ON ticket_procedures (ticket_id, procedure, seconds);
CREATE INDEX counter_events_site_at ON counter_events (site, at);
"""

MIGRATIONS.append(V2_REPORT_INDEXES)

# Reports: value-ordered indexes: a median or 90th percentile is an index walk, not a sort of the range.
V3_REPORT_RANKS = """
CREATE INDEX tickets_wait_rank_all ON tickets (wait_s, service_day);
CREATE INDEX tickets_wait_rank ON tickets (site, wait_s, service_day);
CREATE INDEX tickets_wait_rank_service ON tickets (site, service, wait_s, service_day);
CREATE INDEX tickets_service_rank_all ON tickets (status, service_s, service_day);
CREATE INDEX tickets_service_rank ON tickets (site, status, service_s, service_day);
CREATE INDEX tickets_service_rank_service ON tickets (site, service, status, service_s, service_day);
"""

MIGRATIONS.append(V3_REPORT_RANKS)

# Reports: daily roll-ups of closed service days (center/reports/ builds them; today stays raw).
# rollup_days holds each (site, day)'s fingerprint of the raw rows the roll-up was built from.
V4_REPORT_ROLLUPS = """
CREATE TABLE rollup_days (
  site TEXT NOT NULL, service_day TEXT NOT NULL,
  tickets INTEGER NOT NULL, max_ticket_id INTEGER, max_event_id INTEGER, ratings INTEGER NOT NULL,
  procedures INTEGER NOT NULL, built_at TEXT NOT NULL,
  PRIMARY KEY (site, service_day)
) WITHOUT ROWID;
CREATE TABLE rollup_cells (
  site TEXT NOT NULL, service_day TEXT NOT NULL, service TEXT, counter_id TEXT, staff TEXT, hour INTEGER,
  issued INTEGER, entries INTEGER, served INTEGER, no_show INTEGER, cancelled INTEGER, transferred INTEGER,
  "left" INTEGER, "open" INTEGER, wait_n INTEGER, wait_sum REAL, wait_max REAL, service_n INTEGER,
  service_sum REAL, service_max REAL, sl_within INTEGER, sl_total INTEGER,
  wait_hist BLOB, service_hist BLOB
);
CREATE INDEX rollup_cells_site_day ON rollup_cells (site, service_day);
CREATE INDEX rollup_cells_day ON rollup_cells (service_day);
CREATE TABLE rollup_hists (
  site TEXT NOT NULL, service_day TEXT NOT NULL, service TEXT NOT NULL,
  wait_hist BLOB, service_hist BLOB,
  PRIMARY KEY (site, service_day, service)
) WITHOUT ROWID;
CREATE INDEX rollup_hists_day ON rollup_hists (service_day);
CREATE TABLE rollup_procedures (
  site TEXT NOT NULL, service_day TEXT NOT NULL, service TEXT, counter_id TEXT, staff TEXT, procedure TEXT,
  n INTEGER, tickets INTEGER, seconds_sum REAL, seconds_max REAL, hist BLOB
);
CREATE INDEX rollup_procedures_site_day ON rollup_procedures (site, service_day);
CREATE INDEX rollup_procedures_day ON rollup_procedures (service_day);
CREATE TABLE rollup_ratings (
  site TEXT NOT NULL, service_day TEXT NOT NULL, service TEXT, counter_id TEXT, staff TEXT,
  r_counter TEXT, r_staff TEXT, procedure TEXT, level TEXT, n INTEGER
);
CREATE INDEX rollup_ratings_site_day ON rollup_ratings (site, service_day);
CREATE INDEX rollup_ratings_day ON rollup_ratings (service_day);
CREATE TABLE rollup_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

MIGRATIONS.append(V4_REPORT_ROLLUPS)

# Reports: roll-up histograms per (site, day, service, counter, staff), for percentiles by counter or staff.
V5_ROLLUP_STAFF_HISTS = """
CREATE TABLE rollup_staff_hists (
  site TEXT NOT NULL, service_day TEXT NOT NULL, service TEXT, counter_id TEXT, staff TEXT,
  wait_hist BLOB, service_hist BLOB
);
CREATE INDEX rollup_staff_hists_site_day ON rollup_staff_hists (site, service_day);
CREATE INDEX rollup_staff_hists_day ON rollup_staff_hists (service_day);
"""

MIGRATIONS.append(V5_ROLLUP_STAFF_HISTS)

# Reports: roll-ups of whole months (same columns as the daily tables, service_day holding 'YYYY-MM'), built
# when every day of a month is rolled up, and daily sums per (site, day, hour) for the summary, trend and heat
# map of reports without a service, counter or staff filter.
V6_ROLLUP_MONTHS = """
CREATE TABLE rollup_months (
  site TEXT NOT NULL, month TEXT NOT NULL, built_at TEXT NOT NULL,
  PRIMARY KEY (site, month)
) WITHOUT ROWID;
CREATE TABLE rollup_day_sums (
  site TEXT NOT NULL, service_day TEXT NOT NULL, hour INTEGER,
  issued INTEGER, entries INTEGER, served INTEGER, no_show INTEGER, cancelled INTEGER, transferred INTEGER,
  "left" INTEGER, "open" INTEGER, wait_n INTEGER, wait_sum REAL, wait_max REAL, service_n INTEGER,
  service_sum REAL, service_max REAL, sl_within INTEGER, sl_total INTEGER
);
CREATE INDEX rollup_day_sums_site_day ON rollup_day_sums (site, service_day);
CREATE INDEX rollup_day_sums_day ON rollup_day_sums (service_day);
CREATE TABLE rollup_m_cells AS SELECT * FROM rollup_cells WHERE 0;
CREATE INDEX rollup_m_cells_site_month ON rollup_m_cells (site, service_day);
CREATE TABLE rollup_m_hists (
  site TEXT NOT NULL, service_day TEXT NOT NULL, service TEXT NOT NULL,
  wait_hist BLOB, service_hist BLOB,
  PRIMARY KEY (site, service_day, service)
) WITHOUT ROWID;
CREATE TABLE rollup_m_staff_hists AS SELECT * FROM rollup_staff_hists WHERE 0;
CREATE INDEX rollup_m_staff_hists_site_month ON rollup_m_staff_hists (site, service_day);
CREATE TABLE rollup_m_procedures AS SELECT * FROM rollup_procedures WHERE 0;
CREATE INDEX rollup_m_procedures_site_month ON rollup_m_procedures (site, service_day);
CREATE TABLE rollup_m_ratings AS SELECT * FROM rollup_ratings WHERE 0;
CREATE INDEX rollup_m_ratings_site_month ON rollup_m_ratings (site, service_day);
CREATE TABLE rollup_m_hour_hists (
  site TEXT NOT NULL, service_day TEXT NOT NULL, hour INTEGER,
  wait_hist BLOB, service_hist BLOB
);
CREATE INDEX rollup_m_hour_hists_site_month ON rollup_m_hour_hists (site, service_day);
"""

MIGRATIONS.append(V6_ROLLUP_MONTHS)

# Reports: daily histograms per (site, day), all services together (trend by day and weekday over many sites).
V7_ROLLUP_DAY_HISTS = """
CREATE TABLE rollup_day_hists (
  site TEXT NOT NULL, service_day TEXT NOT NULL, wait_hist BLOB, service_hist BLOB,
  PRIMARY KEY (site, service_day)
) WITHOUT ROWID;
CREATE INDEX rollup_day_hists_day ON rollup_day_hists (service_day);
"""

MIGRATIONS.append(V7_ROLLUP_DAY_HISTS)

# Reports over many sites: covering indexes led by the period, so a report reads only its periods' rows of the
# rollup_m_* tables; daily (day × hour) sums over all sites, with a marker per day they are built for.
V8_ROLLUP_PERIOD_INDEXES = """
CREATE INDEX rollup_m_cells_period ON rollup_m_cells (service_day, site, service, counter_id, staff, hour, issued,
  entries, served, no_show, cancelled, transferred, "left", "open", wait_n, wait_sum, wait_max, service_n,
  service_sum, service_max, sl_within, sl_total);
CREATE INDEX rollup_m_ratings_period ON rollup_m_ratings (service_day, site, service, counter_id, staff, r_counter,
  r_staff, procedure, level, n);
CREATE INDEX rollup_m_procedures_period ON rollup_m_procedures (service_day, site, service, counter_id, staff,
  procedure, n, tickets, seconds_sum, seconds_max, hist);
CREATE INDEX rollup_m_staff_hists_period ON rollup_m_staff_hists (service_day, site, service, counter_id, staff,
  wait_hist, service_hist);
CREATE INDEX rollup_m_hists_period ON rollup_m_hists (service_day, site, service, wait_hist, service_hist);
CREATE INDEX rollup_m_hour_hists_period ON rollup_m_hour_hists (service_day, site, hour, wait_hist, service_hist);
CREATE TABLE rollup_all_days (service_day TEXT PRIMARY KEY, built_at TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE rollup_all_day_sums (
  service_day TEXT NOT NULL, hour INTEGER,
  issued INTEGER, entries INTEGER, served INTEGER, no_show INTEGER, cancelled INTEGER, transferred INTEGER,
  "left" INTEGER, "open" INTEGER, wait_n INTEGER, wait_sum REAL, wait_max REAL, service_n INTEGER,
  service_sum REAL, service_max REAL, sl_within INTEGER, sl_total INTEGER
);
CREATE INDEX rollup_all_day_sums_day ON rollup_all_day_sums (service_day);
"""

MIGRATIONS.append(V8_ROLLUP_PERIOD_INDEXES)

# Reports: period sums per (site, period, service, counter, staff) without the hour (about 1/9 of the cells), for
# the site, service, counter and staff groups; filled here from the period cells already built.
V9_ROLLUP_PERIOD_KEYS = """
CREATE TABLE rollup_m_keys (
  site TEXT NOT NULL, service_day TEXT NOT NULL, service TEXT, counter_id TEXT, staff TEXT,
  issued INTEGER, entries INTEGER, served INTEGER, no_show INTEGER, cancelled INTEGER, transferred INTEGER,
  "left" INTEGER, "open" INTEGER, wait_n INTEGER, wait_sum REAL, wait_max REAL, service_n INTEGER,
  service_sum REAL, service_max REAL, sl_within INTEGER, sl_total INTEGER
);
INSERT INTO rollup_m_keys SELECT site, service_day, service, counter_id, staff, sum(issued), sum(entries),
  sum(served), sum(no_show), sum(cancelled), sum(transferred), sum("left"), sum("open"), sum(wait_n), sum(wait_sum),
  max(wait_max), sum(service_n), sum(service_sum), max(service_max), sum(sl_within), sum(sl_total)
  FROM rollup_m_cells GROUP BY site, service_day, service, counter_id, staff;
CREATE INDEX rollup_m_keys_site ON rollup_m_keys (site, service_day);
CREATE INDEX rollup_m_keys_period ON rollup_m_keys (service_day, site, service, counter_id, staff, issued, entries,
  served, no_show, cancelled, transferred, "left", "open", wait_n, wait_sum, wait_max, service_n, service_sum,
  service_max, sl_within, sl_total);
"""

MIGRATIONS.append(V9_ROLLUP_PERIOD_KEYS)

# Reports over all sites filtered by one service: (day × hour) sums and daily histograms over all sites per
# service, with a marker per day they are built for (center/reports/ fills them from the daily roll-ups of
# days every site has rolled up; rebuilding a site's day drops that day's rows, which are then summed again).
V10_ROLLUP_ALL_SERVICE_DAYS = """
CREATE TABLE rollup_all_service_days (service_day TEXT PRIMARY KEY, built_at TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE rollup_all_service_sums (
  service TEXT, service_day TEXT NOT NULL, hour INTEGER,
  issued INTEGER, entries INTEGER, served INTEGER, no_show INTEGER, cancelled INTEGER, transferred INTEGER,
  "left" INTEGER, "open" INTEGER, wait_n INTEGER, wait_sum REAL, wait_max REAL, service_n INTEGER,
  service_sum REAL, service_max REAL, sl_within INTEGER, sl_total INTEGER
);
CREATE INDEX rollup_all_service_sums_service ON rollup_all_service_sums (service, service_day);
CREATE INDEX rollup_all_service_sums_day ON rollup_all_service_sums (service_day);
CREATE TABLE rollup_all_service_hists (
  service TEXT NOT NULL, service_day TEXT NOT NULL, wait_hist BLOB, service_hist BLOB,
  PRIMARY KEY (service, service_day)
) WITHOUT ROWID;
CREATE INDEX rollup_all_service_hists_day ON rollup_all_service_hists (service_day);
"""

MIGRATIONS.append(V10_ROLLUP_ALL_SERVICE_DAYS)

# The people waiting now, and only them: a ticket enters at issue and leaves when called. Counting who is
# ahead of a new ticket, and reading the queue for the estimate, then touch only this small index (the
# full tickets_waiting index holds every ticket of the day and needed a row lookup per waiting ticket:
# 0.22 ms per issue with 3,000 waiting).
V11_WAITING_NOW = """
CREATE INDEX tickets_waiting_now ON tickets (site, service_day, status, service, queue_at, priority, target_counter)
  WHERE status = 'waiting';
"""

MIGRATIONS.append(V11_WAITING_NOW)

# Issuing writes half the indexes it did: a new ticket has no wait, service time, end or counter yet, and the
# indexes on those columns (percentile walks, recent handling times, a counter's tickets) now hold only the rows
# that have one. A ticket enters them once, when it gets the value, instead of entering at the NULL end at issue
# and moving later. Every query on them compares the column or says IS NOT NULL, which lets SQLite use a
# partial index (the percentile walks name theirs with INDEXED BY, so a plan that could not would fail loudly).
V12_PARTIAL_INDEXES = """
DROP INDEX tickets_wait_rank_all;
DROP INDEX tickets_wait_rank;
DROP INDEX tickets_wait_rank_service;
DROP INDEX tickets_service_rank_all;
DROP INDEX tickets_service_rank;
DROP INDEX tickets_service_rank_service;
DROP INDEX tickets_recent_served;
DROP INDEX tickets_counter;
CREATE INDEX tickets_wait_rank_all ON tickets (wait_s, service_day) WHERE wait_s IS NOT NULL;
CREATE INDEX tickets_wait_rank ON tickets (site, wait_s, service_day) WHERE wait_s IS NOT NULL;
CREATE INDEX tickets_wait_rank_service ON tickets (site, service, wait_s, service_day) WHERE wait_s IS NOT NULL;
CREATE INDEX tickets_service_rank_all ON tickets (status, service_s, service_day) WHERE service_s IS NOT NULL;
CREATE INDEX tickets_service_rank ON tickets (site, status, service_s, service_day) WHERE service_s IS NOT NULL;
CREATE INDEX tickets_service_rank_service ON tickets (site, service, status, service_s, service_day)
  WHERE service_s IS NOT NULL;
CREATE INDEX tickets_recent_served ON tickets (site, service, status, ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX tickets_counter ON tickets (counter_id, status) WHERE counter_id IS NOT NULL;
"""

MIGRATIONS.append(V12_PARTIAL_INDEXES)

# Sessions end when what they rest on changes: a cookie session and a socket carry the account's session_gen
# from sign-in, and sign-out, a password reset, a role change or disabling the account bump it, so every copy of
# that cookie and every socket opened with it stops working (checked per request, per socket event and by a
# sweep). login_limits counts sign-in attempts per account name (existing or not) and per client address in the
# same transaction that decides whether the password is checked at all, so a burst cannot slip past the count.
V13_SESSIONS_AND_LOGIN_LIMITS = """
ALTER TABLE users ADD COLUMN session_gen INTEGER NOT NULL DEFAULT 0;
CREATE TABLE login_limits (
  key TEXT PRIMARY KEY,               -- 'user:<name, lower case>' or 'addr:<client address>'
  level REAL NOT NULL,                -- attempts not yet forgotten (each is forgotten at the limit's rate)
  updated_at TEXT NOT NULL,
  locked_until TEXT,
  expires_at TEXT NOT NULL            -- the row means nothing after this; deleted then
) WITHOUT ROWID;
CREATE INDEX login_limits_expiry ON login_limits (expires_at);
"""

MIGRATIONS.append(V13_SESSIONS_AND_LOGIN_LIMITS)

# One issuing limit per kiosk device and idempotent request ids, where every server process sees them: both are
# read and written inside the issue's own transaction (center/queue/issuing.py: take_issue_token, prior_request).
# IF NOT EXISTS: a file set back to an older version (tests/test_migrations.py) runs this again harmlessly.
V14_ISSUE_LIMITS = """
CREATE TABLE IF NOT EXISTS issue_limits (
  device TEXT PRIMARY KEY,
  tokens REAL NOT NULL,               -- left in the bucket at `at`
  at REAL NOT NULL                    -- the center's clock, seconds since the epoch
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS issue_requests (
  caller TEXT NOT NULL,               -- the device or account that sent the request id
  request_id TEXT NOT NULL,
  at TEXT NOT NULL,
  ticket_id INTEGER NOT NULL REFERENCES tickets(id),
  answer TEXT,                        -- JSON the kiosk route answered (ticket and print outcome)
  PRIMARY KEY (caller, request_id)
) WITHOUT ROWID;
"""

MIGRATIONS.append(V14_ISSUE_LIMITS)

# How many wait in each line (site, day, service, target counter or '', class), kept by triggers on every change
# of a ticket: the people ahead of a new ticket are a sum over a few of these rows (center/queue/policy.py), so issuing
# costs the same with 10 or 10,000 waiting (counting them in the index took 0.2 ms per ticket at 10,000).
V15_QUEUE_COUNTS = """
CREATE TABLE IF NOT EXISTS queue_counts (
  site TEXT NOT NULL, service_day TEXT NOT NULL, service TEXT NOT NULL, target TEXT NOT NULL, prio INTEGER NOT NULL,
  waiting INTEGER NOT NULL,
  PRIMARY KEY (site, service_day, service, target, prio)
) WITHOUT ROWID;
DELETE FROM queue_counts;
INSERT INTO queue_counts (site, service_day, service, target, prio, waiting)
  SELECT site, service_day, service, coalesce(target_counter, ''), priority IS NOT NULL, count(*)
  FROM tickets WHERE status = 'waiting' GROUP BY 1, 2, 3, 4, 5;
CREATE TRIGGER IF NOT EXISTS queue_counts_issue AFTER INSERT ON tickets WHEN NEW.status = 'waiting' BEGIN
  INSERT INTO queue_counts (site, service_day, service, target, prio, waiting)
  VALUES (NEW.site, NEW.service_day, NEW.service, coalesce(NEW.target_counter, ''), NEW.priority IS NOT NULL, 1)
  ON CONFLICT (site, service_day, service, target, prio) DO UPDATE SET waiting = waiting + 1;
END;
CREATE TRIGGER IF NOT EXISTS queue_counts_leave AFTER UPDATE OF status, site, service_day, service, target_counter,
  priority ON tickets WHEN OLD.status = 'waiting' BEGIN
  UPDATE queue_counts SET waiting = waiting - 1 WHERE site = OLD.site AND service_day = OLD.service_day
    AND service = OLD.service AND target = coalesce(OLD.target_counter, '') AND prio = (OLD.priority IS NOT NULL);
END;
CREATE TRIGGER IF NOT EXISTS queue_counts_join AFTER UPDATE OF status, site, service_day, service, target_counter,
  priority ON tickets WHEN NEW.status = 'waiting' BEGIN
  INSERT INTO queue_counts (site, service_day, service, target, prio, waiting)
  VALUES (NEW.site, NEW.service_day, NEW.service, coalesce(NEW.target_counter, ''), NEW.priority IS NOT NULL, 1)
  ON CONFLICT (site, service_day, service, target, prio) DO UPDATE SET waiting = waiting + 1;
END;
CREATE TRIGGER IF NOT EXISTS queue_counts_delete AFTER DELETE ON tickets WHEN OLD.status = 'waiting' BEGIN
  UPDATE queue_counts SET waiting = waiting - 1 WHERE site = OLD.site AND service_day = OLD.service_day
    AND service = OLD.service AND target = coalesce(OLD.target_counter, '') AND prio = (OLD.priority IS NOT NULL);
END;
"""

MIGRATIONS.append(V15_QUEUE_COUNTS)

# Places that run on their own (issue 15, docs/federation.md): while this database has an upstream (a row in
# sync_link), triggers note every change of a synced record in sync_outbox, in commit order (center/storage/
# outbox.py). At the center, sync_nodes holds each node's hashed token, high-water mark and last contact;
# sync_batches what came in; `sync_ver` keeps an older copy of a row from overwriting a newer one.
SYNCED_KEYS = {"tickets": "id", "ticket_events": "id", "ticket_procedures": "id", "ratings": "ticket_id",
               "counter_events": "id", "print_jobs": "id", "audit_log": "id", "counter_state": "counter_id"}
MUTABLE = ("tickets", "ratings", "print_jobs", "counter_state")


def _outbox_triggers() -> str:
    out = []
    for table, key in SYNCED_KEYS.items():
        for op in ("INSERT", "UPDATE") if table in MUTABLE else ("INSERT",):
            out.append(f"CREATE TRIGGER IF NOT EXISTS sync_{table}_{op.lower()} AFTER {op} ON {table} "
                       f"WHEN EXISTS (SELECT 1 FROM sync_link) BEGIN "
                       f"INSERT INTO sync_outbox (tbl, key) VALUES ('{table}', NEW.{key}); END;")
    return "\n".join(out)


V16_SYNC = """
CREATE TABLE sync_outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  tbl TEXT NOT NULL,
  key NOT NULL                          -- the row's id (counter_state: its counter id)
);
CREATE TABLE sync_link (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  node TEXT NOT NULL,
  db_id TEXT NOT NULL,                  -- this database's identity: a center refuses another file under the same node
  acked INTEGER NOT NULL DEFAULT 0,     -- the upstream's high-water mark, as last heard
  last_ok_at TEXT,
  last_try_at TEXT,
  last_error TEXT,
  clock_offset_s REAL,                  -- this clock minus the upstream's, at the last contact
  manifest TEXT,                        -- what the center manages, as last received (JSON)
  manifest_hash TEXT,
  manifest_at TEXT
);
CREATE TABLE sync_nodes (
  node TEXT PRIMARY KEY,
  token_hash TEXT UNIQUE,
  token_created_at TEXT,
  db_id TEXT,                           -- the node's database, as first seen
  hwm INTEGER NOT NULL DEFAULT 0,       -- every change up to this outbox position of the node is here
  last_contact_at TEXT,
  last_records_at TEXT,
  clock_offset_s REAL,
  version TEXT,
  records INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE sync_batches (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  node TEXT NOT NULL,
  at TEXT NOT NULL,
  via TEXT NOT NULL CHECK (via IN ('link', 'bundle')),
  from_seq INTEGER NOT NULL,
  to_seq INTEGER NOT NULL,
  records INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  clock_offset_s REAL
);
CREATE INDEX sync_batches_node ON sync_batches (node, at);
CREATE TABLE rollup_dirty (             -- (site, day)s whose raw rows came in by sync: their roll-ups are checked
  site TEXT NOT NULL,
  service_day TEXT NOT NULL,
  PRIMARY KEY (site, service_day)
) WITHOUT ROWID;
ALTER TABLE tickets ADD COLUMN sync_ver INTEGER;
ALTER TABLE tickets ADD COLUMN clock_offset_s REAL;  -- at the center: the node's clock was this far off
ALTER TABLE ratings ADD COLUMN sync_ver INTEGER;
ALTER TABLE print_jobs ADD COLUMN sync_ver INTEGER;
ALTER TABLE counter_state ADD COLUMN sync_ver INTEGER;
""" + _outbox_triggers()

from .migrations_later import LATER  # noqa: E402 - 17 on live apart: this module is at its size limit

MIGRATIONS += [V16_SYNC, *LATER]
