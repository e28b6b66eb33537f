"""``examples/live_box_score.py`` (docs/subscribing.md) as a real process on the local broker.

The test makes four fresh event topics and publishes to them what the dataflow would: the
production records (``connectors.records.event_record``) of the engine's events over a real
game (744914, the repository's) polled with MLB-like scoring corrections, each snapshot's
events as one acknowledged batch, some batches twice (at-least-once repeats). The example
follows the topics from before the first record and stops by itself once the game is
Final and read to the end; its last line must be MLB's official line score. Then a
retraction and the play's return are published, and the example, run again from the
beginning, must apply them.
"""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import msgspec
import orjson
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from connectors.kafka_io import OutRecord, produce_all, producer_config
from connectors.records import event_record
from flows.game.events import Event, PlayEvent, Retraction
from mlbsts.paths import PROJECT_ROOT
from mlbsts.settings import Settings
from tests.conftest import load_fixture_feed
from tests.integration.conftest import unique
from tests.unit.test_tail_subscriber_example import official, stream

pytestmark = pytest.mark.integration

EXAMPLE = PROJECT_ROOT / "examples" / "live_box_score.py"
KINDS = ("pitch", "play", "runner", "game")
RUN_TIMEOUT_S = 240  # a bound for a broken example, not a speed requirement


@pytest.fixture
def event_topics(stack_settings: Settings) -> Iterator[dict[str, str]]:
    """A fresh topic per event kind, deleted after the test."""
    admin = AdminClient({"bootstrap.servers": stack_settings.kafka_bootstrap_servers})
    names = {kind: unique(f"test-events-{kind}-") for kind in KINDS}
    partitions = stack_settings.kafka_topic_partitions
    new = [NewTopic(name, num_partitions=partitions) for name in names.values()]
    for future in admin.create_topics(new).values():
        future.result(timeout=15)
    yield names
    for future in admin.delete_topics(list(names.values())).values():
        future.result(timeout=15)


def records(events: list[Event], topic_of: dict[str, str]) -> list[OutRecord]:
    """The production records of ``events``, each on the private topic of its kind."""
    out = []
    for event in events:
        record = event_record(event)
        kind = record.topic.rsplit(".", 1)[1]
        out.append(OutRecord(topic_of[kind], record.key, record.value))
    return out


def start_example(
    settings: Settings, topic_of: dict[str, str], game_pk: int
) -> subprocess.Popen[str]:
    topics = itertools.chain.from_iterable(("--topic", name) for name in topic_of.values())
    return subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--game", str(game_pk), "--until-final",
         "--max-seconds", str(RUN_TIMEOUT_S - 30),
         "--bootstrap-servers", settings.kafka_bootstrap_servers, *topics],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def finish(proc: subprocess.Popen[str]) -> tuple[list[str], dict[str, Any]]:
    """The example's score lines and its final line score (its last line, JSON)."""
    try:
        out, err = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    assert proc.returncode == 0, err
    lines = out.splitlines()
    final: dict[str, Any] = orjson.loads(lines[-1])
    return lines, final


def run_example(settings: Settings, topic_of: dict[str, str], game_pk: int) -> dict[str, Any]:
    return finish(start_example(settings, topic_of, game_pk))[1]


def test_the_example_follows_a_game_to_its_official_line_score_and_applies_retractions(
    stack_settings: Settings, event_topics: dict[str, str]
) -> None:
    feed = load_fixture_feed()
    game_pk = int(feed["gamePk"])
    events = stream(feed, seed=11)
    assert any(e.revision > 0 for e in events)  # corrections were re-issued
    batches = [list(group) for _, group in itertools.groupby(events, key=lambda e: e.source_ts)]
    repeated = set(random.Random(11).sample(range(len(batches)), len(batches) // 4))
    producer = Producer(producer_config(stack_settings))

    proc = start_example(stack_settings, event_topics, game_pk)
    assert proc.stderr is not None
    assert "following game" in proc.stderr.readline()  # assigned before the first record
    for n, batch in enumerate(batches):
        produce_all(producer, records(batch * (2 if n in repeated else 1), event_topics))
    lines, final = finish(proc)
    want = official(feed)
    assert final == want
    assert any(line.startswith(f"{game_pk}  ") for line in lines[:-4])  # live score lines

    single = next(e for e in events if isinstance(e, PlayEvent) and e.eventType == "single")
    side = "away" if single.halfInning == "top" else "home"
    final_ts = datetime.strptime(feed["metaData"]["timeStamp"], "%Y%m%d_%H%M%S")
    later = (final_ts + timedelta(seconds=1)).strftime("%Y%m%d_%H%M%S")  # newer than all
    gone = Retraction(
        event_id=single.event_id,
        gamePk=game_pk,
        revision=99,
        source_ts=later,
        retracted_kind="play",
    )
    produce_all(producer, records([gone], event_topics))
    retracted = run_example(stack_settings, event_topics, game_pk)
    assert retracted[side]["hits"] == want[side]["hits"] - 1
    assert retracted["innings"][single.inning - 1][side]["hits"] == (
        want["innings"][single.inning - 1][side]["hits"] - 1
    )
    back = msgspec.structs.replace(single, revision=100, source_ts=later)
    produce_all(producer, records([back, gone], event_topics))  # a late repeat: ignored
    assert run_example(stack_settings, event_topics, game_pk) == want
