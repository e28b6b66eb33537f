"""The bounded range source of ``mlbsts replay`` on the real broker (connectors/kafka_range.py).

A fresh topic of 3 partitions gets records with known create times, two "games" on two
partitions and an empty third one. The bounds resolve to the right offsets whatever the
broker answers to ``offsets_for_times`` (Tansu: 0), and a Bytewax run of the source, with 1
and 2 workers, emits exactly the records in range, in partition order, then stops.
"""

from __future__ import annotations

from datetime import UTC, datetime

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, cluster_main, run_main
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from connectors.kafka_io import consumer_config
from connectors.kafka_range import KafkaRangeSource, RangeProgress, resolve_range
from connectors.log_range import PartitionRange, parse_bounds
from mlbsts.settings import Settings
from tests.integration.conftest import unique

pytestmark = pytest.mark.integration

T0 = int(datetime(2024, 7, 1, 19, 0, tzinfo=UTC).timestamp() * 1000)
PER_GAME = 120  # records of each game, one a second from T0
GAMES = {0: 744914, 1: 718594}  # partition → game


@pytest.fixture(scope="module")
def topic(stack_settings: Settings) -> str:
    admin = AdminClient({"bootstrap.servers": stack_settings.kafka_bootstrap_servers})
    name = unique("test-range-")
    for future in admin.create_topics([NewTopic(name, num_partitions=3)]).values():
        future.result(timeout=30)
    producer = Producer(
        {"bootstrap.servers": stack_settings.kafka_bootstrap_servers, "linger.ms": 20}
    )
    for i in range(PER_GAME):
        for partition, game in GAMES.items():
            value = f"{game}:{i}".encode()
            producer.produce(name, value, str(game).encode(), partition, timestamp=T0 + i * 1000)
        if i % 25 == 0:
            producer.flush(30)  # several batches: the watermark may lag the last ones
    assert producer.flush(30) == 0
    yield name
    for future in admin.delete_topics([name]).values():
        future.result(timeout=30)


def _resolve(settings: Settings, topic: str, start: str, stop: str) -> dict[int, tuple[int, int]]:
    got = resolve_range(
        consumer_config(settings), topic, parse_bounds([start]), parse_bounds([stop])
    )
    return {p: (r.start, r.end) for p, r in got.items()}


def test_bounds_resolve_on_the_broker(stack_settings: Settings, topic: str) -> None:
    everything = {0: (0, PER_GAME), 1: (0, PER_GAME), 2: (0, 0)}
    assert _resolve(stack_settings, topic, "beginning", "end") == everything
    window = _resolve(
        stack_settings, topic, "time:2024-07-01T19:00:30Z", "time:2024-07-01T19:01:00Z"
    )
    assert window == {0: (30, 60), 1: (30, 60), 2: (0, 0)}
    assert _resolve(stack_settings, topic, "offset:1:100", "end") == {1: (100, PER_GAME)}


def _run(source: KafkaRangeSource, workers: int) -> list[tuple[int, int, bytes]]:
    out: list[tuple[int, int, bytes]] = []
    flow = Dataflow("range_test")
    messages = op.input("read", flow, source)
    op.output(
        "out",
        op.map("position", messages, lambda m: (m.partition, m.offset, m.value)),
        TestingSink(out),
    )
    if workers == 1:
        run_main(flow)
    else:
        cluster_main(flow, [], 0, worker_count_per_proc=workers)
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_the_source_reads_its_range_then_stops(
    stack_settings: Settings, topic: str, workers: int
) -> None:
    ranges = {
        0: PartitionRange(0, 10, 40),
        1: PartitionRange(1, 0, PER_GAME),
        2: PartitionRange(2, 0, 0),
    }
    progress = RangeProgress(total=30 + PER_GAME)
    source = KafkaRangeSource(
        consumer_config(stack_settings),
        topic,
        ranges,
        games=frozenset({GAMES[0]}),
        batch_size=7,
        progress=progress,
    )
    got = _run(source, workers)
    assert got == [(0, o, f"{GAMES[0]}:{o}".encode()) for o in range(10, 40)]  # game 1 filtered
    assert (progress.done, progress.emitted) == (30 + PER_GAME, 30)


def test_a_resumed_partition_starts_at_its_snapshot(stack_settings: Settings, topic: str) -> None:
    source = KafkaRangeSource(consumer_config(stack_settings), topic, {1: PartitionRange(1, 0, 20)})
    part = source.build_part("read", "1", 15)  # the state Bytewax saved: the next offset
    seen: list[int] = []
    try:
        while True:
            seen.extend(m.offset for m in part.next_batch())
            assert part.snapshot() == (seen[-1] + 1 if seen else 15)
    except StopIteration:
        pass
    finally:
        part.close()
    assert seen == [15, 16, 17, 18, 19]
    # the 15 records before the resume count as done, so the bar resumes where it was
    assert (source.progress.done, source.progress.emitted) == (20, 5)
