"""The local stack for real: four healthy servers, each used once, restarts, `down`.

The last test stops the whole stack and brings it up again, so it can run anywhere in a
session; it is last in this file all the same.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
import redis
from confluent_kafka import Consumer, Producer, TopicPartition

from connectors import s3
from mlbsts import stack
from mlbsts.settings import Settings
from mlbsts.stack.layout import Layout
from mlbsts.stack.ports import port_is_free
from mlbsts.stack.process import ProcessRecord, family, proc_info
from mlbsts.topics import ALL_TOPICS

pytestmark = pytest.mark.integration


def produce(settings: Settings, topic: str, key: bytes, value: bytes) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers})
    producer.produce(topic, value=value, key=key, partition=0)
    assert producer.flush(15) == 0


def consume_partition0(settings: Settings, topic: str, want: int) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": f"test-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    values: list[bytes] = []
    deadline = time.monotonic() + 20
    try:
        while len(values) < want and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                values.append(msg.value() or b"")
    finally:
        consumer.close()
    return values


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``mlbsts stack ARGS`` in a fresh interpreter: exit code and output as a user sees them."""
    return subprocess.run(
        [sys.executable, "-m", "mlbsts.commands.cli", "stack", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_all_four_are_healthy(stack_settings: Settings) -> None:
    status = stack.status(stack_settings)
    names = [c.name for c in status.components]
    assert names == ["s3", "kafka", "postgres", "redis", "trim"]  # the trimmer: a helper
    for component in status.components:
        assert component.healthy, component
        assert component.pid is not None
        assert component.address.startswith("127.0.0.1:")


def test_up_created_every_topic_with_the_configured_partitions(
    stack_settings: Settings,
) -> None:
    from mlbsts.stack.kafka import admin_client

    topics = admin_client(stack_settings).list_topics(timeout=10).topics
    for name in ALL_TOPICS:
        assert name in topics
        assert len(topics[name].partitions) >= stack_settings.kafka_topic_partitions


def test_produce_and_consume_through_tansu(stack_settings: Settings, kafka_topic: str) -> None:
    produce(stack_settings, kafka_topic, b"744914", b"first pitch")
    assert consume_partition0(stack_settings, kafka_topic, 1) == [b"first pitch"]


def test_put_and_get_an_object_in_s3(stack_settings: Settings, s3_bucket: str) -> None:
    import io

    client = s3.client(stack_settings, retries=False)
    body = b'{"gamePk": 744914}'
    client.put_object(s3_bucket, "2024/10/30/744914.json", io.BytesIO(body), len(body))
    response = client.get_object(s3_bucket, "2024/10/30/744914.json")
    try:
        assert response.read() == body
    finally:
        response.close()
        response.release_conn()
    assert client.bucket_exists(stack_settings.s3_bucket)  # made by `up`


def test_query_postgres_in_a_fresh_schema(
    pg_conn: psycopg.Connection[tuple[object, ...]], pg_schema: str
) -> None:
    pg_conn.execute("CREATE TABLE pitch (game_pk bigint PRIMARY KEY, speed real)")
    pg_conn.execute("INSERT INTO pitch VALUES (744914, 98.5)")
    row = pg_conn.execute("SELECT speed, current_schema() FROM pitch").fetchone()
    assert row == (98.5, pg_schema)
    assert pg_conn.execute("SELECT 1").fetchone() == (1,)


def test_redis_set_get(stack_settings: Settings) -> None:
    client = redis.Redis.from_url(stack_settings.redis_url)
    key = f"test:{uuid.uuid4().hex}"
    try:
        assert client.set(key, b"live", ex=60)
        assert client.get(key) == b"live"
    finally:
        client.delete(key)
        client.close()


def test_up_twice_is_harmless(stack_settings: Settings) -> None:
    before = {c.name: c.pid for c in stack.status(stack_settings).components}
    progress: list[stack.Progress] = []
    status = stack.up(stack_settings, on_progress=progress.append)
    assert status.healthy
    assert {c.name: c.pid for c in status.components} == before
    assert [p.action for p in progress] == ["running"] * len(stack.parts())  # 4 and trim


def test_status_command_exit_code_follows_health(stack_settings: Settings) -> None:
    result = run_cli("status")
    assert result.returncode == 0, result.stderr
    for name in ("s3", "kafka", "postgres", "redis", "trim"):
        assert name in result.stdout
    assert result.stdout.count("healthy") == len(stack.parts())


def test_tansu_log_survives_a_broker_restart(stack_settings: Settings, kafka_topic: str) -> None:
    produce(stack_settings, kafka_topic, b"k", b"kept in S3")
    old_pid = stack.status(stack_settings)["kafka"].pid
    assert stack.stop(stack_settings, "kafka")
    assert old_pid is not None and proc_info(old_pid) is None
    assert not stack.status(stack_settings)["kafka"].healthy
    status = stack.up(stack_settings)
    assert status.healthy
    assert status["kafka"].pid != old_pid
    assert consume_partition0(stack_settings, kafka_topic, 1) == [b"kept in S3"]


def test_a_port_taken_by_a_stranger_is_one_clear_line(stack_settings: Settings) -> None:
    port = stack_settings.redis_port
    assert stack.stop(stack_settings, "redis")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as stranger:
            stranger.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do
            stranger.bind(("127.0.0.1", port))
            stranger.listen()
            with pytest.raises(stack.PortTakenError, match=f"port {port}"):
                stack.up(stack_settings)
            result = run_cli("up")
            assert result.returncode == 1
            assert "MLBSTS_REDIS_URL" in result.stderr
            assert "Traceback" not in result.stderr
            assert stack.status(stack_settings)["redis"].pid is None
            assert run_cli("status").returncode == 1
    finally:
        assert stack.up(stack_settings).healthy


def test_down_leaves_no_process_behind(stack_settings: Settings) -> None:
    layout = Layout(stack_settings.stack_dir)
    records = [ProcessRecord.load(layout.record(s.name)) for s in stack.parts()]
    started: dict[int, int] = {}
    for record in records:
        assert record is not None
        started |= family(record)  # the servers and their children (postgres workers)
    assert len(started) > 4
    try:
        assert stack.down(stack_settings) == ["trim", "redis", "postgres", "kafka", "s3"]
        for pid, ticks in started.items():
            info = proc_info(pid)
            assert info is None or info.start_ticks != ticks, f"pid {pid} is still running"
        assert not list(Path(layout.pids).glob("*.json"))
        for srv in stack.SERVERS:  # every socket closed, not just every PID gone
            for port in srv.launch(stack_settings, layout).ports:
                assert port_is_free(port), f"{srv.name} port {port} still taken"
        status = stack.status(stack_settings)
        assert not status.healthy
        assert all(c.pid is None for c in status.components)
    finally:
        assert stack.up(stack_settings).healthy  # leave the stack as the session found it
