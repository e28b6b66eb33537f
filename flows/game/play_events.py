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
from flows.game.feed import Play, RawPlayEvent

__all__ = ["derive_play_events", "end_pitcher"]

_BALL_HEAVY_COUNTS = {(2, 0), (2, 1), (3, 0), (3, 1), (3, 2)}
_WALKS = {"walk", "intent_walk"}


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
    """Every event of ``play`` in game order, with revision 0 and no ``source_ts``."""
    about = play.about
    ab = about.atBatIndex
    batter = play.matchup.batter.id if play.matchup.batter is not None else None
    final_pitcher = end_pitcher(play)
    has_change = any(_is_pitcher_change(e) for e in play.playEvents)
    current = pitcher_before if (pitcher_before is not None or has_change) else final_pitcher
    charged = final_pitcher
    pitcher_at: dict[int, int | None] = {}
    per_event: dict[int, list[Event]] = {}
    previous: RawPlayEvent | None = None
    pitched = False
    for raw in play.playEvents:
        if _is_pitcher_change(raw) and raw.player is not None:
            if (
                pitched
                and previous is not None
                and play.result.eventType in _WALKS
                and (previous.count.balls, previous.count.strikes) in _BALL_HEAVY_COUNTS
            ):
                charged = current
            elif pitched:
                charged = final_pitcher
            current = raw.player.id
        pitcher_at[raw.index] = current
        before = (
            Count(0, 0, raw.count.outs)
            if previous is None
            else Count(previous.count.balls, previous.count.strikes, previous.count.outs)
        )
        out: Event
        if raw.type == "action":
            out = GameEvent(
                event_id=f"game:{game_pk}:{ab}:{raw.index}",
                gamePk=game_pk,
                action=raw.details.eventType or "action",
                atBatIndex=ab,
                playEventIndex=raw.index,
                inning=about.inning,
                halfInning=about.halfInning,
                description=raw.details.description,
                playerId=raw.player.id if raw.player is not None else None,
                replacedPlayerId=(
                    raw.replacedPlayer.id if raw.replacedPlayer is not None else None
                ),
                position=raw.position.code if raw.position is not None else None,
                battingOrder=raw.battingOrder,
                isSubstitution=raw.isSubstitution,
            )
        else:
            pitched = pitched or raw.isPitch
            details = raw.details
            out = PitchEvent(
                event_id=f"pitch:{game_pk}:{ab}:{raw.index}",
                gamePk=game_pk,
                atBatIndex=ab,
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
                countAfter=_count(raw),
                pitcherId=current,
                batterId=batter,
                pitchType=details.type.code if details.type is not None else None,
                pitchData=raw.pitchData,
                hitData=raw.hitData,
                startTime=raw.startTime,
                endTime=raw.endTime,
            )
        per_event.setdefault(raw.index, []).append(out)
        previous = raw

    seen: dict[tuple[int | None, int, str], int] = {}
    trailing: list[Event] = []
    for runner in play.runners:
        info, movement = runner.details, runner.movement
        start = movement.start or "B"
        key = (info.playIndex, info.runner.id, start)
        seen[key] = seen.get(key, 0) + 1
        suffix = "" if seen[key] == 1 else f":{seen[key]}"
        index = "" if info.playIndex is None else str(info.playIndex)
        moved = RunnerEvent(
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
            pitcherId=pitcher_at.get(info.playIndex, final_pitcher)
            if info.playIndex is not None
            else final_pitcher,
            inning=about.inning,
            halfInning=about.halfInning,
            eventType=info.eventType,
            event=info.event,
            movementReason=info.movementReason,
            errorFielderIds=[
                c.player.id for c in runner.credits if "error" in c.credit and c.player is not None
            ],
        )
        if info.playIndex is not None and info.playIndex in per_event:
            per_event[info.playIndex].append(moved)
        else:
            trailing.append(moved)

    events: list[Event] = [e for index in sorted(per_event) for e in per_event[index]]
    events.extend(trailing)
    if about.isComplete:
        result = play.result
        events.append(
            PlayEvent(
                event_id=f"play:{game_pk}:{ab}",
                gamePk=game_pk,
                atBatIndex=ab,
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
        )
    if play.reviewDetails is not None:
        review = play.reviewDetails
        events.append(
            GameEvent(
                event_id=f"game:{game_pk}:{ab}:review",
                gamePk=game_pk,
                action="review",
                atBatIndex=ab,
                inning=about.inning,
                halfInning=about.halfInning,
                review={
                    "isOverturned": review.isOverturned,
                    "inProgress": review.inProgress,
                    "reviewType": review.reviewType,
                    "challengeTeamId": review.challengeTeamId,
                },
            )
        )
    return events
