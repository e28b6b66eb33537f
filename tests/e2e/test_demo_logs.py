"""No secret is ever logged: a whole demo run, with JSON logs, greps clean.

``mlbsts demo`` runs as a subprocess against a private stack (every dev port + 8500, its
own folder) whose secrets are distinctive: the PostgreSQL password (in the DSN), the S3
secret key, a Kafka SASL password and the API key of an OTLP collector (a closed port, so
the exporters fail and log). Its logs, and those of the worker it starts, are JSON lines of
the processes ``demo`` and ``worker``, and none of them holds any of those secrets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from mlbsts import stack
from mlbsts.paths import PROJECT_ROOT
from mlbsts.settings import Settings, get_settings

pytestmark = pytest.mark.e2e

OFFSET = -5000  # private ports, its own, below the ephemeral range (bench/private_stack.py)
PG_PASSWORD = "pg-pass-3f1c9a7e5d"
S3_SECRET = "s3-secret-8b2e6d4f0a"
SASL_PASSWORD = "sasl-pass-5e7a1c3b9d"
OTLP_KEY = "otlp-key-2d4f6a8c0e"
SECRETS = (PG_PASSWORD, S3_SECRET, SASL_PASSWORD, OTLP_KEY)
FEED = PROJECT_ROOT / "tests" / "fixtures" / "744914.feed_live.json.gz"


@pytest.fixture
def private(tmp_path: Path) -> Iterator[Settings]:
    dev = get_settings()
    settings = Settings(
        stack_dir=tmp_path / "stack",
        kafka_bootstrap_servers=f"127.0.0.1:{dev.kafka_port + OFFSET}",
        s3_endpoint=f"127.0.0.1:{dev.s3_port + OFFSET}",
        s3_secret_key=SecretStr(S3_SECRET),
        postgres_dsn=SecretStr(
            f"postgresql://mlbsts:{PG_PASSWORD}@127.0.0.1:{dev.postgres_port + OFFSET}/mlbsts"
        ),
        redis_url=f"redis://127.0.0.1:{dev.redis_port + OFFSET}/0",
    )
    stack.down(settings, purge=True)
    yield settings
    stack.down(settings, purge=True)


def demo_env(settings: Settings) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("MLBSTS_")},
        "MLBSTS_STACK_DIR": str(settings.stack_dir),
        "MLBSTS_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "MLBSTS_S3_ENDPOINT": settings.s3_endpoint,
        "MLBSTS_S3_SECRET_KEY": S3_SECRET,
        "MLBSTS_POSTGRES_DSN": settings.postgres_dsn.get_secret_value(),
        "MLBSTS_REDIS_URL": settings.redis_url,
        "MLBSTS_KAFKA_SASL_PASSWORD": SASL_PASSWORD,  # PLAINTEXT: configured, never used
        "MLBSTS_OTLP_ENDPOINT": "http://127.0.0.1:24318",  # nobody listens
        "MLBSTS_OTLP_HEADERS": f"api-key={OTLP_KEY}",
        "MLBSTS_WORKER_TELEMETRY_PORT": str(9464 + OFFSET),
        "MLBSTS_LOG_FORMAT": "json",
        "MLBSTS_LOG_LEVEL": "INFO",
    }


def test_a_demo_run_logs_json_lines_and_no_secret(private: Settings, tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "mlbsts.commands.cli", "demo", "--feed", str(FEED), "--every", "10"],
        cwd=PROJECT_ROOT,
        env=demo_env(private),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    worker_log = private.stack_dir / "logs" / "demo-flow.log"
    worker = worker_log.read_text() if worker_log.exists() else "(no worker log)"
    logs = {"demo stdout": run.stdout, "demo stderr": run.stderr, "worker": worker}
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:] + worker[-3000:]
    assert "landed" in run.stdout  # the demo ran to its end
    for name, text in logs.items():
        leaked = [secret for secret in SECRETS if secret in text]
        assert not leaked, f"{name} holds {leaked}"
    processes = set()
    for text in (run.stderr, logs["worker"]):
        for line in text.splitlines():
            if line.startswith("{"):
                processes.add(json.loads(line)["process"])
    assert {"demo", "worker"} <= processes
