"""auth: Capillary's Basic scheme, and OAuth tokens renewed once however many ask."""

from __future__ import annotations

import asyncio
import base64
import hashlib

import aiohttp
import pytest

from bulkupdate.auth import Auth, basic_header
from bulkupdate.errors import AuthFailed, UsageError
from bulkupdate.settings import Credentials
from bulkupdate.simulator.server import STATE
from tests.conftest import simulator


def test_basic_is_username_and_the_md5_of_the_password() -> None:
    header = basic_header("till", "pw")
    decoded = base64.b64decode(header.split()[1]).decode()
    assert decoded == "till:" + hashlib.md5(b"pw").hexdigest()


def test_no_credentials_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="CAPILLARY_USERNAME"):
        Auth(Credentials(), "http://127.0.0.1:1")


def test_secrets_stay_out_of_reprs() -> None:
    creds = Credentials(client_key="k", client_secret="very-secret")
    assert "very-secret" not in repr(creds) + repr(Auth(creds, "http://127.0.0.1:1"))


async def test_many_senders_share_one_oauth_token() -> None:
    with simulator() as sim:
        creds = Credentials(client_key="demo-key", client_secret="demo-secret")
        auth = Auth(creds, sim.base_url)
        async with aiohttp.ClientSession() as session:
            headers = await asyncio.gather(*(auth.headers(session) for _ in range(20)))
        issued = sim.app[STATE].tokens
    assert len({h["X-CAP-API-OAUTH-TOKEN"] for h in headers}) == 1 and len(issued) == 1


async def test_a_refused_token_request_aborts_the_run() -> None:
    with simulator() as sim:
        auth = Auth(Credentials(client_key="demo-key", client_secret="wrong"), sim.base_url)
        async with aiohttp.ClientSession() as session:
            with pytest.raises(AuthFailed, match="HTTP 401") as caught:
                await auth.headers(session)
    assert "wrong" not in str(caught.value)
