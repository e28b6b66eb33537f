"""``/v1/games/{pk}/stream`` on the real local stack: a real game's events, committed
batch by batch by the real writer while clients listen, arrive in order, end when the game
is Final, resume after Last-Event-ID, and many subscribers share one poller."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from api.key_store import create_key
from api.keys import SCOPES
from bench.api_stage import api_env, api_process, private_schema
from connectors import pg_normalized as pn
from connectors import pg_upsert
from flows.game.batches import EventBatch
from mlbsts.settings import Settings
from tests.conftest import FIXTURE_GAME_PK
from tests.integration.test_api_endpoints import Api
from tests.unit.test_stats_live_box import batches_of

pytestmark = pytest.mark.integration

JSON = dict[str, Any]
STREAM = f"/v1/games/{FIXTURE_GAME_PK}/stream"
FIRST = 10  # batches committed before anyone listens
SUBSCRIBERS = "mlbsts_api_stream_subscribers"
TABLES = ("pitch_events", "plays", "runner_events", "game_actions", "reviews", "game_status")


@pytest.fixture(scope="module")
def batches(fixture_feed: JSON) -> list[EventBatch]:
    return batches_of(fixture_feed, 5)  # the engine's events, one batch per snapshot


def _commit(dsn: str, batches: list[EventBatch]) -> None:
    with pg_upsert.connect(dsn, pn.EVENT_TABLES) as conn:
        for batch in batches:
            pn.write_events(conn, batch.events)


@pytest.fixture(scope="module")
def stream_api(
    stack_settings: Settings,
    batches: list[EventBatch],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Api]:
    with private_schema(stack_settings) as dsn:
        _commit(dsn, batches[:FIRST])
        key = create_key(dsn, "tests", SCOPES, 100_000).key
        env = api_env(stack_settings, dsn, MLBSTS_API_STREAM_POLL_S="0.1")
        log_path = tmp_path_factory.mktemp("api-stream") / "api.log"
        with api_process(env, log_path) as proc:
            yield Api(proc.url, key, dsn, log_path, env)


def _stored(dsn: str) -> dict[str, tuple[str, int, bool]]:
    """event_id → (source_ts, revision, retracted) of every event row of the game."""
    union = " UNION ALL ".join(
        f"SELECT event_id, source_ts, revision, retracted FROM {t} WHERE game_pk = %(pk)s"
        for t in TABLES
    )
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(union, {"pk": FIXTURE_GAME_PK}).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def _events(response: httpx.Response) -> Iterator[dict[str, str]]:
    """Server-sent events as dicts (``event``, ``id``, ``data``); comments and the
    ``retry:`` frame skipped."""
    event: dict[str, str] = {}
    for line in response.iter_lines():
        if not line:
            if "data" in event:
                yield event
            event = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            event[name] = value.removeprefix(" ")


def _open(api: Api, **headers: str) -> Any:
    sent = {"X-API-Key": api.key, **headers}
    return httpx.stream("GET", api.url + STREAM, headers=sent, timeout=httpx.Timeout(60))


def _key(event: dict[str, str]) -> tuple[str, str]:
    ts, _, event_id = event["id"].partition("/")
    return ts, event_id


async def _subscribe(api: Api, subscribers: int) -> tuple[list[str], str]:
    """Open ``subscribers`` streams, read one event on each, then read /metrics."""
    limits = httpx.Limits(max_connections=subscribers + 5)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client, AsyncExitStack() as open_:
        first_ids, readers = [], []
        for _ in range(subscribers):
            response = await open_.enter_async_context(
                client.stream("GET", api.url + STREAM, headers={"X-API-Key": api.key})
            )
            readers.append(response.aiter_lines())  # kept: dropping it closes the stream
            while not (line := await anext(readers[-1])).startswith("id: "):
                pass
            first_ids.append(line[4:])
        metrics = (await client.get(api.url + "/metrics")).text
    return first_ids, metrics


def _sample(metrics: str, name: str) -> float:
    line = next(x for x in metrics.splitlines() if x.startswith(f"{name} "))
    return float(line.split()[1])


def test_many_subscribers_share_one_poller_per_game(stream_api: Api) -> None:
    first_ids, metrics = asyncio.run(_subscribe(stream_api, 50))
    assert len(first_ids) == 50 and len(set(first_ids)) == 1
    assert _sample(metrics, "mlbsts_api_stream_subscribers") == 50
    assert _sample(metrics, "mlbsts_api_stream_games") == 1
    # the clients left mid-stream: the server lets them go without an error
    for _ in range(600):
        if _sample(httpx.get(stream_api.url + "/metrics").text, SUBSCRIBERS) == 0:
            break
        time.sleep(0.05)
    assert _sample(httpx.get(stream_api.url + "/metrics").text, SUBSCRIBERS) == 0
    assert "Traceback" not in stream_api.log_path.read_text()


def test_events_arrive_in_order_as_committed_and_the_stream_ends_when_final(
    stream_api: Api, batches: list[EventBatch]
) -> None:
    received: list[dict[str, str]] = []
    with _open(stream_api) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _events(response)
        committed = len(_stored(stream_api.dsn))
        while len(received) < committed:  # what was committed before we listened
            received.append(next(events))
        for start in range(FIRST, len(batches), 10):  # the rest, while we listen
            _commit(stream_api.dsn, batches[start : start + 10])
        received += list(events)
    assert received[-1]["event"] == "end" and orjson.loads(received[-1]["data"])["reason"]
    sent = received[:-1]
    keys = [_key(e) for e in sent]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    newest: dict[str, JSON] = {}
    for event in sent:
        data = orjson.loads(event["data"])
        assert data["kind"] == event["event"] and data["event_id"] == _key(event)[1]
        newest[data["event_id"]] = data
    stored = _stored(stream_api.dsn)
    assert len(stored) > 400
    assert {k: (d["source_ts"], d["revision"], d["retracted"]) for k, d in newest.items()} == (
        stored
    )


def test_a_client_resumes_after_its_last_event_id(
    stream_api: Api, batches: list[EventBatch]
) -> None:
    _commit(stream_api.dsn, batches)  # the whole game (a no-op if the test above ran)
    with _open(stream_api) as response:
        everything = list(_events(response))
    assert everything[-1]["event"] == "end"
    middle = everything[len(everything) // 2]["id"]
    with _open(stream_api, **{"Last-Event-ID": middle}) as response:
        resumed = list(_events(response))
    assert [e.get("id") for e in resumed] == [
        e.get("id") for e in everything[len(everything) // 2 + 1 :]
    ]
    query = httpx.get(
        f"{stream_api.url}{STREAM}?after={everything[-2]['id']}",
        headers={"X-API-Key": stream_api.key},
        timeout=60,
    )
    assert query.status_code == 200 and query.text.startswith("retry: 3000\n\nevent: end\n")


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/v1/games/123/stream", {}, 404),
        (STREAM, {"Last-Event-ID": "yesterday"}, 422),
        (f"{STREAM}?after=1/pitch:", {}, 422),
    ],
)
def test_refusals_come_before_the_stream_as_json(
    stream_api: Api, path: str, headers: dict[str, str], status: int
) -> None:
    answer = httpx.get(
        stream_api.url + path, headers={"X-API-Key": stream_api.key, **headers}, timeout=30
    )
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["status"] == status
