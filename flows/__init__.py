"""Dataflows (``build_flow`` factories); the pure logic they run is in ``flows.game`` and
``flows.stats``."""
