"""Sending one request: one aiohttp session for the run, the auth header, and the
translation of whatever happened into an :class:`~bulkupdate.answers.Answer`.
The pace and the retries are the pipeline's; this module only sends.
"""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp

from .answers import Answer, Kind, classify, no_answer
from .api import ENDPOINT
from .auth import Auth
from .settings import Settings
from .version import __version__

USER_AGENT = f"bulkupdate/{__version__}"


class Client:
    def __init__(self, settings: Settings, auth: Auth) -> None:
        self.url = settings.base_url.rstrip("/") + ENDPOINT
        self._auth = auth
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout,
                                              connect=min(settings.timeout, 10.0))
        self._limit = settings.concurrency
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        connector = aiohttp.TCPConnector(limit=self._limit, enable_cleanup_closed=True)
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
            async with self.session.post(self.url, data=body, headers=headers) as resp:
                payload = await resp.read()
                return classify(resp.status, payload, count, resp.headers.get("Retry-After"),
                                datetime.now(UTC)), token
        except aiohttp.ClientConnectorError as exc:
            return no_answer(f"cannot connect: {_short(exc)}", sent=False), token
        except aiohttp.ConnectionTimeoutError:
            return no_answer("connect timed out", sent=False), token
        except TimeoutError:
            return no_answer("timed out waiting for the answer", sent=True), token
        except aiohttp.ClientPayloadError as exc:
            return no_answer(f"broken response body: {_short(exc)}", sent=True), token
        except aiohttp.ClientError as exc:
            return no_answer(f"connection lost: {_short(exc)}", sent=True), token


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 200 else text[:197] + "..."
