"""PostgreSQL edge: the guarded upsert every normalized and stats table goes through.

A :class:`Table` names its columns (in row-tuple order) and its natural key. Its upsert is
defensive (docs/architecture.md section 2)::

    ON CONFLICT (<key>) DO UPDATE SET ...
    WHERE (EXCLUDED.source_ts, EXCLUDED.revision) > (t.source_ts, t.revision)

(``source_ts`` alone for an unversioned table), so an old batch replayed late changes
nothing. A few rows go in one pipelined ``executemany``; many are COPYed into the table's
temporary stage (made by :func:`prepare_stages`) and moved with one ``INSERT ... SELECT``. Dynamic
SQL is built only with :mod:`psycopg.sql`.

Exceptions: :class:`connectors.postgres.PostgresError` when the staging tables cannot be
made; :func:`upsert` lets ``psycopg.Error`` through to the writer, which names the table and
games.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from connectors import postgres

__all__ = [
    "COPY_THRESHOLD",
    "Conn",
    "Row",
    "Table",
    "connect",
    "guard",
    "prepare_stages",
    "stager",
    "upsert",
    "upsert_sql",
]

Conn = psycopg.Connection[tuple[object, ...]]
Row = tuple[object, ...]


@dataclass(frozen=True, slots=True)
class Table:
    """A normalized table: its columns in row-tuple order and its natural key."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    versioned: bool = True  # guard (source_ts, revision); else source_ts alone
    touched: str | None = None  # a column set to now() by every update (its default on insert)

    @classmethod
    def of(
        cls,
        name: str,
        columns: str,
        key: str,
        *,
        versioned: bool = True,
        touched: str | None = None,
    ) -> Table:
        """A table from space-separated column and key names."""
        return cls(name, tuple(columns.split()), tuple(key.split()), versioned, touched)

    @property
    def stage(self) -> str:
        return f"_stage_{self.name}"


def prepare_stages(conn: Conn, tables: Sequence[Table]) -> None:
    """Make a staging temp table per table (emptied at each commit) on ``conn``."""
    try:
        for table in tables:
            conn.execute(
                sql.SQL(
                    "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) "
                    "ON COMMIT DELETE ROWS"
                ).format(sql.Identifier(table.stage), sql.Identifier(table.name))
            )
        conn.commit()
    except psycopg.Error as e:
        postgres.rollback_quietly(conn)
        raise postgres.failed("preparing the staging tables", e) from e


def connect(dsn: str, tables: Sequence[Table], limits: postgres.PgLimits | None = None) -> Conn:
    """A connection with a staging temp table per table (emptied at each commit)."""
    conn = postgres.connect(dsn, limits)
    try:
        prepare_stages(conn, tables)
    except postgres.PostgresError:
        conn.close()
        raise
    return conn


def stager(tables: Sequence[Table]) -> Callable[[Conn], None]:
    """The ``prepare`` of a ``postgres.Session`` whose writes upsert into ``tables``."""
    return lambda conn: prepare_stages(conn, tables)


def guard(table: Table) -> sql.Composable:
    if table.versioned:
        return sql.SQL("(EXCLUDED.source_ts, EXCLUDED.revision) > (t.source_ts, t.revision)")
    return sql.SQL("EXCLUDED.source_ts > t.source_ts")


COPY_THRESHOLD = 64  # fewer rows: one pipelined executemany; more: COPY + INSERT SELECT


def upsert_sql(table: Table, *, staged: bool, returning: str | None = None) -> sql.Composed:
    """The guarded upsert of ``table``: from its stage (emptied) or from one row's values."""
    cols = sql.SQL(", ").join(map(sql.Identifier, table.columns))
    source: tuple[sql.Composable, sql.Composable] = (
        sql.SQL("WITH staged AS (DELETE FROM {} RETURNING *) ").format(sql.Identifier(table.stage)),
        sql.SQL("SELECT {} FROM staged").format(cols),
    )
    if not staged:
        values = sql.SQL(", ").join(sql.Placeholder() * len(table.columns))
        source = (sql.SQL(""), sql.SQL("VALUES ({})").format(values))
    updates = sql.SQL(", ").join(
        [
            *(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
                for c in table.columns
                if c not in table.key
            ),
            *(
                [sql.SQL("{} = now()").format(sql.Identifier(table.touched))]
                if table.touched
                else []
            ),
        ]
    )
    query = sql.SQL(
        "{with_}INSERT INTO {table} AS t ({cols}) {select} "
        "ON CONFLICT ({key}) DO UPDATE SET {updates} WHERE {guard}"
    ).format(
        with_=source[0],
        table=sql.Identifier(table.name),
        cols=cols,
        select=source[1],
        key=sql.SQL(", ").join(map(sql.Identifier, table.key)),
        updates=updates,
        guard=guard(table),
    )
    if returning is not None:
        query += sql.SQL(" RETURNING {}").format(sql.Identifier(returning))
    return query


def upsert(
    cur: psycopg.Cursor[Any], table: Table, rows: Sequence[Row], returning: str | None = None
) -> int:
    """Guarded upsert of ``rows`` (keys unique); returns the rows inserted or updated.

    A few rows go in one pipelined ``executemany``; many are COPYed into the table's stage
    and moved with one ``INSERT ... SELECT``. With ``returning`` (one row only), the
    cursor holds the returned row, if the row was written.
    """
    if returning is not None or len(rows) < COPY_THRESHOLD:
        query = upsert_sql(table, staged=False, returning=returning)
        if returning is not None:
            (row,) = rows
            cur.execute(query, row)
        else:
            cur.executemany(query, rows)
        return cur.rowcount
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.stage), sql.SQL(", ").join(map(sql.Identifier, table.columns))
    )
    with cur.copy(copy_sql) as copy:
        for row in rows:
            copy.write_row(row)
    cur.execute(upsert_sql(table, staged=True))
    return cur.rowcount
