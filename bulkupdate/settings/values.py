"""The value types of settings: a :class:`Rate`, :class:`Credentials`, an
:class:`Allowance`. Each checks itself when built, with a message that says how
to fix the value, whatever source it came from."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import UsageError

MAX_RATE = 100_000.0        # requests per second: far above any API, far below a typo


def _finite(value: float) -> bool:
    return math.isfinite(value)


def _number(value: Any) -> bool:
    """An int or float, finite, and not a bool (which Python counts as an int)."""
    return type(value) in (int, float) and math.isfinite(value)


def _plain(number: float | None) -> str:
    return str(int(number)) if number is not None and float(number).is_integer() \
        else f"{number:g}"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class Rate:
    """At most ``count`` requests in any sliding window of ``period`` seconds."""

    count: float
    period: float

    def __post_init__(self) -> None:
        if not (_number(self.count) and _number(self.period) and self.count > 0
                and self.period > 0 and self.count / self.period <= MAX_RATE):
            raise UsageError(f"rate {_show(self.count)}/{_show(self.period)}s is not valid: "
                             f"use N/s or N/min with N above 0 and at most {MAX_RATE:g}/s")

    @property
    def interval(self) -> float:
        """Seconds between two requests when sending smoothly at this rate."""
        return self.period / self.count

    @property
    def per_second(self) -> float:
        return self.count / self.period

    def __str__(self) -> str:
        unit = {60.0: "min", 3600.0: "hour"}.get(self.period, "s")
        return f"{self.count:g}/{unit}"


def parse_rate(text: str | float | int) -> Rate:
    """``"100/min"``, ``"20/s"`` or a bare number (per second)."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise UsageError(f"rate must be text like \"100/min\", not {type(text).__name__}")
    raw = str(text).strip().lower().replace(" ", "")
    number, _, unit = raw.partition("/")
    periods = {"": 1.0, "s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0,
               "minute": 60.0, "h": 3600.0, "hr": 3600.0, "hour": 3600.0}
    try:
        count = float(number)
    except ValueError:
        count = -1.0
    if unit not in periods or not _finite(count) or count <= 0:
        raise UsageError(f"rate {_show(text)} is not valid: use N/s, N/min, N/hour or a bare "
                         "number of requests per second, e.g. --rate 100/min")
    return Rate(count, periods[unit])


# Each half of a pair names the other: (given, missing).
PAIRS = (("username", "password"), ("password", "username"),
         ("client_key", "client_secret"), ("client_secret", "client_key"))
ENV_NAMES = {"username": "CAPILLARY_USERNAME", "password": "CAPILLARY_PASSWORD",
             "client_key": "CAPILLARY_CLIENT_KEY", "client_secret": "CAPILLARY_CLIENT_SECRET"}
CREDENTIALS_PREFIX = "CAPILLARY_"


@dataclass(frozen=True)
class Credentials:
    """Basic (username + password) or OAuth (client key + secret). Never printed."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    client_key: str | None = None
    client_secret: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) is not None and type(getattr(self, f.name)) is not str:
                # Never the value: it may be a secret.
                raise UsageError(f"credentials: {f.name} must be a string")
        if self.scheme == "none":
            # Half a pair is a slip (a misspelt variable, a forgotten field): say
            # which half is missing now, not "no credentials" when the run starts.
            for given, missing in PAIRS:
                if getattr(self, given) and not getattr(self, missing):
                    raise UsageError(f"credentials: {given} is given but {missing} is not: "
                                     f"set {ENV_NAMES[missing]} (or {missing} in the "
                                     f"credentials file, or Credentials({missing}=...))")

    @property
    def scheme(self) -> str:
        if self.client_key and self.client_secret:
            return "oauth"
        if self.username and self.password:
            return "basic"
        return "none"

    def __repr__(self) -> str:
        return f"Credentials(scheme={self.scheme!r})"



def count_or_share(text: Any) -> tuple[int | None, float | None] | None:
    """``N`` (a whole number, 0 or more) as ``(N, None)``, ``P%`` (0 to 100) as
    ``(None, P)``; None when the text is neither (a boolean is neither). What
    ``--allow-failures``, ``--max-changes`` and ``--max-delinks`` each take."""
    if isinstance(text, bool):
        return None
    raw = str(text).strip()
    try:
        if raw.endswith("%"):
            percent = float(raw[:-1])
            return (None, percent) if 0 <= percent <= 100 else None
        count = int(raw)
    except ValueError:
        return None
    return (count, None) if count >= 0 else None


@dataclass(frozen=True)
class Allowance:
    """Definite failures a run may have and still exit 0: ``count`` records, or
    ``percent`` of the input records when given as ``P%``. Parsed once, from any
    source, by :meth:`parse`; ``str()`` gives back the text it was written as."""

    count: int = 0
    percent: float | None = None   # when given as P%

    @classmethod
    def parse(cls, text: str | int | Allowance, what: str = "allow-failures") -> Allowance:
        """``"0"``, ``"25"``, ``25`` (records) or ``"0.5%"`` (of the input records);
        ``what``: the setting it is, for the error (``max-changes`` takes the same)."""
        if isinstance(text, Allowance):
            return text
        parsed = count_or_share(text)
        if parsed is not None:
            count, percent = parsed
            return cls(percent=percent) if count is None else cls(count=count)
        raise UsageError(f"{what} {text!r} is not valid: use a number of records "
                         "(e.g. 25) or a share of the input (e.g. 0.5%)")

    def allowed(self, records: int) -> float:
        if self.percent is None:
            return self.count
        return records * self.percent / 100

    def __str__(self) -> str:
        if self.percent is None:
            return str(self.count)
        return f"{self.percent:g}%"
