"""Bounded waits for another process: the first answer of a check within a time, giving up
at once when the process waited for has died.

Used wherever a process of the project is started and then waited for (the live demo's
worker and API, the benchmarks' API, the tests' workers). A wait without a bound hangs
when the other process hangs; a wait that does not watch the process keeps polling a
process that has already exited and reports a timeout instead of its exit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from typing import TypeVar

import httpx

T = TypeVar("T")

__all__ = ["first_answer", "http_ok"]


def _nothing() -> None:
    return None


def first_answer(
    check: Callable[[], T],
    timeout_s: float,
    *,
    alive: Callable[[], None] = _nothing,
    every_s: float = 0.2,
) -> T | None:
    """``check()``'s first truthy answer within ``timeout_s``, or ``None``. ``alive()`` is
    called before each try and raises to stop the wait (the process waited for died)."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive()
        if answer := check():
            return answer
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        time.sleep(min(every_s, left))


def http_ok(url: str, timeout_s: float = 2.0) -> bool:
    """Whether ``url`` answers 200 within ``timeout_s`` (a refused connection: no)."""
    with suppress(httpx.TransportError):
        return httpx.get(url, timeout=timeout_s).status_code == 200
    return False
