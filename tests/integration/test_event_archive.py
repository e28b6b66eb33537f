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
from connectors.records import encoded_batch
from flows.archive_buckets import PER_SNAPSHOT, VERSION_BUCKETS, Bucketing, archive_buckets
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


def archive(settings: Settings, batches: list[EventBatch], how: Bucketing) -> None:
    """The flow's steps from a game's batches to the archive."""
    flow = Dataflow("event_archive_test")
    stream = op.input("batches", flow, TestingSource(batches))
    encoded = op.map("encode_batches", stream, encoded_batch)
    buckets = archive_buckets("bucket_archive", encoded, encoded, how)
    op.output("events_to_s3", buckets, EventBatchS3Sink(settings))
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


@pytest.mark.parametrize("how", [PER_SNAPSHOT, VERSION_BUCKETS], ids=["worker", "version"])
def test_a_real_game_is_archived_exactly_and_a_replay_rewrites_identical_objects(
    stack_settings: Settings, s3_bucket: str, fixture_feed: dict[str, Any], how: Bucketing
) -> None:
    settings = stack_settings.model_copy(update={"s3_bucket": s3_bucket})
    batches = game_batches(fixture_feed, 5)
    client = s3.client(settings)

    archive(settings, batches, how)
    first = {key: (etag, data) for key, etag, data in stored(client, s3_bucket)}

    expected: dict[str, list[Event]] = {}
    with_events = [b for b in batches if b.events]
    for start in range(0, len(with_events), how.batches):  # a file per kind and bucket
        bucket = with_events[start : start + how.batches]
        for event in (e for batch in bucket for e in batch.events):
            kind = event_kind(event)
            key = event_batch_key(GAME_DATE, FIXTURE_GAME_PK, kind, bucket[0].source_ts)
            expected.setdefault(key, []).append(event)
    assert set(first) == set(expected)
    n = len(with_events)  # full buckets and a partial last one
    assert n > 2 * VERSION_BUCKETS.batches and n % VERSION_BUCKETS.batches
    assert len(first) >= 100 if how == PER_SNAPSHOT else len(first) >= 10
    for key, (_, data) in first.items():
        assert read_back(key, data) == expected[key], key
    archived = [e for key in sorted(first) for e in read_back(key, first[key][1])]
    assert sorted(e.event_id for e in archived) == sorted(
        e.event_id for b in batches for e in b.events
    )

    archive(settings, batches, how)  # the replay of every batch after a resume
    second = {key: (etag, data) for key, etag, data in stored(client, s3_bucket)}
    assert second == first  # same keys, same ETags, same bytes
