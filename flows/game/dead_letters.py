"""Dead letters: bad data is a value, not an exception (docs/architecture.md, "Rules of the code").

A record that cannot be accepted becomes a ``DeadLetter`` with a machine-readable class,
a reason, and where it came from, and goes to ``mlb.dlq.game-snapshots``; the flow goes on.

Identity: :attr:`DeadLetter.letter_id` is built only from what the letter is about (its
class, source position, game, original key and bytes or their S3 reference), never from
when it was found, so two replays of the same log give the same ids, and a letter repeated
around a resume (sinks are at-least-once) repeats its id. ``detected_at`` is the wall
clock of the worker that found it: informative, and left out of every comparison.
"""

from __future__ import annotations

import hashlib
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

    @property
    def letter_id(self) -> str:
        """The stable id: ``<error_class>:`` and 32 hex digits of a SHA-256 over the
        letter's class, source position, game, original key and original bytes (or their
        S3 key). The reason and ``detected_at`` are not part of it."""
        return letter_id_of(self)


def letter_id_of(letter: DeadLetter) -> str:
    """:attr:`DeadLetter.letter_id` (see the module docstring)."""
    digest = hashlib.sha256()
    position = (letter.source_topic, letter.source_partition, letter.source_offset)
    for part in (str(letter.error_class), *position, letter.gamePk, letter.original_ref):
        _absent_or_sized(digest, None if part is None else str(part).encode())
    _absent_or_sized(digest, letter.original_key)
    _absent_or_sized(digest, letter.original_value)
    return f"{letter.error_class}:{digest.hexdigest()[:32]}"


def _absent_or_sized(digest: hashlib._Hash, blob: bytes | None) -> None:
    """One part of the id, unambiguous: ``00`` if absent, else ``01``, its length, ``:``, it."""
    digest.update(b"\x00" if blob is None else b"\x01%d:" % len(blob) + blob)


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
