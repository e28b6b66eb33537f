"""``avro_record``'s plans (made once per topic schema and form): what each typed field
takes, the named and plain forms, and plans of one record name in two topics' schemas."""

from __future__ import annotations

import functools
import io
from typing import Any

import fastavro
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors import event_serde
from connectors.event_serde import EventSerde, avro_record, event_of_record, event_schema
from flows.game.events import Count, GameEvent, PitchEvent

pytestmark = pytest.mark.unit

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


def pitch(pitch_data: dict[str, Any] | None = None, **fields: Any) -> PitchEvent:
    return PitchEvent(
        event_id="pitch:1:0:0",
        gamePk=1,
        atBatIndex=0,
        playEventIndex=0,
        type="pitch",
        isPitch=True,
        inning=1,
        halfInning="top",
        countBefore=Count(),
        countAfter=Count(balls=1),
        pitcherId=fields.pop("pitcherId", 7),
        batterId=8,
        pitchData=pitch_data,
        **fields,
    )


@functools.cache
def pitch_schema() -> Any:
    return fastavro.parse_schema(event_schema("pitch"))


@functools.cache
def serde() -> EventSerde:
    return EventSerde()


def avro_bytes(event: PitchEvent, *, named: bool) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, pitch_schema(), avro_record(event, named=named))
    return out.getvalue()


def test_each_number_takes_its_first_branch_that_holds_it_and_bools_are_not_numbers() -> None:
    data = {
        "startSpeed": True,  # a bool is no long (type(True) is bool)
        "endSpeed": LONG_MAX + 1,  # past long, and an int is no double
        "zone": LONG_MAX,
        "typeConfidence": LONG_MIN,
        "plateTime": 1.0,
        "extension": None,  # an explicit null
        "breaks": {"spinRate": 2300, "spinAxis": False},
        "coordinates": {"pX": -0.5, "x": "12"},
        "later": [1],
    }
    named = avro_record(pitch(data), named=True)["event"][1]["pitchData"]
    assert named[0] == "mlbsts.events.PitchData"
    fields = named[1]
    assert fields["zone"] == ("long", LONG_MAX) and fields["typeConfidence"] == ("long", LONG_MIN)
    assert fields["plateTime"] == ("double", 1.0)
    assert fields["startSpeed"] is None and fields["endSpeed"] is None
    assert orjson.loads(fields["extra"]) == {
        "startSpeed": True,
        "endSpeed": LONG_MAX + 1,
        "extension": None,
        "later": [1],
    }
    assert list(orjson.loads(fields["extra"])) == ["startSpeed", "endSpeed", "extension", "later"]
    assert fields["breaks"] == (
        "mlbsts.events.PitchBreaks",
        {
            **dict.fromkeys(fields["breaks"][1]),
            "spinRate": ("long", 2300),
            "extra": '{"spinAxis":false}',
        },
    )
    assert fields["coordinates"][1]["pX"] == ("double", -0.5)
    assert fields["coordinates"][1]["extra"] == '{"x":"12"}'
    assert avro_bytes(pitch(data), named=True) == avro_bytes(pitch(data), named=False)


def test_an_event_field_past_its_range_stays_as_it_is_and_is_refused() -> None:
    body = avro_record(pitch(pitchNumber=2**31), named=True)["event"][1]
    assert body["pitchNumber"] == 2**31  # as given: not ("int", ...), fastavro refuses it
    assert body["pitcherId"] == ("long", 7) and body["playId"] is None
    assert avro_record(pitch(pitchNumber=2**31 - 1), named=True)["event"][1]["pitchNumber"] == (
        "int",
        2**31 - 1,
    )
    with pytest.raises(event_serde.MalformedRecordError):
        serde().encode(pitch(pitchNumber=2**31))


def test_named_and_plain_forms_do_not_share_plans() -> None:
    event = pitch({"startSpeed": 95.5, "coordinates": {"pX": 1}}, pitchNumber=3)
    for _ in range(2):  # each form after the other, both ways round
        named = avro_record(event, named=True)["event"][1]
        plain = avro_record(event)["event"][1]
        assert named["pitchNumber"] == ("int", 3) and plain["pitchNumber"] == 3
        assert named["pitchData"][1]["coordinates"][1]["pX"] == ("long", 1)
        assert plain["pitchData"]["startSpeed"] == 95.5
        assert plain["pitchData"]["coordinates"]["pX"] == 1


def details(fields: list[dict[str, Any]]) -> list[Any]:
    extra = {"name": "extra", "type": ["null", "string"], "default": None}
    return ["null", {"type": "record", "name": "Details", "fields": [*fields, extra]}]


def topic_schema(kind: str, branch: str, field: str, fields: list[dict[str, Any]]) -> Any:
    event = {"type": "record", "name": branch, "fields": [{"name": field, "type": details(fields)}]}
    retraction = {"type": "record", "name": "Retraction", "fields": []}
    return {
        "type": "record",
        "name": f"{kind}Value",
        "namespace": "mlbsts.events",
        "fields": [{"name": "event", "type": [event, retraction]}],
    }


def test_records_of_one_name_in_two_topics_keep_their_own_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """mlbsts.events.Details is a different record in each topic: neither takes the
    other's fields (plans are made per topic schema, not per record name)."""
    speed = {"name": "speed", "type": ["null", "long", "double"]}
    schemas = {
        "pitch": topic_schema("Pitch", "PitchEvent", "pitchData", [speed]),
        "game": topic_schema(
            "Game", "GameEvent", "review", [{"name": "speed", "type": ["null", "string"]}]
        ),
    }
    monkeypatch.setattr(event_serde, "event_schema", schemas.__getitem__)
    event_serde._plans.cache_clear()
    try:
        game = GameEvent(event_id="game:1:0:0", gamePk=1, action="review", review={"speed": 1.5})
        for _ in range(2):
            for named in (True, False):
                got = avro_record(pitch({"speed": 1.5}), named=named)["event"][1]["pitchData"]
                assert (got[1] if named else got) == {
                    "speed": ("double", 1.5) if named else 1.5,
                    "extra": None,
                }
                got = avro_record(game, named=named)["event"][1]["review"]
                assert (got[1] if named else got) == {"speed": None, "extra": '{"speed":1.5}'}
    finally:
        event_serde._plans.cache_clear()


FREE_FORM_KEYS = ["startSpeed", "zone", "plateTime", "extra", "later", "breaks", "coordinates"]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=LONG_MIN, max_value=2**64 - 1),  # what JSON (orjson) can hold
    st.sampled_from([LONG_MIN, LONG_MAX, LONG_MAX + 1, 2**31, -(2**31) - 1]),
    st.floats(allow_nan=False, allow_infinity=False),  # JSON (extra) has neither
    st.text(max_size=3),
)
FREE_FORM = st.recursive(
    SCALARS,
    lambda inner: st.dictionaries(
        st.sampled_from([*FREE_FORM_KEYS, "spinRate", "pX"]), inner, max_size=6
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.sampled_from(FREE_FORM_KEYS), FREE_FORM, max_size=7))
def test_any_free_form_dict_round_trips_and_both_forms_give_the_same_bytes(
    data: dict[str, Any],
) -> None:
    event = pitch(data)
    assert avro_bytes(event, named=True) == avro_bytes(event, named=False)
    decoded = serde().decode("mlb.events.pitch", serde().encode(event))
    assert decoded == event
    assert event_of_record("pitch", {"event": avro_record(event)["event"][1]}) == event
