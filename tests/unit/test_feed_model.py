"""The one typed feed model (``flows.game.feed*``): a field validation must see as absent
is ``UNSET`` in the shared Struct, and the engine still reads MLB's names with its defaults."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
import pytest
from msgspec import UNSET

from flows.game.feed import decode_head, decode_play
from flows.game.feed_views import decode_game_tables_view, decode_scan, decode_validation_view
from flows.game.snapshot_diff import step
from sim.simulate import simulate
from tests.conftest import corpus_feed_paths, load_fixture_feed

pytestmark = pytest.mark.unit

FEED = load_fixture_feed()
BODY = orjson.dumps(FEED)


def _without(*path: str) -> bytes:
    feed: Any = orjson.loads(BODY)
    node = feed
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return orjson.dumps(feed)


def test_the_views_read_the_same_real_feed() -> None:
    head = decode_head(BODY)
    checked = decode_validation_view(BODY)
    tables = decode_game_tables_view(BODY)
    assert head.metaData.timeStamp == tables.metaData.timeStamp == FEED["metaData"]["timeStamp"]
    assert not isinstance(checked.metaData, type(UNSET))
    assert checked.metaData.time_stamp == head.metaData.timeStamp
    assert head.gameData.status == tables.gameData.status
    assert head.gameData.status.abstractGameState == "Final"
    for side in ("home", "away"):  # the engine reads the ids the game tables read
        assert getattr(head.gameData.teams, side).id == getattr(tables.gameData.teams, side).id
        assert getattr(head.gameData.teams, side).id == FEED["gameData"]["teams"][side]["id"]
    assert len(head.liveData.plays.allPlays) == len(FEED["liveData"]["plays"]["allPlays"])


@pytest.mark.parametrize(
    ("path", "read"),
    [
        (("metaData", "timeStamp"), lambda h: h.metaData.timeStamp),
        (
            ("gameData", "status", "abstractGameState"),
            lambda h: h.gameData.status.abstractGameState,
        ),
    ],
)
def test_the_engine_reads_an_absent_string_as_empty(path: tuple[str, ...], read: Any) -> None:
    assert read(decode_head(_without(*path))) == ""


def test_validation_sees_what_is_absent() -> None:
    checked = decode_validation_view(_without("metaData", "timeStamp"))
    assert not isinstance(checked.metaData, type(UNSET))
    assert checked.metaData.time_stamp is UNSET
    plays = decode_validation_view(_without("liveData", "plays", "allPlays")).liveData
    assert not isinstance(plays, type(UNSET)) and not isinstance(plays.plays, type(UNSET))
    assert plays.plays.all_plays is UNSET and plays.plays.allPlays == []


def test_the_engine_reads_absent_plays_as_no_plays() -> None:
    assert decode_head(_without("liveData", "plays", "allPlays")).liveData.plays.allPlays == []


def test_the_engine_requires_each_plays_at_bat_index() -> None:
    play: Any = orjson.loads(bytes(decode_head(BODY).liveData.plays.allPlays[5]))
    assert decode_play(orjson.dumps(play)).about.atBatIndex == 5
    del play["about"]["atBatIndex"]
    with pytest.raises(msgspec.ValidationError, match=r"missing required field `atBatIndex`"):
        decode_play(orjson.dumps(play))


def test_a_null_in_a_count_is_refused_by_the_engine_not_by_validation() -> None:
    feed: Any = orjson.loads(BODY)
    feed["liveData"]["plays"]["allPlays"][5]["count"]["balls"] = None
    body = orjson.dumps(feed)
    with pytest.raises(msgspec.ValidationError, match="Expected `int`, got `null`"):
        decode_play(decode_head(body).liveData.plays.allPlays[5])
    live = decode_validation_view(body).liveData
    assert not isinstance(live, type(UNSET)) and not isinstance(live.plays, type(UNSET))
    count = live.plays.allPlays[5].count
    assert count is not None and count.balls is None


def test_the_engine_reads_only_team_ids_so_team_details_never_refuse_a_snapshot() -> None:
    """A null venue or a fractional elevation in ``gameData.teams`` (details only the game
    tables read) must not make the engine refuse the snapshot or change its events."""
    feed = load_fixture_feed()
    odd: dict[str, Any] = orjson.loads(orjson.dumps(feed))
    odd["gameData"]["teams"]["home"]["venue"] = None
    odd["gameData"]["teams"]["away"]["league"] = "American League"
    odd["gameData"]["teams"]["away"]["venue"]["location"] = {"elevation": 12.5}
    with pytest.raises(msgspec.ValidationError):  # the game tables do read those details
        decode_game_tables_view(orjson.dumps(odd))
    head = decode_head(orjson.dumps(odd))
    assert head.gameData.teams.home.id == feed["gameData"]["teams"]["home"]["id"]
    assert head.gameData.teams.away.id == feed["gameData"]["teams"]["away"]["id"]
    _, events = step(None, orjson.dumps(odd))
    _, expected = step(None, orjson.dumps(feed))
    assert events == expected


@pytest.mark.corpus
@pytest.mark.parametrize("every", [3])
def test_the_scans_head_is_the_engines_on_every_real_snapshot(every: int) -> None:
    """``FeedScan.head`` (validation's one scan) equals the engine's own decode on every
    simulated snapshot of every corpus game, and the diff emits the same from either."""
    paths = corpus_feed_paths() or [None]
    for path in paths:
        feed = load_fixture_feed() if path is None else orjson.loads(path.read_bytes())
        by_bytes = by_head = None
        for snapshot in simulate(feed, every, seed=every, corrections=0.2, reorder=0.1):
            body = orjson.dumps(snapshot)
            head = decode_scan(body).head()
            assert head == decode_head(body)
            by_bytes, expected = step(by_bytes, body)
            by_head, events = step(by_head, body, head)
            assert events == expected
