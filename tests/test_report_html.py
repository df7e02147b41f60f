"""report_html.py / report_svg.py: the time series stays small and honest."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bulkupdate.report.html import _downsample, _timeline
from bulkupdate.report.svg import chart, nice_step


def point(t: float, session: int = 1, dt: float = 5.0, **kw: float) -> dict:
    return {"t": t, "dt": dt, "session": session, "done": 0, "results": 10, "requests": 2,
            "throttled_answers": 1, "throttle_pace_ratio": 1.0, "pending": 0, "latency_p50": 0.05,
            "latency_p95": 0.1, **kw}


def test_downsample_keeps_totals_and_sessions_apart() -> None:
    points = [{**point(5.0 * i), "_p50": [0.05]} for i in range(1000)]
    points += [{**point(5000.0 + 5 * i, session=2, latency_p95=0.3), "_p50": [0.07]}
               for i in range(10)]
    out = _downsample(points, 100)
    assert len(out) <= 110
    assert sum(p["results"] for p in out) == 10 * 1010
    assert sum(p["throttled_answers"] for p in out) == 1010
    assert {p["session"] for p in out[-1:]} == {2}
    assert all(p["session"] == 1 for p in out if p["t"] < 5000)
    assert out[-1]["latency_p95"] == 0.3 and out[-1]["latency_p50"] == 0.07


def test_a_short_last_point_joins_the_one_before(tmp_path: Path) -> None:
    path = tmp_path / "timeline.jsonl"
    path.write_bytes(b"".join(orjson.dumps(p) + b"\n" for p in (
        point(5.0), point(10.0), point(10.4, dt=0.4, results=1), point(15.0, session=2))))
    out = _timeline(path)
    assert [p["dt"] for p in out] == [5.0, pytest.approx(5.4), 5.0]
    assert out[1]["results"] == 11


def test_a_timeline_written_before_the_renames_reads_the_same(tmp_path: Path) -> None:
    path = tmp_path / "timeline.jsonl"
    old = {k: v for k, v in point(5.0).items() if k not in ("throttled_answers",
                                                            "throttle_pace_ratio")}
    path.write_bytes(orjson.dumps({**old, "throttled": 3, "share": 0.5}) + b"\n")
    (p,) = _timeline(path)
    assert p["throttled_answers"] == 3 and p["throttle_pace_ratio"] == 0.5


@pytest.mark.parametrize(("value", "step"), [(0.0, 1.0), (0.3, 0.5), (11, 20), (68.75, 100),
                                             (100, 100), (0.012, 0.02)])
def test_tick_steps_are_round(value: float, step: float) -> None:
    assert nice_step(value) == pytest.approx(step)


def test_chart_is_plain_svg_with_a_break_between_sessions() -> None:
    svg = chart("T", "per s", (0.0, 100.0), lines=[("x", "#000", [
        (10.0, 1.0, 1), (20.0, 2.0, 1), (60.0, 3.0, 2), (70.0, None, 2), (80.0, 4.0, 2)])],
        marks=[(50.0, "session 2")])
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    path = svg.split("<path d='")[1].split("'")[0]
    assert path.count("M") == 3   # new session, and again after the missing value
    assert "session 2" in svg


def test_every_outcome_has_a_colour_and_a_summary_slot() -> None:
    """Outcome is the only list of outcomes: the rest is derived from it."""
    from bulkupdate.capillary.outcomes import Outcome
    from bulkupdate.night.progress import OUTCOMES as WATCHED
    from bulkupdate.report.html import COLORS
    from bulkupdate.rundir.check import OUTCOMES as CHECKED
    from bulkupdate.rundir.summary import OUTCOMES as SUMMED

    assert set(COLORS) == set(Outcome) == CHECKED
    assert WATCHED == SUMMED == tuple(o.value for o in Outcome)


def test_a_small_share_reads_less_than_a_tenth_not_zero() -> None:
    from bulkupdate.report.html import percent

    assert percent(4, 30_000) == "<0.1%"
    assert percent(0, 30_000) == "0.0%"
    assert percent(29_996, 30_000) == ">99.9%"
    assert percent(30_000, 30_000) == "100.0%"
    assert percent(15, 100) == "15.0%"
