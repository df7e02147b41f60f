"""SimConfig: every dial of the simulator as one frozen value, checked when built."""

from __future__ import annotations

from dataclasses import dataclass, fields

# The random fault dials, in the order a request meets them. Pre-apply dials answer
# (or drop) before anything is applied; post-apply dials act after the world changed.
PRE_APPLY_DIALS = ("p_429", "p_461", "p_521", "p_500", "p_502", "p_503", "p_504", "p_drop")
POST_APPLY_DIALS = ("p_lost", "p_truncate", "p_slow")
# A gateway in front of the API: it answers 504 after gateway_s while the API goes
# on and applies the request gateway_apply_s after it arrived.
GATEWAY_DIALS = ("p_gateway",)
FAULT_DIALS = PRE_APPLY_DIALS + POST_APPLY_DIALS + GATEWAY_DIALS
ANSWER_FORMS = ("stored", "echo")
DELINK_FORMS = ("delink", "update")   # the delink answer's shape (delinking.py)
READ_DIALS = ("p_read_503", "p_read_429", "p_read_drop", "p_read_other")   # the read's own


@dataclass(frozen=True)
class SimConfig:
    seed: int = 7
    customers: int = 100_000          # world size
    allow_relinking: bool = True      # org setting ALLOW_MEMBERSHIP_RELINKING
    username: str | None = "demo-till"  # Basic auth; None/"" disables auth checks
    password: str = "demo-pass"
    client_key: str = "demo-key"      # OAuth key/secret for /v3/oauth/token/generate
    client_secret: str = "demo-secret"
    token_ttl: int = 300
    token_503: int = 0                # each token is issued after this many 503s (a hiccup)
    token_revoke_s: float = 0.0       # tokens refused this long after issue, whatever
                                      # ttlSeconds said (a key rotation); 0: at the ttl
    max_batch: int = 50               # above it the whole request answers batch_error_code
    batch_error_code: int = 2008      # 2008 or 1060
    latency_ms: float = 0.0           # added to each processed answer
    jitter_ms: float = 0.0            # uniform +/- jitter on latency
    rate_limit: float = 0.0           # requests per rate_period (0 = off); sliding window
    rate_period: float = 1.0
    p_429: float = 0.0                # random 429 with Retry-After: 1
    p_500: float = 0.0
    p_502: float = 0.0
    p_503: float = 0.0
    p_504: float = 0.0
    p_461: float = 0.0
    p_521: float = 0.0
    p_drop: float = 0.0               # connection closed before processing (nothing applied)
    p_lost: float = 0.0               # applied, then the connection closes with no reply
    p_truncate: float = 0.0           # applied, body cut in half (valid HTTP, invalid JSON)
    p_slow: float = 0.0               # applied, answer delayed by slow_s
    slow_s: float = 5.0
    fail_auth: bool = False           # every update request answers 401
    track: bool = True                # keep the applied-update log; benchmarks turn it off
    world_file: str | None = None     # JSON world instead of the formula world
    world_from: str | None = None     # an operator's input: a world of its customers
    p_gateway: float = 0.0            # 504 after gateway_s; applied at gateway_apply_s
    gateway_s: float = 0.1
    gateway_apply_s: float = 0.3
    p_not_now: float = 0.0            # per item: answers 2010 or 2001, nothing applied
    retry_after: str = ""             # Retry-After of every 429/461/503 fault answer
    redirect_to: str = ""             # every request answers redirect_status to here
    redirect_status: int = 307
    endless_body: bool = False        # updates answer 200 with a body that never ends
    stall_every_s: float = 0.0        # every so many seconds the whole server stalls ...
    stall_ms: float = 0.0             # ... for this long, as a garbage collection does
    # How answers name customers. "stored": as the API stores them (all four
    # identifiers, mobile with its country code, email lower-cased), like Capillary's
    # example; "echo": the identifiers the request sent, as sent.
    answer_form: str = "stored"
    shuffle: bool = False             # items, and each item's programs, in another order
    p_others: float = 0.0             # per request: the answer names other customers
    # The read endpoint's own fault dials (simulator/read.py), drawn apart from the above.
    p_read_503: float = 0.0
    p_read_429: float = 0.0
    p_read_drop: float = 0.0          # close without answering
    p_read_other: float = 0.0         # another customer's programs
    # The delink API (delinking.py): which documented answer shape, and a server
    # without batch support (only a request's first customer processed and answered).
    delink_form: str = "delink"
    first_customer_only: bool = False

    def __post_init__(self) -> None:
        if self.customers < 0:
            raise ValueError(f"customers must be >= 0, got {self.customers}")
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {self.max_batch}")
        if self.batch_error_code not in (2008, 1060):
            raise ValueError(f"batch_error_code must be 2008 or 1060, got {self.batch_error_code}")
        if not 0.0 <= self.p_not_now <= 1.0:
            raise ValueError(f"p_not_now is a probability in [0, 1], got {self.p_not_now}")
        if self.answer_form not in ANSWER_FORMS:
            raise ValueError(f"answer_form is one of {', '.join(ANSWER_FORMS)}, "
                             f"got {self.answer_form!r}")
        if self.delink_form not in DELINK_FORMS:
            raise ValueError(f"delink_form is one of {', '.join(DELINK_FORMS)}, "
                             f"got {self.delink_form!r}")
        if not 0.0 <= self.p_others <= 1.0:
            raise ValueError(f"p_others is a probability in [0, 1], got {self.p_others}")
        if not 300 <= self.redirect_status <= 399:
            raise ValueError(f"redirect_status must be a 3xx, got {self.redirect_status}")
        for name in ("latency_ms", "jitter_ms", "rate_limit", "slow_s", "token_ttl", "token_503",
                     "token_revoke_s",
                     "gateway_s", "gateway_apply_s", "stall_every_s", "stall_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.rate_period <= 0:
            raise ValueError(f"rate_period must be > 0 seconds, got {self.rate_period}")
        total = 0.0
        for name in READ_DIALS:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a probability in [0, 1], got {getattr(self, name)}")
        for name in FAULT_DIALS:
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} is a probability in [0, 1], got {p}")
            total += p
        # One uniform draw per request picks at most one dial, so each dial fires with
        # exactly its own probability; that needs the bands to fit in [0, 1].
        if total > 1.0 + 1e-9:
            raise ValueError(f"the fault probabilities add up to {total:.3f}; keep the sum <= 1")

    @property
    def auth_enabled(self) -> bool:
        return bool(self.username)

    @property
    def answers_dialled(self) -> bool:
        """Answers other than the API's own form and order."""
        return self.answer_form != "stored" or self.shuffle or self.p_others > 0

    @property
    def any_fault(self) -> bool:
        return any(getattr(self, name) > 0 for name in FAULT_DIALS)


FIELD_NAMES = tuple(f.name for f in fields(SimConfig))
