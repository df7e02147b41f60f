"""Building the world a config asks for: the formula world, or a JSON world file."""

from __future__ import annotations

from pathlib import Path

import orjson

from ..errors import BulkUpdateError
from .config import SimConfig
from .world import World


def load_world(config: SimConfig) -> World:
    """The formula world, or the one in ``config.world_file`` (format: world.TableDirectory)."""
    if config.world_from:
        from .rehearsal import world_from_input

        try:
            return World(config, world_from_input(Path(config.world_from)))
        except (OSError, BulkUpdateError) as exc:
            raise ValueError(f"--world-from {config.world_from}: {exc}") from exc
    if not config.world_file:
        return World(config)
    try:
        table = orjson.loads(Path(config.world_file).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ValueError(f"world file {config.world_file}: {exc}") from exc
    if not isinstance(table, dict):
        raise ValueError(f"world file {config.world_file}: expected a JSON object")
    return World(config, table)
