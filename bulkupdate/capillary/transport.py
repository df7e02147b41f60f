"""The one way to the API. Every request — update, link, read, token — goes
through :meth:`Transport.request`; what it comes to is a :class:`Reply`.

::

    Client.send (update, link) ─┐
    verify's reads ─────────────┼─> Transport.request ──> Wire.exchange ──> the API
    Auth (token requests) ──────┘     auth header;          one aiohttp session;
                                      a 401 renews the      no redirects, bounded
                                      token once, then      body, proxy, TLS; every
                                      is the caller's       failure → an Answer
                                                            (:func:`failure`)

What a reply *means* for its caller sits on top, pure: :func:`~.answers.classify`
for writes, :func:`~.read.read_answer` for reads, :func:`~.auth.parse_token` for
tokens. A :class:`Reply` with a ``failure`` is one that has no answer to read: a
redirect (never followed: nothing goes to the ``Location``), a body past its
bound, or what happened below HTTP — the one map from an exception to what it
means is :func:`failure`.

:class:`MockWire` stands at the seam below the transport, like httpx's
``MockTransport``: a function from :class:`Request` to :class:`Reply`, so the
engine's own tests can run without a socket.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp

from ..base.network import read_bounded, ssl_context
from ..version import __version__
from .answers import Answer, Kind, no_answer, proxy_refused, redirected, too_long, untrusted

USER_AGENT = f"bulkupdate/{__version__}"
HEADERS = {"Content-Type": "application/json", "Accept": "application/json",
           "User-Agent": USER_AGENT}
NOT_TLS = ("the server does not speak TLS on this port: check --base-url (http:// for a "
           "plain-HTTP server on loopback, or the HTTPS port)")


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    url: str
    headers: Mapping[str, str]
    params: Mapping[str, str] | None = None
    body: bytes | None = None
    limit: int = 16 * 1024 * 1024   # bytes of answer read at most


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer (``status``, ``body``, the two headers anyone reads), or a
    ``failure``: no answer to read, and what that means."""
    status: int | None
    body: bytes = b""
    retry_after: str | None = None
    location: str | None = None
    failure: Answer | None = None


class Signer(Protocol):
    """What the transport needs of :class:`~.auth.Auth`: the header, and a renewal
    of the token a 401 refused (it asks through the transport itself)."""
    @property
    def renewable(self) -> bool: ...
    async def headers(self, sender: Transport) -> dict[str, str]: ...
    def current_token(self) -> str | None: ...
    async def renew(self, sender: Transport, stale: str | None) -> None: ...


class Wire(Protocol):
    """Sends one request as it is: no auth, no retry. Never raises for the network."""
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def exchange(self, request: Request) -> Reply: ...


@dataclass(frozen=True, slots=True)
class Net:
    """What the wire needs of the settings, and nothing more."""
    timeout: float = 30.0
    connections: int = 8
    proxy: str | None = field(default=None, repr=False)   # may carry a password
    ca_bundle: str | None = None


class AiohttpWire:
    """One aiohttp session: redirects never followed, through the proxy if any,
    TLS verified against ``ca_bundle`` or the system's CAs, no answer read past
    the request's ``limit``."""

    def __init__(self, net: Net) -> None:
        self._net = net
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        net = self._net
        connector = aiohttp.TCPConnector(limit=net.connections, enable_cleanup_closed=True,
                                         ssl=ssl_context(net.ca_bundle))
        self._session = aiohttp.ClientSession(
            connector=connector, headers=HEADERS, skip_auto_headers=("Accept-Encoding",),
            timeout=aiohttp.ClientTimeout(total=net.timeout, connect=min(net.timeout, 10.0)))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def exchange(self, request: Request) -> Reply:
        assert self._session is not None, "the wire is used outside 'async with'"
        try:
            async with self._session.request(
                    request.method, request.url, params=request.params, data=request.body,
                    headers=request.headers, allow_redirects=False,
                    proxy=self._net.proxy) as resp:
                location = resp.headers.get("Location")
                if 300 <= resp.status < 400:   # whatever its body: not ours to read
                    return Reply(resp.status, location=location,
                                 failure=redirected(resp.status, location))
                body = await read_bounded(resp, request.limit)
                if body is None:
                    return Reply(resp.status, failure=too_long(resp.status, request.limit))
                return Reply(resp.status, body, resp.headers.get("Retry-After"), location)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Reply(None, failure=failure(exc))


def failure(exc: aiohttp.ClientError | TimeoutError) -> Answer:
    """What a request that failed below HTTP means: the one map from an exception
    to an outcome. A certificate or a proxy that refuses is fatal (waiting will
    not change it); the rest is transient, of unknown fate once it may have left."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return untrusted(_short(exc.certificate_error))
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return proxy_refused(exc.status)
    if isinstance(exc, aiohttp.ClientConnectorError):
        if _plain_port(exc):
            return Answer(Kind.FATAL, None, NOT_TLS)
        return no_answer(f"cannot connect: {_short(exc)}", sent=False)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return no_answer("connect timed out", sent=False)
    if isinstance(exc, TimeoutError):
        return no_answer("timed out waiting for the answer", sent=True)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return no_answer(f"broken response body: {_short(exc)}", sent=True)
    return no_answer(f"connection lost: {_short(exc)}", sent=True)


class Transport:
    """The API root, its credentials and a wire: ``request(method, path)``."""

    def __init__(self, base_url: str, auth: Signer, wire: Wire,
                 max_bytes: int = 16 * 1024 * 1024) -> None:
        self.root = base_url.rstrip("/")
        self.auth = auth
        self._wire = wire
        self._max_bytes = max_bytes

    async def __aenter__(self) -> Transport:
        await self._wire.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._wire.close()

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                      body: bytes | None = None, authed: bool = True,
                      limit: int | None = None) -> Reply:
        """One request to ``path`` under the API root. ``authed``: with the auth
        header, and a 401 under OAuth renews the token (one renewal however many
        ask) and tries once more; a second 401 is the caller's to judge (fatal)."""
        url = self.root + path
        limit = self._max_bytes if limit is None else limit
        if not authed:
            return await self._wire.exchange(Request(method, url, {}, params, body, limit))
        headers = await self.auth.headers(self)
        token = self.auth.current_token()
        reply = await self._wire.exchange(Request(method, url, headers, params, body, limit))
        if reply.status == 401 and self.auth.renewable:
            await self.auth.renew(self, stale=token)
            headers = await self.auth.headers(self)
            reply = await self._wire.exchange(Request(method, url, headers, params, body, limit))
        return reply


Handler = Callable[[Request], Awaitable[Reply] | Reply]


class MockWire:
    """A wire that answers with ``handler(request)`` (a :class:`Reply`, or an
    awaitable of one) and keeps every request it was given, in order."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[Request] = []

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def exchange(self, request: Request) -> Reply:
        self.requests.append(request)
        reply = self._handler(request)
        return reply if isinstance(reply, Reply) else await reply


def _plain_port(exc: aiohttp.ClientConnectorError) -> bool:
    """TLS spoken to a plain-HTTP port: the first bytes back are no TLS record.
    Retrying cannot help; the base URL is wrong (https:// for http://, or the port)."""
    text = str(exc).lower()
    return isinstance(exc, aiohttp.ClientSSLError) and any(
        tell in text for tell in ("wrong version number", "record layer failure",
                                  "packet length too long", "unknown protocol"))


def _short(exc: BaseException | str) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 200 else text[:197] + "..."
