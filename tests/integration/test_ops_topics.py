"""The ops topics on the real local stack: a committed sink batch reported on a storage-ops
topic, health reports arriving every few tenths of a second, and a broker that cannot be
reached costing dropped records, never a blocked caller. Each test has its own topic."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import bytewax.operators as op
import msgspec
import psycopg
import pytest
import redis
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, run_main
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from psycopg.conninfo import make_conninfo

from connectors import s3
from connectors.avro_serde import AvroCodec, load_schema
from connectors.background_sink import BackgroundSink
from connectors.event_archive import EventBatchS3Sink, bucket_with
from connectors.kafka_io import admin_config, consumer_config
from connectors.ops_topics import OpsPublisher, ops_config
from connectors.pg_stats import PgLiveStatsSink
from connectors.redis_state import LIVE_SET_KEY, RedisLiveStateSink, game_key
from connectors.storage_ops import STORAGE_OPS
from flows.archive_buckets import bucket_key
from flows.live_stats import _output_if, live_key
from mlbsts.paths import PROJECT_ROOT
from mlbsts.settings import Settings
from mlbsts.telemetry.health import Verdict
from mlbsts.telemetry.health_topic import HealthReporter, Instance
from mlbsts.telemetry.readiness import Readiness, kafka_check
from tests.conftest import load_fixture_feed
from tests.integration.test_event_archive import game_batches
from tests.unit.test_stats_live_box import batches_of, run

pytestmark = pytest.mark.integration

STORAGE = AvroCodec(load_schema("storage_ops"))
HEALTH = AvroCodec(load_schema("system_health"))


def read(settings: Settings, topic: str, codec: AvroCodec, count: int) -> list[dict[str, Any]]:
    """The first ``count`` records of ``topic`` (every partition from the start), decoded;
    fails after 60 s without them."""
    consumer = Consumer({**consumer_config(settings), "group.id": f"read-{topic}"})
    parts = range(settings.kafka_topic_partitions)
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    try:
        while len(found) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                found.append({"key": msg.key(), **codec.decode(msg.value() or b"")})
    finally:
        consumer.close()
    assert len(found) >= count, f"{len(found)} of {count} records on {topic}"
    return found


@pytest.fixture
def publisher(stack_settings: Settings, kafka_topic: str) -> Iterator[OpsPublisher]:
    published = OpsPublisher(ops_config(stack_settings), {kafka_topic: STORAGE})
    yield published
    published.close()


def test_a_committed_s3_batch_is_reported_with_its_objects(
    stack_settings: Settings, kafka_topic: str, s3_bucket: str, publisher: OpsPublisher
) -> None:
    settings = stack_settings.model_copy(update={"s3_bucket": s3_bucket})
    batches = [b for b in game_batches(load_fixture_feed(), 40) if b.events][:3]
    STORAGE_OPS.install(publisher, "worker@test:1", kafka_topic)
    try:
        flow = Dataflow("ops_test")
        buckets = [bucket_with(None, batch) for batch in batches]  # one batch per bucket
        stream = op.input("batches", flow, TestingSource(buckets))
        sink = BackgroundSink(EventBatchS3Sink(settings), bucket_key, partitions=1, max_write=1)
        _output_if("events_s3", stream, sink)
        run_main(flow, epoch_interval=timedelta(milliseconds=50))
    finally:
        STORAGE_OPS.install(None, "")
    publisher.close()  # flushes what is queued
    client = s3.client(settings, retries=False)
    sizes = {
        o.object_name: o.size
        for o in client.list_objects(s3_bucket, prefix="events/", recursive=True)
    }
    records = read(settings, kafka_topic, STORAGE, len(batches))
    assert len(records) == len(batches)
    assert {r["key"] for r in records} == {b"s3"}
    assert {name for r in records for name in r["targets"]} == set(sizes)
    assert sum(r["bytes"] for r in records) == sum(sizes.values())
    assert sorted(r["source_ts"] for r in records) == sorted(b.source_ts for b in batches)
    for r in records:
        assert r["store"] == "s3" and r["bucket"] == s3_bucket and r["targets_more"] == 0
        assert r["rows"] == len(r["targets"]) and r["game_pks"] == [batches[0].game_pk]
        assert r["sink"] == "ops_test.events_s3" and r["partition"] == 0
        assert r["instance"] == "worker@test:1"


def test_committed_postgres_and_redis_batches_are_reported(
    stack_settings: Settings,
    kafka_topic: str,
    pg_schema: str,
    pg_conn: psycopg.Connection[tuple[object, ...]],
    publisher: OpsPublisher,
) -> None:
    pg_conn.execute((PROJECT_ROOT / "sql" / "0003_live_stats.sql").read_text())
    pg_conn.commit()
    dsn = make_conninfo(
        stack_settings.postgres_dsn.get_secret_value(), options=f"-c search_path={pg_schema}"
    )
    game = 900_000_000 + int(pg_schema[-6:], 16) % 1_000_000  # a game no other test touches
    _, states = run(batches_of(load_fixture_feed(), 50))
    states = [msgspec.structs.replace(s, gamePk=game) for s in states[:4]]
    STORAGE_OPS.install(publisher, "worker@test:2", kafka_topic)
    try:
        flow = Dataflow("ops_test")
        stream = op.input("states", flow, TestingSource(states, batch_size=4))
        _output_if("live_postgres", stream, BackgroundSink(PgLiveStatsSink(dsn), live_key, 1))
        _output_if(
            "live_redis", stream, BackgroundSink(RedisLiveStateSink(stack_settings), live_key, 1)
        )
        run_main(flow)
    finally:
        STORAGE_OPS.install(None, "")
        client = redis.Redis.from_url(stack_settings.redis_url)
        client.delete(game_key(game))
        client.zrem(LIVE_SET_KEY, game)
        client.close()
    publisher.close()
    records = {r["sink"]: r for r in read(stack_settings, kafka_topic, STORAGE, 2)}
    pg, cache = records["ops_test.live_postgres"], records["ops_test.live_redis"]
    assert (pg["key"], pg["targets"], pg["rows"]) == (b"postgres", ["live_box_scores"], 4)
    assert (cache["key"], cache["targets"], cache["rows"]) == (b"redis", [game_key(game)], 1)
    for r in (pg, cache):
        assert r["game_pks"] == [game] and r["source_ts"] == states[-1].source_ts
        assert r["bytes"] is None and r["instance"] == "worker@test:2"


def test_health_reports_arrive_every_turn(stack_settings: Settings, kafka_topic: str) -> None:
    publisher = OpsPublisher(ops_config(stack_settings), {kafka_topic: HEALTH})
    ready = Readiness({"kafka": kafka_check(admin_config(stack_settings), kafka_topic)}, {"kafka"})

    def verdicts() -> tuple[Verdict, Verdict]:
        return Verdict(True, "the loop turns"), ready()

    def send(key: str, record: dict[str, Any]) -> None:
        publisher.publish(kafka_topic, key, record)

    instance = Instance.here("ingest")
    reporter = HealthReporter(instance, verdicts, send, 0.2, version="test").start()
    try:
        records = read(stack_settings, kafka_topic, HEALTH, 3)
    finally:
        reporter.stop()
        publisher.close()
    assert {r["key"] for r in records} == {instance.key.encode()}
    assert [r["reported_at"] for r in records] == sorted(r["reported_at"] for r in records)
    first = records[0]
    assert (first["process"], first["live"], first["ready"]) == ("ingest", True, True)
    assert first["checks"] == {"kafka": "ok"} and "loop_age_s" in first["figures"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_broker_that_cannot_be_reached_drops_records_without_blocking(
    stack_settings: Settings,
) -> None:
    config = {
        **ops_config(stack_settings),
        "bootstrap.servers": f"127.0.0.1:{_closed_port()}",
        "queue.buffering.max.messages": 2,
    }
    publisher = OpsPublisher(config, {"mlb.system.health.test": HEALTH})
    record = HealthReporter(
        Instance.here("api"),
        lambda: (Verdict(True, "runs"), Verdict(False, "not reached: postgres")),
        lambda key, value: None,
        30.0,
        version="test",
    ).report_once()
    taken = [publisher.publish("mlb.system.health.test", "api@x:1", record) for _ in range(5)]
    assert taken == [True, True, False, False, False]
    assert publisher.publish("no.such.ops.topic", "k", record) is False  # no codec: dropped
    publisher.close(timeout_s=0.1)
