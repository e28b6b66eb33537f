"""The poller reads ``metaData.wait`` and ``gameData.status`` through the feed model's
:func:`~flows.game.feed_views.poller_view`, which never raises: a ``wait`` that is not a
JSON number (MLB has sent other things) is None, and a part of the wrong shape reads as
absent while the other part still counts. Then the client and the runner, on such feeds."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest

from flows.game.feed_views import poller_view
from ingest.mlb_api import ClientConfig, MlbApiClient
from ingest.policy import Phase
from mlbsts.settings import Settings
from tests.conftest import load_fixture_feed
from tests.unit.test_ingest_runner import (
    NO_CORRECTIONS,
    T0,
    FakeApi,
    FakeClock,
    FakePublisher,
    as_game,
    ingester,
    schedule_of,
)

pytestmark = pytest.mark.unit

JSON = dict[str, Any]
NOT_NUMBERS = ["10", "soon", "", True, False, None, [], [10], {}, {"seconds": 10}]


def _feed(wait: object) -> JSON:
    return {"metaData": {"timeStamp": "20240701_214404", "wait": wait}}


def test_a_real_feed_gives_its_wait_and_status() -> None:
    feed = load_fixture_feed()
    read = poller_view(feed)
    assert read.metaData.wait_seconds == float(feed["metaData"]["wait"])
    status = feed["gameData"]["status"]
    assert {k: read.status_fields[k] for k in status if k in read.status_fields} == {
        k: status[k] for k in ("abstractGameState", "detailedState", "codedGameState", "statusCode")
    }


@pytest.mark.parametrize("wait", [10, 0, 2.5, -1])
def test_a_numeric_wait_is_read_as_seconds(wait: float) -> None:
    assert poller_view(_feed(wait)).metaData.wait_seconds == float(wait)


@pytest.mark.parametrize("wait", NOT_NUMBERS, ids=repr)
def test_a_non_numeric_wait_is_none(wait: object) -> None:
    assert poller_view(_feed(wait)).metaData.wait_seconds is None


def test_a_missing_wait_or_metadata_is_none() -> None:
    assert poller_view({"metaData": {}}).metaData.wait_seconds is None
    assert poller_view({}).metaData.wait_seconds is None


@pytest.mark.parametrize("meta", [None, 7, "x", [1], {"timeStamp": 20240701, "wait": 5}])
def test_a_bad_metadata_does_not_hide_the_status(meta: object) -> None:
    read = poller_view({"metaData": meta, "gameData": {"status": {"abstractGameState": "Live"}}})
    assert read.metaData.wait_seconds is None
    assert read.status_fields["abstractGameState"] == "Live"


@pytest.mark.parametrize("game", [None, 3, {"status": None}, {"status": {"detailedState": 1}}])
def test_a_bad_status_does_not_hide_the_wait(game: object) -> None:
    read = poller_view({"metaData": {"wait": 5}, "gameData": game})
    assert read.metaData.wait_seconds == 5.0
    assert "abstractGameState" not in read.status_fields


def test_an_absent_status_reads_as_empty_strings() -> None:
    fields = poller_view({}).status_fields
    assert (fields["detailedState"], fields["codedGameState"]) == ("", "")


def _two_polls(wait: object) -> list[float]:
    """The client's sleeps over two polls of a game whose feed says ``wait``."""
    body = orjson.dumps({"gamePk": 1, **_feed(wait)})
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    config = ClientConfig.from_settings(
        Settings(), base_url="http://mlb.test", rate_per_s=1000, burst=1000
    )

    async def main() -> None:
        async with MlbApiClient(
            config,
            transport=httpx.MockTransport(lambda _: httpx.Response(200, content=body)),
            sleep=sleep,
            monotonic=lambda: 0.0,
            rand=random.Random(0),
        ) as api:
            await api.feed_live(1)
            await api.feed_live(1)

    asyncio.run(main())
    return sleeps


@pytest.mark.parametrize("wait", NOT_NUMBERS, ids=repr)
def test_the_client_ignores_a_non_numeric_wait(wait: object) -> None:
    assert _two_polls(wait) == []


def test_the_client_waits_out_a_numeric_wait() -> None:
    assert _two_polls(10) == [10.0]


@pytest.mark.parametrize("wait", ["soon", None, {"seconds": 10}], ids=repr)
def test_the_runner_polls_a_game_whose_wait_is_not_a_number(wait: object) -> None:
    def feed(pk: int, _: object) -> JSON:
        out = as_game(pk)
        out["metaData"]["wait"] = wait
        return out

    clock = FakeClock(T0)
    api = FakeApi(clock, lambda d: schedule_of(d, [1], T0), feed)
    publisher = FakePublisher()
    stats = asyncio.run(
        ingester(
            api,
            clock,
            publisher,
            days=(T0.date(),),
            cadence=NO_CORRECTIONS,
            until_final=True,
            stop_at=T0 + timedelta(hours=6),  # a poller stuck on the wait would loop
        ).run()
    )
    assert stats.poll_errors == 0
    assert {t.phase for t in stats.tracks.values()} == {Phase.DONE}
    assert [r.key for r in publisher.records if r.topic == "snap"] == [b"1"]
