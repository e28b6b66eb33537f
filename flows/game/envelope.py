"""The snapshot envelope (contract: docs/architecture.md section 2), pure.

A snapshot is one response of ``/api/v1.1/game/{gamePk}/feed/live`` wrapped with how and
when it was taken. The payload travels gzip-compressed: a late-game feed is 0.7-2.8 MB of
JSON, about ten times smaller gzipped, and the same bytes are archived to S3 as they are.
"""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, Literal

import msgspec
import orjson

PayloadEncoding = Literal["identity", "gzip"]

FEED_TIMESTAMP_FORMAT = "%Y%m%d_%H%M%S"


class SnapshotEnvelope(msgspec.Struct, frozen=True, kw_only=True):
    """One captured response with its provenance. Field names follow the Avro schema."""

    gamePk: int  # noqa: N815 - contract name
    captured_at: datetime
    ingested_at: datetime
    source_url: str
    status_code: int
    feed_timestamp: str | None
    payload: bytes
    payload_encoding: PayloadEncoding = "gzip"

    def payload_json(self) -> bytes:
        """The response body as plain JSON bytes."""
        if self.payload_encoding == "gzip":
            return gzip.decompress(self.payload)
        return self.payload

    def payload_gzip(self) -> bytes:
        """The response body gzip-compressed (as archived)."""
        if self.payload_encoding == "gzip":
            return self.payload
        return gzip.compress(self.payload, compresslevel=6, mtime=0)


def feed_timestamp_of(feed: dict[str, Any]) -> str | None:
    """``metaData.timeStamp`` of a feed, if present."""
    meta = feed.get("metaData")
    if isinstance(meta, dict):
        stamp = meta.get("timeStamp")
        if isinstance(stamp, str):
            return stamp
    return None


@lru_cache(maxsize=4096)
def parse_feed_timestamp(stamp: str) -> datetime:
    """``YYYYMMDD_HHMMSS`` (MLB's ``metaData.timeStamp``, UTC) as an aware datetime.

    Cached: the flow parses each snapshot's time at several steps, and ``strptime`` was
    ~0.1 ms of each snapshot (a datetime is immutable; a bad stamp raises every time)."""
    return datetime.strptime(stamp[:15], FEED_TIMESTAMP_FORMAT).replace(tzinfo=UTC)


def official_date_of(feed: dict[str, Any]) -> date | None:
    """``gameData.datetime.officialDate`` (the game's date as MLB files it)."""
    try:
        return date.fromisoformat(feed["gameData"]["datetime"]["officialDate"])
    except (KeyError, TypeError, ValueError):
        return None


def make_envelope(
    *,
    game_pk: int,
    body: bytes,
    source_url: str,
    status_code: int,
    captured_at: datetime,
    ingested_at: datetime | None = None,
    feed: dict[str, Any] | None = None,
) -> SnapshotEnvelope:
    """Wrap a response body; ``feed`` is the parsed body when the caller has it already."""
    if feed is None:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        feed = parsed if isinstance(parsed, dict) else {}
    return SnapshotEnvelope(
        gamePk=game_pk,
        captured_at=captured_at,
        ingested_at=ingested_at or datetime.now(UTC),
        source_url=source_url,
        status_code=status_code,
        feed_timestamp=feed_timestamp_of(feed),
        payload=gzip.compress(body, compresslevel=6, mtime=0),
        payload_encoding="gzip",
    )
