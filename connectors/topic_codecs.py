"""Every project topic's Avro value codec: the one place that chooses the framing.

Every producer of an Avro topic encodes through ``value_encoder(topic)`` (or
``encode_value``), every reader of one decodes through ``value_decoder(schema)`` (or
``decode_value``), so the framing follows the settings for all topics alike
(docs/architecture.md section 4):

- no ``schema_registry_url``: Avro single-object encoding (the local stack);
- ``schema_registry_url`` set: the Confluent wire format, the schema registered (on first
  use, idempotently) under the subject ``<topic>-value`` (``TopicNameStrategy``) and its
  id in every value.

A decoder accepts both framings per record: a single-object value's fingerprint names the
current schema or a released one (``schemas/released/``); a Confluent value's id is
resolved through the registry when one is configured.

Exceptions: ``SerdeError`` (``connectors.avro_serde``) for bad data, ``UnknownTopicError``
for a topic with no Avro schema, ``SchemaRegistryError`` (``connectors.schema_registry``)
when the registry refuses or cannot be reached.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from connectors.avro_serde import AvroCodec, SerdeError, load_schema, released_schemas
from connectors.schema_registry import RegistryClient, SchemaIds, subject_of
from mlbsts import topics
from mlbsts.settings import Settings, get_settings

__all__ = [
    "AVRO_TOPICS",
    "SCHEMA_OF_TOPIC",
    "Registered",
    "TopicCodecs",
    "UnknownTopicError",
    "decode_value",
    "encode_value",
    "register_schemas",
    "registry_client",
    "topic_codecs",
    "value_decoder",
    "value_encoder",
]

#: the value schema (``schemas/<name>.avsc``) of every project topic; None: not Avro
SCHEMA_OF_TOPIC: Final[dict[str, str | None]] = {
    topics.RAW_GAME_SNAPSHOTS: "game_snapshot_envelope",
    topics.RAW_SCHEDULES: None,  # JSON as MLB sent it
    topics.DLQ_GAME_SNAPSHOTS: "dead_letter",
    topics.EVENTS_PITCH: "events_pitch",
    topics.EVENTS_PLAY: "events_play",
    topics.EVENTS_RUNNER: "events_runner",
    topics.EVENTS_GAME: "events_game",
    topics.STATS_LIVE: "live_stats",
    topics.STATS_WINDOWS: "window_stats",
    topics.SYSTEM_HEALTH: "system_health",
    topics.STORAGE_OPS: "storage_ops",
}
#: the topics whose values are Avro, and their schema names
AVRO_TOPICS: Final[dict[str, str]] = {t: s for t, s in SCHEMA_OF_TOPIC.items() if s is not None}


class UnknownTopicError(SerdeError):
    """The topic has no Avro value schema in ``SCHEMA_OF_TOPIC`` and none was named."""


class TopicCodecs:
    """The encoder of each topic and the decoder of each schema, made on first use.

    ``schema_ids``: a Schema Registry (Confluent framing), or None (single-object).
    """

    def __init__(self, schema_ids: SchemaIds | None = None) -> None:
        self.schema_ids = schema_ids
        self._encoders: dict[str, AvroCodec] = {}
        self._decoders: dict[str, AvroCodec] = {}

    def encoder(self, topic: str, schema: str | None = None) -> AvroCodec:
        """The codec writing values of ``topic`` (schema ``schema``, else the topic's own)."""
        codec = self._encoders.get(topic)
        if codec is None:
            name = schema or _schema_name(topic)
            current = load_schema(name)
            schema_id = None
            if self.schema_ids is not None:
                schema_id = self.schema_ids.id_for(subject_of(topic), current)
            codec = self._encoders[topic] = AvroCodec(
                current,
                history=released_schemas(name),
                schema_id=schema_id,
                schema_by_id=self._schema_by_id(),
            )
        return codec

    def decoder(self, schema: str) -> AvroCodec:
        """The codec reading values written with ``schema`` or any released version of it,
        in either framing; it never registers anything."""
        codec = self._decoders.get(schema)
        if codec is None:
            codec = self._decoders[schema] = AvroCodec(
                load_schema(schema),
                history=released_schemas(schema),
                schema_by_id=self._schema_by_id(),
            )
        return codec

    def _schema_by_id(self) -> Any:
        return None if self.schema_ids is None else self.schema_ids.schema_by_id


def _schema_name(topic: str) -> str:
    name = AVRO_TOPICS.get(topic)
    if name is None:
        raise UnknownTopicError(f"{topic} has no Avro value schema")
    return name


def registry_client(settings: Settings) -> RegistryClient | None:
    """The settings' Schema Registry, or None when none is configured."""
    url = settings.schema_registry_url
    if not url:
        return None
    return RegistryClient(url, timeout_s=settings.schema_registry_timeout_s)


@lru_cache(maxsize=1)
def topic_codecs() -> TopicCodecs:
    """The process's codecs, framed as the settings say (one registry client)."""
    return TopicCodecs(registry_client(get_settings()))


def value_encoder(topic: str, schema: str | None = None) -> AvroCodec:
    """The encoder of ``topic``'s values (see the module docstring)."""
    return topic_codecs().encoder(topic, schema)


def value_decoder(schema: str) -> AvroCodec:
    """The decoder of values written with ``schema`` (either framing)."""
    return topic_codecs().decoder(schema)


def encode_value(topic: str, record: Mapping[str, Any], schema: str | None = None) -> bytes:
    """``record`` as a value of ``topic``."""
    return value_encoder(topic, schema).encode(record)


def decode_value(topic: str, data: bytes, schema: str | None = None) -> dict[str, Any]:
    """A value of ``topic`` (either framing) as a record of its current schema."""
    return value_decoder(schema or _schema_name(topic)).decode(data)


# --- registration (``mlbsts init``) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Registered:
    """A topic's value schema as the registry holds it."""

    topic: str
    subject: str
    schema_id: int
    compatibility: str


def register_schemas(
    client: RegistryClient, compatibility: str, topic_schemas: Mapping[str, str] = AVRO_TOPICS
) -> list[Registered]:
    """Sets each topic's subject to ``compatibility``, then registers the topic's current
    schema there (idempotent: a schema already registered keeps its id). The registry
    refuses a schema its compatibility level forbids: ``SchemaRegistryError``."""
    done = []
    for topic, name in topic_schemas.items():
        subject = subject_of(topic)
        level = client.set_compatibility(subject, compatibility)
        schema_id = client.id_for(subject, load_schema(name))
        done.append(Registered(topic, subject, schema_id, level))
    return done
