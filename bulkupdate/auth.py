"""Authentication headers. Basic: ``base64(username ":" md5_hex(password))``,
Capillary's scheme. OAuth: a token from ``/v3/oauth/token/generate``, renewed
shortly before it expires and once after a 401, with one renewal in flight no
matter how many senders ask.

Secrets live only in this object's memory: never logged, never in the run
directory, never in an exception message.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time

import aiohttp
import orjson

from .answers import NO_ENDPOINT_STATUSES, classify, proxy_refused, untrusted
from .api import TOKEN_HEADER, TOKEN_PATH
from .errors import AuthFailed, Misconfigured, UsageError
from .logs import Logger, null_logger
from .network import read_bounded
from .settings import Credentials

TOKEN_MAX_BYTES = 64 * 1024   # a token answer is a few hundred bytes
RENEW_MARGIN = 0.2   # renew when this fraction of the token's life is left


def basic_header(username: str, password: str) -> str:
    digest = hashlib.md5(password.encode()).hexdigest()  # Capillary's scheme, not ours
    return "Basic " + base64.b64encode(f"{username}:{digest}".encode()).decode()


class Auth:
    def __init__(self, credentials: Credentials, base_url: str, log: Logger | None = None,
                 proxy: str | None = None):
        self._credentials = credentials
        self._log = log if log is not None else null_logger()
        self.proxy = proxy
        self._base_url = base_url.rstrip("/")
        self._token: str | None = None
        self._expires = 0.0
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
        if self._token is None or time.monotonic() >= self._expires:
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
        if self._renewal is None or self._renewal.done():
            self._renewal = asyncio.create_task(self._fetch(session))
        await asyncio.shield(self._renewal)

    def current_token(self) -> str | None:
        return self._token

    async def _fetch(self, session: aiohttp.ClientSession) -> None:
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
        except aiohttp.ClientConnectorCertificateError as exc:
            raise Misconfigured("OAuth token request: "
                                + untrusted(str(exc.certificate_error)).reason) from None
        except aiohttp.ClientHttpProxyError as exc:
            raise Misconfigured("OAuth token request: "
                                + proxy_refused(exc.status).reason) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AuthFailed(f"OAuth token request failed: {type(exc).__name__}") from None
        if 300 <= status < 400 or status in NO_ENDPOINT_STATUSES:
            answer = classify(status, b"", 0, location=location)
            raise Misconfigured(f"OAuth token request: {answer.reason}", status=status)
        if payload is None:
            raise AuthFailed(f"OAuth token answer longer than {TOKEN_MAX_BYTES} bytes")
        if status != 200:
            raise AuthFailed(f"OAuth token request answered HTTP {status}", status=status)
        try:
            data = orjson.loads(payload)["data"]
            token, ttl = str(data["accessToken"]), float(data.get("ttlSeconds", 300))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise AuthFailed("OAuth token answer has no data.accessToken") from None
        self._token = token
        self._expires = time.monotonic() + ttl * (1 - RENEW_MARGIN)
        self._log.info("auth.token", ttl_s=ttl)
