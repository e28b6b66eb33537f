"""The live-statistics sinks on the real local stack: Redis live state and Postgres tables."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import bytewax.operators as op
import msgspec
import psycopg
import pytest
import redis
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main
from psycopg.conninfo import make_conninfo

from connectors.pg_stats import (
    PgLiveStatsSink,
    PgPitcherStatsSink,
    PgWindowStatsSink,
    write_live_stats,
    write_pitcher_stats,
    write_window_stats,
)
from connectors.redis_state import LIVE_SET_KEY, RedisLiveStateSink, game_key
from flows.live_stats import FlowSinks, build_flow
from flows.stats.live_box import LiveStats
from flows.stats.pitchers import PitcherGameState, PitcherStats, pitcher_step
from flows.stats.windows import WindowStats
from mlbsts.paths import PROJECT_ROOT
from mlbsts.settings import Settings
from tests.flow.test_live_stats_flow import _messages
from tests.unit.official_boxscore import differences, official_lines
from tests.unit.test_stats_live_box import batches_of, run
from tests.unit.test_stats_windows import feed_items, fold

pytestmark = pytest.mark.integration

JSON = dict[str, Any]


@pytest.fixture(scope="module")
def live_states(fixture_feed: JSON) -> list[LiveStats]:
    _, out = run(batches_of(fixture_feed, 50))
    return out


def _sink_run(items: list[Any], sink: Any) -> None:
    flow = Dataflow("stats_sink_test")
    op.output("write", op.input("items", flow, TestingSource(items)), sink)
    run_main(flow)


@pytest.fixture
def redis_game(
    stack_settings: Settings, live_states: list[LiveStats]
) -> Iterator[tuple[redis.Redis, int]]:
    client = redis.Redis.from_url(stack_settings.redis_url)
    fake_pk = 900_000_000 + uuid.uuid4().int % 1_000_000  # a game no other test touches
    yield client, fake_pk
    client.delete(game_key(fake_pk))
    client.zrem(LIVE_SET_KEY, fake_pk)
    client.close()


def test_redis_keeps_the_newest_state(
    stack_settings: Settings, live_states: list[LiveStats], redis_game: tuple[redis.Redis, int]
) -> None:
    client, pk = redis_game
    states = [msgspec.structs.replace(s, gamePk=pk) for s in live_states]
    middle, final = states[len(states) // 2], states[-1]
    assert not middle.is_final and final.is_final
    sink = RedisLiveStateSink(stack_settings)

    _sink_run([middle], sink)
    stored = msgspec.json.decode(client.get(game_key(pk)))
    assert stored["source_ts"] == middle.source_ts
    assert client.zscore(LIVE_SET_KEY, pk) is not None
    assert 0 < client.ttl(game_key(pk)) <= stack_settings.redis_live_ttl_s

    _sink_run([states[1]], sink)  # older: refused
    assert msgspec.json.decode(client.get(game_key(pk)))["source_ts"] == middle.source_ts

    _sink_run([final, states[2], middle], sink)  # newest in the batch wins, older never
    stored = msgspec.json.decode(client.get(game_key(pk)))
    assert stored["source_ts"] == final.source_ts and stored["abstractGameState"] == "Final"
    assert client.zscore(LIVE_SET_KEY, pk) is None
    assert 0 < client.ttl(game_key(pk)) <= stack_settings.redis_live_final_ttl_s

    _sink_run([middle], sink)  # a replayed older record after Final changes nothing
    assert msgspec.json.decode(client.get(game_key(pk)))["source_ts"] == final.source_ts
    assert client.zscore(LIVE_SET_KEY, pk) is None


@pytest.fixture
def stats_dsn(
    stack_settings: Settings, pg_schema: str, pg_conn: psycopg.Connection[tuple[object, ...]]
) -> str:
    """The fresh test schema with sql/0003 and 0004 applied; a DSN whose search_path is that
    schema."""
    for name in ("0003_live_stats.sql", "0004_pitcher_stats.sql"):
        pg_conn.execute((PROJECT_ROOT / "sql" / name).read_text())
    pg_conn.commit()
    return make_conninfo(
        stack_settings.postgres_dsn.get_secret_value(), options=f"-c search_path={pg_schema}"
    )


def test_postgres_live_box_score_is_official_and_defensive(
    fixture_feed: JSON, live_states: list[LiveStats], stats_dsn: str
) -> None:
    final = live_states[-1]
    _sink_run([live_states[1], final, live_states[2]], PgLiveStatsSink(stats_dsn))
    with psycopg.connect(stats_dsn) as conn:
        write_live_stats(conn, [live_states[0]])  # older, alone in its batch: refused
        row = conn.execute(
            "SELECT source_ts, abstract_game_state, box, linescore, home_runs FROM live_box_scores"
            " WHERE game_pk = %s",
            (fixture_feed["gamePk"],),
        ).fetchone()
    assert row is not None
    source_ts, status, box, linescore, home_runs = row
    assert (source_ts, status) == (final.source_ts, "Final")
    compared, bad = differences(fixture_feed, box)
    assert compared > 300 and bad == []
    assert linescore == box["linescore"]
    assert home_runs == fixture_feed["liveData"]["linescore"]["teams"]["home"]["runs"]


def test_postgres_windows_newest_source_ts_wins(fixture_feed: JSON, stats_dsn: str) -> None:
    events = [e for b in batches_of(fixture_feed, 10) for e in b.events]
    windows = sorted(fold(feed_items(events)).values(), key=lambda w: w.window_start)
    _sink_run(windows, PgWindowStatsSink(stats_dsn))
    first = windows[0]
    older = msgspec.structs.replace(first, source_ts="20000101_000000", pitches=999)
    newer = msgspec.structs.replace(first, source_ts="29990101_000000", pitches=first.pitches + 1)
    with psycopg.connect(stats_dsn) as conn:
        write_window_stats(conn, [older])
        assert _pitches(conn, first) == first.pitches
        write_window_stats(conn, [newer])
        assert _pitches(conn, first) == first.pitches + 1
        total = conn.execute("SELECT count(*), sum(pitches) FROM stats_windows").fetchone()
    assert total == (len(windows), sum(w.pitches for w in windows) + 1)


def _pitches(conn: psycopg.Connection[tuple[object, ...]], window: WindowStats) -> object:
    row = conn.execute(
        "SELECT pitches FROM stats_windows WHERE window_start = %s", (window.window_start,)
    ).fetchone()
    return None if row is None else row[0]


PITCHER_EVERY = 10  # snapshots every 10 pitches: each pitcher's figures change many times

#: the columns of pitcher_live_stats in the order of PitcherStats' fields
PITCHER_COLUMNS = (
    "game_pk, pitcher_id, source_ts, pitches, last_n, velo_mean, velo_max, window_start,"
    " window_pitches, window_velo_mean, window_velo_max, fastballs, fb_baseline, fb_recent,"
    " fatigue"
)


@pytest.fixture(scope="module")
def pitcher_states(fixture_feed: JSON) -> list[PitcherStats]:
    """Every PitcherStats of the real game, in the order the flow's step emits them."""
    state: PitcherGameState | None = None
    out: list[PitcherStats] = []
    for batch in batches_of(fixture_feed, PITCHER_EVERY):
        state, emitted = pitcher_step(state, batch)
        out.extend(emitted)
    return out


def _latest(states: list[PitcherStats]) -> dict[tuple[int, int], PitcherStats]:
    out: dict[tuple[int, int], PitcherStats] = {}
    for s in states:
        out[(s.gamePk, s.pitcherId)] = s
    return out


def _pitcher_rows(
    conn: psycopg.Connection[tuple[object, ...]],
) -> dict[tuple[int, int], tuple[Any, ...]]:
    rows = conn.execute(f"SELECT {PITCHER_COLUMNS} FROM pitcher_live_stats").fetchall()
    return {(int(str(r[0])), int(str(r[1]))): tuple(r) for r in rows}


def _updated_at(
    conn: psycopg.Connection[tuple[object, ...]],
) -> dict[tuple[object, object], object]:
    rows = conn.execute("SELECT game_pk, pitcher_id, updated_at FROM pitcher_live_stats")
    return {(g, p): at for g, p, at in rows.fetchall()}


def test_postgres_pitcher_stats_latest_per_pitcher_and_defensive(
    fixture_feed: JSON, pitcher_states: list[PitcherStats], stats_dsn: str
) -> None:
    latest = _latest(pitcher_states)
    assert len(pitcher_states) > 2 * len(latest)  # many versions per pitcher, not one each
    # the second half first, reversed: however the sink batches them, older ones never win
    half = len(pitcher_states) // 2
    shuffled = pitcher_states[half:][::-1] + pitcher_states[:half]
    _sink_run(shuffled, PgPitcherStatsSink(stats_dsn))
    with psycopg.connect(stats_dsn) as conn:
        rows = _pitcher_rows(conn)
        assert rows == {k: msgspec.structs.astuple(s) for k, s in latest.items()}
        official = {
            (fixture_feed["gamePk"], int(pid)): line["numberOfPitches"]
            for side in ("home", "away")
            for pid, line in official_lines(fixture_feed, side, "pitching").items()
        }
        assert {k: r[3] for k, r in rows.items()} == official  # pitches: MLB's own count

        # an older version of a pitcher, alone in its batch or before the newest: refused
        key, last = next((k, s) for k, s in latest.items() if s.pitches > 50)
        first = next(s for s in pitcher_states if (s.gamePk, s.pitcherId) == key)
        assert first.source_ts < last.source_ts and first.pitches < last.pitches
        stale = msgspec.structs.replace(last, source_ts="20000101_000000", pitches=999)
        before = _updated_at(conn)
        write_pitcher_stats(conn, [first])
        write_pitcher_stats(conn, [stale, first])
        assert _pitcher_rows(conn) == rows and _updated_at(conn) == before

        # the same items again (a replay after a resume): nothing is rewritten
        write_pitcher_stats(conn, pitcher_states)
        assert _pitcher_rows(conn) == rows and _updated_at(conn) == before

        # a strictly newer version replaces the row, and only that row
        newer = msgspec.structs.replace(last, source_ts="29990101_000000", pitches=last.pitches + 1)
        write_pitcher_stats(conn, [newer, first])  # the newest in a batch wins
        assert _pitcher_rows(conn) == {**rows, key: msgspec.structs.astuple(newer)}


def test_flow_writes_pitcher_stats_to_postgres(
    fixture_feed: JSON, pitcher_states: list[PitcherStats], stats_dsn: str
) -> None:
    """build_flow sends ``live.pitchers`` to ``FlowSinks.pitchers_postgres``."""
    pg: list[Any] = []
    s3: list[Any] = []
    log: list[Any] = []
    sinks = FlowSinks(
        TestingSink(pg),
        TestingSink(s3),
        TestingSink(log),
        pitchers_postgres=PgPitcherStatsSink(stats_dsn),
    )
    run_main(build_flow(TestingSource(_messages(fixture_feed, PITCHER_EVERY)), sinks))
    with psycopg.connect(stats_dsn) as conn:
        rows = _pitcher_rows(conn)
    expected = {k: msgspec.structs.astuple(s) for k, s in _latest(pitcher_states).items()}
    assert rows == expected
