"""``mlbsts replay-server``: a real HTTP server replaying recorded MLB Stats API responses."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from sim.corpus import Corpus
    from sim.replay_server import FaultKind, FaultRule


def replay_server(
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="port on 127.0.0.1"),
    speed: float = typer.Option(1.0, "--speed", min=0.001, help="simulated seconds per second"),
    day: str | None = typer.Option(
        None, "--date", help="YYYY-MM-DD: start the clock just before that day's first game"
    ),
    start: str | None = typer.Option(None, "--start", help="ISO instant to start the clock at"),
    every: int = typer.Option(1, "--every", min=1, help="one simulated snapshot every N pitches"),
    fault_429: int = typer.Option(0, "--fault-429-every", min=0, help="a 429 burst every N"),
    fault_500: int = typer.Option(0, "--fault-500-every", min=0, help="a 500 burst every N"),
    fault_drop: int = typer.Option(0, "--fault-drop-every", min=0, help="a dropped connection"),
    fault_slow: int = typer.Option(0, "--fault-slow-every", min=0, help="a slow answer every N"),
    burst: int = typer.Option(1, "--fault-burst", min=1, help="faulty answers per burst"),
    slow_s: float = typer.Option(1.0, "--slow-seconds", min=0.0, help="delay of a slow answer"),
    retry_after: int = typer.Option(1, "--retry-after", min=0, help="Retry-After of a 429"),
    wait_for_client: bool = typer.Option(
        False, "--wait-for-client", help="start the clock on the first request about a game"
    ),
) -> None:
    """Serve recorded MLB responses at the Stats API's own paths on a simulated clock."""
    import logging

    from mlbsts.settings import get_settings
    from sim.corpus import Corpus
    from sim.replay_server import FaultPlan, ReplayClock, ReplayServer

    corpus = Corpus(get_settings().data_dir, every=every)
    begin = _clock_start(corpus, start, day)
    every_n: dict[FaultKind, int] = {
        "429": fault_429,
        "500": fault_500,
        "drop": fault_drop,
        "slow": fault_slow,
    }
    faults = FaultPlan(rules=_fault_rules(every_n, burst), slow_s=slow_s, retry_after_s=retry_after)
    server = ReplayServer(
        corpus, ReplayClock(begin, speed, paused=wait_for_client), port=port, faults=faults
    )
    logging.getLogger(__name__).info(
        "replaying %d recorded games at %s from %s at speed %s",
        len(corpus.game_pks),
        server.url,
        begin.isoformat(),
        speed,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def _clock_start(corpus: Corpus, start: str | None, day: str | None) -> datetime:
    """Where the simulated clock starts: ``--start``, else just before the first game of
    ``--date``, else the first pitch of the corpus."""
    from sim.replay_server import start_of_day

    if start is not None:
        return datetime.fromisoformat(start)
    if day is not None:
        return start_of_day(corpus, date.fromisoformat(day))
    return min(t.times[0] for pk in corpus.game_pks if (t := corpus.timeline(pk)))


def _fault_rules(every_n: dict[FaultKind, int], burst: int) -> list[FaultRule]:
    """One periodic rule per fault kind asked for (``every`` > 0)."""
    from sim.replay_server import FaultRule

    return [FaultRule(kind, n, burst) for kind, n in every_n.items() if n > 0]
