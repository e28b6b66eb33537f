"""``mlbsts coverage``: which scheduled games of a date lack a Final snapshot in the log.

The games come from the newest schedule of that date on the schedules topic; a game is
covered by a snapshot on the snapshots topic whose ``gameData.status`` is Final (or
Postponed / Cancelled), or, for a postponed or cancelled game, by that status in the
schedule itself (such games have nothing left to poll).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import orjson

from connectors.envelope_serde import decode_envelope
from connectors.kafka_read import read_topic
from ingest.policy import Phase, phase_of
from mlbsts.settings import Settings

DONE_PHASES = frozenset({Phase.FINAL, Phase.POSTPONED, Phase.CANCELLED})


@dataclass
class CoverageReport:
    day: date
    scheduled: dict[int, str] = field(default_factory=dict)  # gamePk -> schedule state
    covered: dict[int, str] = field(default_factory=dict)  # gamePk -> how
    snapshots: dict[int, int] = field(default_factory=dict)  # gamePk -> count

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
            "scheduled": {str(k): v for k, v in sorted(self.scheduled.items())},
            "covered": {str(k): v for k, v in sorted(self.covered.items())},
            "missing": self.missing,
            "snapshots": {str(k): v for k, v in sorted(self.snapshots.items())},
        }


def coverage(
    settings: Settings, day: date, *, snapshots_topic: str, schedules_topic: str
) -> CoverageReport:
    report = CoverageReport(day)
    schedule: bytes | None = None
    for msg in read_topic(settings, schedules_topic):
        if msg.key() == day.isoformat().encode():
            schedule = msg.value()
    if schedule is None:
        return report
    for d in orjson.loads(schedule).get("dates", []):
        for game in d.get("games", []):
            if d.get("date") != day.isoformat():
                continue
            pk = int(game["gamePk"])
            state = str(game.get("status", {}).get("detailedState", "?"))
            report.scheduled[pk] = state
            if phase_of(game.get("status", {})) in (Phase.POSTPONED, Phase.CANCELLED):
                report.covered[pk] = f"{state} (schedule)"
    for msg in read_topic(settings, snapshots_topic):
        value = msg.value()
        if value is None:
            continue
        envelope = decode_envelope(value)
        pk = envelope.gamePk
        report.snapshots[pk] = report.snapshots.get(pk, 0) + 1
        if pk not in report.scheduled or pk in report.covered:
            continue
        status = orjson.loads(envelope.payload_json()).get("gameData", {}).get("status", {})
        if phase_of(status) in DONE_PHASES:
            report.covered[pk] = f"{status.get('detailedState')} snapshot {envelope.feed_timestamp}"
    return report
