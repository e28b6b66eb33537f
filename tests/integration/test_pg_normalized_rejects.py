"""Rows the database refuses (a NUL character) go to the dead letters, and the normalized
and raw sinks go on (real local stack, fresh schema per test; helpers in
``test_pg_normalized.py``)."""

from __future__ import annotations

import orjson
import psycopg
import pytest

from connectors import pg_game_tables as gt
from connectors import pg_normalized as pn
from connectors.postgres import PostgresError
from connectors.raw_sinks import RawPostgresSink
from flows.game.dead_letters import DeadLetter, ErrorClass
from flows.game.events import PlayEvent
from tests.integration.test_pg_normalized import (
    JSON,
    _accepted,
    _batches,
    _dump,
    _snapshots,
    dsn,
)

pytestmark = pytest.mark.integration
__all__ = ["dsn"]  # the fixture, shared with test_pg_normalized.py


def _with_nul(body: bytes) -> bytes:
    """The same real snapshot with a NUL character in the venue's name: valid JSON that
    passes validation, but PostgreSQL refuses it in JSONB (SQLSTATE 22P05) and in text."""
    feed = orjson.loads(body)
    feed["gameData"]["venue"]["name"] += "\u0000"
    return orjson.dumps(feed)


def test_raw_sink_sends_a_row_the_database_refuses_to_the_dead_letters(
    dsn: str, fixture_feed: JSON
) -> None:
    first, middle, last = _snapshots(fixture_feed, every=30)[:3]
    bad = _accepted(_with_nul(middle))
    letters: list[DeadLetter] = []
    sink = RawPostgresSink(dsn, letters.append).build("raw", 0, 1)
    try:
        sink.write_batch([_accepted(first), bad, _accepted(last)])
    finally:
        sink.close()
    with psycopg.connect(dsn) as conn:
        stored = [r[0] for r in conn.execute("SELECT feed_timestamp FROM raw_game_snapshots")]
    stamp = orjson.loads(middle)["metaData"]["timeStamp"]
    assert sorted(stored) == sorted(orjson.loads(b)["metaData"]["timeStamp"] for b in (first, last))
    assert [(d.error_class, d.gamePk) for d in letters] == [
        (ErrorClass.DB_REJECTED, fixture_feed["gamePk"])
    ]
    assert "raw_game_snapshots" in letters[0].reason and stamp in letters[0].reason


def test_game_tables_sink_sends_a_refused_snapshot_to_the_dead_letters(
    dsn: str, fixture_feed: JSON
) -> None:
    snapshots = _snapshots(fixture_feed, every=30)
    letters: list[DeadLetter] = []
    sink = gt.GameTablesSink(dsn, letters.append).build("games", 0, 1)
    try:
        sink.write_batch([_accepted(_with_nul(snapshots[0]))])
        assert [d.error_class for d in letters] == [ErrorClass.DB_REJECTED]
        assert _dump(dsn)["games"] == []
        sink.write_batch([_accepted(snapshots[-1])])  # the flow goes on
    finally:
        sink.close()
    assert len(_dump(dsn)["games"]) == 1 and len(letters) == 1


def test_without_a_dead_letter_producer_a_refused_row_stops_the_sink(
    dsn: str, fixture_feed: JSON
) -> None:
    sink = RawPostgresSink(dsn).build("raw", 0, 1)
    try:
        with pytest.raises(PostgresError, match="raw_game_snapshots"):
            sink.write_batch([_accepted(_with_nul(_snapshots(fixture_feed)[0]))])
    finally:
        sink.close()


def test_events_sink_sends_a_refused_snapshots_events_to_the_dead_letters(
    dsn: str, fixture_feed: JSON
) -> None:
    first, second = _snapshots(fixture_feed, every=30)[:2]
    feed = orjson.loads(second)
    play = next(
        p for p in reversed(feed["liveData"]["plays"]["allPlays"]) if p["result"].get("description")
    )
    play["result"]["description"] += "\u0000"  # PostgreSQL text cannot hold NUL
    # (a newer snapshot mending the play would supersede the bad row before it is written)
    batches = _batches([first, orjson.dumps(feed)])
    assert all(b.events for b in batches)
    letters: list[DeadLetter] = []
    sink = pn.NormalizedEventsSink(dsn, letters.append).build("events", 0, 1)
    try:
        sink.write_batch(batches)
    finally:
        sink.close()
    assert [(d.error_class, d.gamePk) for d in letters] == [
        (ErrorClass.DB_REJECTED, fixture_feed["gamePk"])
    ]
    assert f"events of snapshot {batches[1].source_ts}" in letters[0].reason
    with psycopg.connect(dsn) as conn:
        stored = {row[0] for row in conn.execute("SELECT event_id FROM plays")}
    assert {e.event_id for e in batches[0].events if isinstance(e, PlayEvent)} <= stored
