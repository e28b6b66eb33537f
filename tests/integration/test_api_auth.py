"""API keys, scopes and rate limits on the real local stack: 401, 403, 429 with
Retry-After and rate-limit headers, one limit shared by two API processes through Redis,
the `mlbsts api-key` commands, and no key in any log or table."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from api.key_store import create_key
from api.keys import Scope, parse_key
from bench.api_stage import api_env, api_process, private_schema
from mlbsts.settings import Settings
from tests.conftest import FIXTURE_GAME_PK
from tests.integration.test_api_endpoints import Api, api, game_dsn

pytestmark = pytest.mark.integration
__all__ = ["api", "game_dsn"]  # fixtures shared with test_api_endpoints.py

LINESCORE = f"/v1/games/{FIXTURE_GAME_PK}/linescore"


def _mlbsts(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlbsts.commands.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "missing API key"),
        ("hunter2", "malformed API key"),
        ("mlbsts_0123456789ab_" + "A" * 43, "unknown, wrong or revoked"),
    ],
)
def test_a_missing_malformed_or_unknown_key_is_a_401(
    api: Api, key: str | None, message: str
) -> None:
    headers = {"X-API-Key": key} if key else {}
    answer = httpx.get(api.url + LINESCORE, headers=headers)
    assert answer.status_code == 401
    assert message in answer.json()["message"]
    assert answer.headers["www-authenticate"] == "ApiKey"
    assert "x-ratelimit-limit" not in answer.headers


def test_the_right_id_with_a_wrong_secret_is_a_401(api: Api) -> None:
    parsed = parse_key(api.key)
    assert parsed is not None
    key_id, secret = parsed
    wrong = f"mlbsts_{key_id}_{secret[::-1]}"
    assert api.get(LINESCORE, key=wrong).status_code == 401
    assert api.get(LINESCORE).status_code == 200


@pytest.mark.parametrize(
    ("scopes", "path"),
    [
        (("history", "stream"), f"/v1/games/{FIXTURE_GAME_PK}/live"),
        (("history", "stream"), f"/v1/games/{FIXTURE_GAME_PK}/pitchers/684320"),
        (("live", "stream"), LINESCORE),
        (("live", "stream"), "/v1/games?date=2024-07-01"),
        (("live", "history"), f"/v1/games/{FIXTURE_GAME_PK}/stream"),
    ],
)
def test_a_key_without_the_routes_scope_is_a_403(
    api: Api, scopes: tuple[Scope, ...], path: str
) -> None:
    key = create_key(api.dsn, "scoped", scopes, 1000).key
    answer = api.get(path, key=key)
    assert answer.status_code == 403, answer.text
    assert "scope" in answer.json()["message"]


@pytest.fixture
def second_api(stack_settings: Settings, api: Api, tmp_path: Path) -> Iterator[tuple[Api, Api]]:
    """A second API process on the same schema and the same Redis prefix (a replica)."""
    with api_process(dict(api.env), tmp_path / "second.log") as other:
        yield api, Api(other.url, api.key, api.dsn, other.log_path, api.env)


def test_the_rate_limit_is_shared_by_two_api_processes(second_api: tuple[Api, Api]) -> None:
    first, second = second_api
    key = create_key(first.dsn, "limited", ("history",), 2).key  # 2 a minute: 1 per 30 s
    one = first.get(LINESCORE, key=key)
    two = second.get(LINESCORE, key=key)
    three = second.get(LINESCORE, key=key)
    assert (one.status_code, two.status_code, three.status_code) == (200, 200, 429)
    assert [a.headers["x-ratelimit-remaining"] for a in (one, two, three)] == ["1", "0", "0"]
    assert all(a.headers["x-ratelimit-limit"] == "2" for a in (one, two, three))
    retry_after = int(three.headers["retry-after"])
    assert 1 <= retry_after <= 30
    assert 30 <= int(three.headers["x-ratelimit-reset"]) <= 60
    assert three.json()["error"] == "rate_limited"
    assert first.get(LINESCORE, key=key).status_code == 429  # the other process agrees
    assert first.get(LINESCORE).status_code == 200  # another key has its own bucket


def test_api_key_commands_create_list_and_revoke(api: Api) -> None:
    env = {**os.environ, "MLBSTS_POSTGRES_DSN": api.dsn}
    made = _mlbsts(env, "api-key", "create", "--name", "cli test", "--scopes", "history")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    parsed = parse_key(key)
    assert parsed is not None
    key_id, secret = parsed
    assert api.get(LINESCORE, key=key).status_code == 200
    listed = _mlbsts(env, "api-key", "list")
    assert key_id in listed.stdout and "cli test" in listed.stdout and secret not in listed.stdout
    assert _mlbsts(env, "api-key", "revoke", key_id).returncode == 0
    assert api.get(LINESCORE, key=key).status_code == 401  # this API trusts no cached key
    again = _mlbsts(env, "api-key", "revoke", key_id)
    assert again.returncode == 1 and "no active key" in again.stderr
    bad = _mlbsts(env, "api-key", "create", "--name", "x", "--scopes", "admin")
    assert bad.returncode == 1 and "unknown scope" in bad.stderr


def test_only_a_salted_hash_of_a_key_is_stored(api: Api) -> None:
    parsed = parse_key(api.key)
    assert parsed is not None
    key_id, secret = parsed
    with psycopg.connect(api.dsn) as conn:
        row = conn.execute("SELECT * FROM api_keys WHERE key_id = %s", (key_id,)).fetchone()
    assert row is not None
    assert all(secret not in str(v) and api.key not in str(v) for v in row)
    _, _, salt, secret_hash, *_ = row
    assert bytes(secret_hash) == hashlib.sha256(bytes(salt) + secret.encode()).digest()


def test_keys_never_reach_the_logs(api: Api, tmp_path: Path, stack_settings: Settings) -> None:
    wrong = "mlbsts_0123456789ab_" + "Z" * 43
    for key in (api.key, wrong, "not-a-key-at-all"):
        api.get(LINESCORE, key=key)
        api.get(f"/v1/games/{FIXTURE_GAME_PK}/plays?cursor=bad", key=key)
    log = api.log_path.read_text()
    assert f"GET {LINESCORE} HTTP/1.1" in log  # the access log is on
    parsed = parse_key(api.key)
    assert parsed is not None
    for secret in (api.key, parsed[1], wrong, "Z" * 43, "not-a-key-at-all"):
        assert secret not in log


def test_a_database_without_the_api_tables_is_a_503_naming_the_fix(
    stack_settings: Settings, tmp_path: Path
) -> None:
    with private_schema(stack_settings) as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE api_keys")
        env = api_env(stack_settings, dsn)
        with api_process(env, tmp_path / "api.log") as proc:
            headers = {"X-API-Key": "mlbsts_0123456789ab_" + "A" * 43}
            answer = httpx.get(proc.url + LINESCORE, headers=headers, timeout=30)
            assert answer.status_code == 503
            assert "mlbsts init" in answer.json()["message"]
            assert httpx.get(proc.url + "/readyz", timeout=30).status_code == 503
