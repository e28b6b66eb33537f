"""Fixtures of the integration tier: the real local stack, fresh resources per test.

``stack_settings`` (session) makes sure the stack is up by calling ``mlbsts.stack.up``,
which starts only what is not running and is harmless when everything is. It does *not*
stop the stack at the end, even when this session started it: the Makefile owns the
stack's lifetime (``mlbsts stack up`` before, ``mlbsts stack down`` after), a developer
re-running one test keeps the ~3 s start-up, and a session cannot know whether another
process (a demo, a second pytest) uses the stack meanwhile.

Each test gets its own topic, bucket and Postgres schema (unique names, removed after),
so tests never see each other's data and may run in any order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from psycopg import sql

from connectors import s3
from flows.game.stat_fields import BATTING_FIELDS, PITCHING_FIELDS
from mlbsts import stack
from mlbsts.settings import Settings, get_settings
from mlbsts.stack import kafka as kafka_server
from mlbsts.stack import s3 as s3_server
from mlbsts.stack import supervisor
from tests.unit.official_boxscore import official_lines


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@contextmanager
def snapshot_and_schedule_topics(settings: Settings, prefix: str) -> Iterator[tuple[str, str]]:
    """A fresh (snapshots, schedules) topic pair for a poller run, deleted after."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    names = [unique(f"{prefix}-{kind}-") for kind in ("snap", "sched")]
    new = [NewTopic(n, num_partitions=settings.kafka_topic_partitions) for n in names]
    for future in admin.create_topics(new).values():
        future.result(timeout=15)
    yield names[0], names[1]
    for future in admin.delete_topics(names).values():
        future.result(timeout=15)


@contextmanager
def log_stack(
    stack_dir: Path, offset: int, monkeypatch: pytest.MonkeyPatch, **more: Any
) -> Iterator[Settings]:
    """A private stack of S3 and the broker alone (the log), on the dev ports + ``offset``,
    its data in ``stack_dir``, other settings from ``more``; purged before and after."""
    dev = get_settings()
    settings = Settings(
        stack_dir=stack_dir,
        kafka_bootstrap_servers=f"127.0.0.1:{dev.kafka_port + offset}",
        s3_endpoint=f"127.0.0.1:{dev.s3_port + offset}",
        **more,
    )
    servers = (s3_server.S3Server(), kafka_server.KafkaServer())
    monkeypatch.setattr(supervisor, "SERVERS", servers)
    stack.down(settings, purge=True)
    try:
        status = stack.up(settings)
        assert status.healthy, status
        yield settings
    finally:
        stack.down(settings, purge=True)


@pytest.fixture(scope="session")
def stack_settings() -> Settings:
    settings = get_settings()
    status = stack.up(settings)
    assert status.healthy, status
    return settings


@pytest.fixture
def kafka_admin(stack_settings: Settings) -> AdminClient:
    return AdminClient({"bootstrap.servers": stack_settings.kafka_bootstrap_servers})


@pytest.fixture
def kafka_topic(stack_settings: Settings, kafka_admin: AdminClient) -> Iterator[str]:
    """A new topic (``kafka_topic_partitions`` partitions), deleted after the test."""
    name = unique("test-")
    new = NewTopic(name, num_partitions=stack_settings.kafka_topic_partitions)
    for future in kafka_admin.create_topics([new]).values():
        future.result(timeout=15)
    yield name
    for future in kafka_admin.delete_topics([name]).values():
        future.result(timeout=15)


@pytest.fixture
def s3_bucket(stack_settings: Settings) -> Iterator[str]:
    """A new, empty bucket, emptied and removed after the test."""
    client = s3.client(stack_settings, retries=False)
    name = unique("test-")
    client.make_bucket(name)
    yield name
    for obj in client.list_objects(name, recursive=True):
        if obj.object_name is not None:
            client.remove_object(name, obj.object_name)
    client.remove_bucket(name)


@pytest.fixture
def pg_schema(stack_settings: Settings) -> Iterator[str]:
    """A new schema in the DSN's database (``CREATE SCHEMA test_…``), dropped after."""
    name = unique("test_")
    dsn = stack_settings.postgres_dsn.get_secret_value()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def pg_conn(
    stack_settings: Settings, pg_schema: str
) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A connection whose ``search_path`` is the test's fresh schema."""
    dsn = stack_settings.postgres_dsn.get_secret_value()
    with psycopg.connect(dsn, options=f"-c search_path={pg_schema}") as conn:
        yield conn


def box_score_view(
    dsn: str, view: str, fields: tuple[str, ...], side: str, game_pk: int
) -> dict[str, dict[str, Any]]:
    """One side of a game in a box score view (``boxscore_batting``/``boxscore_pitching``),
    by person id."""
    columns = sql.SQL(", ").join(map(sql.Identifier, fields))
    query = sql.SQL("SELECT person_id, {} FROM {} WHERE game_pk = %s AND side = %s")
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(query.format(columns, sql.Identifier(view)), (game_pk, side)).fetchall()
    return {str(r[0]): dict(zip(fields, r[1:], strict=True)) for r in rows}


def assert_box_score_views_official(dsn: str, feed: dict[str, Any]) -> int:
    """Both box score views equal ``feed``'s official box score, field for field, for every
    player of both sides; returns how many fields were compared."""
    compared = 0
    for view, category, fields in (
        ("boxscore_batting", "batting", BATTING_FIELDS),
        ("boxscore_pitching", "pitching", PITCHING_FIELDS),
    ):
        for side in ("home", "away"):
            official = {
                person: {f: stats[f] for f in fields}
                for person, stats in official_lines(feed, side, category).items()
            }
            got = box_score_view(dsn, view, fields, side, int(feed["gamePk"]))
            assert got == official, (view, side)
            compared += sum(len(line) for line in official.values())
    return compared
