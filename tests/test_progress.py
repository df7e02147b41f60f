"""progress.py's held figure, and the HTML timeline that draws it."""

from __future__ import annotations

from typing import Any

from bulkupdate.report.html import _charts


def point(t: float, **kw: Any) -> dict[str, Any]:
    return {"t": t, "dt": 5.0, "session": 1, "done": 0, "results": 10, "requests": 2,
            "throttled_answers": 0, "throttle_pace_ratio": 1.0, "pending": 0, "latency_p50": 0.05,
            "latency_p95": 0.1, **kw}


def test_the_timeline_draws_held_customers_when_some_were_held() -> None:
    assert "Held customers" in _charts([point(5.0, held=0), point(10.0, held=40)])


def test_no_held_chart_for_a_run_without_holds_or_from_before_the_field() -> None:
    assert "Held customers" not in _charts([point(5.0, held=0), point(10.0, held=0)])
    assert "Held customers" not in _charts([point(5.0), point(10.0)])


def test_a_hidden_bar_starts_no_thread_in_the_callers_process() -> None:
    import subprocess
    import sys

    code = ("import threading\n"
            "from bulkupdate.night.progress import progress_bar\n"
            "bar = progress_bar(10, False)\nbar.update(3)\n"
            "print(threading.active_count())\nbar.close()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "1"     # tqdm's monitor thread is not started for nothing
