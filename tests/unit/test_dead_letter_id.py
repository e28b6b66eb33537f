"""The stable id of a dead letter (flows.game.dead_letters.letter_id_of) and its record."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from connectors.avro_serde import SCHEMAS_DIR, AvroCodec
from connectors.records import _dead_letter_codec, dead_letter_record, decode_dead_letter
from flows.game.dead_letters import DeadLetter, ErrorClass

pytestmark = pytest.mark.unit

LETTER = DeadLetter(
    error_class=ErrorClass.STALE,
    reason="feed timestamp 20240701_190000 is older than 20240701_190500",
    detected_at=datetime(2024, 7, 1, 19, 6, tzinfo=UTC),
    gamePk=744914,
    source_topic="mlb.raw.game-snapshots",
    source_partition=2,
    source_offset=1234,
    original_key=b"744914",
    original_value=b"\xc3\x01 snapshot bytes",
)


def test_the_id_ignores_when_and_why_and_names_the_class() -> None:
    later = msgspec.structs.replace(
        LETTER, detected_at=LETTER.detected_at + timedelta(days=1), reason="other words"
    )
    assert later.letter_id == LETTER.letter_id
    assert LETTER.letter_id.startswith("stale:") and len(LETTER.letter_id) == len("stale:") + 32


@pytest.mark.parametrize(
    "change",
    [
        {"error_class": ErrorClass.WRONG_TYPE},
        {"source_topic": "other"},
        {"source_partition": 1},
        {"source_offset": 1235},
        {"gamePk": 1},
        {"original_key": None},
        {"original_value": b"other bytes"},
        {"original_value": None, "original_ref": "dead-letters/x/2/1234.bin"},
    ],
)
def test_the_id_changes_with_what_the_letter_is_about(change: dict[str, object]) -> None:
    assert msgspec.structs.replace(LETTER, **change).letter_id != LETTER.letter_id


def test_parts_cannot_run_into_each_other() -> None:
    a = msgspec.structs.replace(LETTER, original_key=b"ab", original_value=b"c")
    b = msgspec.structs.replace(LETTER, original_key=b"a", original_value=b"bc")
    assert a.letter_id != b.letter_id


def test_the_record_carries_the_id_and_reads_back() -> None:
    record = dead_letter_record(LETTER)
    assert _dead_letter_codec().decode(record.value)["letter_id"] == LETTER.letter_id
    assert decode_dead_letter(record.value) == LETTER


def test_a_letter_written_before_the_id_existed_still_reads() -> None:
    v1 = AvroCodec(json.loads((SCHEMAS_DIR / "released" / "dead_letter.v1.avsc").read_text()))
    old = v1.encode(msgspec.structs.asdict(LETTER))
    assert _dead_letter_codec().decode(old)["letter_id"] is None
    assert decode_dead_letter(old).letter_id == LETTER.letter_id  # recomputed from its fields
