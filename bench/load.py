"""The load of the end-to-end benchmark: snapshot streams and when to publish each one.

The corpus has a few games; beyond them, streams are load copies of real games under a
shifted gamePk (``+ COPY_PK_OFFSET * n``), which the report labels as such.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from connectors.envelope_serde import encode_envelope
from flows.game.envelope import make_envelope, parse_feed_timestamp
from sim.simulate import simulate

COPY_PK_OFFSET = 100_000_000

#: (gamePk, is_copy, snapshots)
Stream = tuple[int, bool, list[dict[str, Any]]]
#: (seconds after start, gamePk, feed timestamp, encoded envelope)
Planned = tuple[float, int, str, bytes]


def streams(feeds: list[Path], games: int) -> list[Stream]:
    """(gamePk, is_copy, snapshots) for ``games`` streams."""
    out = []
    for n in range(games):
        path = feeds[n % len(feeds)]
        feed = orjson.loads(path.read_bytes())
        copy = n >= len(feeds)
        pk = int(feed["gamePk"]) + (COPY_PK_OFFSET * (n // len(feeds)) if copy else 0)
        snaps = simulate(feed, 1)
        if copy:
            snaps = [orjson.loads(orjson.dumps(s)) for s in snaps]
            for s in snaps:
                s["gamePk"] = pk
                s["gameData"]["game"]["pk"] = pk
        out.append((pk, copy, snaps))
    return out


def schedule(streams: list[Stream], speed: float, duration_s: float) -> list[Planned]:
    """(seconds after start, gamePk, feed timestamp, encoded envelope), each game starting
    at its first pitch. Encoding (JSON, gzip, Avro) is done here, before the clock starts,
    so the publisher does not compete with the worker for the CPU."""
    plan = []
    for pk, _, snaps in streams:
        first = parse_feed_timestamp(snaps[0]["metaData"]["timeStamp"])
        for snap in snaps:
            stamp = snap["metaData"]["timeStamp"]
            at = (parse_feed_timestamp(stamp) - first).total_seconds() / speed
            if at > duration_s:
                break
            envelope = make_envelope(
                game_pk=pk,
                body=orjson.dumps(snap),
                source_url="bench",
                status_code=200,
                captured_at=datetime.now(UTC),
                feed=snap,
            )
            plan.append((at, pk, stamp, encode_envelope(envelope)))
    return sorted(plan, key=lambda p: p[0])


def copy_pk(pk: int, n: int, real: int) -> int:
    """The gamePk of stream ``n`` made from a real game ``pk`` when the corpus has ``real``
    games: ``pk`` itself for the first ``real`` streams, then shifted as :func:`streams` does."""
    return pk + (COPY_PK_OFFSET * (n // real) if n >= real else 0)


def relabelled(snap: dict[str, Any], pk: int) -> dict[str, Any]:
    """``snap`` as a load copy under gamePk ``pk``. Only the path to the changed fields is
    copied, so snapshots sharing sub-objects (``sim.simulate``) are left as they were."""
    game_data = snap["gameData"]
    game = {**game_data["game"], "pk": pk}
    return {**snap, "gamePk": pk, "gameData": {**game_data, "game": game}}
