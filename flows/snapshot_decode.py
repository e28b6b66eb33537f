"""First step of the flow: a raw Kafka message becomes an accepted snapshot or a dead letter.

The envelope is decoded, its payload inflated (never past ``max_snapshot_bytes``: a small
gzip record cannot blow up the worker's memory; with ISA-L, ``isal``, about twice as fast
as zlib on these payloads) and validated (``flows.game.validate``). Any
failure is a :class:`~flows.game.dead_letters.DeadLetter` that carries the message's original
key and value, topic, partition and offset; the flow goes on. A snapshot without a feed
timestamp is one of them (``missing_field``): the raw tier, the S3 keys and the engine's
ordering all go by that time, so it has no defined place in any store.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from typing import cast

import msgspec
from bytewax.connectors.kafka import KafkaError, KafkaSourceMessage
from isal import isal_zlib

from connectors.avro_serde import SerdeError
from connectors.envelope_serde import decode_envelope
from flows.game.accepted import AcceptedSnapshot
from flows.game.dead_letters import DeadLetter, ErrorClass
from flows.game.envelope import SnapshotEnvelope
from flows.game.validate import check_feed
from mlbsts.settings import get_settings
from mlbsts.telemetry.tracing import traceparent_of

_GZIP_WBITS = 16 + zlib.MAX_WBITS
#: a corrupt gzip payload (isal's stub types its error class as an instance)
_CORRUPT = (EOFError, cast(type[Exception], isal_zlib.error))
_NO_TIMESTAMP = "envelope has no feed_timestamp (the feed's metaData.timeStamp)"


class _OversizedError(ValueError):
    """The payload inflates past the limit."""


def decode_snapshot(
    msg: KafkaSourceMessage[bytes | None, bytes | None] | KafkaError[bytes | None, bytes | None],
) -> AcceptedSnapshot | DeadLetter:
    """Decode and validate one raw snapshot; anything wrong is a dead letter.

    A ``KafkaError`` item (only with ``raise_on_errors=False`` sources) is broken
    infrastructure, not bad data: it raises.
    """
    if isinstance(msg, KafkaError):
        raise RuntimeError(f"Kafka error on {msg.msg.topic}[{msg.msg.partition}]: {msg.err}")

    def dead(error_class: ErrorClass, reason: str, game_pk: int | None = None) -> DeadLetter:
        return DeadLetter(
            error_class=error_class,
            reason=reason,
            detected_at=datetime.now(UTC),
            gamePk=game_pk,
            source_topic=msg.topic,
            source_partition=msg.partition,
            source_offset=msg.offset,
            original_key=msg.key,
            original_value=msg.value,
        )

    if msg.value is None:
        return dead(ErrorClass.UNPARSABLE, "empty record value")
    try:
        envelope = decode_envelope(msg.value)
    except (SerdeError, msgspec.ValidationError) as e:
        return dead(ErrorClass.UNPARSABLE, f"envelope: {e}")
    max_bytes = get_settings().max_snapshot_bytes
    try:
        payload = _payload_json(envelope, max_bytes)
    except _OversizedError as e:
        return dead(ErrorClass.OVERSIZED, str(e), envelope.gamePk)
    except _CORRUPT as e:
        return dead(ErrorClass.UNPARSABLE, f"payload: {e}", envelope.gamePk)
    check = check_feed(payload, key=msg.key, envelope_game_pk=envelope.gamePk, max_bytes=max_bytes)
    if check.failure is not None:
        return dead(*check.failure, envelope.gamePk)
    if not envelope.feed_timestamp:
        # every store keys a snapshot by its feed time, and the engine orders by it
        return dead(ErrorClass.MISSING_FIELD, _NO_TIMESTAMP, envelope.gamePk)
    return AcceptedSnapshot(
        envelope=envelope,
        raw_value=msg.value,
        payload_json=payload,
        game_date=check.official_date or envelope.captured_at.date(),
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        traceparent=traceparent_of(msg.headers),  # the poller's trace (docs/operating.md)
        head=check.head,  # the engine's view, from validation's scan
    )


def _payload_json(envelope: SnapshotEnvelope, max_bytes: int) -> bytes:
    """The payload as JSON, inflating at most ``max_bytes + 1`` bytes of gzip members."""
    if envelope.payload_encoding != "gzip":
        return envelope.payload
    parts: list[bytes] = []
    size = 0
    data = envelope.payload
    while data:
        inflater = isal_zlib.decompressobj(_GZIP_WBITS)
        parts.append(inflater.decompress(data, max_bytes + 1 - size))
        size += len(parts[-1])
        if size > max_bytes:
            raise _OversizedError(
                f"gzip payload inflates past max_snapshot_bytes={max_bytes} "
                f"({len(envelope.payload)} bytes compressed)"
            )
        if not inflater.eof:
            raise EOFError("gzip payload is truncated")
        data = inflater.unused_data
    return b"".join(parts)
