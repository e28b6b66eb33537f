"""How often the game tables are refreshed (``connectors.pg_game_tables.Refresh``), on the
real local stack: the worker's gate (every 15 s of feed time) and a replay's (each game's
newest held-back snapshot at every epoch's end, through ``BackgroundSink``, and at the
close). Real snapshots of game 744914, one per pitch, through the sink's partition as the
flow hands them over (helpers and ``dsn`` in ``test_pg_normalized.py``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import psycopg
import pytest

from connectors import pg_game_rows as gr
from connectors import pg_game_tables as gt
from connectors.background_sink import BackgroundSink
from flows.game.accepted import AcceptedSnapshot
from flows.game.feed import decode_head
from tests.integration.test_pg_normalized import _accepted, _snapshots, dsn

pytestmark = pytest.mark.integration
__all__ = ["dsn"]  # the fixture, shared with test_pg_normalized.py

JSON = dict[str, Any]


def _with_head(body: bytes) -> AcceptedSnapshot:
    """As the flow hands it over: with the engine's head from validation's scan."""
    return dataclasses.replace(_accepted(body), head=decode_head(body))


def _run(dsn: str, items: list[AcceptedSnapshot], refresh: gt.Refresh) -> tuple[str, str]:
    """One item per batch; the ``games`` row's ``source_ts`` before and after the close."""
    part = gt.GameTablesSink(dsn, refresh=refresh).build("games", 0, 1)
    try:
        for item in items:
            part.write_batch([item])
        before = _games_ts(dsn)
    finally:
        part.close()
    return before, _games_ts(dsn)


def _games_ts(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT source_ts FROM games").fetchone()
    assert row is not None
    return str(row[0])


def _tables(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(dsn) as conn:
        return {
            t.name: sorted(conn.execute(f"SELECT * FROM {t.name}").fetchall(), key=repr)
            for t in gr.GAME_TABLES
        }


def _mid_game(fixture_feed: JSON) -> list[bytes]:
    """The snapshots (one per pitch) from the first to one past the middle of the game
    that a replay's gate holds back: a range ending live, on a snapshot not yet written."""
    snapshots = _snapshots(fixture_feed, every=1)
    gate = gt.RefreshGate(gt.REPLAY_REFRESH.every)
    for n, body in enumerate(snapshots):
        feed = orjson.loads(body)
        status = feed["gameData"]["status"]
        args = (feed["gamePk"], feed["metaData"]["timeStamp"])
        label = f"{status['abstractGameState']}/{status['detailedState']}"
        if gate.due(*args, label):
            gate.written(*args, label)
        elif n > len(snapshots) // 2:
            assert status["abstractGameState"] == "Live"
            return snapshots[: n + 1]
    raise AssertionError("no snapshot past the middle is held back")


@pytest.mark.parametrize("head", [True, False], ids=["flow_head", "no_head"])
def test_a_replay_refreshes_seldom_and_ends_on_the_newest_snapshot(
    dsn: str, fixture_feed: JSON, head: bool
) -> None:
    snapshots = _mid_game(fixture_feed)
    items = [(_with_head if head else _accepted)(body) for body in snapshots]
    newest = orjson.loads(snapshots[-1])["metaData"]["timeStamp"]
    before, after = _run(dsn, items, gt.REPLAY_REFRESH)
    assert before < newest  # the gate held the last ones back ...
    assert after == newest  # ... and the close wrote the newest
    replayed = _tables(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE " + ", ".join(t.name for t in gr.GAME_TABLES))
    part = gt.GameTablesSink(dsn).build("games", 0, 1)
    try:
        part.write_batch([_accepted(snapshots[-1])])  # the newest alone, never gated
    finally:
        part.close()
    assert _tables(dsn) == replayed


def test_the_worker_does_not_write_on_close(dsn: str, fixture_feed: JSON) -> None:
    """The worker's gate (15 s of feed time) holds nothing back for a close: its tables
    are what its last refresh wrote."""
    snapshots = _mid_game(fixture_feed)
    before, after = _run(dsn, [_with_head(b) for b in snapshots], gt.LIVE_REFRESH)
    assert after == before


def test_a_whole_game_replayed_ends_as_the_worker_does(dsn: str, fixture_feed: JSON) -> None:
    snapshots = _snapshots(fixture_feed, every=1)
    _run(dsn, [_with_head(b) for b in snapshots], gt.LIVE_REFRESH)
    worker = _tables(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE " + ", ".join(t.name for t in gr.GAME_TABLES))
    before, after = _run(dsn, [_with_head(b) for b in snapshots], gt.REPLAY_REFRESH)
    assert before == after == orjson.loads(snapshots[-1])["metaData"]["timeStamp"]
    assert _tables(dsn) == worker


def test_a_replay_epoch_ends_with_every_games_newest_snapshot(dsn: str, fixture_feed: JSON) -> None:
    """At an epoch's end (``snapshot()``) the held snapshots are written: a committed
    epoch's tables are up to date, so a resumed replay has no refresh to redo."""
    snapshots = _mid_game(fixture_feed)
    sink = BackgroundSink(
        gt.GameTablesSink(dsn, refresh=gt.REPLAY_REFRESH), lambda i: str(i.envelope.gamePk), 1
    )
    part = sink.build_part("games", "0", None)
    try:
        half = len(snapshots) // 2
        part.write_batch([_with_head(b) for b in snapshots[:half]])
        part.snapshot()
        assert _games_ts(dsn) == orjson.loads(snapshots[half - 1])["metaData"]["timeStamp"]
        part.write_batch([_with_head(b) for b in snapshots[half:]])
        part.snapshot()
        assert _games_ts(dsn) == orjson.loads(snapshots[-1])["metaData"]["timeStamp"]
    finally:
        part.close()
