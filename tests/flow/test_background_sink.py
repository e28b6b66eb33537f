"""Sinks writing off the worker thread: nothing lost, order per key, failures surface, and an
epoch's snapshot waits for every write handed over before it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import timedelta

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.testing import TestingSource, run_main

from connectors.background_sink import BackgroundSink
from connectors.kafka_io import CheckedKafkaSink, KafkaDeliveryError, OutRecord
from flows.live_stats import _output_if
from mlbsts.paths import PROJECT_ROOT

pytestmark = pytest.mark.flow


class _Recorder(DynamicSink[str]):
    """Records every write (one list per call); optionally slow, failing or gated."""

    def __init__(
        self,
        delay: float = 0.0,
        fail_on: str | None = None,
        gate: threading.Event | None = None,
    ) -> None:
        self.writes: list[list[str]] = []
        self.lock = threading.Lock()
        self.delay, self.fail_on, self.gate = delay, fail_on, gate

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _RecorderPart:
        return _RecorderPart(self)


class _RecorderPart(StatelessSinkPartition[str]):
    def __init__(self, sink: _Recorder) -> None:
        self._sink = sink

    def write_batch(self, items: list[str]) -> None:
        if self._sink.gate is not None:
            assert self._sink.gate.wait(10), "gate never opened"
        time.sleep(self._sink.delay)
        if self._sink.fail_on in items:
            raise RuntimeError(f"refused {self._sink.fail_on}")
        with self._sink.lock:
            self._sink.writes.append(list(items))


def _game(item: str) -> str:
    return item.split(":")[0]


def _items() -> list[str]:
    return [f"{game}:{n}" for n in range(40) for game in ("744914", "718594", "746551")]


def _run(sink: BackgroundSink[str], items: list[str]) -> None:
    flow = Dataflow("background_test")
    stream = op.input("in", flow, TestingSource(items, batch_size=3))
    _output_if("out", stream, sink)
    run_main(flow, epoch_interval=timedelta(milliseconds=50))


def test_every_item_arrives_once_in_order_per_key() -> None:
    recorder = _Recorder(delay=0.002)
    _run(BackgroundSink(recorder, _game, partitions=2), _items())
    written = [item for write in recorder.writes for item in write]
    assert sorted(written) == sorted(_items())
    for game in ("744914", "718594", "746551"):
        assert [i for i in written if _game(i) == game] == [i for i in _items() if _game(i) == game]


def test_a_failed_write_stops_the_worker_and_says_why() -> None:
    """Bytewax aborts the process on an error from a partitioned sink (so this runs in a
    child): the worker must stop, not finish quietly, and its log must name the failure."""
    child = subprocess.run(
        [sys.executable, __file__, "fail"],
        check=False,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode != 0
    assert "refused 718594:7" in child.stderr
    assert "finished" not in child.stdout


def test_snapshot_waits_for_every_write_handed_over() -> None:
    gate = threading.Event()
    recorder = _Recorder(gate=gate)
    part = BackgroundSink(recorder, _game, partitions=1).build_part("s", "0", None)
    started = time.monotonic()
    part.write_batch(["744914:0", "744914:1"])
    assert time.monotonic() - started < 1.0  # handed over, not written
    done = threading.Event()
    snapper = threading.Thread(target=lambda: (part.snapshot(), done.set()))
    snapper.start()
    assert not done.wait(0.3)  # the epoch cannot end while a write is pending
    gate.set()
    assert done.wait(10)
    assert recorder.writes == [["744914:0", "744914:1"]]
    part.close()


def test_queued_batches_merge_and_backpressure_bounds_the_queue() -> None:
    gate = threading.Event()
    recorder = _Recorder(gate=gate)
    sink = BackgroundSink(recorder, _game, partitions=1, max_pending=4, max_write=3)
    part = sink.build_part("s", "0", None)
    part.write_batch(["a:0"])  # taken by the writer, which waits at the gate
    time.sleep(0.1)
    part.write_batch(["a:1", "a:2"])
    part.write_batch(["a:3", "a:4"])  # queue now holds 4 = max_pending
    blocked = threading.Thread(target=part.write_batch, args=(["a:5"],))
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive()  # backpressure: the worker waits for room
    gate.set()
    blocked.join(10)
    part.close()
    assert recorder.writes[:2] == [["a:0"], ["a:1", "a:2", "a:3"]]  # queued ones merged
    assert [i for w in recorder.writes for i in w] == [f"a:{n}" for n in range(6)]
    assert all(len(w) <= 3 for w in recorder.writes)


def test_kafka_sink_raises_at_the_epoch_when_records_are_not_acknowledged() -> None:
    """Nothing listens on port 1: the produce call returns, the epoch's snapshot refuses."""
    config: dict[str, str | int | bool] = {
        "bootstrap.servers": "127.0.0.1:1",
        "message.timeout.ms": 500,
    }
    part = CheckedKafkaSink(config).build_part("log", "0", None)
    started = time.monotonic()
    part.write_batch([OutRecord("mlb.events.pitch", b"744914", b"v")])
    assert time.monotonic() - started < 0.4
    with pytest.raises(KafkaDeliveryError, match=r"refused|not acknowledged"):
        part.snapshot()


if __name__ == "__main__" and sys.argv[1:] == ["fail"]:
    _run(BackgroundSink(_Recorder(fail_on="718594:7"), _game, partitions=2), _items())
    print("finished")
