"""The live-stats dataflow in-process: Bytewax testing source and sinks, 1 and 2 workers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from bytewax.connectors.kafka import KafkaSourceMessage
from bytewax.testing import TestingSource

from connectors.avro_serde import AvroCodec, load_schema
from connectors.envelope_serde import encode_envelope
from connectors.event_serde import decode_event_value
from connectors.records import TOPIC_OF_KIND, _dead_letter_codec
from flows.game.boxscore import box_score
from flows.game.envelope import make_envelope, parse_feed_timestamp
from flows.stats_flow import StatsConfig
from mlbsts import topics
from sim.simulate import simulate
from tests.conftest import FIXTURE_GAME_PK
from tests.flow.harness import run_flow

pytestmark = pytest.mark.flow

URL = f"https://statsapi.mlb.com/api/v1.1/game/{FIXTURE_GAME_PK}/feed/live"


def _message(
    snap: dict[str, Any], offset: int, game_pk: int = FIXTURE_GAME_PK
) -> KafkaSourceMessage[bytes, bytes]:
    env = make_envelope(
        game_pk=game_pk,
        body=orjson.dumps(snap),
        source_url=URL,
        status_code=200,
        captured_at=datetime(2024, 7, 1, tzinfo=UTC),
        feed=snap,
    )
    return KafkaSourceMessage(
        key=str(game_pk).encode(),
        value=encode_envelope(env),
        topic=topics.RAW_GAME_SNAPSHOTS,
        partition=0,
        offset=offset,
    )


def _messages(feed: dict[str, Any], every: int) -> list[KafkaSourceMessage[bytes, bytes]]:
    return [_message(snap, offset) for offset, snap in enumerate(simulate(feed, every))]


def _later_game(feed: dict[str, Any], after: timedelta, offset: int) -> Any:
    """A load copy of ``feed`` (labelled: gamePk 1) stamped ``after`` its newest time: it
    moves the flow's clock on, as the next day's games do."""
    stamp = parse_feed_timestamp(feed["metaData"]["timeStamp"]) + after
    meta = {**feed["metaData"], "timeStamp": stamp.strftime("%Y%m%d_%H%M%S")}
    return _message({**feed, "gamePk": 1, "metaData": meta}, offset, game_pk=1)


def _official(feed: dict[str, Any]) -> dict[str, dict[str, dict[str, int]]]:
    out: dict[str, dict[str, dict[str, int]]] = {}
    for side in ("home", "away"):
        for pid, player in feed["liveData"]["boxscore"]["teams"][side]["players"].items():
            bat = player["stats"].get("batting") or {}
            if "atBats" in bat:
                out.setdefault(side, {})[pid.removeprefix("ID")] = {
                    k: bat[k]
                    for k in ("atBats", "runs", "hits", "rbi", "baseOnBalls", "strikeOuts")
                }
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_flow_stores_every_snapshot_and_emits_the_game(
    fixture_feed: dict[str, Any], workers: int
) -> None:
    msgs = _messages(fixture_feed, every=25)
    garbage = KafkaSourceMessage(
        key=b"1", value=b"not avro", topic=topics.RAW_GAME_SNAPSHOTS, partition=0, offset=999
    )
    pg, s3, log = run_flow([*msgs, msgs[3], garbage], workers)

    assert (
        len(pg) == len(s3) == len(msgs) + 1
    )  # the duplicate is stored again (upsert makes it once)
    assert {a.envelope.feed_timestamp for a in pg} == {
        orjson.loads(a.payload_json)["metaData"]["timeStamp"] for a in pg
    }
    dead = [
        _dead_letter_codec().decode(r.value) for r in log if r.topic == topics.DLQ_GAME_SNAPSHOTS
    ]
    assert sorted(d["error_class"] for d in dead) == ["stale", "unparsable"]
    stale = next(d for d in dead if d["error_class"] == "stale")
    assert (stale["source_offset"], stale["gamePk"]) == (3, FIXTURE_GAME_PK)
    events = [
        decode_event_value(r.topic, r.value) for r in log if r.topic in TOPIC_OF_KIND.values()
    ]
    per_game = [*TOPIC_OF_KIND.values(), topics.STATS_LIVE]
    assert all(r.key == str(FIXTURE_GAME_PK).encode() for r in log if r.topic in per_game)
    assert {r.topic for r in log} >= {*per_game, topics.STATS_WINDOWS}
    plays = {e.event_id for e in events if e.__struct_config__.tag == "play"}
    assert len(plays) == len(fixture_feed["liveData"]["plays"]["allPlays"])

    derived = box_score(events)
    official = _official(fixture_feed)
    for side, players in official.items():
        for pid, stats in players.items():
            got = derived["teams"][side]["batting"].get(pid, {})
            assert {k: got.get(k, 0) for k in stats} == stats, (side, pid)


def _events(log: list[Any], game_pk: int = FIXTURE_GAME_PK) -> list[bytes]:
    key = str(game_pk).encode()
    return [r.value for r in log if r.topic in TOPIC_OF_KIND.values() and r.key == key]


FAST_TICKS = StatsConfig(tick_every=timedelta(milliseconds=100))


def test_a_finished_games_state_is_released_by_ticks_on_the_flows_clock(
    fixture_feed: dict[str, Any],
) -> None:
    """The final snapshot, a pause, then the same snapshot again. Ticks are timed by the
    newest feed time the flow has read, not the wall clock: a recording from 2024 is not
    "two years after Final" (the game is held; the repeat emits nothing), until another
    game's snapshot three hours later moves the flow's clock past the grace period; then
    a tick during the pause releases the game and the repeat is processed as a new game:
    every event again, as exact duplicates."""
    final = _messages(fixture_feed, 10**6)[-1]
    again = _message(fixture_feed, final.offset + 2)
    pause = TestingSource.PAUSE(timedelta(seconds=1))
    held = _events(run_flow([final, pause, again], 1)[2])
    old_recording = _events(run_flow([final, pause, again], 1, FAST_TICKS)[2])
    later = _later_game(fixture_feed, timedelta(hours=3), final.offset + 1)
    slow_ticks = _events(run_flow([final, later, pause, again], 1)[2])
    released = _events(run_flow([final, later, pause, again], 1, FAST_TICKS)[2])
    assert len(held) > 100
    assert old_recording == slow_ticks == held
    assert sorted(released) == sorted(held + held)


def test_statistics_released_mid_game_follow_the_diff_and_start_over_complete(
    fixture_feed: dict[str, Any],
) -> None:
    """A game released mid-game (another game's snapshot three days on makes it idle, a
    tick lets it go), then the rest of its snapshots: the diff re-emits every event and the
    statistics, released with it, fold them all. Its last live box score is the one of an
    uninterrupted run."""
    msgs = _messages(fixture_feed, every=25)
    cut = len(msgs) // 2
    later = _later_game(fixture_feed, timedelta(days=3), len(msgs))
    pause = TestingSource.PAUSE(timedelta(seconds=1))
    split = run_flow([*msgs[:cut], later, pause, *msgs[cut:]], 1, FAST_TICKS)[2]
    whole = run_flow(msgs, 1, FAST_TICKS)[2]

    codec = AvroCodec(load_schema("live_stats"))

    def last_box(log: list[Any]) -> dict[str, Any]:
        key = str(FIXTURE_GAME_PK).encode()
        live = [codec.decode(r.value) for r in log if r.topic == topics.STATS_LIVE and r.key == key]
        games: list[dict[str, Any]] = [v for v in live if v["kind"] == "game"]
        return games[-1]

    assert len(_events(split)) > len(_events(whole))  # released: events emitted again
    assert last_box(split) == last_box(whole)
