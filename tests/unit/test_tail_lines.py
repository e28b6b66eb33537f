"""``mlbsts tail``'s pure parts: the readable and JSON lines of real records, the kind filter,
the start positions (``connectors.kafka_follow.parse_start``).

The records are the production encoding of the engine's events of the repository's real
game (744914), decoded back by ``connectors.topic_decode``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import orjson
import pytest

from connectors.kafka_follow import Received, Start, StartError, parse_start
from connectors.records import event_record
from connectors.topic_decode import Decoded, TopicDecoder
from flows.game.events import Event, GameEvent, PitchEvent, PlayEvent, Retraction, RunnerEvent
from mlbsts import topics
from mlbsts.record_lines import json_line, readable_line, wanted
from sim.simulate import simulate
from sim.sources import run_engine
from tests.conftest import FIXTURE_GAME_PK, load_fixture_feed

pytestmark = pytest.mark.unit

STAMP_MS = 1_719_864_062_345  # 2024-07-01T20:01:02.345Z
DECODER = TopicDecoder()


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return list(run_engine(simulate(load_fixture_feed(), 10)))


def _received(event: Event, offset: int = 7) -> tuple[Received, Decoded]:
    record = event_record(event)
    received = Received(record.topic, 1, offset, STAMP_MS, record.key, record.value)
    return received, DECODER.decode(record.topic, record.value)


def test_a_pitch_line_says_inning_count_type_speed_result_and_who(events: list[Event]) -> None:
    pitch = next(
        e
        for e in events
        if isinstance(e, PitchEvent) and e.isPitch and e.countBefore.strikes and e.countBefore.outs
    )
    line = readable_line(*_received(pitch))
    speed = pitch.pitchData["startSpeed"] if pitch.pitchData else None
    before = pitch.countBefore
    half = "T" if pitch.halfInning == "top" else "B"
    assert line == (
        f"{FIXTURE_GAME_PK} {half}{pitch.inning} {before.balls}-{before.strikes} "
        f"{before.outs}out  {pitch.pitchType} {speed:.1f} mph  {pitch.description}  "
        f"({pitch.pitcherId} → {pitch.batterId})"
    )


def test_every_pitch_of_the_game_has_a_line_with_its_speed(events: list[Event]) -> None:
    pitches = [e for e in events if isinstance(e, PitchEvent) and e.isPitch]
    lines = [readable_line(*_received(p)) for p in pitches]
    shape = re.compile(
        r"^744914 [TB]\d+ [0-3]-[0-2] [0-2]out  [A-Z]{2} \d+\.\d mph  .+  \(\d+ → \d+\)$"
    )
    assert len(pitches) > 200
    assert [line for line in lines if not shape.match(line)] == []


def test_play_runner_and_game_lines(events: list[Event]) -> None:
    play = next(e for e in events if isinstance(e, PlayEvent) and e.eventType == "single")
    line = readable_line(*_received(play))
    assert line.startswith(f"{FIXTURE_GAME_PK} {'T' if play.halfInning == 'top' else 'B'}")
    assert f"Single: {play.description}" in line
    assert line.endswith(f"away {play.awayScore} home {play.homeScore}")
    scored = next(e for e in events if isinstance(e, RunnerEvent) and e.endBase == "score")
    assert f"runner {scored.runnerId} {scored.startBase or 'home'} → score" in readable_line(
        *_received(scored)
    )
    out = next(e for e in events if isinstance(e, RunnerEvent) and e.isOut)
    assert f"out at {out.outBase}" in readable_line(*_received(out))
    status = next(e for e in events if isinstance(e, GameEvent) and e.action == "status")
    assert readable_line(*_received(status)) == (
        f"{FIXTURE_GAME_PK} status {status.abstractGameState}: {status.detailedState}"
    )


def test_revisions_and_retractions_are_marked(events: list[Event]) -> None:
    play = next(e for e in events if isinstance(e, PlayEvent))
    gone = Retraction(
        event_id=play.event_id,
        gamePk=play.gamePk,
        revision=3,
        source_ts=play.source_ts,
        retracted_kind="play",
    )
    assert (
        readable_line(*_received(gone)) == f"{FIXTURE_GAME_PK} retracted {play.event_id}  [rev 3]"
    )
    assert "[rev" not in readable_line(*_received(play))


def test_the_json_line_is_the_record_and_its_value(events: list[Event]) -> None:
    pitch = next(e for e in events if isinstance(e, PitchEvent))
    received, decoded = _received(pitch, offset=12)
    line = orjson.loads(json_line(received, decoded))
    assert line == {
        "topic": topics.EVENTS_PITCH,
        "partition": 1,
        "offset": 12,
        "timestamp": "2024-07-01T20:01:02.345Z",
        "key": str(FIXTURE_GAME_PK),
        "framing": "single-object",
        "kind": "pitch",
        "value": decoded.value,
    }
    assert line["value"]["event_id"] == pitch.event_id


def test_an_undecodable_record_is_a_line_with_its_error() -> None:
    received = Received("mlb.events.pitch", 2, 99, STAMP_MS, b"1", b"garbage")
    decoded = TopicDecoder().decode(received.topic, received.value)
    assert readable_line(received, decoded).startswith(
        "mlb.events.pitch[2]@99 key 1: undecodable unknown value: "
    )
    as_json = orjson.loads(json_line(received, decoded))
    assert "value" not in as_json and as_json["kind"] == "undecodable" and as_json["error"]


def test_the_kind_filter_keeps_what_was_asked_and_every_undecodable_record() -> None:
    pitch = Decoded("pitch", "single-object", "events_pitch", {})
    bad = Decoded("undecodable", "unknown", None, None, "not avro")
    assert wanted(pitch, frozenset())
    assert wanted(pitch, frozenset({"pitch", "play"}))
    assert not wanted(pitch, frozenset({"play"}))
    assert wanted(bad, frozenset({"play"}))


def test_start_positions() -> None:
    assert parse_start("beginning") == Start("beginning")
    assert parse_start("end") == Start("end")
    moment = datetime(2024, 7, 12, 20, 0, tzinfo=UTC)
    ms = int(moment.timestamp() * 1000)
    assert parse_start("time:2024-07-12T20:00:00Z") == Start("time", ms)
    assert parse_start("time:2024-07-12T20:00:00") == Start("time", ms)  # UTC when naive
    assert parse_start("time:2024-07-12T16:00:00-04:00") == Start("time", ms)
    for bad in ("start", "time:", "time:yesterday", "2024-07-12"):
        with pytest.raises(StartError):
            parse_start(bad)
