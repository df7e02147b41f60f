"""network.py: the proxy the environment names, as curl and requests read it."""

from __future__ import annotations

import pytest

from bulkupdate.base.network import bypassed, proxy_from_env, without_userinfo
from bulkupdate.errors import UsageError
from bulkupdate.settings import load_settings

PROXY = "http://proxy.corp:3128"


@pytest.mark.parametrize(("url", "env", "proxy"), [
    ("https://eu.api.example.com", {"HTTPS_PROXY": PROXY}, PROXY),
    ("https://eu.api.example.com", {"https_proxy": PROXY, "HTTPS_PROXY": "x"}, PROXY),
    ("https://eu.api.example.com", {"HTTP_PROXY": PROXY}, None),
    ("http://127.0.0.1:8080", {"HTTP_PROXY": PROXY}, PROXY),
    ("https://eu.api.example.com", {"ALL_PROXY": PROXY}, PROXY),
    ("https://eu.api.example.com", {"HTTPS_PROXY": PROXY, "NO_PROXY": "example.com"}, None),
    ("https://eu.api.example.com", {"HTTPS_PROXY": PROXY, "NO_PROXY": ".api.example.com"},
     None),
    ("https://eu.api.example.com", {"HTTPS_PROXY": PROXY, "no_proxy": "*"}, None),
    ("https://eu.api.example.com", {"HTTPS_PROXY": PROXY, "NO_PROXY": "ample.com"}, PROXY),
    ("http://127.0.0.1:8080", {"HTTP_PROXY": PROXY, "NO_PROXY": "127.0.0.0/8"}, None),
    ("http://127.0.0.1:8080", {"HTTP_PROXY": PROXY, "NO_PROXY": "localhost, 127.0.0.1"},
     None),
    ("https://eu.api.example.com", {}, None),
])
def test_proxy_from_env(url: str, env: dict[str, str], proxy: str | None) -> None:
    assert proxy_from_env(url, env) == proxy


def test_no_proxy_entries_with_ports_and_brackets() -> None:
    assert bypassed("::1", "[::1]")
    assert bypassed("::1", "[::1]:8080") and bypassed("::1", "::1")
    assert bypassed("api.example.com", "api.example.com:443")
    assert not bypassed("api.example.com", "")


def test_settings_take_the_environment_proxy_unless_one_is_set() -> None:
    env = {"HTTPS_PROXY": "http://u:TOPSECRET@proxy.corp:3128"}
    url = {"base_url": "https://eu.api.example.com"}
    s = load_settings(url, config_path=None, env=env)
    assert s.proxy == env["HTTPS_PROXY"]
    assert "TOPSECRET" not in repr(s) and "TOPSECRET" not in str(s.public())
    assert s.public()["proxy"] == "http://***@proxy.corp:3128"
    s = load_settings({**url, "proxy": "http://other:8080"}, config_path=None, env=env)
    assert s.proxy == "http://other:8080"
    s = load_settings(url, config_path=None, env={**env, "BULKUPDATE_PROXY": "http://b:1"})
    assert s.proxy == "http://b:1"


def test_a_resumed_run_takes_the_proxy_of_its_own_environment() -> None:
    manifest = {"base_url": "https://eu.api.example.com", "proxy": "http://***@old:1"}
    s = load_settings({}, config_path=None, env={"HTTPS_PROXY": "http://new:2"},
                      base=manifest)
    assert s.proxy == "http://new:2"


@pytest.mark.parametrize(("flags", "message"), [
    ({"proxy": "socks5://p:1080"}, "not an http(s) URL"),
    ({"ca_bundle": "/nonexistent/ca.pem"}, "ca_bundle"),
    ({"settle": -1}, "settle"),
    ({"max_response_bytes": 10}, "max-response-bytes"),
])
def test_network_settings_are_checked(flags: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings({"base_url": "https://eu.api.example.com", **flags}, config_path=None,
                      env={})


def test_settle_is_never_shorter_than_the_timeout() -> None:
    s = load_settings({"base_url": "https://a.example.com", "settle": 5, "timeout": 30},
                      config_path=None, env={})
    assert s.effective_settle == 30


def test_without_userinfo() -> None:
    assert without_userinfo("http://u:p@h:1/x") == "http://***@h:1/x"
    assert without_userinfo("http://h:1") == "http://h:1"
