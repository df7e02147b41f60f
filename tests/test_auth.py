"""auth: Capillary's Basic scheme, and OAuth tokens renewed once however many ask."""

from __future__ import annotations

import asyncio
import base64
import hashlib

import pytest

from bulkupdate.base.retry import RetryPolicy
from bulkupdate.capillary.auth import Auth, basic_header, token_refused
from bulkupdate.capillary.transport import AiohttpWire, Net, Transport
from bulkupdate.errors import AuthFailed, UsageError
from bulkupdate.settings import Credentials
from bulkupdate.simulator.server import STATE
from tests.helpers import simulator


def transport(url: str, auth: Auth) -> Transport:
    return Transport(url, auth, AiohttpWire(Net()))


def test_basic_is_username_and_the_md5_of_the_password() -> None:
    header = basic_header("till", "pw")
    decoded = base64.b64decode(header.split()[1]).decode()
    assert decoded == "till:" + hashlib.md5(b"pw").hexdigest()


def test_no_credentials_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="CAPILLARY_USERNAME"):
        Auth(Credentials())


def test_secrets_stay_out_of_reprs() -> None:
    creds = Credentials(client_key="k", client_secret="very-secret")
    assert "very-secret" not in repr(creds) + repr(Auth(creds))


async def test_many_senders_share_one_oauth_token() -> None:
    with simulator() as sim:
        creds = Credentials(client_key="demo-key", client_secret="demo-secret")
        auth = Auth(creds)
        async with transport(sim.base_url, auth) as session:
            headers = await asyncio.gather(*(auth.headers(session) for _ in range(20)))
        issued = sim.app[STATE].tokens
    assert len({h["X-CAP-API-OAUTH-TOKEN"] for h in headers}) == 1 and len(issued) == 1


async def test_a_refused_token_request_aborts_the_run() -> None:
    with simulator() as sim:
        auth = Auth(Credentials(client_key="demo-key", client_secret="wrong"))
        async with transport(sim.base_url, auth) as session:
            with pytest.raises(AuthFailed, match="HTTP 401") as caught:
                await auth.headers(session)
    assert "wrong" not in str(caught.value)


QUICK = RetryPolicy(base=0.001, cap=0.01, budget=5.0)


async def test_a_token_service_hiccup_is_retried_with_the_senders_waiting() -> None:
    with simulator(token_503=2) as sim:
        auth = Auth(Credentials(client_key="demo-key", client_secret="demo-secret"),
                    retry=QUICK)
        async with transport(sim.base_url, auth) as session:
            headers = await asyncio.gather(*(auth.headers(session) for _ in range(5)))
        stats = sim.stats()
    assert len({h["X-CAP-API-OAUTH-TOKEN"] for h in headers}) == 1
    assert (stats["token_requests"], stats["token_503s"]) == (3, 2)   # one renewal, retried


async def test_a_token_service_down_past_the_budget_aborts() -> None:
    with simulator(token_503=1_000_000) as sim:
        auth = Auth(Credentials(client_key="demo-key", client_secret="demo-secret"),
                    retry=RetryPolicy(base=0.001, cap=0.01, budget=0.05))
        async with transport(sim.base_url, auth) as session:
            with pytest.raises(AuthFailed, match="HTTP 503, still after"):
                await auth.headers(session)


@pytest.mark.parametrize(("status", "refused"), [
    (400, True), (401, True), (403, True), (408, False), (429, False), (500, False),
    (503, False)])
def test_only_a_definite_no_from_the_token_service_is_fatal(status: int, refused: bool) -> None:
    assert token_refused(status) is refused
