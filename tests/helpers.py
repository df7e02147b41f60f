"""What the tests share: a real simulator on loopback (in a thread or in its own
process), the CLI as a user runs it, readers of the run directory, the sample
worlds the end-to-end tests build, and :func:`wait_until` — the one way a test
waits for a state (poll a condition with a deadline, never a fixed sleep).

Test modules import from here, never from one another (tests/test_test_layout.py
checks it); tests/conftest.py keeps only the fixtures and pytest hooks.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import orjson

from bulkupdate.settings import Credentials, Settings, parse_rate
from bulkupdate.simulator import RunningSim, SimConfig, World, generate_sample, simulator_thread

USER, PASSWORD = "test-till", "s3cret-Pa55"
CREDS = Credentials(username=USER, password=PASSWORD)

T = TypeVar("T")


# -- waiting ------------------------------------------------------------------

def wait_until(predicate: Callable[[], T], timeout: float = 60.0, *, interval: float = 0.02,
               what: str = "", alive: subprocess.Popen[Any] | None = None) -> T:
    """Poll ``predicate`` until it returns something truthy and return that.

    The deadline is generous on purpose: it only bounds a hang, it is never what a
    test measures (a busy 2-core machine may be slow, never wrong). With ``alive``
    a subprocess that ends before the condition holds fails at once, with its
    output, rather than after the whole timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if alive is not None and alive.poll() is not None:
            value = predicate()         # it may have got there just before it ended
            if value:
                return value
            raise AssertionError(f"process ended before {what or predicate!r}: "
                                 f"{alive.communicate()}")
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout} s: {what or predicate!r}")
        time.sleep(interval)


async def wait_until_async(predicate: Callable[[], T], within: float = 60.0, *,
                           interval: float = 0.01, what: str = "") -> T:
    """:func:`wait_until` inside a coroutine: the loop goes on between looks (a
    server on the same loop, a callback from another thread, must get to run)."""
    deadline = time.monotonic() + within
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {within} s: {what or predicate!r}")
        await asyncio.sleep(interval)


class FakeClockLoop(asyncio.SelectorEventLoop):
    """An event loop on a clock of its own, as aiolimiter's tests patch the loop
    clock: whenever nothing is ready to run, the clock jumps to the next timer.
    A sleep takes no wall time and every figure paced on ``loop.time()`` is
    exact, however busy the machine; code under test reads the same clock.
    (The loop waits on no I/O this way: for timers and tasks only.)"""

    def __init__(self, start: float = 1000.0, lateness: float = 0.0) -> None:
        super().__init__()
        self._now, self._lateness = start, lateness

    def time(self) -> float:
        return self._now

    def _run_once(self) -> None:
        if not self._ready:  # type: ignore[attr-defined]
            due = [h.when() for h in self._scheduled  # type: ignore[attr-defined]
                   if not h.cancelled()]
            if due:
                # At least one step on: a wait computed as ``target - now`` can
                # round to a timer at ``now`` itself, which would never come due.
                # ``lateness``: a real loop wakes a timer a little after its time.
                self._now = max(math.nextafter(self._now, math.inf), min(due) + self._lateness)
        super()._run_once()  # type: ignore[misc]


def on_fake_clock(main: Callable[[Callable[[], float]], Awaitable[T]],
                  lateness: float = 0.0) -> T:
    """Run ``main(clock)`` to its end on a :class:`FakeClockLoop`."""
    loop = FakeClockLoop(lateness=lateness)
    try:
        async def run() -> T:
            return await main(loop.time)
        return loop.run_until_complete(run())
    finally:
        loop.close()


def lines_in(path: Path) -> int:
    """Complete lines in ``path`` so far (0 while it does not exist)."""
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def events_named(path: Path, name: str) -> list[dict[str, Any]]:
    """The complete JSON events called ``name`` in an events log so far."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    found = []
    for raw in data.splitlines(keepends=True):
        if raw.endswith(b"\n") and name.encode() in raw:
            try:
                event = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue            # not a JSON line (a plain stderr message)
            if isinstance(event, dict) and event.get("event") == name:
                found.append(event)
    return found


def wait_for_results(run_dir: Path, count: int, proc: Any, limit: float = 60) -> None:
    """Until ``count`` results are in the run directory; fails if ``proc`` ends first."""
    wait_until(lambda: lines_in(run_dir / "results.jsonl") >= count, limit,
               what=f"{count} results", alive=proc)


def kill_after_results(run_dir: Path, count: int, proc: Any) -> None:
    """``kill -9`` the CLI in ``proc`` once ``count`` results are written, and reap it."""
    wait_for_results(run_dir, count, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)


# -- the simulator and the client's settings -----------------------------------

@contextmanager
def simulator(**dials: Any) -> Iterator[RunningSim]:
    dials.setdefault("username", USER)
    dials.setdefault("password", PASSWORD)
    dials.setdefault("customers", 20_000)
    with simulator_thread(SimConfig(**dials)) as sim:
        yield sim


def dial(sim: RunningSim, **dials: float) -> None:
    """Turn the running simulator's fault dials (its world, and so its base URL
    and a state store's scope, are kept)."""
    from bulkupdate.simulator.faults import FaultDecider, FaultPlan
    from bulkupdate.simulator.server import STATE
    state = sim.app[STATE]
    state.config = replace(state.config, **dials)
    state.decider = FaultDecider(FaultPlan.from_config(state.config), 3)


def fast_settings(url: str, **kw: Any) -> Settings:
    """Test mode: no rate cap worth mentioning, backoff in milliseconds, settle
    (after an answer of unknown fate) as short as the timeout."""
    base: dict[str, Any] = dict(base_url=url, rate=parse_rate("2000/s"), concurrency=8,
                                backoff_base=0.005, backoff_cap=0.05, linger=0.01,
                                progress=False, credentials=CREDS, settle=0.0)
    base.update(kw)
    return Settings(**base)


class SimProcess:
    """``bulkupdate simulate`` in its own process: no GIL shared with the client,
    so what it measures (arrival times) is what a real server would see."""

    def __init__(self, *flags: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bulkupdate", "simulate", "--port", "0",
             "--username", USER, "--password", PASSWORD, *flags],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert "listening on" in line, line + self.proc.stderr.read() if self.proc.stderr else ""
        self.base_url = line.split()[-1]

    def stats(self, window_s: float = 1.0) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.base_url}/_sim/stats?window_s={window_s}") as r:
            return orjson.loads(r.read())  # type: ignore[no-any-return]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.communicate(timeout=10)


@contextmanager
def simulator_process(*flags: str) -> Iterator[SimProcess]:
    sim = SimProcess(*flags)
    try:
        yield sim
    finally:
        sim.close()


# -- the CLI as a user runs it -------------------------------------------------

def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BULKUPDATE_", "CAPILLARY_"))}
    env.update(CAPILLARY_USERNAME=USER, CAPILLARY_PASSWORD=PASSWORD)
    # Settle after an unknown fate: never less than the timeout, so both short.
    env.update(BULKUPDATE_TIMEOUT="3", BULKUPDATE_SETTLE="0")
    env.update(extra)
    return env


def cli(*args: str, env: dict[str, str] | None = None, **kw: Any) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bulkupdate", *args], capture_output=True,
                          text=True, env=env or cli_env(), timeout=120, **kw)


def cli_popen(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bulkupdate", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env or cli_env(), text=True)


# -- the run directory ---------------------------------------------------------

def results(run_dir: Path) -> dict[int, dict[str, Any]]:
    """results.jsonl by line; fails on a line reported twice or a torn line."""
    out: dict[int, dict[str, Any]] = {}
    data = (run_dir / "results.jsonl").read_bytes()
    assert not data or data.endswith(b"\n"), "torn last line"
    for raw in data.splitlines():
        result = orjson.loads(raw)
        assert result["line"] not in out, f"line {result['line']} reported twice"
        out[result["line"]] = result
    return out


def send_times(run_dir: Path) -> list[float]:
    """When the pacer let each request go, from the client's own send log."""
    return sorted(orjson.loads(raw)["t"]
                  for raw in (run_dir / "sent.jsonl").read_bytes().splitlines()
                  if b'"t"' in raw)


def max_in_window(times: list[float], window: float) -> int:
    """The most requests in any half-open window [a, a + window)."""
    best, first = 0, 0
    for last, t in enumerate(times):
        while times[first] <= t - window:
            first += 1
        best = max(best, last - first + 1)
    return best


def expected(config: SimConfig, n: int) -> dict[int, dict[str, Any]]:
    """What the simulator's sample promises for each of its first ``n`` lines."""
    return {i: exp for i, (_, exp) in enumerate(generate_sample(config, n), 1)}


def assert_matches(run_dir: Path, exp: dict[int, dict[str, Any]]) -> dict[int, dict]:
    """Every line of the sample got the result :func:`expected` promises, once."""
    got = results(run_dir)
    for line, want in exp.items():
        if want["outcome"] == "blank":
            assert line not in got, f"blank line {line} got a result"
            continue
        result = got.pop(line)
        assert result["outcome"] == want["outcome"], (line, want, result)
        if want["outcome"] == "invalid":
            assert result["field"] == want["field"], (line, want, result)
            assert result["error"]
        else:
            assert [p["code"] for p in result["programs"]] == want["codes"], (line, want, result)
            assert result["attempts"] >= 1
    assert not got, f"results for lines not in the input: {sorted(got)[:5]}"
    return got


# -- sample worlds ---------------------------------------------------------------

PROGRAM = "Apparel-Partner"
TIERS = ("Bronze", "Silver", "Gold", "Platinum")


def linked_spp_ids(sim: Any, n: int) -> list[int]:
    """Customer ids (as the input names them) of ``n`` customers linked to SPP_1."""
    world = sim.world
    ids = [i for i in range(5000) if world.link(i, "SPP_1")[0] is not None][:n]
    return [100000 + i for i in ids]


def linked(count: int, world: World) -> list[int]:
    """Ids of the first ``count`` customers linked to PROGRAM."""
    found = []
    i = 0
    while len(found) < count:
        if world.link(i, PROGRAM)[0] is not None:
            found.append(i)
        i += 1
    return found


def tier_updates(path: Path, customers: list[int], per_customer: int,
                 seed: int = 3) -> dict[int, str]:
    """``per_customer`` tier changes for each customer, interleaved across the
    file; returns each customer's last tier in input order."""
    rng = random.Random(seed)
    last: dict[int, str] = {}
    with path.open("wb") as fh:
        for _ in range(per_customer):
            for i in customers:
                tier = rng.choice(TIERS)
                last[i] = tier
                fh.write(orjson.dumps({"customer": {"id": 100_000 + i}, "partnerProgramUpdates": [
                    {"partnerProgramName": PROGRAM, "updateType": "UPGRADE",
                     "updateDetails": {"updatedTierName": tier}}]}) + b"\n")
    return last


def world_for(**dials: Any) -> World:
    return World(SimConfig(customers=20_000, **dials))


def killed_with_a_request_in_flight(tmp_path: Path, sim: Any) -> Path:
    """A run of 20 linked customers killed (SIGKILL) while a request is with the API
    (``sim`` answers slowly, e.g. ``latency_ms=800``); its run directory."""
    import signal

    src = tmp_path / "in.jsonl"
    tier_updates(src, linked(20, world_for()), per_customer=1)
    run_dir = tmp_path / "run"
    proc = cli_popen("run", str(src), "--base-url", sim.base_url, "--run-dir", str(run_dir),
                     "--timeout", "2")
    try:
        wait_until(lambda: sim.stats()["in_flight"] >= 1, what="a request in flight",
                   alive=proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    return run_dir


# -- a real PostgreSQL for the state store's tests ------------------------------

class NoPostgres(Exception):
    """PostgreSQL's server binaries (Debian's ``postgresql`` package) are missing."""


def postgres_bin() -> Path:
    """The newest ``/usr/lib/postgresql/*/bin`` holding initdb and pg_ctl (or PATH's)."""
    import glob
    import shutil

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    raise NoPostgres("PostgreSQL's initdb/pg_ctl not found (Debian: apt-get install postgresql)")


class PostgresServer:
    """A throwaway server on a unix socket in its own temporary directory."""

    def __init__(self, root: Path, bindir: Path, as_user: list[str]) -> None:
        self.root, self.bindir, self.as_user = root, bindir, as_user
        self.socket = root / "s"
        self._databases = 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://bulkupdate@/{database}?host={self.socket}&port=5432"

    def new_database(self) -> str:
        """A fresh, empty database's URL (one per test: stores never share one)."""
        import psycopg

        self._databases += 1
        name = f"t{os.getpid()}_{self._databases}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=120)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """initdb + pg_ctl into a temporary directory, listening only on a unix
    socket there; as the ``postgres`` user when running as root (initdb refuses
    root). Raises :class:`NoPostgres` when the binaries or that user are missing."""
    import pwd
    import shutil
    import tempfile

    bindir = postgres_bin()
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise NoPostgres("psycopg is not installed (pip install -e '.[postgres]')") from None
    as_user: list[str] = []
    # In /tmp: short (a socket path is at most 107 bytes), and reachable by the postgres
    # user whatever TMPDIR says.
    root = Path(tempfile.mkdtemp(prefix="bu-pg-", dir="/tmp" if os.path.isdir("/tmp") else None))
    try:
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise NoPostgres("running as root and no 'postgres' user to run "
                                 "initdb as") from None
            os.chown(root, owner.pw_uid, owner.pw_gid)
            as_user = ["runuser", "-u", "postgres", "--"]
        server = PostgresServer(root, bindir, as_user)
        server.run(str(bindir / "initdb"), "-D", str(root / "data"), "-U", "bulkupdate",
                   "-A", "trust", "-E", "UTF8", "--no-sync")
        server.run("mkdir", "-m", "0700", str(server.socket))
        options = (f"-c listen_addresses='' -c unix_socket_directories={server.socket} "
                   "-c fsync=off -c full_page_writes=off -p 5432")
        server.run(str(bindir / "pg_ctl"), "-D", str(root / "data"), "-o", options, "-w",
                   "-t", "60", "-l", str(root / "log"), "start")
        try:
            yield server
        finally:
            server.run(str(bindir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate",
                       "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)
