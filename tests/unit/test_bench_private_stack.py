"""The benchmark's private stack never shares a port with the dev stack (``make bench``
runs while the dev stack is up), SeaweedFS's derived ports included."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import private_stack as bench_stack
from bench.private_stack import (
    PORT_OFFSET,
    private_env,
    private_settings,
    shared_ports,
    stack_ports,
)
from mlbsts import stack
from mlbsts.settings import Settings
from mlbsts.stack import SettingsError
from mlbsts.stack.s3 import weed_ports

pytestmark = pytest.mark.unit

ADDRESSES = ("kafka_bootstrap_servers", "s3_endpoint", "postgres_dsn", "redis_url")
#: the offset that put the private S3 port on the dev S3's gRPC port (18333 + 10000)
OLD_OFFSET = 10_000


def dev_settings(tmp_path: Path) -> Settings:
    """The dev stack on its default ports, whatever the environment says."""
    values = {name: Settings.model_fields[name].default for name in ADDRESSES}
    return Settings(stack_dir=tmp_path, **values)


def all_ports(settings: Settings) -> list[int]:
    return [port for ports in stack_ports(settings).values() for port in ports]


def test_stack_ports_are_every_port_of_every_server(tmp_path: Path) -> None:
    ports = stack_ports(dev_settings(tmp_path))
    assert set(ports) == {"s3", "kafka", "postgres", "redis"}
    assert sorted(ports["s3"]) == sorted(weed_ports(18333).values())  # gRPC twins included
    assert len(ports["s3"]) == 10
    assert (ports["kafka"], ports["postgres"], ports["redis"]) == ((19092,), (15432,), (16379,))


def test_the_private_stack_shares_no_port_with_the_dev_stack(tmp_path: Path) -> None:
    dev = dev_settings(tmp_path)
    private = private_settings(private_env(dev, PORT_OFFSET))
    dev_ports, private_ports = all_ports(dev), all_ports(private)
    assert len(private_ports) == len(dev_ports) == 13
    assert len(set(private_ports)) == len(private_ports)  # nor with itself
    assert set(dev_ports).isdisjoint(private_ports), sorted(set(dev_ports) & set(private_ports))
    assert shared_ports(dev, private) == set()
    assert private.stack_dir == tmp_path / "bench-stack"


def test_the_old_offset_put_the_private_s3_on_the_dev_s3_grpc_port(tmp_path: Path) -> None:
    dev = dev_settings(tmp_path)
    private = private_settings(private_env(dev, OLD_OFFSET))
    assert private.s3_endpoint == "127.0.0.1:28333"
    assert 28333 in shared_ports(dev, private)


@pytest.fixture
def no_server_moves(monkeypatch: pytest.MonkeyPatch) -> None:
    """``stack.up`` and ``stack.down`` fail the test: a refusal must come first."""

    def never(*args: object, **kwargs: object) -> None:
        pytest.fail("no server may start or stop")

    monkeypatch.setattr(stack, "up", never)
    monkeypatch.setattr(stack, "down", never)


@pytest.mark.usefixtures("no_server_moves")
def test_private_stack_refuses_to_start_on_a_dev_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench_stack, "PORT_OFFSET", OLD_OFFSET)
    with (
        pytest.raises(SettingsError, match="28333"),
        bench_stack.private_stack(dev_settings(tmp_path)),
    ):
        pytest.fail("the private stack started")


def _offsets_in_use() -> dict[str, int]:
    """Every private stack's port offset in the tests and benchmarks, by where it is set."""
    from bench import soak, subscriber_bench
    from tests.e2e import fault_harness, test_demo_logs
    from tests.integration import (
        test_broker_kill,
        test_liveness_stall,
        test_log_retention,
        test_pg_outage,
        test_redis_outage,
    )

    return {
        "make bench": PORT_OFFSET,
        "bench.soak": soak.PORT_OFFSET,
        "bench.subscriber_bench": subscriber_bench.SUBSCRIBER_OFFSET,
        "fault suite": fault_harness.PORT_OFFSET,
        "test_demo_logs": test_demo_logs.OFFSET,
        "test_broker_kill": test_broker_kill.PORT_OFFSET,
        "test_liveness_stall": test_liveness_stall.OFFSET,
        "test_log_retention": test_log_retention.PORT_OFFSET,
        "test_pg_outage": test_pg_outage.PORT_OFFSET,
        "test_redis_outage": test_redis_outage.PORT_OFFSET,
    }


def test_every_private_stack_binds_its_own_ports_below_the_ephemeral_range(
    tmp_path: Path,
) -> None:
    """A port in the ephemeral range (32768 and up) may be a client's own end of some
    connection when the stack starts: the fault suite once failed with weed's gRPC port
    33334 (+5000) taken that way. Every stack keeps below it and apart from the others."""
    dev = dev_settings(tmp_path)
    owner: dict[int, str] = {port: "dev" for port in all_ports(dev)}
    for name, offset in _offsets_in_use().items():
        ports = all_ports(private_settings(private_env(dev, offset)))
        assert max(ports) < 32768, (name, offset, max(ports))
        assert min(ports) > 1024, (name, offset, min(ports))
        for port in ports:
            assert port not in owner, f"{name} ({offset:+}) and {owner.get(port)} share {port}"
            owner[port] = name
    assert bench_stack.ephemeral_low(tmp_path / "missing") == 32768


@pytest.mark.usefixtures("no_server_moves")
def test_private_stack_refuses_ports_in_the_ephemeral_range(tmp_path: Path) -> None:
    with (  # +5000: weed's gRPC ports 33333-33337, where the fault suite once failed
        pytest.raises(SettingsError, match=r"33334.*ephemeral range"),
        bench_stack.private_stack(dev_settings(tmp_path), 5000),
    ):
        pytest.fail("the private stack started")
