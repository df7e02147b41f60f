"""pipeline: reader and dispatcher against the real simulator, driven directly."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson

from bulkupdate.capillary.auth import Auth
from bulkupdate.capillary.client import Client
from bulkupdate.engine.pipeline import Pipeline
from bulkupdate.rundir import Ledger
from bulkupdate.settings import Settings
from tests.helpers import CREDS, fast_settings, simulator


def make_input(tmp_path: Path, n: int) -> Ledger:
    lines = [orjson.dumps({"customer": {"id": 100_000 + i}, "partnerProgramUpdates": [
        {"partnerProgramName": "SPP_1", "updateType": "RENEW",
         "updateDetails": {"updatedTierName": "Plus"}}]}) for i in range(n)]
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    return Ledger.create(tmp_path / "run", source, {})


async def drive(ledger: Ledger, settings: Settings, **kw: Any) -> tuple[str, Pipeline]:
    async with Client(settings, Auth(CREDS)) as client:
        pipeline = Pipeline(settings, ledger, client, **kw)
        return await pipeline.run(), pipeline


async def test_every_record_is_written_once_in_ledger_order(tmp_path: Path) -> None:
    ledger = make_input(tmp_path, 230)
    written: list[dict[str, Any]] = []
    with simulator() as sim:
        state, pipeline = await drive(ledger, fast_settings(sim.base_url, batch_size=20),
                                      on_written=written.extend)
        requests = sim.stats()["requests"]
    assert state == "finished" and pipeline.input_records == 230
    assert sorted(r["line"] for r in written) == list(range(1, 231))
    on_disk = (tmp_path / "run" / "results.jsonl").read_bytes().splitlines()
    assert [orjson.loads(x)["line"] for x in on_disk] == [r["line"] for r in written]
    assert pipeline.stats.requests == requests == 12


async def test_a_stop_before_the_first_request_sends_nothing(tmp_path: Path) -> None:
    ledger = make_input(tmp_path, 50)
    with simulator() as sim:
        settings = fast_settings(sim.base_url)
        async with Client(settings, Auth(CREDS)) as client:
            pipeline = Pipeline(settings, ledger, client)
            pipeline.stop()
            assert await pipeline.run() == "interrupted"
        assert sim.stats()["requests"] == 0


async def test_a_cancelled_run_leaves_no_request_behind(tmp_path: Path) -> None:
    ledger = make_input(tmp_path, 400)
    # Answers take 5 s: however late a busy machine lets this test cancel, none
    # can have come back first (and cancelling waits for none of them).
    with simulator(latency_ms=5000) as sim:
        task = asyncio.create_task(drive(ledger, fast_settings(sim.base_url, batch_size=10)))
        sent = tmp_path / "run" / "sent.jsonl"
        for _ in range(1000):   # until the first request has left
            if sent.exists() and sent.stat().st_size:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert others == [] and task.cancelled()
    # Abandoned, not awaited: the answers never came back into the ledger.
    assert (tmp_path / "run" / "results.jsonl").read_bytes() == b""


async def test_held_records_have_their_own_bound_and_the_reader_waits_at_it(
        tmp_path: Path) -> None:
    """Every request is dropped (fate unknown): each record is final after one
    attempt, its customer held for ``settle``. Held records do not count in the
    window, but their own bound stops the reader: pending never exceeds both."""
    ledger = make_input(tmp_path, 60)
    seen: list[tuple[int, int, int]] = []
    with simulator(p_drop=1.0) as sim:
        settings = fast_settings(sim.base_url, batch_size=5, window=5, settle=0.2,
                                 timeout=0.2, max_attempts=1, concurrency=2)
        async with Client(settings, Auth(CREDS)) as client:
            pipeline = Pipeline(settings, ledger, client, held=10)

            async def sample() -> None:
                while True:
                    now = pipeline.snapshot()
                    seen.append((now.pending, now.active, now.held_records))
                    await asyncio.sleep(0.001)

            sampler = asyncio.create_task(sample())
            state = await pipeline.run()
            sampler.cancel()
    got = [orjson.loads(x) for x in (tmp_path / "run" / "results.jsonl").read_bytes()
           .splitlines()]
    assert state == "finished"
    assert sorted(r["line"] for r in got) == list(range(1, 61))
    assert {(r["outcome"], r["uncertain"]) for r in got} == {("retryable", True)}
    assert max(p for p, _, _ in seen) <= 5 + 10
    assert max(a for _, a, _ in seen) <= 5 and max(h for _, _, h in seen) <= 10
    assert max(h for _, _, h in seen) == 10      # the held bound was reached
    last = pipeline.snapshot()
    assert last.active == 0 and last.held_records <= 10   # the last ones settling
