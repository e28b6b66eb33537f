"""``connectors.topic_decode``: every project topic decodes, in either framing, by content.

Records are made by the production encoders from a real game (the repository's fixture,
744914): events through ``connectors.records``, statistics through ``flows.stats_flow``'s
record values, the envelope through ``connectors.envelope_serde``.
"""

from __future__ import annotations

import struct
from datetime import UTC, date, datetime
from typing import Any

import msgspec
import orjson
import pytest

from connectors.avro_serde import AvroCodec, load_schema
from connectors.envelope_serde import encode_envelope
from connectors.event_serde import event_schema, released_schemas
from connectors.records import dead_letter_record, event_record
from connectors.topic_decode import (
    SCHEMA_OF_TOPIC,
    TopicDecoder,
    UnknownTopicPatternError,
    framing_of,
    project_topics,
)
from flows.game.batches import EventBatch
from flows.game.dead_letters import DeadLetter, ErrorClass
from flows.game.envelope import make_envelope
from flows.game.events import Event, PitchEvent, PlayEvent, Retraction, decode_event
from flows.stats.live_box import fold_batch
from flows.stats.pitchers import fold_pitches
from flows.stats.windows import WindowStats
from flows.stats_flow import live_value, pitcher_value, window_value
from mlbsts import topics
from sim.simulate import simulate
from sim.sources import run_engine
from tests.conftest import FIXTURE_GAME_PK, load_fixture_feed

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return list(run_engine(simulate(load_fixture_feed(), 10)))


def _json(event: Event) -> dict[str, Any]:
    """The event as its own JSON (``flows.game.events.encode_event``) would give it."""
    data: dict[str, Any] = msgspec.to_builtins(event)
    return data


def test_framing_is_read_from_the_first_bytes() -> None:
    assert framing_of(b"\xc3\x01" + bytes(8) + b"x") == "single-object"
    assert framing_of(b"\x00\x00\x00\x00\x07body") == "confluent"
    assert framing_of(b'  {"dates": []}') == "json"
    assert framing_of(b"[1]") == "json"
    assert framing_of(None) == "none"
    assert framing_of(b"\xc3\x01short") == "unknown"
    assert framing_of(b"plain text") == "unknown"


def test_patterns_expand_to_project_topics_and_names_pass_through() -> None:
    assert project_topics(["mlb.events.*"]) == [
        topics.EVENTS_PITCH,
        topics.EVENTS_PLAY,
        topics.EVENTS_RUNNER,
        topics.EVENTS_GAME,
    ]
    assert project_topics(["mlb.stats.live", "mlb.stats.*", "my.copy"]) == [
        topics.STATS_LIVE,
        topics.STATS_WINDOWS,
        "my.copy",
    ]
    with pytest.raises(UnknownTopicPatternError, match=r"mlb\.event\.\*"):
        project_topics(["mlb.event.*"])


def test_every_project_topic_has_a_decoder() -> None:
    assert set(SCHEMA_OF_TOPIC) == set(topics.ALL_TOPICS)


def test_every_real_event_decodes_to_its_own_json_on_any_topic_name(events: list[Event]) -> None:
    decoder = TopicDecoder()
    seen = set()
    for event in events:
        record = event_record(event)
        for topic in (record.topic, "someone.elses.copy"):  # chosen by the fingerprint
            decoded = decoder.decode(topic, record.value)
            assert decoded.error is None
            assert decoded.framing == "single-object"
            assert decoded.schema == f"events_{record.topic.rsplit('.', 1)[1]}"
            assert decoded.value == _json(event)
            assert decode_event(orjson.dumps(decoded.value)) == event
            seen.add(decoded.kind)
    assert seen == {"pitch", "play", "runner", "game"}


def test_a_retraction_decodes_with_its_kind(events: list[Event]) -> None:
    play = next(e for e in events if isinstance(e, PlayEvent))
    gone = Retraction(
        event_id=play.event_id,
        gamePk=play.gamePk,
        revision=1,
        source_ts=play.source_ts,
        retracted_kind="play",
    )
    decoded = TopicDecoder().decode(topics.EVENTS_PLAY, event_record(gone).value)
    assert (decoded.kind, decoded.schema) == ("retraction", "events_play")
    assert decoded.value == _json(gone)


def test_confluent_framing_decodes_with_the_registry_lookup(events: list[Event]) -> None:
    pitch = next(e for e in events if isinstance(e, PitchEvent))
    registry = {41: event_schema("pitch")}
    body = event_record(pitch).value[10:]  # the Avro body after the single-object header
    confluent = b"\x00" + struct.pack(">I", 41) + body
    on_topic = TopicDecoder(registry.__getitem__).decode(topics.EVENTS_PITCH, confluent)
    assert (on_topic.framing, on_topic.kind, on_topic.error) == ("confluent", "pitch", None)
    assert on_topic.value == _json(pitch)
    # on a copy under another name, the registry's schema says which decoder
    copy = TopicDecoder(registry.__getitem__).decode("copy", confluent)
    assert copy.value == on_topic.value


def test_confluent_framing_without_a_registry_is_bad_data_not_a_crash(
    events: list[Event],
) -> None:
    pitch = next(e for e in events if isinstance(e, PitchEvent))
    value = b"\x00" + struct.pack(">I", 41) + event_record(pitch).value[10:]
    decoded = TopicDecoder().decode(topics.EVENTS_PITCH, value)
    assert decoded.kind == "undecodable"
    assert decoded.error is not None and "Schema Registry" in decoded.error
    unknown_topic = TopicDecoder().decode("copy", value)
    assert unknown_topic.error is not None and "no project topic" in unknown_topic.error


@pytest.mark.parametrize(
    "value",
    [
        b"\xc3\x01" + bytes(8) + b"\x02",  # a fingerprint of no project schema
        b"not avro, not json",
        b"{not json",
    ],
)
def test_undecodable_values_are_values(value: bytes) -> None:
    decoded = TopicDecoder().decode(topics.EVENTS_PITCH, value)
    assert decoded.kind == "undecodable"
    assert decoded.value is None and decoded.error


def test_a_truncated_event_body_is_undecodable(events: list[Event]) -> None:
    pitch = next(e for e in events if isinstance(e, PitchEvent))
    decoded = TopicDecoder().decode(topics.EVENTS_PITCH, event_record(pitch).value[:20])
    assert decoded.kind == "undecodable"
    assert decoded.error is not None and "Malformed" in decoded.error


def test_live_statistics_decode_as_their_schema_holds_them(events: list[Event]) -> None:
    batch = EventBatch(FIXTURE_GAME_PK, date(2024, 7, 1), events[-1].source_ts, tuple(events))
    _, (live,) = fold_batch(None, batch)
    codec = AvroCodec(load_schema("live_stats"))
    decoded = TopicDecoder().decode(topics.STATS_LIVE, codec.encode(live_value(live)))
    assert (decoded.kind, decoded.schema) == ("game", "live_stats")
    assert isinstance(decoded.value, dict)
    assert decoded.value["game"]["home_runs"] == live.home_runs
    assert orjson.loads(decoded.value["game"]["box_json"]) == live.box
    _, pitchers = fold_pitches(None, batch)
    first = pitchers[0]
    decoded = TopicDecoder().decode(topics.STATS_LIVE, codec.encode(pitcher_value(first)))
    assert decoded.kind == "pitcher"
    assert isinstance(decoded.value, dict)
    assert decoded.value["pitcher"]["pitches"] == first.pitches
    assert decoded.value["pitcher"]["window_start"] == first.window_start.isoformat().replace(
        "+00:00", "Z"
    )


def test_windows_dead_letters_and_envelopes_decode_to_json_ready_values() -> None:
    start = datetime(2024, 7, 1, 20, 0, tzinfo=UTC)
    window = WindowStats(
        window_start=start,
        window_end=start.replace(minute=5),
        source_ts="20240701_200512",
        games=1,
        pitches=12,
        balls_in_play=3,
        exit_velocity_n=2,
        exit_velocity_avg=97.5,
        home_runs=0,
    )
    value = AvroCodec(load_schema("window_stats")).encode(window_value(window))
    decoded = TopicDecoder().decode(topics.STATS_WINDOWS, value)
    assert decoded.kind == "window"
    assert decoded.value == {**window_value(window), "window_start": "2024-07-01T20:00:00Z",
                             "window_end": "2024-07-01T20:05:00Z"}  # fmt: skip
    letter = DeadLetter(
        error_class=ErrorClass.UNPARSABLE,
        reason="not JSON",
        detected_at=start,
        gamePk=FIXTURE_GAME_PK,
        original_key=b"744914",
        original_value=b"\x00" * 5000,
    )
    decoded = TopicDecoder().decode(topics.DLQ_GAME_SNAPSHOTS, dead_letter_record(letter).value)
    assert decoded.kind == "dead_letter"
    assert isinstance(decoded.value, dict)
    assert decoded.value["original_key"] == "744914"
    assert decoded.value["original_value_bytes"] == 5000
    assert "original_value" not in decoded.value
    orjson.dumps(decoded.value)  # JSON-ready: no bytes left


def test_a_snapshot_envelope_gives_its_size_not_its_payload() -> None:
    feed = load_fixture_feed()
    body = orjson.dumps(feed)
    envelope = make_envelope(
        game_pk=FIXTURE_GAME_PK,
        body=body,
        source_url="https://statsapi.mlb.com/api/v1.1/game/744914/feed/live",
        status_code=200,
        captured_at=datetime(2024, 7, 1, 22, 0, tzinfo=UTC),
        feed=feed,
    )
    decoded = TopicDecoder().decode(topics.RAW_GAME_SNAPSHOTS, encode_envelope(envelope))
    assert decoded.kind == "snapshot"
    assert isinstance(decoded.value, dict)
    assert decoded.value["feed_timestamp"] == feed["metaData"]["timeStamp"]
    assert decoded.value["payload_bytes"] == len(envelope.payload)
    assert "payload" not in decoded.value


def test_schedules_are_json_and_a_missing_value_is_a_tombstone() -> None:
    schedule = b'{"totalGames": 2, "dates": [{"date": "2024-07-01", "games": []}]}'
    decoded = TopicDecoder().decode(topics.RAW_SCHEDULES, schedule)
    assert (decoded.kind, decoded.framing) == ("schedule", "json")
    assert decoded.value == orjson.loads(schedule)
    assert TopicDecoder().decode("elsewhere", schedule).kind == "json"
    assert TopicDecoder().decode(topics.STATS_LIVE, None).kind == "tombstone"


def test_a_record_written_with_a_released_older_schema_decodes() -> None:
    v1 = released_schemas("dead_letter")[0]  # the oldest
    assert "original_ref" not in {f["name"] for f in v1["fields"]}  # older than the current
    record = {
        "error_class": "stale",
        "reason": "older than the newest snapshot",
        "gamePk": FIXTURE_GAME_PK,
        "source_topic": topics.RAW_GAME_SNAPSHOTS,
        "source_partition": 1,
        "source_offset": 42,
        "original_key": b"744914",
        "original_value": b"{}",
        "detected_at": datetime(2024, 7, 1, 22, 0, tzinfo=UTC),
    }
    decoded = TopicDecoder().decode("any.name", AvroCodec(v1).encode(record))
    assert (decoded.kind, decoded.schema, decoded.error) == ("dead_letter", "dead_letter", None)
    assert isinstance(decoded.value, dict)
    assert decoded.value["original_ref"] is None  # the current schema's default
    assert decoded.value["source_offset"] == 42
