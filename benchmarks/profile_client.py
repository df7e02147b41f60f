"""The hot path, profiled: ``bulkupdate run`` against a no-latency simulator.

    pip install pyinstrument                 # once; optional (cProfile is the fallback)
    python benchmarks/profile_client.py      # → benchmarks/out/profile.txt

With no latency and no rate limit the client is the only thing that limits the
run, so every sample lands on the client's own per-record cost. The client runs
as a user runs it (``python -m bulkupdate run ...``), under
``python -m pyinstrument`` (sampling, low overhead; the default when importable)
or ``python -m cProfile`` (deterministic; inflates small functions). The report
has the functions with the most *own* time first, then the most cumulative time,
and for pyinstrument the call tree.

``--target simulator`` profiles the simulator instead (the client runs plain), to
check that it is never what limits the benchmarks: ``out/profile-simulator.txt``.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import pstats
import sys
from pathlib import Path

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


def profiler_prefix(kind: str, session: Path) -> list[str]:
    """The command that runs ``-m MODULE`` under the profiler, ending in ``-m``."""
    if kind == "pyinstrument":
        return [PYTHON, "-m", "pyinstrument", "-r", "pyisession", "-o", str(session),
                "-m"]
    return [PYTHON, "-m", "cProfile", "-o", str(session), "-m"]


def render(kind: str, session: Path, top: int) -> str:
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


def _short(path: str) -> str:
    """``.../site-packages/aiohttp/client.py`` → ``aiohttp/client.py``."""
    for marker in ("site-packages/", "/lib/python3.", str(REPO) + "/"):
        if marker in path:
            rest = path.split(marker, 1)[1]
            return rest.split("/", 1)[1] if marker.startswith("/lib/") else rest
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--profiler", choices=("auto", "pyinstrument", "cprofile"),
                        default="auto")
    parser.add_argument("--target", choices=("client", "simulator"), default="client")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    stop_on_sigterm()
    kind = args.profiler
    if kind == "auto":
        kind = "pyinstrument" if importlib.util.find_spec("pyinstrument") else "cprofile"
    if kind == "pyinstrument" and not importlib.util.find_spec("pyinstrument"):
        parser.error("pyinstrument is not installed: pip install pyinstrument")

    OUT.mkdir(parents=True, exist_ok=True)
    name = "profile" if args.target == "client" else "profile-simulator"
    session = OUT / (f"{name}.pyisession" if kind == "pyinstrument" else f"{name}.pstats")
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
    if measured.exit_code not in (0, 1) or not session.exists():
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
    header += "\n"
    report = OUT / f"{name}.txt"
    report.write_text(header + render(kind, session, args.top))
    print(f"wrote {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
