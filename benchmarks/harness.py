"""What every benchmark needs: inputs, the simulator in its own process, and one
measured run of a command (wall clock, CPU and peak RSS from the OS).

Used by ``run.py`` and ``profile_client.py``; not a public API.

Why the measurements are taken the way they are:

* CPU comes from ``os.wait4``: the kernel's rusage of the finished child, user +
  sys, every thread included. Reading ``cpu_times()`` just before a process
  exits races with its last work.
* Peak RSS is the kernel's high-water mark. ``ru_maxrss`` from ``wait4`` has a
  trap: ``subprocess`` starts children with ``vfork``, so the child's
  ``ru_maxrss`` starts at the *parent's* high-water mark. The harness therefore
  also samples ``VmHWM`` (the client's own high-water mark, post-exec) from
  ``/proc`` every 50 ms, and trusts ``ru_maxrss`` only when it is above the
  harness's own high-water mark at spawn time.
* The simulator runs in a separate process so its CPU is measured apart
  (``psutil`` reads its CPU times before and after each run: it is alive then).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson
import psutil

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OUT = BENCH / "out"
INPUTS = OUT / "inputs"
RUNS = OUT / "runs"
LOGS = OUT / "logs"
PYTHON = sys.executable
USERNAME, PASSWORD = "demo-till", "demo-pass"   # the simulator's defaults
SAMPLE_EVERY = 0.05
ID_BASE = 100_000  # the simulator's formula world: customer i has id 100000 + i

# One program update with an expiry far in the future: valid, and sent as-is.
# About 3 in 4 customers of the formula world are linked to Apparel-Partner, so
# about a quarter come back rejected (2004); outcomes don't matter for speed, but
# the rejected path is as real as the ok one.
RECORD = (b'{"customer":{"id":%d},"partnerProgramUpdates":[{"partnerProgramName":'
          b'"Apparel-Partner","updateType":"UPGRADE","updateDetails":{"updatedTierName":'
          b'"Gold","updatedTierExpiryDate":"2099-12-31T23:59:59+05:30"}}]}\n')
GEN_VERSION = 1
GEN_CHUNK = 20_000  # lines per write: keeps the harness's own RSS small (see above)


def generate_input(records: int) -> Path:
    """``records`` valid lines, one distinct customer each (ids 100000 + i), so no
    customer repeats and the client never has to hold one back. Written once per
    size and reused; about 1 µs a line (5 M lines ≈ 1 GB in a few seconds)."""
    INPUTS.mkdir(parents=True, exist_ok=True)
    path = INPUTS / f"records-{records}-v{GEN_VERSION}.jsonl"
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    template = RECORD
    with tmp.open("wb", buffering=1 << 20) as out:
        for start in range(ID_BASE, ID_BASE + records, GEN_CHUNK):
            stop = min(start + GEN_CHUNK, ID_BASE + records)
            out.write(b"".join([template % i for i in range(start, stop)]))
    os.replace(tmp, path)
    return path


def client_env() -> dict[str, str]:
    """The caller's environment without stray bulkupdate settings or credentials,
    plus the simulator's demo credentials."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BULKUPDATE_", "CAPILLARY_"))}
    env.update(CAPILLARY_USERNAME=USERNAME, CAPILLARY_PASSWORD=PASSWORD,
               PYTHONUNBUFFERED="1")
    return env


def fresh_dir(path: Path) -> Path:
    """A run directory the client may create: the previous benchmark's copy goes."""
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the harness dies, even by SIGKILL,
    so a simulator (which serves until told to stop) is never left behind."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def stop_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt, so every ``finally`` runs and every
    child process is stopped."""
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def script_main(main: Callable[[], int]) -> None:
    """A benchmark script's entry point: exit with ``main()``'s code; on ^C or
    SIGTERM (130), say that the ``finally`` blocks stopped every child."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: every simulator and client was stopped", file=sys.stderr)
        sys.exit(130)


def source_fingerprint() -> str:
    """A short hash of every ``bulkupdate/*.py``: which code a run measured. The
    tree may change while a benchmark runs; each client imports it when it starts."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "bulkupdate").rglob("*.py")):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0")
        with contextlib.suppress(OSError):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def http_json(url: str, method: str = "GET", timeout: float = 10.0) -> Any:
    request = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        return orjson.loads(resp.read())


# -- the simulator ---------------------------------------------------------------------


class Simulator:
    """``python -m bulkupdate.simulator --port 0 ...`` as a child process, stopped
    with SIGTERM (SIGKILL if it lingers) on exit, whatever happened."""

    def __init__(self, name: str, *, customers: int, latency_ms: float = 0.0,
                 rate_limit: str | None = None, extra: tuple[str, ...] = (),
                 launcher: tuple[str, ...] = (PYTHON, "-m")) -> None:
        self.name = name
        self.launcher = launcher  # e.g. a profiler's "python -m pyinstrument ... -m"
        self.stop_timeout = 10.0  # a profiler needs longer: it writes its report on exit
        self.args = ["--port", "0", "--no-track", "--customers", str(customers),
                     "--username", USERNAME, "--password", PASSWORD]
        if latency_ms:
            self.args += ["--latency-ms", f"{latency_ms:g}"]
        if rate_limit:
            self.args += ["--rate-limit", rate_limit]
        self.args += list(extra)
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self._ps: psutil.Process | None = None

    @property
    def command(self) -> str:
        return "python -m bulkupdate.simulator " + " ".join(self.args)

    def __enter__(self) -> Simulator:
        LOGS.mkdir(parents=True, exist_ok=True)
        out_path = LOGS / f"{self.name}.sim.out"
        with out_path.open("wb") as out, (LOGS / f"{self.name}.sim.err").open("wb") as err:
            self.proc = subprocess.Popen([*self.launcher, "bulkupdate.simulator", *self.args],
                                         stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                         cwd=REPO, preexec_fn=_die_with_parent)
        try:
            self.url = self._wait_ready(out_path, timeout=30.0)
            self._ps = psutil.Process(self.proc.pid)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_ready(self, out_path: Path, timeout: float) -> str:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        marker = b"simulator listening on "
        while time.monotonic() < deadline:
            text = out_path.read_bytes()
            if marker in text:
                return text.split(marker, 1)[1].split(b"\n", 1)[0].strip().decode()
            if self.proc.poll() is not None:
                raise RuntimeError(f"the simulator exited with {self.proc.returncode}; see "
                                   f"{LOGS / (self.name + '.sim.err')}")
            time.sleep(0.02)
        raise RuntimeError(f"the simulator did not say it was listening within {timeout:g}s")

    def stats(self) -> dict[str, Any]:
        return http_json(self.url + "/_sim/stats")

    def reset(self) -> None:
        http_json(self.url + "/_sim/reset", method="POST")

    def cpu_seconds(self) -> float:
        assert self._ps is not None
        times = self._ps.cpu_times()
        return float(times.user + times.system)

    def rss_bytes(self) -> int:
        assert self._ps is not None
        return int(self._ps.memory_info().rss)

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# -- one measured child process ----------------------------------------------------------


@dataclass
class Measured:
    command: list[str]
    exit_code: int
    wall_s: float
    user_s: float
    sys_s: float
    ru_maxrss_bytes: int
    hwm_sampled_bytes: int         # VmHWM from /proc, the last sample before exit
    rss_sampled_bytes: int         # the largest VmRSS sample
    harness_hwm_bytes: int         # our own high-water mark when the child started
    samples: int
    timed_out: bool = False
    rss_series: list[tuple[float, int]] = field(default_factory=list)  # (s, kB), ~1 a second

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    @property
    def peak_rss_bytes(self) -> int:
        """``ru_maxrss`` when it can only be the child's own; otherwise the sampled
        VmHWM (see the module docstring)."""
        if self.ru_maxrss_bytes > self.harness_hwm_bytes * 1.05:
            return self.ru_maxrss_bytes
        return self.hwm_sampled_bytes

    @property
    def peak_rss_source(self) -> str:
        if self.ru_maxrss_bytes > self.harness_hwm_bytes * 1.05:
            return "ru_maxrss"
        return "VmHWM sample"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(cpu_s=self.cpu_s, peak_rss_bytes=self.peak_rss_bytes,
                   peak_rss_source=self.peak_rss_source)
        return out


def _proc_status_kb(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) in kB; (0, 0) once the process is gone or a zombie."""
    hwm = rss = 0
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    hwm = int(line.split()[1])
                elif line.startswith(b"VmRSS:"):
                    rss = int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return hwm, rss


def run_measured(command: list[str], *, timeout: float, env: dict[str, str] | None = None,
                 log_name: str = "child", cwd: Path = REPO) -> Measured:
    """Run ``command`` to completion (killed past ``timeout``), sampling its memory
    every 50 ms, and reap it with ``wait4`` for its CPU times and ``ru_maxrss``.
    ``cwd``: where it runs (``python -m bulkupdate`` imports the package there first)."""
    LOGS.mkdir(parents=True, exist_ok=True)
    harness_hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with (LOGS / f"{log_name}.out").open("wb") as out, \
            (LOGS / f"{log_name}.err").open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                env=env, cwd=cwd)
    pid = proc.pid
    hwm = rss_peak = samples = 0
    series: list[tuple[float, int]] = []
    timed_out = False
    deadline = started + timeout
    try:
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                wall = time.perf_counter() - started
                break
            h, r = _proc_status_kb(pid)
            if h:
                hwm, rss_peak, samples = max(hwm, h), max(rss_peak, r), samples + 1
                elapsed = time.perf_counter() - started
                if not series or elapsed - series[-1][0] >= 1.0:
                    series.append((round(elapsed, 2), r))
            if time.perf_counter() > deadline and not timed_out:
                timed_out = True
                proc.send_signal(signal.SIGTERM)   # the client drains and exits 130
                deadline += 15.0
            elif time.perf_counter() > deadline:
                proc.kill()
            time.sleep(SAMPLE_EVERY)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(ChildProcessError):
            os.wait4(pid, 0)
        proc.returncode = -9
        raise
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait again
    return Measured(command=command, exit_code=proc.returncode, wall_s=wall,
                    user_s=usage.ru_utime, sys_s=usage.ru_stime,
                    ru_maxrss_bytes=usage.ru_maxrss * 1024, hwm_sampled_bytes=hwm * 1024,
                    rss_sampled_bytes=rss_peak * 1024, harness_hwm_bytes=harness_hwm,
                    samples=samples, timed_out=timed_out, rss_series=series)


# -- one bulkupdate run ------------------------------------------------------------------


@dataclass
class ClientRun:
    scenario: str
    records: int
    rate: str
    concurrency: int
    batch_size: int
    measured: Measured
    summary: dict[str, Any]
    server: dict[str, Any] = field(default_factory=dict)
    source: str = ""            # source_fingerprint() when the client started; "*" = changed

    @property
    def requests(self) -> int:
        return int(self.summary.get("requests") or 0)

    @property
    def sent(self) -> int:
        """Records sent: every record of these inputs is valid."""
        return self.records - int(self.summary.get("outcomes", {}).get("invalid", 0))

    @property
    def in_run_s(self) -> float:
        """The client's own ``duration_s``: from the run's start (after imports and
        the ledger's creation) to the last answer; no interpreter start, no summary."""
        return float(self.summary.get("duration_s") or 0.0)


def client_command(input_path: Path, url: str, *, rate: str, concurrency: int,
                   batch_size: int, run_dir: Path, extra: tuple[str, ...] = ()) -> list[str]:
    return [PYTHON, "-m", "bulkupdate", "run", str(input_path), "--base-url", url,
            "--rate", rate, "--concurrency", str(concurrency), "--batch-size",
            str(batch_size), "--run-dir", str(run_dir), "--no-progress", *extra]


def run_client(scenario: str, input_path: Path, records: int, sim: Simulator, *, rate: str,
               concurrency: int, batch_size: int = 50, timeout: float,
               extra: tuple[str, ...] = ()) -> ClientRun:
    """``bulkupdate run`` as a user runs it, against ``sim``, measured; ``extra``:
    more of the client's flags."""
    run_dir = fresh_dir(RUNS / scenario)
    command = client_command(input_path, sim.url, rate=rate, concurrency=concurrency,
                             batch_size=batch_size, run_dir=run_dir, extra=extra)
    sim.reset()
    before = sim.stats()
    server_cpu0 = sim.cpu_seconds()
    source = source_fingerprint()
    measured = run_measured(command, timeout=timeout, env=client_env(),
                            log_name=f"{scenario}.client")
    if source_fingerprint() != source:
        source += "*"   # edited while running: the client imported lazily, mixed code

    server_cpu = sim.cpu_seconds() - server_cpu0
    after = sim.stats()
    try:
        summary = orjson.loads((run_dir / "summary.json").read_bytes())
    except FileNotFoundError:
        summary = {}
    server = {
        "cpu_s": server_cpu,
        "rss_bytes": sim.rss_bytes(),
        "requests": after["requests"] - before["requests"],
        "status_counts": after["status_counts"],
        "max_window": after["max_window"],
        "max_in_flight": after["max_in_flight"],
        "overlap_violations": after["overlap_violations"],
        "faults": after.get("faults", {}),
        "command": sim.command,
    }
    return ClientRun(scenario, records, rate, concurrency, batch_size, measured, summary,
                     server, source)


# -- the machine ---------------------------------------------------------------------------


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _git_revision() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                             capture_output=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "bulkupdate"], cwd=REPO,
                               text=True, capture_output=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (rev or "unknown") + (" + uncommitted changes in bulkupdate/" if dirty else "")


def machine_info() -> dict[str, Any]:
    return {
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "bulkupdate": _version("bulkupdate"),
        "aiohttp": _version("aiohttp"),
        "orjson": _version("orjson"),
        "uvloop": _version("uvloop"),
        "aiolimiter": _version("aiolimiter"),
        "psutil": _version("psutil"),
        "git": _git_revision(),
        "bulkupdate source sha256 (start)": source_fingerprint(),
    }
