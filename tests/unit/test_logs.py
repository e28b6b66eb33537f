"""One log format for every process, and no secret in it (mlbsts/telemetry/logs.py)."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from pydantic import SecretStr

from mlbsts.settings import Settings
from mlbsts.telemetry.logs import (
    JsonFormatter,
    Redactor,
    TextFormatter,
    installed_level,
    log_fields,
    secrets_of,
    setup_logging,
)

pytestmark = pytest.mark.unit

SETTINGS = Settings(
    s3_secret_key=SecretStr("s3-secret-0f9e8d7c"),
    postgres_dsn=SecretStr("postgresql://mlbsts:pg-password-5a4b3c@db:5432/mlbsts"),
    redis_url="redis://:redis-password-77aa@cache:6379/0",
    kafka_sasl_password=SecretStr("sasl-password-1b2c3d"),
    otlp_headers=SecretStr("api-key=otlp-key-9f8e7d6c,x-team=ops"),
)
SECRETS = (
    "s3-secret-0f9e8d7c",
    "pg-password-5a4b3c",
    "redis-password-77aa",
    "sasl-password-1b2c3d",
    "otlp-key-9f8e7d6c",
)


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "connectors.sink_retry", logging.WARNING, "x.py", 1, message, args, None
    )
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_secrets_of_the_settings_are_every_key_and_password() -> None:
    found = secrets_of(SETTINGS)
    assert set(SECRETS) <= set(found)
    assert SETTINGS.postgres_dsn.get_secret_value() in found


def test_the_redactor_hides_secrets_and_any_password_in_a_url_or_dsn() -> None:
    redact = Redactor(secrets_of(SETTINGS))
    text = redact(
        "S3 key s3-secret-0f9e8d7c, dsn postgresql://mlbsts:pg-password-5a4b3c@db:5432/mlbsts, "
        "other amqp://bob:short@host/, libpq host=db password=tiny user=x, "
        "sasl sasl-password-1b2c3d otlp api-key=otlp-key-9f8e7d6c"
    )
    assert not any(secret in text for secret in SECRETS)
    assert "short" not in text and "tiny" not in text
    assert "amqp://bob:***@host/" in text and "password=*** user=x" in text
    assert Redactor(["mlbsts"])("mlbsts.settings") == "mlbsts.settings"  # too short to hunt


def test_a_json_line_has_the_fields_and_no_secret() -> None:
    formatter = JsonFormatter("worker", Redactor(secrets_of(SETTINGS)))
    record = _record("retrying %s", "postgresql://u:pg-password-5a4b3c@db/x", game=744914, offset=7)
    with log_fields(topic="mlb.raw.game-snapshots", partition=2, sink="raw_to_postgres"):
        line = json.loads(formatter.format(record))
    assert line["process"] == "worker" and line["level"] == "WARNING"
    assert line["logger"] == "connectors.sink_retry"
    assert line["time"].endswith("Z") and "T" in line["time"]
    assert line["message"] == "retrying postgresql://u:***@db/x"
    assert (line["game"], line["offset"], line["partition"]) == (744914, 7, 2)
    assert (line["topic"], line["sink"]) == ("mlb.raw.game-snapshots", "raw_to_postgres")
    assert "trace_id" not in line


def test_a_line_inside_a_span_carries_its_trace_id() -> None:
    tracer = TracerProvider().get_tracer("test")
    formatter = JsonFormatter("ingest", Redactor())
    with tracer.start_as_current_span("poll") as span:
        line = json.loads(formatter.format(_record("polled")))
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert line["span_id"] == format(span.get_span_context().span_id, "016x")


def test_an_exception_is_one_field_and_redacted() -> None:
    formatter = JsonFormatter("worker", Redactor(secrets_of(SETTINGS)))
    try:
        raise ConnectionError("redis://:redis-password-77aa@cache:6379/0 refused")
    except ConnectionError:
        record = _record("write failed")
        record.exc_info = sys.exc_info()
    line = json.loads(formatter.format(record))
    assert "ConnectionError" in line["exception"]
    assert "redis-password-77aa" not in line["exception"]


def test_the_text_format_is_one_readable_line() -> None:
    formatter = TextFormatter("demo", Redactor(secrets_of(SETTINGS)))
    text = formatter.format(_record("key s3-secret-0f9e8d7c", game=1))
    assert text.endswith("WARNING demo connectors.sink_retry: key *** [game=1]")


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    hooks = sys.excepthook, threading.excepthook
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    sys.excepthook, threading.excepthook = hooks
    logging.captureWarnings(False)


def test_setup_replaces_the_handlers_and_logs_json_lines(
    root_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    logging.basicConfig(format="%(message)s", force=True)
    assert installed_level() is None
    setup_logging("worker", level="INFO", fmt="auto", secrets=secrets_of(SETTINGS))
    assert installed_level() == logging.INFO
    assert len(logging.getLogger().handlers) == 1
    logging.getLogger("flows").info("dsn %s", SETTINGS.postgres_dsn.get_secret_value())
    logging.getLogger("flows").debug("not shown")
    try:
        raise RuntimeError("sasl-password-1b2c3d")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())  # type: ignore[arg-type]
    lines = [json.loads(line) for line in err.getvalue().splitlines()]
    assert [line["level"] for line in lines] == ["INFO", "CRITICAL"]
    assert lines[0]["message"] == "dsn ***"
    assert "sasl-password" not in lines[1]["exception"]
