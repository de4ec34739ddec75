"""runtime.config.from_environ: the settings, their defaults, and the start-up errors."""

from __future__ import annotations

import pytest

from runtime.config import ConfigError, from_environ

BASE_ENV = {"TWILIO_AUTH_TOKEN": "secret-token-value", "TWILIO_ACCOUNT_SID": "AC" + "0" * 32}


def test_minimal_environment_gets_the_documented_defaults():
    settings = from_environ(BASE_ENV)
    assert settings.auth_token == "secret-token-value"
    assert settings.deadline_s == 2.5
    assert settings.default_region == "US"
    assert settings.customers_collection == "customers"
    assert settings.twilio_api_base_url == "https://conversations.twilio.com"
    assert settings.public_url == ""


def test_missing_auth_token_is_named():
    with pytest.raises(ConfigError) as raised:
        from_environ({"TWILIO_ACCOUNT_SID": BASE_ENV["TWILIO_ACCOUNT_SID"]})
    assert "TWILIO_AUTH_TOKEN" in str(raised.value)
    assert "TWILIO_ACCOUNT_SID" not in str(raised.value)


def test_blank_auth_token_counts_as_missing():
    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN"):
        from_environ({**BASE_ENV, "TWILIO_AUTH_TOKEN": "   "})


def test_both_missing_are_both_named():
    with pytest.raises(ConfigError) as raised:
        from_environ({})
    assert "TWILIO_AUTH_TOKEN" in str(raised.value) and "TWILIO_ACCOUNT_SID" in str(raised.value)


@pytest.mark.parametrize("extra", [{"TWILIO_API_KEY": "SK" + "1" * 32}, {"TWILIO_API_SECRET": "api-secret-value"}])
def test_api_key_and_secret_come_together(extra):
    with pytest.raises(ConfigError) as raised:
        from_environ({**BASE_ENV, **extra})
    message = str(raised.value)
    assert "TWILIO_API_KEY" in message and "TWILIO_API_SECRET" in message
    assert "secret-token-value" not in message and "api-secret-value" not in message


def test_api_key_with_secret_is_accepted():
    settings = from_environ({**BASE_ENV, "TWILIO_API_KEY": "SK" + "1" * 32, "TWILIO_API_SECRET": "s"})
    assert settings.api_key.startswith("SK") and settings.api_secret == "s"


@pytest.mark.parametrize("deadline", ["5", "5.0", "7", "30"])
def test_deadline_at_or_over_twilios_timeout_is_refused(deadline):
    with pytest.raises(ConfigError, match="WEBHOOK_DEADLINE_S"):
        from_environ({**BASE_ENV, "WEBHOOK_DEADLINE_S": deadline})


@pytest.mark.parametrize("deadline", ["abc", "2,5", "0", "-1"])
def test_deadline_that_is_not_a_positive_number_is_refused(deadline):
    with pytest.raises(ConfigError, match="WEBHOOK_DEADLINE_S"):
        from_environ({**BASE_ENV, "WEBHOOK_DEADLINE_S": deadline})


def test_deadline_just_under_five_is_accepted():
    assert from_environ({**BASE_ENV, "WEBHOOK_DEADLINE_S": "4.9"}).deadline_s == 4.9


def test_region_is_upper_cased_and_base_url_loses_its_trailing_slash():
    settings = from_environ({**BASE_ENV, "DEFAULT_REGION": "gb", "TWILIO_API_BASE_URL": "http://127.0.0.1:9000/"})
    assert settings.default_region == "GB"
    assert settings.twilio_api_base_url == "http://127.0.0.1:9000"


def test_a_log_level_typo_is_a_start_up_error():
    with pytest.raises(ConfigError, match="LOG_LEVEL"):
        from_environ({"TWILIO_AUTH_TOKEN": "t", "TWILIO_ACCOUNT_SID": "AC1", "LOG_LEVEL": "VERBOSE"})
    assert from_environ({"TWILIO_AUTH_TOKEN": "t", "TWILIO_ACCOUNT_SID": "AC1", "LOG_LEVEL": "debug"}).log_level == "DEBUG"
