"""``mlbsts coverage``: which scheduled games of a date lack a Final snapshot in the log.

The games come from the newest schedule of that date on the schedules topic; a game is
covered by a snapshot on the snapshots topic whose ``gameData.status`` is settled (Final,
or Postponed / Cancelled), or, for a postponed or cancelled game, by that status in the
schedule itself (such games have nothing left to poll). Both readings of a status are
:mod:`flows.game.status`'s.

Only the date's window of both topics is read (:func:`connectors.kafka_read.read_window`,
seeking by time), never the topics from their start: by default (:func:`day_window`) from
``margin`` before the start of the date in New York (its schedule may be published the day
before) to one hour past the last correction poll of a game that went Final at the end of
the next day (a game suspended and resumed the next day). The window is the records'
*log* time: a replay of an old date publishes records stamped with today's time, so its
coverage needs an explicit window (``since`` / ``until``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import orjson

from connectors.envelope_serde import decode_envelope
from connectors.kafka_read import read_window
from flows.game.status import is_called_off, is_settled
from ingest.policy import MLB_TZ, Corrections, parse_corrections
from mlbsts.settings import Settings

MARGIN = timedelta(hours=24)  # a date's schedule may be published the day before
SLACK = timedelta(hours=1)  # after the last correction poll: the poll and its publish


@dataclass
class CoverageReport:
    day: date
    since: datetime
    until: datetime | None
    scheduled: dict[int, str] = field(default_factory=dict)  # gamePk -> schedule state
    covered: dict[int, str] = field(default_factory=dict)  # gamePk -> how
    snapshots: dict[int, int] = field(default_factory=dict)  # gamePk -> count
    read: dict[str, int] = field(default_factory=lambda: {"schedules": 0, "snapshots": 0})

    @property
    def missing(self) -> list[int]:
        return sorted(pk for pk in self.scheduled if pk not in self.covered)

    @property
    def complete(self) -> bool:
        return bool(self.scheduled) and not self.missing

    def as_json(self) -> dict[str, object]:
        return {
            "date": self.day.isoformat(),
            "complete": self.complete,
            "window": {
                "since": self.since.isoformat(),
                "until": None if self.until is None else self.until.isoformat(),
            },
            "read": dict(self.read),
            "scheduled": {str(k): v for k, v in sorted(self.scheduled.items())},
            "covered": {str(k): v for k, v in sorted(self.covered.items())},
            "missing": self.missing,
            "snapshots": {str(k): v for k, v in sorted(self.snapshots.items())},
        }


def day_window(
    day: date,
    corrections: Corrections,
    *,
    final_grace_s: float = 0.0,
    margin: timedelta = MARGIN,
) -> tuple[datetime, datetime]:
    """The log-time window ``[since, until)`` that holds what the poller published for
    ``day``'s games (see the module docstring). Pure."""
    start = datetime.combine(day, time(0), MLB_TZ)
    latest_final = datetime.combine(day + timedelta(days=2), time(0), MLB_TZ)
    polls = [latest_final + timedelta(seconds=final_grace_s), *corrections.times(latest_final)]
    return start - margin, max(polls) + SLACK


def coverage(
    settings: Settings,
    day: date,
    *,
    snapshots_topic: str,
    schedules_topic: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> CoverageReport:
    """Coverage of ``day``, reading the log window ``[since, until)``: by default
    :func:`day_window` with the settings' correction schedule; with ``since`` alone, from
    ``since`` to the end of the topics."""
    if since is None:
        since, default_until = day_window(
            day,
            parse_corrections(settings.ingest_corrections),
            final_grace_s=settings.ingest_final_grace_s,
        )
        until = until or default_until
    report = CoverageReport(day, since, until)
    since_ms = _ms(since)
    until_ms = None if until is None else _ms(until)
    schedule: bytes | None = None
    for msg in read_window(settings, schedules_topic, since_ms, until_ms):
        report.read["schedules"] += 1
        if msg.key() == day.isoformat().encode():
            schedule = msg.value()
    if schedule is None:
        return report
    _add_schedule(report, schedule)
    for msg in read_window(settings, snapshots_topic, since_ms, until_ms):
        report.read["snapshots"] += 1
        value = msg.value()
        if value is not None:
            _add_snapshot(report, value)
    return report


def _add_schedule(report: CoverageReport, schedule: bytes) -> None:
    iso = report.day.isoformat()
    for d in orjson.loads(schedule).get("dates", []):
        if d.get("date") != iso:
            continue
        for game in d.get("games", []):
            pk = int(game["gamePk"])
            state = str(game.get("status", {}).get("detailedState", "?"))
            report.scheduled[pk] = state
            if is_called_off(game.get("status", {})):
                report.covered[pk] = f"{state} (schedule)"


def _add_snapshot(report: CoverageReport, value: bytes) -> None:
    envelope = decode_envelope(value)
    pk = envelope.gamePk
    report.snapshots[pk] = report.snapshots.get(pk, 0) + 1
    if pk not in report.scheduled or pk in report.covered:
        return
    status = orjson.loads(envelope.payload_json()).get("gameData", {}).get("status", {})
    if is_settled(status):
        report.covered[pk] = f"{status.get('detailedState')} snapshot {envelope.feed_timestamp}"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
