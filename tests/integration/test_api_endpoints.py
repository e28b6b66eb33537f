"""The API's routes answer what the tables hold, on the real local stack: a private schema
filled with a real game (744914) by the real dataflow, ``mlbsts api`` as a process, and
MLB's own box and line scores as the oracle. Also the fixtures of the other API tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
import pytest
import redis

from api.key_store import create_key
from api.keys import SCOPES
from api.models import (
    BoxScore,
    GamesOfDate,
    LineScore,
    LiveState,
    PitcherFigures,
    Pitches,
    Plays,
    Windows,
)
from bench.api_stage import api_env, api_process, fill_game, private_schema, unique
from connectors.redis_state import game_key
from mlbsts.settings import Settings
from tests.conftest import FIXTURE_GAME_PK
from tests.unit.official_boxscore import differences
from tests.unit.test_stats_live_box import batches_of, run

pytestmark = pytest.mark.integration

JSON = dict[str, Any]
PITCHER = 684320  # Yariel Rodríguez, Toronto's starter in the fixture game


@dataclass(frozen=True)
class Api:
    """A running API process on a private schema, and a key with every scope."""

    url: str
    key: str
    dsn: str
    log_path: Path
    env: dict[str, str]

    def get(self, path: str, key: str | None = None, **headers: str) -> httpx.Response:
        sent = {"X-API-Key": key or self.key, **headers}
        return httpx.get(self.url + path, headers=sent, timeout=30)


@pytest.fixture(scope="module")
def game_dsn(stack_settings: Settings, fixture_feed: JSON) -> Iterator[str]:
    """A private schema holding the fixture game, every table, through the dataflow."""
    with private_schema(stack_settings) as dsn:
        fill_game(dsn, fixture_feed, every=5)
        yield dsn


@pytest.fixture(scope="module")
def api(
    stack_settings: Settings, game_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    key = create_key(game_dsn, "tests", SCOPES, 100_000).key
    env = api_env(stack_settings, game_dsn, MLBSTS_API_KEY_CACHE_S="0")
    log_path = tmp_path_factory.mktemp("api") / "api.log"
    with api_process(env, log_path) as proc:
        yield Api(proc.url, key, game_dsn, log_path, env)


def _rows(dsn: str, query: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params).fetchall()


def test_games_of_a_date_with_status_and_score(api: Api, fixture_feed: JSON) -> None:
    answer = api.get("/v1/games?date=2024-07-01")
    assert answer.status_code == 200, answer.text
    games = GamesOfDate.model_validate(answer.json()).games
    assert [g.game_pk for g in games] == [FIXTURE_GAME_PK]
    official = fixture_feed["liveData"]["linescore"]["teams"]
    game = games[0]
    assert game.status.abstract_game_state == "Final"
    for side, team in (("home", game.home), ("away", game.away)):
        assert (team.runs, team.hits, team.errors) == tuple(
            official[side][k] for k in ("runs", "hits", "errors")
        )
    assert team.name == fixture_feed["gameData"]["teams"]["away"]["name"]
    empty = api.get("/v1/games?date=2024-07-02")
    assert empty.status_code == 200 and empty.json() == {"date": "2024-07-02", "games": []}


def test_line_score_and_box_score_are_mlbs_official_ones(api: Api, fixture_feed: JSON) -> None:
    line = LineScore.model_validate(api.get(f"/v1/games/{FIXTURE_GAME_PK}/linescore").json())
    official = fixture_feed["liveData"]["linescore"]["innings"]
    assert len(line.innings) == len(official)
    for mine, theirs in zip(line.innings, official, strict=True):
        assert mine.num == theirs["num"]
        for side in ("home", "away"):
            got = getattr(mine, side)
            assert got is not None
            want = theirs[side]
            assert (got.runs, got.hits, got.errors) == (
                want.get("runs"),
                want["hits"],
                want["errors"],
            )
            assert got.left_on_base == want["leftOnBase"]
    box = BoxScore.model_validate(api.get(f"/v1/games/{FIXTURE_GAME_PK}/boxscore").json())
    compared, bad = differences(fixture_feed, box.box)
    assert compared > 300 and bad == []


def test_plays_pages_cover_every_play_once_in_order(api: Api) -> None:
    seen: list[int] = []
    cursor = ""
    pages = 0
    while True:
        answer = api.get(f"/v1/games/{FIXTURE_GAME_PK}/plays?limit=7{cursor}")
        assert answer.status_code == 200, answer.text
        page = Plays.model_validate(answer.json())
        seen += [p.at_bat_index for p in page.plays]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = f"&cursor={page.next_cursor}"
    stored = _rows(
        api.dsn,
        "SELECT at_bat_index FROM plays WHERE game_pk = %s AND NOT retracted ORDER BY 1",
        FIXTURE_GAME_PK,
    )
    assert seen == [r[0] for r in stored] and len(seen) > 60
    assert pages == -(-len(seen) // 7)


@pytest.mark.parametrize(
    ("query", "where"),
    [
        (f"pitcher={PITCHER}", f"pitcher_id = {PITCHER}"),
        ("batter=643289", "batter_id = 643289"),
        ("inning=3", "inning = 3"),
        (f"pitcher={PITCHER}&inning=1", f"pitcher_id = {PITCHER} AND inning = 1"),
    ],
)
def test_pitches_filtered_and_paged(api: Api, query: str, where: str) -> None:
    got: list[tuple[int, int]] = []
    cursor = ""
    while True:
        answer = api.get(f"/v1/games/{FIXTURE_GAME_PK}/pitches?{query}&limit=25{cursor}")
        assert answer.status_code == 200, answer.text
        page = Pitches.model_validate(answer.json())
        got += [(p.at_bat_index, p.play_event_index) for p in page.pitches]
        if page.next_cursor is None:
            break
        cursor = f"&cursor={page.next_cursor}"
    stored = _rows(
        api.dsn,
        f"SELECT at_bat_index, play_event_index FROM pitch_events WHERE game_pk = %s "
        f"AND NOT retracted AND {where} ORDER BY 1, 2",
        FIXTURE_GAME_PK,
    )
    assert got == [tuple(r) for r in stored] and got


def test_pitcher_live_figures_count_his_official_pitches(api: Api, fixture_feed: JSON) -> None:
    answer = api.get(f"/v1/games/{FIXTURE_GAME_PK}/pitchers/{PITCHER}")
    figures = PitcherFigures.model_validate(answer.json())
    players = fixture_feed["liveData"]["boxscore"]["teams"]["home"]["players"]
    assert figures.pitches == players[f"ID{PITCHER}"]["stats"]["pitching"]["numberOfPitches"]
    assert figures.full_name == "Yariel Rodríguez"
    assert api.get(f"/v1/games/{FIXTURE_GAME_PK}/pitchers/1").status_code == 404


def test_windows_of_a_range_hold_every_pitch_of_the_game(api: Api) -> None:
    answer = api.get("/v1/windows?start=2024-07-01T00:00:00Z&end=2024-07-02T00:00:00Z")
    windows = Windows.model_validate(answer.json()).windows
    (total,) = _rows(api.dsn, "SELECT sum(pitches) FROM stats_windows")[0]
    assert sum(w.pitches for w in windows) == total > 200
    assert [w.window_start for w in windows] == sorted(w.window_start for w in windows)
    later = api.get("/v1/windows?start=2024-07-01T21:00:00%2B00:00&end=2024-07-01T21:30:00Z")
    assert {w["window_start"][:13] for w in later.json()["windows"]} == {"2024-07-01T21"}


def test_live_state_is_the_document_the_dataflow_keeps_in_redis(
    api: Api, stack_settings: Settings, fixture_feed: JSON
) -> None:
    _, states = run(batches_of(fixture_feed, 50))
    fake_pk = 900_000_000 + int(unique("")[:6], 16) % 1_000_000  # a game no one else writes
    middle = msgspec.structs.replace(states[len(states) // 2], gamePk=fake_pk)
    client = redis.Redis.from_url(stack_settings.redis_url)
    try:
        stored = msgspec.json.encode(middle)
        client.set(game_key(fake_pk), stored, ex=300)
        answer = api.get(f"/v1/games/{fake_pk}/live")
        assert answer.status_code == 200, answer.text
        live = LiveState.model_validate(answer.json())
        assert live.gamePk == fake_pk and live.source_ts == middle.source_ts
        assert answer.content == stored
        assert answer.headers["cache-control"] == "private, max-age=2"
    finally:
        client.delete(game_key(fake_pk))
        client.close()
    assert api.get(f"/v1/games/{fake_pk}/live").status_code == 404


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/v1/games/0/plays", "path.game_pk"),
        ("/v1/games/abc/boxscore", "path.game_pk"),
        ("/v1/games/99999999999/linescore", "path.game_pk"),
        (f"/v1/games/{FIXTURE_GAME_PK}/plays?limit=0", "query.limit"),
        (f"/v1/games/{FIXTURE_GAME_PK}/pitches?limit=100000", "query.limit"),
        (f"/v1/games/{FIXTURE_GAME_PK}/plays?cursor=bm9wZQ", "cursor"),
        (f"/v1/games/{FIXTURE_GAME_PK}/pitches?inning=0", "query.inning"),
        (f"/v1/games/{FIXTURE_GAME_PK}/pitches?pitcher=-1", "query.pitcher"),
        (f"/v1/games/{FIXTURE_GAME_PK}/pitchers/x", "path.pitcher_id"),
        ("/v1/games?date=0", "query.date"),
        ("/v1/games?date=2024-13-01", "query.date"),
        ("/v1/games", "query.date"),
        ("/v1/windows?start=2024-07-01T00:00:00&end=2024-07-02T00:00:00Z", "query.start"),
        ("/v1/windows?start=2024-07-01T00:00:00Z&end=2024-07-09T00:00:00Z", "end"),
        ("/v1/windows?start=0001-01-01T00:00:00%2B14:00&end=0001-01-02T00:00:00Z", "start"),
    ],
)
def test_bad_input_is_a_422_naming_the_parameter(api: Api, path: str, parameter: str) -> None:
    answer = api.get(path)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["status"] == 422 and body["error"] == "invalid_parameter"
    assert parameter in {d["loc"] for d in body["details"]}, body
    assert answer.headers["cache-control"] == "no-store"


def test_unknown_paths_and_methods_get_the_same_error_body(api: Api) -> None:
    missing = api.get("/v1/nothing")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    post = httpx.post(f"{api.url}/v1/games?date=2024-07-01", headers={"X-API-Key": api.key})
    assert post.status_code == 405 and post.json()["error"] == "method_not_allowed"
    assert "GET" in post.headers["allow"]


def test_openapi_health_readiness_and_metrics_need_no_key(api: Api) -> None:
    schema = httpx.get(f"{api.url}/v1/openapi.json").json()
    assert "/v1/games/{game_pk}/stream" in schema["paths"]
    assert httpx.get(f"{api.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{api.url}/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    api.get(f"/v1/games/{FIXTURE_GAME_PK}/linescore")
    metrics = httpx.get(f"{api.url}/metrics").text
    assert 'mlbsts_api_requests_total{route="/v1/games/{game_pk}/linescore",status="200"}' in (
        metrics
    )
