"""The API reads what readers read: the readers' schema of the table versions first, then
the DSN's own schema (api/db.py, mlbsts/versions.py), on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from api.db import Database
from mlbsts.settings import Settings
from mlbsts.versions import dsn_in_schema
from tests.integration.conftest import unique

pytestmark = pytest.mark.integration


@pytest.fixture
def readers(stack_settings: Settings) -> Iterator[str]:
    """A readers' schema name of this test's own (created by the test, dropped after)."""
    name = unique("test_") + "_current"
    yield name
    with psycopg.connect(stack_settings.postgres_dsn.get_secret_value(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def _run(dsn: str, readers: str, query: str) -> list[object]:
    async def go() -> list[object]:
        db = Database(dsn, size=1, timeout_s=10.0, readers_schema=readers)
        await db.open()
        try:
            return [next(iter(row.values())) for row in await db.rows(query)]
        finally:
            await db.close()

    return asyncio.run(go())


def test_the_api_reads_the_promoted_views_first_and_its_own_tables_otherwise(
    stack_settings: Settings, pg_schema: str, readers: str
) -> None:
    base = stack_settings.postgres_dsn.get_secret_value()
    live = dsn_in_schema(base, pg_schema)
    with psycopg.connect(live, autocommit=True) as conn:
        conn.execute("CREATE TABLE games (game_pk int)")
        conn.execute("INSERT INTO games VALUES (1)")
        conn.execute("CREATE TABLE api_keys (key_id text)")
        conn.execute("INSERT INTO api_keys VALUES ('k1')")

    # before any promotion the readers' schema does not exist: the live tables answer
    assert _run(live, readers, "SELECT game_pk FROM games") == [1]

    with psycopg.connect(base, autocommit=True) as conn:  # a promotion, as mlbsts.versions
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(readers)))
        conn.execute(
            sql.SQL("CREATE VIEW {}.games AS SELECT 2 AS game_pk").format(sql.Identifier(readers))
        )
    assert _run(live, readers, "SELECT game_pk FROM games") == [2]
    assert _run(live, readers, "SELECT key_id FROM api_keys") == ["k1"]  # no version of it
