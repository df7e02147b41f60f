"""A night with a state store, around the send pass: the store opened and brought
up to date with every run's ledger (``replay_all``), the run registered (the
lease: two runs of one scope never at once), the plan made and held to its
guards before the run directory becomes a run, and, once a session ends, its
results applied and the lease given back. I/O at the edges: the runner calls
these; the decisions are :mod:`.tally`'s and the store's."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..settings import Settings
from .files import write_plan
from .marks import Marks
from .scan import plan_pass
from .tally import Tally, describe, refusal

OnPlan = Callable[[list[str]], Any]


class PlanRefused(UsageError):
    """``--max-changes``/``--max-missing``: the night stopped before anything was
    sent (exit 2), and no run directory was left to resume."""


def open_store_for(settings: Settings) -> Any:
    """The store of ``settings`` (None without ``--state``), caught up with the
    ledgers of every run it knows (a night killed before it confirmed)."""
    if not settings.state:
        return None
    from ..state import open_store as open_

    store = open_(settings.state, scope=settings.scope)
    try:
        store.replay_all()
    except BaseException:
        store.close()
        raise
    return store


def make_plan(store: Any, settings: Settings, path: Path, api: str, *,
              lines_hint: int | None, out: Path | None = None,
              now: datetime | None = None) -> Tally:
    """The plan pass (no run registered): ``bulkupdate plan``, and a run's first step."""
    return plan_pass(path, api, store, now=now or datetime.now(UTC),
                     refresh_after_days=settings.refresh_after, full=settings.full,
                     lines_hint=lines_hint, out=out)


async def plan_night(store: Any, settings: Settings, path: Path, api: str, *, run_id: str,
                     run_dir: Path, lines_hint: int | None,
                     on_plan: OnPlan | None) -> Marks:
    """Register the run, make its plan in ``run_dir``, say it, hold it to the
    guards: :class:`PlanRefused` (and the run given back) when it must not start."""
    await asyncio.to_thread(store.begin_run, run_id, run_dir, api)
    try:
        tally = await asyncio.to_thread(make_plan, store, settings, path, api,
                                        lines_hint=lines_hint, out=run_dir)
        write_plan(run_dir, tally.to_dict())
        if on_plan is not None:
            on_plan(describe(tally, settings.rate, settings.batch_size))
        why = refusal(tally, settings.max_changes, settings.max_missing)
        if why is not None:
            raise PlanRefused(why)
    except BaseException:
        store.end_run(run_id)
        raise
    return Marks(store, run_id, api, run_dir)


async def resume_night(store: Any, run_id: str, run_dir: Path, api: str) -> Marks:
    """A resumed run takes the lease again and continues under its own plan."""
    await asyncio.to_thread(store.begin_run, run_id, run_dir, api)
    return Marks(store, run_id, api, run_dir)


async def end_night(marks: Marks | None) -> None:
    """After a session: what the ledger holds applied, the lease given back."""
    if marks is None:
        return
    try:
        await marks.confirm_async()
    finally:
        await asyncio.to_thread(marks.store.end_run, marks.run_id)
