"""HTTP caching rules, pure: ETags, ``If-None-Match``, ``Cache-Control`` by game state.

A cacheable answer is named by its route, its parameters and the **data version** of what
it reads: a short string PostgreSQL computes with one indexed query per request (for
example the newest ``source_ts``, the row count and the revision sum of a game's plays).
Any commit that changes what the answer would say changes its version (the sinks write
every change with a newer ``source_ts`` or revision, docs/architecture.md section 2), so:

- the ETag is a hash of (route, parameters, version): equal ETags mean equal bodies;
- the Redis cache key is that hash too, so new data for a game is never served from an
  old entry: it has a new key (the old one simply expires). That is the invalidation.

``Cache-Control`` lets a client reuse an answer for a few seconds while the game is not
Final (``api_live_max_age_s``) and much longer once it is (``api_final_max_age_s``);
``private`` because answers are per API key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["cache_control", "etag_of", "matches", "store_ttl_s"]


def etag_of(route: str, params: Sequence[object], version: str) -> str:
    """A strong ETag (quoted) for the answer of ``route`` with ``params`` at ``version``."""
    text = "\x1f".join([route, *(repr(p) for p in params), version])
    return '"' + hashlib.blake2b(text.encode(), digest_size=16).hexdigest() + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weak comparison, RFC 9110)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))


def cache_control(final: bool, live_max_age_s: int, final_max_age_s: int) -> str:
    return f"private, max-age={final_max_age_s if final else live_max_age_s}"


def store_ttl_s(final: bool, live_max_age_s: int, final_max_age_s: int) -> int:
    """How long Redis keeps a cached body: at least a minute. A live game's entries are
    superseded by newer versions within seconds, so they need not last long."""
    return max(60, final_max_age_s if final else 10 * live_max_age_s)
