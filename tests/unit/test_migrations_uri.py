"""The yoyo URI keeps the database, credentials and a DSN's search_path."""

from __future__ import annotations

import pytest

from mlbsts.stack.migrations import yoyo_uri

pytestmark = pytest.mark.unit


def test_plain_dsn() -> None:
    assert (
        yoyo_uri("postgresql://u:p%40ss@127.0.0.1:15432/db")
        == "postgresql+psycopg://u:p%40ss@127.0.0.1:15432/db"
    )


@pytest.mark.parametrize(
    "options",
    ["-csearch_path%3Dtest_ab12", "-c%20search_path%3Dtest_ab12"],
)
def test_search_path_becomes_the_migration_schema(options: str) -> None:
    uri = yoyo_uri(f"postgresql://u:p@h:5432/db?options={options}")
    assert uri == "postgresql+psycopg://u:p@h:5432/db?schema=test_ab12"
