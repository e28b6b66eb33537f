"""Sinks that write on their own thread and are durable at every epoch.

A Bytewax worker calls its sinks one after another on one thread. With nine sinks that each
wait on a server, a snapshot waited for the sum of nine round trips, and under load the
worker spent its time waiting rather than computing (``bench/report.md``).

``BackgroundSink`` wraps a ``DynamicSink``. Each of its partitions hands batches to one
writer thread of its own and returns at once; the writer keeps their order and merges
what queued up while it was busy into one write. Bytewax calls ``snapshot()`` at the end of
every epoch, before that epoch is committed to the recovery store; it returns only when
every item handed over so far is written, and re-raises the writer's failure if there was
one (logged first: Bytewax aborts the process on an error from such a sink, and its panic
message does not carry the Python one). So the output of a committed epoch is always
written: the same at-least-once as a blocking sink, with the waits overlapped. Between
snapshots, a failure surfaces at the next ``write_batch``; either way the worker stops and
recovery resumes it.

A wrapped partition may hold items back to write fewer of them (:class:`Holding`: the game
tables of a replay keep only each game's newest snapshot); its ``flush()`` is called at the
end of every epoch, once the queue is drained, so a committed epoch has nothing held.

Items are routed to partitions by ``key`` (the gamePk), so each game's items reach a sink
in order. Backpressure: at most ``max_pending`` items and ``max_bytes`` bytes (``size`` of
each item, ``estimated_size`` by default) wait in a partition's queue; ``write_batch``
waits, item by item, for room. An item larger than ``max_bytes`` is taken alone, once the
queue is empty, or it could never be written. What the writer took is no longer waiting, so
a partition holds at most about twice ``max_bytes``: the queue and the write in progress.

Telemetry (docs/operating.md), labelled by the sink's step id: each write's duration
(``mlbsts_sink_write_seconds``), failures (``mlbsts_sink_errors_total``), what waits in the
queues of this process (``mlbsts_sink_queue_items``, ``_bytes``); a write of items that
carry a ``traceparent`` is a span in their trace; ``on_written`` sees each batch written.
After each write that returned without error, a partition that describes what it stored
(``stored``, ``connectors.storage_ops``) has it published on ``mlb.storage.ops`` when the
process's ops topics are started (``connectors.ops_topics``; never blocking, never failing).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Generic, Protocol, TypeVar, runtime_checkable
from zlib import adler32

from bytewax.outputs import (
    DynamicSink,
    FixedPartitionedSink,
    StatefulSinkPartition,
    StatelessSinkPartition,
)

from connectors.records import EncodedBatch
from connectors.storage_ops import STORAGE_OPS
from flows.game.accepted import AcceptedSnapshot
from flows.game.batches import EventBatch
from flows.stats.live_box import LiveStats
from mlbsts.telemetry.catalogue import (
    SINK_ERRORS,
    SINK_QUEUE_BYTES,
    SINK_QUEUE_ITEMS,
    SINK_RETRIES,
    SINK_WRITE,
)
from mlbsts.telemetry.logs import log_fields
from mlbsts.telemetry.metrics import RECORDER, SINK
from mlbsts.telemetry.tracing import sink_span

X = TypeVar("X")
X_co = TypeVar("X_co", covariant=True)

log = logging.getLogger(__name__)

MAX_PENDING = 512  # items queued per partition before write_batch waits
MAX_BYTES = 64 * 1024 * 1024  # bytes queued per partition (``sink_queue_bytes``'s default)
MAX_WRITE = 64  # items merged into one write of the wrapped sink

#: estimates of what an item holds in memory, in bytes (a decoded event, a box score)
EVENT_BYTES = 1024
LIVE_STATS_BYTES = 32 * 1024
ITEM_BYTES = 1024


def estimated_size(item: object) -> int:
    """Bytes ``item`` holds while it waits, cheaply: a snapshot its raw, payload and JSON
    bytes; a batch of events per event; an archive bucket its bodies; bytes and text their
    length; anything else a constant (the statistics rows)."""
    if isinstance(item, AcceptedSnapshot):
        return len(item.raw_value) + len(item.envelope.payload) + len(item.payload_json)
    if isinstance(item, EventBatch):
        return ITEM_BYTES + EVENT_BYTES * len(item.events)
    if isinstance(item, EncodedBatch):  # the events and their encoded records
        return ITEM_BYTES + sum(EVENT_BYTES + len(r.value) for r in item.records)
    nbytes = getattr(item, "nbytes", None)  # an archive bucket: the bodies of its events
    if isinstance(nbytes, int):
        return ITEM_BYTES + nbytes
    if isinstance(item, bytes | str):
        return len(item)
    if isinstance(item, LiveStats):
        return LIVE_STATS_BYTES
    return ITEM_BYTES


def has_room(
    queued: int, queued_bytes: int, size: int, *, max_pending: int, max_bytes: int
) -> bool:
    """May an item of ``size`` bytes join a queue of ``queued`` items and ``queued_bytes``?
    Yes while both bounds hold after it; an empty queue takes any item, even one larger
    than ``max_bytes`` (else it could never be written)."""
    if queued == 0:
        return True
    return queued < max_pending and queued_bytes + size <= max_bytes


@runtime_checkable
class Holding(Protocol[X_co]):
    """A wrapped partition that holds items back between writes: ``flush()`` writes them
    and returns them (for ``stored``)."""

    def flush(self) -> Sequence[X_co]: ...


class _Writer(Generic[X]):
    """One thread writing queued items, in order, through a wrapped partition."""

    def __init__(
        self,
        part: StatelessSinkPartition[X],
        name: str,
        *,
        size: Callable[[X], int],
        max_pending: int,
        max_bytes: int,
        max_write: int,
        sink: str = "",
        on_written: Callable[[list[X]], None] | None = None,
        step_id: str = "",
        partition: int = 0,
    ) -> None:
        self._part = part
        self._sink = sink or name
        self._step_id = step_id or self._sink
        self._partition = partition
        self._on_written = on_written
        # counters exist from the start at 0, so the first error shows as an increase
        RECORDER.add(SINK_ERRORS, 0, sink=self._sink)
        RECORDER.add(SINK_RETRIES, 0, sink=self._sink)
        self._size = size
        self._max_pending = max_pending
        self._max_bytes = max_bytes
        self._max_write = max_write
        self._cond = threading.Condition()
        self._queue: list[tuple[X, int]] = []  # (item, its size)
        self._queued_bytes = 0
        self._submitted = 0
        self._written = 0
        self._error: BaseException | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        _QUEUES.add(self._sink, self)

    def submit(self, items: list[X]) -> None:
        sized = [(item, self._size(item)) for item in items]
        taken = 0
        while taken < len(sized):
            with self._cond:
                self._cond.wait_for(partial(self._room_or_failed, sized[taken][1]))
                self._raise_failure()
                while taken < len(sized) and self._has_room(sized[taken][1]):
                    self._queue.append(sized[taken])
                    self._queued_bytes += sized[taken][1]
                    self._submitted += 1
                    taken += 1
                self._cond.notify_all()

    def drain(self) -> None:
        """Wait until everything submitted so far is written; raise the writer's failure."""
        with self._cond:
            target = self._submitted
            self._cond.wait_for(lambda: self._written >= target or self._failed())
            self._raise_failure()

    def flush(self) -> None:
        """After :meth:`drain`, with the writer idle: a :class:`Holding` partition writes
        what it held back; its failure is the writer's (logged, raised)."""
        if not isinstance(self._part, Holding):
            return
        try:
            with log_fields(sink=self._sink):
                flushed = list(self._part.flush())
        except BaseException as e:
            RECORDER.add(SINK_ERRORS, sink=self._sink)
            with self._cond:
                self._error = e
            self._raise_failure()
            raise
        if flushed:
            STORAGE_OPS.committed(
                self._part, flushed, sink=self._step_id, partition=self._partition
            )

    def close(self) -> None:
        self.drain()
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        _QUEUES.discard(self._sink, self)
        self._part.close()

    def _has_room(self, size: int) -> bool:
        return has_room(
            len(self._queue),
            self._queued_bytes,
            size,
            max_pending=self._max_pending,
            max_bytes=self._max_bytes,
        )

    def _room_or_failed(self, size: int) -> bool:
        return self._has_room(size) or self._failed()

    def _failed(self) -> bool:
        return self._error is not None

    def _raise_failure(self) -> None:
        if self._error is not None:
            # Bytewax aborts the process on an error from a partitioned sink, and its panic
            # message drops the Python one: name the failure here first.
            log.critical("sink %s failed: %r", self._thread.name, self._error)
            raise self._error

    def _take(self) -> list[X] | None:
        """The next write (the oldest queued items), or ``None`` when closing."""
        with self._cond:
            self._cond.wait_for(lambda: bool(self._queue) or self._closing)
            if not self._queue:
                return None
            taken = self._queue[: self._max_write]
            del self._queue[: self._max_write]
            self._queued_bytes -= sum(size for _, size in taken)
            self._cond.notify_all()
        return [item for item, _ in taken]

    def queued(self) -> tuple[int, int]:
        """(items, bytes) waiting, read without the lock (a gauge, not a decision)."""
        return len(self._queue), self._queued_bytes

    def _write(self, batch: list[X]) -> None:
        began = time.perf_counter()
        with sink_span(self._sink, batch), log_fields(sink=self._sink, game=_game_of(batch)):
            self._part.write_batch(batch)
        RECORDER.record(SINK_WRITE, time.perf_counter() - began, sink=self._sink)
        if self._on_written is not None:
            self._on_written(batch)
        STORAGE_OPS.committed(self._part, batch, sink=self._step_id, partition=self._partition)

    def _run(self) -> None:
        SINK.set(self._sink)  # this thread's context: labels the retries of its writes
        while (batch := self._take()) is not None:
            try:
                self._write(batch)
            except BaseException as e:  # handed to the worker thread, which re-raises it
                RECORDER.add(SINK_ERRORS, sink=self._sink)
                with self._cond:
                    self._error = e
                    self._cond.notify_all()
                return
            with self._cond:
                self._written += len(batch)
                self._cond.notify_all()


def step_name(step_id: str) -> str:
    """A sink's step id without its flow's prefix (``live_stats.write_log`` → ``write_log``):
    the ``sink`` label of its metrics."""
    return step_id.rsplit(".", 1)[-1]


def _game_of(items: list[X]) -> int | None:
    """The game of a write whose items are all of one game, if they say it."""
    games = {
        getattr(getattr(i, "envelope", i), "gamePk", None) or getattr(i, "game_pk", None)
        for i in items
    }
    return games.pop() if len(games) == 1 else None


class _Queues:
    """The writers of this process by sink, read by the queue gauges."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._writers: dict[str, set[_Writer[object]]] = {}

    def add(self, sink: str, writer: _Writer[X]) -> None:
        with self._lock:
            self._writers.setdefault(sink, set()).add(writer)  # type: ignore[arg-type]
        RECORDER.observe(SINK_QUEUE_ITEMS, partial(self.total, sink, 0), sink=sink)
        RECORDER.observe(SINK_QUEUE_BYTES, partial(self.total, sink, 1), sink=sink)

    def discard(self, sink: str, writer: _Writer[X]) -> None:
        with self._lock:
            self._writers.get(sink, set()).discard(writer)  # type: ignore[arg-type]

    def total(self, sink: str, which: int) -> float:
        with self._lock:
            writers = list(self._writers.get(sink, ()))
        return float(sum(w.queued()[which] for w in writers))


_QUEUES = _Queues()


class _BackgroundPartition(StatefulSinkPartition[X, None]):
    def __init__(self, writer: _Writer[X]) -> None:
        self._writer = writer

    def write_batch(self, values: list[X]) -> None:
        self._writer.submit(values)

    def snapshot(self) -> None:
        self._writer.drain()
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class KeyedSink(FixedPartitionedSink[X, None]):
    """A sink of ``partitions`` partitions, given ``(key(item), item)`` pairs (the flow
    makes them); items of one key reach one partition, in order. The resume state is
    ``None``: the sinks here are idempotent and need no position, so the partition count
    may change between runs."""

    def __init__(self, key: Callable[[X], str], partitions: int) -> None:
        if partitions < 1:
            raise ValueError(f"partitions must be at least 1, not {partitions}")
        self.key = key
        self.partitions = partitions

    def list_parts(self) -> list[str]:
        return [str(i) for i in range(self.partitions)]

    def part_fn(self, item_key: str) -> int:
        return adler32(item_key.encode())


class BackgroundSink(KeyedSink[X]):
    """``inner``, written on one writer thread per partition; at most ``max_pending``
    items and ``max_bytes`` bytes (by ``size``) wait per partition. ``on_written(batch)``
    is called on the writer thread after each successful write (the data-age metric)."""

    def __init__(
        self,
        inner: DynamicSink[X],
        key: Callable[[X], str],
        partitions: int = 2,
        max_bytes: int = MAX_BYTES,
        *,
        size: Callable[[X], int] = estimated_size,
        max_pending: int = MAX_PENDING,
        max_write: int = MAX_WRITE,
        on_written: Callable[[list[X]], None] | None = None,
    ) -> None:
        super().__init__(key, partitions)
        if max_bytes < 1 or max_pending < 1 or max_write < 1:
            raise ValueError("max_bytes, max_pending and max_write must be at least 1")
        self.inner = inner
        self._size = size
        self._max_bytes = max_bytes
        self._max_pending = max_pending
        self._max_write = max_write
        self._on_written = on_written

    def build_part(
        self, step_id: str, for_part: str, resume_state: None
    ) -> _BackgroundPartition[X]:
        part = self.inner.build(step_id, int(for_part), self.partitions)
        writer = _Writer(
            part,
            f"{step_id}-{for_part}",
            size=self._size,
            max_pending=self._max_pending,
            max_bytes=self._max_bytes,
            max_write=self._max_write,
            sink=step_name(step_id),
            on_written=self._on_written,
            step_id=step_id,
            partition=int(for_part),
        )
        return _BackgroundPartition(writer)
