"""PostgreSQL edge for live statistics: the latest box score per game, the league windows.

Tables from ``sql/0003_live_stats.sql``. Each sink upserts defensively: a row is replaced
only when the incoming ``source_ts`` is strictly newer than the stored one, so a replay, a
reordered record or the repeated last epoch after a resume never overwrites newer data.
Exceptions: :class:`connectors.postgres.PostgresError` (the database refused a write or is
unreachable; says which table and keys).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import orjson
import psycopg
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from psycopg.types.json import Jsonb

from connectors.postgres import PostgresError, Session
from connectors.sink_retry import sink_retry
from flows.stats.live_box import LiveStats
from flows.stats.windows import WindowStats

__all__ = [
    "PgLiveStatsSink",
    "PgWindowStatsSink",
    "write_live_stats",
    "write_window_stats",
]

log = logging.getLogger(__name__)

Connection = psycopg.Connection[tuple[object, ...]]

_UPSERT_LIVE = """
INSERT INTO live_box_scores AS t (
    game_pk, source_ts, abstract_game_state, detailed_state, away_runs, away_hits,
    away_errors, home_runs, home_hits, home_errors, box, linescore, updated_at
) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())
ON CONFLICT (game_pk) DO UPDATE SET
    source_ts = EXCLUDED.source_ts,
    abstract_game_state = EXCLUDED.abstract_game_state,
    detailed_state = EXCLUDED.detailed_state,
    away_runs = EXCLUDED.away_runs,
    away_hits = EXCLUDED.away_hits,
    away_errors = EXCLUDED.away_errors,
    home_runs = EXCLUDED.home_runs,
    home_hits = EXCLUDED.home_hits,
    home_errors = EXCLUDED.home_errors,
    box = EXCLUDED.box,
    linescore = EXCLUDED.linescore,
    updated_at = now()
WHERE EXCLUDED.source_ts > t.source_ts
"""

_UPSERT_WINDOW = """
INSERT INTO stats_windows AS t (
    window_start, window_end, source_ts, games, pitches, balls_in_play, exit_velocity_n,
    exit_velocity_avg, home_runs, updated_at
) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, now())
ON CONFLICT (window_start) DO UPDATE SET
    window_end = EXCLUDED.window_end,
    source_ts = EXCLUDED.source_ts,
    games = EXCLUDED.games,
    pitches = EXCLUDED.pitches,
    balls_in_play = EXCLUDED.balls_in_play,
    exit_velocity_n = EXCLUDED.exit_velocity_n,
    exit_velocity_avg = EXCLUDED.exit_velocity_avg,
    home_runs = EXCLUDED.home_runs,
    updated_at = now()
WHERE EXCLUDED.source_ts > t.source_ts
"""


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


def _execute(conn: Connection, query: str, params: list[tuple[object, ...]], what: str) -> None:
    try:
        with conn.cursor() as cur:
            cur.executemany(query, params)
        conn.commit()
    except psycopg.Error as e:
        conn.rollback()
        raise PostgresError(f"{what}: upsert failed: {e}") from e


def write_live_stats(conn: Connection, items: Sequence[LiveStats]) -> None:
    """Upsert the newest live box score of each game in ``items`` (one transaction)."""
    newest: dict[int, LiveStats] = {}
    for item in items:
        kept = newest.get(item.gamePk)
        if kept is None or item.source_ts >= kept.source_ts:
            newest[item.gamePk] = item
    if not newest:
        return
    params: list[tuple[object, ...]] = [
        (
            s.gamePk,
            s.source_ts,
            s.abstractGameState,
            s.detailedState,
            s.away_runs,
            s.away_hits,
            s.away_errors,
            s.home_runs,
            s.home_hits,
            s.home_errors,
            Jsonb(s.box, dumps=_json),
            Jsonb(s.linescore, dumps=_json),
        )
        for s in newest.values()
    ]
    _execute(conn, _UPSERT_LIVE, params, f"live_box_scores (games {sorted(newest)})")


def write_window_stats(conn: Connection, items: Sequence[WindowStats]) -> None:
    """Upsert league windows (one transaction); the newest ``source_ts`` per window wins."""
    newest: dict[object, WindowStats] = {}
    for item in items:
        kept = newest.get(item.window_start)
        if kept is None or item.source_ts >= kept.source_ts:
            newest[item.window_start] = item
    if not newest:
        return
    params: list[tuple[object, ...]] = [
        (
            w.window_start,
            w.window_end,
            w.source_ts,
            w.games,
            w.pitches,
            w.balls_in_play,
            w.exit_velocity_n,
            w.exit_velocity_avg,
            w.home_runs,
        )
        for w in newest.values()
    ]
    _execute(conn, _UPSERT_WINDOW, params, f"stats_windows ({len(params)} windows)")


_transient = sink_retry(PostgresError)


class _LivePartition(StatelessSinkPartition[LiveStats]):
    def __init__(self, dsn: str) -> None:
        self._session = Session(dsn)

    @_transient
    def write_batch(self, items: list[LiveStats]) -> None:
        self._session.run(lambda conn: write_live_stats(conn, items))

    def close(self) -> None:
        self._session.close()


class _WindowPartition(StatelessSinkPartition[WindowStats]):
    def __init__(self, dsn: str) -> None:
        self._session = Session(dsn)

    @_transient
    def write_batch(self, items: list[WindowStats]) -> None:
        self._session.run(lambda conn: write_window_stats(conn, items))

    def close(self) -> None:
        self._session.close()


class PgLiveStatsSink(DynamicSink[LiveStats]):
    """Upserts each game's latest live box score into ``live_box_scores``; idempotent."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _LivePartition:
        return _LivePartition(self._dsn)


class PgWindowStatsSink(DynamicSink[WindowStats]):
    """Upserts closed league windows into ``stats_windows``; idempotent."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _WindowPartition:
        return _WindowPartition(self._dsn)
