"""Settings: one frozen dataclass, built from defaults < config file < environment
< flags, validated once with messages that say how to fix the value.

The library never reads ``sys.argv``; only :func:`load_settings` reads the
environment, and only the CLI calls it.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .api import MAX_BATCH
from .errors import UsageError

ENV_PREFIX = "BULKUPDATE_"


@dataclass(frozen=True)
class Rate:
    """At most ``count`` requests in any sliding window of ``period`` seconds."""

    count: float
    period: float

    @property
    def interval(self) -> float:
        """Seconds between two requests when sending smoothly at this rate."""
        return self.period / self.count

    @property
    def per_second(self) -> float:
        return self.count / self.period

    def __str__(self) -> str:
        unit = "min" if self.period == 60 else "s"
        return f"{self.count:g}/{unit}"


def parse_rate(text: str | float | int) -> Rate:
    """``"100/min"``, ``"20/s"`` or a bare number (per second)."""
    raw = str(text).strip().lower().replace(" ", "")
    number, _, unit = raw.partition("/")
    periods = {"": 1.0, "s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0,
               "minute": 60.0}
    try:
        count = float(number)
    except ValueError:
        count = -1.0
    if count <= 0 or unit not in periods:
        raise UsageError(f"rate {text!r} is not valid: use N/s, N/min or a bare number "
                         "of requests per second, e.g. --rate 100/min")
    return Rate(count, periods[unit])


@dataclass(frozen=True)
class Credentials:
    """Basic (username + password) or OAuth (client key + secret). Never printed."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    client_key: str | None = None
    client_secret: str | None = field(default=None, repr=False)

    @property
    def scheme(self) -> str:
        if self.client_key and self.client_secret:
            return "oauth"
        if self.username and self.password:
            return "basic"
        return "none"

    def __repr__(self) -> str:
        return f"Credentials(scheme={self.scheme!r})"


@dataclass(frozen=True)
class Settings:
    base_url: str = "http://127.0.0.1:8080"
    concurrency: int = 8
    rate: Rate = field(default_factory=lambda: Rate(100, 60.0))
    batch_size: int = MAX_BATCH
    max_attempts: int = 5
    timeout: float = 30.0
    backoff_base: float = 0.5      # first retry waits up to this (full jitter)
    backoff_cap: float = 30.0      # no single wait longer than this
    retry_budget: float = 600.0    # no record waits longer than this in total
    grace_period: float = 30.0     # after SIGINT/SIGTERM, in-flight requests get this long
    window: int = 0                # records in the pipeline at once; 0 = derived
    linger: float = 0.05           # wait this long for a full batch when input trickles
    progress: bool | None = None   # None = when stderr is a terminal
    log_level: str = "info"
    mask_pii: bool = True
    credentials: Credentials = field(default_factory=Credentials, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.rate, Rate):
            # Accepted where a user would write it: Settings(rate="100/min").
            object.__setattr__(self, "rate", parse_rate(self.rate))
        _check_types(self)
        _check_url(self.base_url)
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise UsageError(f"batch size {self.batch_size} is out of range: the API takes "
                             f"1 to {MAX_BATCH} customers per request")
        if self.concurrency < 1:
            raise UsageError("concurrency must be at least 1")
        if self.max_attempts < 1:
            raise UsageError("max attempts must be at least 1")
        if self.timeout <= 0:
            raise UsageError("timeout must be a positive number of seconds")
        if min(self.backoff_base, self.backoff_cap, self.retry_budget, self.grace_period,
               self.linger) < 0:
            raise UsageError("backoff, budget, grace and linger settings cannot be negative")
        if self.log_level not in ("debug", "info", "warning", "error"):
            raise UsageError("log level must be debug, info, warning or error")

    @property
    def effective_window(self) -> int:
        # Enough records for every in-flight request plus a full next round, so
        # the senders never wait on the reader; bounded so memory stays flat.
        return self.window or max(4 * self.batch_size * self.concurrency, 2 * self.batch_size)

    def public(self) -> dict[str, Any]:
        """Settings as written to the manifest: everything but the credentials."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "credentials":
                out["auth"] = self.credentials.scheme
            elif f.name == "rate":
                out["rate"] = str(self.rate)
            else:
                out[f.name] = getattr(self, f.name)
        return out


_TYPES: dict[str, tuple[type, ...]] = {
    "base_url": (str,), "concurrency": (int,), "batch_size": (int,), "max_attempts": (int,),
    "timeout": (int, float), "backoff_base": (int, float), "backoff_cap": (int, float),
    "retry_budget": (int, float), "grace_period": (int, float), "window": (int,),
    "linger": (int, float), "progress": (bool, type(None)), "log_level": (str,),
    "mask_pii": (bool,), "credentials": (Credentials,),
}


def _check_types(settings: Settings) -> None:
    """A wrong type fails here, naming the setting, not later in a comparison."""
    for name, types in _TYPES.items():
        value = getattr(settings, name)
        bad_bool = isinstance(value, bool) and bool not in types
        if bad_bool or not isinstance(value, types):
            want = " or ".join("None" if t is type(None) else t.__name__ for t in types)
            raise UsageError(f"setting {name} = {value!r} is not a valid {want}")


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"base URL {url!r} is not an http(s) URL, e.g. https://eu.api.example.com")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise UsageError(f"base URL {url!r}: https:// is required for any host but loopback")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_CONVERTERS: dict[str, Any] = {
    "base_url": str, "concurrency": int, "rate": parse_rate, "batch_size": int,
    "max_attempts": int, "timeout": float, "backoff_base": float, "backoff_cap": float,
    "retry_budget": float, "grace_period": float, "window": int, "linger": float,
    "log_level": str,
}
_BOOLS = ("progress", "mask_pii")


def _convert(name: str, value: Any, origin: str) -> Any:
    if name in _BOOLS:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise UsageError(f"{origin}: {name} must be true or false, not {value!r}")
    try:
        return _CONVERTERS[name](value)
    except UsageError as exc:
        raise UsageError(f"{origin}: {exc}") from None
    except (TypeError, ValueError):
        raise UsageError(f"{origin}: {name} = {value!r} is not a valid "
                         f"{_CONVERTERS[name].__name__}") from None


def read_config(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise UsageError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from None
    known = set(_CONVERTERS) | set(_BOOLS) | {"credentials_file"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UsageError(f"config file {path}: unknown setting(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(known))}")
    return data


def read_credentials(env: Mapping[str, str], config: Mapping[str, Any],
                     config_dir: Path) -> Credentials:
    """Environment first, then the file named by ``credentials_file`` in the config."""
    from_file: dict[str, Any] = {}
    if "credentials_file" in config:
        path = Path(str(config["credentials_file"])).expanduser()
        if not path.is_absolute():
            path = config_dir / path
        try:
            with path.open("rb") as fh:
                from_file = tomllib.load(fh)
        except FileNotFoundError:
            raise UsageError(f"credentials file {path} does not exist") from None
        except tomllib.TOMLDecodeError:
            # The parser's message may quote the file's content: keep it out.
            raise UsageError(f"credentials file {path} is not valid TOML") from None

    def pick(env_name: str, key: str) -> str | None:
        value = env.get(env_name) or from_file.get(key)
        return str(value) if value else None

    return Credentials(
        username=pick("CAPILLARY_USERNAME", "username"),
        password=pick("CAPILLARY_PASSWORD", "password"),
        client_key=pick("CAPILLARY_CLIENT_KEY", "client_key"),
        client_secret=pick("CAPILLARY_CLIENT_SECRET", "client_secret"),
    )


def load_settings(flags: Mapping[str, Any], *, config_path: Path | None,
                  env: Mapping[str, str], base: Mapping[str, Any] | None = None) -> Settings:
    """Merge, strongest first: flags, environment, config file, ``base`` (a resumed
    run's manifest), defaults. Flags whose value is None are "not given"."""
    merged: dict[str, Any] = {}
    for name, value in (base or {}).items():
        # A resumed run keeps its settings, except the terminal-dependent ones.
        if (name in _CONVERTERS or name in _BOOLS) and value is not None and name != "progress":
            merged[name] = _convert(name, value, "manifest")
    config = read_config(config_path) if config_path else {}
    for name, value in config.items():
        if name != "credentials_file":
            merged[name] = _convert(name, value, f"config file {config_path}")
    for name in (*_CONVERTERS, *_BOOLS):
        env_name = ENV_PREFIX + name.upper()
        if env.get(env_name, "") != "":
            merged[name] = _convert(name, env[env_name], f"environment {env_name}")
    for name, value in flags.items():
        if value is not None:
            merged[name] = _convert(name, value, "--" + name.replace("_", "-"))
    config_dir = config_path.parent if config_path else Path.cwd()
    merged["credentials"] = read_credentials(env, config, config_dir)
    return Settings(**merged)
