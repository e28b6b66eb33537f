"""Retention on the embedded broker: the trimmer deletes old batches, readers read on.

A private stack (the S3 server, Tansu and the log trimmer; every dev port + 9000, its own
folder) with ``MLBSTS_EMBEDDED_LOG_RETENTION_S`` of a few seconds. Real event records (the
engine's events of the kept real game) go to the event topics in small batches, and the
same bytes to the raw topic; once they are older than the retention and a newer part was
written, the trimmer's pass deletes the old event batches, and then (trimmer stopped, so
nothing moves under the checks), on Tansu 0.6:

- a reader from the beginning gets every record still stored, in order, no error: the
  broker answers the fetch at offset 0 with the oldest batch kept (no offset reset);
- a reader at an offset inside the deleted range gets the next stored record;
- a reader that tails keeps getting what is produced after the trim;
- the partition's ``watermark.json`` is untouched and new records continue its offsets;
- the raw topic lost nothing;
- all of that again after the broker is restarted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)

from connectors import s3
from connectors.kafka_io import producer_config
from connectors.records import event_record
from mlbsts import stack
from mlbsts.settings import Settings
from mlbsts.stack.layout import Layout
from mlbsts.stack.log_retention import batch_position
from mlbsts.stack.log_trimmer import read_status, status_path
from mlbsts.stack.s3 import LOG_BUCKET
from mlbsts.topics import EVENTS_PITCH, RAW_GAME_SNAPSHOTS
from sim.simulate import simulate
from sim.sources import run_engine
from tests.integration.conftest import log_stack

pytestmark = pytest.mark.integration

PORT_OFFSET = -1500  # Kafka 17592, S3 16833 (and weed's 16834-16837, 26833-26837)
RETENTION_S = 6.0  # the trimmer passes every 5 s (trim_every_s)
PER_BATCH = 10
WAIT_S = 60.0
Record = tuple[int, int, bytes]  # partition, offset, value


@pytest.fixture
def private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    retention = {"embedded_log_retention_s": RETENTION_S}
    with log_stack(tmp_path / "stack", PORT_OFFSET, monkeypatch, **retention) as settings:
        assert stack.status(settings)["trim"].pid is not None
        yield settings


def pitch_values(fixture_feed: dict[str, Any]) -> list[bytes]:
    """The Avro values of the real game's pitch events, in order."""
    records = (event_record(e) for e in run_engine(simulate(fixture_feed, 5)))
    return [r.value for r in records if r.topic == EVENTS_PITCH]


def produce(settings: Settings, topic: str, values: list[bytes]) -> list[Record]:
    """``values`` on partition 0 of ``topic``, ``PER_BATCH`` to a batch; what was written."""
    producer = Producer({**producer_config(settings), "linger.ms": 0})
    written: list[Record] = []

    def delivered(err: KafkaError | None, msg: Message) -> None:
        assert err is None, err
        written.append((msg.partition() or 0, msg.offset() or 0, msg.value() or b""))

    for start in range(0, len(values), PER_BATCH):
        for value in values[start : start + PER_BATCH]:
            producer.produce(topic, value=value, key=b"744914", partition=0, on_delivery=delivered)
        assert producer.flush(30) == 0
    return sorted(written)


def batch_offsets(settings: Settings, topic: str) -> list[int]:
    """Base offsets of the batch objects partition 0 of ``topic`` holds."""
    prefix = f"clusters/tansu_cluster/topics/{topic}/partitions/0000000000/records/"
    objects = s3.client(settings).list_objects(LOG_BUCKET, prefix=prefix, recursive=True)
    return sorted(p[1] for o in objects if (p := batch_position(o.object_name or "")) is not None)


def watermark(settings: Settings, topic: str) -> bytes:
    key = f"clusters/tansu_cluster/topics/{topic}/partitions/0000000000/watermark.json"
    answer = s3.client(settings).get_object(LOG_BUCKET, key)
    try:
        return answer.read()
    finally:
        answer.close()
        answer.release_conn()


def reader(settings: Settings, topic: str, offset: int) -> Consumer:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": "test-log-retention",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 200,
        }
    )
    consumer.assign([TopicPartition(topic, 0, offset)])
    return consumer


def read(consumer: Consumer, until_offset: int) -> list[Record]:
    """Records up to ``until_offset`` (inclusive); fails on any error or after ``WAIT_S``."""
    got: list[Record] = []
    deadline = time.monotonic() + WAIT_S
    while (not got or got[-1][1] < until_offset) and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        assert msg.error() is None, msg.error()
        got.append((msg.partition() or 0, msg.offset() or 0, msg.value() or b""))
    assert got and got[-1][1] == until_offset, f"read up to {got[-1:]}, wanted {until_offset}"
    return got


def trimmed(settings: Settings, old: list[Record]) -> list[int]:
    """Wait for the trimmer to delete old batches, then stop it; the batches kept."""
    path = status_path(Layout(settings.stack_dir))
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        status = read_status(path) or {}
        if status.get("deleted_total", 0) > 0:
            break
        time.sleep(0.5)
    shown = stack.status(settings)["trim"]  # `mlbsts stack status`
    assert shown.healthy and " deleted (" in shown.title, shown
    assert stack.stop(settings, "trim")  # nothing moves under the checks below
    kept = batch_offsets(settings, EVENTS_PITCH)
    assert kept[0] > old[0][1], "nothing was deleted"
    assert kept[0] <= old[-1][1] + 1, "the newer part was deleted too"
    return kept


def check_readers(settings: Settings, stored: list[Record], inside: int) -> None:
    """From the beginning, from ``inside`` the deleted range: the records ``stored``."""
    last = stored[-1][1]
    with_closing(
        reader(settings, EVENTS_PITCH, OFFSET_BEGINNING), lambda c: read(c, last) == stored
    )
    with_closing(reader(settings, EVENTS_PITCH, inside), lambda c: read(c, last) == stored)


def with_closing(consumer: Consumer, check: Any) -> None:
    try:
        assert check(consumer)
    finally:
        consumer.close()


def test_a_trimmed_log_reads_on_across_a_broker_restart(
    private: Settings, fixture_feed: dict[str, Any]
) -> None:
    values = pitch_values(fixture_feed)
    assert len(values) >= 240
    old = produce(private, EVENTS_PITCH, values[:150])
    raw = produce(private, RAW_GAME_SNAPSHOTS, values[:150])
    time.sleep(RETENTION_S + 1)
    new = produce(private, EVENTS_PITCH, values[150:190])
    mark = watermark(private, EVENTS_PITCH)
    kept = trimmed(private, old)
    assert watermark(private, EVENTS_PITCH) == mark  # the trimmer never touches it

    stored = [r for r in old + new if r[1] >= kept[0]]
    assert [r[1] for r in stored] == list(range(kept[0], new[-1][1] + 1))
    check_readers(private, stored, inside=old[0][1] + 3)
    raw_reader = reader(private, RAW_GAME_SNAPSHOTS, OFFSET_BEGINNING)
    with_closing(raw_reader, lambda c: read(c, raw[-1][1]) == raw)

    tail = reader(private, EVENTS_PITCH, new[-1][1] + 1)
    try:
        assert tail.poll(2.0) is None
        later = produce(private, EVENTS_PITCH, values[190:220])
        assert later[0][1] == new[-1][1] + 1  # offsets go on where they were
        assert read(tail, later[-1][1]) == later
    finally:
        tail.close()

    assert stack.stop(private, "kafka")
    off = private.model_copy(update={"embedded_log_retention_s": 0.0})  # trimmer stays off
    assert stack.up(off).healthy
    check_readers(private, stored + later, inside=old[0][1] + 3)
    after = produce(private, EVENTS_PITCH, values[220:240])
    assert after[0][1] == later[-1][1] + 1
    with_closing(
        reader(private, EVENTS_PITCH, OFFSET_BEGINNING),
        lambda c: read(c, after[-1][1]) == stored + later + after,
    )
    assert batch_offsets(private, EVENTS_PITCH)[0] == kept[0]
