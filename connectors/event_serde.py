"""Values of the event topics (``mlb.events.*``): Avro, one schema per topic.

Each topic's schema (``schemas/events_<kind>.avsc``) is a record whose one field ``event``
is the union ``[<Kind>Event, Retraction]``; field names are the events' own. MLB's
free-form dicts (``pitchData``, ``hitData``, ``review``) are typed records whose fields
are all optional plus an ``extra`` JSON string holding whatever the record does not
model, so a dict round-trips exactly whatever MLB adds.

Framing: chosen for every topic alike by ``connectors.topic_codecs`` (Avro single-object
encoding when no Schema Registry is configured, the Confluent wire format when
``schema_registry_url`` is set, the schema registered under subject ``<topic>-value``).
Readers accept both, and also every released version of the schema
(``schemas/released/``).

Exceptions::

    SerdeError (ValueError, connectors.avro_serde)  a value that is not an event of the topic
    ├── UnknownFramingError / UnknownSchemaError / MalformedRecordError
    └── UnknownTopicError                           not an event topic
    SchemaRegistryError (RuntimeError, connectors.schema_registry)  the registry refused
                                                  or is unreachable
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final

import msgspec
import orjson

from connectors.avro_serde import MalformedRecordError, SerdeError, load_schema, released_schemas
from connectors.schema_registry import RegistryClient, SchemaIds, SchemaRegistryError
from connectors.topic_codecs import TopicCodecs, topic_codecs
from flows.game.events import Event, Retraction
from mlbsts import topics

__all__ = [
    "KIND_OF_TOPIC",
    "EventSerde",
    "RegistrySchemaIds",
    "SchemaIds",
    "SchemaRegistryError",
    "UnknownTopicError",
    "avro_record",
    "decode_event_value",
    "encode_event_value",
    "event_kind",
    "event_of_record",
    "event_schema",
    "released_schemas",
]

KIND_OF_TOPIC: Final = {
    topics.EVENTS_PITCH: "pitch",
    topics.EVENTS_PLAY: "play",
    topics.EVENTS_RUNNER: "runner",
    topics.EVENTS_GAME: "game",
}
_TOPIC_OF_KIND: Final = {kind: topic for topic, kind in KIND_OF_TOPIC.items()}
_NAMESPACE: Final = "mlbsts.events"
_FREE_FORM: Final = ("pitchData", "hitData", "review")
_EXTRA: Final = "extra"
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


class UnknownTopicError(SerdeError):
    """The topic is not one of the event topics."""


#: the registry client under its former name (``connectors.schema_registry``)
RegistrySchemaIds = RegistryClient


def event_schema(kind: str) -> dict[str, Any]:
    """The current value schema of the topic of ``kind`` (``schemas/events_<kind>.avsc``)."""
    return load_schema(f"events_{kind}")


def event_kind(event: Event) -> str:
    """The kind of the topic ``event`` goes to (a retraction: the kind it retracts)."""
    if isinstance(event, Retraction):
        return event.retracted_kind
    return str(event.__struct_config__.tag)


# -- event <-> Avro record -----------------------------------------------------------------


def avro_record(event: Event, *, named: bool = False) -> dict[str, Any]:
    """The topic value record of ``event`` (union branch chosen by name).

    ``named``: the nested records of the free-form fields are given as fastavro's
    ``(full name, record)`` too, and their values of a union (``["null", "long",
    "double"]``) as ``(type, value)``: the form the encoders use, the same bytes, but
    fastavro then takes each branch at once instead of validating the value against the
    branches in turn first (~100 of ~125 us of a pitch's encoding for the records; then
    ~150 us down to ~100 for the numbers and the event's own optional fields)."""
    kind = event_kind(event)
    schema = _branches(kind)
    body: dict[str, Any] = msgspec.to_builtins(event)
    del body["kind"]
    if isinstance(event, Retraction):
        return {"event": (f"{_NAMESPACE}.Retraction", body)}
    branch = f"{_NAMESPACE}.{type(event).__name__}"
    for field in _FREE_FORM:
        value = body.get(field)
        if value is not None:
            body[field] = _dict_to_avro(value, schema[branch][field], named)
    if named:
        for field, avro_type in _optional_primitives(kind)[branch].items():
            fitted = _MISFIT if body[field] is None else _fit(body[field], avro_type, named)
            if fitted is not _MISFIT:  # a misfit stays as it is: fastavro refuses it
                body[field] = fitted
    return {"event": (branch, body)}


def event_of_record(kind: str, record: Mapping[str, Any]) -> Event:
    """The event of a decoded topic value record of the topic of ``kind``."""
    body = dict(record["event"])
    if "retracted_kind" in body:
        body["kind"] = "retraction"
    else:
        body["kind"] = kind
        fields = _branches(kind)[f"{_NAMESPACE}.{kind.capitalize()}Event"]
        for field in _FREE_FORM:
            value = body.get(field)
            if value is not None:
                body[field] = _dict_from_avro(value, fields[field])
    try:
        event: Event = msgspec.convert(body, Event)
    except msgspec.ValidationError as e:
        raise MalformedRecordError(f"{kind} event: {e}") from e
    return event


@lru_cache(maxsize=8)
def _branches(kind: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Union branch full name -> field name -> the field's record schema (free-form only)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for branch in event_schema(kind)["fields"][0]["type"]:
        fields = {f["name"]: f["type"] for f in branch["fields"] if f["name"] in _FREE_FORM}
        out[f"{_NAMESPACE}.{branch['name']}"] = {
            name: _record_of(optional) for name, optional in fields.items()
        }
    return out


@lru_cache(maxsize=8)
def _optional_primitives(kind: str) -> dict[str, dict[str, list[str]]]:
    """Union branch full name -> field -> type, for its fields of type ``["null",
    <primitive>]`` (given as ``(type, value)`` when named, if :func:`_fit` says it fits)."""
    out: dict[str, dict[str, list[str]]] = {}
    for branch in event_schema(kind)["fields"][0]["type"]:
        out[f"{_NAMESPACE}.{branch['name']}"] = {
            f["name"]: f["type"]
            for f in branch["fields"]
            if isinstance(f["type"], list)
            and len(f["type"]) == 2
            and f["type"][0] == "null"
            and isinstance(f["type"][1], str)
        }
    return out


def _record_of(optional: list[Any]) -> dict[str, Any]:
    """The record branch of ``["null", {record}]``."""
    return next(t for t in optional if isinstance(t, dict))


class _Misfit:
    """A value the typed field cannot hold: it goes to ``extra``."""


_MISFIT: Final = _Misfit()


def _fit(value: Any, avro_type: Any, named: bool) -> Any:
    """``value`` as the typed field ``avro_type`` holds it, or ``_MISFIT``."""
    for branch in avro_type if isinstance(avro_type, list) else [avro_type]:
        python_type = type(value)
        if isinstance(branch, dict):
            if python_type is dict:  # (name, fields) only for a branch of a union
                return _dict_to_avro(value, branch, named and isinstance(avro_type, list))
        elif (
            (branch == "long" and python_type is int and _LONG_MIN <= value <= _LONG_MAX)
            or (branch == "int" and python_type is int and _INT_MIN <= value <= _INT_MAX)
            or (branch == "double" and python_type is float)
            or (branch == "string" and python_type is str)
            or (branch == "boolean" and python_type is bool)
        ):
            # named: (type, value), so fastavro takes the branch without validating each
            return (branch, value) if named and isinstance(avro_type, list) else value
    return _MISFIT


def _dict_to_avro(value: Mapping[str, Any], record: Mapping[str, Any], named: bool) -> Any:
    """Typed fields for the keys that fit, ``extra`` (JSON) for the rest; null = absent.
    ``named``: as ``(full name, fields)``, fastavro's notation of a union branch."""
    types = {f["name"]: f["type"] for f in record["fields"] if f["name"] != _EXTRA}
    out: dict[str, Any] = dict.fromkeys(types)
    extra: dict[str, Any] = {}
    for key, item in value.items():
        fitted = _fit(item, types[key], named) if key in types and item is not None else _MISFIT
        if fitted is _MISFIT:
            extra[key] = item
        else:
            out[key] = fitted
    out[_EXTRA] = orjson.dumps(extra).decode() if extra else None
    return (_full_name(record), out) if named else out


def _full_name(record: Mapping[str, Any]) -> str:
    name = str(record["name"])
    return name if "." in name else f"{record.get('namespace', _NAMESPACE)}.{name}"


def _dict_from_avro(value: Mapping[str, Any], record: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in record["fields"]:
        name, item = field["name"], value.get(field["name"])
        if name == _EXTRA or item is None:
            continue
        nested = [t for t in field["type"] if isinstance(t, dict)]
        out[name] = _dict_from_avro(item, nested[0]) if nested else item
    extra = value.get(_EXTRA)
    if extra is not None:
        out.update(orjson.loads(extra))
    return out


# -- framing ---------------------------------------------------------------------------------


class EventSerde:
    """Encodes events to their topic's value and decodes values of the event topics.

    Through ``TopicCodecs`` (``connectors.topic_codecs``): with ``schema_ids`` (a Schema
    Registry) values are Confluent-framed, the schema id registered or looked up under
    ``<topic>-value`` on first use of the topic; without, single-object encoded.
    """

    def __init__(self, schema_ids: SchemaIds | None = None) -> None:
        self._codecs = TopicCodecs(schema_ids)

    @classmethod
    def of(cls, codecs: TopicCodecs) -> EventSerde:
        """An ``EventSerde`` sharing ``codecs`` (and so its registry client)."""
        serde = cls()
        serde._codecs = codecs
        return serde

    def encode(self, event: Event) -> bytes:
        topic = _TOPIC_OF_KIND[event_kind(event)]
        return self._codecs.encoder(topic).encode(avro_record(event, named=True))

    def decode(self, topic: str, value: bytes) -> Event:
        kind = KIND_OF_TOPIC.get(topic)
        if kind is None:
            raise UnknownTopicError(f"{topic} is not an event topic")
        return event_of_record(kind, self._codecs.decoder(f"events_{kind}").decode(value))


@lru_cache(maxsize=1)
def _default_serde() -> EventSerde:
    return EventSerde.of(topic_codecs())


def encode_event_value(event: Event) -> bytes:
    """``event`` as the value of its topic (framing from ``schema_registry_url``)."""
    return _default_serde().encode(event)


def decode_event_value(topic: str, value: bytes) -> Event:
    """The event in a value of ``topic`` (either framing, any released schema version)."""
    return _default_serde().decode(topic, value)
