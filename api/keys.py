"""API keys, pure: their format, their salted hash, scopes and the key record.

A key is ``mlbsts_<id>_<secret>``: ``id`` is 12 hex digits, public (it names the key in
``mlbsts api-key list``, in logs and in the rate-limit bucket), and ``secret`` is 32 random
bytes in URL-safe base64 (43 characters). PostgreSQL keeps only ``sha256(salt || secret)``
with a random 16-byte salt per key (table ``api_keys``, ``sql/0005_api_keys.sql``). A
plain salted SHA-256 is enough here because the secret has 256 bits of entropy: nobody
can guess it, so a slow hash (scrypt) would only add its cost to every request. Hashes
are compared in constant time. The whole key is shown once, at creation, and never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

__all__ = ["SCOPES", "KeyRecord", "NewKey", "Scope", "hash_secret", "new_key", "parse_key"]
__all__ += ["parse_scopes", "verify"]

Scope = Literal["live", "history", "stream"]
#: live: the live state of a game and a pitcher's live figures; history: games, line and
#: box scores, plays, pitches, league windows; stream: a game's server-sent events.
SCOPES: tuple[Scope, ...] = get_args(Scope)

PREFIX = "mlbsts_"
_KEY = re.compile(r"mlbsts_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class KeyRecord:
    """A stored key: what PostgreSQL holds about it (never the secret)."""

    key_id: str
    name: str
    scopes: frozenset[str]
    rate_per_min: int
    salt: bytes
    secret_hash: bytes
    created_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True)
class NewKey:
    """A key just made: the full key (shown once) and what is stored about it."""

    key: str
    key_id: str
    salt: bytes
    secret_hash: bytes


def hash_secret(salt: bytes, secret: str) -> bytes:
    return hashlib.sha256(salt + secret.encode("ascii")).digest()


def new_key() -> NewKey:
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    return NewKey(f"{PREFIX}{key_id}_{secret}", key_id, salt, hash_secret(salt, secret))


def parse_key(text: str) -> tuple[str, str] | None:
    """``(key id, secret)`` of a well-formed key, else ``None``."""
    match = _KEY.fullmatch(text.strip())
    return (match.group(1), match.group(2)) if match else None


def verify(record: KeyRecord, secret: str) -> bool:
    """Whether ``secret`` is the record's (constant time in the secret)."""
    return hmac.compare_digest(hash_secret(record.salt, secret), record.secret_hash)


def parse_scopes(text: str) -> tuple[Scope, ...]:
    """``"live,history"`` → the scopes, in the order of :data:`SCOPES`; ValueError if one
    is unknown or none is given."""
    asked = {s.strip() for s in text.split(",") if s.strip()}
    if unknown := sorted(asked - set(SCOPES)):
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    if not asked:
        raise ValueError(f"no scope given; known: {', '.join(SCOPES)}")
    return tuple(s for s in SCOPES if s in asked)
