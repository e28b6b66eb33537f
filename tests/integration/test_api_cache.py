"""HTTP caching on the real local stack: ETag and 304, the Redis response cache, a
Cache-Control that follows the game's state, and invalidation when new data for the game
is committed (a game fed half-way through the real dataflow, then to its end, then
corrected)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from api.key_store import create_key
from api.keys import SCOPES
from bench.api_stage import api_env, api_process, fill_game, private_schema
from connectors import pg_normalized as pn
from connectors import pg_upsert
from flows.game.events import Retraction
from mlbsts.settings import Settings
from tests.conftest import FIXTURE_GAME_PK
from tests.integration.test_api_endpoints import Api

pytestmark = pytest.mark.integration

JSON = dict[str, Any]
HALF = slice(0, 20)  # of the 49 snapshots of the fixture game at every=5: still Live
REST = slice(20, None)
PLAYS = f"/v1/games/{FIXTURE_GAME_PK}/plays?limit=500"
LINESCORE = f"/v1/games/{FIXTURE_GAME_PK}/linescore"


@pytest.fixture(scope="module")
def half_game(
    stack_settings: Settings, fixture_feed: JSON, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    with private_schema(stack_settings) as dsn:
        fill_game(dsn, fixture_feed, every=5, part=HALF)
        key = create_key(dsn, "tests", SCOPES, 100_000).key
        env = api_env(
            stack_settings, dsn, MLBSTS_API_LIVE_MAX_AGE_S="3", MLBSTS_API_FINAL_MAX_AGE_S="1800"
        )
        log_path: Path = tmp_path_factory.mktemp("api-cache") / "api.log"
        with api_process(env, log_path) as proc:
            yield Api(proc.url, key, dsn, log_path, env)


def _stored_plays(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM plays WHERE game_pk = %s AND NOT retracted", (FIXTURE_GAME_PK,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def _cached_bodies(api: Api) -> int:
    client = redis.Redis.from_url(api.env["MLBSTS_REDIS_URL"])
    try:
        prefix = api.env["MLBSTS_API_REDIS_PREFIX"]
        return sum(1 for _ in client.scan_iter(match=f"{prefix}cache:*"))
    finally:
        client.close()


def test_etag_304_and_the_redis_cache_then_new_commits_invalidate(
    half_game: Api, fixture_feed: JSON
) -> None:
    api = half_game
    first = api.get(PLAYS)
    assert first.status_code == 200 and first.headers["x-cache"] == "miss"
    assert first.headers["cache-control"] == "private, max-age=3"  # the game is Live
    etag = first.headers["etag"]
    live_plays = len(first.json()["plays"])
    assert live_plays == _stored_plays(api.dsn) > 0

    again = api.get(PLAYS)
    assert again.headers["x-cache"] == "hit" and again.headers["etag"] == etag
    assert again.content == first.content
    assert _cached_bodies(api) >= 1
    for sent in (etag, f"W/{etag}", f'"nope", {etag}'):
        unchanged = api.get(PLAYS, **{"If-None-Match": sent})
        assert unchanged.status_code == 304 and unchanged.content == b""
        assert unchanged.headers["etag"] == etag
    assert api.get(f"{PLAYS[:-3]}5").headers["etag"] != etag  # other parameters, other tag
    line_tag = api.get(LINESCORE).headers["etag"]

    fill_game(api.dsn, fixture_feed, every=5, part=REST)  # the rest of the game is committed

    after = api.get(PLAYS, **{"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["x-cache"] == "miss"
    assert after.headers["etag"] != etag
    assert after.headers["cache-control"] == "private, max-age=1800"  # now Final
    assert len(after.json()["plays"]) == _stored_plays(api.dsn) > live_plays
    assert api.get(PLAYS).headers["x-cache"] == "hit"
    line = api.get(LINESCORE, **{"If-None-Match": line_tag})
    assert line.status_code == 200 and line.headers["etag"] != line_tag


def test_a_correction_changes_only_the_answers_that_read_it(half_game: Api) -> None:
    api = half_game
    plays = api.get(PLAYS)
    line_tag = api.get(LINESCORE).headers["etag"]
    gone = plays.json()["plays"][3]
    retraction = Retraction(
        event_id=gone["event_id"],
        gamePk=FIXTURE_GAME_PK,
        revision=gone["revision"] + 1,
        source_ts="29990101_000000",
        retracted_kind="play",
    )
    with pg_upsert.connect(api.dsn, pn.EVENT_TABLES) as conn:
        pn.write_events(conn, [retraction])
    corrected = api.get(PLAYS, **{"If-None-Match": plays.headers["etag"]})
    assert corrected.status_code == 200 and corrected.headers["x-cache"] == "miss"
    ids = [p["event_id"] for p in corrected.json()["plays"]]
    assert gone["event_id"] not in ids and len(ids) == len(plays.json()["plays"]) - 1
    # the line score reads the game tables, which the correction did not touch
    assert api.get(LINESCORE, **{"If-None-Match": line_tag}).status_code == 304


def test_a_second_api_process_is_served_from_the_shared_redis_cache(
    half_game: Api, tmp_path: Path
) -> None:
    first = half_game.get(LINESCORE)
    assert first.status_code == 200
    with api_process(dict(half_game.env), tmp_path / "second.log") as other:
        second = Api(other.url, half_game.key, half_game.dsn, other.log_path, half_game.env)
        answer = second.get(LINESCORE)  # its first request: nothing in its own memory
        assert answer.headers["x-cache"] == "hit" and answer.content == first.content
        assert answer.headers["etag"] == first.headers["etag"]
