"""Pure rules for customer profiles: what a valid one is, and the index entries it implies."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict
from urllib.parse import urlparse

from runtime.errors import AppError
from store.addresses import MAX_DOCUMENT_ID_BYTES, address_key, is_document_id, is_phone_number

CHANNEL_TYPES = ("sms", "whatsapp", "chat", "email")
# Written by the store, never by users: Firestore cannot sort or search case-insensitively,
# so the worker lists order and prefix-search on this instead of display_name.
SORT_FIELD = "sort_name"
_PHONE_CHANNELS = ("sms", "whatsapp")
# The customer's own messaging choice, written by the onMessageAdded webhook (store/opt_out.py):
# one flag per customer, and when it last changed (ISO 8601, UTC). Not part of the index.
OPTED_OUT_FIELD = "opted_out"
OPTED_OUT_CHANGED_AT_FIELD = "opted_out_changed_at"
OPT_OUT_FIELDS = (OPTED_OUT_FIELD, OPTED_OUT_CHANGED_AT_FIELD)


# A bulk import asks for each address's key several times (validate, claim, plan against the
# stored profile) and phonenumbers parsing is most of its CPU time; both functions are pure.
# Only the write path and tools use these; webhooks call address_key directly, uncached.
_key_of = functools.lru_cache(maxsize=65536)(address_key)
_is_phone = functools.lru_cache(maxsize=65536)(is_phone_number)


class StoredProfile(TypedDict, total=False):
    """A `customers/{id}` document as read back: users' fields, then the store-derived ones.

    Written by anyone (console, CRM sync), so readers still check what they rely on.
    """

    display_name: str
    avatar: str
    channels: list[dict[str, str]]
    links: list[dict[str, Any]]
    details: dict[str, Any]
    worker: str
    sort_name: str
    opted_out: bool
    opted_out_changed_at: str


class InvalidProfile(AppError, ValueError):
    """A profile that must not be written; the message says which field and why.

    `field` names the field alone, for logs: the message may quote a value (a phone number).
    """

    status = 422

    def __init__(self, reason: str, field: str = "") -> None:
        super().__init__(reason)
        self.field = field


@dataclass(frozen=True)
class CustomerCard:
    """What a webhook needs of a customer: the projection stored in each index entry."""

    customer_id: str
    display_name: str
    avatar: str | None = None

    def as_index_document(self) -> dict[str, Any]:
        return {"customer_id": self.customer_id, "display_name": self.display_name, "avatar": self.avatar}

    @classmethod
    def from_index_document(cls, data: Mapping[str, Any]) -> CustomerCard:
        avatar = data.get("avatar")
        # The index is ours, but a console edit can put anything in it; an answer carries only text.
        return cls(str(data["customer_id"]), str(data.get("display_name") or ""), avatar if isinstance(avatar, str) and avatar else None)


def is_https_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parsed = urlparse(value)
    return parsed.scheme == "https" and bool(parsed.netloc)


def customer_id_of(raw: Any) -> str:
    customer_id = str(raw).strip() if raw is not None else ""
    if not is_document_id(customer_id):
        raise InvalidProfile(f"customer_id {raw!r} cannot be a Firestore document id", "customer_id")
    return customer_id


def _check_channel(channel: Any, default_region: str) -> None:
    if not isinstance(channel, Mapping):
        raise InvalidProfile(f"channel {channel!r} must be an object with type and value", "channels")
    kind, value = channel.get("type"), channel.get("value")
    if kind not in CHANNEL_TYPES:
        raise InvalidProfile(f"channel type {kind!r} is not one of {', '.join(CHANNEL_TYPES)}", "channels")
    if not isinstance(value, str) or not value.strip():
        raise InvalidProfile(f"{kind} channel has no value", "channels")
    if kind in _PHONE_CHANNELS and not _is_phone(value, default_region):
        raise InvalidProfile(f"{kind} channel value {value!r} is not a phone number", "channels")
    if kind == "email" and "@" not in value:
        raise InvalidProfile(f"email channel value {value!r} is not an email address", "channels")
    if _key_of(value, default_region) is None:
        raise InvalidProfile(f"{kind} channel value {value!r} cannot be an address", "channels")


def validate_profile(profile: Mapping[str, Any], default_region: str) -> dict[str, Any]:
    """A clean copy of `profile` ready to store, or InvalidProfile naming the first problem."""
    display_name = profile.get("display_name")
    if not isinstance(display_name, str) or not display_name.strip():
        raise InvalidProfile("display_name is required", "display_name")
    avatar = profile.get("avatar")
    if avatar not in (None, "") and not is_https_url(avatar):
        raise InvalidProfile(f"avatar {avatar!r} must be an absolute https URL", "avatar")
    channels = profile.get("channels") or []
    if not isinstance(channels, list):
        raise InvalidProfile("channels must be a list", "channels")
    for channel in channels:
        _check_channel(channel, default_region)
    for link in profile.get("links") or []:
        if not isinstance(link, Mapping) or not is_https_url(link.get("value")):
            raise InvalidProfile(f"link {link!r} must have an absolute https URL as value", "links")
    worker = profile.get("worker") or ""
    if not isinstance(worker, str):
        raise InvalidProfile(f"worker {worker!r} must be a worker identity", "worker")
    if OPTED_OUT_FIELD in profile and not isinstance(profile[OPTED_OUT_FIELD], bool):
        raise InvalidProfile(f"{OPTED_OUT_FIELD} {profile[OPTED_OUT_FIELD]!r} must be true or false", OPTED_OUT_FIELD)
    if OPTED_OUT_CHANGED_AT_FIELD in profile and not isinstance(profile[OPTED_OUT_CHANGED_AT_FIELD], str):
        raise InvalidProfile(f"{OPTED_OUT_CHANGED_AT_FIELD} {profile[OPTED_OUT_CHANGED_AT_FIELD]!r} must be a date and time (ISO 8601)",
                             OPTED_OUT_CHANGED_AT_FIELD)
    clean = {key: value for key, value in profile.items() if key not in ("customer_id", SORT_FIELD)}
    clean["display_name"] = display_name.strip()
    clean[SORT_FIELD] = sort_name_of(display_name)
    # Always present (empty = unassigned): Firestore queries cannot match a missing field.
    clean["worker"] = worker.strip()
    clean["channels"] = [{"type": c["type"], "value": c["value"].strip()} for c in channels]
    if avatar in (None, ""):
        clean.pop("avatar", None)
    check_storable(clean)
    return clean


def with_kept_opt_out(profile: Mapping[str, Any], stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """`profile` plus the stored opt-out fields it does not name: an import or CRM sync that knows
    nothing of opt-out must not undo a customer's STOP. Naming the fields (a data-tool column) sets them."""
    kept = {name: stored[name] for name in OPT_OUT_FIELDS if stored and name in stored and name not in profile}
    return {**profile, **kept}


# --- what Firestore refuses ------------------------------------------------------------------
# Firestore's documented limits (cloud.google.com/firestore/quotas, "Collections, documents, and
# fields"; sizes as cloud.google.com/firestore/docs/storage-size counts them). A profile breaking
# one passes every rule above and fails only at commit, after earlier commits of an import landed.
MAX_DOCUMENT_BYTES = 1_048_576
# The document's name counts towards its size: the longest id in the longest collection id (each
# 1,500 bytes + 1) + 16; every document adds 32 more. What is left is for the fields.
MAX_FIELDS_BYTES = MAX_DOCUMENT_BYTES - 32 - (16 + 2 * (MAX_DOCUMENT_ID_BYTES + 1))
MAX_FIELD_COUNT = 20_000      # every field of every map, at any depth
MAX_NESTING = 20              # maps and arrays inside one top-level field's value
MAX_FIELD_PATH_BYTES = 1500
_RESERVED_NAME = re.compile(r"__.*__", re.DOTALL)
_INT64 = (-(2**63), 2**63 - 1)


def _top(path: str) -> str:
    """The top-level field a path is in: what InvalidProfile.field names (no value, so fit for logs)."""
    return re.split(r"[.\[]", path, maxsplit=1)[0]


class _Tally:
    def __init__(self) -> None:
        self.fields = 0


def _utf8_size(text: str, what: str, field: str) -> int:
    try:
        return len(text.encode("utf-8")) + 1
    except UnicodeEncodeError:
        raise InvalidProfile(f"{what} is not valid Unicode text (an unpaired surrogate)", field) from None


def _name_size(name: Any, path: str, tally: _Tally) -> int:
    if not isinstance(name, str) or not name:
        raise InvalidProfile(f"field {path + '.' if path else ''}{name!r}: a field name must be non-empty text", _top(path) or str(name) or "profile")
    if _RESERVED_NAME.fullmatch(name):
        raise InvalidProfile(f"field {path + '.' if path else ''}{name!r}: names of the form __x__ are reserved by Firestore", _top(path) or str(name) or "profile")
    tally.fields += 1
    if tally.fields > MAX_FIELD_COUNT:
        raise InvalidProfile(f"more than {MAX_FIELD_COUNT} fields (Firestore's limit per document)", "profile")
    return _utf8_size(name, f"field name {name[:40]!r}", _top(path) or "profile")  # the name itself may not be printable


def _value_size(value: Any, path: str, depth: int, tally: _Tally) -> int:
    """Firestore's storage size of `value`, or InvalidProfile naming the field Firestore would refuse."""
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise InvalidProfile(f"field {path}: {value} does not fit in a 64-bit integer", _top(path))
        return 8
    if isinstance(value, float):
        return 8
    if isinstance(value, str):
        return _utf8_size(value, f"field {path}", _top(path))
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, datetime):
        return 8
    if isinstance(value, (Mapping, list, tuple)):
        if depth >= MAX_NESTING:
            raise InvalidProfile(f"field {path}: nested deeper than {MAX_NESTING} maps and arrays (Firestore's limit)", _top(path))
        if isinstance(value, Mapping):
            return sum(_field_size(name, item, path, depth + 1, tally) for name, item in value.items())
        if any(isinstance(item, (list, tuple)) for item in value):
            raise InvalidProfile(f"field {path}: an array directly inside an array cannot be stored in Firestore", _top(path))
        return sum(_value_size(item, f"{path}[{index}]", depth + 1, tally) for index, item in enumerate(value))
    # Firestore's own value types, known by name so that validating needs no client library.
    kind = type(value).__name__
    if kind == "GeoPoint":
        return 16
    if kind == "DocumentReference":
        return len(value.path.encode("utf-8")) + 16 + 1
    if kind == "Vector":
        return 8 * len(value) + 16
    raise InvalidProfile(f"field {path}: a {kind} cannot be stored in Firestore", _top(path))


def _field_size(name: Any, value: Any, parent: str, depth: int, tally: _Tally) -> int:
    size = _name_size(name, parent, tally)
    path = f"{parent}.{name}" if parent else name
    if len(path.encode("utf-8", errors="replace")) > MAX_FIELD_PATH_BYTES:
        raise InvalidProfile(f"field {path[:40]!r}…: its path is over {MAX_FIELD_PATH_BYTES} bytes", _top(path))
    return size + _value_size(value, path, depth, tally)


def storage_size(fields: Mapping[str, Any]) -> int:
    """Bytes the fields of a document take in Firestore; InvalidProfile for anything Firestore refuses."""
    tally = _Tally()
    return sum(_field_size(name, value, "", 0, tally) for name, value in fields.items())


def check_storable(profile: Mapping[str, Any]) -> None:
    """InvalidProfile when Firestore would refuse `profile` (with its derived fields) as a document."""
    size = storage_size(profile)
    if size > MAX_FIELDS_BYTES:
        raise InvalidProfile(f"the profile takes {size:,} bytes in Firestore (with {SORT_FIELD}); a document holds at most {MAX_FIELDS_BYTES:,}",
                             "profile")


def sort_name_of(display_name: str) -> str:
    return display_name.strip().casefold()


def index_keys(profile: Mapping[str, Any], default_region: str) -> set[str]:
    keys = {_key_of(c["value"], default_region) for c in profile.get("channels") or []}
    return {key for key in keys if key}


def stored_index_keys(profile: Mapping[str, Any], default_region: str) -> set[str]:
    """index_keys of a profile as found in Firestore, which a console edit may have left malformed:
    what looks like a channel counts, anything else is skipped (check reports it as invalid)."""
    channels = profile.get("channels")
    if not isinstance(channels, list):
        return set()
    values = [c.get("value") for c in channels if isinstance(c, Mapping) and isinstance(c.get("value"), str)]
    return {key for key in (_key_of(value, default_region) for value in values) if key}


def card_of(customer_id: str, profile: Mapping[str, Any]) -> CustomerCard:
    """The index projection of a profile as stored, valid or not (the name stripped, as validate_profile stores it)."""
    return CustomerCard(customer_id, str(profile.get("display_name") or "").strip(), profile.get("avatar") or None)


def derived_updates(stored: Mapping[str, Any], clean: Mapping[str, Any]) -> dict[str, Any]:
    """The store-derived fields a stored profile lacks or has out of date, from its validated copy.

    A console edit or another writer forgets them, and the Frontline lists (which query
    `worker` and order by `sort_name`) then miss the customer. `worker` is the user's own
    field: only a missing (or null) one is filled in, a written identity is never rewritten.
    """
    updates = {SORT_FIELD: clean[SORT_FIELD]} if stored.get(SORT_FIELD) != clean[SORT_FIELD] else {}
    if not isinstance(stored.get("worker"), str):
        updates["worker"] = clean["worker"]
    return updates


def derived_customer_id(profile: Mapping[str, Any], default_region: str) -> str:
    """A stable id for a profile given without one: a hash of its first channel's address key.

    Hashed rather than the key itself so phone numbers do not end up in document ids (which
    are shown and logged unmasked); the first channel, because that is the one a file lists first.
    """
    channels = profile.get("channels") or []
    key = _key_of(channels[0]["value"], default_region) if channels else None
    if key is None:
        raise InvalidProfile("customer_id is missing and there is no channel to derive it from")
    return "addr-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]


class BatchClaims:
    """Ids and address keys claimed by earlier profiles of one batch, so a later one cannot reuse them.

    The store checks addresses against Firestore; this catches two rows of one file (or one
    upsert_many call) that would otherwise overwrite each other's index entries.
    """

    def __init__(self, default_region: str) -> None:
        self._region = default_region
        self._ids: dict[str, str] = {}
        self._keys: dict[str, tuple[str, str]] = {}

    def claim(self, where: str, customer_id: str, clean: Mapping[str, Any]) -> None:
        """Record `clean` as claimed at `where` (e.g. "line 7"), or InvalidProfile naming the earlier claim."""
        if customer_id in self._ids:
            raise InvalidProfile(f"customer_id {customer_id!r} is also on {self._ids[customer_id]}")
        keys = index_keys(clean, self._region)
        for key in sorted(keys):
            if key in self._keys:
                owner, owner_where = self._keys[key]
                raise InvalidProfile(f"address {key} is also claimed by customer {owner!r} on {owner_where}")
        self._ids[customer_id] = where
        self._keys.update({key: (customer_id, where) for key in keys})
