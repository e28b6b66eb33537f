"""Flow outputs as log records: each event to its topic, dead letters to the DLQ, keyed by gamePk.

Events are Avro (``schemas/events_<kind>.avsc``, ``connectors.event_serde``); dead letters
are Avro (``schemas/dead_letter.avsc``); both framed as every topic is
(``connectors.topic_codecs``). A record the broker refused for its data becomes a
small ``kafka_rejected`` dead letter (``rejected_letter``): where it was going, its key,
size and the error, never the bytes that were the problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from connectors.avro_serde import AvroCodec, SerdeError
from connectors.event_serde import encode_event_value, event_kind
from connectors.topic_codecs import value_decoder, value_encoder
from flows.game.batches import EventBatch
from flows.game.dead_letters import DeadLetter, ErrorClass
from flows.game.events import Event
from mlbsts import topics
from mlbsts.telemetry.catalogue import DEAD_LETTERS
from mlbsts.telemetry.metrics import RECORDER

TOPIC_OF_KIND = {
    "pitch": topics.EVENTS_PITCH,
    "play": topics.EVENTS_PLAY,
    "runner": topics.EVENTS_RUNNER,
    "game": topics.EVENTS_GAME,
}

#: the largest original a dead letter carries itself (``connectors.dead_letter_offload``
#: sends larger ones to S3; a ``kafka_rejected`` letter drops them)
LETTER_VALUE_MAX = 1024 * 1024


@dataclass(frozen=True, slots=True)
class OutRecord:
    """A record for the log: explicit topic, key and value bytes; ``headers`` travel with
    it (the poller's ``traceparent``); ``source_ts``, the feed timestamp of the snapshot it
    comes from, does not (it times the record's data age, docs/operating.md)."""

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    source_ts: str | None = None

    def renamed(self, suffix: str) -> OutRecord:
        """The record to its topic's name plus ``suffix`` (a replay's topics); spelt out,
        ~8x cheaper than ``dataclasses.replace``, which a replay paid per record."""
        return OutRecord(self.topic + suffix, self.key, self.value, self.headers, self.source_ts)


def topic_of(event: Event) -> str:
    """A retraction goes to the topic of the event it retracts."""
    return TOPIC_OF_KIND[event_kind(event)]


def event_record(event: Event) -> OutRecord:
    """``event`` on its topic, keyed by gamePk, its value Avro (``encode_event_value``)."""
    return OutRecord(
        topic=topic_of(event),
        key=str(event.gamePk).encode(),
        value=encode_event_value(event),
        source_ts=event.source_ts or None,
    )


@dataclass(frozen=True, slots=True)
class EncodedBatch:
    """An event batch with the log record of each of its events, in order: the flow
    encodes each event once, for the log and the S3 archive (``connectors.event_archive``
    reuses the values' Avro bodies)."""

    batch: EventBatch
    records: tuple[OutRecord, ...]


def encoded_batch(batch: EventBatch) -> EncodedBatch:
    """``batch`` and :func:`event_record` of each of its events."""
    return EncodedBatch(batch, tuple(event_record(e) for e in batch.events))


def _dead_letter_codec() -> AvroCodec:
    """The decoder of dead letters (every released version, either framing)."""
    return value_decoder("dead_letter")


def dead_letter_record(letter: DeadLetter) -> OutRecord:
    RECORDER.add(DEAD_LETTERS, error_class=letter.error_class)  # every letter passes here
    """``letter`` on the DLQ, with its stable ``letter_id`` (``flows.game.dead_letters``)."""
    key = str(letter.gamePk).encode() if letter.gamePk is not None else letter.original_key
    fields = {**msgspec.structs.asdict(letter), "letter_id": letter.letter_id}
    value = value_encoder(topics.DLQ_GAME_SNAPSHOTS).encode(fields)
    return OutRecord(topic=topics.DLQ_GAME_SNAPSHOTS, key=key, value=value)


def decode_dead_letter(value: bytes) -> DeadLetter:
    """A record of ``mlb.dlq.game-snapshots`` back as a ``DeadLetter``.

    Raises ``SerdeError`` (bad framing or body) or ``msgspec.ValidationError``.
    """
    return msgspec.convert(_dead_letter_codec().decode(value), DeadLetter)


def rejected_letter(record: OutRecord, error: str, *, size_error: bool) -> DeadLetter:
    """The ``kafka_rejected`` dead letter of ``record``, refused by the broker (or by
    librdkafka before sending) with ``error``.

    It names the topic, key and size. The value travels only when its size was not the
    problem and it is small. A refused dead letter keeps what locates its original (source
    topic, partition, offset, game, ``original_ref``) but not the original bytes: they are
    on the source topic.
    """
    size = len(record.value)
    reason = f"{size} bytes for topic {record.topic} refused by Kafka: {error}"
    keep = not size_error and size <= LETTER_VALUE_MAX
    letter = DeadLetter(
        error_class=ErrorClass.KAFKA_REJECTED,
        reason=reason,
        detected_at=datetime.now(UTC),
        gamePk=_game_pk(record.key),
        original_key=record.key,
        original_value=record.value if keep else None,
    )
    inner = _letter_in(record)
    if inner is None:
        return letter
    return msgspec.structs.replace(
        letter,
        reason=f"{reason}; it was a dead letter ({inner.error_class}: {inner.reason})",
        gamePk=inner.gamePk if inner.gamePk is not None else letter.gamePk,
        source_topic=inner.source_topic,
        source_partition=inner.source_partition,
        source_offset=inner.source_offset,
        original_key=inner.original_key,
        original_value=None,
        original_ref=inner.original_ref,
    )


def _letter_in(record: OutRecord) -> DeadLetter | None:
    """The dead letter ``record`` holds, if it is one of ``mlb.dlq.game-snapshots``."""
    if record.topic != topics.DLQ_GAME_SNAPSHOTS:
        return None
    try:
        return decode_dead_letter(record.value)
    except (SerdeError, msgspec.ValidationError):
        return None


def _game_pk(key: bytes | None) -> int | None:
    """The gamePk of a record key (the topics are keyed by gamePk), if it is one."""
    text = (key or b"").decode("ascii", "replace")
    return int(text) if text.isdigit() and len(text) <= 18 else None
