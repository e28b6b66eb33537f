"""Range bounds of ``mlbsts replay`` (connectors.log_range): parsing, resolution, search."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.log_range import (
    Bound,
    BoundError,
    PartitionRange,
    first_offset_at,
    parse_bounds,
    resolve,
)

pytestmark = pytest.mark.unit

T = int(datetime(2024, 7, 1, 19, 0, tzinfo=UTC).timestamp() * 1000)
# partition → [low, end): partition 1 lost its first 10 records to retention
PARTS = {0: (0, 100), 1: (10, 60), 2: (0, 0)}


def first_at(partition: int, at_ms: int) -> int:
    """Record i of every partition was written at T + i seconds."""
    low, end = PARTS[partition]
    return min(max(low, -(-(at_ms - T) // 1000)), end)


def ranges(start: list[str], stop: list[str]) -> dict[int, tuple[int, int]]:
    got = resolve(parse_bounds(start), parse_bounds(stop), PARTS, first_at)
    return {p: (r.start, r.end) for p, r in got.items()}


@pytest.mark.parametrize(
    ("text", "bound"),
    [
        ("beginning", Bound("beginning")),
        ("end", Bound("end")),
        ("time:2024-07-01T19:00:00Z", Bound("time", at_ms=T)),
        ("time:2024-07-01T19:00:00", Bound("time", at_ms=T)),  # no zone: UTC
        ("time:2024-07-01T15:00:00-04:00", Bound("time", at_ms=T)),
        ("offset:2:1500", Bound("offset", partition=2, offset=1500)),
    ],
)
def test_bounds_parse(text: str, bound: Bound) -> None:
    assert parse_bounds([text]) == [bound]


@pytest.mark.parametrize(
    "texts",
    [
        ["start"],
        ["time:yesterday"],
        ["offset:1"],
        ["offset:a:1"],
        ["offset:1:-5"],
        ["beginning", "end"],
        ["offset:1:5", "offset:1:6"],
        ["offset:1:5", "beginning"],
    ],
)
def test_bad_bounds_are_refused(texts: list[str]) -> None:
    with pytest.raises(BoundError):
        parse_bounds(texts)


@pytest.mark.parametrize(
    ("start", "stop", "expected"),
    [
        (["beginning"], ["end"], {0: (0, 100), 1: (10, 60), 2: (0, 0)}),
        (["end"], ["end"], {0: (100, 100), 1: (60, 60), 2: (0, 0)}),
        # T + 30 s to T + 50 s: records 30-49 (partition 1 from 30: after its low)
        (
            ["time:2024-07-01T19:00:30Z"],
            ["time:2024-07-01T19:00:50Z"],
            {0: (30, 50), 1: (30, 50), 2: (0, 0)},
        ),
        # before the log's start and after its end: clamped
        (
            ["time:2024-06-30T00:00:00Z"],
            ["time:2024-07-02T00:00:00Z"],
            {0: (0, 100), 1: (10, 60), 2: (0, 0)},
        ),
        # --from offsets: only the partitions named
        (["offset:0:5", "offset:1:40"], ["end"], {0: (5, 100), 1: (40, 60)}),
        # --to offsets bound the partitions named, the others go to the end
        (["beginning"], ["offset:0:20"], {0: (0, 20), 1: (10, 60), 2: (0, 0)}),
        # an offset below the low watermark starts there; a stop before the start reads nothing
        (["offset:1:0"], ["offset:1:5"], {1: (10, 10)}),
        (["offset:0:50"], ["time:2024-07-01T19:00:20Z"], {0: (50, 50)}),
    ],
)
def test_resolve(start: list[str], stop: list[str], expected: dict[int, tuple[int, int]]) -> None:
    assert ranges(start, stop) == expected


def test_an_offset_of_a_partition_that_does_not_exist_is_refused() -> None:
    with pytest.raises(BoundError, match="partition 7"):
        ranges(["offset:7:0"], ["end"])


def test_a_range_has_a_size() -> None:
    assert PartitionRange(0, 5, 9).size == 4
    assert PartitionRange(0, 9, 9).size == 0


@given(
    stamps=st.lists(st.integers(min_value=0, max_value=10_000), max_size=200).map(sorted),
    at=st.integers(min_value=-5, max_value=10_005),
    low=st.integers(min_value=0, max_value=5),
)
def test_the_search_finds_the_first_record_at_or_after_the_time(
    stamps: list[int], at: int, low: int
) -> None:
    offsets = range(low, low + len(stamps))
    looked: list[int] = []

    def timestamp_of(offset: int) -> int:
        looked.append(offset)
        return stamps[offset - low]

    got = first_offset_at(low, low + len(stamps), at, timestamp_of)
    expected = next((o for o in offsets if stamps[o - low] >= at), low + len(stamps))
    assert got == expected
    assert len(looked) <= max(1, len(stamps)).bit_length() + 1  # a binary search, not a scan
