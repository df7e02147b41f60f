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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import orjson

from ..base.api import TOKEN_HEADER, TOKEN_PATH
from ..base.logs import Logger, null_logger
from ..base.retry import RetryPolicy
from ..errors import AuthFailed, Misconfigured, UsageError
from .answers import NO_ENDPOINT_STATUSES, Kind, classify, parse_retry_after

if TYPE_CHECKING:   # annotations: settings builds on capillary's API facts
    from ..settings import Credentials
    from .transport import Reply

TOKEN_MAX_BYTES = 64 * 1024   # a token answer is a few hundred bytes
RENEW_MARGIN = 0.2   # renew when this fraction of the token's life is left
EXPIRY_MARGIN = 0.05   # ... and stop using it when this much is left (clocks differ)


class Sender(Protocol):
    """The transport, as auth sees it (token requests go without the auth header)."""
    async def request(self, method: str, path: str, *, body: bytes | None = None,
                      authed: bool = True, limit: int | None = None) -> Reply: ...


def basic_header(username: str, password: str) -> str:
    digest = hashlib.md5(password.encode()).hexdigest()  # Capillary's scheme, not ours
    return "Basic " + base64.b64encode(f"{username}:{digest}".encode()).decode()


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    ttl: float


@dataclass(frozen=True, slots=True)
class TokenRetry:
    """No token this time, and asking again may help."""
    reason: str
    retry_after: float | None = None


class Auth:
    def __init__(self, credentials: Credentials, log: Logger | None = None,
                 retry: RetryPolicy | None = None):
        self._credentials = credentials
        self._log = log if log is not None else null_logger()
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

    async def headers(self, sender: Sender) -> dict[str, str]:
        if self._basic is not None:
            return {"Authorization": self._basic}
        now = time.monotonic()
        if self._token is not None and now < self._valid_until:
            if now >= self._expires:
                # Time to renew, but this token still works: renew behind the senders.
                self._start_renewal(sender)
            return {TOKEN_HEADER: self._token}
        await self.renew(sender, stale=self._token)
        assert self._token is not None
        return {TOKEN_HEADER: self._token}

    @property
    def renewable(self) -> bool:
        return self.scheme == "oauth"

    async def renew(self, sender: Sender, stale: str | None) -> None:
        """Get a new token unless someone already replaced ``stale``."""
        if self._token is not None and self._token != stale:
            return
        await asyncio.shield(self._start_renewal(sender, force=True))

    def _start_renewal(self, sender: Sender, force: bool = False) -> asyncio.Task[None]:
        """The one renewal in flight, started if none is. ``force``: the current
        token is refused, so a renewal that only outlives it is not enough."""
        if self._renewal is None or self._renewal.done():
            self._renewal = asyncio.create_task(self._fetch(sender, force=force))
            # One nobody awaits (renewed behind the senders) must not warn when it
            # fails: the next sender to need the token starts another and sees why.
            self._renewal.add_done_callback(_retrieved)
        return self._renewal

    def current_token(self) -> str | None:
        return self._token

    async def _fetch(self, sender: Sender, force: bool = False) -> None:
        """Ask for a token until one comes: a transient answer (429, 5xx, a
        timeout, a dropped connection, a broken body) is retried with backoff and
        ``Retry-After``; it is given up only when the retry budget is spent and no
        usable token is left. A refusal (400, 401, 403) is fatal at once."""
        attempts, waited = 0, 0.0
        valid_until = 0.0 if force else self._valid_until
        body = orjson.dumps({"key": self._credentials.client_key,
                             "secret": self._credentials.client_secret})
        while True:
            attempts += 1
            # Never a redirect: the key and secret go to the configured API only.
            got = parse_token(await sender.request("POST", TOKEN_PATH, body=body, authed=False,
                                                   limit=TOKEN_MAX_BYTES))
            if isinstance(got, Token):
                now = time.monotonic()
                self._token = got.value
                self._expires = now + got.ttl * (1 - RENEW_MARGIN)
                self._valid_until = now + got.ttl * (1 - EXPIRY_MARGIN)
                self._log.info("auth.token", ttl_s=got.ttl)
                return
            delay = self._retry.next_wait(attempts, waited, got.retry_after).delay
            if waited + delay > self._retry.budget and time.monotonic() + delay >= valid_until:
                raise AuthFailed(f"{got.reason}, still after {attempts} attempts in "
                                 f"{waited:.0f}s (retry budget {self._retry.budget:g}s)")
            self._log.warning("auth.retry", reason=got.reason, attempt=attempts,
                              wait_s=round(delay, 3))
            await asyncio.sleep(delay)
            waited += delay


def parse_token(reply: Reply) -> Token | TokenRetry:
    """What one answer of the token service means: a token, or why to ask again.
    Raises when asking again cannot help (a refusal, a redirect, no such endpoint,
    a certificate or a proxy that refuses)."""
    failure = reply.failure
    if failure is not None:
        if failure.kind is Kind.FATAL:
            raise Misconfigured(f"OAuth token request: {failure.reason}", status=failure.status)
        return TokenRetry(f"OAuth token request failed: {failure.reason}")
    status = reply.status or 0
    if status in NO_ENDPOINT_STATUSES:
        answer = classify(status, b"", 0)
        raise Misconfigured(f"OAuth token request: {answer.reason}", status=status)
    if token_refused(status):
        raise AuthFailed(f"OAuth token request answered HTTP {status}", status=status)
    if status != 200:
        wait = parse_retry_after(reply.retry_after) if reply.retry_after else None
        return TokenRetry(f"OAuth token request answered HTTP {status}", wait)
    try:
        data = orjson.loads(reply.body)["data"]
        return Token(str(data["accessToken"]), float(data.get("ttlSeconds", 300)))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return TokenRetry("OAuth token answer has no data.accessToken")


def token_refused(status: int) -> bool:
    """A definite no from the token service (wrong key or secret, a malformed
    request): asking again cannot help. 429 and 5xx are worth another try."""
    return 400 <= status < 500 and status not in (408, 429)


def _retrieved(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()
