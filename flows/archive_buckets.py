"""The flow's ``bucket_archive`` step: each game's event batches gathered into archive
buckets (``connectors.event_archive.ArchiveBucket``) for the S3 event archive.

Per game, the step adds each encoded batch with events to the game's open bucket and
emits the bucket:

- at once when it is full (``BUCKET_BATCHES`` batches): the state is dropped and the next
  batch opens a new bucket;
- when the game has been quiet for ``linger`` of wall-clock time since the last batch was
  added (live: a snapshot's events reach the archive about ``linger`` after it; a replay,
  where a game's batches follow each other closely, writes most buckets once, full);
- when the diff releases the game (``Released``; the state is dropped), and at the end of
  the input (a replay's last, partial buckets).

Where a bucket ends depends on the batches only, never on when it was emitted, so a
replay of the same range gives the same keys and bytes. The open bucket is the step's
recovery state: after a resume it is emitted again after ``linger`` (the run that stopped
may not have written its last batches), and the replayed epoch adds its batches to it.
Memory: one open bucket per game in play, at most ``BUCKET_BATCHES`` batches of events.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Stream
from bytewax.operators import StatefulLogic

from connectors.event_archive import ArchiveBucket, bucket_with
from connectors.records import EncodedBatch
from flows.game.release import Released, utc_now

__all__ = ["ARCHIVE_LINGER", "BucketLogic", "archive_buckets", "bucket_key"]

#: how long a game's open bucket waits for another batch before it is written anyway
ARCHIVE_LINGER = timedelta(seconds=1)

Item = EncodedBatch | Released


class BucketLogic(StatefulLogic[Item, ArchiveBucket, bytes]):
    """One game's open bucket (see the module docstring)."""

    def __init__(
        self,
        bucket: ArchiveBucket | None,
        linger: timedelta,
        wall: Callable[[], datetime] = utc_now,
    ) -> None:
        self._bucket = bucket
        self._linger = linger
        self._wall = wall
        # a resumed bucket may not have been written since its last batch: write it again
        self._due: datetime | None = None if bucket is None else wall() + linger

    def on_item(self, value: Item) -> tuple[Iterable[ArchiveBucket], bool]:
        if isinstance(value, Released):
            return self._pending(), StatefulLogic.DISCARD
        bucket = bucket_with(self._bucket, value)
        if bucket is None:  # no events, no bucket open: nothing to keep
            return (), StatefulLogic.DISCARD
        if bucket is self._bucket:  # a batch without events
            return (), StatefulLogic.RETAIN
        if bucket.full:
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


def _is_released(item: object) -> bool:
    return isinstance(item, Released)


def archive_buckets(
    step_id: str, encoded: Stream[EncodedBatch], signals: Stream[Any], linger: timedelta
) -> Stream[ArchiveBucket]:
    """The buckets of ``encoded`` batches; ``signals`` carries the diff's ``Released``."""
    released = op.filter(f"{step_id}_released", signals, _is_released)
    merged = op.merge(f"{step_id}_inputs", encoded, released)
    keyed = op.key_on(f"{step_id}_by_game", merged, _game_key)

    def build(resume: bytes | None) -> BucketLogic:
        bucket = None if resume is None else pickle.loads(resume)  # noqa: S301 - our own store
        return BucketLogic(bucket, linger)

    out: Stream[Any] = op.stateful(step_id, keyed, build)
    return op.key_rm(f"{step_id}_unkeyed", out)
