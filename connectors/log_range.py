"""A range of the raw log: bounds as people write them, resolved to offsets per partition. Pure.

``mlbsts replay --from BOUND --to BOUND`` (docs/architecture.md section 3) takes bounds:

- ``beginning``: each partition's first record (the log's low watermark);
- ``end``: each partition's end *when the command starts* (``--to``'s default), so a
  replay is a fixed set of records even while the poller keeps writing;
- ``time:ISO``: each partition's first record whose timestamp (the producer's create
  time, i.e. when the poller published it) is at or after that instant; a time without a
  zone is UTC;
- ``offset:PARTITION:OFFSET``: that partition's offset. It may be repeated. As ``--from``
  it restricts the replay to the partitions it names; as ``--to`` it bounds those
  partitions and leaves the others at ``end``.

:func:`resolve` turns a ``--from``/``--to`` pair into one :class:`PartitionRange`
``[start, end)`` per partition read, given each partition's ``[low, end)`` now and a way to
find the first offset at a time. That lookup is an argument (the Kafka edge,
``connectors/kafka_range.py``, supplies it), and :func:`first_offset_at` is the pure binary
search it can use where the broker's ``offsets_for_times`` cannot be trusted (Tansu answers
it with 0). The search assumes timestamps do not decrease along a partition (one producer
per game, its create time); where they do, the range is still a well-defined offset range,
the same on every replay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = [
    "Bound",
    "BoundError",
    "PartitionRange",
    "first_offset_at",
    "parse_bounds",
    "resolve",
]


class BoundError(ValueError):
    """A bound that does not parse, or names a partition the topic does not have."""


@dataclass(frozen=True)
class Bound:
    """One parsed bound: ``kind`` is ``beginning``, ``end``, ``time`` or ``offset``."""

    kind: str
    at_ms: int | None = None  # time: epoch milliseconds
    partition: int | None = None  # offset
    offset: int | None = None  # offset


@dataclass(frozen=True)
class PartitionRange:
    """Offsets ``[start, end)`` of one partition."""

    partition: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return max(0, self.end - self.start)


def parse_bounds(texts: Iterable[str]) -> list[Bound]:
    """Parse the values of one option (``--from`` or ``--to``); raises :class:`BoundError`."""
    bounds = [_parse(t.strip()) for t in texts]
    kinds = {b.kind for b in bounds}
    if len(bounds) > 1 and kinds != {"offset"}:
        raise BoundError("only offset:PARTITION:OFFSET bounds may be repeated")
    partitions = [b.partition for b in bounds if b.kind == "offset"]
    if len(partitions) != len(set(partitions)):
        raise BoundError("a partition is named twice in one bound")
    return bounds


def _parse(text: str) -> Bound:
    if text in ("beginning", "end"):
        return Bound(text)
    kind, _, rest = text.partition(":")
    if kind == "time" and rest:
        try:
            at = datetime.fromisoformat(rest.replace("Z", "+00:00"))
        except ValueError as e:
            raise BoundError(f"{text!r}: not an ISO 8601 time") from e
        at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
        return Bound("time", at_ms=int(at.timestamp() * 1000))
    if kind == "offset":
        part, _, offset = rest.partition(":")
        if part.isdigit() and offset.isdigit():
            return Bound("offset", partition=int(part), offset=int(offset))
    raise BoundError(f"{text!r}: expected beginning, end, time:ISO or offset:PARTITION:OFFSET")


#: (partition, epoch ms) → the first offset whose timestamp is at or after it
FirstAt = Callable[[int, int], int]


def resolve(
    start: list[Bound],
    stop: list[Bound],
    partitions: Mapping[int, tuple[int, int]],
    first_at: FirstAt,
) -> dict[int, PartitionRange]:
    """The range of each partition read, from ``partitions`` (``[low, end)`` now) and the
    two bounds (see the module docstring); an empty range is kept (it reads nothing)."""
    for bound in (*start, *stop):
        if bound.kind == "offset" and bound.partition not in partitions:
            raise BoundError(f"partition {bound.partition} does not exist")
    named = {b.partition for b in start if b.kind == "offset" and b.partition is not None}
    read = sorted(named) if named else sorted(partitions)
    out: dict[int, PartitionRange] = {}
    for p in read:
        low, end = partitions[p]
        first = _offset(start, p, low, end, first_at, default=low)
        last = _offset(stop, p, low, end, first_at, default=end)
        first, last = min(max(first, low), end), min(max(last, low), end)
        out[p] = PartitionRange(p, first, max(first, last))
    return out


def _offset(
    bounds: list[Bound], p: int, low: int, end: int, first_at: FirstAt, *, default: int
) -> int:
    if not bounds:
        return default
    bound = bounds[0]
    if bound.kind == "beginning":
        return low
    if bound.kind == "end":
        return end
    if bound.kind == "time" and bound.at_ms is not None:
        return first_at(p, bound.at_ms)
    for b in bounds:
        if b.partition == p and b.offset is not None:
            return b.offset
    return default


def first_offset_at(low: int, end: int, at_ms: int, timestamp_of: Callable[[int], int]) -> int:
    """The first offset in ``[low, end)`` whose timestamp is ``>= at_ms`` (``end`` if none),
    by binary search over ``timestamp_of(offset)`` (a few dozen lookups for any size)."""
    lo, hi = low, end
    while lo < hi:
        mid = (lo + hi) // 2
        if timestamp_of(mid) < at_ms:
            lo = mid + 1
        else:
            hi = mid
    return lo
