"""Settings: one frozen dataclass, built from defaults < config file < environment
< flags, validated once with messages that say how to fix the value.

The library never reads ``sys.argv``; only :func:`load_settings` reads the
environment, and only the CLI calls it.
"""

from __future__ import annotations

import ipaddress
import math
import os
import stat
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .base.network import proxy_from_env, without_userinfo
from .capillary.api import ENDPOINT, MAX_BATCH, TOKEN_PATH
from .capillary.read import READ_ACTIVITY_TYPE, READ_PATH, READ_SOURCE
from .errors import UsageError, cannot_open
from .night.exitcode import Allowance

MAX_RATE = 100_000.0        # requests per second: far above any API, far below a typo
ENV_PREFIX = "BULKUPDATE_"


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


@dataclass(frozen=True)
class Rule:
    """What one setting accepts: its type, and for numbers a finite range."""

    kind: type                       # int, float, str, bool, Rate or Credentials
    low: float | None = None
    high: float | None = None
    above_low: bool = False          # ``low`` itself is excluded (a zero timeout)
    choices: tuple[str, ...] = ()
    optional: bool = False           # None is accepted (and means "derive it")

    def check(self, name: str, value: Any, shown: str = "") -> Any:
        """``value`` if it is acceptable (an int for a float setting becomes a
        float); otherwise a one-line :class:`UsageError` that says what would be.
        ``shown``: how the user wrote it (``--timeout inf``), when not ``name = value``."""
        if value is None and self.optional:
            return value
        if self.kind is float and _number(value):
            value = float(value)
        elif self.kind is Rate and isinstance(value, str):
            value = parse_rate(value)    # the library takes rate="100/min", as documented
        elif self.kind is Allowance and isinstance(value, str | int):
            # "25", 25 or "0.5%", from any source
            value = Allowance.parse(value, name.replace("_", "-"))
        if type(value) is not self.kind or not self._in_range(value):
            shown = shown or f"{name} = {_show(value)}"
            raise UsageError(f"{shown} is not valid: must be {self.expects()}")
        return value

    def _in_range(self, value: Any) -> bool:
        if self.kind in (int, float):
            if not math.isfinite(value):
                return False
            if self.low is not None and (value < self.low or
                                         (self.above_low and value == self.low)):
                return False
            return self.high is None or value <= self.high
        return not self.choices or value in self.choices

    def expects(self) -> str:
        if self.kind in (int, float):
            what = "an integer" if self.kind is int else "a finite number"
            low = f"more than {_plain(self.low)}" if self.above_low else \
                f"from {_plain(self.low)}"
            return f"{what} {low} to {_plain(self.high)}"
        if self.choices:
            return "one of " + ", ".join(self.choices)
        return {bool: "true or false", str: "a string",
                Allowance: "a number of records or a share like 0.5%"}.get(
                    self.kind, self.kind.__name__)

    def parse(self, text: str) -> Any:
        """A value given as text (a flag, an environment variable)."""
        text = text.strip()
        if self.kind is int:
            return int(text)       # "8.0" and "true" are refused, not rounded
        if self.kind is float:
            return float(text)     # "inf" and "nan" parse, and check() refuses them
        if self.kind is bool:
            words = {"1": True, "true": True, "yes": True, "on": True,
                     "0": False, "false": False, "no": False, "off": False}
            return words.get(text.lower(), text)
        if self.kind is Rate:
            return parse_rate(text)
        return text   # an Allowance too: check() parses it, naming the setting

@dataclass(frozen=True)
class Declared:
    """Everything about one setting but its name, type hint and default (the
    field's): its rule, its help, and whether it is a flag of ``run``/``resume``.
    The CLI's flags and ``--help``, the ``BULKUPDATE_*`` names, the TOML keys
    and :data:`RULES` are derived from these; ``config/bulkupdate.example.toml``
    is checked against them (tests/test_settings.py)."""

    rule: Rule
    help: str = ""
    flag: bool = False               # a flag of run and resume
    metavar: str | None = None
    default_help: str | None = None  # how --help says the default ("{default}": the value)
    resume_help: str | None = None   # resume's --help, when it differs
    resumed: bool = True             # False: a resume decides it afresh
    settable: bool = True            # False: not from a file, the environment or a manifest
    state: bool = False              # a flag of the commands that take --state (STATE_FLAGS)


def setting(rule: Rule, help: str = "", **declared: Any) -> dict[str, Declared]:
    """A field's metadata: ``field(default=..., metadata=setting(Rule(...), "...")``."""
    return {"setting": Declared(rule, help, **declared)}


def declared(f: Field[Any] | str) -> Declared:
    """The declaration of a :class:`Settings` field (or of the field of that name)."""
    if isinstance(f, str):
        f = next(each for each in fields(Settings) if each.name == f)
    out: Declared = f.metadata["setting"]
    return out


def help_text(name: str, *, resume: bool = False) -> str:
    """A setting's ``--help`` line, its default said from the declared one."""
    d = declared(name)
    if resume and d.resume_help:
        return d.resume_help
    if resume and d.resumed:
        return f"{d.help} (default: the run's own)"   # not the tool's: its manifest's
    default = shown_default(name)
    if d.default_help:
        return f"{d.help} (default: {d.default_help.format(default=default)})"
    return f"{d.help} (default {default})" if default is not None else d.help


def default_of(name: str) -> Any:
    """A setting's declared default (a factory's value for a factory's)."""
    f = next(f for f in fields(Settings) if f.name == name)
    if f.default is not MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not MISSING else None


def shown_default(name: str) -> str | None:
    """A default as written in ``--help`` and the example config: ``100/min``, ``30``;
    None for one that is not a value (unset, derived, a switch)."""
    value = default_of(name)
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _plain(value)
    return str(value)


@dataclass(frozen=True)
class Settings:
    base_url: str = field(default="", metadata=setting(
        Rule(str), "API root, e.g. https://eu.api.capillarytech.com, not the endpoint's path "
        "(required, here or in the config)", flag=True,
        resume_help="API root (default: the run's own; give it only if the API moved)"))
    concurrency: int = field(default=8, metadata=setting(
        Rule(int, 1, 1000), "requests in flight at most", flag=True))
    rate: Rate = field(default_factory=lambda: Rate(100, 60.0), metadata=setting(
        Rule(Rate), "requests per period at most: N/s, N/min or a bare N per second", flag=True))
    batch_size: int = field(default=MAX_BATCH, metadata=setting(
        Rule(int, 1, MAX_BATCH), f"customers per request, 1..{MAX_BATCH}", flag=True))
    max_attempts: int = field(default=5, metadata=setting(
        Rule(int, 1, 100), "tries per record before 'retryable'", flag=True))
    timeout: float = field(default=30.0, metadata=setting(
        Rule(float, 0, 3600, above_low=True), "seconds to wait for one answer", flag=True))
    backoff_base: float = field(default=0.5, metadata=setting(
        Rule(float, 0, 3600), "the first retry waits up to this (full jitter)"))
    backoff_cap: float = field(default=30.0, metadata=setting(
        Rule(float, 0, 86_400), "no single wait longer than this"))
    retry_budget: float = field(default=600.0, metadata=setting(
        Rule(float, 0, 7 * 86_400), "no record waits longer than this in total"))
    grace_period: float = field(default=30.0, metadata=setting(
        Rule(float, 0, 3600), "after SIGINT/SIGTERM, in-flight requests get this long"))
    window: int = field(default=0, metadata=setting(
        Rule(int, 0, 10_000_000), "records ready or in flight at once; 0 = derived"))
    linger: float = field(default=0.05, metadata=setting(
        Rule(float, 0, 60), "wait this long for a full batch when input trickles"))
    progress: bool | None = field(default=None, metadata=setting(
        Rule(bool, optional=True), "progress bar on stderr", flag=True,
        default_help="when it is a terminal", resumed=False))
    log_level: str = field(default="info", metadata=setting(
        Rule(str, choices=("debug", "info", "warning", "error")),
        "what RUN_DIR/events.jsonl records", flag=True))
    mask_pii: bool = field(default=True, metadata=setting(
        Rule(bool), "mask mobile numbers and emails in logs"))
    credentials: Credentials = field(default_factory=Credentials, compare=False,
                                     metadata=setting(Rule(Credentials), settable=False))
    settle: float = field(default=60.0, metadata=setting(
        Rule(float, 0, 86_400), "seconds a customer is held after an answer of unknown fate "
        "before anything of it is re-sent", flag=True,
        default_help="{default}, never less than --timeout"))
    disk_wait: float = field(default=300.0, metadata=setting(
        Rule(float, 0, 86_400), "seconds to wait for space when the run directory's disk is "
        "full, sending paused and answers kept in memory", flag=True))
    max_response_bytes: int = field(default=16 * 1024 * 1024, metadata=setting(
        Rule(int, 4096, 1 << 31), "a longer answer is a broken one"))
    proxy: str | None = field(default=None, repr=False, metadata=setting(   # may carry a password
        Rule(str, optional=True), "HTTP(S) proxy URL", flag=True, resumed=False,
        default_help="HTTPS_PROXY/HTTP_PROXY, minus NO_PROXY; '' to go direct"))
    ca_bundle: str | None = field(default=None, metadata=setting(
        Rule(str, optional=True), "PEM file of the CAs to trust instead of the system's",
        flag=True, default_help="the system's, or SSL_CERT_FILE"))
    # Operations (README "Running it nightly").
    log_format: str | None = field(default=None, metadata=setting(
        Rule(str, choices=("text", "json"), optional=True), "stderr log lines", flag=True,
        default_help="text on a terminal, json otherwise", resumed=False))
    progress_every: float = field(default=10.0, metadata=setting(
        Rule(float, 0, 86_400, above_low=True), "run.progress event interval without a bar",
        flag=True, metavar="SECONDS"))
    metrics_port: int | None = field(default=None, metadata=setting(
        Rule(int, 0, 65_535, optional=True), "serve Prometheus metrics on 127.0.0.1:PORT "
        "during the run", flag=True, metavar="PORT", resumed=False))
    metrics_file: str | None = field(default=None, metadata=setting(
        Rule(str, optional=True), "write Prometheus metrics to PATH at the end (textfile "
        "collector)", flag=True, metavar="PATH"))
    allow_failures: Allowance = field(default_factory=Allowance, metadata=setting(
        Rule(Allowance), "exit 0 despite up to N (or P% of) definite failures", flag=True,
        metavar="N|P%"))
    allow_empty: bool = field(default=False, metadata=setting(
        Rule(bool), "an input with no records exits 0, not 2", flag=True))
    # The state store (docs/state.md, docs/nightly.md): send only what changed.
    state: str | None = field(default=None, metadata=setting(
        Rule(str, optional=True), "state store: sqlite:///path.db, a plain path, or "
        "postgresql://... (no password in it: PGPASSWORD, ~/.pgpass); only what changed is sent",
        state=True, metavar="URL", default_help="none: every record is sent"))
    state_scope: str | None = field(default=None, metadata=setting(
        Rule(str, optional=True), "the store's scope: whose state it is", state=True,
        metavar="SCOPE",
        default_help="the API root and the till user or OAuth key"))
    refresh_after: int = field(default=30, metadata=setting(
        Rule(int, 0, 3650), "days after which a confirmed key is sent again anyway; 0 = never",
        state=True, metavar="DAYS"))
    full: bool = field(default=False, metadata=setting(
        Rule(bool), "send every record (the store is still updated)", state=True))
    max_changes: Allowance | None = field(default=None, metadata=setting(
        Rule(Allowance, optional=True), "exit 2 before anything is sent when more than N "
        "(or P% of the keys the file names) would be sent", state=True, metavar="N|P%",
        default_help="no limit"))
    max_missing: Allowance | None = field(default=None, metadata=setting(
        Rule(Allowance, optional=True), "exit 2 before anything is sent when more than N "
        "(or P%) of the keys the store holds are absent from the file", state=True,
        metavar="N|P%", default_help="no limit"))
    # `bulkupdate verify` (docs/verify.md): what Capillary's docs leave open about the read.
    read_path: str = field(default=READ_PATH,
                           metadata=setting(Rule(str), "the read's path (the docs' examples also "
                                            "write .../customerActivityHistory)"))
    read_source: str = field(default=READ_SOURCE, metadata=setting(
        Rule(str), "the read's source query parameter"))
    read_activity_type: str = field(default=READ_ACTIVITY_TYPE, metadata=setting(
        Rule(str), "the read's activityType (the docs' examples write linkingUpdates)"))

    def __post_init__(self) -> None:
        # Each field's rule says what it accepts, whatever its source.
        for f in fields(self):
            rule = RULES.get(f.name)
            if rule is not None:
                object.__setattr__(self, f.name, rule.check(f.name, getattr(self, f.name)))
        _check_url(self.base_url)
        if self.proxy:
            _check_proxy(self.proxy)
        if self.ca_bundle and not Path(self.ca_bundle).is_file():
            raise UsageError(f"ca_bundle {self.ca_bundle!r} is not a file: name a PEM file "
                             "of the certificate authorities to trust")
        _check_operations(self)

    @property
    def effective_settle(self) -> float:
        # A request may still be applied until the client gave up on it, at least.
        return max(self.settle, self.timeout)

    @property
    def scope(self) -> str:
        """Whose state the store holds: ``state_scope``, else the API root and the
        credential's identity (the till user or the OAuth key, never a secret)."""
        if self.state_scope:
            return self.state_scope
        c = self.credentials
        who = c.client_key if c.scheme == "oauth" else c.username
        return f"{self.base_url.rstrip('/')} {who or ''}".strip()

    @property
    def wants_metrics(self) -> bool:
        """Prometheus metrics served (``metrics_port``) or written (``metrics_file``)."""
        return self.metrics_port is not None or bool(self.metrics_file)

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
            elif isinstance(getattr(self, f.name), Rate | Allowance):
                out[f.name] = str(getattr(self, f.name))   # as written: "100/min", "0.5%"
            elif f.name == "proxy":
                out["proxy"] = without_userinfo(self.proxy) if self.proxy else None
            else:
                out[f.name] = getattr(self, f.name)
        return out


def _check_operations(s: Settings) -> None:
    if s.state and "://" in s.state and urlsplit(s.state).password is not None:
        # Not echoed. libpq has its own ways: PGPASSWORD, ~/.pgpass, a service file.
        raise UsageError("state URL must not contain a password: use PGPASSWORD, ~/.pgpass "
                         "or a service file")
    c = s.credentials
    if c.username and c.password and c.client_key and c.client_secret:
        # Guessing which one the operator meant could send under the wrong identity.
        raise UsageError("both Basic (CAPILLARY_USERNAME/CAPILLARY_PASSWORD) and OAuth "
                         "(CAPILLARY_CLIENT_KEY/CAPILLARY_CLIENT_SECRET) credentials are set: "
                         "keep only the pair you mean to use")


def _check_url(url: str) -> None:
    if not url:
        raise UsageError("no base URL: pass --base-url (or base_url in the config), the API "
                         "root, e.g. https://eu.api.capillarytech.com")
    parts = urlsplit(url)
    if "@" in parts.netloc:
        # Not echoed: the user info may hold a password.
        raise UsageError("base URL must not contain user info (user:password@): credentials "
                         "come from the environment or a credentials_file")
    if parts.query or parts.fragment:
        raise UsageError(f"base URL {url!r} must be the API root, without a query or fragment")
    try:
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        host = None
    if parts.scheme not in ("http", "https") or not host:
        raise UsageError(f"base URL {url!r} is not an http(s) URL, e.g. https://eu.api.example.com")
    if parts.scheme == "http" and not is_loopback(host):
        raise UsageError(f"base URL {url!r}: https:// is required for any host but loopback")
    _check_root(url, parts.path)


def _check_root(url: str, path: str) -> None:
    """The endpoint's own path in the base URL (copied from a curl example) would
    post to ``.../customerPartnerProgramUpdate/v2/partnerProgram/...``: say the
    root to use instead, before anything is sent."""
    lowered = path.lower()
    for known in (ENDPOINT, TOKEN_PATH):
        stem = known.lower().rsplit("/", 1)[0]      # "/v2/partnerprogram", "/v3/oauth/token"
        at = lowered.find(stem)
        if at >= 0:   # the URL has no query or fragment: it ends with its path
            root = url[:len(url) - len(path) + at].rstrip("/")
            raise UsageError(f"base URL {url!r} includes the endpoint's path ({known}): "
                             f"give the API root, --base-url {root}")


def _check_proxy(proxy: str) -> None:
    parts = urlsplit(proxy)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"proxy {without_userinfo(proxy)!r} is not an http(s) URL, "
                         "e.g. http://proxy.example.com:3128")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Derived from the declarations: what every setting accepts, whatever its
# source (flag, environment, TOML, a resumed run's manifest, the library).
RULES: dict[str, Rule] = {f.name: declared(f).rule for f in fields(Settings)}
# Terminal- or invocation-dependent: a resume decides these afresh.
NOT_RESUMED = frozenset(f.name for f in fields(Settings) if not declared(f).resumed)
# What a config file, the environment and a manifest may set (not credentials).
SETTABLE = tuple(f.name for f in fields(Settings) if declared(f).settable)
# The flags of run and resume, in declaration order.
FLAGS = tuple(f.name for f in fields(Settings) if declared(f).flag)
# The flags of the commands that take a state store (run, link, plan, verify ...).
STATE_FLAGS = tuple(f.name for f in fields(Settings) if declared(f).state)


def _convert(name: str, value: Any, origin: str) -> Any:
    """``value`` from ``origin`` (``--flag``, ``BULKUPDATE_NAME``, a file): parsed if
    it is text, then checked against the setting's rule."""
    rule = RULES[name]
    if origin.startswith("--"):
        shown = f"{origin} {_show(value).strip(chr(39))}"
    elif origin.startswith(ENV_PREFIX):
        shown = f"{origin}={_show(value)}"
    else:
        shown = f"{origin}: {name} = {_show(value)}"
    if origin.startswith("config file") and isinstance(value, str) and \
            rule.kind not in (str, Rate, Allowance):
        # TOML has types: a quoted number is a slip the library refuses too.
        raise UsageError(f"{shown} is not valid: must be {rule.expects()}, "
                         "written without quotes")
    try:
        if rule.kind is Rate and not isinstance(value, Rate):
            value = parse_rate(value)
        elif isinstance(value, str):
            value = rule.parse(value)
        return rule.check(name, value, shown)
    except UsageError as exc:
        if rule.kind in (Rate, Allowance):
            raise UsageError(f"{origin}: {exc}") from None
        raise
    except (TypeError, ValueError):
        raise UsageError(f"{shown} is not valid: must be {rule.expects()}") from None


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise cannot_open(what, path, exc) from None
    except UnicodeDecodeError:
        raise UsageError(f"{what} {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        # The parser's message may quote a credentials file's content: keep it out.
        detail = f": {exc}" if what == "config file" else ""
        raise UsageError(f"{what} {path} is not valid TOML{detail}") from None


def read_config(path: Path) -> dict[str, Any]:
    data = _read_toml(path, "config file")
    known = {*SETTABLE, "credentials_file"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UsageError(f"config file {path}: unknown setting(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(known))}")
    if "credentials_file" in data and not isinstance(data["credentials_file"], str):
        raise UsageError(f"config file {path}: credentials_file must be a string (a path)")
    return data


def _private_credentials(path: Path) -> dict[str, Any]:
    """The credentials file, refused when group or others may read it (as ssh
    refuses such a private key): a shared machine must not share the secret."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError as exc:
        raise cannot_open("credentials file", path, exc) from None
    if mode & 0o077:
        raise UsageError(f"credentials file {path} is accessible by group or others "
                         f"(mode {mode:04o}): run 'chmod 600 {path}'")
    data = _read_toml(path, "credentials file")
    for key in ("username", "password", "client_key", "client_secret"):
        if key in data and not isinstance(data[key], str):
            raise UsageError(f"credentials file {path}: {key} must be a string")
    return data


def read_credentials(env: Mapping[str, str], config: Mapping[str, Any],
                     config_dir: Path) -> Credentials:
    """Environment first, then the file named by ``credentials_file`` in the config."""
    from_file: dict[str, Any] = {}
    if "credentials_file" in config:
        path = Path(str(config["credentials_file"])).expanduser()
        if not path.is_absolute():
            path = config_dir / path
        from_file = _private_credentials(path)

    def pick(env_name: str, key: str) -> str | None:
        value = env.get(env_name) or from_file.get(key)
        return value or None

    return Credentials(**{key: pick(env_name, key) for key, env_name in ENV_NAMES.items()})


MANIFEST = "manifest"   # the origin of a resumed run's own settings


@dataclass(frozen=True)
class Sources:
    """Where each setting came from: its flag (``--rate``), its variable
    (``BULKUPDATE_RATE``), ``config file PATH`` or the :data:`MANIFEST`; a setting
    none of them sets has its default."""

    origins: Mapping[str, str] = field(default_factory=dict)

    def said(self, name: str) -> str:
        """``from --rate``, ``from BULKUPDATE_RATE``, ``from the config file c.toml``,
        ``the run's own``, or ``the default; pass --rate``: for a user to read."""
        origin = self.origins.get(name)
        if origin is None:
            return f"the default; pass --{name.replace('_', '-')}"
        if origin == MANIFEST:
            return "the run's own"
        return f"from the {origin}" if origin.startswith("config file") else f"from {origin}"


def merge(flags: Mapping[str, Any], *, config_path: Path | None, env: Mapping[str, str],
          base: Mapping[str, Any] | None = None,
          names: Collection[str] = SETTABLE) -> tuple[dict[str, Any], Sources]:
    """The settings among ``names`` that a source sets, converted and checked, and
    where each came from. Strongest first: flags, environment, config file,
    ``base`` (a resumed run's manifest). Flags whose value is None are "not given"."""
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}

    def put(name: str, value: Any, origin: str) -> None:
        if name in names:
            merged[name] = _convert(name, value, origin)
            origins[name] = origin

    for name, value in (base or {}).items():
        # A resumed run keeps its settings, except the terminal-dependent ones, and
        # the proxy: it comes from this session's environment (the manifest's is masked).
        if name in SETTABLE and value is not None and name not in NOT_RESUMED:
            put(name, value, MANIFEST)
    config = read_config(config_path) if config_path else {}
    for name, value in config.items():
        if name != "credentials_file":
            put(name, value, f"config file {config_path}")
    for name in SETTABLE:
        env_name = ENV_PREFIX + name.upper()
        if env.get(env_name, "") != "":
            put(name, env[env_name], env_name)
    for name, value in flags.items():
        if value is not None:
            put(name, value, "--" + name.replace("_", "-"))
    return merged, Sources(origins)


def load(flags: Mapping[str, Any], *, config_path: Path | None, env: Mapping[str, str],
         base: Mapping[str, Any] | None = None) -> tuple[Settings, Sources]:
    """The settings (see :func:`merge`; credentials from the environment or the
    config's ``credentials_file``, the proxy from the environment when no source
    names one), and where each came from."""
    merged, sources = merge(flags, config_path=config_path, env=env, base=base)
    config = read_config(config_path) if config_path else {}
    config_dir = config_path.parent if config_path else Path.cwd()
    merged["credentials"] = read_credentials(env, config, config_dir)
    if "proxy" not in merged:
        merged["proxy"] = proxy_from_env(str(merged.get("base_url", "")), env)
    merged["proxy"] = merged["proxy"] or None   # proxy = "" in a config: go direct
    return Settings(**merged), sources


def load_settings(flags: Mapping[str, Any], *, config_path: Path | None,
                  env: Mapping[str, str], base: Mapping[str, Any] | None = None) -> Settings:
    """:func:`load`'s settings alone."""
    return load(flags, config_path=config_path, env=env, base=base)[0]


def early(name: str, flag: Any, env: Mapping[str, str]) -> Any:
    """One setting from its flag, else its ``BULKUPDATE_*`` variable, before the
    others are loaded (``log_format``: how to say what is wrong with them); None
    when neither gives a valid value."""
    env_name = ENV_PREFIX + name.upper()
    for value, origin in ((flag, "--" + name.replace("_", "-")), (env.get(env_name), env_name)):
        if value is not None and value != "":
            try:
                return _convert(name, value, origin)
            except UsageError:
                return None
    return None


def unknown_environment(env: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """``BULKUPDATE_*`` and ``CAPILLARY_*`` variables that name no setting or
    credential, each with the nearest known name (or None): a misspelt variable
    (``CAPILLARY_PASSWD``) would otherwise be ignored."""
    import difflib

    families = ((ENV_PREFIX, [name.upper() for name in SETTABLE]),
                (CREDENTIALS_PREFIX, [n[len(CREDENTIALS_PREFIX):] for n in ENV_NAMES.values()]))
    out: list[tuple[str, str | None]] = []
    for name in sorted(env):
        for prefix, known in families:
            suffix = name[len(prefix):]
            if name.startswith(prefix) and suffix not in known:
                # Compared without the prefix, which every name shares.
                near = difflib.get_close_matches(suffix, known, n=1, cutoff=0.6)
                out.append((name, prefix + near[0] if near else None))
    return out
