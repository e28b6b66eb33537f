"""The live-stats dataflow in-process: Bytewax testing source and sinks, 1 and 2 workers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from bytewax.connectors.kafka import KafkaSourceMessage
from bytewax.testing import TestingSource

from connectors.envelope_serde import encode_envelope
from connectors.event_serde import decode_event_value
from connectors.records import TOPIC_OF_KIND, _dead_letter_codec
from flows.game.boxscore import box_score
from flows.game.envelope import make_envelope
from flows.stats_flow import StatsConfig
from mlbsts import topics
from sim.simulate import simulate
from tests.conftest import FIXTURE_GAME_PK
from tests.flow.harness import run_flow

pytestmark = pytest.mark.flow

URL = f"https://statsapi.mlb.com/api/v1.1/game/{FIXTURE_GAME_PK}/feed/live"


def _messages(feed: dict[str, Any], every: int) -> list[KafkaSourceMessage[bytes, bytes]]:
    out = []
    for offset, snap in enumerate(simulate(feed, every)):
        env = make_envelope(
            game_pk=FIXTURE_GAME_PK,
            body=orjson.dumps(snap),
            source_url=URL,
            status_code=200,
            captured_at=datetime(2024, 7, 1, tzinfo=UTC),
            feed=snap,
        )
        out.append(
            KafkaSourceMessage(
                key=str(FIXTURE_GAME_PK).encode(),
                value=encode_envelope(env),
                topic=topics.RAW_GAME_SNAPSHOTS,
                partition=0,
                offset=offset,
            )
        )
    return out


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


def test_a_finished_games_state_is_released_on_wall_clock_ticks(
    fixture_feed: dict[str, Any],
) -> None:
    """The final snapshot, a pause, then the same snapshot again. With ticks every 5 minutes
    (production) the game's state is still held, so the repeat emits nothing. With ticks
    every 0.1 s, the Final game's state (its grace long over) is released during the pause,
    and the repeat is processed as a new game: every event again, as exact duplicates."""
    final = _messages(fixture_feed, 10**6)[-1]
    again = KafkaSourceMessage(
        key=final.key, value=final.value, topic=final.topic, partition=0, offset=final.offset + 1
    )
    msgs: list[Any] = [final, TestingSource.PAUSE(timedelta(seconds=1)), again]

    def events(log: list[Any]) -> list[bytes]:
        return [r.value for r in log if r.topic in TOPIC_OF_KIND.values()]

    held = events(run_flow(msgs, 1)[2])
    released = events(run_flow(msgs, 1, StatsConfig(tick_every=timedelta(milliseconds=100)))[2])
    assert len(held) > 100
    assert sorted(released) == sorted(held + held)
