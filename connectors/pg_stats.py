"""PostgreSQL edge for live statistics: the latest box score per game, the league windows,
each pitcher's latest figures.

Tables from ``sql/0003_live_stats.sql`` and ``sql/0004_pitcher_stats.sql``. Each sink
upserts defensively: a row is replaced only when the incoming ``source_ts`` is strictly newer
than the stored one, so a replay, a reordered record or the repeated last epoch after a
resume never overwrites newer data. A batch the database refuses for its data (SQLSTATE
class 22 or 23) is written again item by item (``connectors.postgres.write_or_reject``);
each item still refused becomes a ``db_rejected`` dead letter (``connectors.rejects``) and
the flow goes on. A transient failure is retried within the sink's outage budget
(``connectors.sink_retry``).
Exceptions: :class:`connectors.postgres.PostgresError` (the database refused a write or is
unreachable; says which table and keys).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

import orjson
import psycopg
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from psycopg.types.json import Jsonb

from connectors.pg_upsert import Table, upsert_sql
from connectors.postgres import PgLimits, Session, execute_many, write_or_reject
from connectors.rejects import (
    Rejects,
    raise_rejected,
    reject_live_stats,
    reject_pitcher_stats,
    reject_window_stats,
)
from connectors.sink_retry import RetryPolicy
from connectors.storage_ops import StoredBatch, stored_batch
from flows.game.newest import newest_per_key
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

LIVE_BOX_SCORES = Table.of(
    "live_box_scores",
    "game_pk source_ts abstract_game_state detailed_state away_runs away_hits away_errors "
    "home_runs home_hits home_errors box linescore",
    "game_pk",
    versioned=False,
    touched="updated_at",
)
STATS_WINDOWS = Table.of(
    "stats_windows",
    "window_start window_end source_ts games pitches balls_in_play exit_velocity_n "
    "exit_velocity_avg home_runs",
    "window_start",
    versioned=False,
    touched="updated_at",
)
PITCHER_LIVE_STATS = Table.of(
    "pitcher_live_stats",
    "game_pk pitcher_id source_ts pitches last_n velo_mean velo_max window_start "
    "window_pitches window_velo_mean window_velo_max fastballs fb_baseline fb_recent fatigue",
    "game_pk pitcher_id",
    versioned=False,
    touched="updated_at",
)


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


def _execute(conn: Connection, table: Table, params: list[tuple[object, ...]], what: str) -> None:
    query = upsert_sql(table, staged=False)
    execute_many(conn, query, params, f"{table.name} ({what}): upsert")


def write_live_stats(conn: Connection, items: Sequence[LiveStats]) -> None:
    """Upsert the newest live box score of each game in ``items`` (one transaction)."""
    newest = newest_per_key(items, lambda s: s.gamePk)
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
    _execute(conn, LIVE_BOX_SCORES, params, f"games {sorted(newest)}")


def write_window_stats(conn: Connection, items: Sequence[WindowStats]) -> None:
    """Upsert league windows (one transaction); the newest ``source_ts`` per window wins."""
    newest = newest_per_key(items, lambda w: w.window_start)
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
    _execute(conn, STATS_WINDOWS, params, f"{len(params)} windows")


def write_pitcher_stats(conn: Connection, items: Sequence[PitcherStats]) -> None:
    """Upsert the newest figures of each (game, pitcher) in ``items`` (one transaction)."""
    newest = newest_per_key(items, lambda p: (p.gamePk, p.pitcherId))
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
    _execute(conn, PITCHER_LIVE_STATS, params, f"games {games}, {len(params)} pitchers")


T = TypeVar("T")


class _WritePartition(StatelessSinkPartition[T]):
    """A stats sink's partition: each batch written by ``write`` in one transaction; an
    item the database refuses for its data goes to ``reject``."""

    def __init__(
        self,
        dsn: str,
        limits: PgLimits,
        write: Callable[[Connection, Sequence[T]], None],
        reject: Callable[[T, Exception], None],
        what: str,
        table: str = "",
    ) -> None:
        self._session = Session(dsn, limits)
        self._table = table
        self._retry = RetryPolicy(limits.outage_budget_s)
        self._write = write
        self._reject = reject
        self._what = what

    def write_batch(self, items: list[T]) -> None:
        self._retry.call(
            lambda: write_or_reject(self._session, items, self._write, self._reject), self._what
        )

    def stored(self, items: list[T]) -> StoredBatch:
        """The table written (``connectors.storage_ops``)."""
        return stored_batch("postgres", [self._table], items)

    def close(self) -> None:
        self._session.close()


class _StatsSink(DynamicSink[T]):
    def __init__(
        self,
        dsn: str,
        write: Callable[[Connection, Sequence[T]], None],
        reject: Callable[[T, Exception], None],
        limits: PgLimits | None,
        table: str = "",
    ) -> None:
        self._dsn = dsn
        self._table = table
        self._write = write
        self._reject = reject
        self._limits = limits or PgLimits()

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _WritePartition[T]:
        what = f"sink {step_id} partition {worker_index}"
        return _WritePartition(
            self._dsn, self._limits, self._write, self._reject, what, self._table
        )


class PgLiveStatsSink(_StatsSink[LiveStats]):
    """Upserts each game's latest live box score into ``live_box_scores``; idempotent. A
    box score the database refuses for its data goes to ``rejects`` as a dead letter."""

    def __init__(
        self, dsn: str, rejects: Rejects = raise_rejected, *, limits: PgLimits | None = None
    ) -> None:
        super().__init__(
            dsn, write_live_stats, reject_live_stats(rejects), limits, "live_box_scores"
        )


class PgWindowStatsSink(_StatsSink[WindowStats]):
    """Upserts closed league windows into ``stats_windows``; idempotent. A window the
    database refuses for its data goes to ``rejects`` as a dead letter."""

    def __init__(
        self, dsn: str, rejects: Rejects = raise_rejected, *, limits: PgLimits | None = None
    ) -> None:
        super().__init__(
            dsn, write_window_stats, reject_window_stats(rejects), limits, "stats_windows"
        )


class PgPitcherStatsSink(_StatsSink[PitcherStats]):
    """Upserts each pitcher's latest live figures into ``pitcher_live_stats``; idempotent.
    Figures the database refuses for their data go to ``rejects`` as a dead letter."""

    def __init__(
        self, dsn: str, rejects: Rejects = raise_rejected, *, limits: PgLimits | None = None
    ) -> None:
        super().__init__(
            dsn, write_pitcher_stats, reject_pitcher_stats(rejects), limits, "pitcher_live_stats"
        )
