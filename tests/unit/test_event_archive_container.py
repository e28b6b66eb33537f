"""The S3 archive's container files, put together by hand, are fastavro's bytes exactly.

``connectors.event_archive`` builds each file from its records' Avro bodies (encoded once
for the log and the archive); the reference here is ``fastavro.writer`` as the archive
used it before, on the events of real games at the bench's cadence.
"""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import Any

import fastavro
import orjson
import pytest

from connectors.event_archive import (
    CODEC,
    VERSION_BUCKET_BATCHES,
    archive_parsed_schema,
    batch_objects,
    bucket_objects,
    bucket_with,
    container_of_bodies,
    event_batch_key,
    sync_marker,
)
from connectors.event_serde import avro_record, event_kind
from connectors.records import encoded_batch
from flows.game.batches import EventBatch
from flows.game.events import Event
from flows.game.snapshot_diff import step
from sim.simulate import simulate

pytestmark = pytest.mark.unit


def fastavro_objects(*batches: EventBatch) -> list[tuple[str, bytes]]:
    """The archive's objects of a bucket of ``batches`` as ``fastavro.writer`` writes them
    (the reference): each kind's events in feed order, named by the first batch."""
    by_kind: dict[str, list[Event]] = {}
    for event in (e for batch in batches for e in batch.events):
        by_kind.setdefault(event_kind(event), []).append(event)
    first = batches[0]
    objects = []
    for kind in sorted(by_kind):
        key = event_batch_key(first.game_date, first.game_pk, kind, first.source_ts)
        out = io.BytesIO()
        records = [avro_record(e) for e in by_kind[kind]]
        schema = archive_parsed_schema(kind)
        fastavro.writer(out, schema, records, codec=CODEC, sync_marker=sync_marker(key))
        objects.append((key, out.getvalue()))
    return objects


def batches_of(feed: dict[str, Any], every: int) -> list[EventBatch]:
    state, batches = None, []
    for snap in simulate(feed, every):
        state, events = step(state, snap)
        ts = snap["metaData"]["timeStamp"]
        batches.append(EventBatch(int(feed["gamePk"]), date(2024, 7, 1), ts, tuple(events)))
    return batches


def assert_same_bytes(batches: list[EventBatch]) -> None:
    for batch in batches:
        expected = fastavro_objects(batch)
        assert batch_objects(batch) == expected
        bucket = bucket_with(None, encoded_batch(batch))  # bodies of the log values
        assert (bucket_objects(bucket) if bucket else []) == expected


def test_a_bucket_holds_its_batches_events_in_feed_order(fixture_feed: dict[str, Any]) -> None:
    batches = [b for b in batches_of(fixture_feed, 3) if b.events]
    assert len(batches) > 2 * VERSION_BUCKET_BATCHES
    bucket = None
    for n, batch in enumerate(batches[:VERSION_BUCKET_BATCHES]):
        bucket = bucket_with(bucket, encoded_batch(batch) if n % 2 else batch)
        assert bucket is not None and bucket.batches == n + 1
        assert bucket.first_ts == batches[0].source_ts and bucket.source_ts == batch.source_ts
        assert bucket_objects(bucket) == fastavro_objects(*batches[: n + 1])


def test_a_batch_without_events_leaves_the_bucket_as_it_is(fixture_feed: dict[str, Any]) -> None:
    batch = next(b for b in batches_of(fixture_feed, 3) if b.events)
    empty = EventBatch(batch.game_pk, batch.game_date, "2099-01-01T00:00:00Z", ())
    assert bucket_with(None, empty) is None
    bucket = bucket_with(None, batch)
    assert bucket_with(bucket, empty) is bucket


def test_files_equal_fastavro_on_a_real_game(fixture_feed: dict[str, Any]) -> None:
    assert_same_bytes(batches_of(fixture_feed, 3))


def test_a_catch_up_batch_spans_several_blocks(fixture_feed: dict[str, Any]) -> None:
    [batch] = batches_of(fixture_feed, 10_000)  # the whole game in one snapshot
    assert_same_bytes([batch])
    pitches = dict(batch_objects(batch))
    [key] = [k for k in pitches if "kind=pitch" in k]
    assert pitches[key].count(sync_marker(key)) > 2  # header + several blocks


def test_a_block_ends_at_the_record_that_fills_it() -> None:
    big = [b"x" * 9000, b"y" * 7000, b"z" * 10]  # 16000 bytes after the second record
    data = container_of_bodies("game", "k", big)
    assert data.count(sync_marker("k")) == 3  # header, [x, y], [z]


@pytest.mark.corpus
def test_files_equal_fastavro_on_every_corpus_game(data_dir: Path) -> None:
    for path in sorted((data_dir / "mlb" / "feed_live").glob("*.json")):
        assert_same_bytes(batches_of(orjson.loads(path.read_bytes()), 3))


def test_named_branches_encode_to_the_same_bytes(fixture_feed: dict[str, Any]) -> None:
    """The encoders' ``avro_record(named=True)`` gives the bytes of the plain record."""
    for batch in batches_of(fixture_feed, 3):
        for event in batch.events:
            schema = archive_parsed_schema(event_kind(event))
            plain, named = io.BytesIO(), io.BytesIO()
            fastavro.schemaless_writer(plain, schema, avro_record(event))
            fastavro.schemaless_writer(named, schema, avro_record(event, named=True))
            assert named.getvalue() == plain.getvalue()
