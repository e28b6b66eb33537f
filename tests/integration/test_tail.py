"""``mlbsts tail`` as a real process against the local broker.

Each test writes the production encoding of a real game's events (the repository's game
744914, and the shared corpus's 747175 where two games are needed) to its own fresh topic:
``mlbsts tail`` decodes by content, so a private topic stands for a project topic. Waits
are bounded (``DEADLINE_S``) so that a broken command fails instead of hanging; no
assertion is about how fast anything is.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson
import pytest
from confluent_kafka import Producer

from connectors.kafka_io import producer_config
from connectors.records import event_record
from flows.game.events import Event, PitchEvent
from mlbsts.paths import PROJECT_ROOT
from mlbsts.settings import Settings
from sim.simulate import simulate
from sim.sources import run_engine
from tests.conftest import FIXTURE_GAME_PK, load_fixture_feed

pytestmark = pytest.mark.integration

DEADLINE_S = 90.0
HOUR_MS = 3_600_000


def game_events(feed: dict[str, Any]) -> list[Event]:
    return list(run_engine(simulate(feed, 10)))


def publish(settings: Settings, topic: str, events: list[Event], at_ms: int | None = None) -> None:
    """Each event's production record on ``topic``, acknowledged; ``at_ms``: its timestamp."""
    producer = Producer(producer_config(settings))
    failed: list[object] = []
    for event in events:
        record = event_record(event)
        extra = {} if at_ms is None else {"timestamp": at_ms}
        producer.produce(
            topic,
            key=record.key,
            value=record.value,
            on_delivery=lambda err, _msg: failed.append(err) if err else None,
            **extra,
        )
        producer.poll(0)
    assert producer.flush(30) == 0 and not failed


def produce_raw(settings: Settings, topic: str, values: list[bytes]) -> None:
    producer = Producer(producer_config(settings))
    for value in values:
        producer.produce(topic, key=str(FIXTURE_GAME_PK).encode(), value=value)
    assert producer.flush(30) == 0


class Tail:
    """``mlbsts tail ARGS`` running; its stdout and stderr lines read with a deadline."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlbsts.commands.cli", "tail", *args],
            cwd=PROJECT_ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.out: queue.Queue[str | None] = queue.Queue()
        self.err: queue.Queue[str | None] = queue.Queue()
        self.errors: list[str] = []
        self.pumps = [
            threading.Thread(target=self._pump, args=(stream, lines), daemon=True)
            for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))
        ]
        for pump in self.pumps:
            pump.start()

    @staticmethod
    def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    def lines(self, count: int) -> list[str]:
        """The next ``count`` stdout lines (fails if the process ends or the deadline passes)."""
        deadline = time.monotonic() + DEADLINE_S
        got: list[str] = []
        while len(got) < count:
            line = self.out.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, f"tail ended after {len(got)} lines: {self.stderr()}"
            got.append(line)
        return got

    def wait_stderr(self, needle: str) -> str:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            line = self.err.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, f"tail ended before saying {needle!r}: {self.errors}"
            self.errors.append(line)
            if needle in line:
                return line

    def stderr(self) -> str:
        while not self.err.empty():
            line = self.err.get()
            if line is not None:
                self.errors.append(line)
        return "\n".join(self.errors)

    def finish(self) -> int:
        """The exit code, once stdout ended with no line left unread."""
        returncode = self.proc.wait(DEADLINE_S)
        extra = self.out.get(timeout=DEADLINE_S)
        assert extra is None, f"more output than expected: {extra}"
        return returncode

    def stop(self) -> None:
        """Kill the process if it still runs; close its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(DEADLINE_S)
        for pump in self.pumps:
            pump.join(DEADLINE_S)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def tail_factory() -> Iterator[list[Tail]]:
    started: list[Tail] = []
    yield started
    for tail in started:
        tail.stop()


def run_tail(started: list[Tail], *args: str, env: dict[str, str] | None = None) -> Tail:
    tail = Tail(*args, env=env)
    started.append(tail)
    return tail


def ids(lines: list[str]) -> list[tuple[str, int]]:
    values = [orjson.loads(line)["value"] for line in lines]
    return sorted((v["event_id"], v["revision"]) for v in values)


def test_from_the_beginning_every_record_is_one_json_line(
    stack_settings: Settings, kafka_topic: str, tail_factory: list[Tail]
) -> None:
    events = game_events(load_fixture_feed())
    publish(stack_settings, kafka_topic, events)
    tail = run_tail(
        tail_factory, kafka_topic, "--from", "beginning", "--json", "--limit", str(len(events))
    )
    lines = tail.lines(len(events))
    assert tail.finish() == 0
    assert ids(lines) == sorted((e.event_id, e.revision) for e in events)
    first = orjson.loads(lines[0])
    assert first["topic"] == kafka_topic and first["key"] == str(FIXTURE_GAME_PK)
    assert first["framing"] == "single-object"


def test_kind_filter_keeps_only_pitches_and_prints_readable_lines(
    stack_settings: Settings, kafka_topic: str, tail_factory: list[Tail]
) -> None:
    events = game_events(load_fixture_feed())
    publish(stack_settings, kafka_topic, events)
    pitches = [e for e in events if isinstance(e, PitchEvent)]
    tail = run_tail(
        tail_factory,
        kafka_topic,
        "--from",
        "beginning",
        "--kind",
        "pitch",
        "--limit",
        str(len(pitches)),
    )
    lines = tail.lines(len(pitches))
    assert tail.finish() == 0
    assert all(line.startswith(f"{FIXTURE_GAME_PK} ") for line in lines)
    thrown = [p for p in pitches if p.isPitch]
    assert sum(" mph  " in line for line in lines) == len(thrown)  # type, speed of each


@pytest.mark.corpus
def test_game_filter_shows_only_that_game(
    stack_settings: Settings, kafka_topic: str, tail_factory: list[Tail], data_dir: Path
) -> None:
    other = orjson.loads((data_dir / "mlb" / "feed_live" / "747175.json").read_bytes())
    mine, theirs = game_events(load_fixture_feed()), game_events(other)
    publish(stack_settings, kafka_topic, [*theirs[:100], *mine, *theirs[100:]])
    tail = run_tail(
        tail_factory,
        kafka_topic,
        "--from",
        "beginning",
        "--game",
        "747175",
        "--json",
        "--limit",
        str(len(theirs)),
    )
    lines = tail.lines(len(theirs))
    assert tail.finish() == 0
    assert {orjson.loads(line)["key"] for line in lines} == {"747175"}
    assert ids(lines) == sorted((e.event_id, e.revision) for e in theirs)


def test_from_a_time_skips_older_records(
    stack_settings: Settings, kafka_topic: str, tail_factory: list[Tail]
) -> None:
    """The embedded broker answers every time seek with offset 0: the older records are
    read and dropped by their timestamp, client-side."""
    events = game_events(load_fixture_feed())
    older, newer = events[:150], events[150:]
    now_ms = int(time.time() * 1000)
    publish(stack_settings, kafka_topic, older, at_ms=now_ms - 2 * HOUR_MS)
    publish(stack_settings, kafka_topic, newer, at_ms=now_ms)
    since = datetime.fromtimestamp((now_ms - HOUR_MS) / 1000, UTC).isoformat()
    tail = run_tail(
        tail_factory, kafka_topic, "--from", f"time:{since}", "--json", "--limit", str(len(newer))
    )
    lines = tail.lines(len(newer))
    assert tail.finish() == 0
    assert ids(lines) == sorted((e.event_id, e.revision) for e in newer)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "term"])
def test_from_the_end_it_follows_new_records_until_ctrl_c(
    stack_settings: Settings, kafka_topic: str, tail_factory: list[Tail], stop_signal: int
) -> None:
    events = game_events(load_fixture_feed())
    before, after = events[:200], events[200:]
    publish(stack_settings, kafka_topic, before)
    tail = run_tail(tail_factory, kafka_topic, "--json")  # --from end is the default
    tail.wait_stderr("Ctrl-C stops")
    publish(stack_settings, kafka_topic, after)
    lines = tail.lines(len(after))
    tail.proc.send_signal(stop_signal)
    assert tail.finish() == 0
    assert ids(lines) == sorted((e.event_id, e.revision) for e in after)
    assert f"stopped after {len(after)} records" in tail.stderr()


def test_each_record_is_decoded_by_its_own_framing(
    stack_settings: Settings, kafka_topic: str, tail_factory: list[Tail]
) -> None:
    pitch = next(e for e in game_events(load_fixture_feed()) if isinstance(e, PitchEvent))
    single_object = event_record(pitch).value
    confluent = b"\x00\x00\x00\x00\x29" + single_object[10:]  # schema id 41, no registry here
    produce_raw(stack_settings, kafka_topic, [single_object, confluent, b"garbage"])
    tail = run_tail(tail_factory, kafka_topic, "--from", "beginning", "--json", "--limit", "3")
    lines = [orjson.loads(line) for line in tail.lines(3)]
    assert tail.finish() == 0
    by_offset = sorted(lines, key=lambda line: line["offset"])
    assert [(x["framing"], x["kind"]) for x in by_offset] == [
        ("single-object", "pitch"),
        ("confluent", "undecodable"),
        ("unknown", "undecodable"),
    ]
    assert by_offset[0]["value"]["event_id"] == pitch.event_id
    assert "Schema Registry" in by_offset[1]["error"]


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_unreachable_brokers_are_a_clear_error_not_a_hang(tail_factory: list[Tail]) -> None:
    servers = f"127.0.0.1:{_unused_port()}"
    tail = run_tail(
        tail_factory,
        "mlb.events.pitch",
        "--connect-timeout",
        "2",
        env={"MLBSTS_KAFKA_BOOTSTRAP_SERVERS": servers},
    )
    assert tail.finish() == 1
    assert f"error: cannot reach Kafka at {servers} within 2s" in tail.stderr()


def test_a_missing_topic_is_named(stack_settings: Settings, tail_factory: list[Tail]) -> None:
    name = f"no-such-topic-{os.getpid()}-{time.monotonic_ns()}"
    tail = run_tail(tail_factory, name)
    assert tail.finish() == 1
    assert f"error: topic {name} does not exist" in tail.stderr()
