"""The progress bar: tqdm on stderr, counting final results."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm


def progress_bar(total: int | None, show: bool, *, initial: int = 0) -> Any:
    return tqdm(total=total, initial=initial, disable=not show, unit=" records",
                unit_scale=True, dynamic_ncols=True, smoothing=0.1, file=sys.stderr,
                desc="results")
