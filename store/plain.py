"""Firestore documents as plain JSON values, for answers built from what users stored.

A profile edited in the console (or written by another program) can hold what JSON has no
spelling for: timestamps, document references, bytes, geo points, vectors, and floats JSON
forbids (NaN, ±infinity). Reads that feed an answer pass through `plain_document`, so no
handler ever meets a Firestore type and every answer serialises.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from runtime import logs


def _timestamp(value: datetime) -> str:
    rfc3339 = getattr(value, "rfc3339", None)  # Firestore's own timestamps keep their nanoseconds
    if callable(rfc3339):
        return rfc3339()
    if value.tzinfo is None:
        return value.isoformat()
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _plain(value: Any, path: str, replaced: list[str]) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        replaced.append(path)
        return None
    if isinstance(value, Mapping):
        return {str(key): _plain(item, f"{path}.{key}" if path else str(key), replaced) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{path}[{index}]", replaced) for index, item in enumerate(value)]
    if isinstance(value, datetime):
        return _timestamp(value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    # Firestore's own value types, known by name: this module must not import the client library
    # (it is imported on the request path before the first Firestore call).
    kind = type(value).__name__
    if kind in ("DocumentReference", "AsyncDocumentReference"):
        return value.path
    if kind == "GeoPoint":
        return {"latitude": value.latitude, "longitude": value.longitude}
    if kind == "Vector":
        return _plain(list(value), path, replaced)
    replaced.append(path)
    return str(value)


def plain_document(data: Mapping[str, Any] | None, what: str) -> dict[str, Any] | None:
    """`data` with every value JSON can hold as it is, the others converted; one WARNING names the
    fields that had no JSON equivalent (non-finite numbers become null, unknown types their text)."""
    if data is None:
        return None
    replaced: list[str] = []
    plain = _plain(data, "", replaced)
    if replaced:
        logs.warning(f"{what}: stored value(s) JSON cannot hold were replaced", fields=[logs.clip(path, 100) for path in replaced[:10]])
    return plain
