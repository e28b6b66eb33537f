"""The public REST + streaming API (``mlbsts api``): its own process, reading PostgreSQL and
Redis. Routes, keys, caching and the stream: docs/architecture.md section 3; where each part
lives: section 5. The live page comes later (mount it on :func:`api.app.create_app`'s app)."""
