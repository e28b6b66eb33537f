"""When PostgreSQL or Redis is down (nothing listens) or hung (a socket that accepts and
never answers), the API answers 503 with a body naming the server, ``/readyz`` fails and
``/healthz`` stays up. The dev stack is left alone: the API is pointed at dead addresses."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from api.key_store import create_key
from api.keys import SCOPES
from bench.api_stage import api_env, api_process, free_port, private_schema
from mlbsts.settings import Settings

pytestmark = pytest.mark.integration


@contextmanager
def dead_address(mode: str) -> Iterator[int]:
    """A loopback port where nothing listens (``refused``) or where a socket accepts
    connections and never answers (``silent``)."""
    if mode == "refused":
        yield free_port()
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


@pytest.fixture(scope="module")
def keyed_dsn(stack_settings: Settings) -> Iterator[tuple[str, str]]:
    with private_schema(stack_settings) as dsn:
        yield dsn, create_key(dsn, "tests", SCOPES, 1000).key


@pytest.mark.parametrize("mode", ["refused", "silent"])
@pytest.mark.parametrize("server", ["postgres", "redis"])
def test_a_server_down_is_a_503_naming_it_and_readiness_fails(
    stack_settings: Settings,
    keyed_dsn: tuple[str, str],
    tmp_path: Path,
    server: str,
    mode: str,
) -> None:
    dsn, key = keyed_dsn
    with dead_address(mode) as port:
        dead = {
            "postgres": {"MLBSTS_POSTGRES_DSN": f"postgresql://mlbsts:x@127.0.0.1:{port}/mlbsts"},
            "redis": {"MLBSTS_REDIS_URL": f"redis://127.0.0.1:{port}/0"},
        }[server]
        env = {**api_env(stack_settings, dsn, MLBSTS_API_TIMEOUT_S="1"), **dead}
        with api_process(env, tmp_path / "api.log") as proc:
            answer = httpx.get(
                f"{proc.url}/v1/games?date=2024-07-01", headers={"X-API-Key": key}, timeout=30
            )
            assert answer.status_code == 503, answer.text
            body = answer.json()
            assert body["error"] == f"{server}_unavailable" and server in body["message"]
            assert answer.headers["retry-after"] == "5"
            ready = httpx.get(f"{proc.url}/readyz", timeout=30)
            assert ready.status_code == 503
            other = "redis" if server == "postgres" else "postgres"
            assert ready.json()[server] != "ok" and ready.json()[other] == "ok"
            assert httpx.get(f"{proc.url}/healthz", timeout=30).status_code == 200
        assert "Traceback" not in (tmp_path / "api.log").read_text()
