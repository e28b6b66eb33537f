"""Per-key state that is released even when a key's items stop coming.

Every per-game step of the flow is a ``stateful_flat_map`` mapper
``(state | None, item) -> (state | None, outputs)`` that also accepts a
:class:`~flows.game.release.Tick` and returns ``None`` as the state once the game has been
Final for its grace period (:func:`flows.game.release.releasing`). After Final, though,
items usually stop (the ingester publishes nothing unless MLB changes the feed), so nothing
would ever call the mapper again and a season of finished games would stay in memory
(bytewax issue #577).

:func:`ticking` runs such a mapper with Bytewax's ``stateful`` operator and also calls it
with ``Tick(now)`` every ``every`` of wall-clock time per key (``notify_at``), so each
step's own release rule applies on time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

import bytewax.operators as op
from bytewax.dataflow import Stream
from bytewax.operators import KeyedStream, StatefulLogic

from flows.game.release import Tick, utc_now

V = TypeVar("V")
W = TypeVar("W")
S = TypeVar("S")

TICK_EVERY = timedelta(minutes=5)

Mapper = Callable[[S | None, Any], tuple[S | None, Iterable[W]]]


class TickingLogic(StatefulLogic[V, W, S], Generic[V, W, S]):
    """A mapper's state for one key, ticked every ``every`` (see the module docstring)."""

    def __init__(
        self,
        mapper: Mapper[S, W],
        state: S | None,
        every: timedelta = TICK_EVERY,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._mapper = mapper
        self._state = state
        self._every = every
        self._clock = clock
        self._next = clock() + every

    def on_item(self, value: V) -> tuple[Iterable[W], bool]:
        self._state, out = self._mapper(self._state, value)
        return out, self._state is None  # None: DISCARD (Bytewax forgets the key)

    def on_notify(self) -> tuple[Iterable[W], bool]:
        now = self._clock()
        self._next = now + self._every
        self._state, out = self._mapper(self._state, Tick(now=now))
        return out, self._state is None

    def on_eof(self) -> tuple[Iterable[W], bool]:
        return (), StatefulLogic.RETAIN  # kept for the recovery snapshot

    def notify_at(self) -> datetime | None:
        return self._next

    def snapshot(self) -> S:
        assert self._state is not None  # a discarded key is never snapshotted
        return self._state


def ticking(
    step_id: str,
    up: KeyedStream[V],
    mapper: Mapper[S, W],
    every: timedelta = TICK_EVERY,
) -> KeyedStream[W]:
    """``op.stateful_flat_map(step_id, up, mapper)`` plus a ``Tick`` every ``every``."""

    def build(resume: S | None) -> TickingLogic[V, W, S]:
        return TickingLogic(mapper, resume, every)

    out: Stream[Any] = op.stateful(step_id, up, build)
    return out
