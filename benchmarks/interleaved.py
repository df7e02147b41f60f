"""Client CPU per customer, this tree against an older commit, on one bed (issue 22).

    python benchmarks/interleaved.py                       # against b49fac2 (make bench)
    python benchmarks/interleaved.py --old COMMIT --pairs 5 --records 200000
    python benchmarks/interleaved.py --old-path /tmp/b49   # a checkout with its .venv

A machine shared with other work drifts by a quarter from one minute to the next,
so figures taken an hour apart cannot tell a 10 % regression from noise. Here the
old and the new client run in turns against one simulator (no latency, no rate
limit, one process of its own), old-new then new-old, so a drift weighs on both
alike; then the minimal client (``ideal_client.py``: join lines, send, drop the
answers) on the same input, the floor no client goes below.

The input is ``--records`` two-program records (Apparel-Partner and Dining-Partner,
one customer each). CPU is the client process's user + sys from ``wait4``, start-up
included, divided by the records: µs per customer. The old commit is checked out
into a temporary git worktree with a virtualenv of its own (``pip install -e``:
the package registry is the only network it needs), both removed afterwards;
``--old-path`` takes a ready checkout instead (its ``.venv/bin/python``).

Writes its section of ``benchmarks/RESULTS.md`` (``--output`` names another file)
and prints it; the exit code is 0 unless a run failed (a slower HEAD is a finding,
not a failure: read the ratio).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    BENCH,
    ID_BASE,
    INPUTS,
    OUT,
    PYTHON,
    REPO,
    Simulator,
    client_command,
    client_env,
    fresh_dir,
    machine_info,
    run_measured,
    script_main,
    stop_on_sigterm,
)
from run import replace_section

DEFAULT_OLD = "b49fac2"
NO_LIMIT = "100000/s"
CONCURRENCY = 32
TWO_PROGRAMS = (b'{"customer":{"id":%d},"partnerProgramUpdates":[{"partnerProgramName":'
                b'"Apparel-Partner","updateType":"UPGRADE","updateDetails":{"updatedTierName":'
                b'"Gold","updatedTierExpiryDate":"2099-12-31T23:59:59+05:30"}},'
                b'{"partnerProgramName":"Dining-Partner","updateType":"UPGRADE",'
                b'"updateDetails":{"updatedTierName":"Gold","updatedTierExpiryDate":'
                b'"2099-12-31T23:59:59+05:30"}}]}\n')


@dataclass(frozen=True)
class Sample:
    who: str            # "old", "HEAD" or "minimal"
    cpu_s: float
    wall_s: float
    exit_code: int

    def us(self, records: int) -> float:
        return self.cpu_s / records * 1e6


def two_program_input(records: int) -> Path:
    """``records`` lines of two program updates each, customer ``100000 + i``."""
    INPUTS.mkdir(parents=True, exist_ok=True)
    path = INPUTS / f"two-programs-{records}.jsonl"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb", buffering=1 << 20) as out:
            for start in range(ID_BASE, ID_BASE + records, 20_000):
                stop = min(start + 20_000, ID_BASE + records)
                out.write(b"".join(TWO_PROGRAMS % i for i in range(start, stop)))
        os.replace(tmp, path)
    return path


@contextlib.contextmanager
def old_checkout(commit: str, path: Path | None) -> Iterator[tuple[Path, str]]:
    """(checkout, its python): ``path`` as given, or ``commit`` in a temporary
    worktree with its own virtualenv, removed on exit."""
    if path is not None:
        yield path, str(path / ".venv" / "bin" / "python")
        return
    tmp = Path(tempfile.mkdtemp(prefix="bulkupdate-old-"))
    tree = tmp / "tree"
    try:
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), commit], cwd=REPO,
                       check=True, capture_output=True)
        venv = tree / ".venv"
        print(f"setting up {commit} in {tree} (a virtualenv of its own) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                        "-e", f"{tree}[fast]"], check=True)
        yield tree, str(venv / "bin" / "python")
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO,
                       capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def client(who: str, python: str, cwd: Path, path: Path, sim: Simulator, k: int) -> Sample:
    run_dir = fresh_dir(OUT / "runs" / f"interleaved-{who}")
    command = client_command(path, sim.url, rate=NO_LIMIT, concurrency=CONCURRENCY,
                             batch_size=50, run_dir=run_dir)
    command[0] = python
    sim.reset()
    m = run_measured(command, timeout=900, env=client_env(), cwd=cwd,
                     log_name=f"interleaved-{who}-{k}")
    return Sample(who, m.cpu_s, m.wall_s, m.exit_code)


def minimal(path: Path, sim: Simulator, k: int) -> Sample:
    sim.reset()
    command = [PYTHON, str(BENCH / "ideal_client.py"), str(path), "--base-url", sim.url,
               "--concurrency", str(CONCURRENCY), "--max-seconds", "900"]
    m = run_measured(command, timeout=900, env=client_env(),
                     log_name=f"interleaved-minimal-{k}")
    return Sample("minimal", m.cpu_s, m.wall_s, m.exit_code)


HEADING = "## Interleaved: client CPU per customer against an older commit"


def report(samples: list[Sample], records: int, old: str, head: str) -> str:
    def figures(who: str) -> list[float]:
        return [s.us(records) for s in samples if s.who == who]

    rows = [HEADING, "",
            f"HEAD ({head}) against {old}, measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. "
            f"{records:,} two-program records, no latency, no rate limit, concurrency "
            f"{CONCURRENCY}, batch 50; one simulator; old and HEAD in turns (ABBA).", "",
            "| client | runs (µs/customer, in order) | median | range |",
            "| --- | --- | --- | --- |"]
    medians = {}
    for who, label in (("old", old), ("HEAD", f"HEAD {head}"), ("minimal", "minimal client")):
        us = figures(who)
        medians[who] = statistics.median(us)
        rows.append(f"| {label} | {', '.join(f'{u:.1f}' for u in us)} | "
                    f"{medians[who]:.1f} | {min(us):.1f} to {max(us):.1f} |")
    pairs = [h / o for h, o in zip(figures("HEAD"), figures("old"), strict=True)]
    rows += ["", f"HEAD / {old}: {medians['HEAD'] / medians['old']:.2f} (medians; pair by "
             f"pair {', '.join(f'{p:.2f}' for p in pairs)})",
             f"HEAD / minimal client: {medians['HEAD'] / medians['minimal']:.2f} "
             f"({medians['HEAD']:.1f} µs against {medians['minimal']:.1f} µs)",
             f"HEAD {'below' if medians['HEAD'] < medians['old'] else 'NOT below'} {old}."]
    return "\n".join(rows) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", default=DEFAULT_OLD, help="the commit to compare with "
                        "(default %(default)s)")
    parser.add_argument("--old-path", type=Path, help="a checkout of it, with .venv/, "
                        "instead of a temporary worktree")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--output", type=Path, default=BENCH / "RESULTS.md",
                        help="a file whose section '## Interleaved: …' is replaced (written "
                        "when missing)")
    args = parser.parse_args()
    stop_on_sigterm()
    path = two_program_input(args.records)
    head = machine_info()["git"]
    samples: list[Sample] = []
    with old_checkout(args.old, args.old_path) as (tree, old_python), \
            Simulator("interleaved", customers=args.records) as sim:
        for k in range(args.pairs):
            order = (("old", old_python, tree), ("HEAD", PYTHON, REPO))
            for who, python, cwd in order if k % 2 == 0 else order[::-1]:
                samples.append(client(who, python, cwd, path, sim, k))
                print(f"pair {k + 1}: {who:>4} {samples[-1].us(args.records):6.1f} µs/customer"
                      f" (exit {samples[-1].exit_code})", flush=True)
            samples.append(minimal(path, sim, k))
            print(f"pair {k + 1}: minimal {samples[-1].us(args.records):6.1f} µs/customer",
                  flush=True)
    text = report(samples, args.records, args.old, head)
    old = args.output.read_text() if args.output.exists() else ""
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(replace_section(old, HEADING, text.rstrip("\n").split("\n"))
                           .lstrip("\n") + "\n")
    print(text)
    return 0 if all(s.exit_code in (0, 1) for s in samples) else 1


if __name__ == "__main__":
    script_main(main)
