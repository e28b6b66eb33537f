"""PostgreSQL edge, normalized tier: game tables from raw snapshots (``0002_normalized_game``).

A snapshot (a ``feed/live`` response, up to ~2 MB late in a game) is decoded with the feed
model's game-tables view into only the parts these tables need (the plays are skipped
unparsed into objects), then turned into rows by the pure builders of
``connectors.pg_game_rows``. :func:`write_snapshot` writes one snapshot in one transaction,
gated by its feed timestamp (``source_ts``):

1. the ``games`` row is upserted with ``WHERE EXCLUDED.source_ts > t.source_ts``; if the
   stored row is as new or newer, nothing else is written (a stale or repeated snapshot);
2. venue, teams and players are upserted under the same per-row guard (they are shared
   between games: the newest snapshot of any game wins);
3. the per-game tables (line score innings, game players, roster lists, officials,
   decisions) are upserted, then the rows of the game that the snapshot no longer lists
   (older ``source_ts``) are deleted.

:class:`GameTablesSink` writes the newest snapshot of each game in a Bytewax batch
(at-least-once, idempotent), and refreshes a game's tables at most every
``REFRESH_EVERY`` of feed time, except that a change of the game's status and a Final
snapshot are always written. These tables are reference data (rosters, players,
officials, decisions, innings) whose live parts the live box score carries on every
snapshot; rewriting ~190 rows per pitch (~55 ms) was the flow's largest cost. The final
state does not depend on the refreshes: a Final snapshot rewrites every row.

A replay (:data:`REPLAY_REFRESH`) refreshes by epoch instead of feed time: the gate holds
back each game's newest snapshot (after the first, a status change, Final), and
the partition's ``flush()`` writes what it holds at the end of every epoch, before the epoch is
committed (``connectors.background_sink`` calls it), and at the close. Nobody reads a
version's tables while it is built, so one write per game and epoch (5 s) is enough, and a
committed epoch's tables hold the newest snapshot of every game read so far: a replay that
stops and resumes (``--recovery-dir``) loses no refresh, and the tables end on the
range's last snapshot of every game, finished or not. At most one snapshot per game is
held.

Bad payloads are logged and skipped (the raw tier keeps them); database failures raise
:class:`connectors.postgres.PostgresError`, retried within the sink's outage budget
(``connectors.sink_retry``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import msgspec
import psycopg
from bytewax.outputs import StatelessSinkPartition
from psycopg import sql

from connectors import postgres
from connectors.pg_game_rows import (
    GAME_TABLES,
    GAMES,
    PER_GAME_TABLES,
    SHARED_TABLES,
    SnapshotRows,
    snapshot_rows,
)
from connectors.pg_upsert import Conn, stager, upsert
from connectors.rejects import Rejects, raise_rejected, reject_snapshot
from connectors.sink_retry import RetryPolicy
from connectors.storage_ops import StoredBatch, stored_batch
from connectors.storage_sinks import PostgresSink
from flows.game.accepted import AcceptedSnapshot
from flows.game.envelope import parse_feed_timestamp
from flows.game.feed import FeedHead
from flows.game.feed_game import GameStatus
from flows.game.feed_views import GameTablesView, decode_game_tables_view

__all__ = [
    "LIVE_REFRESH",
    "REFRESH_EVERY",
    "REPLAY_REFRESH",
    "GameTablesSink",
    "Refresh",
    "RefreshGate",
    "newest_per_game",
    "write_snapshot",
]

log = logging.getLogger(__name__)


_DELETE_OLDER = sql.SQL("DELETE FROM {} WHERE game_pk = %s AND source_ts < %s")


def write_snapshot(conn: Conn, rows: SnapshotRows) -> bool:
    """Write one snapshot's rows (module docstring); False if it was not newer."""
    table, pk, ts = GAMES, rows.game_pk, rows.source_ts
    try:
        with conn.cursor() as cur:
            upsert(cur, GAMES, rows.rows[GAMES.name], returning="game_pk")
            if cur.fetchone() is None:
                conn.commit()
                return False
            for table in SHARED_TABLES + PER_GAME_TABLES:
                if table_rows := rows.rows.get(table.name):
                    upsert(cur, table, table_rows)
                if table in PER_GAME_TABLES:
                    cur.execute(_DELETE_OLDER.format(sql.Identifier(table.name)), (pk, ts))
        conn.commit()
    except psycopg.Error as e:
        postgres.rollback_quietly(conn)
        raise postgres.failed(f"{table.name}: snapshot {ts} of game {pk}", e) from e
    return True


def newest_per_game(items: Sequence[AcceptedSnapshot]) -> list[AcceptedSnapshot]:
    """The newest snapshot (by feed timestamp) of each game; those without one dropped."""
    newest: dict[int, AcceptedSnapshot] = {}
    for item in items:
        ts = item.envelope.feed_timestamp
        if ts is None:
            continue
        kept = newest.get(item.envelope.gamePk)
        if kept is None or ts > (kept.envelope.feed_timestamp or ""):
            newest[item.envelope.gamePk] = item
    return list(newest.values())


REFRESH_EVERY = timedelta(seconds=15)


@dataclass(frozen=True)
class Refresh:
    """When a game's tables are refreshed: the first snapshot, a status change and a Final
    snapshot always; else at most every ``every`` of feed time (``None``: never by time).
    ``hold``: the newest snapshot the gate did not let through is kept, one per game, and
    written by :meth:`_GamePartition.flush` (each epoch's end, the close)."""

    every: timedelta | None = REFRESH_EVERY
    hold: bool = False


#: the worker's: a refresh every 15 s of feed time, nothing held
LIVE_REFRESH = Refresh()
#: a replay's (``flows.replay_flow``): each game's newest snapshot once per epoch
REPLAY_REFRESH = Refresh(every=None, hold=True)


class RefreshGate:
    """Which snapshots of a game are due to refresh its tables (see the module docstring).

    Remembers, per game, the feed timestamp and status last written. A new process (or a
    resumed worker) starts empty, so its first snapshot of each game is written.
    """

    def __init__(self, every: timedelta | None = REFRESH_EVERY) -> None:
        self._every = every
        self._last: dict[int, tuple[str, str]] = {}

    def due(self, game_pk: int, source_ts: str, status: str) -> bool:
        kept = self._last.get(game_pk)
        if kept is None or status != kept[1] or status.startswith("Final/"):
            return True
        if self._every is None:
            return False
        return parse_feed_timestamp(source_ts) - parse_feed_timestamp(kept[0]) >= self._every

    def written(self, game_pk: int, source_ts: str, status: str) -> None:
        self._last[game_pk] = (source_ts, status)


class _HasStatus(Protocol):
    @property
    def status(self) -> GameStatus: ...


def _status(game: _HasStatus) -> str:
    """``abstractGameState/detailedState`` of a view's ``gameData``."""
    return f"{game.status.abstractGameState}/{game.status.detailedState}"


class _GamePartition(StatelessSinkPartition[AcceptedSnapshot]):
    def __init__(
        self,
        dsn: str,
        rejects: Rejects,
        limits: postgres.PgLimits,
        what: str,
        refresh: Refresh = LIVE_REFRESH,
    ) -> None:
        self._session = postgres.Session(dsn, limits, stager(GAME_TABLES))
        self._refresh = refresh
        self._gate = RefreshGate(refresh.every)
        self._reject = reject_snapshot(rejects)
        self._retry = RetryPolicy(limits.outage_budget_s)
        self._what = what
        self._written: list[AcceptedSnapshot] = []  # the snapshots of the last write
        #: each game's newest snapshot the gate held back (``Refresh.hold``)
        self._held: dict[int, AcceptedSnapshot] = {}

    def write_batch(self, items: list[AcceptedSnapshot]) -> None:
        self._retry.call(lambda: self._write(items, gated=True), self._what)

    def stored(self, items: list[AcceptedSnapshot]) -> StoredBatch:
        """The snapshots the last write applied (``connectors.storage_ops``); rows: snapshots."""
        return stored_batch("postgres", [t.name for t in GAME_TABLES], self._written)

    def _write(self, items: list[AcceptedSnapshot], *, gated: bool) -> None:
        built: list[tuple[AcceptedSnapshot, SnapshotRows, str]] = []
        for item in newest_per_game(items):
            try:
                view = item.head or decode_game_tables_view(item.payload_json)
                if gated and not self._due(item, view):
                    continue
                snap = (
                    view
                    if isinstance(view, GameTablesView)
                    else decode_game_tables_view(item.payload_json)
                )
                built.append((item, snapshot_rows(snap, item.game_date), _status(snap.gameData)))
            except msgspec.MsgspecError as e:
                log.warning(
                    "game %d snapshot %s: not written to the game tables: %s",
                    item.envelope.gamePk,
                    item.envelope.feed_timestamp,
                    e,
                )

        def write(conn: Conn, todo: Sequence[tuple[AcceptedSnapshot, SnapshotRows, str]]) -> None:
            for _, rows, status in todo:
                write_snapshot(conn, rows)
                self._gate.written(rows.game_pk, rows.source_ts, status)
                held = self._held.get(rows.game_pk)
                if held is not None and (held.envelope.feed_timestamp or "") <= rows.source_ts:
                    del self._held[rows.game_pk]

        def reject(entry: tuple[AcceptedSnapshot, SnapshotRows, str], error: Exception) -> None:
            self._reject(entry[0], error)

        self._written = [entry[0] for entry in built]
        if built:
            postgres.write_or_reject(self._session, built, write, reject)

    def _due(self, item: AcceptedSnapshot, view: FeedHead | GameTablesView) -> bool:
        """Whether the gate lets ``item`` through; if not, it may be held (:meth:`flush`).
        ``view`` gives the status and time: the engine's head when the flow decoded it (a
        snapshot that is not written is not decoded), else the game tables' view."""
        game_pk, ts = view.gamePk, view.metaData.timeStamp
        if self._gate.due(game_pk, ts, _status(view.gameData)):
            return True
        held = self._held.get(game_pk)
        if self._refresh.hold and (held is None or (held.envelope.feed_timestamp or "") <= ts):
            self._held[game_pk] = item
        return False

    def flush(self) -> list[AcceptedSnapshot]:
        """Write the snapshots held back (``Refresh.hold``), newest of each game; they are
        returned (``connectors.background_sink`` calls this at each epoch's end)."""
        if not self._held:
            return []
        held, self._held = list(self._held.values()), {}  # a failure stops the worker
        self._retry.call(lambda: self._write(held, gated=False), self._what)
        return self._written

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._session.close()


class GameTablesSink(PostgresSink[AcceptedSnapshot]):
    """The newest snapshot of each game of a batch into the game tables; one the database
    refuses for its data goes to ``rejects`` as a ``db_rejected`` dead letter. ``limits``:
    timeouts and outage budget (the settings' defaults if not given)."""

    partition = _GamePartition

    def __init__(
        self,
        dsn: str,
        rejects: Rejects = raise_rejected,
        *,
        limits: postgres.PgLimits | None = None,
        refresh: Refresh = LIVE_REFRESH,
    ) -> None:
        super().__init__(dsn, rejects, limits=limits)
        self._refresh = refresh

    def build(
        self, step_id: str, worker_index: int, worker_count: int
    ) -> StatelessSinkPartition[AcceptedSnapshot]:
        what = f"sink {step_id} partition {worker_index}"
        return _GamePartition(self._dsn, self._rejects, self._limits, what, self._refresh)
