"""API keys in PostgreSQL (table ``api_keys``): create, list, revoke, and the lookup.

The command line (``mlbsts api-key``) uses the synchronous functions; the API process
uses :class:`KeyStore`, which remembers each lookup (found or not) for ``api_key_cache_s``
seconds, so a revocation takes effect within that delay and a flood of requests with one
key costs one query per delay. Nothing here logs a key or a secret: only key ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from cachetools import TTLCache
from psycopg.rows import dict_row

from api.db import Database
from api.keys import KeyRecord, NewKey, Scope, new_key

__all__ = ["KeyStore", "create_key", "list_keys", "revoke_key"]

_COLUMNS = "key_id, name, scopes, rate_per_min, salt, secret_hash, created_at, revoked_at"


def _record(row: dict[str, Any]) -> KeyRecord:
    return KeyRecord(
        key_id=row["key_id"],
        name=row["name"],
        scopes=frozenset(row["scopes"]),
        rate_per_min=row["rate_per_min"],
        salt=bytes(row["salt"]),
        secret_hash=bytes(row["secret_hash"]),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


def create_key(dsn: str, name: str, scopes: Sequence[Scope], rate_per_min: int) -> NewKey:
    """Store a new key; returns it (the only time its secret is known)."""
    made = new_key()
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO api_keys (key_id, name, salt, secret_hash, scopes, rate_per_min) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (made.key_id, name, made.salt, made.secret_hash, list(scopes), rate_per_min),
        )
    return made


def list_keys(dsn: str) -> list[KeyRecord]:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at, key_id")  # noqa: S608
        return [_record(r) for r in cur.fetchall()]


def revoke_key(dsn: str, key_id: str) -> bool:
    """Revoke a key; False if there is no such key or it was revoked already."""
    with psycopg.connect(dsn) as conn:
        cur = conn.execute(
            "UPDATE api_keys SET revoked_at = now() WHERE key_id = %s AND revoked_at IS NULL",
            (key_id,),
        )
        return cur.rowcount == 1


class KeyStore:
    """Key lookups of the API process, remembered for ``ttl_s`` seconds."""

    def __init__(self, db: Database, ttl_s: float, max_keys: int = 10_000) -> None:
        self._db = db
        self._cache: TTLCache[str, KeyRecord | None] | None = (
            TTLCache(maxsize=max_keys, ttl=ttl_s) if ttl_s > 0 else None
        )

    async def get(self, key_id: str) -> KeyRecord | None:
        if self._cache is not None and key_id in self._cache:
            return self._cache[key_id]
        row = await self._db.row(
            f"SELECT {_COLUMNS} FROM api_keys WHERE key_id = %(key_id)s",  # noqa: S608
            {"key_id": key_id},
        )
        record = _record(row) if row else None
        if self._cache is not None:
            self._cache[key_id] = record
        return record
