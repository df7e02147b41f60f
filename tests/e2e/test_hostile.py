"""Bad invocations and hostile files, as a new user and as an attacker would try
them: each ends in its documented exit code and one line on stderr, never a
traceback, and nothing reaches the (real) simulator."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from bulkupdate.simulator import RunningSim, SimConfig, write_sample
from tests.helpers import cli, cli_env, results, simulator

WORLD = SimConfig(customers=20_000)


@dataclass
class Ctx:
    tmp: Path
    sim: RunningSim
    good: Path          # a small valid input
    aborted: Path       # a run aborted by a 401 before anything was applied: resumable

    def run(self, *extra: str, input_path: Path | None = None) -> list[str]:
        return ["run", str(input_path or self.good), "--base-url", self.sim.base_url,
                "--run-dir", str(self.tmp / "new-run"), *extra]

    def resume_copy(self, change: Callable[[Path], None]) -> list[str]:
        copy = self.tmp / "copy"
        shutil.copytree(self.aborted, copy)
        change(copy)
        return ["resume", str(copy), "--base-url", self.sim.base_url]


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSim]:
    with simulator() as running:
        yield running


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("base")
    good = root / "good.jsonl"
    write_sample(good, WORLD, 40)
    aborted = root / "aborted"
    with simulator(fail_auth=True) as bad:
        proc = cli("run", str(good), "--base-url", bad.base_url, "--run-dir", str(aborted),
                   "--concurrency", "1")
    assert proc.returncode == 3, proc.stderr
    return good, aborted


@pytest.fixture
def ctx(tmp_path: Path, sim: RunningSim, base: tuple[Path, Path]) -> Ctx:
    return Ctx(tmp_path, sim, *base)


def _write(path: Path, data: bytes | str, mode: int = 0o600) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    path.chmod(mode)
    return path


def _config(c: Ctx, text: str) -> list[str]:
    return c.run("--config", str(_write(c.tmp / "c.toml", text)))


def _creds(c: Ctx, text: str, mode: int = 0o600) -> list[str]:
    _write(c.tmp / "creds.toml", text, mode)
    return _config(c, 'credentials_file = "creds.toml"\n')


def _gz(c: Ctx, cut: float | None = None, header: bool = False) -> list[str]:
    data = gzip.compress(c.good.read_bytes() * 20)
    if cut is not None:
        data = data[:int(len(data) * cut)]
    if header:
        data = data[:3] + b"\xff\xff" + data[5:10] + b"\x00garbage" + data[18:]
    return c.run(input_path=_write(c.tmp / "in.jsonl.gz", data))


def _append(name: str, data: bytes) -> Callable[[Path], None]:
    def change(run_dir: Path) -> None:
        with (run_dir / name).open("ab") as fh:
            fh.write(data)
    return change


def _replace(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda run_dir: (run_dir / name).write_bytes(data)


def _manifest_without(key: str) -> Callable[[Path], None]:
    def change(run_dir: Path) -> None:
        manifest = orjson.loads((run_dir / "manifest.json").read_bytes())
        del manifest[key]
        (run_dir / "manifest.json").write_bytes(orjson.dumps(manifest))
    return change


def _plant_symlink(victim: Path) -> Callable[[Path], None]:
    def change(run_dir: Path) -> None:
        (run_dir / "results.jsonl").unlink(missing_ok=True)
        (run_dir / "results.jsonl").symlink_to(victim)
    return change


def _foreign_dir(c: Ctx) -> list[str]:
    (c.tmp / "new-run").mkdir()
    _write(c.tmp / "new-run" / "thesis.tex", "precious")
    return c.run()


def _symlinked_dir(c: Ctx) -> list[str]:
    (c.tmp / "elsewhere").mkdir()
    (c.tmp / "new-run").symlink_to(c.tmp / "elsewhere")
    return c.run()


OK_RESULT = b'{"line":1,"outcome":"invalid","field":"x","error":"x","attempts":0}\n'

# name -> (how to set it up, extra environment, expected exit code, stderr must contain)
CASES: dict[str, tuple[Callable[[Ctx], list[str]], dict[str, str], int, str]] = {
    "rate inf": (lambda c: c.run("--rate", "inf/s"), {}, 2, "rate 'inf/s'"),
    "rate nan": (lambda c: c.run("--rate", "nan"), {}, 2, "rate 'nan'"),
    "rate 1e309": (lambda c: c.run("--rate", "1e309/s"), {}, 2, "rate '1e309/s'"),
    "rate huge": (lambda c: c.run("--rate", "1e300/s"), {}, 2, "at most"),
    "timeout inf": (lambda c: c.run("--timeout", "inf"), {}, 2, "--timeout inf"),
    "timeout nan": (lambda c: c.run("--timeout", "nan"), {}, 2, "--timeout nan"),
    "concurrency huge": (lambda c: c.run("--concurrency", "100000000"), {}, 2,
                         "--concurrency 100000000"),
    "concurrency float": (lambda c: c.run("--concurrency", "2.5"), {}, 2, "an integer"),
    "batch over 50": (lambda c: c.run("--batch-size", "51"), {}, 2, "1 to 50"),
    "window env": (lambda c: c.run(), {"BULKUPDATE_WINDOW": "-5"}, 2, "BULKUPDATE_WINDOW"),
    "budget env nan": (lambda c: c.run(), {"BULKUPDATE_RETRY_BUDGET": "nan"}, 2,
                       "BULKUPDATE_RETRY_BUDGET"),
    "toml bool": (lambda c: _config(c, "concurrency = true\n"), {}, 2, "concurrency = True"),
    "toml float batch": (lambda c: _config(c, "batch_size = 50.5\n"), {}, 2, "batch_size"),
    "toml nan": (lambda c: _config(c, "timeout = nan\n"), {}, 2, "timeout"),
    "config is a dir": (lambda c: c.run("--config", str(c.tmp)), {}, 2, "is a directory"),
    "config not utf-8": (lambda c: _config(c, b"rate = '\xff\xfe'\n"), {}, 2, "not UTF-8"),
    "config not toml": (lambda c: _config(c, "rate = [\n"), {}, 2, "not valid TOML"),
    "password list": (lambda c: _creds(c, 'username = "u"\npassword = ["x"]\n'),
                      {"CAPILLARY_USERNAME": "", "CAPILLARY_PASSWORD": ""}, 2,
                      "password must be a string"),
    "credentials readable": (lambda c: _creds(c, 'username = "u"\npassword = "p"\n', 0o644),
                             {}, 2, "chmod 600"),
    "url with password": (lambda c: c.run("--base-url", "http://user:pw@127.0.0.1:9"), {}, 2,
                          "user info"),
    "url with query": (lambda c: c.run("--base-url", "http://127.0.0.1:9/?a=1"), {}, 2,
                       "query"),
    "run-dir is a file": (lambda c: c.run("--run-dir", str(c.good)), {}, 2, "not a directory"),
    "run-dir symlink": (_symlinked_dir, {}, 2, "symbolic link"),
    "run-dir foreign": (_foreign_dir, {}, 2, "not empty and not a run directory"),
    "input is a dir": (lambda c: c.run(input_path=c.tmp), {}, 2, "not a file"),
    "gz truncated": (lambda c: _gz(c, cut=0.7), {}, 2, "damaged gzip"),
    "gz bad header": (lambda c: _gz(c, header=True), {}, 2, "damaged gzip"),
    "csv header too long": (lambda c: c.run(input_path=_write(
        c.tmp / "x.csv", "a" * (2 << 20) + "\n1\n")), {}, 2, "header line is too long"),
    "resume missing": (lambda c: ["resume", str(c.tmp / "nope")], {}, 2, "not a run directory"),
    "manifest garbage": (lambda c: c.resume_copy(_replace("manifest.json", b"\x00garbage")),
                         {}, 2, "manifest.json: not valid JSON"),
    "manifest no input": (lambda c: c.resume_copy(_manifest_without("input")), {}, 2,
                          "'input' is missing"),
    "manifest no settings": (lambda c: c.resume_copy(_manifest_without("settings")), {}, 2,
                             "'settings' is missing"),
    "line -1072": (lambda c: c.resume_copy(_append("results.jsonl", OK_RESULT.replace(
        b'"line":1', b'"line":-1072'))), {}, 2, "line -1072 is not a line of the input"),
    "line 1e10": (lambda c: c.resume_copy(_append("results.jsonl", OK_RESULT.replace(
        b'"line":1', b'"line":1e10'))), {}, 2, "line 10000000000.0 is not a line"),
    "unknown outcome": (lambda c: c.resume_copy(_append("results.jsonl", OK_RESULT.replace(
        b'"invalid"', b'"fine"'))), {}, 2, "unknown outcome 'fine'"),
    "sent garbage": (lambda c: c.resume_copy(_append("sent.jsonl", b'{"req":"x","lines":[0]}\n')),
                     {}, 2, "sent.jsonl line"),
    "results symlink": (lambda c: c.resume_copy(_plant_symlink(c.good)), {}, 2,
                        "symbolic link"),
    "report garbage": (lambda c: ["report", c.resume_copy(
        _replace("manifest.json", b"[]"))[1]], {}, 2, "not a JSON object"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_invocation_is_one_line_exit_2_and_sends_nothing(name: str, ctx: Ctx) -> None:
    setup, env, code, message = CASES[name]
    good_before = ctx.good.read_bytes()
    args = setup(ctx)
    before = ctx.sim.stats()["requests"]
    proc = cli(*args, env=cli_env(**env))
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "pw@" not in proc.stderr
    assert ctx.sim.stats()["requests"] == before
    # Nothing half-created, nothing planted written through.
    if args[0] == "run" and name not in ("run-dir foreign", "run-dir symlink"):
        assert not (ctx.tmp / "new-run").exists()
    assert ctx.good.read_bytes() == good_before


def test_foreign_directory_is_left_as_it_was(ctx: Ctx) -> None:
    args = _foreign_dir(ctx)
    assert cli(*args).returncode == 2
    assert os.listdir(ctx.tmp / "new-run") == ["thesis.tex"]


def hostile_lines(n: int) -> Iterator[bytes]:
    """Every kind of damage, round and round, with valid records among them."""
    valid = (b'{"customer": {"id": %d}, "partnerProgramUpdates": [{"partnerProgramName": '
             b'"SPP_1", "updateType": "RENEW", "updateDetails": {"updatedTierName": "Plus"}}]}')
    kinds = [
        lambda i: valid % (100000 + i),
        lambda i: (valid % (100000 + i)) + b"\r",                      # CRLF
        lambda i: b"\x00" * 5,
        lambda i: b'{"customer": {"id": 1}\x00}',
        lambda i: b"\xef\xbb\xbf" + valid % (100000 + i),              # a BOM mid-file
        lambda i: b'{"customer": {"id": NaN}, "partnerProgramUpdates": []}',
        lambda i: b"[" * 5000 + b"]" * 5000,                          # deep nesting
        lambda i: b'{"customer": {"id": 1' + b"0" * 400 + b'}}',      # huge number
        lambda i: b'{"customer": {"id": 1e400}}',
        lambda i: b'{"customer": {"mobile": "\xff\xfe\xfd"}}',        # not UTF-8
        lambda i: b'{"customer": {"id": "\xc2\xb2"}, "partnerProgramUpdates": [{}]}',
        lambda i: b'"just a string"',
        lambda i: b"{" + b'"a":1,' * 2000 + b'"b":2}',
        lambda i: b'{"customer": {"id": -1}, "ref": 5}',
        lambda i: b"\t \x0b",                                          # blank or not?
        lambda i: b"   ",                                              # blank: no result
        lambda i: b"\xed\xa0\x80",                                     # a lone surrogate
    ]
    for i in range(n):
        yield kinds[i % len(kinds)](i)
    yield b"x" * ((1 << 20) + 10)                                       # too long
    yield b'{"customer": "' + b"y" * (3 << 20) + b'"}'                  # much too long


def test_hostile_lines_give_one_result_each_in_validate_and_run(tmp_path: Path,
                                                                sim: RunningSim) -> None:
    src = tmp_path / "hostile.jsonl"
    with src.open("wb") as out:
        for raw in hostile_lines(20_000):
            out.write(raw + b"\n")
    records = sum(1 for raw in src.read_bytes().split(b"\n")[:-1] if raw.strip())
    check = subprocess.run([sys.executable, "-m", "bulkupdate", "validate", "-", "--quiet"],
                           input=src.read_bytes(), capture_output=True, timeout=120)
    assert check.returncode == 1 and b"Traceback" not in check.stderr
    assert check.stderr.startswith(f"{records} records, ".encode())
    proc = cli("run", str(src), "--base-url", sim.base_url, "--rate", "2000/s",
               "--run-dir", str(tmp_path / "r"))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    got = results(tmp_path / "r")
    assert len(got) == records
    long_lines = [got[n] for n in sorted(got)[-2:]]
    assert all(r["outcome"] == "invalid" and r["field"] == "line" for r in long_lines)
    assert any(r["outcome"] == "ok" for r in got.values())


def test_csv_with_bom_long_field_and_odd_digit(tmp_path: Path, sim: RunningSim) -> None:
    header = "id,partnerProgramName,updateType,updatedTierName\n"
    rows = [
        "100000,SPP_1,RENEW,Plus\n",
        "100001,SPP_1,RENEW," + "x" * (200 << 10) + "\n",      # over the 128 KiB field limit
        "\u00b2,SPP_1,RENEW,Plus\n",                             # an odd digit in id
        "100002,SPP_1,RENEW,Plus,extra\n",                       # more fields than header
        "100003," + "z" * (2 << 20) + "\n",                      # a line too long
        "100004,SPP_1,RENEW,Plus\n",
    ]
    src = tmp_path / "in.csv"
    src.write_bytes(b"\xef\xbb\xbf" + (header + "".join(rows)).encode())
    proc = cli("run", str(src), "--base-url", sim.base_url, "--rate", "500/s",
               "--run-dir", str(tmp_path / "r"))
    assert "Traceback" not in proc.stderr and proc.returncode == 1, proc.stderr
    got = results(tmp_path / "r")
    assert sorted(got) == [2, 3, 4, 5, 6, 7]
    fields = {n: r.get("field") for n, r in got.items() if r["outcome"] == "invalid"}
    assert fields == {3: "csv", 4: "customer.id", 5: "csv", 6: "line"}
    assert got[2]["outcome"] != "invalid" and got[7]["outcome"] != "invalid"


def test_validate_reads_a_pipe_plain_or_gzip(tmp_path: Path, base: tuple[Path, Path]) -> None:
    good, _ = base
    for data in (good.read_bytes(), gzip.compress(good.read_bytes())):
        proc = subprocess.run([sys.executable, "-m", "bulkupdate", "validate", "-", "--quiet"],
                              input=data, capture_output=True, timeout=60)
        assert proc.returncode in (0, 1) and b"Traceback" not in proc.stderr
        records = sum(1 for raw in good.read_bytes().splitlines() if raw.strip())
        assert proc.stderr.startswith(f"{records} records".encode())


def test_damaged_gzip_on_standard_input_leaves_nothing_behind(ctx: Ctx) -> None:
    data = gzip.compress(ctx.good.read_bytes() * 20)
    before = ctx.sim.stats()["requests"]
    proc = subprocess.run(
        [sys.executable, "-m", "bulkupdate", "run", "-", "--base-url", ctx.sim.base_url,
         "--run-dir", str(ctx.tmp / "new-run")], input=data[:len(data) // 2],
        capture_output=True, env=cli_env(), timeout=60)
    assert proc.returncode == 2 and b"damaged gzip" in proc.stderr
    assert proc.stderr.count(b"\n") == 1 and b"Traceback" not in proc.stderr
    assert not (ctx.tmp / "new-run").exists()
    assert ctx.sim.stats()["requests"] == before
