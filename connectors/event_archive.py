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

Exceptions: ``connectors.s3.ObjectStoreError`` at once when the server refuses a request,
or once the outage budget is spent for a transient failure (``connectors.sink_retry``;
broken infrastructure stops the worker).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Iterable
from datetime import date
from functools import lru_cache
from typing import Any

import fastavro
import fastavro.schema

from connectors.event_serde import avro_record, event_kind, event_schema
from connectors.storage_sinks import ObjectSink
from flows.game.batches import EventBatch
from flows.game.events import Event
from mlbsts.settings import Settings

__all__ = ["EventBatchS3Sink", "batch_objects", "event_batch_key", "sync_marker"]

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/avro"
CODEC = "deflate"


def event_batch_key(game_date: date, game_pk: int, kind: str, source_ts: str) -> str:
    """``events/date=YYYY-MM-DD/game_pk=N/kind=<kind>/<source_ts>.avro`` (the archive's layout)."""
    return f"events/date={game_date.isoformat()}/game_pk={game_pk}/kind={kind}/{source_ts}.avro"


def sync_marker(key: str) -> bytes:
    """The container file's 16-byte sync marker: a hash of its key, so bytes are stable."""
    return hashlib.sha256(key.encode()).digest()[:16]


@lru_cache(maxsize=8)
def _parsed(kind: str) -> Any:
    """The topic schema in Parsing Canonical Form: half the header (no docs), same fingerprint."""
    canonical = fastavro.schema.to_parsing_canonical_form(event_schema(kind))
    return fastavro.parse_schema(json.loads(canonical))


def container_file(kind: str, key: str, events: Iterable[Event]) -> bytes:
    """An Avro object container file of ``events`` (all of ``kind``), deterministic bytes."""
    out = io.BytesIO()
    fastavro.writer(
        out,
        _parsed(kind),
        (avro_record(e) for e in events),
        codec=CODEC,
        sync_marker=sync_marker(key),
    )
    return out.getvalue()


def batch_objects(batch: EventBatch) -> list[tuple[str, bytes]]:
    """``(key, bytes)`` of every object ``batch`` is archived as (none for an empty batch)."""
    by_kind: dict[str, list[Event]] = {}
    for event in batch.events:
        by_kind.setdefault(event_kind(event), []).append(event)
    objects = []
    for kind in sorted(by_kind):
        key = event_batch_key(batch.game_date, batch.game_pk, kind, batch.source_ts)
        objects.append((key, container_file(kind, key, by_kind[kind])))
    return objects


def _objects_of_batches(items: list[EventBatch]) -> list[tuple[str, bytes]]:
    return [obj for batch in items for obj in batch_objects(batch)]


class EventBatchS3Sink(ObjectSink[EventBatch]):
    """Each snapshot's events, one Avro file per kind, under ``events/`` in ``s3_bucket``.

    Idempotent: a replayed batch rewrites the same keys with the same bytes. Each request
    is bounded by ``s3_timeout_s``; failures are retried for ``sink_outage_budget_s``.
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, _objects_of_batches, CONTENT_TYPE)
