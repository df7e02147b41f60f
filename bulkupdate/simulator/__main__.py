"""``python -m bulkupdate.simulator``: the same as ``bulkupdate simulate``."""

from .cli import simulate_main

raise SystemExit(simulate_main())
