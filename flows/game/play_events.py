"""Derive the events of one decoded play, pure (the stateless half of the snapshot diff).

Pitcher attribution: MLB's ``matchup.pitcher`` is the pitcher at the *end* of a plate
appearance. A pitching change in the middle of one is an ``action`` play event
(``pitching_substitution``, or any substitution at position ``1``) whose ``player`` is
the new pitcher; nothing names the pitcher he replaced. So each play event is attributed
by walking the play in order, starting from the pitcher who ended the previous play of
the same half (``pitcher_before``, kept by the engine) and switching at each pitching
substitution. The batter's result is charged to ``matchup.pitcher`` except for a walk
after a change at 2-0, 2-1, 3-0, 3-1 or 3-2, which Official Baseball Rule 9.16(h)
charges to the previous pitcher.
"""

from __future__ import annotations

from flows.game.events import Count, Event, GameEvent, PitchEvent, PlayEvent, RunnerEvent
from flows.game.feed import Play, RawPlayEvent, ReviewDetails, Runner
from flows.game.stat_fields import WALKS

__all__ = ["derive_play_events", "end_pitcher"]

_BALL_HEAVY_COUNTS = {(2, 0), (2, 1), (3, 0), (3, 1), (3, 2)}


def _is_pitcher_change(event: RawPlayEvent) -> bool:
    if event.type != "action" or event.player is None:
        return False
    if event.details.eventType == "pitching_substitution":
        return True
    return event.isSubstitution and event.position is not None and event.position.code == "1"


def end_pitcher(play: Play) -> int | None:
    """The pitcher on the mound when the play's last event happened."""
    if play.matchup.pitcher is not None:
        return play.matchup.pitcher.id
    for event in reversed(play.playEvents):
        if _is_pitcher_change(event) and event.player is not None:
            return event.player.id
    return None


def _count(event: RawPlayEvent) -> Count:
    return Count(event.count.balls, event.count.strikes, event.count.outs)


def derive_play_events(game_pk: int, play: Play, pitcher_before: int | None) -> list[Event]:
    """Every event of ``play`` in game order, with revision 0 and no ``source_ts``.

    Pitch and action events come in ``playEvents`` index order, each followed by the
    runner movements MLB ties to it; then runner movements tied to no listed event, the
    play's result (once complete) and its replay review (if any).
    """
    batter = play.matchup.batter.id if play.matchup.batter is not None else None
    final_pitcher = end_pitcher(play)
    on_mound, pitcher_at, charged = _pitchers(play, pitcher_before, final_pitcher)
    per_event = _play_event_events(game_pk, play, on_mound, batter)
    trailing: list[Event] = []
    for moved in _runner_events(game_pk, play, pitcher_at, final_pitcher):
        index = moved.playEventIndex
        if index is not None and index in per_event:
            per_event[index].append(moved)
        else:
            trailing.append(moved)
    events: list[Event] = [e for index in sorted(per_event) for e in per_event[index]]
    events.extend(trailing)
    if play.about.isComplete:
        events.append(_play_result(game_pk, play, batter, charged))
    if play.reviewDetails is not None:
        events.append(_review(game_pk, play, play.reviewDetails))
    return events


def _pitchers(
    play: Play, pitcher_before: int | None, final_pitcher: int | None
) -> tuple[list[int | None], dict[int, int | None], int | None]:
    """The pitcher on the mound at each of ``play.playEvents``, in order and by index (the
    last of a repeated index), and the one charged with the batter's result (see the
    module docstring)."""
    current = pitcher_before
    if pitcher_before is None and not any(_is_pitcher_change(e) for e in play.playEvents):
        current = final_pitcher
    charged = final_pitcher
    walk = play.result.eventType in WALKS
    on_mound: list[int | None] = []
    pitcher_at: dict[int, int | None] = {}
    previous: RawPlayEvent | None = None
    pitched = False
    for raw in play.playEvents:
        if _is_pitcher_change(raw) and raw.player is not None:
            if pitched:
                ball_heavy = (
                    previous is not None
                    and (previous.count.balls, previous.count.strikes) in _BALL_HEAVY_COUNTS
                )
                charged = current if walk and ball_heavy else final_pitcher
            current = raw.player.id
        if raw.type != "action":
            pitched = pitched or raw.isPitch
        on_mound.append(current)
        pitcher_at[raw.index] = current
        previous = raw
    return on_mound, pitcher_at, charged


def _play_event_events(
    game_pk: int, play: Play, on_mound: list[int | None], batter: int | None
) -> dict[int, list[Event]]:
    """The pitch or action event of each play event, by ``playEventIndex``."""
    per_event: dict[int, list[Event]] = {}
    before: Count | None = None  # the count after the previous play event
    for raw, pitcher in zip(play.playEvents, on_mound, strict=True):
        after = _count(raw)
        out: Event
        if raw.type == "action":
            out = _action(game_pk, play, raw)
        else:
            start = Count(0, 0, after.outs) if before is None else before
            out = _pitch(game_pk, play, raw, start, after, pitcher, batter)
        per_event.setdefault(raw.index, []).append(out)
        before = after
    return per_event


def _action(game_pk: int, play: Play, raw: RawPlayEvent) -> GameEvent:
    """A substitution, mound visit or other ``action`` play event."""
    about = play.about
    return GameEvent(
        event_id=f"game:{game_pk}:{about.atBatIndex}:{raw.index}",
        gamePk=game_pk,
        action=raw.details.eventType or "action",
        atBatIndex=about.atBatIndex,
        playEventIndex=raw.index,
        inning=about.inning,
        halfInning=about.halfInning,
        description=raw.details.description,
        playerId=raw.player.id if raw.player is not None else None,
        replacedPlayerId=raw.replacedPlayer.id if raw.replacedPlayer is not None else None,
        position=raw.position.code if raw.position is not None else None,
        battingOrder=raw.battingOrder,
        isSubstitution=raw.isSubstitution,
    )


def _pitch(
    game_pk: int,
    play: Play,
    raw: RawPlayEvent,
    before: Count,
    after: Count,
    pitcher: int | None,
    batter: int | None,
) -> PitchEvent:
    """A pitch, pickoff, step-off or no-pitch, thrown by ``pitcher``."""
    about, details = play.about, raw.details
    return PitchEvent(
        event_id=f"pitch:{game_pk}:{about.atBatIndex}:{raw.index}",
        gamePk=game_pk,
        atBatIndex=about.atBatIndex,
        playEventIndex=raw.index,
        playId=raw.playId,
        type=raw.type,
        isPitch=raw.isPitch,
        pitchNumber=raw.pitchNumber,
        inning=about.inning,
        halfInning=about.halfInning,
        code=details.call.code if details.call is not None else details.code,
        description=details.description,
        isStrike=details.isStrike,
        isBall=details.isBall,
        isInPlay=details.isInPlay,
        isOut=details.isOut,
        countBefore=before,
        countAfter=after,
        pitcherId=pitcher,
        batterId=batter,
        pitchType=details.type.code if details.type is not None else None,
        pitchData=raw.pitchData,
        hitData=raw.hitData,
        startTime=raw.startTime,
        endTime=raw.endTime,
    )


def _runner_events(
    game_pk: int, play: Play, pitcher_at: dict[int, int | None], final_pitcher: int | None
) -> list[RunnerEvent]:
    """The play's runner movements in MLB's order; a repeated identity gets ``:n``."""
    seen: dict[tuple[int | None, int, str], int] = {}
    out: list[RunnerEvent] = []
    for runner in play.runners:
        info = runner.details
        key = (info.playIndex, info.runner.id, runner.movement.start or "B")
        seen[key] = seen.get(key, 0) + 1
        pitcher = (
            pitcher_at.get(info.playIndex, final_pitcher)
            if info.playIndex is not None
            else final_pitcher
        )
        out.append(_runner(game_pk, play, runner, seen[key], pitcher))
    return out


def _runner(
    game_pk: int, play: Play, runner: Runner, occurrence: int, pitcher: int | None
) -> RunnerEvent:
    """One runner movement; ``occurrence`` counts earlier entries of the same identity."""
    about, info, movement = play.about, runner.details, runner.movement
    ab = about.atBatIndex
    index = "" if info.playIndex is None else str(info.playIndex)
    start = movement.start or "B"
    suffix = "" if occurrence == 1 else f":{occurrence}"
    return RunnerEvent(
        event_id=f"runner:{game_pk}:{ab}:{index}:{info.runner.id}:{start}{suffix}",
        gamePk=game_pk,
        atBatIndex=ab,
        playEventIndex=info.playIndex,
        runnerId=info.runner.id,
        startBase=movement.start,
        endBase=movement.end,
        outBase=movement.outBase,
        isOut=bool(movement.isOut),
        outNumber=movement.outNumber,
        isScoringEvent=info.isScoringEvent,
        rbi=info.rbi,
        earned=info.earned,
        teamUnearned=info.teamUnearned,
        responsiblePitcherId=(
            info.responsiblePitcher.id if info.responsiblePitcher is not None else None
        ),
        pitcherId=pitcher,
        inning=about.inning,
        halfInning=about.halfInning,
        eventType=info.eventType,
        event=info.event,
        movementReason=info.movementReason,
        errorFielderIds=[
            c.player.id for c in runner.credits if "error" in c.credit and c.player is not None
        ],
    )


def _play_result(game_pk: int, play: Play, batter: int | None, charged: int | None) -> PlayEvent:
    """The completed plate appearance, charged to the pitcher ``charged``."""
    about, result = play.about, play.result
    return PlayEvent(
        event_id=f"play:{game_pk}:{about.atBatIndex}",
        gamePk=game_pk,
        atBatIndex=about.atBatIndex,
        inning=about.inning,
        halfInning=about.halfInning,
        eventType=result.eventType,
        event=result.event,
        description=result.description,
        rbi=result.rbi,
        isOut=result.isOut,
        outs=play.count.outs,
        awayScore=result.awayScore,
        homeScore=result.homeScore,
        batterId=batter,
        pitcherId=charged,
        isScoringPlay=about.isScoringPlay,
        hasReview=about.hasReview,
        startTime=about.startTime,
        endTime=about.endTime,
    )


def _review(game_pk: int, play: Play, review: ReviewDetails) -> GameEvent:
    """The replay review of ``play``."""
    about = play.about
    return GameEvent(
        event_id=f"game:{game_pk}:{about.atBatIndex}:review",
        gamePk=game_pk,
        action="review",
        atBatIndex=about.atBatIndex,
        inning=about.inning,
        halfInning=about.halfInning,
        review={
            "isOverturned": review.isOverturned,
            "inProgress": review.inProgress,
            "reviewType": review.reviewType,
            "challengeTeamId": review.challengeTeamId,
        },
    )
