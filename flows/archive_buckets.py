"""The flow's ``bucket_archive`` step: each game's event batches gathered into archive
buckets (``connectors.event_archive.ArchiveBucket``) for the S3 event archive.

How: a :class:`Bucketing`. The worker, and a replay into live, use :data:`PER_SNAPSHOT`
(one batch per bucket: a file per snapshot and kind, written at once, as the archive has
always been laid out; a stateless map, nothing is held); a replay into a table version uses
:data:`VERSION_BUCKETS`, the stateful step below.

Per game, the step adds each encoded batch with events to the game's open bucket and
emits the bucket:

- at once when it is full (``batches`` batches): the state is dropped and the next batch
  opens a new bucket;
- when the game has been quiet for ``linger`` of wall-clock time since the last batch was
  added (a replay's games are rarely quiet: most buckets are written once, full);
- when the diff releases the game (``Released``; the state is dropped), and at the end of
  the input (a replay's last, partial buckets).

Where a bucket ends depends on the batches only, never on when it was emitted, so a
replay of the same range gives the same keys and bytes. The open bucket is the step's
recovery state: after a resume it is emitted again after ``linger`` (the run that stopped
may not have written its last batches), and the replayed epoch adds its batches to it.
Memory: one open bucket per game in play, at most ``batches`` batches of events.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Stream
from bytewax.operators import StatefulLogic

from connectors.event_archive import VERSION_BUCKET_BATCHES, ArchiveBucket, bucket_with
from connectors.records import EncodedBatch
from flows.game.release import Released, utc_now

__all__ = [
    "PER_SNAPSHOT",
    "VERSION_BUCKETS",
    "BucketLogic",
    "Bucketing",
    "archive_buckets",
    "bucket_key",
]


@dataclass(frozen=True)
class Bucketing:
    """Up to ``batches`` batches of a game per bucket; an open bucket waits ``linger`` for
    another batch before it is written anyway."""

    batches: int
    linger: timedelta

    def __post_init__(self) -> None:
        if self.batches < 1:
            raise ValueError(f"a bucket holds at least 1 batch, not {self.batches}")


#: the worker's and a replay into live's: a file per snapshot and kind, written at once
PER_SNAPSHOT = Bucketing(batches=1, linger=timedelta(seconds=1))
#: a replay into a table version's, into the version's own S3 bucket
VERSION_BUCKETS = Bucketing(batches=VERSION_BUCKET_BATCHES, linger=timedelta(seconds=10))

Item = EncodedBatch | Released


class BucketLogic(StatefulLogic[Item, ArchiveBucket, bytes]):
    """One game's open bucket (see the module docstring)."""

    def __init__(
        self,
        bucket: ArchiveBucket | None,
        how: Bucketing,
        wall: Callable[[], datetime] = utc_now,
    ) -> None:
        self._bucket = bucket
        self._size = how.batches
        self._linger = how.linger
        self._wall = wall
        # a resumed bucket may not have been written since its last batch: write it again
        self._due: datetime | None = None if bucket is None else wall() + how.linger

    def on_item(self, value: Item) -> tuple[Iterable[ArchiveBucket], bool]:
        if isinstance(value, Released):
            return self._pending(), StatefulLogic.DISCARD
        bucket = bucket_with(self._bucket, value)
        if bucket is None:  # no events, no bucket open: nothing to keep
            return (), StatefulLogic.DISCARD
        if bucket is self._bucket:  # a batch without events
            return (), StatefulLogic.RETAIN
        if bucket.batches >= self._size:
            self._bucket, self._due = None, None
            return (bucket,), StatefulLogic.DISCARD
        self._bucket, self._due = bucket, self._wall() + self._linger
        return (), StatefulLogic.RETAIN

    def on_notify(self) -> tuple[Iterable[ArchiveBucket], bool]:
        return self._pending(), StatefulLogic.RETAIN

    def on_eof(self) -> tuple[Iterable[ArchiveBucket], bool]:
        return self._pending(), StatefulLogic.RETAIN  # kept for the recovery snapshot

    def notify_at(self) -> datetime | None:
        return self._due

    def snapshot(self) -> bytes:
        return pickle.dumps(self._bucket, protocol=pickle.HIGHEST_PROTOCOL)

    def _pending(self) -> tuple[ArchiveBucket, ...]:
        """The open bucket if batches were added since it was last emitted."""
        if self._due is None or self._bucket is None:
            return ()
        self._due = None
        return (self._bucket,)


def _game_key(item: Item) -> str:
    return str(item.batch.game_pk if isinstance(item, EncodedBatch) else item.game_pk)


def bucket_key(bucket: ArchiveBucket) -> str:
    """The sink partition key of a bucket (its gamePk, as every per-game sink's)."""
    return str(bucket.game_pk)


def _alone(item: EncodedBatch) -> ArchiveBucket | None:
    """The bucket of ``item`` alone (``None`` without events)."""
    return bucket_with(None, item)


def _is_released(item: object) -> bool:
    return isinstance(item, Released)


def archive_buckets(
    step_id: str, encoded: Stream[EncodedBatch], signals: Stream[Any], how: Bucketing
) -> Stream[ArchiveBucket]:
    """The buckets of ``encoded`` batches; ``signals`` carries the diff's ``Released``.
    A bucket of one batch holds nothing back: a stateless map, no state, no linger."""
    if how.batches == 1:
        return op.filter_map(step_id, encoded, _alone)
    released = op.filter(f"{step_id}_released", signals, _is_released)
    merged = op.merge(f"{step_id}_inputs", encoded, released)
    keyed = op.key_on(f"{step_id}_by_game", merged, _game_key)

    def build(resume: bytes | None) -> BucketLogic:
        bucket = None if resume is None else pickle.loads(resume)  # noqa: S301 - our own store
        return BucketLogic(bucket, how)

    out: Stream[Any] = op.stateful(step_id, keyed, build)
    return op.key_rm(f"{step_id}_unkeyed", out)
