"""What the log already holds, so a restarted poller publishes nothing twice.

At start the poller reads a bounded recent window of the snapshots and schedules topics
(``offsets_for_times``: never the whole topic) and keeps, per game, the newest snapshot's
``(metaData.timeStamp, content digest)`` and, per date, the newest schedule's digest. It seeds
its ``SeenSnapshots`` and schedule digests with them: a poll that brings back what the log
already ends with is not published again. The fold (:meth:`LogState.add_snapshot`,
:meth:`LogState.add_schedule`) is pure; :func:`read_log_state` is the Kafka edge.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime

import orjson

from connectors.envelope_serde import decode_envelope
from connectors.kafka_read import read_window
from flows.game.envelope import SnapshotEnvelope
from ingest.diff_patch import canonical_body, content_digest
from mlbsts.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class LogState:
    """Per game the newest snapshot (timeStamp, digest); per date the newest schedule digest."""

    snapshots: dict[int, tuple[str | None, str]] = field(default_factory=dict)
    schedules: dict[date, str] = field(default_factory=dict)
    _newest: dict[int, SnapshotEnvelope] = field(default_factory=dict, repr=False)

    def add_snapshot(self, envelope: SnapshotEnvelope) -> None:
        """Fold one snapshot in (log order); the digest is computed once per game, lazily."""
        old = self._newest.get(envelope.gamePk)
        if old is None or (envelope.feed_timestamp or "") >= (old.feed_timestamp or ""):
            self._newest[envelope.gamePk] = envelope
            self.snapshots.pop(envelope.gamePk, None)

    def add_schedule(self, key: bytes | None, body: bytes) -> None:
        if key:
            self.schedules[date.fromisoformat(key.decode())] = content_digest(body)

    def newest(self) -> dict[int, tuple[str | None, str]]:
        """Per game, the newest snapshot's (timeStamp, digest of its canonical content)."""
        for pk, envelope in self._newest.items():
            if pk not in self.snapshots:
                feed = orjson.loads(envelope.payload_json())
                self.snapshots[pk] = (envelope.feed_timestamp, content_digest(canonical_body(feed)))
        self._newest.clear()
        return self.snapshots


def read_log_state(
    settings: Settings, *, snapshots_topic: str, schedules_topic: str, since: datetime
) -> LogState:
    """The newest snapshot per game and schedule per date written at or after ``since``."""
    state = LogState()
    since_ms = int(since.timestamp() * 1000)
    for msg in read_window(settings, schedules_topic, since_ms):
        value = msg.value()
        if value is not None:
            state.add_schedule(msg.key(), value)
    for msg in read_window(settings, snapshots_topic, since_ms):
        value = msg.value()
        if value is not None:
            state.add_snapshot(decode_envelope(value))
    state.newest()
    log.info(
        "the log since %s holds %d games and %d schedules",
        since.isoformat(),
        len(state.snapshots),
        len(state.schedules),
    )
    return state
