"""send: one request against the real simulator → the Answer it means."""

from __future__ import annotations

import socket

import orjson

from bulkupdate.capillary.answers import Kind
from bulkupdate.capillary.auth import Auth
from bulkupdate.capillary.client import Client
from bulkupdate.settings import Credentials
from tests.helpers import CREDS, fast_settings, simulator

ITEM = {"customer": {"id": 100_002}, "partnerProgramUpdates": [
    {"partnerProgramName": "SPP_1", "updateType": "RENEW",
     "updateDetails": {"updatedTierName": "Plus"}}]}
BODY = orjson.dumps({"customersPartnerUpdates": [ITEM]})


async def send_once(url: str, creds: Credentials = CREDS, **kw: object) -> object:
    settings = fast_settings(url, credentials=creds, **kw)
    async with Client(settings, Auth(creds)) as client:
        return await client.send(BODY, 1)


async def test_a_per_item_body_is_a_definite_answer() -> None:
    with simulator() as sim:
        answer = await send_once(sim.base_url)
    assert answer.kind is Kind.DEFINITE and answer.items is not None  # type: ignore[attr-defined]


async def test_wrong_credentials_are_fatal() -> None:
    with simulator() as sim:
        answer = await send_once(sim.base_url, Credentials(username="x", password="y"))
    assert answer.kind is Kind.FATAL and answer.status == 401  # type: ignore[attr-defined]


async def test_nothing_listening_is_unreachable_and_not_applied() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    answer = await send_once(f"http://127.0.0.1:{port}", timeout=2.0)
    assert answer.kind is Kind.TRANSIENT  # type: ignore[attr-defined]
    assert answer.unreachable and not answer.fate_unknown  # type: ignore[attr-defined]


async def test_a_dropped_connection_is_of_unknown_fate() -> None:
    with simulator(p_lost=1.0) as sim:
        answer = await send_once(sim.base_url)
    assert answer.kind is Kind.TRANSIENT and answer.fate_unknown  # type: ignore[attr-defined]
