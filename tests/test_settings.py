"""settings.py: precedence, validation messages, no secrets in what is shown."""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from bulkupdate.errors import UsageError
from bulkupdate.settings import (
    FLAGS,
    NOT_RESUMED,
    RULES,
    SETTABLE,
    Credentials,
    Rate,
    Settings,
    default_of,
    load_settings,
    parse_rate,
    shown_default,
    unknown_environment,
)

ROOT = Path(__file__).resolve().parents[1]
URL = "https://api.example.com"


@pytest.mark.parametrize(("text", "rate"), [
    ("100/min", Rate(100, 60)), ("20/s", Rate(20, 1)), ("7", Rate(7, 1)),
    ("2.5/s", Rate(2.5, 1)), (" 30 / MIN ", Rate(30, 60)), ("100/hour", Rate(100, 3600)),
    ("5/h", Rate(5, 3600)),
])
def test_rate_forms(text: str, rate: Rate) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["0", "-1/s", "fast", "10/day", ""])
def test_bad_rate_says_how_to_fix_it(text: str) -> None:
    with pytest.raises(UsageError, match="N/s, N/min"):
        parse_rate(text)


def test_rate_interval_is_smooth_pacing() -> None:
    assert parse_rate("100/min").interval == pytest.approx(0.6)


def test_flags_beat_environment_beat_config_beat_defaults(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('rate = "10/s"\nconcurrency = 3\nbatch_size = 20\ntimeout = 9\n')
    env = {"BULKUPDATE_CONCURRENCY": "5", "BULKUPDATE_BATCH_SIZE": "30"}
    s = load_settings({"batch_size": 40, "rate": None, "base_url": URL}, config_path=config,
                      env=env)
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
        Settings(**{"base_url": "https://api.example.com", **kw})


def test_loopback_may_be_plain_http() -> None:
    for url in ("http://127.0.0.1:1", "http://localhost:8080", "http://[::1]:9"):
        Settings(base_url=url)


def test_credentials_from_env_or_file_and_never_shown(tmp_path: Path) -> None:
    secret = tmp_path / "creds.toml"
    secret.write_text('client_key = "k"\nclient_secret = "TOPSECRET"\n')
    secret.chmod(0o600)
    config = tmp_path / "c.toml"
    config.write_text('credentials_file = "creds.toml"\n')
    s = load_settings({"base_url": URL}, config_path=config, env={})
    assert s.credentials.scheme == "oauth"
    assert "TOPSECRET" not in repr(s) and "TOPSECRET" not in str(s.public())
    s = load_settings({}, config_path=None,
                      env={"CAPILLARY_USERNAME": "u", "CAPILLARY_PASSWORD": "TOPSECRET",
                           "BULKUPDATE_BASE_URL": URL})
    assert s.credentials == Credentials("u", "TOPSECRET") and "TOPSECRET" not in repr(s)
    assert s.public()["auth"] == "basic"


@pytest.mark.parametrize("name", ["bulkupdate.example.toml", "demo.toml"])
def test_shipped_example_configs_load(name: str) -> None:
    load_settings({}, config_path=ROOT / "config" / name, env={})


def test_the_example_config_is_the_declarations() -> None:
    """config/bulkupdate.example.toml names every setting (set or commented out),
    nothing else, and the values it sets are the declared defaults."""
    path = ROOT / "config" / "bulkupdate.example.toml"
    text = path.read_text()
    given = tomllib.loads(text)
    commented = set(re.findall(r"^# (\w+) = ", text, re.MULTILINE))
    assert set(given) | commented <= {*SETTABLE, "credentials_file"}
    assert set(SETTABLE) <= set(given) | commented, "document the new setting(s) there"
    loaded = load_settings({}, config_path=path, env={})
    for name in set(given) - {"base_url"}:   # the one without a default: an example
        assert getattr(loaded, name) == default_of(name), name


def test_every_flag_says_its_declared_default_in_help() -> None:
    from bulkupdate.cli.main import build_parser

    parser = build_parser()
    help_of = {action.dest: action.help or "" for sub in parser._subparsers._group_actions
               for action in sub.choices["run"]._actions}
    for name in FLAGS:
        shown = shown_default(name)
        if shown is not None:
            assert shown.replace("%", "%%") in help_of[name], name
    assert "(default 8)" in help_of["concurrency"] and "100/min" in help_of["rate"]


def test_each_setting_is_declared_once_with_its_rule() -> None:
    """A field without a declaration cannot be built: the table is the fields."""
    assert set(RULES) == {f.name for f in fields(Settings)}
    assert {"progress", "log_format", "metrics_port", "proxy"} == NOT_RESUMED


@pytest.mark.parametrize(("kw", "message"), [
    ({"concurrency": True}, "concurrency = True"), ({"concurrency": 2.0}, "an integer"),
    ({"concurrency": 100_000_000}, "1 to 1000"), ({"batch_size": 50.5}, "batch_size"),
    ({"window": -5}, "window"), ({"max_attempts": 10_000}, "1 to 100"),
    ({"timeout": float("inf")}, "timeout"), ({"timeout": float("nan")}, "timeout"),
    ({"timeout": 0}, "more than 0"), ({"retry_budget": float("nan")}, "retry_budget"),
    ({"backoff_cap": -1}, "backoff_cap"), ({"linger": "0.1"}, "linger"),
    ({"mask_pii": 1}, "true or false"), ({"log_level": "loud"}, "one of"),
    ({"base_url": "http://u:secret@127.0.0.1"}, "user info"),
    ({"base_url": "http://127.0.0.1:notaport"}, "http(s)"),
])
def test_library_values_are_checked_like_any_other(kw: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        Settings(**kw)
    assert "secret" not in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("count", [float("inf"), float("nan"), 0, -1, 1e9, True])
def test_a_rate_is_finite_positive_and_sane(count: float) -> None:
    with pytest.raises(UsageError):
        Rate(count, 1.0)


@pytest.mark.parametrize(("text", "message"), [
    ("concurrency = true\n", "concurrency = True"), ("batch_size = 50.5\n", "batch_size"),
    ("timeout = inf\n", "timeout"), ("window = -5\n", "window"),
    ('rate = "1e309/s"\n', "rate"), ("rate = true\n", "rate"), ("progress = 1\n", "progress"),
    ("credentials_file = 5\n", "credentials_file must be a string"),
])
def test_config_file_values_are_checked(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(text)
    with pytest.raises(UsageError, match=message):
        load_settings({}, config_path=config, env={})


def test_whole_numbers_are_floats_where_floats_are_meant(tmp_path: Path) -> None:
    s = load_settings({"timeout": "7", "base_url": URL}, config_path=None,
                      env={"BULKUPDATE_LINGER": "0"})
    assert type(s.timeout) is float and type(s.linger) is float and s.timeout == 7.0


@pytest.mark.parametrize("text", ['password = ["x"]\n', "password = 5\n",
                                  "username = true\n"])
def test_credentials_must_be_strings_and_are_never_echoed(tmp_path: Path, text: str) -> None:
    creds = tmp_path / "creds.toml"
    creds.write_text('username = "u"\n' * ("username" not in text) + text)
    creds.chmod(0o600)
    (tmp_path / "c.toml").write_text('credentials_file = "creds.toml"\n')
    with pytest.raises(UsageError, match="must be a string") as e:
        load_settings({}, config_path=tmp_path / "c.toml", env={})
    assert "x" not in str(e.value).split("creds.toml")[-1]


def test_credentials_file_readable_by_others_is_refused_like_ssh(tmp_path: Path) -> None:
    creds = tmp_path / "creds.toml"
    creds.write_text('username = "u"\npassword = "p"\n')
    creds.chmod(0o644)
    (tmp_path / "c.toml").write_text('credentials_file = "creds.toml"\n')
    with pytest.raises(UsageError, match=f"chmod 600 {creds}"):
        load_settings({}, config_path=tmp_path / "c.toml", env={})


def test_the_library_takes_a_rate_as_text() -> None:
    assert Settings(base_url=URL, rate="100/min").rate == Rate(100, 60)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="N/s, N/min"):
        Settings(rate="inf/s")  # type: ignore[arg-type]


def test_rate_per_hour_is_shown_and_paced_per_hour() -> None:
    rate = parse_rate("100/hour")
    assert str(rate) == "100/hour" and rate.interval == pytest.approx(36.0)
    assert parse_rate(str(rate)) == rate


def test_misspelt_environment_variable_is_named_with_the_nearest() -> None:
    env = {"BULKUPDATE_RATE": "5/s", "BULKUPDATE_CONCURENCY": "4", "BULKUPDATE_ZZZ": "1",
           "HOME": "/root"}
    assert unknown_environment(env) == [("BULKUPDATE_CONCURENCY", "BULKUPDATE_CONCURRENCY"),
                                        ("BULKUPDATE_ZZZ", None)]


def test_basic_and_oauth_both_set_is_a_usage_error() -> None:
    env = {"CAPILLARY_USERNAME": "u", "CAPILLARY_PASSWORD": "p",
           "CAPILLARY_CLIENT_KEY": "k", "CAPILLARY_CLIENT_SECRET": "s"}
    with pytest.raises(UsageError, match="keep only the pair"):
        load_settings({"base_url": URL}, config_path=None, env=env)
    del env["CAPILLARY_PASSWORD"]   # an incomplete pair is no choice to make
    assert load_settings({"base_url": URL}, config_path=None,
                         env=env).credentials.scheme == "oauth"


@pytest.mark.parametrize(("kw", "message"), [
    ({"log_format": "xml"}, "log_format"), ({"progress_every": 0}, "progress_every"),
    ({"metrics_port": 70000}, "metrics_port"), ({"allow_failures": "ten"}, "allow-failures"),
    ({"allow_failures": "150%"}, "allow-failures"),
])
def test_invalid_operations_settings(kw: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        Settings(base_url=URL, **kw)


def test_resume_decides_log_format_and_metrics_port_afresh() -> None:
    base = Settings(base_url=URL, log_format="json", metrics_port=9100,
                    metrics_file="/tmp/m.prom").public()
    s = load_settings({}, config_path=None, env={}, base=base)
    assert s.log_format is None and s.metrics_port is None and s.metrics_file == "/tmp/m.prom"


def test_misspelt_credential_variable_is_named_with_the_nearest() -> None:
    env = {"CAPILLARY_USERNAME": "u", "CAPILLARY_PASSWD": "p", "CAPILLARY_CLIENTKEY": "k"}
    assert unknown_environment(env) == [("CAPILLARY_CLIENTKEY", "CAPILLARY_CLIENT_KEY"),
                                        ("CAPILLARY_PASSWD", "CAPILLARY_PASSWORD")]


@pytest.mark.parametrize(("kw", "missing"), [
    ({"username": "u"}, "password"), ({"password": "p"}, "username"),
    ({"client_key": "k"}, "client_secret"), ({"client_secret": "s"}, "client_key"),
    ({"username": "u", "password": ""}, "password"),
])
def test_half_a_credential_pair_is_refused_when_built(kw: dict, missing: str) -> None:
    with pytest.raises(UsageError, match=f"is given but {missing} is not"):
        Credentials(**kw)


def test_half_a_pair_in_the_environment_names_the_variable_to_set() -> None:
    with pytest.raises(UsageError, match="set CAPILLARY_PASSWORD"):
        load_settings({"base_url": URL}, config_path=None, env={"CAPILLARY_USERNAME": "u"})


@pytest.mark.parametrize("text", ['concurrency = "8"\n', 'timeout = "30"\n',
                                  'mask_pii = "false"\n', 'metrics_port = "9100"\n'])
def test_a_quoted_number_in_the_config_file_is_refused(tmp_path: Path, text: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'base_url = "{URL}"\n' + text)
    with pytest.raises(UsageError, match="written without quotes"):
        load_settings({}, config_path=config, env={})


@pytest.mark.parametrize(("url", "root"), [
    ("https://eu.api.capillarytech.com/v2/partnerProgram/customerPartnerProgramUpdate",
     "https://eu.api.capillarytech.com"),
    ("https://gw.example.com/capillary/v2/partnerProgram/customerPartnerProgramUpdate/",
     "https://gw.example.com/capillary"),
    ("https://eu.api.capillarytech.com/v3/oauth/token/generate",
     "https://eu.api.capillarytech.com"),
])
def test_the_endpoint_path_as_base_url_is_refused_naming_the_root(url: str, root: str) -> None:
    with pytest.raises(UsageError, match=f"give the API root, --base-url {root}$"):
        Settings(base_url=url)


def test_the_log_format_is_read_through_its_rule_before_the_other_settings() -> None:
    from bulkupdate.settings import early

    env = {"BULKUPDATE_LOG_FORMAT": "json"}
    assert early("log_format", None, env) == "json"
    assert early("log_format", "text", env) == "text"          # the flag first
    assert early("log_format", None, {"BULKUPDATE_LOG_FORMAT": "xml"}) is None
    assert early("log_format", None, {}) is None


def test_resume_help_says_its_defaults_are_the_runs_own() -> None:
    from bulkupdate.settings import help_text

    assert help_text("rate", resume=True).endswith("(default: the run's own)")
    assert "100/min" in help_text("rate")
    # Decided afresh on each resume: the tool's own default is shown.
    assert "terminal" in help_text("progress", resume=True)
