"""PostgreSQL for the API: a small async connection pool, read-only queries, time bounds.

Every call is bounded by ``api_timeout_s`` three ways: waiting for a pooled connection,
the server-side ``statement_timeout`` of each connection, and a client-side deadline
around the whole call (a hung server or network). A call that cannot be answered raises
:class:`api.errors.UnavailableError` (a 503), naming PostgreSQL; a missing table
(migrations not applied) does too, with the command that fixes it. Other database errors are bugs
and propagate (500).

The pool opens in the background, so the API process starts, and ``/healthz`` answers,
while PostgreSQL is down; requests get 503 until it is back.

Versions (``mlbsts replay``, :mod:`mlbsts.versions`): each connection reads with
``search_path = <readers' schema>, <the DSN's own schema>``, so once a version is promoted
the API answers from its views (a schema that does not exist yet is skipped by
PostgreSQL: before any promotion the live tables are read), and tables that have no
version (``api_keys``) come from the DSN's schema.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from api.errors import UnavailableError

__all__ = ["Database", "Params", "Query"]

log = logging.getLogger(__name__)

Query = str | sql.Composed
Params = Mapping[str, Any]
Row = dict[str, Any]


class Database:
    """The API's PostgreSQL pool; reads only."""

    def __init__(
        self, dsn: str, *, size: int, timeout_s: float, readers_schema: str | None = None
    ) -> None:
        self.timeout_s = timeout_s
        self._readers_schema = readers_schema
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            dsn,
            min_size=1,
            max_size=size,
            open=False,
            timeout=timeout_s,
            kwargs={"autocommit": True, "connect_timeout": max(1, math.ceil(timeout_s))},
            configure=self._configure,
            reconnect_timeout=3600.0,
            name="mlbsts-api",
        )

    async def _configure(self, conn: AsyncConnection[Any]) -> None:
        ms = str(int(self.timeout_s * 1000))
        await conn.execute("SELECT set_config('statement_timeout', %s, false)", (ms,))
        await conn.execute("SELECT set_config('application_name', 'mlbsts-api', false)")
        if self._readers_schema is not None:
            own = await (await conn.execute("SELECT current_schema()")).fetchone()
            schemas = [self._readers_schema, *([str(own[0])] if own and own[0] else [])]
            path = sql.SQL(", ").join(sql.Identifier(name) for name in schemas)
            await conn.execute(sql.SQL("SET search_path TO {}").format(path))

    async def open(self) -> None:
        await self._pool.open(wait=False)

    async def close(self) -> None:
        await self._pool.close(timeout=self.timeout_s)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        try:
            async with asyncio.timeout(self.timeout_s):
                async with self._pool.connection(timeout=self.timeout_s) as conn:
                    yield conn
        except psycopg.errors.UndefinedTable as e:
            missing = f"{e.diag.message_primary}: run `mlbsts init`"
            raise UnavailableError("postgres", missing) from e
        except (psycopg.OperationalError, psycopg.InterfaceError) as e:
            raise UnavailableError("postgres", _first_line(e)) from e
        except TimeoutError as e:
            raise UnavailableError("postgres", f"no answer within {self.timeout_s:g} s") from e

    async def rows(self, query: Query, params: Params | None = None) -> list[Row]:
        async with self._connection() as conn:
            return await fetch_all(conn, query, params)

    async def row(self, query: Query, params: Params | None = None) -> Row | None:
        found = await self.rows(query, params)
        return found[0] if found else None

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A connection in one read-only REPEATABLE READ transaction: every query in it
        sees the same committed data (a version and the data it names agree)."""
        async with self._connection() as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield conn

    async def ping(self, table: str = "api_keys") -> None:
        """Raises UnavailableError unless PostgreSQL answers and ``table`` exists."""
        await self.rows(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(sql.Identifier(table)))


async def fetch_all(
    conn: AsyncConnection[Any], query: Query, params: Params | None = None
) -> list[Row]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
