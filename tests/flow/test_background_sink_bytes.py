"""A sink partition's queue is bounded in bytes as well as items: the worker waits for room,
an item larger than the bound goes alone, and nothing is lost or reordered
(connectors/background_sink.py)."""

from __future__ import annotations

import threading
from datetime import timedelta

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.testing import TestingSource, run_main

from connectors.background_sink import BackgroundSink
from flows.live_stats import _output_if

pytestmark = pytest.mark.flow


class _Gated(DynamicSink[str]):
    """Records every write (one list per call); each write waits for ``gate``."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.writes: list[list[str]] = []
        self.entered = threading.Event()  # a write has started
        self.gate = gate
        self.lock = threading.Lock()

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _GatedPart:
        return _GatedPart(self)


class _GatedPart(StatelessSinkPartition[str]):
    def __init__(self, sink: _Gated) -> None:
        self._sink = sink

    def write_batch(self, items: list[str]) -> None:
        self._sink.entered.set()
        if self._sink.gate is not None:
            assert self._sink.gate.wait(10), "gate never opened"
        with self._sink.lock:
            self._sink.writes.append(list(items))


def _key(item: str) -> str:
    return item[0]


def _blocked(part: object, items: list[str]) -> threading.Thread:
    """``part.write_batch(items)`` on a thread of its own, still waiting after 0.3 s."""
    thread = threading.Thread(target=part.write_batch, args=(items,))  # type: ignore[attr-defined]
    thread.start()
    thread.join(0.3)
    assert thread.is_alive()  # backpressure: the worker waits for room
    return thread


def test_the_worker_waits_while_the_queued_bytes_are_at_the_bound() -> None:
    gate = threading.Event()
    sink = _Gated(gate)
    part = BackgroundSink(sink, _key, 1, 10, size=len).build_part("s", "0", None)
    part.write_batch(["a001"])  # taken by the writer, which waits at the gate
    assert sink.entered.wait(10)
    part.write_batch(["a002", "a003"])  # 8 bytes wait: room for no 4-byte item more
    waiting = _blocked(part, ["a004"])
    gate.set()
    waiting.join(10)
    part.close()
    assert [i for w in sink.writes for i in w] == ["a001", "a002", "a003", "a004"]
    assert sink.writes[1] == ["a002", "a003"]  # the queued ones merged into one write


def test_an_item_larger_than_the_bound_waits_for_an_empty_queue_then_goes_alone() -> None:
    gate = threading.Event()
    sink = _Gated(gate)
    part = BackgroundSink(sink, _key, 1, 10, size=len).build_part("s", "0", None)
    big = "b" * 25
    part.write_batch(["a001"])
    assert sink.entered.wait(10)
    part.write_batch(["a002"])
    waiting = _blocked(part, [big, "a003"])
    gate.set()
    waiting.join(10)
    part.close()
    assert sink.writes == [["a001"], ["a002"], [big], ["a003"]]


@pytest.mark.parametrize("partitions", [1, 2])
def test_in_a_flow_every_item_arrives_once_in_order_per_key(partitions: int) -> None:
    items = [
        f"{g}{'x' * (n % 7) * (5 if n % 5 == 0 else 1)}{n:03d}" for n in range(60) for g in "abc"
    ]
    sink = _Gated()
    flow = Dataflow("bytes_test")
    stream = op.input("in", flow, TestingSource(items, batch_size=7))
    _output_if("out", stream, BackgroundSink(sink, _key, partitions, 16, size=len, max_write=4))
    run_main(flow, epoch_interval=timedelta(milliseconds=20))
    written = [i for w in sink.writes for i in w]
    assert sorted(written) == sorted(items)
    for g in "abc":
        assert [i for i in written if i[0] == g] == [i for i in items if i[0] == g]
    assert max(len(i) for i in items) > 16  # some items were larger than the bound
