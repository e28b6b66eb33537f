"""Detection of ports taken by processes the stack did not start."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from mlbsts.stack import PortTakenError
from mlbsts.stack.ports import ensure_free, port_is_free

pytestmark = pytest.mark.unit


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_port_nobody_listens_on_is_free() -> None:
    assert port_is_free(free_port())


def test_a_listened_port_is_taken(listener: int) -> None:
    assert not port_is_free(listener)


def test_a_port_left_in_time_wait_is_free() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server side closes first: TIME_WAIT on this port
        client.close()
    assert port_is_free(port)


def test_ensure_free_names_the_component_port_and_setting(listener: int) -> None:
    with pytest.raises(PortTakenError) as info:
        ensure_free("redis", [free_port(), listener], "MLBSTS_REDIS_URL")
    message = str(info.value)
    assert f"port {listener}" in message
    assert message.startswith("redis:")
    assert "MLBSTS_REDIS_URL" in message
    assert "\n" not in message


def test_ensure_free_passes_free_ports() -> None:
    ensure_free("redis", [free_port()], "MLBSTS_REDIS_URL")
