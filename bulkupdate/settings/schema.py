"""The schema of settings: the :class:`Settings` dataclass, each field declared
with its :class:`Rule` and help, and what is derived from the declarations (the
flags, the names a file or the environment may set, the defaults as ``--help``
says them). Validated once, when built."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..base.api import ENDPOINT, MAX_BATCH, READ_ACTIVITY_TYPE, READ_PATH, READ_SOURCE, TOKEN_PATH
from ..base.network import without_userinfo
from ..errors import UsageError
from .values import Allowance, Credentials, Rate, _number, _plain, _show, parse_rate


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

