"""Live statistics, pure: tiny aggregators and the per-game stateful steps that run them.

- :mod:`flows.stats.live_box`: the running box score of each game (``LiveStats``);
- :mod:`flows.stats.pitchers`: per-pitcher rolling velocity, pitch count and fatigue;
- :mod:`flows.stats.windows`: league-wide event-time tumbling windows (``WindowStats``);
- :mod:`flows.game.newest`: the newest item per key of a batch, for the sinks.

Each per-game step is released after Final by the rule of :mod:`flows.game.release`. No
I/O here: the Bytewax wiring is :mod:`flows.stats_flow`, the sinks live in ``connectors/``.
"""

from __future__ import annotations
