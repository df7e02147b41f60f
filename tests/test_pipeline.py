"""pipeline: reader and dispatcher against the real simulator, driven directly."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson

from bulkupdate.auth import Auth
from bulkupdate.pipeline import Pipeline
from bulkupdate.rundir import Ledger
from bulkupdate.send import Client
from bulkupdate.settings import Settings
from tests.conftest import CREDS, fast_settings, simulator


def make_input(tmp_path: Path, n: int) -> Ledger:
    lines = [orjson.dumps({"customer": {"id": 100_000 + i}, "partnerProgramUpdates": [
        {"partnerProgramName": "SPP_1", "updateType": "RENEW",
         "updateDetails": {"updatedTierName": "Plus"}}]}) for i in range(n)]
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    return Ledger.create(tmp_path / "run", source, {})


async def drive(ledger: Ledger, settings: Settings, **kw: Any) -> tuple[str, Pipeline]:
    async with Client(settings, Auth(CREDS, settings.base_url)) as client:
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
        async with Client(settings, Auth(CREDS, settings.base_url)) as client:
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
