"""The benchmark harness: is the tool or the API the bottleneck?

    python benchmarks/run.py          # full run, ~8 minutes on 2 cores → benchmarks/RESULTS.md
    python benchmarks/run.py --quick  # sanity check, < 4 minutes → benchmarks/out/RESULTS-quick.md
    python benchmarks/run.py --only dropped   # one scenario; its section of RESULTS.md only

Each scenario starts the simulator in its own process (so client and server CPU
are measured apart), runs ``bulkupdate run`` as a user would, and measures it from
the outside: wall clock from this process, CPU and peak RSS from the kernel.
See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    BENCH,
    OUT,
    PYTHON,
    RUNS,
    ClientRun,
    Measured,
    Simulator,
    client_env,
    generate_input,
    machine_info,
    run_client,
    run_measured,
    script_main,
    stop_on_sigterm,
)

BATCH = 50
CONCURRENCY = 32
NO_LIMIT = "100000/s"           # the highest --rate the client takes; it never binds
RATE = 100                      # requests/s for the rate-bound scenario
LATENCY_MS = 50.0
MB = 1024 * 1024


@dataclass(frozen=True)
class Plan:
    name: str
    cpu_sizes: tuple[int, ...]     # no latency, no limit: throughput, CPU, RSS
    rate_records: int              # at RATE requests/s: records / (BATCH * RATE) seconds
    latency_records: int           # at 50 ms, concurrency 32
    naive_records: int             # sequential: records / BATCH requests of ~50 ms
    ideal_records: int             # the ideal client's share of the latency input
    latency_repeats: int           # each latency variant runs this often; the median counts
    output: Path
    unknown_records: int           # --rate RATE/s against a server admitting UNKNOWN_LIMIT/s
    stall_records: int             # --rate RATE/s, server limit STALL_LIMIT/s, with stalls
    dropped_records: int           # --rate RATE/s, DROP_P of the requests dropped


FULL = Plan("full", (100_000, 1_000_000, 5_000_000), 300_000, 500_000, 20_000, 300_000, 3,
            BENCH / "RESULTS.md", 40_000, 300_000, 100_000)
QUICK = Plan("quick", (20_000, 100_000), 50_000, 100_000, 10_000, 50_000, 1,
             OUT / "RESULTS-quick.md", 20_000, 100_000, 20_000)
UNKNOWN_LIMIT = 40              # requests/s the server admits; the client is told --rate RATE/s
STALL_LIMIT = 110               # requests/s; above --rate, so only the stalls cause 429s
STALL_EVERY_S, STALL_MS = 10.0, 150.0
DROP_P = 0.03                   # dropped connections: fate unknown, customers held ...
SETTLE_S = 60.0                 # ... this long (the client's default settle)
DROP_SLACK_S = 10.0             # the target: rate bound + settle + this
JITTER_MS = 5.0                 # the latency variant: 50 ± 5 ms, same mean, same bound


def say(text: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {text}", flush=True)


def _timeout(records: int, per_second: float) -> float:
    """A generous bound: three times the expected time plus a minute."""
    return 3 * records / per_second + 60


def _check_run(run: ClientRun) -> None:
    m = run.measured
    if m.exit_code not in (0, 1) or m.timed_out or not run.summary.get("complete"):
        raise RuntimeError(f"{run.scenario}: the client exited {m.exit_code}"
                           f"{' (timed out)' if m.timed_out else ''}; see "
                           f"benchmarks/out/logs/{run.scenario}.client.err")


# -- scenarios ----------------------------------------------------------------------------


def scenario_no_latency(plan: Plan) -> list[ClientRun]:
    """No latency, no rate limit: the client's own cost, and memory at each size."""
    runs = []
    with Simulator("no-latency", customers=max(plan.cpu_sizes)) as sim:
        for n in plan.cpu_sizes:
            path = generate_input(n)
            say(f"no latency, no limit: {n:,} records")
            run = run_client(f"no-latency-{n}", path, n, sim, rate=NO_LIMIT,
                             concurrency=CONCURRENCY, batch_size=BATCH,
                             timeout=_timeout(n, 5000))
            _check_run(run)
            runs.append(run)
            _report(run)
    return runs


def scenario_rate(plan: Plan, server_limit: str) -> ClientRun:
    n = plan.rate_records
    path = generate_input(n)
    say(f"rate bound: {n:,} records at --rate {RATE}/s, server limit {server_limit}")
    with Simulator("rate", customers=n, rate_limit=server_limit) as sim:
        run = run_client("rate", path, n, sim, rate=f"{RATE}/s", concurrency=CONCURRENCY,
                         batch_size=BATCH, timeout=_timeout(n, BATCH * RATE))
    _check_run(run)
    _report(run)
    pace = _script("pace_check", "pace-check", "--rate", f"{RATE}/s", timeout=60)
    say(f"  the client's Throttle alone at {RATE}/s: {pace['uvloop']} acquires/s on uvloop, "
        f"{pace['asyncio']} on asyncio")
    run.server["pace_check"] = pace
    if plan.name == "full":
        # Issue 23: a per-second server, a per-minute --rate: 4/s against 230/min.
        per_second = _script("pace_check", "pace-per-second", "--server-limit", "4/s",
                             "--rate", "230/min", "--seconds", "60", timeout=180)
        say(f"  --rate 230/min against a 4/s server: {per_second['share_429']:.2%} 429s, "
            f"busiest server second {per_second['busiest_server_second']}, "
            f"{per_second['achieved_share']:.1%} of 4/s")
        run.server["pace_per_second"] = per_second
    return run


def scenario_unknown_limit(plan: Plan) -> ClientRun:
    """--rate above what the server admits: the client must find the server's limit."""
    n = plan.unknown_records
    path = generate_input(n)
    say(f"unknown limit: {n:,} records at --rate {RATE}/s, server limit {UNKNOWN_LIMIT}/s")
    with Simulator("unknown-limit", customers=n, rate_limit=f"{UNKNOWN_LIMIT}/s") as sim:
        run = run_client("unknown-limit", path, n, sim, rate=f"{RATE}/s",
                         concurrency=CONCURRENCY, batch_size=BATCH,
                         timeout=_timeout(n, BATCH * UNKNOWN_LIMIT))
    _check_run(run)
    _report(run)
    return run


def scenario_stalls(plan: Plan) -> ClientRun:
    """A server above --rate that stalls now and then: its 429s are hiccups."""
    n = plan.stall_records
    path = generate_input(n)
    say(f"stalls: {n:,} records at --rate {RATE}/s, server limit {STALL_LIMIT}/s, "
        f"{STALL_MS:g} ms stall every {STALL_EVERY_S:g} s")
    extra = ("--stall-every", f"{STALL_EVERY_S:g}", "--stall-ms", f"{STALL_MS:g}")
    with Simulator("stalls", customers=n, rate_limit=f"{STALL_LIMIT}/s", extra=extra) as sim:
        run = run_client("stalls", path, n, sim, rate=f"{RATE}/s", concurrency=CONCURRENCY,
                         batch_size=BATCH, timeout=_timeout(n, BATCH * RATE))
    _check_run(run)
    _report(run)
    return run


def scenario_dropped(plan: Plan) -> ClientRun:
    """3% of the requests dropped (fate unknown): their customers are held for
    ``settle``, and must not hold anyone else up (the window counts only records
    ready or in flight)."""
    n = plan.dropped_records
    path = generate_input(n)
    say(f"dropped connections: {n:,} records at --rate {RATE}/s, {DROP_P:.0%} of requests "
        f"dropped, --settle {SETTLE_S:g}")
    extra = ("--p-drop", f"{DROP_P:g}")
    with Simulator("dropped", customers=n, extra=extra) as sim:
        run = run_client("dropped", path, n, sim, rate=f"{RATE}/s", concurrency=CONCURRENCY,
                         batch_size=BATCH, extra=("--settle", f"{SETTLE_S:g}"),
                         timeout=_timeout(n, BATCH * RATE) + 3 * SETTLE_S)
    _check_run(run)
    _report(run)
    return run


def _longest_chain(run: ClientRun) -> int:
    """The most ambiguous attempts in a row of one record: each costs a settle."""
    path = RUNS / run.scenario / "results.jsonl"
    if not path.exists():
        return 1
    with path.open("rb") as fh:
        attempts = max((orjson.loads(raw).get("attempts", 1) for raw in fh), default=1)
    return max(1, attempts - 1)


def _time_to_done(run: ClientRun, count: int) -> float | None:
    """Seconds from the session's start to the timeline point (every 5 s) by which
    ``count`` records had their result."""
    path = RUNS / run.scenario / "timeline.jsonl"
    if not path.exists():
        return None
    points = [orjson.loads(raw) for raw in path.read_bytes().splitlines()]
    if not points:
        return None
    start = points[0]["t"] - points[0]["dt"]
    return next((p["t"] - start for p in points if p["done"] >= count), None)


def dropped_figures(run: ClientRun) -> list[Figure]:
    """Time against rate bound + settle, and memory while customers are held. A
    record dropped k times in a row must wait k settles (the contract's rule); the
    second figure holds the run to that."""
    m = run.measured
    bound = run.records / (BATCH * RATE)
    target = bound + SETTLE_S + DROP_SLACK_S
    dropped = run.server["faults"].get("p_drop", 0)
    chain = _longest_chain(run)
    chained = bound + chain * SETTLE_S + DROP_SLACK_S
    free = run.records - dropped * BATCH      # at most this many were ever held
    most = _time_to_done(run, free)
    return [
        Figure(f"{DROP_P:.0%} dropped connections: every customer never held ({free:,} "
               "records) has its result by (timeline, 5 s steps)",
               "—" if most is None else f"{most:.0f} s", f"≤ rate bound {bound:g} s + 10 s",
               most is not None and most <= bound + DROP_SLACK_S),
        Figure(f"{DROP_P:.0%} dropped connections ({_n(run.records)} records, --rate {RATE}/s, "
               f"settle {SETTLE_S:g} s): wall clock against rate bound {bound:g} s + settle",
               f"{m.wall_s:.1f} s (in-run {run.in_run_s:.1f} s); {dropped} requests "
               f"dropped of {run.requests:,}; {run.server['overlap_violations']} overlaps",
               f"≤ {target:g} s", m.wall_s <= target),
        Figure(f"The same, against rate bound + settle for each drop in a row of one "
               f"record ({chain} in a row: {chain} settles owed)", f"{m.wall_s:.1f} s",
               f"≤ {chained:g} s", m.wall_s <= chained),
        Figure(f"Peak RSS with {DROP_P:.0%} dropped connections ({_n(run.records)} records)",
               f"{m.peak_rss_bytes / MB:.1f} MB; {_rss_shape(m)}", "≤ 100 MB",
               m.peak_rss_bytes <= 100 * MB),
    ]


DROPPED_HEADING = "## Dropped connections"


def dropped_section(run: ClientRun, figs: list[Figure]) -> list[str]:
    client = " ".join(_rel(run.measured.command)).replace(PYTHON, "python")
    return [
        DROPPED_HEADING, "",
        f"Measured {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} (source {run.source}); "
        "`python benchmarks/run.py --only dropped` runs this scenario alone and rewrites "
        "only this section.", "",
        "| figure | measured | target | met? |",
        "| --- | --- | --- | --- |",
        *[f"| {f.name} | {f.measured} | {f.target} | {f.verdict} |" for f in figs],
        "",
        *_run_rows([run]),
        "",
        f"- simulator: `{run.server['command']}`",
        f"- client: `{client}`",
        "",
    ]


KEPT_SECTIONS = ("Two nights with a state store", "Interleaved: ")


def replace_section(text: str, heading: str, section: list[str]) -> str:
    """``text`` with the section under ``heading`` (up to the next ``## ``) replaced
    by ``section``, or ``section`` appended when there is none yet."""
    lines = text.rstrip("\n").split("\n")
    start = next((i for i, line in enumerate(lines) if line == heading), None)
    if start is None:
        return "\n".join([*lines, "", *section])
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
               len(lines))
    return "\n".join([*lines[:start], *section, *lines[end:]])


def _script(name: str, log_name: str, *args: str, timeout: float) -> dict[str, Any]:
    """Run ``benchmarks/NAME.py ARGS`` (it prints one JSON line) and measure it."""
    measured = run_measured([PYTHON, str(BENCH / f"{name}.py"), *args], timeout=timeout,
                            env=client_env(), log_name=log_name)
    if measured.exit_code != 0:
        raise RuntimeError(f"{name}.py exited {measured.exit_code}; see "
                           f"benchmarks/out/logs/{log_name}.err")
    report = orjson.loads((OUT / "logs" / f"{log_name}.out").read_bytes().splitlines()[-1])
    return {**report, "measured": measured.as_dict()}


def scenario_latency(plan: Plan, jitter_ms: float = 0.0) -> tuple[ClientRun, list[ClientRun]]:
    """bulkupdate, then the ideal client (the test bed's ceiling), at 50 ms, repeated:
    against a fixed latency the figure swings from run to run (see the README), so
    the median run is the figure and the range is shown beside it."""
    n = plan.latency_records
    path = generate_input(n)
    name = f"latency-jitter{jitter_ms:g}" if jitter_ms else "latency"
    shown = f"{LATENCY_MS:g} ± {jitter_ms:g} ms" if jitter_ms else f"{LATENCY_MS:g} ms"
    extra = ("--jitter-ms", f"{jitter_ms:g}") if jitter_ms else ()
    runs: list[ClientRun] = []
    ideals: list[dict[str, Any]] = []
    with Simulator(name, customers=n, latency_ms=LATENCY_MS, extra=extra) as sim:
        for i in range(1, plan.latency_repeats + 1):
            label = f"{name}-{i}" if plan.latency_repeats > 1 else name
            say(f"latency bound: {n:,} records, {shown}, concurrency {CONCURRENCY} "
                f"(run {i} of {plan.latency_repeats})")
            run = run_client(label, path, n, sim, rate=NO_LIMIT, concurrency=CONCURRENCY,
                             batch_size=BATCH, timeout=_timeout(n, 5000))
            _check_run(run)
            _report(run)
            sim.reset()
            ideal = _script("ideal_client", f"{label}.ideal", str(path), "--base-url", sim.url,
                            "--concurrency", str(CONCURRENCY), "--batch-size", str(BATCH),
                            "--records", str(plan.ideal_records), "--max-seconds", "300",
                            timeout=400)
            say(f"  ideal client: {ideal['customers_per_s']:,.0f} customers/s "
                f"({ideal['records']:,} records in {ideal['seconds']:.1f} s)")
            runs.append(run)
            ideals.append(ideal)
    by_speed = sorted(runs, key=lambda r: r.sent / r.measured.wall_s)
    median = by_speed[len(by_speed) // 2]
    median.server["ideal"] = sorted(ideals, key=lambda x: x["customers_per_s"])[len(ideals) // 2]
    median.server["repeats"] = [
        {"scenario": r.scenario, "wall_cps": r.sent / r.measured.wall_s,
         "in_run_cps": r.sent / r.in_run_s, "ideal_cps": x["customers_per_s"]}
        for r, x in zip(runs, ideals, strict=True)]
    return median, runs


def scenario_naive(plan: Plan) -> tuple[dict[str, Any], ClientRun]:
    """The afternoon script and bulkupdate on the same input, same 50 ms latency."""
    n = plan.naive_records
    path = generate_input(n)
    say(f"naive vs bulkupdate: {n:,} records at {LATENCY_MS:g} ms")
    with Simulator("naive", customers=n, latency_ms=LATENCY_MS) as sim:
        sim.reset()
        cpu0 = sim.cpu_seconds()
        command = [PYTHON, str(BENCH / "naive_client.py"), str(path), "--base-url", sim.url,
                   "--max-seconds", str(_timeout(n, 500))]
        measured = run_measured(command, timeout=_timeout(n, 500) + 30, env=client_env(),
                                log_name="naive.client")
        stats = sim.stats()
        naive = {"measured": measured, "server_cpu_s": sim.cpu_seconds() - cpu0,
                 "server": stats,
                 "report": orjson.loads((OUT / "logs" / "naive.client.out").read_bytes())}
        if measured.exit_code != 0 or naive["report"]["records"] != n:
            raise RuntimeError("the naive client failed; see benchmarks/out/logs/naive.client.err")
        say(f"  naive: {n / measured.wall_s:,.0f} customers/s in {measured.wall_s:.1f} s")
        run = run_client("naive-bulkupdate", path, n, sim, rate=NO_LIMIT,
                         concurrency=CONCURRENCY, batch_size=BATCH, timeout=_timeout(n, 500))
    _check_run(run)
    _report(run)
    return naive, run


def _share_429(run: ClientRun) -> float:
    """429s as a share of the requests the server received."""
    return int(run.server["status_counts"].get("429", 0)) / max(1, run.server["requests"])


def _report(run: ClientRun) -> None:
    m = run.measured
    say(f"  {run.sent / m.wall_s:,.0f} customers/s, {run.requests / m.wall_s:,.1f} requests/s, "
        f"wall {m.wall_s:.2f} s (in-run {run.in_run_s:.2f} s), client CPU {m.cpu_s:.2f} s "
        f"({m.cpu_s / run.sent * 1e6:.1f} µs/customer), peak RSS "
        f"{m.peak_rss_bytes / MB:.1f} MB, simulator CPU {run.server['cpu_s']:.2f} s, "
        f"statuses {run.server['status_counts']}")


# -- figures ------------------------------------------------------------------------------


@dataclass
class Figure:
    name: str
    measured: str
    target: str = "—"
    met: bool | None = None

    @property
    def verdict(self) -> str:
        return {True: "yes", False: "**NO**", None: "—"}[self.met]


def _rss_shape(m: Measured) -> str:
    """RSS at a quarter, half, three quarters and the end of the run: flat or growing."""
    series = m.rss_series
    if len(series) < 4:
        return "too short a run for its shape"
    points = [series[min(len(series) - 1, round(f * (len(series) - 1)))][1] / 1024
              for f in (0.25, 0.5, 0.75, 1.0)]
    return "RSS at ¼, ½, ¾ and the end of the run: " + " / ".join(f"{p:.0f}" for p in points)


def _n(n: int) -> str:
    return f"{n / 1_000_000:g}M" if n >= 1_000_000 else f"{n // 1000}k"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def limit_figures(unknown: ClientRun, stalled: ClientRun) -> list[Figure]:
    """The server's limit below --rate, and a server that stalls: utilisation in
    customers (a 429'd request carried nobody), with the 429 share beside it."""
    out = []
    for run, bound, shown, (least, most) in (
            (unknown, UNKNOWN_LIMIT, f"server limit {UNKNOWN_LIMIT}/s unknown to the client",
             (0.90, 0.02)),
            (stalled, RATE, f"server limit {STALL_LIMIT}/s stalling {STALL_MS:g} ms every "
                            f"{STALL_EVERY_S:g} s", (0.97, 0.005))):
        m = run.measured
        util = run.sent / m.wall_s / (BATCH * bound)
        share = _share_429(run)
        learned = run.summary.get("learned_rate")
        out.append(Figure(
            f"--rate {RATE}/s, {shown} ({_n(run.records)} records): share of "
            f"{bound}/s achieved (wall; in-run) and 429s",
            f"{_pct(util)}; {_pct(run.sent / run.in_run_s / (BATCH * bound))} — "
            f"{run.server['status_counts'].get('429', 0)} of {run.server['requests']:,} "
            f"requests answered 429 ({100 * share:.2f}%); learned_rate in summary.json: "
            f"{learned}",
            f"≥ {least:.0%} (wall), ≤ {most:.1%} 429", util >= least and share <= most))
    return out


def figures(plan: Plan, cpu_runs: list[ClientRun], rate: ClientRun, latency: ClientRun,
            jitter: ClientRun, naive: dict[str, Any], naive_bulk: ClientRun,
            limits: list[Figure]) -> list[Figure]:
    out: list[Figure] = []
    add = out.append

    # 1. throughput, and 2. CPU per customer, from the largest run below 5M that
    # is still cheap: 1M in the full plan (startup amortised), the largest in quick.
    ref = next((r for r in cpu_runs if r.records == 1_000_000), cpu_runs[-1])
    m = ref.measured
    label = f"no latency, no limit, {_n(ref.records)}"
    add(Figure(f"Throughput ({label})",
               f"{ref.sent / m.wall_s:,.0f} customers/s; {ref.requests / m.wall_s:,.0f} "
               f"requests/s (in-run {ref.sent / ref.in_run_s:,.0f} customers/s)"))
    add(Figure(f"Client CPU per customer ({label})", f"{m.cpu_s / ref.sent * 1e6:.1f} µs "
               f"({m.cpu_s:.1f} s user+sys for {ref.sent:,})", "≤ 10 µs",
               m.cpu_s / ref.sent * 1e6 <= 10))
    if len(cpu_runs) >= 2:
        small, big = cpu_runs[0], ref
        marginal = (big.measured.cpu_s - small.measured.cpu_s) / (big.sent - small.sent)
        add(Figure(f"Client CPU per extra customer ({_n(small.records)} → {_n(big.records)}, "
                   "startup excluded)", f"{marginal * 1e6:.1f} µs"))
    add(Figure(f"Client CPU share ({label})",
               f"{m.cpu_s / m.wall_s:.2f} of a core; simulator "
               f"{ref.server['cpu_s'] / m.wall_s:.2f} of a core"))

    # 3. rate bound
    rm = rate.measured
    achieved = rate.requests / rm.wall_s
    util = achieved / RATE
    throttled = int(rate.server["status_counts"].get("429", 0))
    add(Figure(f"Rate bound: achieved at --rate {RATE}/s ({_n(rate.records)} records, "
               f"bound {BATCH * RATE:,} customers/s)",
               f"{achieved:.2f} requests/s, {rate.sent / rm.wall_s:,.0f} customers/s "
               f"(in-run {rate.requests / rate.in_run_s:.2f} requests/s)"))
    add(Figure("Rate bound utilisation (achieved / bound; wall clock; in-run)",
               f"{_pct(util)}; {_pct(rate.requests / rate.in_run_s / RATE)}", "≥ 98% (wall)",
               util >= 0.98))
    add(Figure("429s answered by the server (server limit "
               f"{rate.server['command'].split('--rate-limit ')[1].split()[0]})",
               f"{throttled} (client counted {rate.summary.get('throttled_answers', 0)}); "
               f"busiest 1 s window {rate.server['max_window']} requests", "0", throttled == 0))

    pace = rate.server["pace_check"]
    add(Figure(f"Client pacing alone: bulkupdate's Throttle at {RATE}/s, no network",
               f"{pace['uvloop']} acquires/s on uvloop ({pace['uvloop'] / RATE:.1%}), "
               f"{pace['asyncio']} on asyncio"))
    per_second = rate.server.get("pace_per_second")
    if per_second:
        ok = (per_second["share_429"] <= 0.01 and per_second["busiest_server_second"] <= 4
              and per_second["achieved_share"] >= 0.9)
        add(Figure("--rate 230/min against a server that admits 4 a second (60 s): 429 share, "
                   "busiest second as the server saw it, share of 4/s achieved",
                   f"{per_second['share_429']:.2%}; {per_second['busiest_server_second']}; "
                   f"{per_second['achieved_share']:.1%}", "≤ 1%; ≤ 4; ≥ 90%", ok))
    out.extend(limits)

    # 4. latency bound
    bound = BATCH * CONCURRENCY / (LATENCY_MS / 1000)
    for run, shown in ((latency, f"{LATENCY_MS:g} ms"),
                       (jitter, f"{LATENCY_MS:g} ± {JITTER_MS:g} ms")):
        lm = run.measured
        cps = run.sent / lm.wall_s
        ideal = run.server["ideal"]
        main_target = run is latency
        add(Figure(f"Latency bound: achieved at {shown}, concurrency {CONCURRENCY} "
                   f"({_n(run.records)} records, bound {bound:,.0f} customers/s)",
                   f"{cps:,.0f} customers/s, {run.requests / lm.wall_s:,.0f} requests/s "
                   f"(in-run {run.sent / run.in_run_s:,.0f} customers/s); client CPU "
                   f"{lm.cpu_s / lm.wall_s:.2f} of a core"))
        reps = run.server["repeats"]
        spread = ""
        if len(reps) > 1:
            walls = sorted(r["wall_cps"] / bound for r in reps)
            spread = (f" (median of {len(reps)} runs; wall {_pct(walls[0])} to "
                      f"{_pct(walls[-1])})")
        add(Figure(f"Latency bound utilisation at {shown} (wall clock; in-run)",
                   f"{_pct(cps / bound)}; {_pct(run.sent / run.in_run_s / bound)}{spread}",
                   "≥ 95% (wall)" if main_target else "—",
                   cps / bound >= 0.95 if main_target else None))
        ideal_spread = ""
        if len(reps) > 1:
            ideal_all = sorted(r["ideal_cps"] / bound for r in reps)
            ideal_spread = f" (median; {_pct(ideal_all[0])} to {_pct(ideal_all[-1])})"
        add(Figure(f"Reference at {shown}: the ideal client (ideal_client.py, "
                   f"{_n(ideal['records'])} records) on the same simulator",
                   f"{ideal['customers_per_s']:,.0f} customers/s = "
                   f"{_pct(ideal['customers_per_s'] / bound)} of the bound{ideal_spread}"))

    # 5. memory
    peaks = {r.records: r.measured.peak_rss_bytes for r in cpu_runs}
    for run in cpu_runs:
        n, peak = run.records, peaks[run.records]
        target, met = ("≤ 100 MB", peak <= 100 * MB) if n == 1_000_000 else ("—", None)
        add(Figure(f"Peak RSS at {_n(n)} records", f"{peak / MB:.1f} MB; "
                   f"{_rss_shape(run.measured)}", target, met))
    sizes = sorted(peaks)
    lo, hi = (1_000_000, 5_000_000) if {1_000_000, 5_000_000} <= set(peaks) else sizes[-2:]
    growth = peaks[hi] / peaks[lo] - 1
    add(Figure(f"Peak RSS growth {_n(lo)} → {_n(hi)}", f"{100 * growth:+.1f}%", "≤ 10%",
               growth <= 0.10))

    # 6. naive
    nm: Measured = naive["measured"]
    naive_cps = plan.naive_records / nm.wall_s
    bulk_cps = naive_bulk.sent / naive_bulk.measured.wall_s
    add(Figure(f"Naive sequential client ({_n(plan.naive_records)} records, "
               f"{LATENCY_MS:g} ms)", f"{naive_cps:,.0f} customers/s "
               f"({naive['report']['requests']} requests in {nm.wall_s:.1f} s)"))
    add(Figure("bulkupdate on the same input", f"{bulk_cps:,.0f} customers/s "
               f"({naive_bulk.measured.wall_s:.2f} s, process start included)"))
    add(Figure("bulkupdate / naive", f"{bulk_cps / naive_cps:.1f}x", "≥ 15x",
               bulk_cps / naive_cps >= 15))

    # the simulator is never the limit
    for run in [*cpu_runs, rate, latency, jitter, naive_bulk]:
        share = run.server["cpu_s"] / run.measured.wall_s
        add(Figure(f"Simulator CPU share during {run.scenario}",
                   f"{share:.2f} of a core ({run.server['cpu_s']:.1f} s, "
                   f"{run.server['cpu_s'] / max(1, run.server['requests']) * 1e3:.2f} ms/request)",
                   "< 0.80 (not the limit)", share < 0.80))
    return out


# -- RESULTS.md ---------------------------------------------------------------------------


def _run_rows(runs: list[ClientRun]) -> list[str]:
    rows = ["| scenario | records | requests | wall s | in-run s | customers/s | requests/s "
            "| client CPU s | µs/customer | peak RSS MB (source) | simulator CPU s "
            "| HTTP statuses | exit | source |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- "
            "| ---: | --- |"]
    for r in runs:
        m = r.measured
        rows.append(
            f"| {r.scenario} | {r.records:,} | {r.requests:,} | {m.wall_s:.2f} "
            f"| {r.in_run_s:.2f} | {r.sent / m.wall_s:,.0f} | {r.requests / m.wall_s:,.1f} "
            f"| {m.cpu_s:.2f} | {m.cpu_s / r.sent * 1e6:.1f} "
            f"| {m.peak_rss_bytes / MB:.1f} ({m.peak_rss_source}) | {r.server['cpu_s']:.2f} "
            f"| {_statuses(r.server['status_counts'])} | {m.exit_code} | {r.source} |")
    return rows


def _source_warning(runs: list[ClientRun]) -> list[str]:
    sources = {r.source for r in runs}
    if len(sources) == 1 and not next(iter(sources)).endswith("*"):
        return [f"Every run measured the same `bulkupdate/` source (sha256 {runs[0].source}).",
                ""]
    return ["**The `bulkupdate/` source changed during this benchmark**: runs with different "
            "`source` hashes measured different code (`*`: changed while that run was in "
            "progress). Run it again on a quiet tree before comparing figures.", ""]


def _statuses(counts: dict[str, int]) -> str:
    return ", ".join(f"{code}: {n:,}" for code, n in counts.items()) or "none"


def write_results(plan: Plan, argv: list[str], machine: dict[str, Any], figs: list[Figure],
                  runs: list[ClientRun], naive: dict[str, Any], elapsed: float,
                  server_limit: str) -> None:
    command = "python benchmarks/run.py" + ("".join(" " + a for a in argv))
    lines = [
        "# Benchmark results",
        "",
        f"Written by `{command}` (plan: {plan.name}) on "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}, in {elapsed / 60:.1f} minutes. "
        "Do not edit by hand: run it again. `benchmarks/README.md` says what each figure "
        "means and how it is measured.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in machine.items()],
        "",
        "## Figures",
        "",
        f"Batch size {BATCH}; concurrency {CONCURRENCY}; \"no limit\" is `--rate {NO_LIMIT}`. "
        "Wall clock is the client process from spawn to exit, measured by the harness "
        "(interpreter start, input count and summary included); \"in-run\" is the client's "
        "own `duration_s`. CPU is user + sys of the client process from `wait4`.",
        "",
        "| figure | measured | target | met? |",
        "| --- | --- | --- | --- |",
        *[f"| {f.name} | {f.measured} | {f.target} | {f.verdict} |" for f in figs],
        "",
        "## Runs",
        "",
        *_source_warning(runs),
        *_run_rows(runs),
        "",
        f"Naive client: `{' '.join(_rel(naive['measured'].command))}` — {naive['report']}.",
        "",
        "Commands (paths relative to the repository; the port is chosen by the simulator):",
        "",
    ]
    seen = set()
    for r in runs:
        sim = r.server["command"]
        if sim not in seen:
            seen.add(sim)
            lines.append(f"- simulator for {r.scenario}: `{sim}`")
        client = " ".join(_rel(r.measured.command)).replace(PYTHON, "python")
        lines.append(f"- {r.scenario}: `{client}`")
    lines += ["", *_diagnosis(runs), "", *_projection(runs), ""]
    plan.output.parent.mkdir(parents=True, exist_ok=True)
    # Sections other scripts write here (two_nights.py, interleaved.py) stay as they were.
    old = plan.output.read_text() if plan.output.exists() else ""
    kept = [part for part in old.split("\n## ")[1:] if part.startswith(KEPT_SECTIONS)]
    plan.output.write_text("\n".join(lines) + "".join(f"\n## {part.rstrip()}\n" for part in kept))


def _rel(command: list[str]) -> list[str]:
    root = str(BENCH.parent) + "/"
    return ["python" if a == PYTHON else a.replace(root, "") for a in command]


def _diagnosis(runs: list[ClientRun]) -> list[str]:
    """Who limits each figure: the client, or the test bed. Numbers only; the
    reasoning is in benchmarks/README.md ("Who limits what")."""
    by = {r.scenario: r for r in runs}
    out = ["## Who limits what", ""]
    big = next((r for r in runs if r.records == 1_000_000 and r.scenario.startswith("no-")),
               None) or max((r for r in runs if r.scenario.startswith("no-latency")),
                            key=lambda r: r.records)
    m = big.measured
    out.append(f"- No latency, no limit: only the two processes' own work limits the run. "
               f"The client used {m.cpu_s / m.wall_s:.2f} of a core "
               f"({m.cpu_s / big.sent * 1e6:.1f} µs per customer; `make profile` shows where), "
               f"the simulator {big.server['cpu_s'] / m.wall_s:.2f}.")
    rate = by["rate"]
    pace = rate.server["pace_check"]
    rm = rate.measured
    out.append(f"- Rate: the client's Throttle alone paces {pace['uvloop']} requests/s at "
               f"--rate {RATE}/s; the whole client reached {rate.requests / rate.in_run_s:.2f} "
               f"in-run and {rate.requests / rm.wall_s:.2f} by wall clock, the difference being "
               f"{rm.wall_s - rate.in_run_s:.1f} s of start-up and summary in "
               f"{rm.wall_s:.0f} s.")
    bound = BATCH * CONCURRENCY / (LATENCY_MS / 1000)
    medians = [r for r in runs if r.server.get("repeats")]
    for run, shown in zip(medians, (f"fixed {LATENCY_MS:g} ms",
                                    f"{LATENCY_MS:g} ± {JITTER_MS:g} ms"), strict=False):
        ideal = run.server["ideal"]
        per_request = run.server["cpu_s"] / max(1, run.server["requests"]) * 1e3
        out.append(f"- Latency, {shown}: the ideal client reached "
                   f"{_pct(ideal['customers_per_s'] / bound)} of the bound on the same "
                   f"simulator, bulkupdate {_pct(run.sent / run.in_run_s / bound)} in-run "
                   f"using {run.measured.cpu_s / run.measured.wall_s:.2f} of a core; the "
                   f"simulator spent {per_request:.2f} ms of CPU per request.")
    out.append("- A target marked **NO** above is broken down stage by stage, with what "
               "would close it, in benchmarks/README.md (\"Targets not met, and why\").")
    return out


def _duration(seconds: float) -> str:
    if seconds >= 5400:
        return f"{seconds / 3600:.1f} hours"
    if seconds >= 120:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds:.0f} seconds"


def _projection(runs: list[ClientRun]) -> list[str]:
    """The users' question, answered from the figures above."""
    by = {r.scenario: r for r in runs}
    rate = by.get("rate")
    big = max((r for r in runs if r.scenario.startswith("no-latency")), key=lambda r: r.records)
    ceiling = big.sent / big.measured.wall_s
    out = ["## Tonight's 5 million customers", ""]
    if rate is not None:
        per_req = rate.sent / rate.requests
        achieved = rate.requests / rate.measured.wall_s
        m = rate.measured
        out.append(f"- At `--rate {RATE}/s` (measured {achieved:.2f} requests/s of "
                   f"{per_req:g} customers): 5,000,000 customers take "
                   f"{_duration(5_000_000 / (achieved * per_req))}; meanwhile the client uses "
                   f"{m.cpu_s / m.wall_s:.2f} of a core and the API's limit is the bottleneck.")
    out.append("- At `--rate 100/min` (a demo cluster's limit): 5,000,000 / (50 * 100/60) s "
               f"= {_duration(5_000_000 / (50 * 100 / 60))}; the client is idle.")
    out.append(f"- The client's own ceiling, with an API that answers instantly and no rate "
               f"limit ({_n(big.records)} records, measured): {ceiling:,.0f} customers/s, "
               f"{_duration(big.records / ceiling)} for {_n(big.records)}. Any API slower than "
               f"that, i.e. any rate limit below {ceiling / BATCH:,.0f} requests/s, is the "
               "bottleneck.")
    return out


# -- main ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes, under 3 minutes; writes out/RESULTS-quick.md")
    parser.add_argument("--output", type=Path, help="where to write the results table")
    parser.add_argument("--only", choices=("dropped",),
                        help="run this scenario alone and rewrite only its section of the "
                             "results file")
    parser.add_argument("--server-rate-limit", default=f"{RATE + 2}/s",
                        help="the simulator's limit in the rate scenario, just above "
                             f"--rate {RATE}/s (default %(default)s)")
    args = parser.parse_args(argv)
    stop_on_sigterm()
    plan = QUICK if args.quick else FULL
    if args.output:
        plan = replace(plan, output=args.output)
    started = time.monotonic()
    machine = machine_info()
    say(f"{plan.name} benchmark on {machine['cpu_model']} x {machine['logical_cores']}, "
        f"{machine['python']}; results to {plan.output}")
    if args.only == "dropped":
        run = scenario_dropped(plan)
        figs = dropped_figures(run)
        old = plan.output.read_text() if plan.output.exists() else "# Benchmark results\n"
        plan.output.write_text(replace_section(old, DROPPED_HEADING,
                                               dropped_section(run, figs)) + "\n")
        for f in figs:
            print(f"{f.verdict:>6}  {f.name}: {f.measured}  [target {f.target}]")
        return 0
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("no latency", lambda: scenario_no_latency(plan)),
        ("rate", lambda: scenario_rate(plan, args.server_rate_limit)),
        ("unknown limit", lambda: scenario_unknown_limit(plan)),
        ("stalls", lambda: scenario_stalls(plan)),
        ("latency", lambda: scenario_latency(plan)),
        ("jitter", lambda: scenario_latency(plan, JITTER_MS)),
        ("naive", lambda: scenario_naive(plan)),
        ("dropped", lambda: scenario_dropped(plan)),
    ]
    results = {name: step() for name, step in steps}
    cpu_runs, rate = results["no latency"], results["rate"]
    latency, latency_all = results["latency"]
    jitter, jitter_all = results["jitter"]
    naive, naive_bulk = results["naive"]
    unknown, stalled = results["unknown limit"], results["stalls"]
    dropped = results["dropped"]
    runs = [*cpu_runs, rate, unknown, stalled, *latency_all, *jitter_all, naive_bulk, dropped]
    figs = figures(plan, cpu_runs, rate, latency, jitter, naive, naive_bulk,
                   limit_figures(unknown, stalled)) + dropped_figures(dropped)
    elapsed = time.monotonic() - started
    write_results(plan, argv, machine, figs, runs, naive, elapsed, args.server_rate_limit)
    raw = {"plan": plan.name, "machine": machine, "elapsed_s": elapsed,
           "figures": [f.__dict__ for f in figs],
           "runs": [{"scenario": r.scenario, "records": r.records, "rate": r.rate,
                     "concurrency": r.concurrency, "batch_size": r.batch_size,
                     "measured": r.measured.as_dict(), "summary": r.summary,
                     "server": r.server, "source": r.source} for r in runs],
           "naive": {"measured": naive["measured"].as_dict(), "report": naive["report"],
                     "server_cpu_s": naive["server_cpu_s"], "server": naive["server"]}}
    raw_path = OUT / f"results-{plan.name}.json"
    raw_path.write_bytes(orjson.dumps(raw, option=orjson.OPT_INDENT_2))
    say(f"done in {elapsed / 60:.1f} minutes: {plan.output} (raw figures in {raw_path})")
    print()
    for f in figs:
        print(f"{f.verdict:>6}  {f.name}: {f.measured}" + (f"  [target {f.target}]"
                                                           if f.met is not None else ""))
    return 0


if __name__ == "__main__":
    script_main(main)
