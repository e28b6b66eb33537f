"""Where a sink sends what the database refused: a dead letter on ``mlb.dlq.game-snapshots``.

A sink given ``rejects`` turns each item that ``connectors.postgres.write_or_reject`` hands
back into a ``db_rejected`` dead letter: a snapshot (with its original bytes and offset),
a snapshot's events, or a figure of the live statistics (the item as JSON). In production
``rejects`` is a ``DeadLetterProducer``: it produces the letter and waits for the broker
to acknowledge it (rare, so blocking is fine); a refused letter raises
``KafkaDeliveryError`` and stops the worker. Without one (``raise_rejected``), a refused
item stops the worker as before.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import msgspec
from confluent_kafka import Producer

from connectors import postgres
from connectors.kafka_io import produce_all
from connectors.records import dead_letter_record
from flows.game.accepted import AcceptedSnapshot
from flows.game.batches import EventBatch
from flows.game.dead_letters import DeadLetter, ErrorClass, dead_letter_of
from flows.stats.live_box import LiveStats
from flows.stats.pitchers import PitcherStats
from flows.stats.windows import WindowStats

#: what a sink does with a snapshot the database refused for its data
Rejects = Callable[[DeadLetter], None]


def raise_rejected(letter: DeadLetter) -> None:
    """Without a dead-letter producer, a refused snapshot stops the worker."""
    raise postgres.PostgresError(f"game {letter.gamePk}: {letter.reason}")


def reject_snapshot(rejects: Rejects) -> Callable[[AcceptedSnapshot, Exception], None]:
    """The ``reject`` of ``postgres.write_or_reject`` for snapshots: a ``db_rejected``
    dead letter with the original bytes and offset."""

    def reject(item: AcceptedSnapshot, error: Exception) -> None:
        reason = f"snapshot {item.envelope.feed_timestamp} refused by PostgreSQL: {error}"
        rejects(dead_letter_of(item, ErrorClass.DB_REJECTED, reason))

    return reject


def reject_batch(rejects: Rejects) -> Callable[[EventBatch, Exception], None]:
    """The ``reject`` of ``postgres.write_or_reject`` for a snapshot's events: a
    ``db_rejected`` dead letter naming the game and the snapshot (its original bytes went
    to the raw tier, or to a dead letter of their own)."""

    def reject(batch: EventBatch, error: Exception) -> None:
        reason = f"events of snapshot {batch.source_ts} refused by PostgreSQL: {error}"
        rejects(
            DeadLetter(
                error_class=ErrorClass.DB_REJECTED,
                reason=reason,
                detected_at=datetime.now(UTC),
                gamePk=batch.game_pk,
            )
        )

    return reject


def _stats_letter(game_pk: int | None, what: str, item: object, error: Exception) -> DeadLetter:
    """A ``db_rejected`` letter for a figure the flow computed: the item as JSON is its
    original value (it was never on a log of its own)."""
    return DeadLetter(
        error_class=ErrorClass.DB_REJECTED,
        reason=f"{what} refused by PostgreSQL: {error}",
        detected_at=datetime.now(UTC),
        gamePk=game_pk,
        original_key=None if game_pk is None else str(game_pk).encode(),
        original_value=msgspec.json.encode(item),
    )


def reject_live_stats(rejects: Rejects) -> Callable[[LiveStats, Exception], None]:
    """The ``reject`` of ``postgres.write_or_reject`` for a game's live box score."""

    def reject(item: LiveStats, error: Exception) -> None:
        what = f"live box score of game {item.gamePk} at {item.source_ts}"
        rejects(_stats_letter(item.gamePk, what, item, error))

    return reject


def reject_pitcher_stats(rejects: Rejects) -> Callable[[PitcherStats, Exception], None]:
    """The ``reject`` of ``postgres.write_or_reject`` for a pitcher's live figures."""

    def reject(item: PitcherStats, error: Exception) -> None:
        what = f"figures of pitcher {item.pitcherId} in game {item.gamePk} at {item.source_ts}"
        rejects(_stats_letter(item.gamePk, what, item, error))

    return reject


def reject_window_stats(rejects: Rejects) -> Callable[[WindowStats, Exception], None]:
    """The ``reject`` of ``postgres.write_or_reject`` for a league window (no game)."""

    def reject(item: WindowStats, error: Exception) -> None:
        what = f"league window {item.window_start.isoformat()} at {item.source_ts}"
        rejects(_stats_letter(None, what, item, error))

    return reject


class DeadLetterProducer:
    """Callable: produce one dead letter and wait for it. The producer is made on first use
    (in the worker) and shared by the sink partitions of a process (it is thread-safe).
    ``topic_suffix``: the letter goes to the dead-letter topic plus it (a replay into a
    table version, ``connectors.renamed_topics``)."""

    def __init__(self, config: dict[str, str | int | bool], topic_suffix: str = "") -> None:
        self._config = dict(config)
        self._suffix = topic_suffix
        self._producer: Producer | None = None
        self._lock = threading.Lock()

    def __call__(self, letter: DeadLetter) -> None:
        with self._lock:
            if self._producer is None:
                self._producer = Producer(self._config)
            producer = self._producer
        record = dead_letter_record(letter)
        if self._suffix:
            record = dataclasses.replace(record, topic=record.topic + self._suffix)
        produce_all(producer, [record])
