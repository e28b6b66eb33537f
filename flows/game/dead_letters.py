"""Dead letters: bad data is a value, not an exception (docs/architecture.md, "Rules of the code").

A record that cannot be accepted becomes a ``DeadLetter`` with a machine-readable class,
a reason, and where it came from, and goes to ``mlb.dlq.game-snapshots``; the flow goes on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

import msgspec

from flows.game.accepted import AcceptedSnapshot


class ErrorClass(StrEnum):
    """Why a record was refused. Values are stable: consumers and alerts match on them."""

    UNPARSABLE = "unparsable"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    GAME_PK_MISMATCH = "game_pk_mismatch"
    SCORE_MISMATCH = "score_mismatch"
    IMPOSSIBLE_STATE = "impossible_state"
    AT_BAT_INDEX = "at_bat_index"
    STALE = "stale"
    OVERSIZED = "oversized"
    LATE = "late"
    DB_REJECTED = "db_rejected"  # PostgreSQL refused the row (SQLSTATE class 22 or 23)
    KAFKA_REJECTED = "kafka_rejected"  # the broker refused the record for its data
    REDIS_REJECTED = "redis_rejected"  # Redis refused the value for its data


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """A refused record; field names follow ``schemas/dead_letter.avsc``."""

    error_class: ErrorClass
    reason: str
    detected_at: datetime
    gamePk: int | None = None  # noqa: N815 - contract name
    source_topic: str | None = None
    source_partition: int | None = None
    source_offset: int | None = None
    original_key: bytes | None = None
    original_value: bytes | None = None
    #: S3 key of the original bytes when they are too large for a dead letter
    original_ref: str | None = None


def dead_letter_of(item: AcceptedSnapshot, error_class: ErrorClass, reason: str) -> DeadLetter:
    """A decoded snapshot refused by a later step, with its original bytes and offset."""
    return DeadLetter(
        error_class=error_class,
        reason=reason,
        detected_at=datetime.now(UTC),
        gamePk=item.envelope.gamePk,
        source_topic=item.topic,
        source_partition=item.partition,
        source_offset=item.offset,
        original_key=str(item.envelope.gamePk).encode(),
        original_value=item.raw_value,
    )
