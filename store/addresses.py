"""Turn any spelling of a channel address into the id of its `customer_addresses` document.

`+15558675310`, `whatsapp:+15558675310` and `(555) 867-5310` must land on one key, so a
webhook can find a customer with one document get whatever channel the message came on.
"""

from __future__ import annotations

import re
from urllib.parse import quote

_CHANNEL_PREFIX = re.compile(r"^(whatsapp|sms|mms):", re.IGNORECASE)
_PHONE_LIKE = re.compile(r"^\+?[\d\s().\-]+$")
_MIN_PHONE_DIGITS = 4
MAX_KEY_BYTES = 1500


def strip_channel_prefix(address: str) -> str:
    return _CHANNEL_PREFIX.sub("", address.strip(), count=1).strip()


def _phonenumbers():
    # Imported on first use, not with main: with its metadata it is ~25 ms, a third of the
    # import of main (bench/README.md); the first phone lookup pays it once per instance.
    import phonenumbers

    return phonenumbers


def _as_e164(value: str, default_region: str) -> str | None:
    if not _PHONE_LIKE.match(value) or sum(c.isdigit() for c in value) < _MIN_PHONE_DIGITS:
        return None
    phonenumbers = _phonenumbers()
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _needs_escaping(key: str) -> bool:
    return (
        "/" in key
        or "%" in key
        or key in (".", "..")
        or (key.startswith("__") and key.endswith("__"))
    )


def _as_document_id(key: str) -> str:
    # '%' is escaped too, so an escaped key can never equal a different raw key.
    if not _needs_escaping(key):
        return key
    return quote(key, safe="").replace(".", "%2E").replace("_", "%5F")


def address_key(address: str, default_region: str = "US") -> str | None:
    """The index key for `address`, or None when it cannot identify anyone."""
    value = strip_channel_prefix(address)
    if not value:
        return None
    key = _as_e164(value, default_region) or value.lower()
    key = _as_document_id(key)
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        return None
    return key


def is_phone_number(address: str, default_region: str = "US") -> bool:
    return _as_e164(strip_channel_prefix(address), default_region) is not None
