"""The pure game logic the dataflows run: feed model, engine (snapshot diff), events, validation,
box score. No I/O: nothing here imports a server client (tests/unit/test_layout.py)."""
