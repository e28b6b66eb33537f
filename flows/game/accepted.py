"""A raw snapshot accepted by the flow: the envelope, its JSON, and where it was read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flows.game.envelope import SnapshotEnvelope


@dataclass(frozen=True, slots=True)
class AcceptedSnapshot:
    """A decoded snapshot; ``payload_json`` is the uncompressed feed, ``raw_value`` the
    record as read from the log (kept for dead letters: it is small, the payload gzipped).
    """

    envelope: SnapshotEnvelope
    raw_value: bytes
    payload_json: bytes
    game_date: date
    topic: str | None
    partition: int | None
    offset: int | None
    #: the W3C trace context the poller sent in the record's headers (docs/operating.md)
    traceparent: str | None = None
