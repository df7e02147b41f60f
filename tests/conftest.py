"""Fixtures and pytest hooks only; what the tests share lives in tests/helpers.py."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bulkupdate.simulator import RunningSim
from tests.helpers import NoPostgres, PostgresServer, postgres_server, simulator


@pytest.fixture
def sim() -> Iterator[RunningSim]:
    with simulator() as running:
        yield running


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL per test session (per xdist worker). Skipped, saying
    why, when its binaries are missing — but under CI that is a failure."""
    try:
        with postgres_server() as server:
            yield server
    except NoPostgres as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and PostgreSQL is required: {exc}")
        pytest.skip(str(exc))
