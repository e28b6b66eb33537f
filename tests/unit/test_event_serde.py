"""Avro values of the event topics: real events round-trip, both framings, schema vs Struct."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import fastavro
import msgspec
import orjson
import pytest

from connectors.avro_serde import (
    MalformedRecordError,
    UnknownFramingError,
    UnknownSchemaError,
    fingerprint,
)
from connectors.event_archive import batch_objects, sync_marker
from connectors.event_serde import (
    EventSerde,
    RegistrySchemaIds,
    SchemaRegistryError,
    UnknownTopicError,
    avro_record,
    decode_event_value,
    encode_event_value,
    event_kind,
    event_of_record,
    event_schema,
)
from connectors.records import TOPIC_OF_KIND, event_record
from flows.game.batches import EventBatch
from flows.game.events import (
    Event,
    GameEvent,
    PitchEvent,
    PlayEvent,
    Retraction,
    RunnerEvent,
    encode_event,
)
from mlbsts.paths import PROJECT_ROOT
from sim.simulate import simulate
from sim.sources import run_engine
from tests.conftest import load_fixture_feed
from tests.unit.test_event_serde_plans import pitch as pitch_event

pytestmark = pytest.mark.unit

KINDS = ("pitch", "play", "runner", "game")
STRUCT_OF_KIND: dict[str, type[Event]] = {
    "pitch": PitchEvent,
    "play": PlayEvent,
    "runner": RunnerEvent,
    "game": GameEvent,
}


class FixedIds:
    """Schema ids given in advance: tests the framing only (no registry server exists here)."""

    def __init__(self, ids: Mapping[str, int]) -> None:
        self.ids = dict(ids)
        self.asked: list[str] = []
        self.by_id: dict[int, dict[str, Any]] = {}

    def id_for(self, subject: str, schema: Mapping[str, Any]) -> int:
        self.asked.append(subject)
        self.by_id[self.ids[subject]] = dict(schema)
        return self.ids[subject]

    def schema_by_id(self, schema_id: int) -> dict[str, Any]:
        return self.by_id[schema_id]


def _retractions_of(events: list[Event]) -> list[Event]:
    """The real engine emits no retraction on the recorded games: retract one of each kind."""
    firsts = {event_kind(e): e for e in reversed(events)}
    return [
        Retraction(
            event_id=e.event_id,
            gamePk=e.gamePk,
            revision=e.revision + 1,
            source_ts=e.source_ts,
            retracted_kind=kind,
        )
        for kind, e in sorted(firsts.items())
    ]


@pytest.fixture(scope="module")
def real_events() -> list[Event]:
    feed = load_fixture_feed()
    plain = list(run_engine(simulate(feed, 5)))
    corrected = run_engine(simulate(feed, 5, seed=1, corrections=0.3, reorder=0.1, gaps=0.1))
    revised = [e for e in corrected if e.revision > 0]
    return [*plain, *revised, *_retractions_of(plain)]


def test_the_fixture_has_every_kind_revisions_and_free_form_data(real_events: list[Event]) -> None:
    tags = Counter(e.__struct_config__.tag for e in real_events)
    assert set(tags) == {*KINDS, "retraction"}
    assert any(e.revision > 0 for e in real_events)
    pitches = [e for e in real_events if isinstance(e, PitchEvent)]
    assert any(p.pitchData for p in pitches) and any(p.hitData for p in pitches)


def test_every_real_event_round_trips_equal_in_single_object_encoding(
    real_events: list[Event],
) -> None:
    serde = EventSerde()
    for event in real_events:
        data = serde.encode(event)
        assert data[:2] == b"\xc3\x01"
        assert data[2:10] == fingerprint(event_schema(event_kind(event)))
        decoded = serde.decode(TOPIC_OF_KIND[event_kind(event)], data)
        assert decoded == event
        assert type(decoded) is type(event)
        assert encode_event(decoded) == encode_event(event)  # same JSON, key order included


def test_module_functions_and_event_record_use_the_topic_of_the_kind(
    real_events: list[Event],
) -> None:
    for event in real_events[:50] + real_events[-4:]:
        record = event_record(event)
        assert record.topic == TOPIC_OF_KIND[event_kind(event)]
        assert record.value == encode_event_value(event)
        assert decode_event_value(record.topic, record.value) == event


def test_confluent_framing_with_a_known_schema_id_round_trips(real_events: list[Event]) -> None:
    ids = FixedIds({f"{t}-value": 100 + n for n, t in enumerate(TOPIC_OF_KIND.values())})
    writer, reader = EventSerde(ids), EventSerde(ids)
    for event in real_events:
        topic = TOPIC_OF_KIND[event_kind(event)]
        data = writer.encode(event)
        assert data[:1] == b"\x00"
        assert struct.unpack(">I", data[1:5]) == (ids.ids[f"{topic}-value"],)
        assert reader.decode(topic, data) == event  # a reader looks the id up
        assert writer.decode(topic, data) == event
    assert sorted(set(ids.asked)) == sorted(ids.ids)
    assert len(ids.asked) == 4  # one lookup per topic, then cached
    with pytest.raises(UnknownSchemaError):  # no registry: a Confluent id cannot be resolved
        EventSerde().decode(TOPIC_OF_KIND[event_kind(event)], writer.encode(event))


def test_free_form_dicts_keep_unknown_keys_nulls_and_odd_types() -> None:
    pitch = pitch_event(
        {
            "startSpeed": 95,  # a whole number stays an int
            "endSpeed": 87.5,
            "zone": "11",  # an unexpected type goes to extra
            "plateTime": None,  # an explicit null is not an absent key
            "breaks": {"spinRate": 2300, "spinAxis": 211.5},  # a key MLB may add later
            "coordinates": [1, 2],  # not an object
            "newThing": {"a": [1, None, True]},
        },
    )
    body = avro_record(pitch)["event"][1]
    assert body["pitchData"]["breaks"]["extra"] == '{"spinAxis":211.5}'
    decoded = event_of_record("pitch", {"event": body})
    assert decoded == pitch
    assert isinstance(decoded, PitchEvent) and decoded.pitchData is not None
    assert type(decoded.pitchData["startSpeed"]) is int
    assert decoded.pitchData["plateTime"] is None and "extension" not in decoded.pitchData
    serde = EventSerde()
    assert serde.decode("mlb.events.pitch", serde.encode(pitch)) == pitch


def test_real_free_form_dicts_fit_the_typed_records_without_extra(
    real_events: list[Event],
) -> None:
    def extras(value: Any) -> list[str]:
        if not isinstance(value, dict):
            return []
        found = [value["extra"]] if value.get("extra") else []
        return found + [x for v in value.values() for x in extras(v)]

    leftovers = Counter[str]()
    for event in real_events:
        body = avro_record(event)["event"][1]
        for field in ("pitchData", "hitData", "review"):
            leftovers.update(extras(body.get(field)))
    # only an explicit null MLB gives: a review without a challenging team
    assert set(leftovers) <= {'{"challengeTeamId":null}'}


def test_avro_values_are_much_smaller_than_json(real_events: list[Event]) -> None:
    serde = EventSerde()
    by_kind_json, by_kind_avro = Counter[str](), Counter[str]()
    for event in real_events:
        by_kind_json[event_kind(event)] += len(encode_event(event))
        by_kind_avro[event_kind(event)] += len(serde.encode(event))
    for kind in KINDS:
        assert by_kind_avro[kind] < 0.5 * by_kind_json[kind], kind


@pytest.mark.parametrize("kind", KINDS)
def test_schema_branches_have_exactly_the_struct_fields(kind: str) -> None:
    event_branch, retraction = event_schema(kind)["fields"][0]["type"]
    for branch, struct_type in ((event_branch, STRUCT_OF_KIND[kind]), (retraction, Retraction)):
        avro = {f["name"]: _nullable(f["type"]) for f in branch["fields"]}
        info = msgspec.inspect.type_info(struct_type)
        assert isinstance(info, msgspec.inspect.StructType)
        fields = {f.name: _struct_nullable(f.type) for f in info.fields}
        assert avro == fields, struct_type.__name__


def _nullable(avro_type: Any) -> bool:
    return isinstance(avro_type, list) and "null" in avro_type


def _struct_nullable(t: msgspec.inspect.Type) -> bool:
    return isinstance(t, msgspec.inspect.UnionType) and any(
        isinstance(x, msgspec.inspect.NoneType) for x in t.types
    )


def test_bad_values_raise_serde_errors(real_events: list[Event]) -> None:
    serde = EventSerde()
    pitch = next(e for e in real_events if isinstance(e, PitchEvent))
    data = serde.encode(pitch)
    with pytest.raises(UnknownTopicError):
        serde.decode("mlb.raw.game-snapshots", data)
    with pytest.raises(UnknownFramingError):
        serde.decode("mlb.events.pitch", b"\x01" + data)
    with pytest.raises(UnknownFramingError):  # JSON is not a value of these topics
        serde.decode("mlb.events.pitch", encode_event(pitch))
    with pytest.raises(UnknownSchemaError):  # a pitch value is not a play value
        serde.decode("mlb.events.play", data)
    with pytest.raises(MalformedRecordError):
        serde.decode("mlb.events.pitch", data[:40])
    for field, value in (("pitcherId", 2**70), ("pitchNumber", 2**40)):  # past long, past int
        with pytest.raises(MalformedRecordError):  # refused as a record, not an OverflowError
            serde.encode(msgspec.structs.replace(pitch, **{field: value}))


def test_a_review_round_trips_with_and_without_a_challenging_team() -> None:
    serde = EventSerde()
    for team in (None, 142):
        review = {"isOverturned": False, "inProgress": False, "reviewType": "MA"}
        event = GameEvent(
            event_id="game:1:5:review",
            gamePk=1,
            action="review",
            atBatIndex=5,
            review={**review, "challengeTeamId": team},
        )
        assert serde.decode("mlb.events.game", serde.encode(event)) == event


@pytest.mark.corpus
def test_every_event_of_the_corpus_games_round_trips(data_dir: Path) -> None:
    serde = EventSerde()
    reviews = 0
    for path in sorted((data_dir / "mlb" / "feed_live").glob("*.json")):
        for event in run_engine(simulate(orjson.loads(path.read_bytes()), 10)):
            data = serde.encode(event)
            assert serde.decode(TOPIC_OF_KIND[event_kind(event)], data) == event, path.name
            reviews += isinstance(event, GameEvent) and event.review is not None
    assert reviews > 0


def test_an_unreachable_registry_is_a_schema_registry_error(real_events: list[Event]) -> None:
    serde = EventSerde(RegistrySchemaIds("http://127.0.0.1:9"))  # discard port: refused
    with pytest.raises(SchemaRegistryError, match=r"mlb\.events\.\w+-value"):
        serde.encode(real_events[0])


# -- the S3 archive's container files (pure part of connectors.event_archive) ----------------

ARCHIVE_DIGEST = """
import hashlib, sys
from datetime import date
from connectors.event_archive import batch_objects
from flows.game.batches import EventBatch
from sim.simulate import simulate
from flows.game.snapshot_diff import step
from tests.conftest import load_fixture_feed
state, digest = None, hashlib.sha256()
for snap in simulate(load_fixture_feed(), 20):
    state, events = step(state, snap)
    batch = EventBatch(1, date(2024, 7, 1), snap["metaData"]["timeStamp"], tuple(events))
    for key, data in batch_objects(batch):
        digest.update(key.encode() + data)
sys.stdout.write(digest.hexdigest())
"""


def test_archive_bytes_are_the_same_in_every_process() -> None:
    digests = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", ARCHIVE_DIGEST],
            env=env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        digests.add(done.stdout)
    assert len(digests) == 1 and len(digests.pop()) == 64


def test_archive_objects_of_a_batch(real_events: list[Event]) -> None:
    events = tuple(e for e in real_events if e.source_ts == real_events[-5].source_ts)
    batch = EventBatch(744914, date(2024, 7, 1), "20240701_213000", events)
    objects = batch_objects(batch)
    kinds = sorted({event_kind(e) for e in events})
    assert [key for key, _ in objects] == [
        f"events/date=2024-07-01/game_pk=744914/kind={k}/20240701_213000.avro" for k in kinds
    ]
    for (key, data), kind in zip(objects, kinds, strict=True):
        reader = fastavro.reader(io.BytesIO(data))
        assert isinstance(reader.writer_schema, dict)
        assert fingerprint(reader.writer_schema) == fingerprint(event_schema(kind))
        back = [event_of_record(kind, r) for r in reader if isinstance(r, dict)]
        assert back == [e for e in events if event_kind(e) == kind]
        assert data[-16:] == sync_marker(key)
    assert batch_objects(EventBatch(744914, date(2024, 7, 1), "20240701_213000", ())) == []
