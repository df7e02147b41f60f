"""Sending one request: one aiohttp session for the run, the auth header, and the
translation of whatever happened into an :class:`~bulkupdate.capillary.answers.Answer`.
The pace and the retries are the pipeline's; this module only sends.

Every request goes to the configured API and nowhere else: redirects are never
followed (a 3xx is fatal), through the configured proxy if any, with TLS
verified against ``ca_bundle`` or the system's CAs, and no answer is read past
``max_response_bytes``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import aiohttp

from ..network import read_bounded, ssl_context
from ..version import __version__
from .answers import (
    Answer,
    Kind,
    classify,
    no_answer,
    proxy_refused,
    redirected,
    too_long,
    untrusted,
)
from .auth import Auth
from .endpoint import UPDATE, Endpoint

if TYPE_CHECKING:   # an annotation: settings builds on capillary's API facts
    from ..settings import Settings

USER_AGENT = f"bulkupdate/{__version__}"
NOT_TLS = ("the server does not speak TLS on this port: check --base-url (http:// for a "
           "plain-HTTP server on loopback, or the HTTPS port)")


class Client:
    def __init__(self, settings: Settings, auth: Auth, endpoint: Endpoint = UPDATE) -> None:
        self.endpoint = endpoint
        self.url = settings.base_url.rstrip("/") + endpoint.path
        self._auth = auth
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout,
                                              connect=min(settings.timeout, 10.0))
        self._limit = settings.concurrency
        self._max_bytes = settings.max_response_bytes
        self.proxy = settings.proxy
        self._ssl = ssl_context(settings.ca_bundle)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        connector = aiohttp.TCPConnector(limit=self._limit, enable_cleanup_closed=True,
                                         ssl=self._ssl)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout,
            headers={"Content-Type": "application/json", "Accept": "application/json",
                     "User-Agent": USER_AGENT},
            skip_auto_headers=("Accept-Encoding",))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "Client used outside 'async with'"
        return self._session

    async def send(self, body: bytes, count: int) -> Answer:
        """POST one request of ``count`` records; a 401 under OAuth renews the token
        and tries once more before it counts as fatal."""
        answer, token = await self._post(body, count)
        if answer.kind is Kind.FATAL and answer.status == 401 and self._auth.renewable:
            await self._auth.renew(self.session, stale=token)
            answer, _ = await self._post(body, count)
        return answer

    async def _post(self, body: bytes, count: int) -> tuple[Answer, str | None]:
        headers = await self._auth.headers(self.session)
        token = self._auth.current_token()
        try:
            async with self.session.post(self.url, data=body, headers=headers,
                                         allow_redirects=False, proxy=self.proxy) as resp:
                if 300 <= resp.status < 400:   # whatever its body: not ours to read
                    return redirected(resp.status, resp.headers.get("Location")), token
                payload = await read_bounded(resp, self._max_bytes)
                if payload is None:
                    return too_long(resp.status, self._max_bytes), token
                return classify(resp.status, payload, count, resp.headers.get("Retry-After"),
                                datetime.now(UTC), resp.headers.get("Location"),
                                endpoint=self.endpoint), token
        except aiohttp.ClientConnectorCertificateError as exc:
            return untrusted(_short(exc.certificate_error)), token
        except aiohttp.ClientHttpProxyError as exc:
            return proxy_refused(exc.status), token
        except aiohttp.ClientConnectorError as exc:
            if _plain_port(exc):
                return Answer(Kind.FATAL, None, NOT_TLS), token
            return no_answer(f"cannot connect: {_short(exc)}", sent=False), token
        except aiohttp.ConnectionTimeoutError:
            return no_answer("connect timed out", sent=False), token
        except TimeoutError:
            return no_answer("timed out waiting for the answer", sent=True), token
        except aiohttp.ClientPayloadError as exc:
            return no_answer(f"broken response body: {_short(exc)}", sent=True), token
        except aiohttp.ClientError as exc:
            return no_answer(f"connection lost: {_short(exc)}", sent=True), token


def _plain_port(exc: aiohttp.ClientConnectorError) -> bool:
    """TLS spoken to a plain-HTTP port: the first bytes back are no TLS record.
    Retrying cannot help; the base URL is wrong (https:// for http://, or the port)."""
    text = str(exc).lower()
    return isinstance(exc, aiohttp.ClientSSLError) and any(
        tell in text for tell in ("wrong version number", "record layer failure",
                                  "packet length too long", "unknown protocol"))


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 200 else text[:197] + "..."
