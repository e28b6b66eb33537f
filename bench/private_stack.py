"""The benchmark's private stack: a fresh embedded stack beside the dev one.

Each server of the private stack listens on its dev port + ``PORT_OFFSET``. Every port a
server binds counts, not only its address: SeaweedFS binds its S3 port P, P+1..P+4 and
each of those + 10000 for gRPC (``mlbsts.stack.s3.weed_ports``), so an offset of 10000
put the private S3 port on the dev S3's gRPC port and ``make bench`` failed while the dev
stack was up. ``private_stack`` refuses to start when any port of the two stacks meet.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import SecretStr

from mlbsts import stack
from mlbsts.settings import Settings
from mlbsts.stack.layout import Layout
from mlbsts.stack.ports import LOOPBACK

#: added to each dev port; below weed's gRPC offset (10000) and small enough that every
#: port of the default private stack stays under Linux's ephemeral range (32768 and up)
PORT_OFFSET = 1000


def stack_ports(settings: Settings) -> dict[str, tuple[int, ...]]:
    """Every port each server of the stack of ``settings`` binds, by server name."""
    layout = Layout(settings.stack_dir)
    return {srv.name: srv.launch(settings, layout).ports for srv in stack.SERVERS}


def shared_ports(a: Settings, b: Settings) -> set[int]:
    """The ports both stacks would bind (empty when they can run side by side)."""
    return _all_ports(a) & _all_ports(b)


def _all_ports(settings: Settings) -> set[int]:
    return {port for ports in stack_ports(settings).values() for port in ports}


def ephemeral_low(path: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> int:
    """The first port of the kernel's ephemeral range (32768 when it cannot be read)."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def ephemeral_ports(settings: Settings) -> set[int]:
    """The ports of the stack of ``settings`` in the ephemeral range: any client's own end
    of a connection may hold one when the stack starts (``PortTakenError``, by chance)."""
    low = ephemeral_low()
    return {port for port in _all_ports(settings) if port >= low}


def private_env(dev: Settings, offset: int = PORT_OFFSET) -> dict[str, str]:
    """The environment that points a process at the private stack beside ``dev``."""
    port = {srv.name: int(srv.address(dev).rsplit(":", 1)[1]) + offset for srv in stack.SERVERS}
    return {
        "MLBSTS_STACK_DIR": str(dev.stack_dir / "bench-stack"),
        "MLBSTS_KAFKA_BOOTSTRAP_SERVERS": f"{LOOPBACK}:{port['kafka']}",
        "MLBSTS_S3_ENDPOINT": f"{LOOPBACK}:{port['s3']}",
        "MLBSTS_POSTGRES_DSN": f"postgresql://mlbsts:mlbsts@{LOOPBACK}:{port['postgres']}/mlbsts",
        "MLBSTS_REDIS_URL": f"redis://{LOOPBACK}:{port['redis']}/0",
    }


def private_settings(env: dict[str, str]) -> Settings:
    """The settings of the stack ``env`` (from :func:`private_env`) describes."""
    return Settings(
        stack_dir=Path(env["MLBSTS_STACK_DIR"]),
        kafka_bootstrap_servers=env["MLBSTS_KAFKA_BOOTSTRAP_SERVERS"],
        s3_endpoint=env["MLBSTS_S3_ENDPOINT"],
        postgres_dsn=SecretStr(env["MLBSTS_POSTGRES_DSN"]),
        redis_url=env["MLBSTS_REDIS_URL"],
    )


@contextmanager
def private_stack(
    dev: Settings,
    offset: int | None = None,
    folder: str = "bench-stack",
    beside: tuple[Settings, ...] = (),
    *,
    stack_dir: Path | None = None,
    timeout: float = 60.0,
) -> Iterator[tuple[Settings, dict[str, str]]]:
    """A fresh embedded stack beside the dev one (every dev port + ``offset``, by default
    ``PORT_OFFSET`` as it is when called; data in ``folder`` of the dev stack's folder, or
    in ``stack_dir``): its settings and the environment that points workers at it. It
    refuses to start when a port meets one of the dev stack's or of the stacks ``beside``,
    or lies in the ephemeral range, and raises when the stack is not healthy within
    ``timeout``; stopped and deleted on exit."""
    env = private_env(dev, PORT_OFFSET if offset is None else offset)
    env["MLBSTS_STACK_DIR"] = str(stack_dir or dev.stack_dir / folder)
    private = private_settings(env)
    clash = set().union(*(shared_ports(other, private) for other in (dev, *beside)))
    if clash:
        raise stack.SettingsError(
            f"bench: the private stack would bind ports {sorted(clash)} of another stack; "
            "change its port offset (bench/private_stack.py) or the dev stack's ports"
        )
    if chance := ephemeral_ports(private):
        raise stack.SettingsError(
            f"bench: the private stack would bind ports {sorted(chance)} in the kernel's "
            "ephemeral range, which clients' connections take by chance; choose an offset "
            "that keeps every port (weed's gRPC ports are S3's + 10000) below it"
        )
    stack.down(private, purge=True)  # left over from an interrupted run
    try:
        status = stack.up(private, timeout=timeout)
        if not status.healthy:
            raise stack.StartupError(f"bench: the private stack is not healthy: {status}")
        yield private, env
    finally:
        stack.down(private, purge=True)
