"""A local stand-in for Capillary's customerPartnerProgramUpdate API.

Deterministic from a seed, formula-based (millions of customers cost nothing),
with dials for latency, rate limits and faults. See ``server`` for the routes and
``world`` for the rules it answers with.

It keeps its own rules, paths and codes on purpose and takes none of them from
the client (``bulkupdate.api`` and friends): it stands in for the server, so a
misreading of the API on either side shows up as a disagreement in tests
instead of being shared by both.
"""

from .cli import add_simulate_arguments, config_from_args, simulate_main
from .config import SimConfig
from .sample import generate_sample, write_sample
from .server import RunningSim, make_app, serve
from .thread import simulator_thread
from .world import World

__all__ = [
    "RunningSim",
    "SimConfig",
    "World",
    "add_simulate_arguments",
    "config_from_args",
    "generate_sample",
    "make_app",
    "serve",
    "simulate_main",
    "simulator_thread",
    "write_sample",
]
