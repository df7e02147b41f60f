"""The network conventions of the ecosystem, as pure helpers: which proxy the
environment names for a URL (``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``, as curl,
requests and pip read them), the TLS context (``ca_bundle``, else OpenSSL's
defaults, which honour ``SSL_CERT_FILE``), a URL fit to be shown, and reading an
answer no further than a bound.

The proxy is resolved here, once, from the environment the caller passes, rather
than by aiohttp's ``trust_env``: that would also read ``~/.netrc`` and attach its
credentials to requests, and it would read the environment deep inside the library.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

import aiohttp


def proxy_from_env(url: str, env: Mapping[str, str]) -> str | None:
    """The proxy the environment names for ``url``, or None (direct)."""
    parts = urlsplit(url)
    scheme, host = parts.scheme, (parts.hostname or "").lower()
    proxy = (env.get(f"{scheme}_proxy") or env.get(f"{scheme.upper()}_PROXY")
             or env.get("all_proxy") or env.get("ALL_PROXY"))
    if not proxy or bypassed(host, env.get("no_proxy") or env.get("NO_PROXY") or ""):
        return None
    return proxy


def bypassed(host: str, no_proxy: str) -> bool:
    """``NO_PROXY``: ``*``, host names (``example.com`` also covers its
    subdomains, a leading dot is allowed), IP addresses and CIDR ranges."""
    for raw in no_proxy.replace(" ", "").lower().split(","):
        if raw.startswith("["):                  # [::1] or [::1]:443
            entry = raw[1:].split("]", 1)[0]
        elif raw.count(":") == 1:                # host:port (one colon: not IPv6)
            entry = raw.split(":", 1)[0]
        else:
            entry = raw
        if not entry:
            continue
        if entry == "*":
            return True
        try:
            if ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False):
                return True
            continue
        except ValueError:
            pass
        name = entry.lstrip(".")
        if host == name or host.endswith("." + name):
            return True
    return False


def ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """Verification always on. With ``ca_bundle``, exactly that bundle is trusted;
    without, OpenSSL's defaults (``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set)."""
    return ssl.create_default_context(cafile=ca_bundle)


def without_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@``: fit for logs."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


async def read_bounded(resp: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The body, or None once it passes ``limit`` bytes: the read stops there and
    leaving the ``async with`` closes the connection, so memory stays bounded."""
    if resp.content_length is not None and resp.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while chunk := await resp.content.readany():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
