"""``bulkupdate demo``: sample data, the simulator on a free loopback port (in a
thread of this process), a link step (a migration's first half: some of the
sample's unlinked customers linked with ``bulkupdate link``), a real run with a
progress bar, the report, and a few members leaving (``bulkupdate delink`` of
some of those just linked)."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from ..night.runner import adelink, alink, arun
from ..report import render
from ..rundir import default_run_dir
from ..settings import Credentials, Settings, parse_rate
from ..simulator import SimConfig, simulator_thread, write_sample
from ..simulator.world import PROGRAM_NAMES, PROGRAMS, World
from ..source.validate import Record, validate_link_line
from .process import run_as_owner


def demo(*, records: int, root: Path, rate: str, concurrency: int) -> int:
    root.mkdir(parents=True, exist_ok=True)
    # The server's limit sits below the client's --rate on purpose: the run shows
    # the throttle finding the server's pace by itself.
    sim = SimConfig(customers=max(10_000, records), latency_ms=20, jitter_ms=15, p_503=0.02,
                    p_drop=0.01, p_truncate=0.01, rate_limit=50, track=False)
    sample = root / "sample.jsonl"
    counts = write_sample(sample, sim, records)
    print(f"1. wrote {records} sample records to {sample}: "
          + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    with simulator_thread(sim) as server:
        url = server.base_url
        print(f"2. simulator on {url}: 20±15 ms latency, 2% 503s, 1% dropped connections, "
              "1% broken bodies, a limit of 50 requests/s")
        settings = Settings(base_url=url, rate=parse_rate(rate), concurrency=concurrency,
                            backoff_base=0.2, progress=True,
                            # The simulator's drops are not a gateway's: no need to
                            # hold a customer for the minute a real one may take.
                            timeout=5.0, settle=5.0,
                            credentials=Credentials(username=sim.username,
                                                    password=sim.password))
        _link_step(sample, root, sim, settings)
        run_dir = default_run_dir(sample, root / "runs")
        print(f"4. bulkupdate run {sample} --base-url {url} --rate {rate} "
              f"--concurrency {concurrency} --run-dir {run_dir}")
        sys.stdout.flush()
        result = run_as_owner(lambda control: arun(sample, settings, run_dir=run_dir,
                                                   control=control))
        leaving = _delink_step(root, settings)
    print(f"\n5. bulkupdate report {result.run_dir}\n")
    print(render(result.run_dir))
    print(f"exit code {result.exit_code}: "
          + {0: "every record ok", 1: "finished; some records are not ok (expected: the "
             "sample holds bad records on purpose)", 3: "aborted", 130: "interrupted"}
          .get(result.exit_code, ""))
    print(leaving)
    return 0 if result.exit_code in (0, 1) else result.exit_code


LINKED_IN_DEMO = 200   # enough to see the 2004s drop; the rest stay for report --unlinked


def _link_step(sample: Path, root: Path, sim: SimConfig, settings: Settings) -> None:
    """Link some of the sample's customers its updates would find unlinked (2004),
    as a migration does before its updates, and say what came of it in one line."""
    links = root / "links.jsonl"
    count = _write_links(sample, links, World(sim), LINKED_IN_DEMO)
    run_dir = default_run_dir(links, root / "runs")
    print(f"3. bulkupdate link {links} --run-dir {run_dir}   ({count} unlinked customers)")
    result = _quiet(alink, links, run_dir, settings)
    o = result.summary["outcomes"]
    print(f"   linked: {o.get('ok', 0)} ok, {o.get('rejected', 0)} rejected "
          f"(exit {result.exit_code}); their updates below no longer meet 2004 (the rest: "
          f"bulkupdate report RUN --unlinked)")


LEAVING_IN_DEMO = 10   # members who leave at the end of the story


def _delink_step(root: Path, settings: Settings) -> str:
    """A few of the members just linked leave: their programs delinked. What to
    print after the report (the story's end)."""
    leavers = root / "leavers.jsonl"
    with (root / "links.jsonl").open("rb") as links, leavers.open("wb") as out:
        for _, raw in zip(range(LEAVING_IN_DEMO), links, strict=False):
            link = orjson.loads(raw)
            out.write(orjson.dumps({"customer": link["customer"], "deLinkFromPartnerPrograms": [
                {"partnerProgramName": p["partnerProgramName"]}
                for p in link["linkToPartnerPrograms"]]}) + b"\n")
    run_dir = default_run_dir(leavers, root / "runs")
    result = _quiet(adelink, leavers, run_dir, settings)
    o = result.summary["outcomes"]
    return (f"\n6. bulkupdate delink {leavers} --run-dir {run_dir}   (members who leave)\n"
            f"   delinked: {o.get('ok', 0)} ok, {o.get('already', 0)} already, "
            f"{o.get('rejected', 0)} rejected (exit {result.exit_code})")


def _quiet(command: Any, path: Path, run_dir: Path, settings: Settings) -> Any:
    """A link or delink step of the story, run as the CLI runs it, without a bar of
    its own (one bar in the demo: the run's)."""
    quiet = replace(settings, progress=False)
    return run_as_owner(lambda control: command(path, quiet, run_dir=run_dir,
                                                control=control))


def _write_links(sample: Path, out: Path, world: World, limit: int) -> int:
    """Links the sample's updates need, that link validation accepts (the sample's
    bad dates stay the run's to report)."""
    written = 0
    now = datetime.now(UTC)
    with sample.open("rb") as src, out.open("wb") as dst:
        for raw in src:
            item = _link_item(raw, world)
            line = orjson.dumps(item) if item is not None else b""
            if line and isinstance(validate_link_line(0, line, now), Record):
                dst.write(line + b"\n")
                written += 1
                if written == limit:
                    break
    return written


def _link_item(raw: bytes, world: World) -> dict[str, Any] | None:
    """The link a sample line needs first: its first program the customer is not
    linked to, at the tier and expiry the update asks for."""
    try:
        data = orjson.loads(raw)
        i = world.locate(data["customer"])
        update = data["partnerProgramUpdates"][0]
        details = update["updateDetails"]
        name = update["partnerProgramName"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return None   # the sample's bad records stay the run's to report
    if i is None or name not in PROGRAM_NAMES or world.link(i, name)[0] is not None:
        return None
    tier, expiry = details.get("updatedTierName"), details.get("updatedTierExpiryDate")
    if tier not in PROGRAMS[name] or not isinstance(expiry, str):
        return None
    return {"customer": data["customer"], "linkToPartnerPrograms": [{
        "partnerProgramName": name, "customerPartnerReference": {
            "partnerMembershipId": f"DEMO-{i}", "partnerTierName": tier,
            "partnerTierExpiryDate": expiry}}]}
