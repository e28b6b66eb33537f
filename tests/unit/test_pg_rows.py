"""Row builders of the normalized PostgreSQL tier, on the real events of the fixture game."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import msgspec
import orjson
import pytest

from connectors import pg_game_rows as gr
from connectors import pg_game_tables as gt
from connectors import pg_rows as pn
from flows.game.accepted import AcceptedSnapshot
from flows.game.envelope import SnapshotEnvelope
from flows.game.events import Event, GameEvent, PitchEvent, PlayEvent, Retraction, RunnerEvent
from flows.game.feed_views import decode_game_tables_view
from flows.game.snapshot_diff import GameState, step
from sim.simulate import simulate

pytestmark = pytest.mark.unit

JSON = dict[str, Any]
GAME_DATE = date(2024, 7, 1)


@pytest.fixture(scope="module")
def events(fixture_feed: JSON) -> list[Event]:
    state: GameState | None = None
    out: list[Event] = []
    for snapshot in simulate(fixture_feed, 10):
        state, emitted = step(state, snapshot)
        out.extend(emitted)
    return out


def _as_dict(table: pn.Table, row: tuple[object, ...]) -> dict[str, object]:
    assert len(row) == len(table.columns)
    return dict(zip(table.columns, row, strict=True))


def test_every_event_row_fits_its_table(events: list[Event]) -> None:
    built = pn.event_rows(events)
    by_name = {t.name: t for t in pn.EVENT_TABLES}
    assert built.skipped == 0
    assert set(built.rows) == {"plays", "pitch_events", "runner_events", "game_actions"} | {
        "game_status"
    }
    for name, rows in built.rows.items():
        table = by_name[name]
        keys = [tuple(_as_dict(table, row)[k] for k in table.key) for row in rows]
        assert len(set(keys)) == len(keys), name  # one row per identity
        ids = [_as_dict(table, row)["event_id"] for row in rows]
        assert len(set(ids)) == len(ids)


def test_rows_hold_the_newest_version_per_event(fixture_feed: JSON, events: list[Event]) -> None:
    built = pn.event_rows(events)
    status = [_as_dict(pn.GAME_STATUS, r) for r in built.rows["game_status"]]
    assert len(status) == 1
    assert status[0]["detailed_state"] == "Final"
    assert status[0]["revision"] == max(
        e.revision for e in events if e.event_id == "game:744914:status"
    )
    plays = built.rows["plays"]
    assert len(plays) == len(fixture_feed["liveData"]["plays"]["allPlays"])


def test_pitch_row_flattens_pitch_and_hit_data(fixture_feed: JSON, events: list[Event]) -> None:
    pitch = next(e for e in events if isinstance(e, PitchEvent) and e.hitData)
    raw = fixture_feed["liveData"]["plays"]["allPlays"][pitch.atBatIndex]["playEvents"][
        pitch.playEventIndex
    ]
    row = _as_dict(pn.PITCH_EVENTS, pn.pitch_row(pitch))
    data, hit = raw["pitchData"], raw["hitData"]
    assert row["start_speed"] == data["startSpeed"]
    assert row["end_speed"] == data["endSpeed"]
    assert row["extension"] == data["extension"]
    assert row["zone"] == data["zone"]
    assert row["spin_rate"] == data["breaks"]["spinRate"]
    assert row["break_vertical_induced"] == data["breaks"]["breakVerticalInduced"]
    assert row["plate_x"] == data["coordinates"]["pX"]
    assert row["plate_z"] == data["coordinates"]["pZ"]
    assert row["launch_speed"] == hit["launchSpeed"]
    assert row["launch_angle"] == hit["launchAngle"]
    assert row["total_distance"] == hit["totalDistance"]
    assert row["trajectory"] == hit["trajectory"]
    assert row["hardness"] == hit["hardness"]
    assert row["hit_coord_x"] == hit["coordinates"]["coordX"]
    assert row["play_id"] == raw["playId"]
    assert row["start_time"] == datetime.fromisoformat(raw["startTime"])
    assert row["retracted"] is False


def test_pitch_row_without_tracking_data(events: list[Event]) -> None:
    pitch = next(e for e in events if isinstance(e, PitchEvent))
    bare = msgspec.structs.replace(pitch, pitchData={"startSpeed": True, "zone": 3.5}, hitData=None)
    row = _as_dict(pn.PITCH_EVENTS, pn.pitch_row(bare))
    assert row["start_speed"] is None  # a bool is not a speed
    assert row["zone"] is None
    assert row["launch_speed"] is None
    assert row["hit_data"] is None


def test_runner_row_identity(events: list[Event]) -> None:
    batter = next(e for e in events if isinstance(e, RunnerEvent) and e.startBase is None)
    row = _as_dict(pn.RUNNER_EVENTS, pn.runner_row(batter))
    assert (row["start_base"], row["occurrence"]) == ("B", 1)
    again = msgspec.structs.replace(batter, event_id=batter.event_id + ":2", playEventIndex=None)
    row = _as_dict(pn.RUNNER_EVENTS, pn.runner_row(again))
    assert (row["play_event_index"], row["occurrence"]) == (-1, 2)


def test_review_and_action_rows(events: list[Event]) -> None:
    review = GameEvent(
        event_id="game:1:5:review",
        gamePk=1,
        action="review",
        atBatIndex=5,
        inning=2,
        halfInning="top",
        review={"isOverturned": True, "inProgress": False, "reviewType": "MJ"},
        revision=1,
        source_ts="20240701_200000",
    )
    row = _as_dict(pn.REVIEWS, pn.review_row(review))
    assert (row["review_type"], row["is_overturned"], row["in_progress"]) == ("MJ", True, False)
    assert row["challenge_team_id"] is None
    sub = next(e for e in events if isinstance(e, GameEvent) and e.isSubstitution)
    row = _as_dict(pn.GAME_ACTIONS, pn.action_row(sub))
    assert row["player_id"] == sub.playerId
    assert row["is_substitution"] is True


def test_event_and_its_later_retraction_are_both_kept(events: list[Event]) -> None:
    play = next(e for e in events if isinstance(e, PlayEvent))
    gone = Retraction(
        event_id=play.event_id,
        gamePk=play.gamePk,
        revision=play.revision + 1,
        source_ts=play.source_ts,
        retracted_kind="play",
    )
    built = pn.event_rows([gone, play])
    assert [r[-4] for r in built.rows["plays"]] == [play.event_id]
    assert built.retractions["plays"] == [
        {"event_id": play.event_id, "revision": play.revision + 1, "ts": play.source_ts}
    ]


def test_table_of_event_id() -> None:
    assert pn.table_of_event_id("pitch:1:2:3") is pn.PITCH_EVENTS
    assert pn.table_of_event_id("play:1:2") is pn.PLAYS
    assert pn.table_of_event_id("runner:1:2:3:4:B") is pn.RUNNER_EVENTS
    assert pn.table_of_event_id("game:1:status") is pn.GAME_STATUS
    assert pn.table_of_event_id("game:1:2:review") is pn.REVIEWS
    assert pn.table_of_event_id("game:1:2:3") is pn.GAME_ACTIONS
    assert pn.table_of_event_id("nonsense:1") is None


def test_tolerant_getters() -> None:
    assert pn.number({"a": 1}, "a") == 1.0
    assert pn.number({"a": "1"}, "a") is None
    assert pn.integer({"a": 2.0}, "a") == 2
    assert pn.text({"a": 8}, "a") == "8"
    assert pn.text({"a": {}}, "a") is None
    assert pn.timestamp("2024-07-01T19:28:00.000Z") == datetime(2024, 7, 1, 19, 28, tzinfo=UTC)
    assert pn.timestamp("yesterday") is None


def test_snapshot_rows_of_the_final_feed(fixture_feed: JSON) -> None:
    snap = decode_game_tables_view(orjson.dumps(fixture_feed))
    built = gr.snapshot_rows(snap, GAME_DATE)
    by_name = {t.name: t for t in gr.GAME_TABLES}
    for name, rows in built.rows.items():
        for row in rows:
            _as_dict(by_name[name], row)
    game = _as_dict(gr.GAMES, built.rows["games"][0])
    gd, ld = fixture_feed["gameData"], fixture_feed["liveData"]
    assert game["game_pk"] == 744914
    assert game["game_date"] == GAME_DATE
    assert (game["home_team_id"], game["away_team_id"]) == (141, 117)
    assert game["venue_id"] == gd["venue"]["id"]
    assert game["detailed_state"] == "Final"
    assert game["home_runs"] == ld["linescore"]["teams"]["home"]["runs"]
    assert game["start_time"] == datetime(2024, 7, 1, 19, 7, tzinfo=UTC)
    assert game["source_ts"] == fixture_feed["metaData"]["timeStamp"]
    assert len(built.rows["players"]) == len(gd["players"])
    assert len(built.rows["teams"]) == 2
    assert len(built.rows["linescore_innings"]) == 2 * len(ld["linescore"]["innings"])
    assert len(built.rows["game_officials"]) == len(ld["boxscore"]["officials"])
    decisions = _as_dict(gr.GAME_DECISIONS, built.rows["game_decisions"][0])
    assert decisions["winner_id"] == ld["decisions"]["winner"]["id"]
    assert decisions["save_id"] == ld["decisions"]["save"]["id"]
    lists = [_as_dict(gr.GAME_ROSTER_LISTS, r) for r in built.rows["game_roster_lists"]]
    home_order = [r["player_id"] for r in lists if r["side"] == "home"]
    assert home_order[:9] == ld["boxscore"]["teams"]["home"]["battingOrder"]
    bullpen = {r["player_id"] for r in lists if r["list_name"] == "bullpen"}
    assert len(bullpen) == sum(len(ld["boxscore"]["teams"][s]["bullpen"]) for s in ("home", "away"))


def test_snapshot_without_decisions(fixture_feed: JSON) -> None:
    early = simulate(fixture_feed, 10)[2]
    built = gr.snapshot_rows(decode_game_tables_view(orjson.dumps(early)), GAME_DATE)
    assert built.rows["game_decisions"] == []
    assert built.source_ts == early["metaData"]["timeStamp"]
    assert built.rows["games"][0][gr.GAMES.columns.index("detailed_state")] == "In Progress"


def _accepted(game_pk: int, ts: str | None) -> AcceptedSnapshot:
    now = datetime(2024, 7, 1, tzinfo=UTC)
    envelope = SnapshotEnvelope(
        gamePk=game_pk,
        captured_at=now,
        ingested_at=now,
        source_url="http://x",
        status_code=200,
        feed_timestamp=ts,
        payload=b"{}",
        payload_encoding="identity",
    )
    return AcceptedSnapshot(envelope, b"", b"{}", GAME_DATE, None, None, None)


def test_newest_per_game() -> None:
    items = [
        _accepted(1, "20240701_200000"),
        _accepted(1, "20240701_210000"),
        _accepted(1, "20240701_205959"),
        _accepted(2, None),
        _accepted(3, "20240701_190000"),
    ]
    newest = {i.envelope.gamePk: i.envelope.feed_timestamp for i in gt.newest_per_game(items)}
    assert newest == {1: "20240701_210000", 3: "20240701_190000"}


def test_refresh_gate_writes_status_changes_final_and_every_15_s_of_feed_time() -> None:
    from connectors.pg_game_tables import RefreshGate

    gate = RefreshGate()
    assert gate.due(1, "20240701_190000", "Live/In Progress")  # first sight
    gate.written(1, "20240701_190000", "Live/In Progress")
    assert not gate.due(1, "20240701_190014", "Live/In Progress")
    assert gate.due(1, "20240701_190015", "Live/In Progress")
    assert gate.due(1, "20240701_190001", "Live/Delayed")  # a status change
    assert gate.due(2, "20240701_190001", "Live/In Progress")  # another game
    gate.written(1, "20240701_190015", "Final/Final")
    assert gate.due(1, "20240701_190016", "Final/Final")  # corrections after Final


def test_a_replays_gate_lets_through_only_first_sight_status_changes_and_final() -> None:
    from connectors.pg_game_tables import REPLAY_REFRESH, RefreshGate

    gate = RefreshGate(REPLAY_REFRESH.every)
    assert gate.due(1, "20240701_190000", "Live/In Progress")
    gate.written(1, "20240701_190000", "Live/In Progress")
    assert not gate.due(1, "20240702_190000", "Live/In Progress")  # a day later: held
    assert gate.due(1, "20240701_190001", "Live/Delayed")
    assert gate.due(1, "20240701_190001", "Final/Final")
