"""``python -m bench`` (``make bench``): run every benchmark, write ``bench/report.md``."""

from __future__ import annotations

import logging
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import e2e, engine, reprocess_bench
from mlbsts.settings import get_settings

REPORT = Path(__file__).parent / "report.md"
log = logging.getLogger("bench")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    feeds_dir = get_settings().data_dir / "mlb" / "feed_live"
    feeds = [feeds_dir / f"{pk}.json" for pk in (744914, 747175, 748534)]
    missing = [str(f) for f in feeds if not f.is_file()]
    if missing:
        log.error("shared MLB corpus missing (%s); set MLBSTS_DATA_DIR", ", ".join(missing))
        return 2
    sections = [
        "# MLB-STS benchmark report",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"Python {platform.python_version()}; ratios are measured within this run.",
        "",
    ]
    log.info("engine: %d games, every pitch ...", len(feeds))
    sections.append(engine.report(feeds))
    if "--engine-only" not in sys.argv:
        corpus = sorted(feeds_dir.glob("*.json"))
        for speed in (e2e.SPEED, 10.0):  # the load, then a third of it
            log.info("e2e: %d games at %.0fx on the local stack ...", e2e.GAMES, speed)
            sections.append(e2e.report(get_settings(), corpus, speed=speed))
        log.info("reprocess: mlbsts replay over %d games ...", reprocess_bench.GAMES)
        sections.append(reprocess_bench.report(get_settings(), corpus))
    REPORT.write_text("\n".join(sections))
    log.info("wrote %s", REPORT)
    sys.stdout.write(REPORT.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
