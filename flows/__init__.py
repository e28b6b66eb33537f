"""Dataflows (``build_flow`` factories) and the pure step logic they run."""
