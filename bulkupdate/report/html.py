"""``bulkupdate report RUN --format html``: the night at a glance, in one file.

Self-contained on purpose: inline CSS and SVG, no script, no font, no image, no
link to anywhere — it is mailed, attached to tickets and opened offline. It
shows aggregates only (no customer identifiers), from the run directory alone:
``manifest.json``, ``summary.json``, one pass over ``results.jsonl`` and the
small ``timeline.jsonl`` the session wrote every few seconds.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from html import escape
from itertools import pairwise
from pathlib import Path
from typing import Any, TextIO

import orjson

from ..base.api import CODE_MEANINGS as API_CODES
from ..capillary.outcomes import Outcome
from ..night.progress import TIMELINE, TIMELINE_EVERY
from ..rundir.errorfile import TO_FIX, described
from ..rundir.manifest import api_of
from ..rundir.readback import read_results
from ..rundir.summary import OLD_SESSION_KEYS, figure, session_figures
from .table import advice
from .verification import html_block

MAX_POINTS = 240        # timeline points drawn per chart, however long the night
# The chart colour of each outcome (every Outcome has one: tests/test_report_html.py).
COLORS = {Outcome.OK: "#2e7d32", Outcome.PARTIAL: "#f9a825", Outcome.REJECTED: "#c62828",
          Outcome.ALREADY: "#00897b",   # the goal held: not red
          Outcome.RETRYABLE: "#6a1b9a", Outcome.INVALID: "#546e7a",
          Outcome.UNCHANGED: "#81c784"}
EXIT_MEANING = {0: ("every record ok, already or unchanged, or only allowed definite failures",
                    "good"),
                1: ("finished; some records are not ok", "warn"),
                3: ("aborted by a fatal API condition: resume it", "bad"),
                130: ("interrupted: resume it", "bad")}
CUSTOMER = "(customer)"   # the row for customer-level codes such as 8015

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1c2430;
margin:0;background:#f4f6f8}
main{max-width:960px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 10px}
.sub{color:#5b6675;margin:0 0 16px;word-break:break-all}
.banner{padding:10px 14px;border-radius:6px;margin:12px 0 20px;font-weight:600}
.good{background:#e3f2e5;color:#1b5e20}.warn{background:#fff4d6;color:#7a5200}
.bad{background:#fde4e4;color:#8e1b1b}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(140px,1fr));gap:10px}
.tile{background:#fff;border-radius:6px;padding:10px 12px;box-shadow:0 1px 2px #0001}
.tile b{display:block;font-size:20px}.tile span{color:#5b6675;font-size:12px}
.card{background:#fff;border-radius:6px;padding:12px 14px;box-shadow:0 1px 2px #0001}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e6e9ee}
th{color:#5b6675;font-weight:600;font-size:12px}td.n{text-align:right;
font-variant-numeric:tabular-nums}
.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
svg{display:block;width:100%;height:auto;margin:6px 0 14px}
svg text{font:11px system-ui,sans-serif;fill:#5b6675}
.muted{color:#5b6675}
"""


def write_html(run_dir: Path, manifest: dict[str, Any], summary: dict[str, Any],
               out: TextIO) -> None:
    by_program, invalid, likely = _scan(run_dir)
    points = _timeline(run_dir / TIMELINE)
    parts = [_head(run_dir, manifest, summary), _tiles(summary, points),
             _outcomes(summary), html_block(run_dir), _charts(points),
             _codes(by_program, likely),
             _invalid(invalid), _errors(run_dir, summary),
             # A killed session timed from its journal, as in summary.json.
             _sessions({"sessions": session_figures(run_dir, manifest.get("sessions") or [])})]
    out.write("<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
              f"<title>bulkupdate: {escape(run_dir.name)}</title><style>{CSS}</style>"
              "</head><body><main>" + "".join(parts) + "</main></body></html>\n")


def _scan(run_dir: Path) -> tuple[Counter[tuple[str, Any]], Counter[str], int]:
    """(program, code) counts, invalid fields, programs noted "by the lost attempt or
    before this run" (already, after an attempt of unknown fate).
    A customer-level code (8015) counts once per customer, under ``(customer)``."""
    by_program: Counter[tuple[str, Any]] = Counter()
    invalid: Counter[str] = Counter()
    likely = 0
    for r in read_results(run_dir):
        if r["outcome"] == "invalid":
            invalid[r.get("field") or "?"] += 1
            continue
        if r["outcome"] == "retryable":
            by_program[(CUSTOMER, "no answer")] += 1
            continue
        customer_code = r.get("code") if r["outcome"] == "rejected" else None
        if customer_code is not None:
            by_program[(CUSTOMER, customer_code)] += 1
        for p in r.get("programs") or ():
            likely += bool(p.get("likely_applied"))
            if p.get("code") is not None and p.get("code") != customer_code:
                by_program[(p.get("partnerProgramName") or "?", p["code"])] += 1
    return by_program, invalid, likely


# One name per figure, as in run.progress and summary.json; older runs' names read too.
OLD_TIMELINE_KEYS = (("throttled", "throttled_answers"), ("share", "throttle_pace_ratio"))


def percent(part: int, whole: int) -> str:
    """``part`` of ``whole`` to a tenth of a percent; a share that is there but
    rounds to nothing reads ``<0.1%`` (4 of 30,000 are not "0.0%"), and one just
    short of all ``>99.9%``."""
    share = 100 * part / whole if whole else 0.0
    if 0 < share < 0.05:
        return "<0.1%"
    if 99.95 <= share < 100:
        return ">99.9%"
    return f"{share:.1f}%"


def _errors(run_dir: Path, summary: dict[str, Any]) -> str:
    """The error file's name and counts (aggregate only: the page is mailed)."""
    errors = described(run_dir, summary.get("outcomes") or {}) if summary else None
    if errors is None:
        return ""
    held = ", ".join(f"{_num(errors[k])} {k}" for k in TO_FIX if errors[k])
    return (f"<h2>To fix and reload</h2><div class=card><p><b>{escape(errors['file'])}</b> "
            f"({escape(held)}): each record's input line with its reason in "
            f"<code>error</code>, ready to edit and run again; the same as CSV in "
            f"<b>{escape(errors['csv'])}</b>.</p></div>")


def _timeline(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    points: list[dict[str, Any]] = []
    for raw in path.read_bytes().splitlines():
        p = orjson.loads(raw) if raw.strip() else None
        if not p or not p.get("dt"):
            continue
        for old, new in OLD_TIMELINE_KEYS:   # a run written before the renames
            if old in p:
                p[new] = p.pop(old)
        last = points[-1] if points else None
        if last is not None and last["session"] == p["session"] \
                and p["dt"] < TIMELINE_EVERY / 2:
            # A session's last point covers only its last moments: as a rate of its
            # own it would draw a spike or a dip that never happened.
            _merge(last, p)
        else:
            points.append({**p, "_p50": [p.get("latency_p50")]})
    return _downsample(points, MAX_POINTS)


def _merge(into: dict[str, Any], p: dict[str, Any]) -> None:
    """Counts add up; latency keeps the worst p95 and collects p50s for the middle."""
    for key in ("dt", "results", "requests", "throttled_answers"):
        into[key] += p[key]
    into.update(t=p["t"], done=p["done"], throttle_pace_ratio=p["throttle_pace_ratio"],
                held=p.get("held"))
    into["_p50"].extend(p.get("_p50") or [p.get("latency_p50")])
    if p.get("latency_p95") is not None:
        into["latency_p95"] = max(into.get("latency_p95") or 0, p["latency_p95"])


def _downsample(points: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Merge neighbours of the same session until at most about ``limit`` remain."""
    step = max(1, -(-len(points) // limit))
    out: list[dict[str, Any]] = []
    for p in points:
        last = out[-1] if out else None
        if last is None or last["session"] != p["session"] or last["_n"] >= step:
            out.append({**p, "_n": 1})
        else:
            _merge(last, p)
            last["_n"] += 1
    for p in out:
        p50 = sorted(v for v in p.pop("_p50") if v is not None)
        p["latency_p50"] = p50[len(p50) // 2] if p50 else None
        del p["_n"]
    return out


def _num(value: Any) -> str:
    if value is None:
        return "&ndash;"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else escape(str(value))


def _head(run_dir: Path, manifest: dict[str, Any], summary: dict[str, Any]) -> str:
    sub = (f"input {escape(str(manifest.get('input')))} · run {escape(run_dir.name)} · "
           f"started {escape(str(manifest.get('started_at')))} · ended "
           f"{escape(str(manifest.get('ended_at') or 'not yet'))}")
    if not summary:
        banner = ("no summary yet: the run has not finished "
                  f"(bulkupdate resume {escape(str(run_dir))})", "warn")
    else:
        code = summary.get("exit_code")
        meaning, tone = EXIT_MEANING.get(code if isinstance(code, int) else -1,
                                         ("unknown", "warn"))
        if not summary.get("complete"):
            meaning, tone = "INCOMPLETE: some records have no result; resume it", "bad"
        shown = "none (the last session was killed)" if code is None else str(code)
        banner = (f"exit {escape(shown)}: {escape(meaning)}", tone)
    title = {"link": "link report", "delink": "delink report"}.get(api_of(manifest),
                                                                    "night report")
    return (f"<h1>bulkupdate {title}</h1><p class=sub>{sub}</p>"
            f"<div class='banner {banner[1]}'>{banner[0]}</div>")


def _tiles(summary: dict[str, Any], points: list[dict[str, Any]]) -> str:
    if not summary:
        return ""
    o = summary["outcomes"]
    records = summary.get("input_records") or 0
    share = percent(o["ok"], records) if records else "&ndash;"
    throttled = figure(summary, "throttled_answers", 0)
    already = o.get("already", 0)
    tiles = [("records", _num(records)), (f"ok ({share})", _num(o["ok"])),
             ("already", _num(already)), ("unchanged", _num(o.get("unchanged", 0))),
             ("not done", _num(records - o["ok"] - already - o.get("unchanged", 0))),
             ("retryable", _num(o["retryable"])),
             ("uncertain", _num(summary.get("uncertain", 0))),
             ("requests", _num(summary.get("requests"))), ("429 answers", _num(throttled)),
             ("duration", _duration(summary.get("duration_s"))),
             ("results/s", _num(figure(summary, "results_per_s"))),
             ("learned limit", escape(summary.get("learned_rate") or "none"))]
    if summary.get("learned_rate"):
        tiles.append(("advised --rate", escape(advice(summary["learned_rate"]))))
    return "<h2>Totals</h2><div class=tiles>" + "".join(
        f"<div class=tile><b>{value}</b><span>{escape(name)}</span></div>"
        for name, value in tiles) + "</div>"


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "&ndash;"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def _outcomes(summary: dict[str, Any]) -> str:
    if not summary:
        return ""
    o = summary["outcomes"]
    total = sum(o.values()) or 1
    x, rects = 0.0, []
    for name in Outcome:
        width = 860 * o.get(name, 0) / total
        if width:
            rects.append(f"<rect x='{x:.1f}' y='0' width='{width:.1f}' height='26' "
                         f"fill='{COLORS[name]}'><title>{name}: {o[name]}</title></rect>")
        x += width
    legend = "".join(f"<span><i style='background:{COLORS[n]}'></i>{n} "
                     f"<b>{_num(o.get(n, 0))}</b> ({escape(percent(o.get(n, 0), total))})</span>"
                     for n in Outcome)
    return ("<h2>Outcomes</h2><div class=card><svg viewBox='0 0 860 26' "
            "role=img aria-label='outcomes'>" + "".join(rects) +
            f"</svg><p class=legend>{legend}</p></div>")


def _codes(by_program: Counter[tuple[str, Any]], likely: int) -> str:
    if not by_program:
        return ""
    rows = "".join(
        f"<tr><td>{escape(str(program))}</td><td>{escape(str(code))}</td>"
        f"<td>{escape(_meaning(code))}</td><td class=n>{count:,}</td></tr>"
        for (program, code), count in sorted(
            by_program.items(), key=lambda kv: (kv[0][0] != CUSTOMER, kv[0][0], -kv[1])))
    note = (f"<p class=muted>{likely} program(s) already as wanted (2005, 2027, 2004) after an "
            "attempt of unknown fate: reached by the lost attempt or before this run (the "
            "code cannot tell which).</p>") if likely else ""
    return ("<h2>API codes by program</h2><div class=card><table><tr><th>program</th>"
            "<th>code</th><th>meaning</th><th>count</th></tr>" + rows + "</table>"
            "<p class=muted>(customer): codes about the customer itself (8015: not found), "
            f"once per customer; no answer: records left retryable.</p>{note}</div>")


def _meaning(code: Any) -> str:
    try:
        return API_CODES.get(int(code), "")
    except (TypeError, ValueError):
        return "no definite answer after every attempt" if code == "no answer" else ""


def _invalid(invalid: Counter[str]) -> str:
    if not invalid:
        return ""
    rows = "".join(f"<tr><td>{escape(field)}</td><td class=n>{count:,}</td></tr>"
                   for field, count in invalid.most_common(15))
    return ("<h2>Invalid records by field</h2><div class=card><table><tr><th>field</th>"
            f"<th>records</th></tr>{rows}</table></div>")


def _sessions(manifest: dict[str, Any]) -> str:
    rows = []
    for n, s in enumerate(manifest.get("sessions") or (), 1):
        changed = ", ".join(f"{k}={v}" for k, v in (s.get("settings_changed") or {}).items())
        rows.append(
            f"<tr><td>{n}</td><td>{escape(str(s.get('started_at')))}</td>"
            f"<td>{escape(str(s.get('ended_at') or 'killed'))}</td>"
            f"<td class=n>{_duration(s.get('duration_s'))}</td>"
            f"<td class=n>{_num(s.get('requests'))}</td><td class=n>{_num(s.get('results'))}</td>"
            f"<td class=n>{_num(figure(s, 'throttled_answers', old=OLD_SESSION_KEYS))}</td>"
            f"<td class=n>{_num(s.get('exit_code'))}</td><td>{escape(changed)}</td></tr>")
    return ("<h2>Sessions</h2><div class=card><table><tr><th>#</th><th>started</th>"
            "<th>ended</th><th>duration</th><th>requests</th><th>results</th><th>429s</th>"
            "<th>exit</th><th>settings changed</th></tr>" + "".join(rows) + "</table></div>")


def _charts(points: list[dict[str, Any]]) -> str:
    if not points:
        return ("<h2>Over time</h2><div class=card><p class=muted>No timeline was recorded "
                "for this run (runs before timeline.jsonl existed).</p></div>")
    from .svg import chart

    span = (points[0]["t"] - points[0]["dt"], points[-1]["t"])
    marks = [(p["t"] - p["dt"], f"session {p['session']}")
             for before, p in pairwise(points)
             if p["session"] != before["session"]]

    def mid(p: dict[str, Any]) -> float:
        return float(p["t"] - p["dt"] / 2)   # a rate belongs to its interval's middle

    def per_s(key: str) -> list[tuple[float, float | None, int]]:
        return [(mid(p), p[key] / p["dt"], p["session"]) for p in points]

    def latency(key: str) -> list[tuple[float, float | None, int]]:
        return [(mid(p), None if p.get(key) is None else 1000 * p[key], p["session"])
                for p in points]

    throughput = chart("Throughput", "results per second", span, marks=marks,
                       lines=[("results/s", "#1565c0", per_s("results"))])
    requests = chart("Requests", "per second", span, marks=marks,
                     lines=[("requests/s", "#546e7a", per_s("requests"))])
    throttled = chart("429 answers", "per minute", span, marks=marks, bars=(
        "#c62828", [(p["t"] - p["dt"], p["t"], 60 * p["throttled_answers"] / p["dt"])
                    for p in points]))
    lat = chart("Request latency", "ms", span, marks=marks, lines=[
        ("p50", "#2e7d32", latency("latency_p50")), ("p95", "#ef6c00", latency("latency_p95"))])
    held = chart("Held customers", "waiting out settle or a backoff", span, marks=marks, lines=[
        ("held", "#6a1b9a", [(p["t"], p.get("held"), p["session"]) for p in points])]
    ) if any(p.get("held") for p in points) else ""
    first = datetime.fromtimestamp(span[0], UTC)
    return (f"<h2>Over time <span class=muted>(UTC, from {first:%Y-%m-%d %H:%M})</span></h2>"
            f"<div class=card>{throughput}{requests}{throttled}{held}{lat}</div>")
