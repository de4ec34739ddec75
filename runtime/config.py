"""Every environment variable the function reads, in one place.

`settings()` validates the webhook's once; a missing required variable or a malformed
`PUBLIC_URL` is a start-up error that names it, so a bad deploy fails loudly instead of
answering 403 to every webhook. `format_problems()` holds the shape rules of Twilio's
identifiers too, which `tools/doctor.py` reports.
`store_settings()` is the Firestore part alone: the data tools and the Firestore trigger
need no Twilio credentials.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

TWILIO_API_DEFAULT_BASE_URL = "https://conversations.twilio.com"

# name -> (required, default, what it is for); the README's configuration table lists the same
# names (tests/test_readme.py checks it), with more to say about each.
VARIABLES: dict[str, tuple[bool, str, str]] = {
    "TWILIO_AUTH_TOKEN": (True, "", "Verifies X-Twilio-Signature; REST auth unless an API key is set"),
    "TWILIO_ACCOUNT_SID": (True, "", "Account for REST calls (AC...)"),
    "TWILIO_API_KEY": (False, "", "Optional API key SID (SK...) used for REST instead of the auth token"),
    "TWILIO_API_SECRET": (False, "", "Secret of TWILIO_API_KEY"),
    "TWILIO_API_BASE_URL": (False, TWILIO_API_DEFAULT_BASE_URL, "Where Twilio REST calls go (local runs and tests point it at 127.0.0.1)"),
    "PUBLIC_URL": (False, "", "The URL Twilio calls, when the platform rewrites scheme, host or path"),
    "GOOGLE_CLOUD_PROJECT": (False, "", "Firestore project and the trace field's project (gen2 does not set it; `make deploy` does; `demo-frontline` locally)"),
    "FIRESTORE_EMULATOR_HOST": (False, "", "host:port of a Firestore emulator (local runs and tests only)"),
    "CUSTOMERS_COLLECTION": (False, "customers", "Collection holding customer profiles"),
    "DEFAULT_REGION": (False, "US", "Region for phone numbers written without a country code"),
    "PROFILE_CACHE_TTL_S": (False, "30", "Seconds a webhook may answer from this instance's copy of a customer's index entry (unknown addresses: a sixth of it, at most 5 s); 0 turns the cache off"),
    "WEBHOOK_DEADLINE_S": (False, "2.5", "Time budget per webhook; Twilio gives up after 5 s"),
    "MAX_BODY_BYTES": (False, "163840", "Larger request bodies (by their declared length) are refused with 413, unread"),
    "LOG_LEVEL": (False, "INFO", "DEBUG, INFO, WARNING or ERROR"),
    "TWILIO_SMS_NUMBER": (False, "", "Frontline: default proxy number for SMS"),
    "TWILIO_WHATSAPP_NUMBER": (False, "", "Frontline: default proxy number for WhatsApp"),
    "DEFAULT_WORKER": (False, "", "Frontline: worker identity used when a customer has none"),
    "UNASSIGNED_CUSTOMERS_VISIBLE": (False, "true", "Frontline: customers with no worker are listed to every worker (true/false)"),
}

# MAX_BODY_BYTES' default, from the largest body Twilio sends (twilio.com/docs/conversations/conversations-limits):
# onConversationAdd carries the first message's Body (inbound: up to 32 KB) and the conversation's
# Attributes (up to 16 KB), plus about 20 short fields (sids, addresses of at most 256 characters,
# FriendlyName of at most 256): 32 + 16 + 4 KiB = 52 KiB of values. Form encoding turns a byte into
# at most three ("%E2"), so the largest real body is 156 KiB; 160 KiB = 163,840 bytes.
# onMessageAdd (Body 32 KB + message Attributes 4 KB) and the Frontline callbacks are smaller.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(RuntimeError):
    """The environment cannot run the function; the message names what to fix."""


ACCOUNT_SID_FORMAT = re.compile(r"^AC[0-9a-fA-F]{32}$")
API_KEY_FORMAT = re.compile(r"^SK[0-9a-fA-F]{32}$")
AUTH_TOKEN_FORMAT = re.compile(r"^[0-9a-fA-F]{32}$")


def public_url_problem(value: str) -> str | None:
    """Why `value` cannot be the URL Twilio signs (Twilio calls an absolute http(s) URL, and the
    request's own path and query are added to it), or None; an unset PUBLIC_URL is fine."""
    if not value:
        return None
    parts = urlsplit(value)
    try:
        _ = parts.port  # parsing it is the check: `host:abc` raises
    except ValueError:
        return "PUBLIC_URL has a port that is not a number from 0 to 65535"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "PUBLIC_URL is not an absolute http(s) URL"
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        return "PUBLIC_URL has a query or fragment (the request's own query is added to it)"
    return None


def format_problems(values: Mapping[str, str]) -> dict[str, str]:
    """Malformed settings among `values` (stripped, unset ones ""), by variable name.

    Only PUBLIC_URL's stops the webhook at start-up: local runs and tests use a stand-in with
    tokens of any shape, while a real account's SID, key and token always have these shapes,
    so the doctor reports them against real Twilio. Messages never quote a token.
    """
    problems: dict[str, str] = {}
    sid = values.get("TWILIO_ACCOUNT_SID", "")
    if sid and not ACCOUNT_SID_FORMAT.match(sid):
        problems["TWILIO_ACCOUNT_SID"] = f"TWILIO_ACCOUNT_SID is not AC followed by 32 hex characters ({len(sid)} characters)"
    token = values.get("TWILIO_AUTH_TOKEN", "")
    if token and not AUTH_TOKEN_FORMAT.match(token):
        problems["TWILIO_AUTH_TOKEN"] = f"TWILIO_AUTH_TOKEN is not 32 hex characters ({len(token)} characters)"
    key = values.get("TWILIO_API_KEY", "")
    if key and not API_KEY_FORMAT.match(key):
        problems["TWILIO_API_KEY"] = "TWILIO_API_KEY is not SK followed by 32 hex characters"
    url_problem = public_url_problem(values.get("PUBLIC_URL", ""))
    if url_problem:
        problems["PUBLIC_URL"] = url_problem
    return problems


@dataclass(frozen=True)
class Settings:
    auth_token: str
    account_sid: str
    api_key: str
    api_secret: str
    twilio_api_base_url: str
    public_url: str
    project: str
    customers_collection: str
    default_region: str
    deadline_s: float
    max_body_bytes: int
    log_level: str
    sms_number: str
    whatsapp_number: str
    default_worker: str
    unassigned_customers_visible: bool


def _positive_number(name: str, raw: str, kind: type) -> float | int:
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be greater than 0, got {raw!r}")
    return value


def _flag(name: str, raw: str) -> bool:
    lowered = raw.lower()
    if lowered not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"{name} must be true or false, got {raw!r}")
    return lowered in ("true", "1", "yes")


@dataclass(frozen=True)
class StoreSettings:
    """What Firestore-only tools (the customer data tool, benchmarks) need: no Twilio credentials."""

    project: str
    customers_collection: str
    default_region: str
    profile_cache_ttl_s: float


# The subset of VARIABLES that reaching the customer data needs; FIRESTORE_EMULATOR_HOST is read
# by the Firestore client library itself, so it is listed here only to be documented.
STORE_VARIABLES = ("GOOGLE_CLOUD_PROJECT", "FIRESTORE_EMULATOR_HOST", "CUSTOMERS_COLLECTION", "DEFAULT_REGION", "PROFILE_CACHE_TTL_S")
# Longer would let a changed profile take more than an hour to reach the webhooks.
MAX_PROFILE_CACHE_TTL_S = 3600.0


def _values(environ: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    return {name: environ.get(name, "").strip() or VARIABLES[name][1] for name in names}


def store_settings_from_environ(environ: Mapping[str, str]) -> StoreSettings:
    values = _values(environ, STORE_VARIABLES)
    return StoreSettings(
        project=values["GOOGLE_CLOUD_PROJECT"],
        customers_collection=values["CUSTOMERS_COLLECTION"],
        default_region=values["DEFAULT_REGION"].upper(),
        profile_cache_ttl_s=_cache_ttl(values["PROFILE_CACHE_TTL_S"]),
    )


def _cache_ttl(raw: str) -> float:
    try:
        ttl = float(raw)
    except ValueError:
        raise ConfigError(f"PROFILE_CACHE_TTL_S must be a number of seconds, got {raw!r}") from None
    if not 0 <= ttl <= MAX_PROFILE_CACHE_TTL_S:  # also refuses nan
        raise ConfigError(f"PROFILE_CACHE_TTL_S must be between 0 (off) and {MAX_PROFILE_CACHE_TTL_S:.0f}, got {raw!r}")
    return ttl


def store_settings() -> StoreSettings:
    """Follows the environment on every call (tests change it between calls), parsed once per distinct value.

    Every webhook lookup asks: the variables are read (a microsecond each), their parsing is remembered.
    """
    return _store_settings_of(tuple(os.environ.get(name, "") for name in STORE_VARIABLES))


@functools.lru_cache(maxsize=16)
def _store_settings_of(raw: tuple[str, ...]) -> StoreSettings:
    return store_settings_from_environ(dict(zip(STORE_VARIABLES, raw)))


def log_level_from_environ(environ: Mapping[str, str]) -> str:
    level = _values(environ, ("LOG_LEVEL",))["LOG_LEVEL"].upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    return level


def from_environ(environ: Mapping[str, str]) -> Settings:
    values = _values(environ, VARIABLES)
    missing = [name for name, (required, _, _) in VARIABLES.items() if required and not values[name]]
    if missing:
        raise ConfigError("missing required environment variable(s): " + ", ".join(missing))
    if bool(values["TWILIO_API_KEY"]) != bool(values["TWILIO_API_SECRET"]):
        raise ConfigError("TWILIO_API_KEY and TWILIO_API_SECRET must be set together")
    url_problem = public_url_problem(values["PUBLIC_URL"])
    if url_problem:
        raise ConfigError(url_problem)
    deadline = _positive_number("WEBHOOK_DEADLINE_S", values["WEBHOOK_DEADLINE_S"], float)
    if deadline >= 5:
        raise ConfigError("WEBHOOK_DEADLINE_S must be under 5 (Twilio's webhook timeout)")
    store = store_settings_from_environ(environ)
    return Settings(
        auth_token=values["TWILIO_AUTH_TOKEN"],
        account_sid=values["TWILIO_ACCOUNT_SID"],
        api_key=values["TWILIO_API_KEY"],
        api_secret=values["TWILIO_API_SECRET"],
        twilio_api_base_url=values["TWILIO_API_BASE_URL"].rstrip("/"),
        public_url=values["PUBLIC_URL"],
        project=store.project,
        customers_collection=store.customers_collection,
        default_region=store.default_region,
        deadline_s=deadline,
        max_body_bytes=int(_positive_number("MAX_BODY_BYTES", values["MAX_BODY_BYTES"], int)),
        log_level=log_level_from_environ(environ),
        sms_number=values["TWILIO_SMS_NUMBER"],
        whatsapp_number=values["TWILIO_WHATSAPP_NUMBER"],
        default_worker=values["DEFAULT_WORKER"],
        unassigned_customers_visible=_flag("UNASSIGNED_CUSTOMERS_VISIBLE", values["UNASSIGNED_CUSTOMERS_VISIBLE"]),
    )


@functools.cache
def settings() -> Settings:
    """The settings of this instance, read once (tests call `settings.cache_clear()`)."""
    return from_environ(os.environ)
