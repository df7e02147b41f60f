"""``bulkupdate demo``: sample data, the simulator on a free loopback port (in a
thread of this process), a real run with a progress bar, and the report."""

from __future__ import annotations

import sys
from pathlib import Path

from ..report import render
from ..rundir import default_run_dir
from ..runner import arun
from ..settings import Credentials, Settings, parse_rate
from ..simulator import SimConfig, simulator_thread, write_sample
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
        run_dir = default_run_dir(sample, root / "runs")
        print(f"3. bulkupdate run {sample} --base-url {url} --rate {rate} "
              f"--concurrency {concurrency} --run-dir {run_dir}")
        sys.stdout.flush()
        result = run_as_owner(lambda control: arun(sample, settings, run_dir=run_dir,
                                                   control=control))
    print(f"\n4. bulkupdate report {result.run_dir}\n")
    print(render(result.run_dir))
    print(f"exit code {result.exit_code}: "
          + {0: "every record ok", 1: "finished; some records are not ok (expected: the "
             "sample holds bad records on purpose)", 3: "aborted", 130: "interrupted"}
          .get(result.exit_code, ""))
    return 0 if result.exit_code in (0, 1) else result.exit_code
