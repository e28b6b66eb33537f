"""A raw snapshot accepted by the flow: the envelope, its JSON, and where it was read."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any

from flows.game.envelope import SnapshotEnvelope
from flows.game.feed import FeedHead


@dataclass(frozen=True, slots=True)
class AcceptedSnapshot:
    """A decoded snapshot; ``payload_json`` is the uncompressed feed, ``raw_value`` the
    record as read from the log (kept for dead letters: it is small, the payload gzipped).

    ``head`` is the engine's view of ``payload_json`` from validation's scan
    (``flows.game.validate``), so the diff does not scan the feed again. It is derived,
    not data: it is left out of comparisons and of a pickle (a snapshot sent to another
    worker process), and without it the diff decodes the head itself.
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
    head: FeedHead | None = field(default=None, compare=False, repr=False)

    def __reduce__(self) -> tuple[Any, ...]:
        return (AcceptedSnapshot, tuple(getattr(self, name) for name in _PICKLED))


#: every field but ``head``, in order (positional arguments of a pickled snapshot)
_PICKLED = tuple(f.name for f in fields(AcceptedSnapshot) if f.name != "head")
