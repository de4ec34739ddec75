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


# Firestore's rules for a document id (https://firebase.google.com/docs/firestore/quotas#collections_documents_and_fields):
# one rule for customer ids, worker identities and address keys alike.
MAX_DOCUMENT_ID_BYTES = 1500


def _is_reserved(value: str) -> bool:
    # Ids matching `__.*__` are reserved by Firestore.
    return len(value) >= 4 and value.startswith("__") and value.endswith("__")


def is_document_id(value: str) -> bool:
    """Whether Firestore accepts `value` as a document id as it stands."""
    return (bool(value) and "/" not in value and value not in (".", "..") and not _is_reserved(value)
            and len(value.encode("utf-8")) <= MAX_DOCUMENT_ID_BYTES)


def _as_document_id(key: str) -> str:
    # '%' is escaped too, so an escaped key can never equal a different raw key.
    if "%" not in key and is_document_id(key):
        return key
    return quote(key, safe="").replace(".", "%2E").replace("_", "%5F")


def address_key(address: str, default_region: str = "US") -> str | None:
    """The index key for `address`, or None when it cannot identify anyone."""
    value = strip_channel_prefix(address)
    if not value:
        return None
    key = _as_e164(value, default_region) or value.lower()
    key = _as_document_id(key)
    return key if is_document_id(key) else None


def is_phone_number(address: str, default_region: str = "US") -> bool:
    return _as_e164(strip_channel_prefix(address), default_region) is not None
