"""Hiccups of the machinery around the API, not of the API itself: a token
service that answers 503 now and then, a run directory whose disk fills up."""

from __future__ import annotations

from pathlib import Path

import orjson

from bulkupdate.simulator import World
from bulkupdate.simulator.config import SimConfig
from tests.conftest import cli, cli_env, results, simulator

KEY, SECRET = "k-1", "oauth-SECRET"


def ok_file(path: Path, count: int) -> list[int]:
    """``count`` renewals of customers linked to SPP_1, one per customer: each
    one ``ok``, and applied once if sent once. Returns the customer ids."""
    world = World(SimConfig(customers=20_000))
    ids = [100_000 + i for i in range(20_000) if world.link(i, "SPP_1")[0] is not None][:count]
    path.write_bytes(b"".join(orjson.dumps({
        "ref": f"r{n}", "customer": {"id": cid}, "partnerProgramUpdates": [{
            "partnerProgramName": "SPP_1", "updateType": "RENEW",
            "updateDetails": {"updatedTierName": "Plus",
                              "updatedTierExpiryDate": "2031-01-01T00:00:00Z"}}]}) + b"\n"
        for n, cid in enumerate(ids)))
    return ids


def oauth_env(**extra: str) -> dict[str, str]:
    env = cli_env(CAPILLARY_CLIENT_KEY=KEY, CAPILLARY_CLIENT_SECRET=SECRET, **extra)
    del env["CAPILLARY_USERNAME"], env["CAPILLARY_PASSWORD"]
    return env


def test_a_night_through_token_503s_ends_ok(tmp_path: Path) -> None:
    ok_file(tmp_path / "in.jsonl", 400)
    # Tokens live 2 s; every one (renewals included) comes after two 503s with
    # Retry-After: 1, honoured up to backoff_cap (0.2 s here): a renewal takes a
    # while, sometimes longer than the token it replaces lives.
    env = oauth_env(BULKUPDATE_BACKOFF_CAP="0.2")
    with simulator(client_key=KEY, client_secret=SECRET, token_ttl=2, token_503=2) as sim:
        proc = cli("run", str(tmp_path / "in.jsonl"), "--base-url", sim.base_url,
                   "--rate", "20/s", "--batch-size", "4", "--run-dir", str(tmp_path / "r"),
                   env=env)
        stats = sim.stats()
    assert proc.returncode == 0, proc.stderr
    got = results(tmp_path / "r")
    assert len(got) == 400 and {r["outcome"] for r in got.values()} == {"ok"}
    assert stats["token_503s"] >= 4 and stats["auth_failures"] == 0   # renewed, retried
    events = (tmp_path / "r" / "events.jsonl").read_text()
    assert events.count('"event":"auth.retry"') == stats["token_503s"]
    assert SECRET not in events


def test_a_refused_token_is_still_fatal_at_once(tmp_path: Path) -> None:
    ok_file(tmp_path / "in.jsonl", 20)
    with simulator(client_key=KEY, client_secret="another") as sim:
        proc = cli("run", str(tmp_path / "in.jsonl"), "--base-url", sim.base_url,
                   "--run-dir", str(tmp_path / "r"), env=oauth_env())
        stats = sim.stats()
    assert proc.returncode == 3, proc.stderr
    assert "HTTP 401" in proc.stderr
    assert stats["token_requests"] == 1 and stats["requests"] == 0
