"""SQL migrations (``sql/NNNN_name.sql``) applied with yoyo-migrations."""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from pathlib import Path
from urllib.parse import quote

from psycopg.conninfo import conninfo_to_dict

from mlbsts.paths import PROJECT_ROOT
from mlbsts.stack.errors import ProvisionError

logger = logging.getLogger(__name__)

SQL_DIR = PROJECT_ROOT / "sql"


def yoyo_uri(dsn: str) -> str:
    """The yoyo database URI (psycopg 3 backend) of a libpq DSN."""
    params = conninfo_to_dict(dsn)
    user = quote(str(params.get("user", "")), safe="")
    password = quote(str(params.get("password", "")), safe="")
    host = params.get("host") or "127.0.0.1"
    port = params.get("port") or 5432
    dbname = quote(str(params.get("dbname", "")), safe="")
    uri = f"postgresql+psycopg://{user}:{password}@{host}:{port}/{dbname}"
    # a DSN whose options set search_path (a replay into a new table version, a test
    # schema) gets its migrations applied in that schema
    path = re.search(r"search_path\s*=\s*([A-Za-z_][A-Za-z0-9_]*)", str(params.get("options", "")))
    return f"{uri}?schema={path.group(1)}" if path else uri


def apply_migrations(dsn: str, sql_dir: Path = SQL_DIR, only: Collection[str] | None = None) -> int:
    """Apply the migrations not applied yet (with ``only``: those of these ids, the file
    names without ``.sql``); return how many were applied."""
    if not sorted(sql_dir.glob("*.sql")):
        logger.info("no migrations in %s", sql_dir)
        return 0
    from yoyo import get_backend, read_migrations  # noqa: PLC0415 - only when there is SQL

    try:
        backend = get_backend(yoyo_uri(dsn))
    except Exception as e:  # yoyo raises driver errors as they are
        raise ProvisionError(f"postgres: cannot connect to apply migrations: {e}") from e
    try:
        migrations = read_migrations(str(sql_dir))
        if only is not None:
            migrations = migrations.filter(lambda m: m.id in only)
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
    except Exception as e:
        raise ProvisionError(f"postgres: migrations in {sql_dir} failed: {e}") from e
    finally:
        backend.connection.close()  # yoyo keeps its connection open otherwise
    logger.info("applied %d migration(s) from %s", len(pending), sql_dir)
    return len(pending)
