"""settings.py: precedence, validation messages, no secrets in what is shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulkupdate.errors import UsageError
from bulkupdate.settings import Credentials, Rate, Settings, load_settings, parse_rate

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("text", "rate"), [
    ("100/min", Rate(100, 60)), ("20/s", Rate(20, 1)), ("7", Rate(7, 1)),
    ("2.5/s", Rate(2.5, 1)), (" 30 / MIN ", Rate(30, 60)),
])
def test_rate_forms(text: str, rate: Rate) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["0", "-1/s", "fast", "10/hour", ""])
def test_bad_rate_says_how_to_fix_it(text: str) -> None:
    with pytest.raises(UsageError, match="N/s, N/min"):
        parse_rate(text)


def test_rate_interval_is_smooth_pacing() -> None:
    assert parse_rate("100/min").interval == pytest.approx(0.6)


def test_flags_beat_environment_beat_config_beat_defaults(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('rate = "10/s"\nconcurrency = 3\nbatch_size = 20\ntimeout = 9\n')
    env = {"BULKUPDATE_CONCURRENCY": "5", "BULKUPDATE_BATCH_SIZE": "30"}
    s = load_settings({"batch_size": 40, "rate": None}, config_path=config, env=env)
    assert (s.batch_size, s.concurrency, s.rate, s.timeout, s.max_attempts) == \
        (40, 5, Rate(10, 1), 9.0, 5)


def test_unknown_config_key_is_named(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("concurrancy = 3\n")
    with pytest.raises(UsageError, match="concurrancy"):
        load_settings({}, config_path=config, env={})


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(UsageError, match="BULKUPDATE_TIMEOUT"):
        load_settings({}, config_path=None, env={"BULKUPDATE_TIMEOUT": "soon"})


@pytest.mark.parametrize(("kw", "message"), [
    ({"batch_size": 51}, "1 to 50"), ({"batch_size": 0}, "1 to 50"),
    ({"base_url": "http://10.0.0.1"}, "https://"), ({"base_url": "ftp://x"}, "http(s)"),
    ({"concurrency": 0}, "concurrency"), ({"max_attempts": 0}, "attempts"),
])
def test_invalid_settings(kw: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings(**kw)


def test_loopback_may_be_plain_http() -> None:
    for url in ("http://127.0.0.1:1", "http://localhost:8080", "http://[::1]:9"):
        Settings(base_url=url)


def test_credentials_from_env_or_file_and_never_shown(tmp_path: Path) -> None:
    secret = tmp_path / "creds.toml"
    secret.write_text('client_key = "k"\nclient_secret = "TOPSECRET"\n')
    config = tmp_path / "c.toml"
    config.write_text('credentials_file = "creds.toml"\n')
    s = load_settings({}, config_path=config, env={})
    assert s.credentials.scheme == "oauth"
    assert "TOPSECRET" not in repr(s) and "TOPSECRET" not in str(s.public())
    s = load_settings({}, config_path=None,
                      env={"CAPILLARY_USERNAME": "u", "CAPILLARY_PASSWORD": "TOPSECRET"})
    assert s.credentials == Credentials("u", "TOPSECRET") and "TOPSECRET" not in repr(s)
    assert s.public()["auth"] == "basic"


@pytest.mark.parametrize("name", ["bulkupdate.example.toml", "demo.toml"])
def test_shipped_example_configs_load(name: str) -> None:
    load_settings({}, config_path=ROOT / "config" / name, env={})
