"""A dead letter whose original is too large splits into a small letter and an S3 object
(connectors/dead_letter_offload.py): the pure half."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.dead_letter_offload import INLINE_MAX, inline_limit, offload_original
from connectors.records import dead_letter_record
from flows.game.dead_letters import DeadLetter, ErrorClass
from mlbsts import topics
from mlbsts.settings import Settings

pytestmark = pytest.mark.unit


def _letter(value: bytes | None, **fields: Any) -> DeadLetter:
    base: dict[str, Any] = {
        "error_class": ErrorClass.OVERSIZED,
        "reason": "gzip payload inflates past max_snapshot_bytes",
        "detected_at": datetime(2024, 7, 1, tzinfo=UTC),
        "gamePk": 744914,
        "source_topic": topics.RAW_GAME_SNAPSHOTS,
        "source_partition": 2,
        "source_offset": 41,
        "original_key": b"744914",
        "original_value": value,
    }
    return DeadLetter(**(base | fields))


def test_a_small_original_travels_in_its_letter() -> None:
    letter = _letter(b"x" * INLINE_MAX)
    assert offload_original(letter) == (letter, None)
    assert offload_original(_letter(None)) == (_letter(None), None)


def test_a_large_original_goes_to_s3_at_its_log_position() -> None:
    original = bytes(range(256)) * (20 * 1000 * 1000 // 256)
    small, offloaded = offload_original(_letter(original))
    key = "dead-letters/mlb.raw.game-snapshots/2/41.bin"
    assert offloaded == (key, original)
    assert small.original_value is None and small.original_ref == key
    assert small == _letter(None, original_ref=key)  # nothing else changes
    assert len(dead_letter_record(small).value) < 1024


def test_without_a_log_position_the_key_is_the_content_hash() -> None:
    original = b"\xff" * (INLINE_MAX + 1)
    letter = _letter(original, source_offset=None)
    _, offloaded = offload_original(letter)
    assert offloaded == (
        f"dead-letters/no-offset/{hashlib.sha256(original).hexdigest()}.bin",
        original,
    )


def test_the_split_is_deterministic() -> None:
    """A replayed epoch writes the same object under the same key, and the same letter."""
    original = b"\x00" * (INLINE_MAX + 1)
    first, second = offload_original(_letter(original)), offload_original(_letter(original))
    assert first == second


def test_the_limit_is_given_by_the_caller() -> None:
    assert offload_original(_letter(b"x" * 11), limit=10)[1] is not None
    assert offload_original(_letter(b"x" * 10), limit=10)[1] is None


@pytest.mark.parametrize(
    ("max_message_bytes", "limit"),
    [(8 * 1024 * 1024, INLINE_MAX), (1024 * 1024, 512 * 1024), (64 * 1024 * 1024, INLINE_MAX)],
)
def test_the_inline_limit_leaves_room_in_a_record(max_message_bytes: int, limit: int) -> None:
    assert inline_limit(max_message_bytes) == limit


def test_a_letter_at_the_limit_fits_the_smallest_record_limit() -> None:
    smallest = Settings.model_fields["kafka_max_message_bytes"].metadata[0].ge
    letter = _letter(b"x" * inline_limit(smallest), reason="r" * 10_000)
    assert len(dead_letter_record(letter).value) < smallest
