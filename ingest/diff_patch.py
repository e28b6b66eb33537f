"""Differential updates of a game feed: apply ``diffPatch`` answers, skip repeats (pure).

``feed/live/diffPatch`` answers either ``[{"diff": [RFC 6902 operations]}, ...]`` (applied
in order to the last full snapshot) or, when it cannot diff the range, the full feed. A
patched feed is only trusted when its ``metaData.timeStamp`` equals the requested end
timecode and its ``gamePk`` is the game's; on any failure the caller fetches the full feed.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from typing import Any

import jsonpatch
import jsonpointer
import orjson

from flows.game.envelope import feed_timestamp_of

JSON = dict[str, Any]


class PatchRejectedError(ValueError):
    """A diffPatch answer that cannot be trusted; the message says why."""


def game_pk_of(feed: JSON) -> int | None:
    pk = feed.get("gamePk")
    if isinstance(pk, int):
        return pk
    game = (
        feed.get("gameData", {}).get("game", {}) if isinstance(feed.get("gameData"), dict) else {}
    )
    inner = game.get("pk") if isinstance(game, dict) else None
    return inner if isinstance(inner, int) else None


def apply_diff_patch(base: JSON, answer: Any, *, game_pk: int, end_timecode: str) -> JSON:
    """The feed at ``end_timecode``: ``base`` patched by ``answer``, or ``answer`` itself when
    it is a full feed. Raises ``PatchRejectedError`` when the result does not check out.
    ``base`` is not modified."""
    if isinstance(answer, dict):
        result = answer
    elif isinstance(answer, list):
        result = copy.deepcopy(base)
        for n, part in enumerate(answer):
            ops = part.get("diff") if isinstance(part, dict) else None
            if not isinstance(ops, list):
                raise PatchRejectedError(f"part {n} has no diff list")
            try:
                result = jsonpatch.apply_patch(result, ops, in_place=True)
            except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
                raise PatchRejectedError(f"part {n} does not apply: {e}") from e
            except (TypeError, KeyError, IndexError, ValueError) as e:
                raise PatchRejectedError(f"part {n} is malformed: {e!r}") from e
        if not isinstance(result, dict):
            raise PatchRejectedError("patched document is not an object")
    else:
        raise PatchRejectedError(f"answer is a {type(answer).__name__}")
    stamp = feed_timestamp_of(result)
    if stamp != end_timecode:
        raise PatchRejectedError(f"timeStamp {stamp} != endTimecode {end_timecode}")
    if game_pk_of(result) != game_pk:
        raise PatchRejectedError(f"gamePk {game_pk_of(result)} != {game_pk}")
    return result


def content_digest(body: bytes) -> str:
    """Digest of a feed's JSON text as served (whitespace and key order included)."""
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def canonical_body(feed: JSON) -> bytes:
    """A feed as JSON bytes, keys sorted, so equal content gives equal bytes."""
    return orjson.dumps(feed, option=orjson.OPT_SORT_KEYS)


@dataclass
class SeenSnapshots:
    """Per game, the (timeStamp, content digest) pairs already published."""

    seen: dict[int, set[tuple[str | None, str]]] = field(default_factory=dict)

    def is_new(self, game_pk: int, timestamp: str | None, digest: str) -> bool:
        return (timestamp, digest) not in self.seen.get(game_pk, set())

    def add(self, game_pk: int, timestamp: str | None, digest: str) -> None:
        self.seen.setdefault(game_pk, set()).add((timestamp, digest))

    def forget(self, game_pk: int) -> None:
        self.seen.pop(game_pk, None)
