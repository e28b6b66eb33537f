"""Two raw snapshots with the same (game, feed timestamp) and different content: PostgreSQL
keeps the later one on the log, whatever order the writes arrive in, as S3 does (real
local stack, fresh schema; the ``dsn`` fixture of ``test_pg_normalized.py``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import psycopg
import pytest

from connectors import postgres
from connectors.raw_sinks import RawPostgresSink
from flows.game.accepted import AcceptedSnapshot
from sim.simulate import simulate
from tests.integration.test_pg_normalized import _accepted, dsn

pytestmark = pytest.mark.integration
__all__ = ["dsn"]  # the fixture, shared with test_pg_normalized.py


def _two_answers(feed: dict[str, Any]) -> tuple[AcceptedSnapshot, AcceptedSnapshot]:
    """One feed timestamp, two bodies (MLB corrected a play without a new time stamp), at
    offsets 40 and 41 of partition 2."""
    snap = simulate(feed, 60)[1]
    first = orjson.dumps(snap)
    snap["liveData"]["plays"]["allPlays"][0]["result"]["description"] = "corrected"
    second = orjson.dumps(snap)
    return (
        dataclasses.replace(_accepted(first), topic="raw", partition=2, offset=40),
        dataclasses.replace(_accepted(second), topic="raw", partition=2, offset=41),
    )


def _stored(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        query = "SELECT kafka_offset, payload, stored_at FROM raw_game_snapshots"
        return conn.execute(query).fetchall()


@pytest.mark.parametrize("later_first", [False, True])
def test_the_later_record_on_the_log_wins(
    dsn: str, fixture_feed: dict[str, Any], later_first: bool
) -> None:
    earlier, later = _two_answers(fixture_feed)
    assert earlier.envelope.feed_timestamp == later.envelope.feed_timestamp
    sink = RawPostgresSink(dsn).build("raw", 0, 1)
    try:
        for item in [later, earlier] if later_first else [earlier, later]:
            sink.write_batch([item])  # separate writes: any order a resume could give
        ((offset, payload, stored_at),) = _stored(dsn)
        assert offset == 41 and payload == orjson.loads(later.payload_json)
        sink.write_batch([earlier, later])  # a replayed epoch changes nothing
        assert _stored(dsn) == [(offset, payload, stored_at)]
    finally:
        sink.close()


def test_a_row_without_a_log_position_gives_way_to_one_with_it(
    dsn: str, fixture_feed: dict[str, Any]
) -> None:
    earlier, later = _two_answers(fixture_feed)
    unplaced = dataclasses.replace(earlier, topic=None, partition=None, offset=None)
    with postgres.connect(dsn) as conn:
        for item in (unplaced, unplaced, later):
            postgres.write_raw_snapshots(conn, [_row(item)])
    ((offset, payload, _),) = _stored(dsn)
    assert offset == 41 and payload == orjson.loads(later.payload_json)


def _row(item: AcceptedSnapshot) -> postgres.RawSnapshotRow:
    return postgres.RawSnapshotRow(
        envelope=item.envelope,
        game_date=item.game_date,
        payload_json=item.payload_json,
        s3_key=None,
        kafka_topic=item.topic,
        kafka_partition=item.partition,
        kafka_offset=item.offset,
    )
