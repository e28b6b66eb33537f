"""The two shapes of the stateless storage sinks, written once.

- :class:`PostgresSink`: configured by a DSN, where refused items go (``rejects``, a
  ``db_rejected`` dead letter; ``connectors.rejects``) and the connection limits
  (``PgLimits``); each worker gets one partition of the class the sink names
  (``partition``), which does the writing.
- :class:`ObjectSink`: configured by the settings, a function giving the S3 objects
  ``(key, bytes)`` of a batch and their content type; each worker gets an
  :class:`ObjectPartition` putting a batch's objects into ``s3_bucket``, each request
  bounded by ``s3_timeout_s``, failures retried for ``sink_outage_budget_s``
  (``connectors.sink_retry``), after which ``connectors.s3.ObjectStoreError`` stops the
  worker.

Both are at-least-once; the sinks built on them are idempotent (upserts on natural keys,
deterministic S3 keys).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from bytewax.outputs import DynamicSink, StatelessSinkPartition

from connectors import s3
from connectors.postgres import PgLimits
from connectors.rejects import Rejects, raise_rejected
from connectors.sink_retry import RetryPolicy
from connectors.storage_ops import StoredBatch, stored_batch
from mlbsts.settings import Settings

__all__ = ["ObjectPartition", "ObjectSink", "Objects", "PostgresSink"]

X = TypeVar("X")

#: the objects ``(key, bytes)`` a batch is stored as
Objects = Callable[[list[X]], list[tuple[str, bytes]]]


class PostgresSink(DynamicSink[X]):
    """A PostgreSQL sink: ``dsn``, ``rejects`` (default: a refused item stops the worker)
    and ``limits`` (timeouts and outage budget; the settings' defaults if not given). A
    subclass sets ``partition``: the class (or factory) of a worker's partition, called as
    ``partition(dsn, rejects, limits, what)``, ``what`` naming the step and partition."""

    partition: Callable[[str, Rejects, PgLimits, str], StatelessSinkPartition[X]]

    def __init__(
        self,
        dsn: str,
        rejects: Rejects = raise_rejected,
        *,
        limits: PgLimits | None = None,
    ) -> None:
        self._dsn = dsn
        self._rejects = rejects
        self._limits = limits or PgLimits()

    def build(
        self, step_id: str, worker_index: int, worker_count: int
    ) -> StatelessSinkPartition[X]:
        what = f"sink {step_id} partition {worker_index}"
        return self.partition(self._dsn, self._rejects, self._limits, what)


class ObjectPartition(StatelessSinkPartition[X]):
    """A worker's partition of an :class:`ObjectSink`: every batch's objects put at once."""

    def __init__(self, sink: ObjectSink[X], what: str) -> None:
        self._sink = sink
        self._retry = RetryPolicy(sink.settings.sink_outage_budget_s)
        self._writer = s3.sink_writer(sink.settings)
        self._what = what
        self._written: list[tuple[str, int]] = []  # (key, bytes) of the last write

    def write_batch(self, items: list[X]) -> None:
        objects = self._sink.objects(items)
        content_type = self._sink.content_type
        self._retry.call(
            lambda: self._writer.put_all(objects, content_type=content_type), self._what
        )
        self._written = [(key, len(data)) for key, data in objects]

    def stored(self, items: list[X]) -> StoredBatch:
        """The objects of the last write (``connectors.storage_ops``)."""
        keys = [key for key, _ in self._written]
        nbytes = sum(size for _, size in self._written)
        bucket = self._sink.settings.s3_bucket
        return stored_batch("s3", keys, items, rows=len(keys), nbytes=nbytes, bucket=bucket)

    def close(self) -> None:
        self._writer.close()


class ObjectSink(DynamicSink[X]):
    """An S3 sink: the ``objects`` of every batch, of ``content_type``, into the settings'
    ``s3_bucket``."""

    def __init__(self, settings: Settings, objects: Objects[X], content_type: str) -> None:
        self.settings = settings
        self.objects = objects
        self.content_type = content_type

    def build(self, step_id: str, worker_index: int, worker_count: int) -> ObjectPartition[X]:
        return ObjectPartition(self, f"sink {step_id} partition {worker_index}")
