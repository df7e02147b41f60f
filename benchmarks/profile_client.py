"""The hot path, profiled: ``bulkupdate run`` against a no-latency simulator.

    pip install -e '.[bench]'                # once: py-spy (make profile does it)
    python benchmarks/profile_client.py      # → benchmarks/out/profile.txt

With no latency and no rate limit the client is the only thing that limits the
run, so every sample lands on the client's own per-record cost. The client runs
as a user runs it (``python -m bulkupdate run ...``), under one of three
profilers (``--profiler``; ``auto`` takes the first that is installed):

* ``py-spy record --threads`` — sampling, from outside the process: **every
  thread** (the worker threads of ``asyncio.to_thread``: the error files written
  at the end, the fsyncs), time in C code counted to the Python function that
  called it; a thread waiting (epoll, a lock) is idle and not counted, though
  a thread that only waits still shows in a few per cent of the samples. Needs
  ptrace permission.
* ``python -m pyinstrument`` — sampling, low overhead: the **main thread** only.
* ``python -m cProfile`` — deterministic: the **main thread** only, and it
  inflates small functions called very often.

The report has the functions with the most *own* time first, then the most
cumulative time; py-spy's starts with each thread's share of the samples, and
pyinstrument's ends with the call tree.

``--target simulator`` profiles the simulator instead (the client runs plain), to
check that it is never what limits the benchmarks: ``out/profile-simulator.txt``.
The simulator is one thread, so ``auto`` leaves py-spy out there.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import pstats
import re
import shutil
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    OUT,
    PYTHON,
    REPO,
    Simulator,
    client_command,
    client_env,
    fresh_dir,
    generate_input,
    run_measured,
    stop_on_sigterm,
)

NO_LIMIT = "100000/s"
PYSPY_RATE = 500   # samples a second: py-spy's default 100 gives too few for a 1 % function
NO_FRAME = "(no Python frame)"   # a sample of a thread that ran no Python code then
# One frame of py-spy's raw output: "function (file:line)", the line left out when 0.
_FRAME = re.compile(r"(?P<func>.*) \((?P<file>.*?)(?::\d+)?\)")


def find_pyspy() -> str | None:
    """py-spy beside this interpreter (the venv's bin/, where ``pip install`` put it,
    on PATH or not), else on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("py-spy")


def choose_profiler(asked: str, target: str) -> str:
    """``auto``: py-spy, else pyinstrument, else cProfile. Not py-spy for the
    simulator: it is one thread, and py-spy would not pass on its SIGTERM."""
    if asked != "auto":
        return asked
    if target == "client" and find_pyspy():
        return "py-spy"
    return "pyinstrument" if importlib.util.find_spec("pyinstrument") else "cprofile"


def profiler_prefix(kind: str, session: Path) -> list[str]:
    """The command that runs ``-m MODULE`` under the profiler, ending in ``-m``."""
    if kind == "py-spy":
        # --full-filenames: paths shortened by _short(), as for the other profilers.
        return [find_pyspy() or "py-spy", "record", "--threads", "--rate", str(PYSPY_RATE),
                "--full-filenames", "-f", "raw", "-o", str(session), "--", PYTHON, "-m"]
    if kind == "pyinstrument":
        return [PYTHON, "-m", "pyinstrument", "-r", "pyisession", "-o", str(session),
                "-m"]
    return [PYTHON, "-m", "cProfile", "-o", str(session), "-m"]


def render(kind: str, session: Path, top: int) -> str:
    if kind == "py-spy":
        return collapsed_tables(session.read_text().splitlines(), top, rate=PYSPY_RATE)
    if kind == "pyinstrument":
        from pyinstrument.renderers import ConsoleRenderer, PstatsRenderer
        from pyinstrument.session import Session

        loaded = Session.load(str(session))
        stats_path = session.with_suffix(".pstats")
        # show_all: library frames (aiohttp, asyncio) keep their own names in the table.
        data = PstatsRenderer(show_all=True).render(loaded)
        stats_path.write_bytes(data.encode("utf-8", "surrogateescape"))
        tree = ConsoleRenderer(unicode=True, color=False).render(loaded)
    else:
        stats_path, tree = session, ""
    stats = pstats.Stats(str(stats_path))
    rows = stats.stats  # type: ignore[attr-defined]
    total = max(ct for _, _, _, ct, _ in rows.values())  # the outermost frame's cumulative
    out = io.StringIO()
    for title, key in (("own time (tottime)", 2), ("cumulative time", 3)):
        out.write(f"== top {top} functions by {title}; % of the profiled "
                  f"{total:.2f} s ==\n")
        out.write(f"{'own s':>8} {'own %':>6} {'cum s':>8} {'cum %':>6} "
                  f"{'calls':>9}  function\n")
        ranked = sorted(rows.items(), key=lambda kv: kv[1][key], reverse=True)[:top]
        for (path, line, func), (_, calls, tt, ct, _) in ranked:
            where = f"{_short(path)}:{line}({func})" if line else f"{func}"
            count = str(calls) if calls > 0 else "-"   # a sampling profiler counts no calls
            out.write(f"{tt:8.3f} {100 * tt / total:5.1f}% {ct:8.3f} {100 * ct / total:5.1f}% "
                      f"{count:>9}  {where}\n")
        out.write("\n")
    if tree:
        out.write("== call tree (pyinstrument; library frames folded) ==\n")
        out.write(tree)
    return out.getvalue()


class Samples(NamedTuple):
    """One thread's samples by function: where it was (own) and what it was in."""
    own: Counter[str]
    inclusive: Counter[str]


def collapsed_tables(lines: Iterable[str], top: int, rate: int = 0) -> str:
    """py-spy's collapsed stacks as tables, % of all samples: each thread's share, the
    ``top`` functions by own and by inclusive samples, then each thread but the
    busiest alone (the tables before are mostly the busiest one: a worker's share
    would not make their top). ``rate``: samples a second, to tell the seconds."""
    threads = collapsed_counts(lines)
    shares = Counter({thread: s.own.total() for thread, s in threads.items()})
    total = max(1, shares.total())
    seconds = f" ≈ {total / rate:.2f} s at {rate}/s" if rate else ""
    out = io.StringIO()
    out.write(f"== samples by thread; % of all {total:,} samples{seconds}, idle left out ==\n")
    out.write(f"{'samples':>8} {'%':>6}  thread\n")
    ranked = _ranked(shares, len(shares))
    for thread, n in ranked:
        out.write(f"{n:8d} {100 * n / total:5.1f}%  {thread}\n")
    out.write("\n")
    every = Samples(sum((s.own for s in threads.values()), Counter()),
                    sum((s.inclusive for s in threads.values()), Counter()))
    tables = [(f"top {top} functions by own samples", every, every.own),
              (f"top {top} functions by inclusive samples", every, every.inclusive),
              *((f"{thread}: top {top} functions by inclusive samples", threads[thread],
                 threads[thread].inclusive) for thread, _ in ranked[1:])]
    for title, samples, ranking in tables:
        _function_table(out, title, samples, ranking, top, total)
    return out.getvalue()


def _function_table(out: io.StringIO, title: str, samples: Samples, ranking: Counter[str],
                    top: int, total: int) -> None:
    out.write(f"== {title}; % of all {total:,} samples ==\n")
    out.write(f"{'own':>8} {'own %':>6} {'incl':>8} {'incl %':>6}  function\n")
    own, inclusive = samples
    for func, _ in _ranked(ranking, top):
        out.write(f"{own[func]:8d} {100 * own[func] / total:5.1f}% "
                  f"{inclusive[func]:8d} {100 * inclusive[func] / total:5.1f}%  {func}\n")
    out.write("\n")


def collapsed_counts(lines: Iterable[str]) -> dict[str, Samples]:
    """Each thread's samples from lines ``thread (ID): NAME;frame;frame COUNT``
    (outermost frame first). A function is its file and name: the samples of its
    lines add up. A thread is its ID: py-spy leaves the name out of some of its
    stacks (before ``threading`` knows it, and now and then after)."""
    threads: dict[str, Samples] = {}
    names: dict[str, str] = {}
    for line in lines:
        if not line.strip():
            continue
        stack, _, count = line.rpartition(" ")
        thread, *frames = stack.split(";")
        funcs = [_function(frame) for frame in frames] or [NO_FRAME]
        tid = thread.split(": ", 1)[0]
        names[tid] = max(names.get(tid, tid), thread, key=len)
        samples = threads.setdefault(tid, Samples(Counter(), Counter()))
        samples.own[funcs[-1]] += int(count)
        for func in set(funcs):   # once per stack, however deep it recurses
            samples.inclusive[func] += int(count)
    return {names[tid]: samples for tid, samples in threads.items()}


def _ranked(counts: Counter[str], top: int) -> list[tuple[str, int]]:
    """The ``top`` largest, ties by name: the same input gives the same report."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]


def _function(frame: str) -> str:
    """``run (/…/site-packages/aiohttp/web.py:123)`` → ``aiohttp/web.py(run)``."""
    match = _FRAME.fullmatch(frame)
    return f"{_short(match['file'])}({match['func']})" if match else frame


def _short(path: str) -> str:
    """``.../site-packages/aiohttp/client.py`` → ``aiohttp/client.py``."""
    for marker in ("site-packages/", "/lib/python3.", str(REPO) + "/"):
        if marker in path:
            rest = path.split(marker, 1)[1]
            return rest.split("/", 1)[1] if marker.startswith("/lib/") else rest
    return path


def pyspy_sampled(exit_code: int, session: Path) -> bool:
    """py-spy ran and wrote samples: one that may not read the process's memory
    exits non-zero, or writes nothing (every sample an error)."""
    return exit_code == 0 and session.exists() and session.stat().st_size > 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--profiler", choices=("auto", "py-spy", "pyinstrument", "cprofile"),
                        default="auto")
    parser.add_argument("--target", choices=("client", "simulator"), default="client")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    stop_on_sigterm()
    kind = choose_profiler(args.profiler, args.target)
    if kind == "pyinstrument" and not importlib.util.find_spec("pyinstrument"):
        parser.error("pyinstrument is not installed: pip install pyinstrument")
    if kind == "py-spy" and not find_pyspy():
        parser.error("py-spy is not installed: pip install -e '.[bench]'")
    if kind == "py-spy" and args.target == "simulator":
        # SIGTERM would stop py-spy, not the simulator it runs, and write no profile.
        parser.error("py-spy profiles the client only: --profiler pyinstrument for the simulator")

    OUT.mkdir(parents=True, exist_ok=True)
    name = "profile" if args.target == "client" else "profile-simulator"
    suffix = {"py-spy": ".pyspy.txt", "pyinstrument": ".pyisession", "cprofile": ".pstats"}
    session = OUT / f"{name}{suffix[kind]}"
    session.unlink(missing_ok=True)
    path = generate_input(args.records)
    prefix = profiler_prefix(kind, session)
    sim_launcher = tuple(prefix) if args.target == "simulator" else (PYTHON, "-m")
    sim = Simulator(name, customers=args.records, latency_ms=args.latency_ms,
                    launcher=sim_launcher)
    sim.stop_timeout = 120.0
    with sim:
        run_dir = fresh_dir(OUT / "runs" / name)
        command = client_command(path, sim.url, rate=NO_LIMIT, concurrency=args.concurrency,
                                 batch_size=50, run_dir=run_dir)
        if args.target == "client":
            command = [*prefix, *command[2:]]   # "python -m bulkupdate ..." under the profiler
        print(f"profiling the {args.target} with {kind}: {args.records:,} records, "
              f"{args.latency_ms:g} ms latency, concurrency {args.concurrency}", flush=True)
        sim_cpu0 = sim.cpu_seconds()
        measured = run_measured(command, timeout=600, env=client_env(), log_name=name)
        sim_cpu = sim.cpu_seconds() - sim_cpu0
        sim_requests = sim.stats()["requests"]
    if kind == "py-spy" and not pyspy_sampled(measured.exit_code, session):
        print(f"py-spy failed (exit {measured.exit_code}) or took no sample; see "
              f"benchmarks/out/logs/{name}.err. Where it may not attach to a process "
              f"(ptrace not permitted, as in many containers), profile the main thread "
              f"alone with --profiler pyinstrument", file=sys.stderr)
        return 1
    # py-spy exits 0 whatever its child did: the client's summary tells it ran to the end.
    ran = (run_dir / "summary.json").exists() if kind == "py-spy" else measured.exit_code in (0, 1)
    if not ran or not session.exists():
        print(f"the profiled run failed (exit {measured.exit_code}); see "
              f"benchmarks/out/logs/{name}.err", file=sys.stderr)
        return 1
    shown = " ".join("python" if a == PYTHON else a.replace(str(REPO) + "/", "")
                     for a in (command if args.target == "client" else
                               [*prefix, "bulkupdate.simulator", *sim.args]))
    profiled = "profiler overhead included"
    header = (f"# {args.target} profile, {kind}: {args.records:,} records, no rate limit, "
              f"{args.latency_ms:g} ms latency, concurrency {args.concurrency}\n"
              f"# client: {measured.wall_s:.2f} s wall, {measured.cpu_s:.2f} s CPU "
              f"({measured.cpu_s / args.records * 1e6:.1f} µs/customer"
              f"{', ' + profiled if args.target == 'client' else ''})\n"
              f"# simulator: {sim_cpu:.2f} s CPU for {sim_requests:,} requests "
              f"({sim_cpu / max(1, sim_requests) * 1e3:.2f} ms/request"
              f"{', ' + profiled if args.target == 'simulator' else ''})\n"
              f"# command: {shown}\n")
    if args.target == "simulator" and kind == "cprofile":
        header += ("# cProfile measures wall time: the event loop's own time "
                   "(asyncio/runners.py run) includes waiting for the client.\n")
    if kind == "py-spy":
        header += ("# py-spy takes a thread that waits for busy in some samples: read the own "
                   "samples of a wait (tqdm_monitor's Condition.wait) as idle.\n")
    header += "\n"
    report = OUT / f"{name}.txt"
    report.write_text(header + render(kind, session, args.top))
    print(f"wrote {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
