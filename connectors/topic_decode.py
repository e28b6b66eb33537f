"""The value of a record of any project topic, decoded to plain JSON-ready data (``mlbsts tail``).

Which decoder a record needs is read from the record itself, per record, so a topic may
hold a mix of framings (docs/architecture.md section 4) and a copy of a project topic under
another name (a replay's private topic, a test's) decodes too:

- ``C3 01`` + fingerprint (Avro single-object encoding): the fingerprint names the writer
  schema among ``schemas/*.avsc`` and every released version (``schemas/released/``);
- ``00`` + schema id (Confluent wire format): the topic names the schema; on a topic that
  is not a project topic, the schema the registry returns for the id does;
- ``{`` or ``[``: JSON (``mlb.raw.schedules`` holds MLB's schedule answers as sent).

Bad data is a value: a record that does not decode is a :class:`Decoded` with ``error``
set, and the caller goes on. A Schema Registry that is configured but unreachable is
broken infrastructure: ``SchemaRegistryError`` (``connectors.schema_registry``) propagates.

The values are what the schema holds, with two changes that keep a line readable: bytes
fields (the envelope's gzip ``payload``, a dead letter's ``original_value``) are given as
their size (``payload_bytes``, ``original_value_bytes``) and a dead letter's
``original_key`` as text; events are the project's event structs (``flows/game/events.py``)
with their ``kind`` tag, MLB's free-form ``pitchData``/``hitData``/``review`` as dicts.
"""

from __future__ import annotations

import fnmatch
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final, Literal

import msgspec
import orjson

from connectors.avro_serde import (
    CONFLUENT_MAGIC,
    SINGLE_OBJECT_MAGIC,
    AvroCodec,
    SchemaById,
    SerdeError,
    fingerprint,
    load_schema,
    released_schemas,
)
from connectors.event_serde import event_of_record
from connectors.topic_codecs import SCHEMA_OF_TOPIC
from mlbsts import topics

__all__ = [
    "SCHEMA_OF_TOPIC",
    "Decoded",
    "Framing",
    "TopicDecoder",
    "UnknownTopicPatternError",
    "framing_of",
    "project_topics",
]

Framing = Literal["single-object", "confluent", "json", "none", "unknown"]

_AVRO_SCHEMAS: Final = tuple(name for name in SCHEMA_OF_TOPIC.values() if name is not None)
_EVENTS_PREFIX: Final = "events_"
_KIND_OF_SCHEMA: Final = {
    "game_snapshot_envelope": "snapshot",
    "dead_letter": "dead_letter",
    "window_stats": "window",
    "system_health": "health",
    "storage_ops": "storage_op",
}


class UnknownTopicPatternError(ValueError):
    """A topic pattern (``mlb.events.*``) that matches no project topic."""


def project_topics(patterns: Iterable[str]) -> list[str]:
    """The topics named: a pattern with ``*``, ``?`` or ``[`` expands to the project topics it
    matches (``mlb.events.*``); any other name is kept as given. Order kept, no repeats."""
    found: list[str] = []
    for pattern in patterns:
        if any(c in pattern for c in "*?["):
            matched = [t for t in topics.ALL_TOPICS if fnmatch.fnmatchcase(t, pattern)]
            if not matched:
                raise UnknownTopicPatternError(
                    f"{pattern!r} matches no project topic ({', '.join(topics.ALL_TOPICS)})"
                )
        else:
            matched = [pattern]
        found.extend(t for t in matched if t not in found)
    return found


def framing_of(value: bytes | None) -> Framing:
    """How a value is framed, from its first bytes."""
    if value is None:
        return "none"
    if value[:2] == SINGLE_OBJECT_MAGIC and len(value) >= 10:
        return "single-object"
    if value[:1] == CONFLUENT_MAGIC and len(value) >= 5:
        return "confluent"
    if value.lstrip()[:1] in (b"{", b"["):
        return "json"
    return "unknown"


@dataclass(frozen=True, slots=True)
class Decoded:
    """One record's value: its ``kind``, the schema it was written with, the data.

    ``kind`` is the record's own kind: an event's tag (``pitch``, ``play``, ``runner``,
    ``game``, ``retraction``), a ``mlb.stats.live`` record's ``kind`` (``game`` or
    ``pitcher``), else ``snapshot``, ``dead_letter``, ``window``, ``health``,
    ``storage_op``, ``schedule``, ``json``, ``tombstone`` (no value) or ``undecodable``
    (``error`` says why).
    """

    kind: str
    framing: Framing
    schema: str | None
    value: dict[str, Any] | list[Any] | None
    error: str | None = None


class TopicDecoder:
    """Decodes values of every project topic (see the module docstring).

    ``schema_by_id``: the Schema Registry's lookup, needed only for Confluent-framed values.
    """

    def __init__(self, schema_by_id: SchemaById | None = None) -> None:
        self._schema_by_id = schema_by_id
        self._codecs: dict[str, AvroCodec] = {}

    @cached_property
    def _schema_of_fingerprint(self) -> dict[bytes, str]:
        return {
            fingerprint(schema): name
            for name in _AVRO_SCHEMAS
            for schema in (*released_schemas(name), load_schema(name))
        }

    @cached_property
    def _schema_of_full_name(self) -> dict[str, str]:
        return {_full_name(load_schema(name)): name for name in _AVRO_SCHEMAS}

    def decode(self, topic: str, value: bytes | None) -> Decoded:
        """The value of one record of ``topic``; never raises for bad data."""
        framing = framing_of(value)
        if value is None:
            return Decoded("tombstone", framing, None, None)
        try:
            if framing == "json":
                data = orjson.loads(value)
                kind = "schedule" if topic == topics.RAW_SCHEDULES else "json"
                return Decoded(kind, framing, None, data)
            if framing == "unknown":
                raise SerdeError(f"neither Avro framing nor JSON (first bytes {value[:2]!r})")
            schema = self._schema_name(topic, framing, value)
            return self._decode_avro(schema, framing, value)
        except (SerdeError, msgspec.ValidationError, orjson.JSONDecodeError) as e:
            return Decoded("undecodable", framing, None, None, f"{type(e).__name__}: {e}")

    def _schema_name(self, topic: str, framing: Framing, value: bytes) -> str:
        if framing == "single-object":
            name = self._schema_of_fingerprint.get(bytes(value[2:10]))
            if name is None:
                raise SerdeError(f"writer fingerprint {value[2:10].hex()} is no project schema")
            return name
        known = SCHEMA_OF_TOPIC.get(topic)
        if known is not None:
            return known
        if self._schema_by_id is None:
            raise SerdeError(
                f"Confluent-framed value on {topic}, which is no project topic, and no "
                "Schema Registry configured (MLBSTS_SCHEMA_REGISTRY_URL)"
            )
        (schema_id,) = struct.unpack(">I", value[1:5])
        full_name = _full_name(self._schema_by_id(schema_id))
        name = self._schema_of_full_name.get(full_name)
        if name is None:
            raise SerdeError(f"schema id {schema_id} is {full_name}, no project schema")
        return name

    def _codec(self, name: str) -> AvroCodec:
        codec = self._codecs.get(name)
        if codec is None:
            codec = self._codecs[name] = AvroCodec(
                load_schema(name), history=released_schemas(name), schema_by_id=self._schema_by_id
            )
        return codec

    def _decode_avro(self, name: str, framing: Framing, value: bytes) -> Decoded:
        record = self._codec(name).decode(value)
        if name.startswith(_EVENTS_PREFIX):
            event = event_of_record(name.removeprefix(_EVENTS_PREFIX), record)
            data: dict[str, Any] = msgspec.to_builtins(event)
            return Decoded(str(data["kind"]), framing, name, data)
        if name == "game_snapshot_envelope":
            record["payload_bytes"] = len(record.pop("payload"))
        elif name == "dead_letter":
            key, original = record.get("original_key"), record.pop("original_value", None)
            record["original_key"] = None if key is None else key.decode("utf-8", "replace")
            record["original_value_bytes"] = None if original is None else len(original)
        kind = str(record["kind"]) if name == "live_stats" else _KIND_OF_SCHEMA[name]
        return Decoded(kind, framing, name, msgspec.to_builtins(record))


def _full_name(schema: dict[str, Any]) -> str:
    name = str(schema.get("name", ""))
    namespace = schema.get("namespace")
    return name if "." in name or not namespace else f"{namespace}.{name}"
