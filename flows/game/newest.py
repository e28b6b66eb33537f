"""The newest of a batch's statistics per key: older ones would be refused by the stores'
defensive writes anyway, so sinks drop them before a round trip."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Protocol, TypeVar


class Stamped(Protocol):
    @property
    def source_ts(self) -> str: ...


S = TypeVar("S", bound=Stamped)
K = TypeVar("K", bound=Hashable)


def newest_per_key(items: Iterable[S], key: Callable[[S], K]) -> dict[K, S]:
    """The item of each key with the newest ``source_ts`` (the later one on a tie)."""
    newest: dict[K, S] = {}
    for item in items:
        kept = newest.get(key(item))
        if kept is None or item.source_ts >= kept.source_ts:
            newest[key(item)] = item
    return newest
