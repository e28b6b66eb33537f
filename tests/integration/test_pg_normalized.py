"""The normalized PostgreSQL tier on the real local stack, in a fresh schema per test.

Migrations 0001 and 0002* are applied into the test's schema; a real game's snapshots
(``simulate(feed, 10)``) go through the snapshot diff and into the sinks, exactly as the
flow hands them over (one ``EventBatch`` per snapshot, one ``AcceptedSnapshot`` each).
This file holds the tables' tests and the helpers (and ``dsn`` fixture) of the others:
``test_pg_normalized_views.py`` (box score views) and ``test_pg_normalized_rejects.py``
(rows the database refuses).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import msgspec
import orjson
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from connectors import pg_game_rows as gr
from connectors import pg_game_tables as gt
from connectors import pg_normalized as pn
from connectors import pg_upsert
from flows.game.accepted import AcceptedSnapshot
from flows.game.batches import EventBatch
from flows.game.envelope import make_envelope, official_date_of
from flows.game.events import Event, GameEvent, PlayEvent, Retraction
from flows.game.snapshot_diff import GameState, step
from mlbsts.settings import Settings
from sim.simulate import simulate

pytestmark = pytest.mark.integration

JSON = dict[str, Any]
Conn = psycopg.Connection[tuple[object, ...]]
SQL_DIR = Path(__file__).parents[2] / "sql"
ALL_TABLES = (*pn.EVENT_TABLES, *gr.GAME_TABLES)
CORPUS_GAMES = ("718096", "746551")  # two reviews, no save; a repeated runner entry


@pytest.fixture
def dsn(stack_settings: Settings, pg_conn: Conn, pg_schema: str) -> Iterator[str]:
    """A DSN into the test's schema, with the raw and normalized migrations applied."""
    for path in sorted(SQL_DIR.glob("000[12]*.sql")):
        pg_conn.execute(path.read_text())
    pg_conn.commit()
    yield make_conninfo(
        stack_settings.postgres_dsn.get_secret_value(), options=f"-csearch_path={pg_schema}"
    )


PERTURBED = {"seed": 7, "duplicates": 0.2, "reorder": 0.2, "gaps": 0.2, "corrections": 0.3}


def _snapshots(feed: JSON, every: int = 10, **perturb: Any) -> list[bytes]:
    return [orjson.dumps(s) for s in simulate(feed, every, **perturb)]


def _batches(snapshots: list[bytes]) -> list[EventBatch]:
    """What the flow's diff step emits: one batch per snapshot, fresh state (revision 0)."""
    state: GameState | None = None
    out: list[EventBatch] = []
    for body in snapshots:
        state, events = step(state, body)
        ts = orjson.loads(body)["metaData"]["timeStamp"]
        out.append(EventBatch(state.game_pk, date(2024, 7, 1), ts, tuple(events)))
    return out


def _accepted(body: bytes) -> AcceptedSnapshot:
    feed = orjson.loads(body)
    envelope = make_envelope(
        game_pk=feed["gamePk"],
        body=body,
        source_url="test",
        status_code=200,
        captured_at=datetime(2024, 7, 1, tzinfo=UTC),
        ingested_at=datetime(2024, 7, 1, tzinfo=UTC),
        feed=feed,
    )
    game_date = official_date_of(feed) or date(2024, 7, 1)
    return AcceptedSnapshot(envelope, b"", body, game_date, None, None, None)


def _write(dsn: str, batches: list[EventBatch], snapshots: list[bytes], per_item: bool) -> None:
    """Through the sinks' partitions: item by item (live) or all in one batch (replay)."""
    events = pn.NormalizedEventsSink(dsn).build("events", 0, 1)
    games = gt.GameTablesSink(dsn).build("games", 0, 1)
    try:
        if per_item:
            for batch, body in zip(batches, snapshots, strict=True):
                events.write_batch([batch])
                games.write_batch([_accepted(body)])
        else:
            events.write_batch(batches)
            games.write_batch([_accepted(body) for body in snapshots])
    finally:
        events.close()
        games.close()


def _dump(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(dsn) as conn:
        return {
            t.name: conn.execute(
                sql.SQL("SELECT * FROM {} ORDER BY {}").format(
                    sql.Identifier(t.name), sql.SQL(", ").join(map(sql.Identifier, t.key))
                )
            ).fetchall()
            for t in ALL_TABLES
        }


def _latest(batches: list[EventBatch]) -> dict[str, Event]:
    latest: dict[str, Event] = {}
    for batch in batches:
        for e in batch.events:
            old = latest.get(e.event_id)
            if old is None or (e.source_ts, e.revision) > (old.source_ts, old.revision):
                latest[e.event_id] = e
    return latest


def test_real_game_fills_every_table(dsn: str, fixture_feed: JSON) -> None:
    snapshots = _snapshots(fixture_feed)
    batches = _batches(snapshots)
    _write(dsn, batches, snapshots, per_item=True)
    dump = _dump(dsn)
    assert all(dump[t.name] for t in ALL_TABLES if t is not pn.REVIEWS), {
        name: len(rows) for name, rows in dump.items()
    }
    # one row per event identity, retracted as the event stream last said
    latest = _latest(batches)
    expected: Counter[str] = Counter()
    retracted: Counter[str] = Counter()
    for event_id, event in latest.items():
        table = pn.table_of_event_id(event_id)
        assert table is not None
        expected[table.name] += 1
        retracted[table.name] += isinstance(event, Retraction)
    with psycopg.connect(dsn) as conn:
        for table in pn.EVENT_TABLES:
            count, gone = conn.execute(
                sql.SQL("SELECT count(*), count(*) FILTER (WHERE retracted) FROM {}").format(
                    sql.Identifier(table.name)
                )
            ).fetchone() or (None, None)
            assert (count, gone) == (expected[table.name], retracted[table.name]), table.name
    # and the live rows are the final feed's
    plays = fixture_feed["liveData"]["plays"]["allPlays"]
    live = Counter(
        name for name, rows in dump.items() for row in rows if name in expected and not row[-1]
    )
    assert live["plays"] == len(plays)
    assert live["pitch_events"] == sum(
        1 for p in plays for e in p["playEvents"] if e["type"] != "action"
    )
    assert live["game_actions"] == sum(
        1 for p in plays for e in p["playEvents"] if e["type"] == "action"
    )
    assert live["runner_events"] == sum(len(p["runners"]) for p in plays)
    ld, gd = fixture_feed["liveData"], fixture_feed["gameData"]
    assert len(dump["players"]) == len(gd["players"])
    assert len(dump["linescore_innings"]) == 2 * len(ld["linescore"]["innings"])
    assert len(dump["game_officials"]) == len(ld["boxscore"]["officials"])
    assert dump["games"][0][gr.GAMES.columns.index("detailed_state")] == "Final"
    final_ts = fixture_feed["metaData"]["timeStamp"]
    assert dump["game_decisions"] == [(744914, 686613, 684320, 623352, final_ts)]
    with psycopg.connect(dsn) as conn:
        lists = conn.execute(
            "SELECT side, list_name, array_agg(player_id ORDER BY ordinal) "
            "FROM game_roster_lists GROUP BY side, list_name"
        ).fetchall()
    teams = ld["boxscore"]["teams"]
    assert {(side, name): ids for side, name, ids in lists} == {
        (side, name): teams[side][name]
        for side in ("home", "away")
        for name in ("battingOrder", "batters", "pitchers", "bench", "bullpen")
        if teams[side][name]
    }


def test_old_data_replayed_late_changes_nothing(dsn: str, fixture_feed: JSON) -> None:
    snapshots = _snapshots(fixture_feed)
    batches = _batches(snapshots)
    _write(dsn, batches, snapshots, per_item=True)
    before = _dump(dsn)
    old = [batches[0], batches[len(batches) // 2]]
    # the old batches do carry older versions of stored rows (else this proves nothing)
    status = [e for b in old for e in b.events if e.event_id == "game:744914:status"]
    assert [e.detailedState for e in status if isinstance(e, GameEvent)] == ["In Progress"]
    _write(dsn, old, [snapshots[0], snapshots[len(snapshots) // 2]], per_item=True)
    assert _dump(dsn) == before


def test_replay_from_scratch_converges_row_for_row(dsn: str, fixture_feed: JSON) -> None:
    snapshots = _snapshots(fixture_feed)
    _write(dsn, _batches(snapshots), snapshots, per_item=True)
    first = _dump(dsn)
    # a replay: a new diff state (revisions restart at 0), all in one sink batch
    _write(dsn, _batches(snapshots), snapshots, per_item=False)
    assert _dump(dsn) == first


def test_one_bulk_batch_equals_item_by_item(
    dsn: str, fixture_feed: JSON, stack_settings: Settings, pg_schema: str
) -> None:
    snapshots = _snapshots(fixture_feed)
    _write(dsn, _batches(snapshots), snapshots, per_item=False)
    bulk = _dump(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("TRUNCATE {}").format(
                sql.SQL(", ").join(sql.Identifier(t.name) for t in ALL_TABLES)
            )
        )
    _write(dsn, _batches(snapshots), snapshots, per_item=True)
    assert _dump(dsn) == bulk


def test_retraction_guard(dsn: str, fixture_feed: JSON) -> None:
    events = [e for b in _batches(_snapshots(fixture_feed)) for e in b.events]
    play = next(e for e in events if isinstance(e, PlayEvent))

    def retraction(revision: int, ts: str) -> Retraction:
        return Retraction(
            event_id=play.event_id,
            gamePk=play.gamePk,
            revision=revision,
            source_ts=ts,
            retracted_kind="play",
        )

    def state(conn: Conn) -> tuple[Any, ...] | None:
        return conn.execute(
            "SELECT retracted, revision, source_ts FROM plays WHERE event_id = %s",
            (play.event_id,),
        ).fetchone()

    later = "29990101_000000"
    with pg_upsert.connect(dsn, pn.EVENT_TABLES) as conn:
        pn.write_events(conn, [play])
        pn.write_events(conn, [retraction(play.revision + 1, play.source_ts)])
        assert state(conn) == (True, play.revision + 1, play.source_ts)
        pn.write_events(conn, [play])  # the old content again: still retracted
        assert state(conn) == (True, play.revision + 1, play.source_ts)
        pn.write_events(conn, [msgspec.structs.replace(play, revision=0, source_ts=later)])
        assert state(conn) == (False, 0, later)  # a newer feed brought it back
        pn.write_events(conn, [retraction(9, play.source_ts)])  # old retraction: ignored
        assert state(conn) == (False, 0, later)
