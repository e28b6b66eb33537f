"""The S3 event archive: every snapshot's events as Avro object container files.

For each non-empty :class:`~flows.game.batches.EventBatch`, one file per event kind (a
retraction goes with the kind it retracts, as on the topics) at::

    events/date=YYYY-MM-DD/game_pk=N/kind=<kind>/<source_ts>.avro

written with that kind's topic value schema (``schemas/events_<kind>.avsc``), so a
reader of the topic reads the archive too. The key and the bytes are both deterministic:
the file's sync marker is derived from its key, its codec is deflate, its metadata is the
schema alone (in Parsing Canonical Form: no docs, ~4.7 KB instead of ~9 KB for pitches,
and the same CRC-64 fingerprint as ``schemas/events_<kind>.avsc``), so a replayed batch
overwrites the object with identical bytes (same ETag). Delivery is at-least-once
(Bytewax replays the last epoch after a resume), made idempotent by those keys.

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
    "EventBatchS3Sink",
    "archive_parsed_schema",
    "batch_objects",
    "container_of_bodies",
    "event_batch_key",
    "sync_marker",
]

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/avro"
CODEC = "deflate"
#: fastavro's block size: a block ends after the record that brings it to this many bytes
SYNC_INTERVAL = 16000


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


def batch_objects(
    batch: EventBatch, values: Sequence[bytes] | None = None
) -> list[tuple[str, bytes]]:
    """``(key, bytes)`` of every object ``batch`` is archived as (none for an empty batch).
    ``values``: the topic values of ``batch.events`` in order (either framing), whose
    bodies are used as they are; without them each event is encoded here."""
    by_kind: dict[str, list[bytes]] = {}
    for n, event in enumerate(batch.events):
        kind = event_kind(event)
        body = _body(kind, event) if values is None else avro_body(values[n])
        by_kind.setdefault(kind, []).append(body)
    objects = []
    for kind in sorted(by_kind):
        key = event_batch_key(batch.game_date, batch.game_pk, kind, batch.source_ts)
        objects.append((key, container_of_bodies(kind, key, by_kind[kind])))
    return objects


def archived_objects(item: EventBatch | EncodedBatch) -> list[tuple[str, bytes]]:
    """The objects of a batch, or of a batch already encoded for the log."""
    if isinstance(item, EncodedBatch):
        return batch_objects(item.batch, [r.value for r in item.records])
    return batch_objects(item)


def _objects_of_batches(items: list[EventBatch | EncodedBatch]) -> list[tuple[str, bytes]]:
    return [obj for item in items for obj in archived_objects(item)]


class EventBatchS3Sink(ObjectSink[EventBatch | EncodedBatch]):
    """Each snapshot's events, one Avro file per kind, under ``events/`` in ``s3_bucket``
    (given an ``EventBatch``, or an ``EncodedBatch`` whose values it reuses).

    Idempotent: a replayed batch rewrites the same keys with the same bytes. Each request
    is bounded by ``s3_timeout_s``; failures are retried for ``sink_outage_budget_s``.
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, _objects_of_batches, CONTENT_TYPE)
