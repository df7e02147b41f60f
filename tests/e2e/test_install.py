"""The package as a user installs it for production: built and installed
non-editable into a virtualenv of its own, then its console script run from
another directory — a module left out of the package, or an import that only
works from the source tree, fails here and not on the night.

No network: the wheel is built with this environment's setuptools
(``--no-build-isolation``), and the dependencies come from this environment's
site-packages through a ``.pth`` line. A path named in a ``.pth`` file has no
``.pth`` files of its own read, so the editable install of the checkout there
stays invisible: ``bulkupdate`` can only come from the new virtualenv."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import orjson

from tests.helpers import cli_env, results, simulator

ROOT = Path(__file__).resolve().parents[2]


def install(tmp_path: Path) -> Path:
    """A fresh virtualenv holding bulkupdate, installed from a copy of the source."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "bulkupdate", src / "bulkupdate",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(subprocess.run([env_dir / "bin" / "python", "-c", purelib], capture_output=True,
                               text=True, check=True).stdout.strip())
    (site / "_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(env_dir / "bin" / "python"), "install",
         "--quiet", "--no-deps", "--no-build-isolation", "--no-index", str(src)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return env_dir


def test_installed_console_script_validates_and_runs(tmp_path: Path) -> None:
    env_dir = install(tmp_path)
    script = env_dir / "bin" / "bulkupdate"
    work = tmp_path / "work"     # not the checkout: nothing imports from the source tree
    work.mkdir()
    where = subprocess.run([env_dir / "bin" / "python", "-c",
                            "import bulkupdate; print(bulkupdate.__file__)"],
                           capture_output=True, text=True, cwd=work, check=True).stdout
    assert where.startswith(str(env_dir)), where
    version = subprocess.run([script, "--version"], capture_output=True, text=True, cwd=work)
    assert version.returncode == 0 and version.stdout.startswith("bulkupdate ")

    with simulator() as sim:
        ids = [100_000 + i for i in range(5000) if sim.world.link(i, "SPP_1")[0] is not None][:5]
        records = [{"customer": {"id": i}, "partnerProgramUpdates": [{
            "partnerProgramName": "SPP_1", "updateType": "RENEW",
            "updateDetails": {"updatedTierName": "Plus",
                              "updatedTierExpiryDate": "2031-01-01T00:00:00Z"}}]} for i in ids]
        (work / "tiers.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
        checked = subprocess.run([script, "validate", "tiers.jsonl"], capture_output=True,
                                 text=True, cwd=work, timeout=120)
        assert checked.returncode == 0 and "5 records, 5 valid, 0 invalid" in checked.stderr
        ran = subprocess.run([script, "run", "tiers.jsonl", "--base-url", sim.base_url,
                              "--run-dir", "night"], capture_output=True, text=True, cwd=work,
                             env=cli_env(), timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert [r["outcome"] for r in results(work / "night").values()] == ["ok"] * 5
    report = subprocess.run([script, "report", "night", "--format", "html"],
                            capture_output=True, text=True, cwd=work, timeout=120)
    assert report.returncode == 0 and report.stdout.lstrip().startswith("<!")
