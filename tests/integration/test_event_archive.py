"""The S3 event archive on the real local S3 server: a real game's batches, written twice."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date
from typing import Any

import fastavro
import pytest
from bytewax import operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, run_main
from minio import Minio

from connectors import s3
from connectors.event_archive import EventBatchS3Sink, event_batch_key
from connectors.event_serde import event_kind, event_of_record
from flows.game.batches import EventBatch
from flows.game.events import Event
from flows.game.snapshot_diff import GameState, step
from mlbsts.settings import Settings
from sim.simulate import simulate
from tests.conftest import FIXTURE_GAME_PK

pytestmark = pytest.mark.integration

GAME_DATE = date(2024, 7, 1)


def game_batches(feed: dict[str, Any], every: int) -> list[EventBatch]:
    """One batch per snapshot, as the flow makes them (empty ones included)."""
    state: GameState | None = None
    batches = []
    for snapshot in simulate(feed, every):
        state, events = step(state, snapshot)
        batches.append(
            EventBatch(FIXTURE_GAME_PK, GAME_DATE, snapshot["metaData"]["timeStamp"], tuple(events))
        )
    return batches


def archive(settings: Settings, batches: list[EventBatch]) -> None:
    flow = Dataflow("event_archive_test")
    stream = op.input("batches", flow, TestingSource(batches))
    op.output("events_to_s3", stream, EventBatchS3Sink(settings))
    run_main(flow)


def stored(client: Minio, bucket: str) -> Iterator[tuple[str, str, bytes]]:
    """``(key, etag, bytes)`` of every archived object."""
    for obj in client.list_objects(bucket, prefix="events/", recursive=True):
        assert obj.object_name is not None and obj.etag is not None
        response = client.get_object(bucket, obj.object_name)
        try:
            yield obj.object_name, obj.etag, response.read()
        finally:
            response.close()
            response.release_conn()


def read_back(key: str, data: bytes) -> list[Event]:
    kind = key.split("/kind=", 1)[1].split("/", 1)[0]
    reader = fastavro.reader(io.BytesIO(data))
    assert reader.codec == "deflate"
    return [event_of_record(kind, record) for record in reader if isinstance(record, dict)]


def test_a_real_game_is_archived_exactly_and_a_replay_rewrites_identical_objects(
    stack_settings: Settings, s3_bucket: str, fixture_feed: dict[str, Any]
) -> None:
    settings = stack_settings.model_copy(update={"s3_bucket": s3_bucket})
    batches = game_batches(fixture_feed, 5)
    client = s3.client(settings)

    archive(settings, batches)
    first = {key: (etag, data) for key, etag, data in stored(client, s3_bucket)}

    expected: dict[str, list[Event]] = {}
    for batch in batches:
        for event in batch.events:
            key = event_batch_key(GAME_DATE, FIXTURE_GAME_PK, event_kind(event), batch.source_ts)
            expected.setdefault(key, []).append(event)
    assert set(first) == set(expected)
    assert len(first) > 100  # 49 snapshots, up to 4 kinds each
    for key, (_, data) in first.items():
        assert read_back(key, data) == expected[key], key
    archived = [e for key in sorted(first) for e in read_back(key, first[key][1])]
    assert sorted(e.event_id for e in archived) == sorted(
        e.event_id for b in batches for e in b.events
    )

    archive(settings, batches)  # the replay of every batch after a resume
    second = {key: (etag, data) for key, etag, data in stored(client, s3_bucket)}
    assert second == first  # same keys, same ETags, same bytes
