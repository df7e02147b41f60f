"""Settings: one frozen dataclass, built from defaults < config file < environment
< flags, validated once with messages that say how to fix the value.

The library never reads ``sys.argv``; only :func:`load_settings` reads the
environment, and only the CLI calls it.

Three modules, each importing only the one before it: :mod:`.values` (the value
types: :class:`Rate`, :class:`Credentials`, :class:`Allowance`), :mod:`.schema`
(the :class:`Settings` dataclass and its declared rules) and :mod:`.sources`
(flags, environment, config file and manifest, merged by :func:`load_with_sources`).
"""

from ..base.api import MAX_BATCH
from .schema import (
    FLAGS,
    NOT_RESUMED,
    RULES,
    SETTABLE,
    STATE_FLAGS,
    Declared,
    Rule,
    Settings,
    declared,
    default_of,
    help_text,
    is_loopback,
    setting,
    shown_default,
)
from .sources import (
    ENV_PREFIX,
    MANIFEST,
    Sources,
    early,
    load_settings,
    load_with_sources,
    merge,
    read_config,
    read_credentials,
    unknown_environment,
)
from .values import MAX_RATE, Allowance, Credentials, Rate, parse_rate

__all__ = [
    "ENV_PREFIX",
    "FLAGS",
    "MANIFEST",
    "MAX_BATCH",
    "MAX_RATE",
    "NOT_RESUMED",
    "RULES",
    "SETTABLE",
    "STATE_FLAGS",
    "Allowance",
    "Credentials",
    "Declared",
    "Rate",
    "Rule",
    "Settings",
    "Sources",
    "declared",
    "default_of",
    "early",
    "help_text",
    "is_loopback",
    "load_settings",
    "load_with_sources",
    "merge",
    "parse_rate",
    "read_config",
    "read_credentials",
    "setting",
    "shown_default",
    "unknown_environment",
]
