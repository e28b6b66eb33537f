"""The events one snapshot produced, as one item (for sinks that write per snapshot).

The diff of a given snapshot against a given state is deterministic, so a batch keyed by
``(gamePk, source_ts)`` is the same on every replay: sinks that write a batch as one object
(S3) get deterministic keys and idempotent writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flows.game.events import Event


@dataclass(frozen=True, slots=True)
class EventBatch:
    """Every event a snapshot of ``game_pk`` (``metaData.timeStamp`` ``source_ts``) produced."""

    game_pk: int
    game_date: date
    source_ts: str
    events: tuple[Event, ...]
    #: the snapshot's trace context (``AcceptedSnapshot.traceparent``), for the sinks' spans
    traceparent: str | None = None
