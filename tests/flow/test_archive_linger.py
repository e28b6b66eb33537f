"""The archive's open bucket is written when its game goes quiet, in a real Bytewax run.

Live, the input never ends, so a partial bucket must not wait for the end of the input:
the ``bucket_archive`` step writes it ``linger`` after its last batch (Bytewax's
``notify_at``). The source here gives a real game's first batches, then nothing until the
bucket has reached the sink (or a timeout), and only then ends.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.inputs import DynamicSource, StatelessSourcePartition
from bytewax.testing import TestingSink, run_main

from connectors.event_archive import ArchiveBucket
from connectors.records import EncodedBatch, encoded_batch
from flows.archive_buckets import Bucketing, archive_buckets
from flows.game.batches import EventBatch
from flows.game.snapshot_diff import step
from sim.simulate import simulate

pytestmark = pytest.mark.flow

HOW = Bucketing(batches=16, linger=timedelta(milliseconds=300))
QUIET_TIMEOUT_S = 30.0


class _ThenQuiet(StatelessSourcePartition[EncodedBatch]):
    def __init__(self, items: list[EncodedBatch], written: list[Any], ended: list[int]) -> None:
        self._items, self._written, self._ended = items, written, ended
        self._deadline = time.monotonic() + QUIET_TIMEOUT_S

    def next_batch(self) -> list[EncodedBatch]:
        if self._items:
            items, self._items = self._items, []
            return items
        if self._written or time.monotonic() > self._deadline:
            self._ended.append(len(self._written))  # what the sink had before the end
            raise StopIteration
        return []

    def next_awake(self) -> datetime:
        return datetime.now(UTC) + timedelta(milliseconds=20)


class _Source(DynamicSource[EncodedBatch]):
    def __init__(self, items: list[EncodedBatch], written: list[Any], ended: list[int]) -> None:
        self._args = (items, written, ended)

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _ThenQuiet:
        return _ThenQuiet(*self._args)


def test_a_quiet_games_open_bucket_is_written_before_the_input_ends(
    fixture_feed: dict[str, Any],
) -> None:
    state, items = None, []
    for snap in simulate(fixture_feed, 3):
        state, events = step(state, snap)
        ts = snap["metaData"]["timeStamp"]
        items.append(encoded_batch(EventBatch(744914, datetime.now(UTC).date(), ts, events)))
        if sum(1 for i in items if i.batch.events) == 5:
            break
    written: list[ArchiveBucket] = []
    ended: list[int] = []
    flow = Dataflow("archive_linger_test")
    encoded = op.input("batches", flow, _Source(items, written, ended))
    op.output(
        "events_to_s3",
        archive_buckets("bucket_archive", encoded, encoded, HOW),
        TestingSink(written),
    )
    run_main(flow)
    assert ended == [1], "the open bucket was not written while the game was quiet"
    [bucket] = written  # and not again at the end: nothing was added since
    assert bucket.batches == 5 < HOW.batches
    assert bucket.first_ts == items[0].batch.source_ts
    assert bucket.source_ts == items[-1].batch.source_ts
