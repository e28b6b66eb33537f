"""Sub-commands of ``mlbsts``: one module per area, heavy imports inside the commands."""
