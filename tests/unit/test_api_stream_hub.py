"""The stream's fan-out (api/stream.py) over an in-memory table of committed rows: one
poller per game whatever the number of subscribers, every subscriber gets every row once
in order, resumes after its Last-Event-ID, and ends after a Final status."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api.cursor import StreamKey, stream_id
from api.metrics import ApiMetrics
from api.stream import START, Hubs, game_events

pytestmark = pytest.mark.unit

GAME = 744914


class Committed:
    """Rows 'committed' in stream order, read the way fetch_stream reads them."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.fetches = 0
        self.from_start = 0  # fetches from the very beginning: one per poller started

    def commit(self, ts: str, event_id: str, kind: str = "pitch", state: str | None = None) -> None:
        data = f'{{"kind": "{kind}", "event_id": "{event_id}"}}'
        self.rows.append(
            {"kind": kind, "source_ts": ts, "event_id": event_id, "state": state, "data": data}
        )

    async def fetch(self, game_pk: int, after: StreamKey, limit: int) -> list[dict[str, Any]]:
        self.fetches += 1
        self.from_start += after == START
        assert game_pk == GAME
        newer = [r for r in self.rows if (r["source_ts"], r["event_id"]) > after]
        return sorted(newer, key=lambda r: (r["source_ts"], r["event_id"]))[:limit]


def _field(frame: bytes, name: str) -> str | None:
    for line in frame.decode().splitlines():
        if line.startswith(f"{name}: "):
            return line.removeprefix(f"{name}: ")
    return None


async def _collect(hubs: Hubs, after: StreamKey | None = None) -> list[bytes]:
    """The frames of one subscriber, without the first (``retry:``)."""
    frames = [frame async for frame in game_events(hubs, GAME, after)]
    assert frames[0] == b"retry: 3000\n\n"
    return frames[1:]


def test_many_subscribers_share_one_poller_and_all_get_every_row_then_end() -> None:
    committed = Committed()
    for i in range(5):
        committed.commit("20240701_190000", f"pitch:{GAME}:0:{i}")

    async def scenario() -> tuple[list[list[bytes]], float | None]:
        metrics = ApiMetrics()
        hubs = Hubs(committed.fetch, poll_s=0.01, metrics=metrics)
        subscribers = [asyncio.create_task(_collect(hubs)) for _ in range(50)]
        while committed.fetches < 3:  # the poller is running; now more rows arrive
            await asyncio.sleep(0.005)
        watching = metrics.registry.get_sample_value("mlbsts_api_stream_subscribers")
        committed.commit("20240701_190100", f"play:{GAME}:0", kind="play")
        committed.commit("20240701_190200", f"game:{GAME}:status", "status", "Final")
        results = await asyncio.gather(*subscribers)
        await hubs.close()
        return results, watching

    results, watching = asyncio.run(scenario())
    assert watching == 50
    assert committed.from_start == 1  # one poller for the game, not one per subscriber
    expected = [stream_id((r["source_ts"], r["event_id"])) for r in committed.rows]
    for frames in results:
        assert [_field(f, "id") for f in frames[:-1]] == expected
        assert _field(frames[-1], "event") == "end" and _field(frames[-1], "id") is None


def test_a_subscriber_resumes_after_its_last_event_id() -> None:
    committed = Committed()
    for i in range(4):
        committed.commit(f"20240701_19000{i}", f"pitch:{GAME}:{i}:0")
    committed.commit("20240701_190009", f"game:{GAME}:status", "status", "Final")

    async def scenario() -> list[bytes]:
        hubs = Hubs(committed.fetch, poll_s=0.01, metrics=ApiMetrics())
        try:
            return await _collect(hubs, after=("20240701_190001", f"pitch:{GAME}:1:0"))
        finally:
            await hubs.close()

    frames = asyncio.run(scenario())
    assert [_field(f, "id") for f in frames] == [
        f"20240701_190002/pitch:{GAME}:2:0",
        f"20240701_190003/pitch:{GAME}:3:0",
        f"20240701_190009/game:{GAME}:status",
        None,
    ]


def test_a_status_no_longer_final_does_not_end_the_stream() -> None:
    committed = Committed()
    committed.commit("20240701_190000", f"game:{GAME}:status", "status", "Final")
    committed.commit("20240701_190100", f"game:{GAME}:status", "status", "Live")

    async def scenario() -> tuple[bool, int]:
        hubs = Hubs(committed.fetch, poll_s=0.01, metrics=ApiMetrics())
        task = asyncio.create_task(_collect(hubs))
        while committed.fetches < 5:
            await asyncio.sleep(0.005)
        ended = task.done()
        task.cancel()
        await hubs.close()
        return ended, committed.fetches

    ended, _ = asyncio.run(scenario())
    assert not ended


def test_an_idle_stream_gets_keepalive_comments() -> None:
    committed = Committed()
    committed.commit("20240701_190000", f"pitch:{GAME}:0:0")

    async def scenario() -> list[bytes]:
        hubs = Hubs(committed.fetch, poll_s=0.01, metrics=ApiMetrics())
        stream = game_events(hubs, GAME, None, ping_s=0.05)
        try:
            return [await anext(stream) for _ in range(4)]
        finally:
            await stream.aclose()
            await hubs.close()

    frames = asyncio.run(scenario())
    assert _field(frames[1], "id") == f"20240701_190000/pitch:{GAME}:0:0"
    assert frames[2:] == [b": ping\n\n", b": ping\n\n"]
