"""The shapes of settings, judged in runtime/config.py alone: a malformed PUBLIC_URL stops the webhook
at start-up (it would otherwise answer 403 to every call); the doctor reports the rest with config's words."""

from __future__ import annotations

import pytest

from runtime.config import ConfigError, format_problems, from_environ, public_url_problem
from tests.conftest import ACCOUNT_SID
from tests.test_boundaries import _import_main
from tools.doctor import FAIL, PASS, check_environment

BASE = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": "0123456789abcdef" * 2}
GOOD_URLS = ["https://region-proj.cloudfunctions.net/frontline_webhook", "https://hooks.example.test:8443/fn",
             "http://127.0.0.1:8080/", "https://frontline-abc-uc.a.run.app"]
BAD_URLS = {
    "region-proj.cloudfunctions.net/frontline_webhook": "absolute",  # no scheme: a path, not a URL
    "/frontline_webhook": "absolute",
    "ftp://hooks.example.test/fn": "absolute",
    "https://": "absolute",
    "https:///frontline_webhook": "absolute",
    "https://hooks.example.test/fn?key=1": "query or fragment",
    "https://hooks.example.test/fn?": "query or fragment",
    "https://hooks.example.test/fn#top": "query or fragment",
    "https://hooks.example.test:abc/fn": "port",
    "https://hooks.example.test:99999/fn": "port",
}


@pytest.mark.parametrize("url", ["", *GOOD_URLS])
def test_a_well_formed_or_unset_public_url_is_accepted(url):
    assert public_url_problem(url) is None
    assert from_environ({**BASE, "PUBLIC_URL": url}).public_url == url


@pytest.mark.parametrize("url, why", BAD_URLS.items())
def test_a_malformed_public_url_is_a_config_error_naming_it(url, why):
    assert why in (public_url_problem(url) or "")
    with pytest.raises(ConfigError, match="PUBLIC_URL") as raised:
        from_environ({**BASE, "PUBLIC_URL": url})
    assert why in str(raised.value)


def test_the_webhook_refuses_to_start_with_a_malformed_public_url():
    started = _import_main({"FUNCTION_TARGET": "frontline_webhook", "PUBLIC_URL": "region-proj.cloudfunctions.net/frontline_webhook"})
    assert started.returncode != 0
    assert "cannot start: PUBLIC_URL is not an absolute http(s) URL" in started.stdout


def test_well_formed_twilio_identifiers_have_no_problems():
    assert format_problems({**BASE, "TWILIO_API_KEY": "SK" + "0123456789ABCDEF" * 2, "PUBLIC_URL": GOOD_URLS[0]}) == {}


@pytest.mark.parametrize("name, value, expected", [
    ("TWILIO_ACCOUNT_SID", "AC123", "TWILIO_ACCOUNT_SID is not AC followed by 32 hex characters (5 characters)"),
    ("TWILIO_ACCOUNT_SID", "SK" + "0" * 32, "TWILIO_ACCOUNT_SID is not AC followed by 32 hex characters (34 characters)"),
    ("TWILIO_ACCOUNT_SID", "AC" + "g" * 32, "TWILIO_ACCOUNT_SID is not AC followed by 32 hex characters (34 characters)"),
    ("TWILIO_AUTH_TOKEN", "my-secret-token", "TWILIO_AUTH_TOKEN is not 32 hex characters (15 characters)"),
    ("TWILIO_AUTH_TOKEN", "0" * 33, "TWILIO_AUTH_TOKEN is not 32 hex characters (33 characters)"),
    ("TWILIO_API_KEY", "AK" + "0" * 32, "TWILIO_API_KEY is not SK followed by 32 hex characters"),
    ("TWILIO_API_KEY", "SK123", "TWILIO_API_KEY is not SK followed by 32 hex characters"),
    ("PUBLIC_URL", "hooks.example.test/fn", "PUBLIC_URL is not an absolute http(s) URL"),
])
def test_each_malformed_identifier_is_named_without_its_value(name, value, expected):
    assert format_problems({**BASE, name: value}) == {name: expected}
    assert value not in expected or name == "PUBLIC_URL"  # a token, even a wrong one, is never echoed


def test_unset_identifiers_are_missing_not_malformed():
    assert format_problems({}) == {}


def test_the_doctor_reports_configs_problems_with_a_fix_for_each():
    result, settings = check_environment({**BASE, "TWILIO_ACCOUNT_SID": "AC123", "PUBLIC_URL": "hooks.example.test/fn"})
    assert result.status == FAIL and settings is None
    assert result.detail == ("TWILIO_ACCOUNT_SID is not AC followed by 32 hex characters (5 characters); "
                             "PUBLIC_URL is not an absolute http(s) URL")
    assert "Account SID from the Twilio console" in result.fix and "set PUBLIC_URL to the exact URL Twilio calls" in result.fix
    assert "Configuration table" not in result.fix  # the start-up error is the same PUBLIC_URL problem, reported once


def test_the_doctor_passes_what_config_accepts():
    result, settings = check_environment({**BASE, "PUBLIC_URL": GOOD_URLS[0]})
    assert result.status == PASS and settings is not None and settings.public_url == GOOD_URLS[0]
