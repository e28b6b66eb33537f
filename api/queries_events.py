"""What the event routes read from PostgreSQL: plays and pitches (keyset pages), league
windows, and the committed events of a game in stream order.

REST reads leave retracted rows out (the current state of the game); the stream sends
them (a retraction is an event). Versions (:mod:`api.http_cache`): a game's plays or
pitches are versioned by ``max(source_ts):count:sum(revision)`` over that game's rows,
one scan of the game's slice of the primary-key index; every committed change (new row,
correction, retraction) raises the newest ``source_ts`` or the revision sum.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection, sql

from api.cursor import StreamKey, encode_page
from api.db import Params, fetch_all
from api.queries_game import GAME_VERSION

__all__ = ["STREAM_TABLES", "fetch_stream", "pitches", "plays", "windows"]

Row = dict[str, Any]


def _table_version(table: str) -> str:
    version = (
        "SELECT concat_ws(':', max(t.source_ts COLLATE \"C\"), count(*), sum(t.revision)) "
        "FROM {} AS t WHERE t.game_pk = g.game_pk"
    )
    return GAME_VERSION.format(version.format(table))  # table: a constant of this module


PLAYS_VERSION = _table_version("plays")
PITCHES_VERSION = _table_version("pitch_events")
WINDOWS_VERSION = (
    "SELECT %(end)s::timestamptz < now() - interval '1 hour' AS final, "
    "concat_ws(':', count(*), max(source_ts COLLATE \"C\"), max(updated_at)) AS version "
    "FROM stats_windows WHERE window_start >= %(start)s AND window_start < %(end)s"
)

_PLAY_COLUMNS = (
    "game_pk, at_bat_index, inning, half_inning, event_type, event, description, rbi, "
    "is_out, outs, away_score, home_score, batter_id, pitcher_id, is_scoring_play, "
    "has_review, start_time, end_time, event_id, revision, source_ts"
)


async def plays(conn: AsyncConnection[Any], params: Params) -> Row:
    """``params``: game_pk, after (at_bat_index or -1), limit."""
    rows = await fetch_all(
        conn,
        f"SELECT {_PLAY_COLUMNS} FROM plays "  # noqa: S608 - constant columns
        "WHERE game_pk = %(game_pk)s AND NOT retracted AND at_bat_index > %(after)s "
        "ORDER BY at_bat_index LIMIT %(limit)s + 1",
        params,
    )
    page, more = rows[: params["limit"]], len(rows) > params["limit"]
    cursor = encode_page("plays", page[-1]["at_bat_index"]) if more else None
    return {"game_pk": params["game_pk"], "plays": page, "next_cursor": cursor}


async def pitches(conn: AsyncConnection[Any], params: Params) -> Row:
    """``params``: game_pk, after_ab, after_pe, pitcher, batter, inning (None: any), limit."""
    rows = await fetch_all(
        conn,
        "SELECT * FROM pitch_events "
        "WHERE game_pk = %(game_pk)s AND NOT retracted "
        "AND (at_bat_index, play_event_index) > (%(after_ab)s, %(after_pe)s) "
        "AND (%(pitcher)s::bigint IS NULL OR pitcher_id = %(pitcher)s) "
        "AND (%(batter)s::bigint IS NULL OR batter_id = %(batter)s) "
        "AND (%(inning)s::integer IS NULL OR inning = %(inning)s) "
        "ORDER BY at_bat_index, play_event_index LIMIT %(limit)s + 1",
        params,
    )
    page, more = rows[: params["limit"]], len(rows) > params["limit"]
    for row in page:  # their flattened columns say it all
        row.pop("pitch_data", None)
        row.pop("hit_data", None)
        row.pop("retracted", None)
    last = page[-1] if more else None
    cursor = (
        encode_page("pitches", last["at_bat_index"], last["play_event_index"]) if last else None
    )
    return {"game_pk": params["game_pk"], "pitches": page, "next_cursor": cursor}


async def windows(conn: AsyncConnection[Any], params: Params) -> Row:
    rows = await fetch_all(
        conn,
        "SELECT window_start, window_end, source_ts, games, pitches, balls_in_play, "
        "exit_velocity_n, exit_velocity_avg, home_runs, updated_at FROM stats_windows "
        "WHERE window_start >= %(start)s AND window_start < %(end)s ORDER BY window_start",
        params,
    )
    return {"start": params["start"], "end": params["end"], "windows": rows}


# (kind sent as the SSE event type, table, columns left out of its JSON)
STREAM_TABLES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("pitch", "pitch_events", ("pitch_data", "hit_data")),
    ("play", "plays", ()),
    ("runner", "runner_events", ()),
    ("action", "game_actions", ()),
    ("review", "reviews", ()),
    ("status", "game_status", ()),
)


def _stream_sql() -> sql.Composed:
    branches = []
    for kind, table, dropped in STREAM_TABLES:
        doc = sql.SQL("jsonb_build_object('kind', {}) || to_jsonb(t)").format(sql.Literal(kind))
        for column in dropped:
            doc = sql.SQL("({} - {})").format(doc, sql.Literal(column))
        state = "t.abstract_game_state" if table == "game_status" else "NULL::text"
        branches.append(
            sql.SQL(
                "SELECT {kind} AS kind, t.source_ts, t.event_id, {state} AS state, "
                "({doc})::text AS data FROM {table} AS t WHERE t.game_pk = %(game_pk)s "
                'AND (t.source_ts COLLATE "C", t.event_id COLLATE "C") > (%(ts)s, %(id)s)'
            ).format(
                kind=sql.Literal(kind),
                state=sql.SQL(state),
                doc=doc,
                table=sql.Identifier(table),
            )
        )
    return sql.SQL(
        'SELECT * FROM ({}) AS e ORDER BY e.source_ts COLLATE "C", e.event_id COLLATE "C" '
        "LIMIT %(limit)s"
    ).format(sql.SQL(" UNION ALL ").join(branches))


_STREAM = _stream_sql()


async def fetch_stream(
    conn: AsyncConnection[Any], game_pk: int, after: StreamKey, limit: int
) -> list[Row]:
    """The game's events committed after ``after`` in stream order (at most ``limit``):
    rows ``kind, source_ts, event_id, state`` (status rows: the abstract game state) and
    ``data`` (the row as JSON text, with ``kind``)."""
    params = {"game_pk": game_pk, "ts": after[0], "id": after[1], "limit": limit}
    return await fetch_all(conn, _STREAM, params)
