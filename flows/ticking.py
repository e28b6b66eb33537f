"""Per-key state that is released even when a key's items stop coming.

Every per-game step of the flow is a ``stateful_flat_map`` mapper
``(state | None, item) -> (state | None, outputs)`` that also accepts a
:class:`~flows.game.release.Tick` and returns ``None`` as the state once the game has been
Final for its grace period (:func:`flows.game.release.releasing`). After Final, though,
items usually stop (the ingester publishes nothing unless MLB changes the feed), so nothing
would ever call the mapper again and a season of finished games would stay in memory
(bytewax issue #577).

:func:`ticking` runs such a mapper with Bytewax's ``stateful`` operator and also calls it
with a ``Tick`` every ``every`` of wall-clock time per key (``notify_at``), so each
step's own release rule applies on time.

A tick is *scheduled* by the wall clock but *timed* by a :class:`FlowClock`: the newest
feed time the flow has read in this process (every worker of the process shares it). Live,
that is within seconds of the wall clock; for games recorded long ago (the demo, a test, a
replay of last season) it is their own time, so a tick releases a game when the game's own
news says so, as it did live, and not at once because the recording is old. Before the
flow has read any snapshot, a tick does nothing.

Recovery: the mappers change their state in place, and Bytewax requires a snapshot to be
effectively immutable (``StatefulLogic.snapshot``). So :meth:`TickingLogic.snapshot`
returns the state already pickled, frozen as it was when asked for. (A resumed diff state
ahead of its offsets, once blamed on this, came from snapshots of an epoch that never
finished: :mod:`connectors.resume_epoch`.)
"""

from __future__ import annotations

import pickle
import threading
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


class FlowClock:
    """The newest feed time a flow has read in this process (``None`` before any)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now: datetime | None = None

    def advance(self, at: datetime | None) -> None:
        """Move the clock to ``at`` if it is newer (feed times arrive out of order)."""
        if at is None:
            return
        with self._lock:
            if self._now is None or at > self._now:
                self._now = at

    def now(self) -> datetime | None:
        return self._now


class TickingLogic(StatefulLogic[V, W, bytes], Generic[V, W, S]):
    """A mapper's state for one key, ticked every ``every`` (see the module docstring)."""

    def __init__(
        self,
        mapper: Mapper[S, W],
        state: S | None,
        every: timedelta | None = TICK_EVERY,
        clock: Callable[[], datetime | None] = utc_now,
        wall: Callable[[], datetime] = utc_now,
    ) -> None:
        self._mapper = mapper
        self._state = state
        self._every = every  # None: never ticked
        self._clock = clock
        self._wall = wall
        self._next = None if every is None else wall() + every

    def on_item(self, value: V) -> tuple[Iterable[W], bool]:
        self._state, out = self._mapper(self._state, value)
        return out, self._state is None  # None: DISCARD (Bytewax forgets the key)

    def on_notify(self) -> tuple[Iterable[W], bool]:
        assert self._every is not None  # Bytewax notifies only at notify_at
        self._next = self._wall() + self._every
        now = self._clock()
        if now is None:  # nothing read yet: no time to judge by
            return (), StatefulLogic.RETAIN
        self._state, out = self._mapper(self._state, Tick(now=now))
        return out, self._state is None

    def on_eof(self) -> tuple[Iterable[W], bool]:
        return (), StatefulLogic.RETAIN  # kept for the recovery snapshot

    def notify_at(self) -> datetime | None:
        return self._next

    def snapshot(self) -> bytes:
        assert self._state is not None  # a discarded key is never snapshotted
        return pickle.dumps(self._state, protocol=pickle.HIGHEST_PROTOCOL)  # frozen now

    def state(self) -> S | None:
        """The key's current state (``None`` before its first item)."""
        return self._state


def resumed_state(snapshot: bytes | Any | None) -> Any:
    """The state a :meth:`TickingLogic.snapshot` saved. A recovery store written before
    snapshots were pickled holds the state itself: it is taken as it is."""
    if isinstance(snapshot, bytes):
        return pickle.loads(snapshot)  # noqa: S301 - our own recovery store
    return snapshot


def ticking(
    step_id: str,
    up: KeyedStream[V],
    mapper: Mapper[S, W],
    clock: FlowClock,
    every: timedelta = TICK_EVERY,
) -> KeyedStream[W]:
    """``op.stateful_flat_map(step_id, up, mapper)`` plus a ``Tick`` every ``every``, timed
    by ``clock``."""

    def build(resume: bytes | None) -> TickingLogic[V, W, S]:
        return TickingLogic(mapper, resumed_state(resume), every, clock.now)

    out: Stream[Any] = op.stateful(step_id, up, build)
    return out


def keyed_state(step_id: str, up: KeyedStream[V], mapper: Mapper[S, W]) -> KeyedStream[W]:
    """``op.stateful_flat_map(step_id, up, mapper)`` with no tick, as one ``stateful`` step
    named ``step_id`` (``stateful_flat_map`` nests its own ``stateful`` step, whose
    recovery state would not resume what :func:`ticking` saved under ``step_id``)."""

    def build(resume: bytes | None) -> TickingLogic[V, W, S]:
        return TickingLogic(mapper, resumed_state(resume), None)

    out: Stream[Any] = op.stateful(step_id, up, build)
    return out
