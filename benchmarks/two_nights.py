"""Two nights with a state store (issue 21): night 1 sends a full export of N
customers and the store confirms them; night 2 sends the same export with 2 % of
the tiers changed, and should send only those.

    python benchmarks/two_nights.py             # 1,000,000 customers → its section of RESULTS.md
    python benchmarks/two_nights.py --customers 50000 --output benchmarks/out/two-nights.md

What it reports for night 2 (benchmarks/README.md, "Two nights"):

* requests sent against the bound ``ceil(changes / 50) x 1.05``;
* wall time (the process, everything included: plan pass, store, ledger) against
  the rate bound of its change set ``ceil(changes / 50) / rate`` + 30 s;
* peak RSS against 150 MB.

Night 1 runs at a rate that never binds; night 2 at ``--rate`` (default 100/s). Every
customer of the inputs is linked to Apparel-Partner in the simulator's world, so
night 1 confirms them all and night 2's only sends are the changes.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    BENCH,
    ID_BASE,
    INPUTS,
    OUT,
    RUNS,
    Measured,
    Simulator,
    client_command,
    client_env,
    fresh_dir,
    machine_info,
    run_measured,
    script_main,
)
from run import replace_section

from bulkupdate.simulator.config import SimConfig
from bulkupdate.simulator.world import World

PROGRAM = "Apparel-Partner"
TIERS = ("Bronze", "Silver", "Gold", "Platinum")
LINE = (b'{"customer":{"id":%d},"partnerProgramUpdates":[{"partnerProgramName":'
        b'"Apparel-Partner","updateType":"UPGRADE","updateDetails":{"updatedTierName":'
        b'"%s","updatedTierExpiryDate":"2099-12-31T23:59:59+05:30"}}]}\n')


def inputs(customers: int, changed_every: int) -> tuple[Path, Path, int, int]:
    """(night 1, night 2, changes, world size): ``customers`` linked customers, the
    tier each night 1 line sets, and night 2 with every ``changed_every``-th changed."""
    world_size = customers * 3 // 2 + 1000   # about 3 in 4 are linked
    world = World(SimConfig(customers=world_size))
    INPUTS.mkdir(parents=True, exist_ok=True)
    one = INPUTS / f"night1-{customers}.jsonl"
    two = INPUTS / f"night2-{customers}-{changed_every}.jsonl"
    changes = n = i = 0
    with one.open("wb", buffering=1 << 20) as a, two.open("wb", buffering=1 << 20) as b:
        while n < customers:
            if world.link(i, PROGRAM)[0] is not None:
                tier = TIERS[i % 4].encode()
                a.write(LINE % (ID_BASE + i, tier))
                if n % changed_every == 0:
                    tier = TIERS[(i + 1) % 4].encode()
                    changes += 1
                b.write(LINE % (ID_BASE + i, tier))
                n += 1
            i += 1
    if i > world_size:
        raise SystemExit(f"the world of {world_size} has fewer than {customers} linked")
    return one, two, changes, world_size


def night(name: str, path: Path, url: str, rate: str,
          state: Path) -> tuple[Measured, dict[str, Any]]:
    import orjson

    run_dir = fresh_dir(RUNS / name)
    command = client_command(path, url, rate=rate, concurrency=32, batch_size=50,
                             run_dir=run_dir, extra=("--state", str(state)))
    measured = run_measured(command, timeout=6 * 3600, env=client_env(), log_name=name)
    try:
        summary = orjson.loads((run_dir / "summary.json").read_bytes())
    except FileNotFoundError:
        summary = {}
    return measured, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--rate", default="100/s", help="night 2's --rate")
    parser.add_argument("--output", type=Path, default=BENCH / "RESULTS.md",
                        help="a file whose section '## Two nights with a state store' is "
                        "replaced (written when missing)")
    args = parser.parse_args(argv)
    one, two, changes, world_size = inputs(args.customers, 50)   # 2 %
    state = OUT / "two-nights-state.db"
    for leftover in (state, Path(f"{state}-wal"), Path(f"{state}-shm")):
        leftover.unlink(missing_ok=True)
    with Simulator("two-nights", customers=world_size) as sim:
        m1, s1 = night("two-nights-1", one, sim.url, "100000/s", state)
        m2, s2 = night("two-nights-2", two, sim.url, args.rate, state)
    from bulkupdate.settings import parse_rate

    per_s = parse_rate(args.rate).per_second
    bound_requests = math.ceil(changes / 50) * 1.05
    bound_wall = math.ceil(changes / 50) / per_s + 30
    rows = [
        ("customers", f"{args.customers:,}", ""),
        ("night 1: wall / exit", f"{m1.wall_s:.1f} s / {m1.exit_code}",
         f"outcomes {s1.get('outcomes')}"),
        ("night 2: changes", f"{changes:,}", "2 % of the tiers"),
        ("night 2: requests", f"{s2.get('requests')}", f"bound {bound_requests:.0f}"),
        ("night 2: wall", f"{m2.wall_s:.1f} s", f"bound {bound_wall:.1f} s "
         f"(rate {args.rate})"),
        ("night 2: peak RSS", f"{m2.peak_rss_bytes / 2**20:.0f} MB", "bound 150 MB"),
        ("night 2: exit / outcomes", f"{m2.exit_code}", f"{s2.get('outcomes')}"),
    ]
    from datetime import UTC, datetime

    machine = machine_info()
    section = ["## Two nights with a state store", "",
               f"Written by `python benchmarks/two_nights.py` on "
               f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {machine.get('cpu_model')}, "
               f"{machine.get('logical_cores')} cores, git {machine.get('git')}; the store is "
               "SQLite. Wall time is the client process, everything included (plan pass, "
               "store, ledger).", "",
               "| figure | value | against |", "| --- | --- | --- |",
               *(f"| {a} | {b} | {c} |" for a, b, c in rows), ""]
    old = args.output.read_text() if args.output.exists() else ""
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(replace_section(old, section[0], section).lstrip("\n") + "\n")
    print("\n".join(section))
    return 0


if __name__ == "__main__":
    script_main(main)
