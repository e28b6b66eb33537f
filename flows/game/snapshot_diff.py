"""The stateful snapshot diff: successive ``feed/live`` snapshots of a game → events, pure.

``step(state, snapshot) -> (state, events)`` fits Bytewax's ``stateful_flat_map`` keyed
by gamePk. The rules (docs/architecture.md section 2):

- an identical snapshot (same bytes) emits nothing (counted in ``duplicate_snapshots``);
- a snapshot older, by ``metaData.timeStamp``, than the newest seen emits nothing and is
  counted in ``stale_snapshots``;
- otherwise every event whose content differs from what was last emitted under its
  ``event_id`` is emitted, in game order: first time with ``revision`` 0, then +1 per
  change; an emitted event that is no longer in the feed is retracted (a
  :class:`~flows.game.events.Retraction`), and if it comes back it is emitted again with the
  next revision. An unchanged event is never emitted again, so a gap (many missed
  pitches) simply emits all the missed events and the final event set does not depend on
  the polling cadence;
- plays are emitted only once complete (``about.isComplete``); pitches, runner
  movements and actions as they appear. A placeholder play ("Batter Timeout.") replaced
  at the same index is diffed like any other change.

State (:class:`GameState`) is compact: per play a 16-byte hash of its raw JSON plus, per
event id, an 8-byte content hash and the revision, never the feed itself. Only plays
whose raw bytes (or whose inherited pitcher) changed are decoded, so a snapshot costs
about one scan of the JSON. ``step`` updates the state it is given in place and returns
it.

Releasing state: ``GameState.final_ts`` is the first ``metaData.timeStamp`` at which the
game was ``Final``. :func:`flow_step` (the Bytewax mapper) is :func:`step` under the rule
and tick prologue of :mod:`flows.game.release`: it returns ``None`` as the state, which
makes Bytewax drop it, once a snapshot (judged at the newest ``metaData.timeStamp``) or a
:class:`~flows.game.release.Tick` arrives a grace period after ``final_ts``. A snapshot
arriving after release starts over at revision 0, which sinks absorb because they upsert
by identity with the newest ``source_ts`` winning.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
import orjson

from flows.game.envelope import SnapshotEnvelope
from flows.game.events import Event, GameEvent, Retraction
from flows.game.feed import FeedHead, Play, decode_head, decode_play, raw_digest
from flows.game.play_events import derive_play_events, end_pitcher
from flows.game.release import releasing
from flows.game.status import is_final

__all__ = [
    "GameState",
    "PlayState",
    "SnapshotError",
    "flow_step",
    "newest_ts_of",
    "step",
]

Snapshot = bytes | dict[str, Any] | SnapshotEnvelope

_ENCODER = msgspec.json.Encoder()


class SnapshotError(ValueError):
    """A snapshot the engine cannot use (not a feed, or another game's)."""


class PlayState(msgspec.Struct, array_like=True):
    """What the engine remembers of one entry of ``allPlays``."""

    raw_hash: bytes = b""  # b"": the play is gone from the feed
    pitcher_before: int | None = None
    half: str = ""
    end_pitcher: int | None = None
    events: dict[str, tuple[bytes, int]] = {}


class GameState(msgspec.Struct):
    """Per-game state of :func:`step` (picklable; sizes in the module docstring)."""

    game_pk: int
    newest_ts: str = ""
    snapshot_hash: bytes = b""
    snapshots: int = 0
    duplicate_snapshots: int = 0
    stale_snapshots: int = 0
    final_ts: str | None = None
    status: tuple[bytes, int] | None = None
    plays: list[PlayState] = []


def _digest(data: bytes | msgspec.Raw, size: int) -> bytes:
    return hashlib.blake2b(data, digest_size=size).digest()


def _content_hash(event: Event) -> bytes:
    return _digest(_ENCODER.encode(event), 8)


def _body(snapshot: Snapshot) -> bytes:
    if isinstance(snapshot, SnapshotEnvelope):
        return snapshot.payload_json()
    if isinstance(snapshot, dict):
        return orjson.dumps(snapshot)
    return snapshot


def _upsert(
    records: dict[str, tuple[bytes, int]], event: Event, source_ts: str, out: list[Event]
) -> None:
    digest = _content_hash(event)
    known = records.get(event.event_id)
    if known is None:
        revision = 0
    elif known[0] == digest:
        return
    else:
        revision = known[1] + 1
    records[event.event_id] = (digest, revision)
    out.append(msgspec.structs.replace(event, revision=revision, source_ts=source_ts))


def _retract_missing(
    records: dict[str, tuple[bytes, int]],
    keep: set[str],
    game_pk: int,
    source_ts: str,
    out: list[Event],
) -> None:
    for event_id, (digest, revision) in records.items():
        if digest and event_id not in keep:
            records[event_id] = (b"", revision + 1)
            out.append(
                Retraction(
                    event_id=event_id,
                    revision=revision + 1,
                    source_ts=source_ts,
                    gamePk=game_pk,
                    retracted_kind=event_id.split(":", 1)[0],
                )
            )


def _status_event(head: FeedHead) -> GameEvent:
    status = head.gameData.status
    return GameEvent(
        event_id=f"game:{head.gamePk}:status",
        gamePk=head.gamePk,
        action="status",
        description=status.detailedState,
        abstractGameState=status.abstractGameState,
        detailedState=status.detailedState,
        codedGameState=status.codedGameState,
        homeTeamId=head.gameData.teams.home.id,
        awayTeamId=head.gameData.teams.away.id,
    )


def _emit_status(state: GameState, head: FeedHead, out: list[Event]) -> None:
    records = {} if state.status is None else {f"game:{head.gamePk}:status": state.status}
    _upsert(records, _status_event(head), head.metaData.timeStamp, out)
    state.status = next(iter(records.values()))


def _decode_changed(state: GameState, head: FeedHead) -> tuple[list[bytes], dict[int, Play]]:
    """Decode every play whose raw bytes changed, before the state is touched.

    A play that does not decode raises ``SnapshotError`` here, so a refused snapshot
    leaves the state exactly as it was (nothing half-applied, no event lost). Plays with
    unchanged bytes decoded before, so they cannot fail later.
    """
    hashes = [raw_digest(raw) for raw in head.liveData.plays.allPlays]
    decoded: dict[int, Play] = {}
    for position, raw in enumerate(head.liveData.plays.allPlays):
        known = position < len(state.plays) and state.plays[position].raw_hash == hashes[position]
        if not known:
            try:
                decoded[position] = decode_play(raw)
            except msgspec.MsgspecError as e:
                raise SnapshotError(f"allPlays[{position}] of game {head.gamePk}: {e}") from e
    return hashes, decoded


def _diff_plays(
    state: GameState,
    head: FeedHead,
    hashes: list[bytes],
    decoded: dict[int, Play],
    out: list[Event],
) -> None:
    game_pk, ts = head.gamePk, head.metaData.timeStamp
    last_pitcher: dict[str, int | None] = {}
    raws = head.liveData.plays.allPlays
    for position, raw in enumerate(raws):
        raw_hash = hashes[position]
        if position == len(state.plays):
            state.plays.append(PlayState(events={}))
        kept = state.plays[position]
        if kept.raw_hash == raw_hash:
            before = last_pitcher.get(kept.half)
            if kept.pitcher_before == before:
                last_pitcher[kept.half] = kept.end_pitcher
                continue
        play = decoded[position] if position in decoded else decode_play(raw)
        half = play.about.halfInning
        before = last_pitcher.get(half)
        events = derive_play_events(game_pk, play, before)
        for event in events:
            _upsert(kept.events, event, ts, out)
        _retract_missing(kept.events, {e.event_id for e in events}, game_pk, ts, out)
        kept.raw_hash, kept.pitcher_before, kept.half = raw_hash, before, half
        kept.end_pitcher = end_pitcher(play)
        last_pitcher[half] = kept.end_pitcher
    for kept in state.plays[len(raws) :]:
        if kept.raw_hash:
            _retract_missing(kept.events, set(), game_pk, ts, out)
            kept.raw_hash = b""


def step(
    state: GameState | None, snapshot: Snapshot, head: FeedHead | None = None
) -> tuple[GameState, list[Event]]:
    """Diff one snapshot against the state; see the module docstring for the rules.
    ``head``: the snapshot's head if already decoded (``flows.game.validate`` scans it)."""
    body = _body(snapshot)
    if head is None:
        try:
            head = decode_head(body)
        except msgspec.MsgspecError as e:
            raise SnapshotError(f"not a feed/live response: {e}") from e
    if state is None:
        state = GameState(game_pk=head.gamePk, plays=[])
    elif head.gamePk != state.game_pk:
        raise SnapshotError(f"snapshot of game {head.gamePk} sent to game {state.game_pk}")
    ts = head.metaData.timeStamp
    if ts < state.newest_ts:
        state.stale_snapshots += 1
        return state, []
    snapshot_hash = raw_digest(body)
    if snapshot_hash == state.snapshot_hash:
        state.duplicate_snapshots += 1
        return state, []
    hashes, decoded = _decode_changed(state, head)  # may refuse it: nothing changed yet
    state.snapshots += 1
    state.snapshot_hash, state.newest_ts = snapshot_hash, ts
    out: list[Event] = []
    final = is_final(head.gameData.status.abstractGameState)
    if not final:
        _emit_status(state, head, out)
    _diff_plays(state, head, hashes, decoded, out)
    if final:
        _emit_status(state, head, out)
        if state.final_ts is None:
            state.final_ts = ts
    return state, out


def newest_ts_of(state: GameState, _snapshot: object) -> str:
    """The time a diff state is judged at for release: its newest ``metaData.timeStamp``."""
    return state.newest_ts


flow_step = releasing(step, newest_ts_of)
"""The Bytewax ``stateful_flat_map`` mapper ``(state, snapshot | Tick, grace)``: :func:`step`,
releasing a game's state once it has been Final for ``grace`` (:mod:`flows.game.release`)."""
