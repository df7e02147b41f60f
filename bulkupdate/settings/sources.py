"""The sources of settings, strongest first: flags, the environment
(``BULKUPDATE_*``, credentials from ``CAPILLARY_*``), the config file, a resumed
run's manifest; then the declared defaults. :func:`load_with_sources` merges them and
records where each value came from (:class:`Sources`)."""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..base.network import proxy_from_env
from ..errors import UsageError, cannot_open
from .schema import NOT_RESUMED, RULES, SETTABLE, Settings
from .values import CREDENTIALS_PREFIX, ENV_NAMES, Allowance, Credentials, Rate, _show, parse_rate

ENV_PREFIX = "BULKUPDATE_"


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


def load_with_sources(flags: Mapping[str, Any], *, config_path: Path | None, env: Mapping[str, str],
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
    """:func:`load_with_sources`'s settings alone."""
    return load_with_sources(flags, config_path=config_path, env=env, base=base)[0]


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
