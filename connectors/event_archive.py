"""The S3 event archive: the events of each game as Avro object container files.

A game's non-empty :class:`~flows.game.batches.EventBatch` es (one per snapshot that
produced events) are archived in *buckets* of consecutive batches (:class:`ArchiveBucket`,
gathered by the flow's ``bucket_archive`` step, ``flows/archive_buckets.py``), one file per
event kind (a retraction goes with the kind it retracts, as on the topics) and bucket at::

    events/date=YYYY-MM-DD/game_pk=N/kind=<kind>/<source_ts>.avro

``source_ts`` is the ``metaData.timeStamp`` of the bucket's *first* batch; the file holds
the bucket's events of that kind in feed order. The worker, and a replay into live, write
buckets of one batch: a file per snapshot and kind, so a replay into live rewrites the
worker's files exactly. A replay into a table version writes buckets of up to
``VERSION_BUCKET_BATCHES`` batches into the version's own bucket: far fewer objects (one
per kind and snapshot cost more CPU than anything else in a replay, in the worker, ~1 ms
of Python per PUT, and in the S3 server; ``bench/reprocess-report.md``). While such a
bucket fills, its file may be written more than once, each time with every batch added so
far, so the last write of a key holds the whole bucket. Where a bucket ends depends on the
batches alone (the ``VERSION_BUCKET_BATCHES``-th non-empty batch after the last full
bucket, or the game's release), so two replays of the same range write the same keys.

The bytes are deterministic too: the file's sync marker is derived from its key, its codec
is deflate, its metadata is the schema alone (in Parsing Canonical Form: no docs, ~4.7 KB
instead of ~9 KB for pitches, and the same CRC-64 fingerprint as
``schemas/events_<kind>.avsc``), written with that kind's topic value schema, so a reader
of the topic reads the archive too, and a bucket written again overwrites the object with
identical bytes (same ETag). Delivery is at-least-once (Bytewax replays the last epoch
after a resume, the bucket state included), made idempotent by those keys.

The file is put together here from the Avro bodies of its records (the bytes fastavro's
``writer`` gives, as ``tests/unit/test_event_archive_container.py`` checks on real games): the
header of each kind is made once, and a flow that has already encoded the events for the
log (:class:`connectors.records.EncodedBatch`) hands their topic values over, whose
bodies are the records' bodies (the canonical form encodes as the topic schema does), so
an event is encoded once, not twice.

Exceptions: ``connectors.s3.ObjectStoreError`` at once when the server refuses a request,
or once the outage budget is spent for a transient failure (``connectors.sink_retry``;
broken infrastructure stops the worker).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

import fastavro
import fastavro.schema

from connectors.avro_serde import avro_body
from connectors.event_serde import avro_record, event_kind, event_schema
from connectors.records import EncodedBatch
from connectors.storage_sinks import ObjectSink
from flows.game.batches import EventBatch
from flows.game.events import Event
from mlbsts.settings import Settings

__all__ = [
    "VERSION_BUCKET_BATCHES",
    "ArchiveBucket",
    "EventBatchS3Sink",
    "archive_parsed_schema",
    "batch_objects",
    "bucket_objects",
    "bucket_with",
    "container_of_bodies",
    "event_batch_key",
    "sync_marker",
]

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/avro"
CODEC = "deflate"
#: fastavro's block size: a block ends after the record that brings it to this many bytes
SYNC_INTERVAL = 16000
#: consecutive non-empty batches of a game in one file per kind, in a replay into a table
#: version (on real games, one snapshot every 3 pitches: ~45 minutes of a game, ~20-80 KB
#: per file); the worker and a replay into live write one batch per file
VERSION_BUCKET_BATCHES = 16


def event_batch_key(game_date: date, game_pk: int, kind: str, source_ts: str) -> str:
    """``events/date=YYYY-MM-DD/game_pk=N/kind=<kind>/<source_ts>.avro`` (the archive's layout)."""
    return f"events/date={game_date.isoformat()}/game_pk={game_pk}/kind={kind}/{source_ts}.avro"


def sync_marker(key: str) -> bytes:
    """The container file's 16-byte sync marker: a hash of its key, so bytes are stable."""
    return hashlib.sha256(key.encode()).digest()[:16]


@lru_cache(maxsize=8)
def archive_parsed_schema(kind: str) -> Any:
    """The topic schema in Parsing Canonical Form: half the header (no docs), same fingerprint."""
    canonical = fastavro.schema.to_parsing_canonical_form(event_schema(kind))
    return fastavro.parse_schema(json.loads(canonical))


@lru_cache(maxsize=8)
def _header(kind: str) -> bytes:
    """The container header of ``kind`` up to its sync marker (magic, schema, codec)."""
    out = io.BytesIO()
    fastavro.writer(out, archive_parsed_schema(kind), [], codec=CODEC, sync_marker=bytes(16))
    return out.getvalue()[:-16]


def _long(n: int) -> bytes:
    """An Avro ``long``: zig-zag, then variable length."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _block(count: int, data: bytes, sync: bytes) -> bytes:
    deflated = zlib.compress(data)[2:-1]  # as fastavro's deflate codec writes it
    return _long(count) + _long(len(deflated)) + deflated + sync


def container_of_bodies(kind: str, key: str, bodies: Sequence[bytes]) -> bytes:
    """An Avro object container file of records of ``kind`` given as their Avro bodies,
    byte for byte as ``fastavro.writer`` writes it (deflate, blocks of ``SYNC_INTERVAL``),
    with the sync marker of ``key``."""
    sync = sync_marker(key)
    parts = [_header(kind), sync]
    block: list[bytes] = []
    size = 0
    for body in bodies:
        block.append(body)
        size += len(body)
        if size >= SYNC_INTERVAL:
            parts.append(_block(len(block), b"".join(block), sync))
            block, size = [], 0
    if block:
        parts.append(_block(len(block), b"".join(block), sync))
    return b"".join(parts)


def _body(kind: str, event: Event) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, archive_parsed_schema(kind), avro_record(event, named=True))
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class ArchiveBucket:
    """Consecutive non-empty batches of one game, archived together: the Avro bodies of
    their events by kind (kinds sorted, bodies in feed order). ``first_ts`` names the
    files; ``source_ts`` and ``traceparent`` are the newest batch's (the sinks' telemetry)."""

    game_pk: int
    game_date: date
    first_ts: str
    source_ts: str
    batches: int
    bodies: tuple[tuple[str, tuple[bytes, ...]], ...]
    traceparent: str | None = None

    @property
    def nbytes(self) -> int:
        return sum(len(body) for _, bodies in self.bodies for body in bodies)


def _kind_bodies(batch: EventBatch, values: Sequence[bytes] | None) -> dict[str, list[bytes]]:
    by_kind: dict[str, list[bytes]] = {}
    for n, event in enumerate(batch.events):
        kind = event_kind(event)
        body = _body(kind, event) if values is None else avro_body(values[n])
        by_kind.setdefault(kind, []).append(body)
    return by_kind


def bucket_with(
    bucket: ArchiveBucket | None, item: EventBatch | EncodedBatch
) -> ArchiveBucket | None:
    """``bucket`` (a new one when ``None``) with the events of ``item`` added after its
    own; ``bucket`` itself when ``item`` has none. ``item``: a batch, or a batch already
    encoded for the log, whose values' bodies are used as they are."""
    if isinstance(item, EncodedBatch):
        return _added(bucket, item.batch, [r.value for r in item.records])
    return _added(bucket, item, None)


def _added(
    bucket: ArchiveBucket | None, batch: EventBatch, values: Sequence[bytes] | None
) -> ArchiveBucket | None:
    if not batch.events:
        return bucket
    added = _kind_bodies(batch, values)
    if bucket is None:
        bucket = ArchiveBucket(batch.game_pk, batch.game_date, batch.source_ts, "", 0, ())
    merged = {kind: list(bodies) for kind, bodies in bucket.bodies}
    for kind, bodies in added.items():
        merged.setdefault(kind, []).extend(bodies)
    return ArchiveBucket(
        game_pk=bucket.game_pk,
        game_date=bucket.game_date,
        first_ts=bucket.first_ts,
        source_ts=batch.source_ts,
        batches=bucket.batches + 1,
        bodies=tuple((kind, tuple(merged[kind])) for kind in sorted(merged)),
        traceparent=batch.traceparent,
    )


def bucket_objects(bucket: ArchiveBucket) -> list[tuple[str, bytes]]:
    """``(key, bytes)`` of every file of ``bucket``, one per kind."""
    objects = []
    for kind, bodies in bucket.bodies:
        key = event_batch_key(bucket.game_date, bucket.game_pk, kind, bucket.first_ts)
        objects.append((key, container_of_bodies(kind, key, bodies)))
    return objects


def batch_objects(
    batch: EventBatch, values: Sequence[bytes] | None = None
) -> list[tuple[str, bytes]]:
    """``(key, bytes)`` of the files of a bucket of ``batch`` alone (none for an empty
    batch). ``values``: the topic values of ``batch.events`` in order (either framing),
    whose bodies are used as they are; without them each event is encoded here."""
    bucket = _added(None, batch, values)
    return [] if bucket is None else bucket_objects(bucket)


def newest_buckets(items: Sequence[ArchiveBucket]) -> list[ArchiveBucket]:
    """The last of ``items`` for each bucket (a game's items come in order, and a bucket's
    last holds every batch of the earlier ones), in order of first appearance."""
    newest: dict[tuple[int, str], ArchiveBucket] = {}
    for bucket in items:
        newest[(bucket.game_pk, bucket.first_ts)] = bucket
    return list(newest.values())


def _objects_of_buckets(items: list[ArchiveBucket]) -> list[tuple[str, bytes]]:
    return [obj for bucket in newest_buckets(items) for obj in bucket_objects(bucket)]


class EventBatchS3Sink(ObjectSink[ArchiveBucket]):
    """Each bucket of a game's events, one Avro file per kind, under ``events/`` in
    ``s3_bucket``; of several versions of one bucket in a write only the newest is put.

    Idempotent: a bucket written again is rewritten at the same keys with the same bytes.
    Each request is bounded by ``s3_timeout_s``; failures are retried for
    ``sink_outage_budget_s``.
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, _objects_of_buckets, CONTENT_TYPE)
