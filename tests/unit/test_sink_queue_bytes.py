"""What waits in a sink partition's queue is bounded in items and in bytes
(connectors/background_sink.py): the room rule and the size of each item."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, cast

import orjson
import pytest

from connectors.background_sink import EVENT_BYTES, ITEM_BYTES, estimated_size, has_room
from flows.game.accepted import AcceptedSnapshot
from flows.game.batches import EventBatch
from flows.game.envelope import make_envelope
from flows.game.events import Event

pytestmark = pytest.mark.unit

MiB = 1024 * 1024


def _room(queued: int, queued_bytes: int, size: int) -> bool:
    return has_room(queued, queued_bytes, size, max_pending=4, max_bytes=10 * MiB)


def test_room_while_both_bounds_hold() -> None:
    assert _room(1, 3 * MiB, 3 * MiB)
    assert _room(3, 7 * MiB, 3 * MiB)  # exactly at the byte bound
    assert not _room(3, 7 * MiB, 3 * MiB + 1)  # one byte over
    assert not _room(4, 0, 1)  # the item bound


def test_an_empty_queue_takes_anything() -> None:
    """An item larger than the bound is taken alone, else it could never be written."""
    assert _room(0, 0, 20 * MiB)
    assert not _room(1, 1, 20 * MiB)


def test_a_snapshot_weighs_its_bytes(fixture_feed: dict[str, Any]) -> None:
    body = orjson.dumps(fixture_feed)
    envelope = make_envelope(
        game_pk=744914,
        body=body,
        source_url="test",
        status_code=200,
        captured_at=datetime(2024, 7, 12, tzinfo=UTC),
        feed=fixture_feed,
    )
    raw = b"r" * 1000
    item = AcceptedSnapshot(envelope, raw, body, date(2024, 7, 12), "t", 0, 1)
    assert estimated_size(item) == len(raw) + len(envelope.payload) + len(body)


def test_other_items_weigh_a_cheap_estimate() -> None:
    events = cast(tuple[Event, ...], (None,) * 3)  # the estimate never looks inside one
    batch = EventBatch(game_pk=1, game_date=date(2024, 7, 1), source_ts="t", events=events)
    assert estimated_size(batch) == ITEM_BYTES + 3 * EVENT_BYTES
    assert estimated_size(b"abc") == 3 and estimated_size("abcd") == 4
    assert estimated_size(object()) == ITEM_BYTES
