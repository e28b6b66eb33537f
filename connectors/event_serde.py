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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
    ~150 us down to ~100 for the numbers and the event's own optional fields).

    How each field takes a value is worked out once per topic schema and form
    (:func:`_plans`), not from the schema again for every event (~55 us of a pitch down
    to ~15)."""
    plans = _plans(event_kind(event), named)
    body: dict[str, Any] = msgspec.to_builtins(event)
    del body["kind"]
    if isinstance(event, Retraction):
        return {"event": (f"{_NAMESPACE}.Retraction", body)}
    plan = plans[type(event).__name__]
    for field, record in plan.free_form:
        value = body.get(field)
        if value is not None:
            body[field] = record.to_avro(value)
    for field, fits in plan.optional:  # empty unless named
        value = body[field]
        if value is None:  # a null is the null branch as it is
            continue
        fit = fits.get(type(value))
        fitted = (fit, value) if isinstance(fit, str) else _MISFIT if fit is None else fit(value)
        if fitted is not _MISFIT:  # a misfit stays as it is: fastavro refuses it
            body[field] = fitted
    return {"event": (plan.full_name, body)}


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


def _record_of(optional: list[Any]) -> dict[str, Any]:
    """The record branch of ``["null", {record}]``."""
    return next(t for t in optional if isinstance(t, dict))


class _Misfit:
    """A value the typed field cannot hold: it goes to ``extra``."""


_MISFIT: Final = _Misfit()

#: how a typed field holds a value of one Python type: a union branch's name, for the value
#: as ``(branch, value)`` (most values: spelled out where used, a call costs more), or a
#: function giving the value as the field holds it (as given, as a record), or ``_MISFIT``
#: (an int out of the branch's range)
_Fit = str | Callable[[Any], Any]
#: a typed field's fits by the value's exact type (``type(True) is bool``: no Avro long)
_Fits = dict[type, _Fit]
_NO_FITS: Final[_Fits] = {}
_PYTHON_TYPE_OF: Final[dict[str, type]] = {"double": float, "string": str, "boolean": bool}
_INT_RANGE_OF: Final = {"long": (_LONG_MIN, _LONG_MAX), "int": (_INT_MIN, _INT_MAX)}


class _RecordPlan:
    """How a free-form dict becomes the typed record ``record``: the fits of each field
    (``extra`` aside), made once from the schema. ``named``: the record is a branch of a
    union, given as ``(full name, fields)``, and so are its own union values."""

    __slots__ = ("fields", "full_name", "named", "template")

    def __init__(self, record: Mapping[str, Any], named: bool) -> None:
        self.full_name = _full_name(record)
        self.named = named
        self.fields: dict[str, _Fits] = {
            f["name"]: _fits_of(f["type"], named) for f in record["fields"] if f["name"] != _EXTRA
        }
        self.template: dict[str, Any] = {**dict.fromkeys(self.fields), _EXTRA: None}

    def to_avro(self, value: Mapping[str, Any]) -> Any:
        """Typed fields for the keys that fit, ``extra`` (JSON) for the rest, in the
        dict's order; null = absent."""
        out = self.template.copy()
        extra: dict[str, Any] = {}
        fields = self.fields
        for key, item in value.items():
            fit = fields.get(key, _NO_FITS).get(type(item))  # None: no branch (nor for None)
            if isinstance(fit, str):
                out[key] = (fit, item)
                continue
            fitted = _MISFIT if fit is None else fit(item)
            if fitted is _MISFIT:
                extra[key] = item
            else:
                out[key] = fitted
        if extra:
            out[_EXTRA] = orjson.dumps(extra).decode()
        return (self.full_name, out) if self.named else out


def _fits_of(avro_type: Any, named: bool) -> _Fits:
    """For each Python type, the first branch of ``avro_type`` (in union order) that can
    hold it; given as ``(type, value)`` when ``named`` and ``avro_type`` is a union."""
    union = isinstance(avro_type, list)
    tagged = named and union
    fits: _Fits = {}
    int_ranges: list[tuple[str, int, int]] = []
    for branch in avro_type if union else [avro_type]:
        if isinstance(branch, dict):
            if "fields" in branch and dict not in fits:
                fits[dict] = _RecordPlan(branch, tagged).to_avro
        elif branch in _INT_RANGE_OF:
            int_ranges.append((branch, *_INT_RANGE_OF[branch]))
        elif branch in _PYTHON_TYPE_OF and _PYTHON_TYPE_OF[branch] not in fits:
            fits[_PYTHON_TYPE_OF[branch]] = branch if tagged else _as_is
    if int_ranges:
        fits[int] = _int_fit(tuple(int_ranges), tagged)
    return fits


def _as_is(value: Any) -> Any:
    return value


def _int_fit(ranges: tuple[tuple[str, int, int], ...], tagged: bool) -> _Fit:
    """An int as the first of the int branches (``long``, ``int``) whose range holds it."""

    def fit(value: int) -> Any:
        for branch, low, high in ranges:
            if low <= value <= high:
                return (branch, value) if tagged else value
        return _MISFIT

    return fit


@dataclass(frozen=True, slots=True)
class _BranchPlan:
    """How an event becomes its branch of the topic's union: its free-form fields'
    records, and (when named) the fits of its ``["null", <primitive>]`` fields."""

    full_name: str
    free_form: tuple[tuple[str, _RecordPlan], ...]
    optional: tuple[tuple[str, _Fits], ...]


@lru_cache(maxsize=16)
def _plans(kind: str, named: bool) -> dict[str, _BranchPlan]:
    """Union branch name -> its plan, of the topic schema of ``kind``; every plan is made
    from this schema alone (two topics' records of one name do not share a plan)."""
    return _plans_of(event_schema(kind), named)


def _plans_of(schema: Mapping[str, Any], named: bool) -> dict[str, _BranchPlan]:
    out: dict[str, _BranchPlan] = {}
    for branch in schema["fields"][0]["type"]:
        types = {f["name"]: f["type"] for f in branch["fields"]}
        free_form = tuple(
            (name, _RecordPlan(_record_of(types[name]), named))
            for name in _FREE_FORM
            if name in types
        )
        optional = tuple(
            (name, _fits_of(t, named))
            for name, t in types.items()
            if named and isinstance(t, list) and len(t) == 2 and t[0] == "null"
            if isinstance(t[1], str)  # ["null", <primitive>]
        )
        out[branch["name"]] = _BranchPlan(f"{_NAMESPACE}.{branch['name']}", free_form, optional)
    return out


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
