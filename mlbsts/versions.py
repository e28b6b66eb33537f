"""Table versions of the derived tiers (blue/green) and the readers' views, in PostgreSQL.

A *version* is a set of the derived tables and views (events, game tables, statistics:
the relations of :data:`DERIVED_MIGRATIONS`, listed in :data:`RELATIONS`):

- ``live``: those of the DSN's own schema (``public`` normally), written by the worker;
- ``vN`` (N >= 2): those of schema ``<prefix>_vN`` (``mlbsts_v2``), written only by
  ``mlbsts replay --into vN``. :func:`create_version` makes the schema and applies the
  derived migrations (and ``replay_runs``) into it; the raw tier stays in one place.

Readers (SQL users, the API) query the *readers' schema* ``<prefix>_current``
(``mlbsts_current``) first: ``search_path = mlbsts_current, public``. Before any promotion
that schema does not exist, and they read the live tables. (Not ``<prefix>`` alone: a
database user named ``mlbsts`` has the schema ``mlbsts`` first in its default search path,
and the worker must keep writing its own tables.) The prefix is the setting
``pg_versions_prefix``. :func:`promote` recreates, in one transaction,
one view there per relation of :data:`RELATIONS`, and the view ``promoted_version``:

- for ``live``, the view is the live relation;
- for ``vN``, the version *overlays* live: a game the version holds (a row of its
  ``games``) is read from the version, every other game from live, so promoting a
  reprocessed yesterday keeps today's live games visible; the relations without a game
  (``venues``, ``teams``, ``players``, ``stats_windows``) take the version's row of each key
  it holds (:data:`KEYS`) and live's otherwise.

PostgreSQL's DDL is transactional, so a reader's statement or transaction sees the views
all before or all after a promotion, never a mix (a transaction that reads
``promoted_version`` first never even waits for a deadlock check). A version can be
promoted only when the latest replay into it finished (``replay_runs.finished_at``), so
readers never see a half-built version. Dynamic SQL only through :mod:`psycopg.sql`.

Exceptions: :class:`VersionError` (a wrong name, a version that does not exist, is not
complete, or is promoted and so cannot be dropped); ``psycopg.Error`` for the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from mlbsts.settings import READERS_SUFFIX
from mlbsts.stack.migrations import apply_migrations

__all__ = [
    "DERIVED_MIGRATIONS",
    "KEYS",
    "LIVE",
    "RELATIONS",
    "VersionError",
    "VersionInfo",
    "create_version",
    "drop_schema",
    "dsn_in_schema",
    "list_versions",
    "live_schema",
    "promote",
    "promoted",
    "readers_schema",
    "version_schema",
]

LIVE = "live"
#: the migrations of the derived tiers: what a version holds (``replay_runs`` too)
DERIVED_MIGRATIONS = (
    "0002_normalized_events",
    "0002_normalized_game",
    "0002_normalized_views",
    "0003_live_stats",
    "0004_pitcher_stats",
    "0006_replay_runs",
)
#: the relations readers see through the readers' schema (tables and views)
RELATIONS = (
    *("plays", "pitch_events", "runner_events", "game_actions", "reviews", "game_status"),
    *("scoring_plays", "substitutions", "plate_appearances", "boxscore_batting"),
    *("boxscore_pitching", "games", "venues", "teams", "players", "linescore_innings"),
    *("game_players", "game_roster_lists", "batting_orders", "game_officials"),
    *("game_decisions", "live_box_scores", "stats_windows", "pitcher_live_stats"),
)
#: the relations without a ``game_pk``: a version overlays live by these keys
KEYS = {
    "venues": ("venue_id",),
    "teams": ("team_id",),
    "players": ("player_id",),
    "stats_windows": ("window_start",),
}
PROMOTED_VIEW = "promoted_version"
_VERSION = re.compile(r"^v([2-9]|[1-9][0-9]+)$")
_SCHEMA_PREFIX = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


class VersionError(ValueError):
    """A version that cannot be used as asked (says which and why)."""


@dataclass(frozen=True)
class VersionInfo:
    """One version as ``mlbsts replay list`` shows it."""

    name: str
    schema: str
    promoted: bool
    games: int
    runs: int
    unfinished: int  # runs without finished_at (running, or stopped)
    last_finished: datetime | None
    complete: bool  # its latest replay finished: it can be promoted


def version_schema(prefix: str, version: str) -> str:
    """The schema of ``vN`` (``<prefix>_vN``); raises :class:`VersionError` on a bad name."""
    if not _SCHEMA_PREFIX.match(prefix):
        raise VersionError(f"versions prefix {prefix!r}: lowercase letters, digits and _")
    if not _VERSION.match(version):
        raise VersionError(f"{version!r}: a version is v2, v3, ... (live is the worker's)")
    return f"{prefix}_{version}"


def readers_schema(prefix: str) -> str:
    """The schema of the readers' views (``<prefix>_current``)."""
    if not _SCHEMA_PREFIX.match(prefix):
        raise VersionError(f"versions prefix {prefix!r}: lowercase letters, digits and _")
    return prefix + READERS_SUFFIX


def dsn_in_schema(dsn: str, schema: str) -> str:
    """``dsn`` with ``search_path`` set to ``schema`` (any other ``search_path`` removed)."""
    options = str(conninfo_to_dict(dsn).get("options") or "")
    kept = re.sub(r"-c\s*search_path\s*=\s*\S+", "", options).strip()
    return make_conninfo(dsn, options=f"{kept} -c search_path={schema}".strip())


def live_schema(conn: psycopg.Connection[tuple[object, ...]]) -> str:
    """The schema the DSN's tables are in (its ``current_schema``)."""
    row = conn.execute("SELECT current_schema()").fetchone()
    if row is None or row[0] is None:
        raise VersionError("the DSN has no current schema (check its search_path)")
    return str(row[0])


def create_version(dsn: str, prefix: str, version: str) -> str:
    """Make ``vN``'s schema (if needed) with the derived tables; returns its DSN."""
    schema = version_schema(prefix, version)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    target = dsn_in_schema(dsn, schema)
    apply_migrations(target, only=DERIVED_MIGRATIONS)
    return target


def _schemas(conn: psycopg.Connection[tuple[object, ...]], prefix: str) -> dict[str, str]:
    """The versions that exist: ``vN`` → schema."""
    rows = conn.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (f"{prefix}\\_v%",)
    ).fetchall()
    out = {}
    for (name,) in rows:
        version = str(name)[len(prefix) + 1 :]
        if _VERSION.match(version):
            out[version] = str(name)
    return out


def promoted(conn: psycopg.Connection[tuple[object, ...]], prefix: str) -> str:
    """The promoted version (``live`` when none ever was)."""
    reader = readers_schema(prefix)
    row = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL", (f"{reader}.{PROMOTED_VIEW}",)
    ).fetchone()
    if not row or not row[0]:
        return LIVE
    query = sql.SQL("SELECT version FROM {}.{}").format(
        sql.Identifier(reader), sql.Identifier(PROMOTED_VIEW)
    )
    found = conn.execute(query).fetchone()
    return str(found[0]) if found else LIVE


def _runs(
    conn: psycopg.Connection[tuple[object, ...]], schema: str
) -> tuple[int, int, datetime | None, bool]:
    """(runs, runs not finished, last finish, whether the latest run finished)."""
    query = sql.SQL(
        "SELECT count(*), count(*) FILTER (WHERE finished_at IS NULL), max(finished_at), "
        "bool_or(finished_at IS NOT NULL AND run_id = (SELECT max(run_id) FROM {0}.replay_runs)) "
        "FROM {0}.replay_runs"
    ).format(sql.Identifier(schema))
    row = conn.execute(query).fetchone()
    if row is None:
        return 0, 0, None, False
    last = row[2] if isinstance(row[2], datetime) else None
    return int(str(row[0])), int(str(row[1])), last, bool(row[3])


def _games(conn: psycopg.Connection[tuple[object, ...]], schema: str) -> int:
    query = sql.SQL("SELECT count(*) FROM {}.games").format(sql.Identifier(schema))
    row = conn.execute(query).fetchone()
    return int(str(row[0])) if row else 0


def list_versions(dsn: str, prefix: str) -> list[VersionInfo]:
    """``live`` and every ``vN``, with what they hold."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        current = promoted(conn, prefix)
        schemas = {LIVE: live_schema(conn), **_schemas(conn, prefix)}
        out = []
        for name, schema in sorted(schemas.items(), key=lambda kv: _order(kv[0])):
            has_runs = conn.execute(
                "SELECT to_regclass(%s) IS NOT NULL", (f"{schema}.replay_runs",)
            ).fetchone()
            runs = _runs(conn, schema) if has_runs and has_runs[0] else (0, 0, None, False)
            games = _games(conn, schema)
            out.append(VersionInfo(name, schema, name == current, games, *runs))
    return out


def _order(version: str) -> int:
    return 1 if version == LIVE else int(version[1:])


def drop_schema(dsn: str, prefix: str, version: str) -> None:
    """Drop ``vN``'s schema; refused while it is promoted."""
    schema = version_schema(prefix, version)
    with psycopg.connect(dsn, autocommit=True) as conn:
        if promoted(conn, prefix) == version:
            raise VersionError(f"{version} is promoted: promote another version first")
        if version not in _schemas(conn, prefix):
            raise VersionError(f"{version} does not exist (schema {schema})")
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def promote(dsn: str, prefix: str, version: str, *, attempts: int = 3) -> None:
    """Switch the readers' views to ``version`` in one transaction (module docstring). A
    deadlock with a reader (one that read a view, then ``promoted_version``) is retried."""
    reader = readers_schema(prefix)
    with psycopg.connect(dsn, autocommit=True) as conn:
        live = live_schema(conn)
        source = live if version == LIVE else version_schema(prefix, version)
        if version != LIVE:
            _check_complete(conn, prefix, version, source)
        for attempt in range(1, attempts + 1):
            try:
                _switch(conn, reader, version, source, live)
                return
            except psycopg.errors.DeadlockDetected:
                if attempt == attempts:
                    raise


def _switch(
    conn: psycopg.Connection[tuple[object, ...]], reader: str, version: str, source: str, live: str
) -> None:
    with conn.transaction():
        conn.execute("SET LOCAL lock_timeout = '60s'")
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(reader)))
        # the marker first: a reader that reads it first never deadlocks with us
        for name in (PROMOTED_VIEW, *RELATIONS):
            conn.execute(
                sql.SQL("DROP VIEW IF EXISTS {}.{}").format(
                    sql.Identifier(reader), sql.Identifier(name)
                )
            )
        conn.execute(_marker_view(reader, version, source))
        for relation in RELATIONS:
            conn.execute(_relation_view(reader, relation, source, live))


def _check_complete(
    conn: psycopg.Connection[tuple[object, ...]], prefix: str, version: str, schema: str
) -> None:
    if version not in _schemas(conn, prefix):
        raise VersionError(f"{version} does not exist (schema {schema})")
    runs, _, _, complete = _runs(conn, schema)
    if not complete:
        what = "no replay into it" if runs == 0 else "its latest replay did not finish"
        raise VersionError(
            f"{version} is not complete ({what}): run the replay into it to its end, or drop it"
        )


def _marker_view(reader: str, version: str, schema: str) -> sql.Composed:
    return sql.SQL(
        "CREATE VIEW {}.{} AS SELECT {}::text AS version, {}::text AS schema, "
        "{}::timestamptz AS promoted_at"
    ).format(
        sql.Identifier(reader),
        sql.Identifier(PROMOTED_VIEW),
        sql.Literal(version),
        sql.Literal(schema),
        sql.Literal(datetime.now(UTC)),
    )


def _relation_view(reader: str, relation: str, source: str, live: str) -> sql.Composed:
    """The readers' view of ``relation``: ``source``'s, overlaid on ``live``'s."""
    view = sql.SQL("CREATE VIEW {}.{} AS ").format(sql.Identifier(reader), sql.Identifier(relation))
    mine = sql.SQL("SELECT * FROM {}.{}").format(sql.Identifier(source), sql.Identifier(relation))
    if source == live:
        return view + mine
    theirs = sql.SQL(" UNION ALL SELECT * FROM {}.{} AS l WHERE NOT EXISTS ").format(
        sql.Identifier(live), sql.Identifier(relation)
    )
    keys = KEYS.get(relation)
    if keys is None:
        held = sql.SQL("(SELECT 1 FROM {}.games AS v WHERE v.game_pk = l.game_pk)").format(
            sql.Identifier(source)
        )
    else:
        same = sql.SQL(" AND ").join(
            sql.SQL("v.{0} = l.{0}").format(sql.Identifier(k)) for k in keys
        )
        held = sql.SQL("(SELECT 1 FROM {}.{} AS v WHERE {})").format(
            sql.Identifier(source), sql.Identifier(relation), same
        )
    return view + mine + theirs + held
