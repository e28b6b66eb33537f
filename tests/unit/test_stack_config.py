"""Rendering of the servers' command lines and environments, and settings checks."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from mlbsts.settings import Settings
from mlbsts.stack import SERVERS, SettingsError
from mlbsts.stack.kafka import KafkaServer, tansu_env
from mlbsts.stack.layout import Layout
from mlbsts.stack.postgres import PostgresServer, parse_dsn
from mlbsts.stack.redis import RedisServer
from mlbsts.stack.s3 import S3Server, check_bucket_name, identities, weed_ports
from mlbsts.stack.server import loopback_port

pytestmark = pytest.mark.unit


def settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"stack_dir": tmp_path} | overrides
    return Settings(**values)  # type: ignore[arg-type]


def test_weed_ports_are_explicit_distinct_and_grpc_is_http_plus_10000() -> None:
    ports = weed_ports(18333)
    assert len(set(ports.values())) == len(ports) == 10
    for flag in ("s3.port", "master.port", "volume.port", "filer.port", "admin.port"):
        assert ports[f"{flag}.grpc"] == ports[flag] + 10000
    assert ports["s3.port"] == 18333


def test_weed_command_sets_every_port_and_binds_loopback(tmp_path: Path) -> None:
    launch = S3Server().launch(settings(tmp_path), Layout(tmp_path))
    argv = " ".join(launch.argv)
    for flag, port in weed_ports(18333).items():
        assert f"-{flag}={port}" in argv
    assert "-ip.bind=127.0.0.1" in argv
    assert "-s3.port.iceberg=0" in argv and "-webdav=false" in argv
    assert f"-s3.config={tmp_path / 's3' / 'identities.json'}" in argv
    assert launch.env["GOMEMLIMIT"]
    assert sorted(launch.ports) == sorted(weed_ports(18333).values())


def test_weed_refuses_a_port_whose_grpc_twin_would_overflow(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="too high"):
        S3Server().launch(settings(tmp_path, s3_endpoint="127.0.0.1:60000"), Layout(tmp_path))


def test_identities_grant_the_configured_key(tmp_path: Path) -> None:
    doc = identities(settings(tmp_path, s3_access_key="ak", s3_secret_key="sk-123"))
    (identity,) = doc["identities"]
    assert identity["credentials"] == [{"accessKey": "ak", "secretKey": "sk-123"}]
    assert "Admin" in identity["actions"]


@pytest.mark.parametrize("name", ["mlbsts", "a.b-c", "abc"])
def test_valid_bucket_names(name: str) -> None:
    assert check_bucket_name(name, "X") == name


@pytest.mark.parametrize("name", ["ab", "UPPER", "under_score", "-lead", "a..b", "x" * 64])
def test_invalid_bucket_names(name: str) -> None:
    with pytest.raises(SettingsError, match="bucket"):
        check_bucket_name(name, "MLBSTS_S3_BUCKET")


def test_tansu_uses_the_s3_engine_on_the_local_s3_over_http(tmp_path: Path) -> None:
    s = settings(tmp_path, kafka_bootstrap_servers="localhost:29092")
    launch = KafkaServer().launch(s, Layout(tmp_path))
    assert "--storage-engine=s3://tansu/" in launch.argv
    assert "--listener-url=tcp://127.0.0.1:29092" in launch.argv
    assert "--advertised-listener-url=tcp://127.0.0.1:29092" in launch.argv
    assert launch.ports == (29092,)
    env = tansu_env(s)
    assert env["AWS_ENDPOINT"] == "http://127.0.0.1:18333"
    assert env["AWS_ALLOW_HTTP"] == "true"
    assert env["AWS_ACCESS_KEY_ID"] == s.s3_access_key
    assert env["AWS_SECRET_ACCESS_KEY"] == s.s3_secret_key.get_secret_value()


def test_server_env_drops_foreign_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", "not-for-tansu")
    monkeypatch.setenv("PGPASSWORD", "not-for-postgres")
    for server in SERVERS:
        env = server.launch(settings(tmp_path), Layout(tmp_path)).env
        assert "AWS_SESSION_TOKEN" not in env
        assert "PGPASSWORD" not in env


def test_postgres_listens_on_the_dsn_port_and_stops_fast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = settings(tmp_path, postgres_dsn="postgresql://app:pw@127.0.0.1:25432/appdb")
    monkeypatch.setattr("os.geteuid", lambda: 0)
    launch = PostgresServer().launch(s, Layout(tmp_path))
    assert launch.ports == (25432,)
    assert "listen_addresses=127.0.0.1" in launch.argv
    assert launch.stop_signal is signal.SIGINT
    assert launch.user == "nobody"
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert PostgresServer().launch(s, Layout(tmp_path)).user is None


def test_parse_dsn_reads_role_password_database() -> None:
    target = parse_dsn("postgresql://app:s%40cret@localhost:25432/appdb")
    assert (target.port, target.user, target.password, target.dbname) == (
        25432,
        "app",
        "s@cret",
        "appdb",
    )
    assert parse_dsn("host=127.0.0.1 port=5433 user=u password=p dbname=d").port == 5433


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        ("postgresql://app@127.0.0.1:15432/appdb", "password"),
        ("postgresql://app:pw@127.0.0.1:15432", "database"),
        ("postgresql://app:pw@db.example.com:5432/appdb", "127.0.0.1"),
        ("postgresql://postgres:pw@127.0.0.1:15432/appdb", "other than"),
        ("not a dsn", "valid connection string"),
    ],
)
def test_parse_dsn_rejects_what_the_stack_cannot_serve(dsn: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        parse_dsn(dsn)


def test_redis_binds_loopback_on_the_url_port(tmp_path: Path) -> None:
    s = settings(tmp_path, redis_url="redis://localhost:26379/2")
    launch = RedisServer().launch(s, Layout(tmp_path))
    assert launch.ports == (26379,)
    assert launch.argv[launch.argv.index("--bind") + 1] == "127.0.0.1"
    assert launch.argv[launch.argv.index("--dir") + 1] == str(tmp_path / "redis")


@pytest.mark.parametrize(
    ("address", "port"),
    [("127.0.0.1:19092", 19092), ("localhost:2000", 2000), ("redis://127.0.0.1/0", 6379)],
)
def test_loopback_port(address: str, port: int) -> None:
    assert loopback_port(address, setting="X", default=6379) == port


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("10.0.0.5:9092", "only runs servers on 127.0.0.1"),
        ("kafka:9092", "only runs servers on 127.0.0.1"),
        ("127.0.0.1:80", "between 1024 and 65535"),
        ("127.0.0.1:99999", "bad port"),
    ],
)
def test_loopback_port_rejects(address: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as info:
        loopback_port(address, setting="MLBSTS_KAFKA_BOOTSTRAP_SERVERS", default=9092)
    assert "MLBSTS_KAFKA_BOOTSTRAP_SERVERS" in str(info.value)


def test_every_server_has_a_distinct_name_and_setting() -> None:
    assert [s.name for s in SERVERS] == ["s3", "kafka", "postgres", "redis"]
    assert len({s.setting for s in SERVERS}) == 4
