"""transport: one request path for update, link, read and token; one map from a
failure below HTTP to what it means; one renewal after a 401. At the seam, with
:class:`MockWire` standing in for the network."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest
from yarl import URL

from bulkupdate.base.api import TOKEN_HEADER, TOKEN_PATH
from bulkupdate.capillary.answers import Kind, redirected
from bulkupdate.capillary.auth import Auth, Token, TokenRetry, parse_token
from bulkupdate.capillary.client import Client
from bulkupdate.capillary.read import ReadKind, read_answer
from bulkupdate.capillary.transport import MockWire, Reply, Request, Transport, failure
from bulkupdate.errors import AuthFailed, Misconfigured
from bulkupdate.settings import Credentials
from tests.helpers import fast_settings

OAUTH = Credentials(client_key="k", client_secret="s")
ROOT = "http://127.0.0.1:9"


class Server:
    """A token service that numbers its tokens, and an API that accepts only the
    newest (every older one revoked), or none at all (``refuse``)."""

    def __init__(self, *, refuse: bool = False) -> None:
        self.issued = 0
        self.refuse = refuse

    async def __call__(self, request: Request) -> Reply:
        await asyncio.sleep(0)   # let the other senders in: single flight is tested
        if request.url.endswith(TOKEN_PATH):
            self.issued += 1
            return Reply(200, orjson.dumps({"data": {"accessToken": f"t{self.issued}",
                                                     "ttlSeconds": 300}}))
        if self.refuse or request.headers.get(TOKEN_HEADER) != f"t{self.issued}":
            return Reply(401, b'{"errors": [{"code": 401, "message": "Unauthorized"}]}')
        return Reply(200, b'{"data": []}')


async def test_a_401_renews_the_token_once_for_every_sender_and_tries_again() -> None:
    server = Server()
    wire = MockWire(server)
    auth = Auth(OAUTH)
    async with Transport(ROOT, auth, wire) as transport:
        assert (await transport.request("GET", "/read")).status == 200
        server.issued += 1   # a key rotation: the token the client holds is refused
        replies = await asyncio.gather(*(transport.request("GET", "/read") for _ in range(8)))
    assert [r.status for r in replies] == [200] * 8
    assert server.issued == 3   # the first, the rotation's, and one renewal for all eight


async def test_a_second_401_is_the_callers_to_judge() -> None:
    server = Server(refuse=True)
    async with Client(fast_settings(ROOT, credentials=OAUTH), Auth(OAUTH),
                      wire=MockWire(server)) as client:
        answer = await client.send(b"{}", 1)
    assert answer.kind is Kind.FATAL and answer.status == 401
    assert server.issued == 2   # the first token, and one renewal: no loop


async def test_basic_credentials_are_never_renewed() -> None:
    wire = MockWire(lambda request: Reply(401, b""))
    async with Transport(ROOT, Auth(Credentials(username="u", password="p")), wire) as t:
        assert (await t.request("POST", "/update", body=b"{}")).status == 401
    assert len(wire.requests) == 1 and "Authorization" in wire.requests[0].headers


async def test_a_redirect_is_fatal_for_writes_and_reads_alike() -> None:
    wire = MockWire(lambda request: Reply(307, failure=redirected(307, "http://127.0.0.2/")))
    async with Client(fast_settings(ROOT), Auth(Credentials(username="u", password="p")),
                      wire=wire) as client:
        answer = await client.send(b"{}", 1)
        reply = await client.transport.request("GET", "/read")
    assert answer.kind is Kind.FATAL
    assert read_answer(reply, {}).kind is ReadKind.FATAL


INFO = aiohttp.RequestInfo(URL(ROOT), "POST", {}, URL(ROOT))   # type: ignore[arg-type]


@pytest.mark.parametrize(("exc", "kind", "fate_unknown", "unreachable"), [
    (aiohttp.ConnectionTimeoutError(), Kind.TRANSIENT, False, True),
    (TimeoutError(), Kind.TRANSIENT, True, False),
    (aiohttp.ServerDisconnectedError(), Kind.TRANSIENT, True, False),
    (aiohttp.ClientPayloadError("cut"), Kind.TRANSIENT, True, False),
    (aiohttp.ClientHttpProxyError(INFO, (), status=407), Kind.FATAL, False, False),
    (aiohttp.ClientHttpProxyError(INFO, (), status=502), Kind.TRANSIENT, False, True),
])
def test_one_map_from_a_failure_below_http_to_what_it_means(
        exc: Exception, kind: Kind, fate_unknown: bool, unreachable: bool) -> None:
    answer = failure(exc)   # type: ignore[arg-type]
    assert (answer.kind, answer.fate_unknown, answer.unreachable) == (
        kind, fate_unknown, unreachable)


def test_a_read_that_failed_below_http_means_what_a_write_would() -> None:
    lost = Reply(None, failure=failure(aiohttp.ServerDisconnectedError()))
    proxy = Reply(None, failure=failure(aiohttp.ClientHttpProxyError(INFO, (), status=403)))
    assert read_answer(lost, {}).kind is ReadKind.TRANSIENT
    assert read_answer(proxy, {}).kind is ReadKind.FATAL


def test_token_answers() -> None:
    assert parse_token(Reply(200, b'{"data": {"accessToken": "a", "ttlSeconds": 60}}')) \
        == Token("a", 60.0)
    assert parse_token(Reply(503, b"", retry_after="2")) == TokenRetry(
        "OAuth token request answered HTTP 503", 2.0)
    assert isinstance(parse_token(Reply(200, b"{}")), TokenRetry)
    with pytest.raises(AuthFailed):
        parse_token(Reply(401, b""))
    with pytest.raises(Misconfigured):
        parse_token(Reply(404, b""))
    with pytest.raises(Misconfigured, match="proxy refused"):
        parse_token(Reply(None, failure=failure(
            aiohttp.ClientHttpProxyError(INFO, (), status=407))))
