"""Authentication headers. Basic: ``base64(username ":" md5_hex(password))``,
Capillary's scheme. OAuth: a token from ``/v3/oauth/token/generate``, renewed
shortly before it expires and once after a 401, with one renewal in flight no
matter how many senders ask.

The token service has hiccups like any API: a 429, a 5xx, a timeout or a dropped
connection is retried with the run's backoff, ``Retry-After`` honoured, while the
senders wait for that one renewal; a renewal started before expiry runs behind
the senders, who keep the current token while it is valid. Only a refusal (400,
401, 403: wrong key or secret) is fatal at once; a renewal that keeps failing
stops the run when the retry budget is spent and no valid token is left.

Secrets live only in this object's memory: never logged, never in the run
directory, never in an exception message.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from typing import TYPE_CHECKING

import aiohttp
import orjson

from ..errors import AuthFailed, Misconfigured, UsageError
from ..logs import Logger, null_logger
from ..network import read_bounded
from ..retry import RetryPolicy
from .answers import (
    NO_ENDPOINT_STATUSES,
    classify,
    parse_retry_after,
    proxy_refused,
    untrusted,
)
from .api import TOKEN_HEADER, TOKEN_PATH

if TYPE_CHECKING:   # an annotation: settings builds on capillary's API facts
    from ..settings import Credentials

TOKEN_MAX_BYTES = 64 * 1024   # a token answer is a few hundred bytes
RENEW_MARGIN = 0.2   # renew when this fraction of the token's life is left
EXPIRY_MARGIN = 0.05   # ... and stop using it when this much is left (clocks differ)


def basic_header(username: str, password: str) -> str:
    digest = hashlib.md5(password.encode()).hexdigest()  # Capillary's scheme, not ours
    return "Basic " + base64.b64encode(f"{username}:{digest}".encode()).decode()


class Auth:
    def __init__(self, credentials: Credentials, base_url: str, log: Logger | None = None,
                 proxy: str | None = None, retry: RetryPolicy | None = None):
        self._credentials = credentials
        self._log = log if log is not None else null_logger()
        self.proxy = proxy
        self._base_url = base_url.rstrip("/")
        self._token: str | None = None
        self._expires = 0.0         # time to renew
        self._valid_until = 0.0     # the token may be used until then
        self._retry = retry or RetryPolicy()
        self._renewal: asyncio.Task[None] | None = None
        self.scheme = credentials.scheme
        if self.scheme == "none":
            raise UsageError("no credentials: set CAPILLARY_USERNAME and CAPILLARY_PASSWORD "
                             "(Basic) or CAPILLARY_CLIENT_KEY and CAPILLARY_CLIENT_SECRET "
                             "(OAuth), or name a credentials_file in the config")
        self._basic = (basic_header(credentials.username or "", credentials.password or "")
                       if self.scheme == "basic" else None)

    def __repr__(self) -> str:
        return f"Auth(scheme={self.scheme!r})"

    async def headers(self, session: aiohttp.ClientSession) -> dict[str, str]:
        if self._basic is not None:
            return {"Authorization": self._basic}
        now = time.monotonic()
        if self._token is not None and now < self._valid_until:
            if now >= self._expires:
                # Time to renew, but this token still works: renew behind the senders.
                self._start_renewal(session)
            return {TOKEN_HEADER: self._token}
        await self.renew(session, stale=self._token)
        assert self._token is not None
        return {TOKEN_HEADER: self._token}

    @property
    def renewable(self) -> bool:
        return self.scheme == "oauth"

    async def renew(self, session: aiohttp.ClientSession, stale: str | None) -> None:
        """Get a new token unless someone already replaced ``stale``."""
        if self._token is not None and self._token != stale:
            return
        await asyncio.shield(self._start_renewal(session, force=True))

    def _start_renewal(self, session: aiohttp.ClientSession,
                       force: bool = False) -> asyncio.Task[None]:
        """The one renewal in flight, started if none is. ``force``: the current
        token is refused, so a renewal that only outlives it is not enough."""
        if self._renewal is None or self._renewal.done():
            self._renewal = asyncio.create_task(self._fetch(session, force=force))
            # One nobody awaits (renewed behind the senders) must not warn when it
            # fails: the next sender to need the token starts another and sees why.
            self._renewal.add_done_callback(_retrieved)
        return self._renewal

    def current_token(self) -> str | None:
        return self._token

    async def _fetch(self, session: aiohttp.ClientSession, force: bool = False) -> None:
        """Ask for a token until one comes: a transient answer (429, 5xx, a
        timeout, a dropped connection, a broken body) is retried with backoff and
        ``Retry-After``; it is given up only when the retry budget is spent and no
        usable token is left. A refusal (400, 401, 403) is fatal at once."""
        attempts, waited = 0, 0.0
        valid_until = 0.0 if force else self._valid_until
        while True:
            attempts += 1
            failure = await self._attempt(session)
            if failure is None:
                return
            reason, retry_after = failure
            delay = self._retry.backoff(attempts, self._retry.paced(retry_after))
            if waited + delay > self._retry.budget and time.monotonic() + delay >= valid_until:
                raise AuthFailed(f"{reason}, still after {attempts} attempts in "
                                 f"{waited:.0f}s (retry budget {self._retry.budget:g}s)")
            self._log.warning("auth.retry", reason=reason, attempt=attempts,
                              wait_s=round(delay, 3))
            await asyncio.sleep(delay)
            waited += delay

    async def _attempt(self, session: aiohttp.ClientSession) -> tuple[str, float | None] | None:
        """One token request: None when a token came; (why, Retry-After) when it
        is worth asking again; raises when asking again cannot help."""
        body = orjson.dumps({"key": self._credentials.client_key,
                             "secret": self._credentials.client_secret})
        try:
            # Never a redirect: the key and secret go to the configured API only.
            async with session.post(self._base_url + TOKEN_PATH, data=body,
                                    headers={"Content-Type": "application/json"},
                                    allow_redirects=False, proxy=self.proxy) as resp:
                payload = await read_bounded(resp, TOKEN_MAX_BYTES)
                status = resp.status
                location = resp.headers.get("Location")
                retry_after = resp.headers.get("Retry-After")
        except aiohttp.ClientConnectorCertificateError as exc:
            raise Misconfigured("OAuth token request: "
                                + untrusted(str(exc.certificate_error)).reason) from None
        except aiohttp.ClientHttpProxyError as exc:
            raise Misconfigured("OAuth token request: "
                                + proxy_refused(exc.status).reason) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"OAuth token request failed: {type(exc).__name__}", None
        if 300 <= status < 400 or status in NO_ENDPOINT_STATUSES:
            answer = classify(status, b"", 0, location=location)
            raise Misconfigured(f"OAuth token request: {answer.reason}", status=status)
        if token_refused(status):
            raise AuthFailed(f"OAuth token request answered HTTP {status}", status=status)
        wait = parse_retry_after(retry_after) if retry_after else None
        if status != 200:
            return f"OAuth token request answered HTTP {status}", wait
        if payload is None:
            return f"OAuth token answer longer than {TOKEN_MAX_BYTES} bytes", None
        try:
            data = orjson.loads(payload)["data"]
            token, ttl = str(data["accessToken"]), float(data.get("ttlSeconds", 300))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return "OAuth token answer has no data.accessToken", None
        now = time.monotonic()
        self._token = token
        self._expires = now + ttl * (1 - RENEW_MARGIN)
        self._valid_until = now + ttl * (1 - EXPIRY_MARGIN)
        self._log.info("auth.token", ttl_s=ttl)
        return None


def token_refused(status: int) -> bool:
    """A definite no from the token service (wrong key or secret, a malformed
    request): asking again cannot help. 429 and 5xx are worth another try."""
    return 400 <= status < 500 and status not in (408, 429)


def _retrieved(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()
