"""When a schedule is due: cron expressions in a time zone, or fixed intervals.

Times are aware datetimes. A cron expression is read in the schedule's time zone, so
``0 9 * * *`` in Europe/Oslo is 09:00 there, summer and winter; across a daylight saving
change a time that does not exist is skipped and one that happens twice fires once
(cronsim's rules, as cron's).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass

from cronsim import CronSim, CronSimError

from controlplane.errors import InvalidRequest

# A due time this late is missed (the built-in workers were down), not merely late.
MISFIRE_GRACE = dt.timedelta(seconds=60)
# Missed due times counted one by one at most; past that the count says "at least".
MAX_COUNTED = 100_000


@dataclass(frozen=True)
class Timing:
    cron: str | None
    interval_seconds: int | None
    timezone: str

    def check(self) -> None:
        """422 ``invalid_schedule`` for a cron expression or time zone that is not one."""
        if (self.cron is None) == (self.interval_seconds is None):
            raise InvalidRequest("invalid_schedule", "give a cron expression or an interval")
        zone = _zone(self.timezone)
        if self.cron is not None:
            if len(self.cron.split()) != 5:  # cronsim also reads a seconds field
                raise InvalidRequest(
                    "invalid_schedule",
                    f"{self.cron!r} is not a cron expression: it needs five fields"
                    " (minute hour day month weekday)",
                )
            try:
                CronSim(self.cron, dt.datetime.now(zone))
            except CronSimError as error:
                raise InvalidRequest(
                    "invalid_schedule", f"{self.cron!r} is not a cron expression: {error}"
                ) from None

    def after(self, moment: dt.datetime) -> Iterator[dt.datetime]:
        """The due times after ``moment``, in order (each in UTC)."""
        if self.cron is not None:
            for due in CronSim(self.cron, moment.astimezone(_zone(self.timezone))):
                yield due.astimezone(dt.UTC)
            return
        assert self.interval_seconds is not None
        step = dt.timedelta(seconds=self.interval_seconds)
        due = moment
        while True:
            due += step
            yield due.astimezone(dt.UTC)

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        return next(self.after(moment))


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidRequest("invalid_schedule", f"{name!r} is not a time zone") from None


@dataclass(frozen=True)
class Due:
    """What to do about a schedule whose next due time has come."""

    # The due time to run for (None: run nothing, only record the missed ones).
    run_for: dt.datetime | None
    # The due time recorded (run_for, or the last one missed).
    recorded: dt.datetime
    kind: str  # scheduled, catch_up or skipped
    missed: int
    next_fire_at: dt.datetime


def plan_fire(timing: Timing, due: dt.datetime, now: dt.datetime, catch_up: str) -> Due:
    """On time (within the grace), a due time runs. Later than that, it and the others since
    were missed while nothing fired: ``skip`` runs none of them, ``once`` runs the last."""
    if now - due <= MISFIRE_GRACE:
        return Due(due, due, "scheduled", 0, timing.next_after(due))
    missed, last = 1, due
    following = timing.after(due)
    upcoming = next(following)
    while upcoming <= now and missed < MAX_COUNTED:
        missed, last = missed + 1, upcoming
        upcoming = next(following)
    if upcoming <= now:  # too many to count: start afresh from now
        upcoming = timing.next_after(now)
    if catch_up == "once":
        return Due(last, last, "catch_up", missed - 1, upcoming)
    return Due(None, last, "skipped", missed, upcoming)
