"""The demo path end to end on the real local stack: real game → Kafka → Bytewax worker
process → PostgreSQL, S3 and the event topics, and the box score folded from the topics."""

from __future__ import annotations

import gzip
from collections import defaultdict
from typing import Any

import orjson
import psycopg
import pytest

from connectors import s3
from connectors.event_serde import decode_event_value
from connectors.kafka_read import Mark, mark, read_topic
from connectors.records import TOPIC_OF_KIND
from mlbsts import demo
from mlbsts.settings import Settings
from sim.simulate import simulate
from sim.sources import run_engine
from tests.conftest import FIXTURE_GAME_PK
from tests.unit.official_boxscore import differences

pytestmark = pytest.mark.e2e

EVERY = 10


@pytest.fixture(scope="module")
def before(stack_settings: Settings) -> dict[str, Mark]:
    """Where each event topic was before this run (the topics are shared with demos)."""
    return {t: mark(stack_settings, t) for t in TOPIC_OF_KIND.values()}


@pytest.fixture(scope="module")
def ran(stack_settings: Settings, before: dict[str, Mark]) -> demo.DemoResult:
    return demo.run_demo(stack_settings, demo.FIXTURE_FEED, EVERY, lambda *_: None, timeout_s=240)


def test_every_distinct_snapshot_is_stored_once_in_postgres(
    ran: demo.DemoResult, stack_settings: Settings, fixture_feed: dict[str, Any]
) -> None:
    snapshots = simulate(fixture_feed, EVERY)
    stamps = {s["metaData"]["timeStamp"] for s in snapshots}
    with psycopg.connect(stack_settings.postgres_dsn.get_secret_value()) as conn:
        rows = conn.execute(
            "SELECT feed_timestamp, game_date, s3_key, payload FROM raw_game_snapshots "
            "WHERE game_pk = %s",
            (FIXTURE_GAME_PK,),
        ).fetchall()
    assert ran.raw_rows == len(rows) == len(stamps)
    assert {r[0] for r in rows} == stamps
    final = next(r for r in rows if r[0] == fixture_feed["metaData"]["timeStamp"])
    assert str(final[1]) == fixture_feed["gameData"]["datetime"]["officialDate"]
    assert final[3] == fixture_feed  # the JSONB is the real feed, unchanged


def test_every_snapshot_is_archived_gzip_at_its_deterministic_key(
    ran: demo.DemoResult, stack_settings: Settings, fixture_feed: dict[str, Any]
) -> None:
    stamp = fixture_feed["metaData"]["timeStamp"]
    key = f"raw/date=2024-07-01/game_pk={FIXTURE_GAME_PK}/{stamp}.json.gz"
    client = s3.client(stack_settings)
    body = client.get_object(stack_settings.s3_bucket, key).read()
    assert orjson.loads(gzip.decompress(body)) == fixture_feed
    assert ran.s3_objects == len(
        {s["metaData"]["timeStamp"] for s in simulate(fixture_feed, EVERY)}
    )


def test_topics_hold_exactly_the_engine_events_repeats_only_as_exact_duplicates(
    stack_settings: Settings,
    ran: demo.DemoResult,
    before: dict[str, Mark],
    fixture_feed: dict[str, Any],
) -> None:
    expected = {e.event_id for e in run_engine(simulate(fixture_feed, EVERY))}
    seen: dict[tuple[str, int], set[bytes]] = defaultdict(set)
    for topic in TOPIC_OF_KIND.values():
        for msg in read_topic(stack_settings, topic, start=before[topic]):
            if msg.key() == str(FIXTURE_GAME_PK).encode():
                event = decode_event_value(topic, msg.value())
                seen[(event.event_id, event.revision)].add(msg.value())
    assert {event_id for event_id, _ in seen} == set(expected)
    assert all(len(values) == 1 for values in seen.values())  # repeats are exact duplicates
    assert sum(len(v) for v in seen.values()) == len(seen)  # this run wrote each once


def test_box_score_from_the_topics_equals_the_official_one(
    ran: demo.DemoResult, fixture_feed: dict[str, Any]
) -> None:
    compared, bad = differences(fixture_feed, ran.box)
    assert compared > 300
    assert bad == []


def test_a_second_demo_adds_nothing_to_the_log_and_prints_the_same_box_score(
    ran: demo.DemoResult, stack_settings: Settings, fixture_feed: dict[str, Any]
) -> None:
    stamps = {s["metaData"]["timeStamp"] for s in simulate(fixture_feed, EVERY)}
    assert stamps <= demo.timestamps_in_log(stack_settings, FIXTURE_GAME_PK)
    again = demo.run_demo(stack_settings, demo.FIXTURE_FEED, EVERY, lambda *_: None, timeout_s=240)
    assert again.snapshots_published == 0
    assert again.snapshots_already_in_log == len(simulate(fixture_feed, EVERY))
    assert again.raw_rows == ran.raw_rows
    assert again.box == ran.box
