"""The snapshot envelope on the log: ``SnapshotEnvelope`` <-> Avro bytes.

Framed as every topic is (``connectors.topic_codecs``): single-object encoding, or the
Confluent wire format when a Schema Registry is configured; decoding accepts both.
"""

from __future__ import annotations

import msgspec

from connectors.avro_serde import AvroCodec
from connectors.topic_codecs import value_decoder, value_encoder
from flows.game.envelope import SnapshotEnvelope
from mlbsts import topics

ENVELOPE_SCHEMA = "game_snapshot_envelope"


def envelope_codec() -> AvroCodec:
    """The encoder of ``mlb.raw.game-snapshots`` values."""
    return value_encoder(topics.RAW_GAME_SNAPSHOTS)


def encode_envelope(envelope: SnapshotEnvelope) -> bytes:
    return envelope_codec().encode(msgspec.structs.asdict(envelope))


def decode_envelope(data: bytes) -> SnapshotEnvelope:
    """Raises ``SerdeError`` (bad framing or body) or ``msgspec.ValidationError``."""
    record = value_decoder(ENVELOPE_SCHEMA).decode(data)
    return msgspec.convert(record, SnapshotEnvelope)
