"""The snapshot diff on real feeds: robustness rules, identity, revisions, retractions.

Expected values come from MLB's own fields of the same feeds (play and event indexes,
``matchup``, substitution actions, ``metaData.timeStamp``), never from the engine.
"""

from __future__ import annotations

import copy
import pickle
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from flows.game.envelope import parse_feed_timestamp
from flows.game.events import (
    Event,
    GameEvent,
    PitchEvent,
    PlayEvent,
    Retraction,
    RunnerEvent,
    decode_event,
    encode_event,
)
from flows.game.release import Tick, is_released
from flows.game.snapshot_diff import GameState, SnapshotError, flow_step, step

pytestmark = pytest.mark.unit

JSON = dict[str, Any]


def _with(feed: JSON, ts: str, plays: list[JSON] | None = None) -> JSON:
    """A copy of ``feed`` stamped ``ts`` (and with ``plays`` as allPlays if given)."""
    out = dict(feed)
    out["metaData"] = {**feed["metaData"], "timeStamp": ts}
    if plays is not None:
        live = dict(feed["liveData"])
        live["plays"] = {**feed["liveData"]["plays"], "allPlays": plays}
        out["liveData"] = live
    return out


def _run(snapshots: list[Any]) -> tuple[GameState, list[list[Event]]]:
    state: GameState | None = None
    batches: list[list[Event]] = []
    for snapshot in snapshots:
        state, events = step(state, snapshot)
        batches.append(events)
    assert state is not None
    return state, batches


def _capture(data_dir: Path, game: str, number: int) -> bytes:
    return (data_dir / "mlb" / "snapshots" / game / f"{number}.json").read_bytes()


def _expected_counts(feed: JSON) -> dict[str, int]:
    plays = feed["liveData"]["plays"]["allPlays"]
    events = [e for p in plays for e in p["playEvents"]]
    return {
        "pitch": sum(1 for e in events if e["type"] != "action"),
        "game": sum(1 for e in events if e["type"] == "action")
        + sum(1 for p in plays if "reviewDetails" in p)
        + 1,
        "runner": sum(len(p["runners"]) for p in plays),
        "play": sum(1 for p in plays if p["about"]["isComplete"]),
    }


def _kinds(events: list[Event]) -> dict[str, int]:
    out: dict[str, int] = {}
    for event in events:
        kind = event.event_id.split(":", 1)[0]
        out[kind] = out.get(kind, 0) + 1
    return out


def test_one_final_feed_emits_every_event_once(fixture_feed: JSON) -> None:
    _, (events,) = _run([fixture_feed])
    assert _kinds(events) == _expected_counts(fixture_feed)
    assert len({e.event_id for e in events}) == len(events)
    assert all(e.revision == 0 and e.source_ts == "20240701_214404" for e in events)
    pitch = next(e for e in events if isinstance(e, PitchEvent))
    first = fixture_feed["liveData"]["plays"]["allPlays"][0]["playEvents"][pitch.playEventIndex]
    assert pitch.event_id == f"pitch:744914:0:{pitch.playEventIndex}"
    assert pitch.playId == first["playId"]


def test_identical_snapshot_emits_nothing(fixture_feed: JSON) -> None:
    body = orjson.dumps(fixture_feed)
    state, (first, second, third) = _run([body, body, fixture_feed])
    assert first
    assert second == []
    assert third == []
    assert state.duplicate_snapshots == 2


def test_older_snapshot_emits_nothing_and_is_counted(fixture_feed: JSON) -> None:
    newer = fixture_feed
    older = _with(
        fixture_feed, "20240701_200000", fixture_feed["liveData"]["plays"]["allPlays"][:10]
    )
    state, (_, stale) = _run([newer, older])
    assert stale == []
    assert state.stale_snapshots == 1
    assert state.newest_ts == newer["metaData"]["timeStamp"]


def test_gap_emits_missed_events_in_game_order(fixture_feed: JSON) -> None:
    plays = fixture_feed["liveData"]["plays"]["allPlays"]
    early = _with(fixture_feed, "20240701_200000", plays[:5])
    _, (_, gap) = _run([early, fixture_feed])
    order = [(e.atBatIndex, e.playEventIndex) for e in gap if isinstance(e, PitchEvent)]
    assert order == sorted(order)
    assert {e.atBatIndex for e in gap if isinstance(e, PlayEvent)} == set(range(5, len(plays)))


def test_changed_play_is_revised_and_reverted(fixture_feed: JSON) -> None:
    plays = fixture_feed["liveData"]["plays"]["allPlays"]
    index = next(i for i, p in enumerate(plays) if p["result"]["rbi"] > 0)
    changed = copy.deepcopy(plays[index])
    changed["result"]["rbi"] -= 1
    corrected = _with(
        fixture_feed, "20240701_214405", [*plays[:index], changed, *plays[index + 1 :]]
    )
    reverted = _with(fixture_feed, "20240701_214406")
    _, (_, revised, back) = _run([fixture_feed, corrected, reverted])
    assert [(e.event_id, e.revision) for e in revised] == [(f"play:744914:{index}", 1)]
    assert isinstance(revised[0], PlayEvent)
    assert revised[0].rbi == plays[index]["result"]["rbi"] - 1
    assert revised[0].source_ts == "20240701_214405"
    assert [(e.event_id, e.revision) for e in back] == [(f"play:744914:{index}", 2)]


def test_disappearing_play_is_retracted_and_can_come_back(fixture_feed: JSON) -> None:
    plays = fixture_feed["liveData"]["plays"]["allPlays"]
    last = plays[-1]["atBatIndex"]
    shorter = _with(fixture_feed, "20240701_214405", plays[:-1])
    again = _with(fixture_feed, "20240701_214406")
    _, (first, gone, back) = _run([fixture_feed, shorter, again])
    of_last = {e.event_id for e in first if getattr(e, "atBatIndex", None) == last}
    assert of_last
    assert all(isinstance(e, Retraction) for e in gone)
    assert {e.event_id for e in gone} == of_last
    assert {e.retracted_kind for e in gone if isinstance(e, Retraction)} <= {
        "pitch",
        "play",
        "runner",
        "game",
    }
    assert {e.event_id for e in back} == of_last
    assert {e.revision for e in back} == {2}


def test_placeholder_replaced_at_same_index(fixture_feed: JSON) -> None:
    """A "Batter Timeout." placeholder (a real action of this game) stands where the next
    plate appearance will be, then MLB replaces it at the same index."""
    plays = fixture_feed["liveData"]["plays"]["allPlays"]
    timeout = next(
        e
        for p in plays
        for e in p["playEvents"]
        if e["details"].get("eventType") == "batter_timeout"
    )
    index = next(i for i, p in enumerate(plays) if i > 3 and p["playEvents"][0]["type"] == "pitch")
    placeholder = copy.deepcopy(plays[index])
    placeholder["playEvents"] = [{**timeout, "index": 0}]
    placeholder["runners"] = []
    placeholder["about"]["isComplete"] = False
    placeholder["result"] = {"type": "atBat", "description": "Batter Timeout.", "rbi": 0}
    before = _with(fixture_feed, "20240701_200000", [*plays[:index], placeholder])
    after = _with(fixture_feed, "20240701_200100", plays[: index + 1])
    _, (first, second) = _run([before, after])
    assert not any(isinstance(e, PlayEvent) and e.atBatIndex == index for e in first)
    assert [e.event_id for e in first if getattr(e, "atBatIndex", None) == index] == [
        f"game:744914:{index}:0"
    ]
    retracted = [e.event_id for e in second if isinstance(e, Retraction)]
    assert retracted == [f"game:744914:{index}:0"]
    assert [e.event_id for e in second if isinstance(e, PlayEvent)] == [f"play:744914:{index}"]
    pitches = [e for e in second if isinstance(e, PitchEvent)]
    assert len(pitches) == sum(1 for e in plays[index]["playEvents"] if e["type"] != "action")


@pytest.mark.corpus
def test_mid_plate_appearance_pitching_change(data_dir: Path) -> None:
    """718594, play 21: Springs throws four pitches, Cleavinger replaces him at 0-2."""
    feed: JSON = orjson.loads((data_dir / "mlb" / "feed_live" / "718594.json").read_bytes())
    plays = feed["liveData"]["plays"]["allPlays"]
    play = plays[21]
    change = next(
        e for e in play["playEvents"] if e["details"].get("eventType") == "pitching_substitution"
    )
    previous = next(
        p for p in reversed(plays[:21]) if p["about"]["halfInning"] == play["about"]["halfInning"]
    )
    _, (events,) = _run([orjson.dumps(feed)])
    thrown = {
        e.playEventIndex: e.pitcherId
        for e in events
        if isinstance(e, PitchEvent) and e.atBatIndex == 21
    }
    expected = {
        e["index"]: (
            previous["matchup"]["pitcher"]["id"]
            if e["index"] < change["index"]
            else change["player"]["id"]
        )
        for e in play["playEvents"]
        if e["type"] != "action"
    }
    assert thrown == expected
    assert len(set(expected.values())) == 2
    result = next(e for e in events if isinstance(e, PlayEvent) and e.atBatIndex == 21)
    assert result.pitcherId == play["matchup"]["pitcher"]["id"]


@pytest.mark.corpus
def test_746551_captures_converge_to_the_final_feed(data_dir: Path) -> None:
    """Capture 2 equals the final feed; between the captures MLB rewrote completed plays."""
    first, second = _capture(data_dir, "746551", 1), _capture(data_dir, "746551", 2)
    final = (data_dir / "mlb" / "feed_live" / "746551.json").read_bytes()
    assert second == final
    _, (from_first, from_second) = _run([first, second])
    _, (reference,) = _run([final])
    latest = {e.event_id: e for e in [*from_first, *from_second]}
    assert not any(isinstance(e, Retraction) for e in latest.values())

    def content(event: Event) -> bytes:
        data = orjson.loads(encode_event(event))
        data.pop("revision")
        data.pop("source_ts")
        return orjson.dumps(data)

    assert {k: content(v) for k, v in latest.items()} == {e.event_id: content(e) for e in reference}
    old = orjson.loads(first)["liveData"]["plays"]["allPlays"]
    new = orjson.loads(second)["liveData"]["plays"]["allPlays"]
    changed_pitches = {
        f"pitch:746551:{a['atBatIndex']}:{ea['index']}"
        for a, b in zip(old, new, strict=False)
        for ea, eb in zip(a["playEvents"], b["playEvents"], strict=False)
        if ea["type"] != "action"
        and any(ea.get(k) != eb.get(k) for k in ("pitchData", "hitData", "startTime", "endTime"))
    }
    assert len(changed_pitches) > 250
    revised = {e.event_id for e in from_second if e.revision == 1 and isinstance(e, PitchEvent)}
    assert changed_pitches <= revised
    completed = {f"play:746551:{p['atBatIndex']}" for p in old if p["about"]["isComplete"]}
    assert len(completed) == 69
    assert completed == {
        e.event_id for e in from_second if isinstance(e, PlayEvent) and e.revision == 1
    }


@pytest.mark.corpus
def test_746139_captures_with_placeholder(data_dir: Path) -> None:
    first, second = _capture(data_dir, "746139", 1), _capture(data_dir, "746139", 2)
    state, (from_first, from_second) = _run([first, second])
    new = orjson.loads(second)
    old_plays = orjson.loads(first)["liveData"]["plays"]["allPlays"]
    assert old_plays[61]["about"]["isComplete"] is False
    assert old_plays[61]["result"]["description"] == "Batter Timeout."
    assert "play:746139:61" not in {e.event_id for e in from_first}
    assert "play:746139:61" in {e.event_id for e in from_second}
    assert not any(isinstance(e, Retraction) for e in from_second)
    for event in [*from_first, *from_second]:
        if isinstance(event, PlayEvent):
            play = new["liveData"]["plays"]["allPlays"][event.atBatIndex]
            assert event.eventType == play["result"]["eventType"]
            assert (event.awayScore, event.homeScore) == (
                play["result"]["awayScore"],
                play["result"]["homeScore"],
            )
            assert event.rbi == play["result"]["rbi"]
    assert _kinds([*from_first, *from_second]).keys() == {"pitch", "play", "runner", "game"}
    assert state.newest_ts == new["metaData"]["timeStamp"]


@pytest.mark.corpus
@pytest.mark.parametrize("game", ["633860", "746552"])
def test_single_captures(data_dir: Path, game: str) -> None:
    feed: JSON = orjson.loads(_capture(data_dir, game, 1))
    _, (events,) = _run([_capture(data_dir, game, 1)])
    assert _kinds(events) == {k: v for k, v in _expected_counts(feed).items() if v}
    status = next(e for e in events if isinstance(e, GameEvent) and e.action == "status")
    assert status.detailedState == feed["gameData"]["status"]["detailedState"]
    assert status.abstractGameState == feed["gameData"]["status"]["abstractGameState"]


@pytest.mark.corpus
def test_runner_ids_unique_even_when_mlb_repeats_a_runner(data_dir: Path) -> None:
    """746551 play 67: the batter is listed twice from home at play event 4 (strikeout,
    then to first on the wild pitch)."""
    feed: JSON = orjson.loads((data_dir / "mlb" / "feed_live" / "746551.json").read_bytes())
    runners = feed["liveData"]["plays"]["allPlays"][67]["runners"]
    _, (events,) = _run([feed])
    ids = [e.event_id for e in events if isinstance(e, RunnerEvent) and e.atBatIndex == 67]
    assert len(ids) == len(set(ids)) == len(runners)


@pytest.mark.corpus
def test_state_is_compact_and_picklable(data_dir: Path) -> None:
    """The longest game (the 2.2 MB 2023 World Series clincher), late: state ≪ feed."""
    body = (data_dir / "mlb" / "feed_live" / "748534.json").read_bytes()
    state, _ = _run([body])
    blob = pickle.dumps(state)
    assert len(blob) < 40_000
    assert len(blob) * 50 < len(body)
    again, events = step(pickle.loads(blob), body)
    assert events == []
    assert again.duplicate_snapshots == 1


def test_events_round_trip_json_and_pickle(fixture_feed: JSON) -> None:
    _, (events,) = _run([fixture_feed])
    for event in events:
        assert decode_event(encode_event(event)) == event
        assert pickle.loads(pickle.dumps(event)) == event


def test_state_released_after_grace(fixture_feed: JSON) -> None:
    final_ts = fixture_feed["metaData"]["timeStamp"]
    live = _with(
        fixture_feed, "20240701_200000", fixture_feed["liveData"]["plays"]["allPlays"][:20]
    )
    live["gameData"] = {**fixture_feed["gameData"], "status": {"abstractGameState": "Live"}}
    state, _ = step(None, live)
    assert state.final_ts is None
    assert not is_released(state.final_ts, parse_feed_timestamp(final_ts) + timedelta(days=30))
    state, _ = step(state, fixture_feed)
    assert state.final_ts == final_ts
    end = parse_feed_timestamp(final_ts)
    grace = timedelta(hours=2)
    assert not is_released(state.final_ts, end + grace - timedelta(seconds=1), grace)
    assert is_released(state.final_ts, end + grace, grace)
    kept, _ = flow_step(state, Tick(end + timedelta(minutes=5)), grace)
    assert kept is state
    released, events = flow_step(state, Tick(end + grace), grace)
    assert released is None
    assert events == []


def test_snapshot_of_another_game_is_refused(fixture_feed: JSON) -> None:
    state, _ = step(None, fixture_feed)
    with pytest.raises(SnapshotError):
        step(state, {**fixture_feed, "gamePk": 1})
    with pytest.raises(SnapshotError):
        step(None, b"not json")


def test_a_state_saved_with_other_raw_hashes_emits_nothing_again(fixture_feed: JSON) -> None:
    """A recovery state written by a release that hashed raw JSON otherwise (SHA-256,
    BLAKE2b before it): every play is decoded again, and only what is new is emitted."""
    plays = fixture_feed["liveData"]["plays"]["allPlays"]
    early, later = _with(fixture_feed, "20240701_200000", plays[:40]), fixture_feed
    state, _ = _run([early])
    _, expected = step(pickle.loads(pickle.dumps(state)), later)
    old = pickle.loads(pickle.dumps(state))
    old.snapshot_hash = bytes(16)
    for play in old.plays:
        play.raw_hash = bytes(len(play.raw_hash))  # nothing matches the new hashes
    again, events = step(old, later)
    assert expected and events == expected  # the new plays, not the 40 known ones again
    assert step(again, later)[1] == []  # and its hashes are the new ones from then on
