"""Table versions on the real PostgreSQL (mlbsts/versions.py): a version overlays live by
game (and by key for the relations without one), promotion needs a finished replay, and a
promoted version cannot be dropped. The live schema and the prefix are private per test."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from mlbsts import versions
from mlbsts.settings import Settings
from mlbsts.stack.migrations import apply_migrations
from tests.integration.conftest import unique

pytestmark = pytest.mark.integration


@pytest.fixture
def world(stack_settings: Settings, pg_schema: str) -> Iterator[tuple[str, str, str]]:
    """(base DSN, live DSN, prefix): a migrated live schema (the live DSN's); every version
    dropped after. Versions are made and promoted with the live DSN, as the worker's."""
    base = stack_settings.postgres_dsn.get_secret_value()
    live = versions.dsn_in_schema(base, pg_schema)
    apply_migrations(live)
    prefix = unique("t")
    yield base, live, prefix
    with psycopg.connect(base, autocommit=True) as conn:
        for (name,) in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (f"{prefix}%",)
        ).fetchall():
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(str(name))))


def _fill(dsn: str, games: dict[int, str], players: dict[int, str]) -> None:
    with psycopg.connect(dsn) as conn:
        for pk, state in games.items():
            conn.execute(
                "INSERT INTO games (game_pk, game_date, detailed_state, source_ts) "
                "VALUES (%s, '2024-07-01', %s, '20240701_220000')",
                (pk, state),
            )
            conn.execute(
                "INSERT INTO linescore_innings (game_pk, inning, side, runs, source_ts) "
                "VALUES (%s, 1, 'home', %s, '20240701_220000')",
                (pk, len(state)),
            )
        for pid, name in players.items():
            conn.execute(
                "INSERT INTO players (player_id, full_name, source_ts) VALUES (%s, %s, 'x')",
                (pid, name),
            )


def _finish_a_replay(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO replay_runs (input_topic, ranges, records, finished_at) "
            "VALUES ('t', '{}', 0, now())"
        )


def _read(live_dsn: str, prefix: str) -> tuple[str, dict[int, str], dict[int, int], dict[int, str]]:
    """What a reader with ``search_path = <prefix>_current, <live>`` sees."""
    live = str(psycopg.conninfo.conninfo_to_dict(live_dsn)["options"]).split("=")[-1]
    reader = versions.dsn_in_schema(live_dsn, f"{versions.readers_schema(prefix)},{live}")
    with psycopg.connect(reader) as conn:
        marker = conn.execute("SELECT version FROM promoted_version").fetchone()
        games = dict(conn.execute("SELECT game_pk, detailed_state FROM games").fetchall())
        runs = dict(conn.execute("SELECT game_pk, runs FROM linescore_innings").fetchall())
        players = dict(conn.execute("SELECT player_id, full_name FROM players").fetchall())
    return str(marker[0]) if marker else "", games, runs, players


def test_a_promoted_version_overlays_live_by_game_and_by_key(world: tuple[str, str, str]) -> None:
    _, live, prefix = world
    _fill(live, {1: "live one", 2: "live two"}, {10: "Ten", 11: "Eleven"})
    v2 = versions.create_version(live, prefix, "v2")
    _fill(v2, {2: "v2 two", 3: "v2 three"}, {11: "Eleven (fixed)", 12: "Twelve"})

    with pytest.raises(versions.VersionError, match="not complete"):
        versions.promote(live, prefix, "v2")  # no finished replay into it yet
    _finish_a_replay(v2)
    versions.promote(live, prefix, "v2")

    marker, games, runs, players = _read(live, prefix)
    assert marker == "v2"
    assert games == {1: "live one", 2: "v2 two", 3: "v2 three"}
    assert runs == {1: 8, 2: 6, 3: 8}  # game 2's line score from v2 only
    assert players == {10: "Ten", 11: "Eleven (fixed)", 12: "Twelve"}

    versions.promote(live, prefix, versions.LIVE)
    marker, games, _, players = _read(live, prefix)
    assert (marker, games) == ("live", {1: "live one", 2: "live two"})
    assert players == {10: "Ten", 11: "Eleven"}


def test_list_drop_and_what_cannot_be_done(world: tuple[str, str, str]) -> None:
    _, live, prefix = world
    with pytest.raises(versions.VersionError):
        versions.create_version(live, prefix, "v1")  # v1 is no name: live is the worker's
    v3 = versions.create_version(live, prefix, "v3")
    _finish_a_replay(v3)
    versions.promote(live, prefix, "v3")
    found = {v.name: v for v in versions.list_versions(live, prefix)}
    assert set(found) == {"live", "v3"}
    assert found["v3"].promoted and found["v3"].complete and found["v3"].runs == 1
    assert not found["live"].promoted

    with pytest.raises(versions.VersionError, match="promoted"):
        versions.drop_schema(live, prefix, "v3")
    versions.promote(live, prefix, versions.LIVE)
    versions.drop_schema(live, prefix, "v3")
    assert {v.name for v in versions.list_versions(live, prefix)} == {"live"}
    with pytest.raises(versions.VersionError, match="does not exist"):
        versions.drop_schema(live, prefix, "v3")


def test_the_relations_listed_are_those_the_derived_migrations_make(
    world: tuple[str, str, str],
) -> None:
    base, live, prefix = world
    versions.create_version(live, prefix, "v2")
    schema = versions.version_schema(prefix, "v2")
    with psycopg.connect(base) as conn:
        rows = conn.execute(
            "SELECT c.relname, bool_or(a.attname = 'game_pk') FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'v') GROUP BY c.relname",
            (schema,),
        ).fetchall()
    made = {str(name): bool(has_game) for name, has_game in rows}
    internal = {n for n in made if "yoyo" in n} | {"replay_runs"}
    assert set(made) - internal == set(versions.RELATIONS)
    assert {n for n in versions.RELATIONS if not made[n]} == set(versions.KEYS)
