"""Fixtures and pytest hooks only; what the tests share lives in tests/helpers.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bulkupdate.simulator import RunningSim
from tests.helpers import simulator


@pytest.fixture
def sim() -> Iterator[RunningSim]:
    with simulator() as running:
        yield running
