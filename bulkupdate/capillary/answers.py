"""What an HTTP answer means for the request that got it. One table, pure.

=========================================  =========  ==========================
answer                                     kind       fate of the sent updates
=========================================  =========  ==========================
body with per-item results (any count)     DEFINITE   processed (any HTTP status);
                                                      items matched by identity
                                                      (:mod:`~bulkupdate.capillary.outcomes`)
2xx object of none of an endpoint's        DEFINITE   processed, naming nobody: as
  several answer shapes (delink)                      an answer that does not line up
401, 403                                   FATAL      not applied
3xx (never followed: nothing goes to the   FATAL      not applied (or unknown)
  Location)
404, 405 without a per-item body           FATAL      not applied (wrong base URL)
TLS certificate not trusted                FATAL      not applied
proxy refused the tunnel (403, 407)        FATAL      not applied
413; errors code 2008 or 1060              SPLIT      not applied
429, 461, 503, 521                         TRANSIENT  not applied (refused early)
500, 502, 504                              TRANSIENT  unknown
2xx/4xx/5xx body that does not parse, or   TRANSIENT  unknown (may have applied)
  a per-item list of non-objects
other 4xx with an errors body              BATCH      not applied: bisect; a single
                                                      record is rejected with it
connection refused / DNS / connect timeout TRANSIENT  not applied (unreachable)
timeout, connection dropped after sending  TRANSIENT  unknown
a body longer than max_response_bytes      TRANSIENT  unknown (read stops there)
=========================================  =========  ==========================

Per item, inside a DEFINITE answer, :data:`~bulkupdate.base.api.NOT_NOW_CODES` mean "not
now" for that record alone (re-sent after a backoff, the customer held).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import orjson

from ..base.api import (
    NO_ENDPOINT_STATUSES,
    NOT_APPLIED_STATUSES,
    SPLIT_CODES,
    THROTTLE_STATUSES,
)
from ..base.endpoint import UPDATE, Endpoint
from ..base.network import without_userinfo

BASE_URL_HINT = "check --base-url: the API root, e.g. https://eu.api.capillarytech.com"


class Kind(enum.Enum):
    DEFINITE = "definite"
    TRANSIENT = "transient"
    FATAL = "fatal"
    SPLIT = "split"
    BATCH = "batch"


@dataclass(frozen=True, slots=True)
class Answer:
    kind: Kind
    status: int | None               # HTTP status, None when no answer came
    reason: str                      # short, for the ledger and logs
    items: list[Any] | None = None   # per-item results when DEFINITE
    code: int | None = None          # API error code when one was given
    retry_after: float | None = None
    fate_unknown: bool = False       # the server may have applied the updates
    unreachable: bool = False        # no connection could be made at all
    throttled: bool = False
    shape: int = 0                   # which of the endpoint's answer shapes the items have


def status_label(status: int | None) -> str:
    """The ``status`` label of a request: its HTTP status, or ``none`` when no
    answer came (timeout, refused or dropped connection)."""
    return "none" if status is None else str(status)


def classify(status: int, body: bytes, sent: int, retry_after: str | None = None,
             now: datetime | None = None, location: str | None = None, *,
             endpoint: Endpoint = UPDATE) -> Answer:
    """HTTP ``status`` and ``body`` for a request of ``sent`` records to
    ``endpoint`` (its per-item results are under its body key)."""
    if 300 <= status < 400:
        return redirected(status, location)
    wait = parse_retry_after(retry_after, now) if retry_after else None
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        data = None
        if status < 400 or status >= 500 or status in NOT_APPLIED_STATUSES:
            return _transient(status, f"HTTP {status} with a body that does not parse", wait,
                              fate_unknown=status not in NOT_APPLIED_STATUSES)
    items, shape = _items(data, endpoint)
    if isinstance(items, list) and items:
        # The API's shape: the server processed the request, even when the items
        # do not line up with it. Re-sending would apply it again.
        if all(type(item) is dict for item in items):
            reason = f"HTTP {status}" if len(items) == sent else \
                f"HTTP {status}: {len(items)} results for {sent} records"
            return Answer(Kind.DEFINITE, status, reason, items=items, shape=shape)
        return _transient(status, f"HTTP {status}: per-item results that are not objects",
                          wait, fate_unknown=True)
    code, message = _error(data)
    if endpoint.alternates and 200 <= status < 300 and isinstance(data, dict) and code is None:
        # An endpoint documented with several answer shapes, answered in none of
        # them: processed, but naming nobody. Like any answer that does not line up.
        return Answer(Kind.DEFINITE, status, f"HTTP {status}: an answer of no documented "
                      "shape", items=[])
    if status in NO_ENDPOINT_STATUSES:
        return Answer(Kind.FATAL, status, f"HTTP {status} from the {endpoint.name} endpoint: "
                      f"{BASE_URL_HINT}", code=code)
    if status in (401, 403):
        return Answer(Kind.FATAL, status, f"HTTP {status}: {message or 'not authorised'}",
                      code=code)
    if status == 413 or code in SPLIT_CODES:
        return Answer(Kind.SPLIT, status, f"HTTP {status}: batch too large ({code})", code=code)
    if status in NOT_APPLIED_STATUSES:
        return Answer(Kind.TRANSIENT, status, f"HTTP {status}", code=code, retry_after=wait,
                      throttled=status in THROTTLE_STATUSES)
    if status >= 500:
        return _transient(status, f"HTTP {status}", wait, fate_unknown=True, code=code)
    if status >= 400 and code is not None:
        return Answer(Kind.BATCH, status, f"HTTP {status}: {message}", code=code)
    # A success status without per-item results, or a 4xx without a code: the
    # server said something we cannot map to records. Ask again.
    return _transient(status, f"HTTP {status} without per-item results", wait,
                      fate_unknown=status < 400)


def _items(data: Any, endpoint: Endpoint) -> tuple[Any, int]:
    """The per-item list under the first of the endpoint's answer shapes that holds one."""
    if not isinstance(data, dict):
        return None, 0
    items = data.get(endpoint.body_key)
    if items is not None or not endpoint.alternates:
        return items, 0
    for shape, (body_key, _, _) in enumerate(endpoint.answer_keys()[1:], 1):
        if isinstance(data.get(body_key), list):
            return data[body_key], shape
    return None, 0


def redirected(status: int, location: str | None) -> Answer:
    """A 3xx is never followed: the request, its credentials and its body go
    nowhere but the configured API."""
    where = repr(without_userinfo(location)[:200]) if location else "no Location"
    return Answer(Kind.FATAL, status, f"HTTP {status} redirect to {where}: bulkupdate "
                  f"never follows redirects and sent nothing there; {BASE_URL_HINT}")


def untrusted(detail: str) -> Answer:
    return Answer(Kind.FATAL, None, "certificate not trusted: set SSL_CERT_FILE or "
                  f"`ca_bundle` ({detail})")


def proxy_refused(status: int) -> Answer:
    """The proxy answered the CONNECT itself: nothing reached the API. 403 and
    407 are its policy or its credentials, which waiting will not change."""
    if status in (403, 407):
        return Answer(Kind.FATAL, None, f"the proxy refused the tunnel (HTTP {status}): "
                      "check the proxy setting or HTTPS_PROXY (credentials go in its URL)")
    return no_answer(f"the proxy could not open the tunnel (HTTP {status})", sent=False)


def too_long(status: int, limit: int) -> Answer:
    return _transient(status, f"HTTP {status} answer longer than max_response_bytes "
                      f"({limit}); the read stopped there", None, fate_unknown=True)


def no_answer(reason: str, *, sent: bool) -> Answer:
    """The request failed below HTTP. ``sent`` says whether it may have left."""
    return Answer(Kind.TRANSIENT, None, reason, fate_unknown=sent, unreachable=not sent)


def _transient(status: int, reason: str, wait: float | None, *, fate_unknown: bool,
               code: int | None = None) -> Answer:
    return Answer(Kind.TRANSIENT, status, reason, code=code, retry_after=wait,
                  fate_unknown=fate_unknown)


def _error(data: Any) -> tuple[int | None, str]:
    """The first ``errors[]`` entry, or a top-level ``status`` object."""
    if not isinstance(data, dict):
        return None, ""
    errors = data.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
    elif isinstance(data.get("status"), dict):
        first = data["status"]
    else:
        return None, ""
    code = first.get("code")
    return (code if isinstance(code, int) else None), str(first.get("message") or "")


def parse_retry_after(value: str, now: datetime | None = None) -> float | None:
    """Seconds, or an HTTP date; None when it is neither."""
    value = value.strip()
    try:
        seconds = float(value)
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
