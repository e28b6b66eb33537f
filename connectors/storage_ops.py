"""What a committed sink batch wrote, as a record of ``mlb.storage.ops`` (no I/O of its own).

A sink partition may describe a batch it has just written with an optional method
``stored(items) -> StoredBatch | None`` (``Describes``); ``connectors.background_sink``
calls it after each write that returned without error and hands the record to the ops
publisher (``connectors.ops_topics``). A description is cheap: names, counts and sizes the
partition already has, never a payload encoded again. Lists are capped at ``MAX_LISTED``
(``targets_more`` and ``game_pks_more`` say how many were left out), so one record stays
small whatever the batch (schemas/storage_ops.avsc).

``STORAGE_OPS`` is the process's reporter: it does nothing until a publisher is installed
(``connectors.ops_topics.start_ops_topics``), so tests and replays that build sinks
publish nothing; a description or a publish that raises is logged (at most once a
minute), never passed on to the sink. Records are keyed by the store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from mlbsts import topics

__all__ = [
    "MAX_LISTED",
    "STORAGE_OPS",
    "Describes",
    "Publisher",
    "StorageOpsReporter",
    "StoredBatch",
    "capped",
    "game_of",
    "ops_record",
    "source_ts_of",
    "stored_batch",
]

log = logging.getLogger(__name__)

MAX_LISTED = 20  # targets and games named in one record
WARN_EVERY_S = 60.0


@dataclass(frozen=True)
class StoredBatch:
    """One batch as its store has it: ``store`` (``postgres``, ``s3``, ``redis``), the
    ``targets`` written (tables, object keys, Redis keys), ``rows`` (rows, objects,
    values), the games, the newest feed time, the bytes written if known, the bucket."""

    store: str
    targets: tuple[str, ...]
    rows: int
    game_pks: tuple[int, ...] = ()
    source_ts: str | None = None
    nbytes: int | None = None
    bucket: str | None = None


class Describes(Protocol):
    """A sink partition that can say what a batch it wrote stored."""

    def stored(self, items: list[Any]) -> StoredBatch | None: ...


class Publisher(Protocol):
    """Where records go (``connectors.ops_topics.OpsPublisher``): must not block."""

    def publish(self, topic: str, key: str, record: Mapping[str, Any]) -> bool: ...


def game_of(item: object) -> int | None:
    """The game of a sink item (a snapshot's envelope, an event batch, a statistic)."""
    inner = getattr(item, "envelope", item)
    game = getattr(inner, "gamePk", None)
    if game is None:
        game = getattr(item, "game_pk", None)
    return game if isinstance(game, int) else None


def source_ts_of(item: object) -> str | None:
    """The feed time (``metaData.timeStamp``) an item comes from, if it says."""
    envelope = getattr(item, "envelope", None)
    ts = getattr(envelope, "feed_timestamp", None) if envelope is not None else None
    if ts is None:
        ts = getattr(item, "source_ts", None)
    return ts if isinstance(ts, str) and ts else None


def stored_batch(
    store: str,
    targets: Iterable[str],
    items: Sequence[object],
    *,
    rows: int | None = None,
    nbytes: int | None = None,
    bucket: str | None = None,
) -> StoredBatch:
    """A ``StoredBatch`` of ``items``: their games and newest feed time read from them;
    ``rows`` defaults to the number of items."""
    games = {g for g in map(game_of, items) if g is not None}
    stamps = [ts for ts in map(source_ts_of, items) if ts is not None]
    return StoredBatch(
        store=store,
        targets=tuple(sorted(set(targets))),
        rows=len(items) if rows is None else rows,
        game_pks=tuple(sorted(games)),
        source_ts=max(stamps, default=None),
        nbytes=nbytes,
        bucket=bucket,
    )


def capped(values: Sequence[Any], limit: int = MAX_LISTED) -> tuple[list[Any], int]:
    """The first ``limit`` values and how many more there were."""
    return list(values[:limit]), max(0, len(values) - limit)


def _micros(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def ops_record(
    batch: StoredBatch, *, sink: str, partition: int, instance: str, committed_at: float
) -> dict[str, Any]:
    """The ``mlb.storage.ops`` record of ``batch`` (``committed_at``: unix seconds)."""
    targets, targets_more = capped(batch.targets)
    games, games_more = capped(batch.game_pks)
    return {
        "store": batch.store,
        "targets": targets,
        "targets_more": targets_more,
        "bucket": batch.bucket,
        "game_pks": games,
        "game_pks_more": games_more,
        "rows": batch.rows,
        "bytes": batch.nbytes,
        "source_ts": batch.source_ts,
        "sink": sink,
        "partition": partition,
        "instance": instance,
        "committed_at": _micros(committed_at),
    }


class StorageOpsReporter:
    """Turns committed sink batches into ``mlb.storage.ops`` records (module docstring)."""

    def __init__(self) -> None:
        self._publisher: Publisher | None = None
        self._instance = ""
        self._topic = topics.STORAGE_OPS
        self._last_error = float("-inf")

    @property
    def enabled(self) -> bool:
        return self._publisher is not None

    def install(
        self, publisher: Publisher | None, instance: str, topic: str = topics.STORAGE_OPS
    ) -> None:
        """Report through ``publisher`` to ``topic`` from now on (``None``: stop)."""
        self._publisher, self._instance, self._topic = publisher, instance, topic

    def committed(self, part: object, batch: list[Any], *, sink: str, partition: int) -> None:
        """``part`` wrote ``batch`` without error: publish what it stored. Never raises."""
        publisher = self._publisher
        describe = getattr(part, "stored", None)
        if publisher is None or describe is None:
            return
        try:
            stored = describe(batch)
            if stored is None or stored.rows == 0:
                return
            record = ops_record(
                stored,
                sink=sink,
                partition=partition,
                instance=self._instance,
                committed_at=time.time(),
            )
            publisher.publish(self._topic, stored.store, record)
        except Exception:  # a report must never fail the sink that wrote
            if time.monotonic() - self._last_error >= WARN_EVERY_S:
                self._last_error = time.monotonic()
                log.exception("storage ops: no record for a batch of %s", sink)


STORAGE_OPS = StorageOpsReporter()
