"""Nothing the broker acknowledged is lost when it is killed (SIGKILL) and restarted.

A producer with the project's settings (``connectors.kafka_io.producer_config``, the one
every producer of the project uses: poller, worker sinks, dead letters) sends numbered
records while the broker is killed twice and restarted; then every record whose delivery
report said "written" must be on the topic. The broker runs in a private stack of its own
(its S3 server beside it, other ports, its own folder), so the shared local stack is not
disturbed. With ``enable.idempotence=true`` the embedded broker lost 1-11 acknowledged
records in most such runs; ``kafka_idempotence`` is therefore off on the local stack.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, Message, Producer

from connectors.kafka_io import producer_config
from connectors.kafka_read import read_topic
from mlbsts import stack
from mlbsts.settings import Settings
from mlbsts.stack.kafka import create_topics
from tests.integration.conftest import log_stack

pytestmark = pytest.mark.integration

PORT_OFFSET = 3000  # dev ports + 3000: clear of the dev stack, the bench (+1000) and weed's +10000
PRODUCE_S = 14.0
KILLS_AT_S = (3.0, 8.0)
DOWN_S = 2.0


@pytest.fixture
def broker_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    with log_stack(tmp_path / "stack", PORT_OFFSET, monkeypatch) as settings:
        yield settings


def _kill_and_restart(settings: Settings, stop: threading.Event) -> None:
    began = time.monotonic()
    for at in KILLS_AT_S:
        if stop.wait(max(0.0, at - (time.monotonic() - began))):
            return
        record = json.loads((settings.stack_dir / "pids" / "kafka.json").read_text())
        os.kill(int(record["pid"]), signal.SIGKILL)
        time.sleep(DOWN_S)
        stack.up(settings)  # starts only what is not running


def test_every_acknowledged_record_survives_broker_kills(broker_settings: Settings) -> None:
    topic = "broker-kill"
    create_topics(broker_settings, [topic], 3)
    producer = Producer(producer_config(broker_settings))
    acked: dict[int, tuple[int, int]] = {}
    failed: dict[int, str] = {}

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        number = int(msg.value() or b"-1")
        if err is None:
            acked[number] = (msg.partition() or 0, msg.offset() or -1)
        else:
            failed[number] = str(err)

    stop = threading.Event()
    chaos = threading.Thread(target=_kill_and_restart, args=(broker_settings, stop))
    chaos.start()
    sent, began = 0, time.monotonic()
    try:
        while time.monotonic() - began < PRODUCE_S:
            try:
                producer.produce(
                    topic,
                    key=str(sent % 7).encode(),
                    value=str(sent).encode(),
                    on_delivery=on_delivery,
                )
            except BufferError:
                producer.poll(0.1)
                continue
            sent += 1
            producer.poll(0)
            time.sleep(0.005)
        assert producer.flush(90) == 0, "records still unacknowledged after 90 s"
    finally:
        stop.set()
        chaos.join()

    present: dict[int, int] = {}
    for msg in read_topic(broker_settings, topic, timeout_s=120):
        number = int(msg.value() or b"-1")
        present[number] = present.get(number, 0) + 1
    lost = sorted(n for n in acked if n not in present)
    assert sent > 1000 and len(acked) + len(failed) == sent
    assert not lost, (
        f"{len(lost)} acknowledged records missing, e.g. {[(n, acked[n]) for n in lost[:5]]}"
    )
    assert set(present) <= set(range(sent))  # nothing the test did not send
