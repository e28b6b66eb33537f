"""Is a TCP port on the loopback interface free to bind?"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable

from mlbsts.stack.errors import PortTakenError

LOOPBACK = "127.0.0.1"


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """True when a server could bind ``host:port`` now.

    ``SO_REUSEADDR`` is set, as every server of the stack sets it, so a port left in
    TIME_WAIT by a server that just stopped counts as free; a listener on the port (on
    this address or on 0.0.0.0) makes it taken.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def ensure_free(component: str, ports: Iterable[int], setting: str) -> None:
    """Raise PortTakenError for the first port of ``component`` that is taken."""
    for port in ports:
        if not port_is_free(port):
            raise PortTakenError(
                f"{component}: port {port} on {LOOPBACK} is taken by a process the stack did "
                f"not start; stop that process or set {setting} to a free port"
            )
