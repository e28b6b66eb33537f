"""Flow outputs as log records: each event to its topic, dead letters to the DLQ, keyed by gamePk.

Events are Avro (``schemas/events_<kind>.avsc``, ``connectors.event_serde``); dead letters
are Avro (``schemas/dead_letter.avsc``).
"""

from __future__ import annotations

from functools import lru_cache

import msgspec

from connectors.avro_serde import AvroCodec, load_schema
from connectors.event_serde import encode_event_value, event_kind
from connectors.kafka_io import OutRecord
from flows.game.dead_letters import DeadLetter
from flows.game.events import Event
from mlbsts import topics

TOPIC_OF_KIND = {
    "pitch": topics.EVENTS_PITCH,
    "play": topics.EVENTS_PLAY,
    "runner": topics.EVENTS_RUNNER,
    "game": topics.EVENTS_GAME,
}


def topic_of(event: Event) -> str:
    """A retraction goes to the topic of the event it retracts."""
    return TOPIC_OF_KIND[event_kind(event)]


def event_record(event: Event) -> OutRecord:
    """``event`` on its topic, keyed by gamePk, its value Avro (``encode_event_value``)."""
    return OutRecord(
        topic=topic_of(event), key=str(event.gamePk).encode(), value=encode_event_value(event)
    )


@lru_cache(maxsize=1)
def _dead_letter_codec() -> AvroCodec:
    return AvroCodec(load_schema("dead_letter"))


def dead_letter_record(letter: DeadLetter) -> OutRecord:
    key = str(letter.gamePk).encode() if letter.gamePk is not None else letter.original_key
    value = _dead_letter_codec().encode(msgspec.structs.asdict(letter))
    return OutRecord(topic=topics.DLQ_GAME_SNAPSHOTS, key=key, value=value)


def decode_dead_letter(value: bytes) -> DeadLetter:
    """A record of ``mlb.dlq.game-snapshots`` back as a ``DeadLetter``.

    Raises ``SerdeError`` (bad framing or body) or ``msgspec.ValidationError``.
    """
    return msgspec.convert(_dead_letter_codec().decode(value), DeadLetter)
