"""The snapshot envelope on the log: ``SnapshotEnvelope`` <-> Avro bytes."""

from __future__ import annotations

from functools import lru_cache

import msgspec

from connectors.avro_serde import AvroCodec, load_schema
from flows.game.envelope import SnapshotEnvelope

ENVELOPE_SCHEMA = "game_snapshot_envelope"


@lru_cache(maxsize=1)
def envelope_codec() -> AvroCodec:
    return AvroCodec(load_schema(ENVELOPE_SCHEMA))


def encode_envelope(envelope: SnapshotEnvelope) -> bytes:
    return envelope_codec().encode(msgspec.structs.asdict(envelope))


def decode_envelope(data: bytes) -> SnapshotEnvelope:
    """Raises ``SerdeError`` (bad framing or body) or ``msgspec.ValidationError``."""
    record = envelope_codec().decode(data)
    return msgspec.convert(record, SnapshotEnvelope)
