"""One codec for every topic (``connectors.topic_codecs``): the framing follows the settings.

No Schema Registry server can be installed on this machine (docs/architecture.md section 4),
so the Confluent framing is tested with schema ids given in advance (``FixedIds``, as in
``test_event_serde.py``), and the registry path of every producer is shown by pointing the
settings at a port where no registry listens: each producer then fails on its own subject.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastavro.utils import generate_one

from connectors import event_serde, topic_codecs
from connectors.avro_serde import UnknownSchemaError, load_schema
from connectors.envelope_serde import decode_envelope, encode_envelope
from connectors.records import dead_letter_record, decode_dead_letter, event_record
from connectors.schema_registry import RegistryClient, SchemaRegistryError, subject_of
from connectors.topic_codecs import (
    AVRO_TOPICS,
    TopicCodecs,
    UnknownTopicError,
    register_schemas,
    registry_client,
)
from flows.game.dead_letters import DeadLetter, ErrorClass
from flows.game.envelope import make_envelope
from flows.game.events import Retraction
from flows.stats_flow import _live_codec, _window_codec
from mlbsts import topics
from mlbsts.settings import Settings, get_settings
from tests.unit.test_event_serde import FixedIds

pytestmark = pytest.mark.unit

ENVELOPE = make_envelope(
    game_pk=1,
    body=b'{"metaData": {"timeStamp": "20240701_214404"}}',
    source_url="https://statsapi.mlb.com/api/v1.1/game/1/feed/live",
    status_code=200,
    captured_at=datetime(2024, 7, 1, 21, 44, 4, tzinfo=UTC),
)
LETTER = DeadLetter(
    error_class=ErrorClass.UNPARSABLE,
    reason="not JSON",
    detected_at=datetime(2024, 7, 1, tzinfo=UTC),
    gamePk=1,
    original_key=b"1",
    original_value=b"{",
)


def _fixed_ids() -> FixedIds:
    """Schema ids given in advance for every Avro topic's subject (no registry server here)."""
    return FixedIds({subject_of(t): 200 + n for n, t in enumerate(AVRO_TOPICS)})


def _record(topic: str) -> dict[str, Any]:
    """A real value of ``topic`` made by its producer's own code, as an Avro record."""
    codec = TopicCodecs()
    if topic == topics.RAW_GAME_SNAPSHOTS:
        return codec.decoder("game_snapshot_envelope").decode(encode_envelope(ENVELOPE))
    if topic == topics.DLQ_GAME_SNAPSHOTS:
        return codec.decoder("dead_letter").decode(dead_letter_record(LETTER).value)
    return dict(generate_one(load_schema(AVRO_TOPICS[topic])))


def test_without_a_registry_every_topic_is_single_object_encoded() -> None:
    codecs = TopicCodecs()
    for topic, name in AVRO_TOPICS.items():
        data = codecs.encoder(topic).encode(_record(topic))
        assert data[:2] == b"\xc3\x01", topic
        assert codecs.decoder(name).decode(data) is not None


def test_with_a_registry_every_topic_is_confluent_framed_under_its_subject() -> None:
    ids = _fixed_ids()
    codecs = TopicCodecs(ids)
    for topic, name in AVRO_TOPICS.items():
        record = _record(topic)
        data = codecs.encoder(topic).encode(record)
        assert data[:1] == b"\x00", topic
        assert struct.unpack(">I", data[1:5]) == (ids.ids[f"{topic}-value"],)
        assert codecs.decoder(name).decode(data) == TopicCodecs().decoder(name).decode(
            TopicCodecs().encoder(topic).encode(record)
        )
        codecs.encoder(topic).encode(record)  # the id is asked once per topic
    assert ids.asked == [f"{t}-value" for t in AVRO_TOPICS]


def test_a_decoder_reads_both_framings_per_record_and_registers_nothing() -> None:
    ids = _fixed_ids()
    confluent = TopicCodecs(ids).encoder(topics.DLQ_GAME_SNAPSHOTS)
    mixed = [confluent.encode(_record(topics.DLQ_GAME_SNAPSHOTS)), dead_letter_record(LETTER).value]
    reader = TopicCodecs(ids).decoder("dead_letter")
    asked = list(ids.asked)
    assert [reader.decode(v)["reason"] for v in mixed] == ["not JSON", "not JSON"]
    assert ids.asked == asked
    with pytest.raises(UnknownSchemaError):  # no registry: a Confluent id cannot be resolved
        TopicCodecs().decoder("dead_letter").decode(mixed[0])


def test_a_topic_without_an_avro_schema_is_refused_unless_one_is_named() -> None:
    with pytest.raises(UnknownTopicError):
        TopicCodecs().encoder(topics.RAW_SCHEDULES)
    ids = _fixed_ids()
    ids.ids["mlb.dlq.copy-value"] = 999
    codec = TopicCodecs(ids).encoder("mlb.dlq.copy", "dead_letter")
    data = codec.encode(_record(topics.DLQ_GAME_SNAPSHOTS))
    assert struct.unpack(">I", data[1:5]) == (999,)
    assert codec.decode(data)["reason"] == "not JSON"


def test_registry_client_only_when_a_url_is_set() -> None:
    assert registry_client(Settings(schema_registry_url=None)) is None
    client = registry_client(Settings(schema_registry_url="http://127.0.0.1:9"))
    assert isinstance(client, RegistryClient) and client.url == "http://127.0.0.1:9"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that takes connections and never answers (a hung registry)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield int(server.getsockname()[1])


def test_registration_against_an_unreachable_registry_is_one_clear_error() -> None:
    client = RegistryClient("http://127.0.0.1:9", timeout_s=1)  # discard port: refused
    with pytest.raises(SchemaRegistryError, match=r"127\.0\.0\.1:9: subject mlb\.raw\."):
        register_schemas(client, "BACKWARD")


def test_a_registry_that_never_answers_is_bounded_by_the_timeout(silent_port: int) -> None:
    client = RegistryClient(f"http://127.0.0.1:{silent_port}", timeout_s=0.2, max_retries=0)
    with pytest.raises(SchemaRegistryError, match="set compatibility BACKWARD"):
        register_schemas(client, "BACKWARD")


@pytest.fixture
def registry_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's settings name a registry that refuses connections."""
    monkeypatch.setenv("MLBSTS_SCHEMA_REGISTRY_URL", "http://127.0.0.1:9")
    caches = (get_settings, topic_codecs.topic_codecs, event_serde._default_serde)
    for cache in caches:
        cache.cache_clear()
    yield
    monkeypatch.undo()
    for cache in caches:
        cache.cache_clear()


@pytest.mark.usefixtures("registry_down")
def test_every_producer_goes_through_the_registry_when_one_is_configured() -> None:
    """Each producer asks the registry for its own topic's subject (and fails, none runs)."""
    retraction = Retraction(event_id="pitch:1:0:0", gamePk=1, retracted_kind="pitch")
    producers: dict[str, Callable[[], object]] = {
        topics.EVENTS_PITCH: lambda: event_record(retraction),
        topics.RAW_GAME_SNAPSHOTS: lambda: encode_envelope(ENVELOPE),
        topics.DLQ_GAME_SNAPSHOTS: lambda: dead_letter_record(LETTER),
        topics.STATS_LIVE: lambda: _live_codec().encode({}),
        topics.STATS_WINDOWS: lambda: _window_codec().encode({}),
    }
    for topic, produce in producers.items():
        with pytest.raises(SchemaRegistryError, match=f"subject {topic}-value: register"):
            produce()


def test_the_settings_framing_is_single_object_by_default() -> None:
    data = encode_envelope(ENVELOPE)
    assert data[:2] == b"\xc3\x01"
    assert decode_envelope(data) == ENVELOPE
    assert decode_dead_letter(dead_letter_record(LETTER).value) == LETTER


def test_init_registers_nothing_without_a_registry(capsys: pytest.CaptureFixture[str]) -> None:
    from mlbsts.commands.init import register

    register()
    assert "none configured" in capsys.readouterr().out


@pytest.mark.usefixtures("registry_down")
def test_init_fails_on_the_first_subject_when_the_registry_is_unreachable() -> None:
    from mlbsts.commands.init import register

    with pytest.raises(SchemaRegistryError, match=r"mlb\.raw\.game-snapshots-value: set comp"):
        register()
