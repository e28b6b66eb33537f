"""The public REST + streaming API and the live page (its own process; not built yet)."""
