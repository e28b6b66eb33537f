"""PostgreSQL edge for live statistics: the latest box score per game, the league windows,
each pitcher's latest figures.

Tables from ``sql/0003_live_stats.sql`` and ``sql/0004_pitcher_stats.sql``. Each sink
upserts defensively: a row is replaced only when the incoming ``source_ts`` is strictly newer
than the stored one, so a replay, a reordered record or the repeated last epoch after a
resume never overwrites newer data.
Exceptions: :class:`connectors.postgres.PostgresError` (the database refused a write or is
unreachable; says which table and keys).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Sequence
from typing import Protocol, TypeVar

import orjson
import psycopg
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from psycopg.types.json import Jsonb

from connectors.postgres import PostgresError, Session
from connectors.sink_retry import sink_retry
from flows.stats.live_box import LiveStats
from flows.stats.pitchers import PitcherStats
from flows.stats.windows import WindowStats

__all__ = [
    "PgLiveStatsSink",
    "PgPitcherStatsSink",
    "PgWindowStatsSink",
    "write_live_stats",
    "write_pitcher_stats",
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

_UPSERT_PITCHER = """
INSERT INTO pitcher_live_stats AS t (
    game_pk, pitcher_id, source_ts, pitches, last_n, velo_mean, velo_max, window_start,
    window_pitches, window_velo_mean, window_velo_max, fastballs, fb_baseline, fb_recent,
    fatigue, updated_at
) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())
ON CONFLICT (game_pk, pitcher_id) DO UPDATE SET
    source_ts = EXCLUDED.source_ts,
    pitches = EXCLUDED.pitches,
    last_n = EXCLUDED.last_n,
    velo_mean = EXCLUDED.velo_mean,
    velo_max = EXCLUDED.velo_max,
    window_start = EXCLUDED.window_start,
    window_pitches = EXCLUDED.window_pitches,
    window_velo_mean = EXCLUDED.window_velo_mean,
    window_velo_max = EXCLUDED.window_velo_max,
    fastballs = EXCLUDED.fastballs,
    fb_baseline = EXCLUDED.fb_baseline,
    fb_recent = EXCLUDED.fb_recent,
    fatigue = EXCLUDED.fatigue,
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


class _Stamped(Protocol):
    @property
    def source_ts(self) -> str: ...


S = TypeVar("S", bound=_Stamped)
K = TypeVar("K", bound=Hashable)


def _newest(items: Sequence[S], key: Callable[[S], K]) -> dict[K, S]:
    """The item of each key with the newest ``source_ts`` (the later one on a tie)."""
    newest: dict[K, S] = {}
    for item in items:
        kept = newest.get(key(item))
        if kept is None or item.source_ts >= kept.source_ts:
            newest[key(item)] = item
    return newest


def write_live_stats(conn: Connection, items: Sequence[LiveStats]) -> None:
    """Upsert the newest live box score of each game in ``items`` (one transaction)."""
    newest = _newest(items, lambda s: s.gamePk)
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
    newest = _newest(items, lambda w: w.window_start)
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


def write_pitcher_stats(conn: Connection, items: Sequence[PitcherStats]) -> None:
    """Upsert the newest figures of each (game, pitcher) in ``items`` (one transaction)."""
    newest = _newest(items, lambda p: (p.gamePk, p.pitcherId))
    if not newest:
        return
    params: list[tuple[object, ...]] = [
        (
            p.gamePk,
            p.pitcherId,
            p.source_ts,
            p.pitches,
            p.last_n,
            p.velo_mean,
            p.velo_max,
            p.window_start,
            p.window_pitches,
            p.window_velo_mean,
            p.window_velo_max,
            p.fastballs,
            p.fb_baseline,
            p.fb_recent,
            p.fatigue,
        )
        for p in newest.values()
    ]
    games = sorted({game for game, _ in newest})
    _execute(
        conn, _UPSERT_PITCHER, params, f"pitcher_live_stats (games {games}, {len(params)} pitchers)"
    )


_transient = sink_retry(PostgresError)


T = TypeVar("T")


class _WritePartition(StatelessSinkPartition[T]):
    """A stats sink's partition: each batch written by ``write`` in one transaction."""

    def __init__(self, dsn: str, write: Callable[[Connection, Sequence[T]], None]) -> None:
        self._session = Session(dsn)
        self._write = write

    @_transient
    def write_batch(self, items: list[T]) -> None:
        self._session.run(lambda conn: self._write(conn, items))

    def close(self) -> None:
        self._session.close()


class _StatsSink(DynamicSink[T]):
    def __init__(self, dsn: str, write: Callable[[Connection, Sequence[T]], None]) -> None:
        self._dsn = dsn
        self._write = write

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _WritePartition[T]:
        return _WritePartition(self._dsn, self._write)


class PgLiveStatsSink(_StatsSink[LiveStats]):
    """Upserts each game's latest live box score into ``live_box_scores``; idempotent."""

    def __init__(self, dsn: str) -> None:
        super().__init__(dsn, write_live_stats)


class PgWindowStatsSink(_StatsSink[WindowStats]):
    """Upserts closed league windows into ``stats_windows``; idempotent."""

    def __init__(self, dsn: str) -> None:
        super().__init__(dsn, write_window_stats)


class PgPitcherStatsSink(_StatsSink[PitcherStats]):
    """Upserts each pitcher's latest live figures into ``pitcher_live_stats``; idempotent."""

    def __init__(self, dsn: str) -> None:
        super().__init__(dsn, write_pitcher_stats)
