"""What the Redis live-state sink does while Redis is away, without Redis itself.

Redis holds an optional cache (the API reads it; PostgreSQL has the same live statistics),
so an unreachable Redis must never stop the pipeline. :class:`LiveStateWriter` keeps the
newest pending state of each game (:class:`PendingStates`: bounded by the number of
games, newest ``source_ts`` wins), tries to write them at each batch, no more often than an
exponential backoff allows (:class:`Backoff`: 0.5 s doubling up to 30 s, so a down Redis
does not cost every batch a connect timeout), logs one warning when Redis becomes
unreachable and one info line when it is back, and turns a state Redis refuses for its
data into a ``redis_rejected`` dead letter. Catching up writes the newest state only.

The Redis side is the narrow :class:`LiveStore` interface (``connectors/redis_state.py``
implements it), so this logic is tested with a fake store and a fake clock.
Exceptions::

    StoreUnavailableError (Exception)   raised by a store: Redis did not take the write
                                        (down, hung, out of memory, read-only);
                                        ``suspect_value`` when the connection broke
                                        mid-write (the value may be why)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Protocol

import msgspec

from flows.game.dead_letters import DeadLetter, ErrorClass
from flows.stats.live_box import LiveStats

__all__ = [
    "Backoff",
    "LiveStateWriter",
    "LiveStore",
    "PendingStates",
    "Rejects",
    "StoreUnavailableError",
    "backoff_delay",
    "refused_letter",
]

log = logging.getLogger(__name__)

#: what the sink does with a state Redis refused for its data (a dead-letter producer)
Rejects = Callable[[DeadLetter], None]

BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 30.0


class StoreUnavailableError(Exception):
    """Redis did not take the write; ``suspect_value``: the connection broke mid-write."""

    def __init__(self, message: str, *, suspect_value: bool = False) -> None:
        super().__init__(message)
        self.suspect_value = suspect_value


class LiveStore(Protocol):
    def write(self, states: Sequence[LiveStats]) -> list[str | None]:
        """Write each state if newer; per state, why Redis refused it (``None``: taken).
        Raises :class:`StoreUnavailableError`."""
        ...

    def answers(self) -> bool:
        """Does Redis answer a PING right now?"""
        ...


class PendingStates:
    """The newest state of each game not yet written: one entry per game."""

    def __init__(self) -> None:
        self._by_game: dict[int, LiveStats] = {}

    def __len__(self) -> int:
        return len(self._by_game)

    def add(self, states: Iterable[LiveStats]) -> None:
        """Keep each game's newest ``source_ts`` (the later one on a tie)."""
        for state in states:
            kept = self._by_game.get(state.gamePk)
            if kept is None or state.source_ts >= kept.source_ts:
                self._by_game[state.gamePk] = state

    def take(self) -> list[LiveStats]:
        """All pending states, in game order; the set is empty after."""
        states = [self._by_game[pk] for pk in sorted(self._by_game)]
        self._by_game.clear()
        return states

    def games(self) -> list[int]:
        return sorted(self._by_game)


def backoff_delay(failures: int, initial_s: float, max_s: float) -> float:
    """Seconds to wait after ``failures`` failed attempts in a row (0 after none)."""
    if failures <= 0:
        return 0.0
    return float(min(max_s, initial_s * 2 ** min(failures - 1, 62)))


class Backoff:
    """When the next attempt may be made, on a monotonic clock given by the caller."""

    def __init__(self, initial_s: float = BACKOFF_INITIAL_S, max_s: float = BACKOFF_MAX_S) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.failures = 0
        self._next_at = float("-inf")

    def ready(self, now: float) -> bool:
        return now >= self._next_at

    def failed(self, now: float) -> float:
        """Record a failed attempt at ``now``; the delay until the next one."""
        self.failures += 1
        delay = backoff_delay(self.failures, self.initial_s, self.max_s)
        self._next_at = now + delay
        return delay

    def succeeded(self) -> None:
        self.failures = 0
        self._next_at = float("-inf")


def refused_letter(state: LiveStats, error: str) -> DeadLetter:
    """A ``redis_rejected`` dead letter: the game, its ``source_ts``, the error, the JSON."""
    return DeadLetter(
        error_class=ErrorClass.REDIS_REJECTED,
        reason=f"live state {state.source_ts} of game {state.gamePk} refused by Redis: {error}",
        detected_at=datetime.now(UTC),
        gamePk=state.gamePk,
        original_key=str(state.gamePk).encode(),
        original_value=msgspec.json.encode(state),
    )


class LiveStateWriter:
    """The sink partition's logic: pending states, backoff, catch-up, refusals.

    ``where`` names Redis in log lines (its URL without password). Without ``rejects``, a
    refused state is logged and dropped. ``rejects`` may raise (a dead letter the broker
    refused): that stops the worker, as for every sink.
    """

    def __init__(
        self,
        store: LiveStore,
        where: str,
        rejects: Rejects | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        backoff: Backoff | None = None,
    ) -> None:
        self._store = store
        self._where = where
        self._rejects = rejects
        self._clock = clock
        self._backoff = backoff or Backoff()
        self._pending = PendingStates()
        self._down_since: float | None = None

    @property
    def pending_games(self) -> list[int]:
        return self._pending.games()

    def write(self, states: Iterable[LiveStats]) -> None:
        """Add ``states`` to the pending ones; write them all unless backing off."""
        self._pending.add(states)
        if len(self._pending) and self._backoff.ready(self._clock()):
            self._flush()

    def close(self) -> None:
        """One last attempt (backoff or not); log the games left unwritten."""
        if len(self._pending):
            self._flush()
        if len(self._pending):
            log.warning(
                "Redis live state: %s unreachable at close; the newest state of %d games "
                "was not written: %s",
                self._where,
                len(self._pending),
                self._pending.games(),
            )

    def _flush(self) -> None:
        states = self._pending.take()
        failure, unwritten = self._attempt(states)
        now = self._clock()
        if failure is None:
            if self._down_since is not None:
                log.info(
                    "Redis live state: %s is back after %.0f s; caught up %d games",
                    self._where,
                    now - self._down_since,
                    len(states),
                )
            self._down_since = None
            self._backoff.succeeded()
            return
        self._pending.add(unwritten)
        delay = self._backoff.failed(now)
        if self._down_since is None:
            self._down_since = now
            log.warning(
                "Redis live state: %s unreachable (%s); the pipeline goes on, keeping the "
                "newest state of each game and retrying with backoff (up to %.0f s)",
                self._where,
                failure,
                self._backoff.max_s,
            )
        else:
            log.debug(
                "Redis live state: still unreachable (%s); next try in %.1f s", failure, delay
            )

    def _attempt(
        self, states: list[LiveStats]
    ) -> tuple[StoreUnavailableError | None, list[LiveStats]]:
        """Write ``states``: (None, []) when Redis took or refused each one, else (the
        failure, the states not written)."""
        try:
            refusals = self._store.write(states)
        except StoreUnavailableError as e:
            if not (e.suspect_value and self._store.answers()):
                return e, states
            if len(states) > 1:  # Redis is up: one of them broke the connection
                return self._one_by_one(states)
            refusals = [f"Redis closed the connection on this value and answers PING ({e})"]
        for state, refusal in zip(states, refusals, strict=True):
            if refusal is not None:
                self._refuse(state, refusal)
        return None, []

    def _one_by_one(
        self, states: list[LiveStats]
    ) -> tuple[StoreUnavailableError | None, list[LiveStats]]:
        for i, state in enumerate(states):
            failure, _ = self._attempt([state])
            if failure is not None:
                return failure, states[i:]
        return None, []

    def _refuse(self, state: LiveStats, error: str) -> None:
        if self._rejects is None:
            log.warning(
                "Redis live state: %s refused game %d at %s, dropped: %s",
                self._where,
                state.gamePk,
                state.source_ts,
                error,
            )
            return
        self._rejects(refused_letter(state, error))
