"""Figures managers read: counts, waiting and service times, service level, satisfaction, arrivals.

Everything is computed by SQL aggregation over the raw tickets, ticket_procedures and ratings rows of a
date range (local service days), filtered by site, service, procedure, counter and staff member, and
grouped by one dimension. Percentiles use linear interpolation between closest ranks (numpy's
default): position (n − 1)·q in the sorted values; only the two rows around that position per group
leave SQLite. Hours of day and weekdays are local (config timezone).

Definitions (see docs/statistics.md):
- issued: queue entries that are not the continuation of a transfer (one per printed ticket);
- served / no_show / cancelled / transferred / left: entries whose final status is that;
- waiting time: first call − issue (wait_s, entries that were called); service time: finish − start of
  served entries; service time per procedure: ticket_procedures.seconds;
- service level: entries called within their service's target wait, over entries called plus those
  that ended without a call (left, cancelled at closing): an abandoned citizen missed the target.

The package's parts, each for one job: filters (what is asked, the filtered rows), figures (the additive
figures and a finished row), labels (names and durations), percentiles (exact and from histograms), raw
(the raw path), rollup_build / rollup_fresh / rollup_plan / rollup_read (daily and period roll-ups: built,
kept fresh, planned and read), assemble (the parts both paths share), paths (report(): which path answers),
staffing and erlang (Erlang C staffing advice), live (the live overview), export (CSV and XLSX), clock_flag
(tickets that came from a node whose clock was off).
"""

from __future__ import annotations

from .clock_flag import clock_flag
from .export import to_csv, to_xlsx
from .filters import GROUPS, MAX_RANGE_DAYS, STATUSES, Filters, utc_offset_minutes
from .labels import WEEKDAYS_EN, WEEKDAYS_VI, Labels, fmt_duration, whole_seconds
from .live import live_alerts, live_overview, today_figures
from .paths import report
from .percentiles import BUCKETS, NB, bucket_error_s
from .rollup_fresh import ROLLUP_MIN_DAYS, ensure_rollups, rollups_ready, uses_rollups, verify_rollups
from .staffing import STAFFING_WAIT_MIN, check_staffing_targets, open_counter_seconds, staffing

__all__ = [
    "BUCKETS", "GROUPS", "MAX_RANGE_DAYS", "NB", "ROLLUP_MIN_DAYS", "STAFFING_WAIT_MIN", "STATUSES", "WEEKDAYS_EN",
    "WEEKDAYS_VI", "Filters", "Labels", "bucket_error_s", "check_staffing_targets", "clock_flag", "ensure_rollups",
    "fmt_duration", "live_alerts", "live_overview", "open_counter_seconds", "report", "rollups_ready", "staffing",
    "to_csv", "to_xlsx", "today_figures", "uses_rollups", "utc_offset_minutes", "verify_rollups", "whole_seconds",
]
