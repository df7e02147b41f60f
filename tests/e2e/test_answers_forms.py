"""Answers in the forms the API writes them, through the CLI: the customer as stored
(mobile with its country code, email lower-cased), in another order, or naming
other customers. Exact outcomes, and nobody's update applied twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.helpers import cli, results, simulator

N = 200


def people_as_written(sim: Any, n: int) -> bytes:
    """``n`` customers linked to both programs, named as people write them: a
    10-digit mobile, or an email in mixed case; two program updates each."""
    world = sim.world
    lines = []
    for i in range(world.customers):
        if len(lines) == n:
            break
        if not all(world.link(i, p)[0] for p in ("Apparel-Partner", "Dining-Partner")):
            continue
        ident = world.directory.identity(i)
        customer = ({"mobile": ident["mobile"][2:]} if i % 2 else
                    {"email": ident["email"].replace("user", "User").replace("example", "EXAMPLE")})
        lines.append(orjson.dumps({"ref": f"c{i}", "customer": customer, "partnerProgramUpdates": [
            {"partnerProgramName": "Apparel-Partner", "updateType": "UPGRADE",
             "updateDetails": {"updatedTierName": "Gold"}},
            {"partnerProgramName": "Dining-Partner", "updateType": "RENEW",
             "updateDetails": {"updatedTierName": "Silver"}}]}))
    return b"\n".join(lines) + b"\n"


@pytest.mark.parametrize("dials", [{}, {"answer_form": "echo"}, {"shuffle": True}],
                         ids=["stored", "echo", "shuffled"])
def test_every_answer_form_gives_exact_outcomes_and_applies_each_customer_once(
        tmp_path: Path, dials: dict[str, Any]) -> None:
    with simulator(**dials) as sim:
        src = tmp_path / "in.jsonl"
        src.write_bytes(people_as_written(sim, N))
        proc = cli("run", str(src), "--base-url", sim.base_url, "--rate", "500/s",
                   "--batch-size", "10", "--run-dir", str(tmp_path / "r"))
        stats = sim.stats()
    assert proc.returncode == 0, proc.stderr
    got = results(tmp_path / "r")
    assert sorted(got) == list(range(1, N + 1))
    assert {r["outcome"] for r in got.values()} == {"ok"}
    assert not any(r.get("uncertain") for r in got.values())
    if dials.get("answer_form") != "echo":      # an echo names no id
        assert all(type(r["customerId"]) is int for r in got.values())
    assert stats["processed"] == N // 10
    assert stats["updates_applied"] == 2 * N
    assert stats["most_items_per_customer"] == 1


def test_answers_naming_other_customers_stop_the_run_before_updates_apply_again(
        tmp_path: Path) -> None:
    concurrency = 2
    with simulator(p_others=1.0) as sim:
        src = tmp_path / "in.jsonl"
        src.write_bytes(people_as_written(sim, N))
        proc = cli("run", str(src), "--base-url", sim.base_url, "--rate", "500/s",
                   "--batch-size", "10", "--concurrency", str(concurrency),
                   "--run-dir", str(tmp_path / "r"))
        stats = sim.stats()
    assert proc.returncode == 3, proc.stderr
    message = [line for line in proc.stderr.splitlines() if "do not line up" in line]
    assert message and "stopped so that updates are not applied again" in message[0]
    assert "sent " in message[0] and "answered " in message[0]
    # Three such answers, and what was already in flight; every one of them final.
    assert 3 <= stats["processed"] <= 3 + concurrency
    assert stats["most_items_per_customer"] == 1
    got = results(tmp_path / "r")
    assert len(got) == 10 * stats["processed"]
    for result in got.values():
        assert result["outcome"] == "retryable" and result["uncertain"] is True
        assert "not sent again" in result["error"]
        assert "@example.com" not in result["error"]          # masked
    retry = (tmp_path / "r" / "retry.jsonl").read_bytes().splitlines()
    assert len(retry) == len(got)

    # resume sends only what was never sent: the answered records stay final.
    with simulator() as fresh:
        again = cli("resume", str(tmp_path / "r"), "--base-url", fresh.base_url)
        after = fresh.stats()
    assert again.returncode == 1, again.stderr
    assert after["items"] == N - len(got)
    final = results(tmp_path / "r")
    assert len(final) == N
    assert sum(r["outcome"] == "ok" for r in final.values()) == N - len(got)
