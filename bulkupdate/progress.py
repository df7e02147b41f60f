"""The progress bar: tqdm on stderr, shown when stderr is a terminal (or asked for)."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm


def progress_bar(total: int | None, enabled: bool | None, *, initial: int = 0) -> Any:
    show = sys.stderr.isatty() if enabled is None else enabled
    return tqdm(total=total, initial=initial, disable=not show, unit=" records",
                unit_scale=True, dynamic_ncols=True, smoothing=0.1, file=sys.stderr,
                desc="results")
