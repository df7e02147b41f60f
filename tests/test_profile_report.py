"""py-spy's collapsed stacks as ``make profile``'s tables (benchmarks/profile_client.py):
each thread's share, then functions by own and inclusive samples, lines of one
function added up, a recursive function counted once per stack."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load_profile_client() -> ModuleType:
    """The script by its path: benchmarks/ is no package (it imports its ``harness``
    from its own folder, which it puts on sys.path itself)."""
    spec = importlib.util.spec_from_file_location("profile_client",
                                                  BENCHMARKS / "profile_client.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


profile_client = load_profile_client()
SITE = "/x/.venv/lib/python3.11/site-packages"
STACKS = [
    # The event loop's thread: run → Ledger.write (two lines of it) and a recursion.
    f"thread (11): MainThread;run ({SITE}/bulkupdate/cli.py:10);"
    f"Ledger.write ({SITE}/bulkupdate/ledger.py:40) 50",
    f"thread (11): MainThread;run ({SITE}/bulkupdate/cli.py:10);"
    f"Ledger.write ({SITE}/bulkupdate/ledger.py:41) 10",
    f"thread (11): MainThread;run ({SITE}/bulkupdate/cli.py:10);walk (/usr/lib/python3.11/"
    f"json/x.py:5);walk (/usr/lib/python3.11/json/x.py:6) 20",
    "thread (11): MainThread 5",
    # py-spy names a thread only once threading knows it: the same thread, unnamed.
    f"thread (11);<module> ({SITE}/bulkupdate/__init__.py:1) 5",
    # A worker of asyncio.to_thread writing the error files.
    f"thread (12): asyncio_0;Thread.run (/usr/lib/python3.11/threading.py:975);"
    f"write_errors ({SITE}/bulkupdate/errorfile.py:7) 15",
    "",
]
TOTAL = 105


def rows(report: str, title: str) -> list[str]:
    """The lines of the table whose heading has ``title``, below its column names."""
    block = report.split(title, 1)[1].split("\n\n", 1)[0]
    return block.splitlines()[2:]


def test_each_thread_has_its_share_of_all_samples() -> None:
    report = profile_client.collapsed_tables(STACKS, top=10, rate=500)
    assert f"% of all {TOTAL} samples ≈ 0.21 s at 500/s" in report
    # The unnamed stacks of thread 11 are MainThread's.
    assert [r.split() for r in rows(report, "samples by thread")] == [
        ["90", "85.7%", "thread", "(11):", "MainThread"],
        ["15", "14.3%", "thread", "(12):", "asyncio_0"],
    ]


def test_own_samples_add_up_the_lines_of_one_function() -> None:
    report = profile_client.collapsed_tables(STACKS, top=3)
    assert [r.split() for r in rows(report, "by own samples")] == [
        ["60", "57.1%", "60", "57.1%", "bulkupdate/ledger.py(Ledger.write)"],
        ["20", "19.0%", "20", "19.0%", "json/x.py(walk)"],
        ["15", "14.3%", "15", "14.3%", "bulkupdate/errorfile.py(write_errors)"],
    ]


def test_inclusive_counts_a_recursive_function_once_per_stack() -> None:
    report = profile_client.collapsed_tables(STACKS, top=10)
    table = {cells[4]: cells[:4] for cells in
             (r.split(maxsplit=4) for r in rows(report, "by inclusive samples"))}
    assert table["bulkupdate/cli.py(run)"] == ["0", "0.0%", "80", "76.2%"]
    assert table["json/x.py(walk)"] == ["20", "19.0%", "20", "19.0%"]
    assert table["threading.py(Thread.run)"] == ["0", "0.0%", "15", "14.3%"]
    # A sample of a thread in no Python code is its own row, so own adds up to 100 %.
    assert table["(no Python frame)"] == ["5", "4.8%", "5", "4.8%"]


def test_a_worker_thread_has_a_table_of_its_own() -> None:
    """Its functions are in it even when the whole run's top leaves them out."""
    report = profile_client.collapsed_tables(STACKS, top=2)
    assert "write_errors" not in report.split("asyncio_0: top")[0].split("by own")[1]
    assert [r.split()[-1] for r in rows(report, "asyncio_0: top 2 functions")] == [
        "bulkupdate/errorfile.py(write_errors)", "threading.py(Thread.run)"]   # a tie: by name
    assert "MainThread: top" not in report   # the busiest thread: the tables above


def test_a_frame_without_a_line_keeps_its_file() -> None:
    report = profile_client.collapsed_tables(
        ["thread (1): MainThread;<module> (tool.py) 3"], top=5)
    assert rows(report, "by own samples")[0].split()[-1] == "tool.py(<module>)"
