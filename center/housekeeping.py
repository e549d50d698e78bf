"""What the server does every few seconds, whatever the traffic: the engine rolls the service day over and
closes it after the last session, then the reports roll up the closed days.

The two meet here, in that order, so the engine knows nothing of reports and the reports nothing of when a
day closes: a day is rolled up once it is past, whoever closed it.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import date, timedelta

from . import offload
from .queue.engine import Engine
from .reports import ensure_rollups

log = logging.getLogger(__name__)

HOUSEKEEPING_S = float(os.environ.get("XEPHANG_HOUSEKEEPING_S", "20"))


class Housekeeping:
    """One pass closes what the engine must close, then builds the roll-ups of the past week once a day per
    site (in the background: the first long report of the morning then does not build them in a web request)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._rolled_up: dict[str, str] = {}  # site -> service day whose past week is rolled up

    def run_once(self) -> None:
        self.engine.housekeeping()
        now = self.engine.clock()
        for site in self.engine.config.sites.values():
            day = self.engine.today(site, now)
            if self._rolled_up.get(site.code) != day:
                self._roll_up_past_week(site.code, day)

    def _roll_up_past_week(self, site: str, day: str) -> None:
        week_ago = (date.fromisoformat(day) - timedelta(days=7)).isoformat()
        offload.run(ensure_rollups, self.engine.store, self.engine.config, week_ago, day, today=day, site=site,
                    batch_days=offload.BATCH_DAYS)
        self._rolled_up[site] = day


def start(engine: Engine) -> Housekeeping:
    """Run housekeeping every HOUSEKEEPING_S seconds on a daemon thread for the life of the process."""
    keeper = Housekeeping(engine)

    def loop() -> None:
        stop = threading.Event()
        while True:
            try:
                keeper.run_once()
            except Exception:  # noqa: BLE001 - keep the loop alive; the next pass retries
                log.exception("housekeeping failed")
            stop.wait(HOUSEKEEPING_S)

    threading.Thread(target=loop, name="housekeeping", daemon=True).start()
    return keeper
