"""The two bad records of the fault suite, made from a real snapshot of the input.

- :func:`refused_record`: the game's final snapshot polled again (same payload, byte for
  byte) whose ``source_url`` carries a NUL character. PostgreSQL text cannot hold NUL,
  so the raw tier's upsert is refused with a data error (psycopg ``DataError``, class 22)
  while every other sink gets exactly what the first copy gave it: the same S3 key and
  bytes, a duplicate snapshot for the diff (no event), the same game-table rows. The run
  must therefore equal the baseline plus one ``db_rejected`` dead letter. (A ``\\u0000``
  inside the payload is refused by JSONB too, but the raw S3 archive, which keeps the feed
  as received under the key of its feed timestamp, would then hold the altered copy and
  no run could equal the baseline.)
- :func:`oversized_record`: the same final snapshot, its payload sent uncompressed
  (``identity``) with an extra field of ~19 MB of random base64: a ~20 MB record (about
  15 MB after the producer's zstd), beyond ``max_snapshot_bytes`` (16 MiB) and beyond
  the 8 MiB a record may have on the log, so its dead letter cannot carry it either.
"""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson

from connectors.envelope_serde import encode_envelope
from flows.game.envelope import make_envelope
from mlbsts.demo import FEED_URL
from sim.simulate import simulate

OVERSIZED_BYTES = 20 * 1024 * 1024


def final_snapshot(feed: dict[str, Any], every: int) -> dict[str, Any]:
    """The last snapshot of the game's polling sequence (the one the input ends with)."""
    return simulate(feed, every)[-1]


def refused_record(feed: dict[str, Any], every: int) -> bytes:
    snapshot = final_snapshot(feed, every)
    game_pk = int(feed["gamePk"])
    envelope = make_envelope(
        game_pk=game_pk,
        body=orjson.dumps(snapshot),  # as mlbsts.demo.publish: the same gzip bytes
        source_url=FEED_URL.format(pk=game_pk) + "\x00",
        status_code=200,
        captured_at=datetime.now(UTC),
        feed=snapshot,
    )
    return encode_envelope(envelope)


def oversized_record(feed: dict[str, Any], every: int) -> bytes:
    snapshot = dict(final_snapshot(feed, every))
    body = orjson.dumps(snapshot)
    pad = OVERSIZED_BYTES - len(body)
    snapshot["padding"] = base64.b64encode(random.Random(15).randbytes(pad * 3 // 4)).decode()
    body = orjson.dumps(snapshot)
    game_pk = int(feed["gamePk"])
    envelope = make_envelope(
        game_pk=game_pk,
        body=b"",
        source_url=FEED_URL.format(pk=game_pk),
        status_code=200,
        captured_at=datetime.now(UTC),
        feed=snapshot,
    )
    return encode_envelope(
        msgspec.structs.replace(envelope, payload=body, payload_encoding="identity")
    )
