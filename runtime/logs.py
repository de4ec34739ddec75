"""One JSON object per line on stdout, in the shape Cloud Logging parses.

Request-scoped fields (trace, event type, masked address) live in a context variable so
every line of one webhook carries them without threading them through each call.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import json
import os
import re
import sys
import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

# Read-only default: fields are only ever replaced with a new dict, never mutated in place.
_request_fields: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar("request_fields", default=MappingProxyType({}))


def mask_address(address: str) -> str:
    """Keep the last 4 characters: enough to tell customers apart in logs, not to identify them."""
    if not address:
        return ""
    visible = address[-4:] if len(address) > 4 else ""
    return "***" + visible


# Caller-chosen text (a path, an event type) goes into every line of its request: keep a head of it.
MAX_LOGGED_CHARS = 200


def clip(text: str, limit: int = MAX_LOGGED_CHARS) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…(+{len(text) - limit} chars)"


# X-Cloud-Trace-Context is TRACE_ID/SPAN_ID;o=OPTIONS with a 32-hex-digit trace id. Anyone can send
# the header, so only a well-formed id reaches the trace field.
_TRACE_ID = re.compile(r"[0-9a-fA-F]{32}")


def trace_id_of(header: str) -> str | None:
    trace_id = header.split("/", 1)[0].strip()
    return trace_id.lower() if _TRACE_ID.fullmatch(trace_id) else None


# A customer id derived from an address (store.profiles.derived_customer_id: "addr-" + 20 hex digits
# of an unsalted SHA-256 of the address key) gives the phone number back to anyone who hashes the
# numbers of one area code: milliseconds. Every such id in a log line is replaced by a keyed hash of
# it, stable within a deployment (the key is the auth token), so lines of one customer still match.
_DERIVED_ID = re.compile(r"addr-[0-9a-f]{20}(?![0-9a-f])")
_pseudonym_key = os.urandom(32)


def set_pseudonym_key(secret: str) -> None:
    global _pseudonym_key
    _pseudonym_key = hashlib.sha256(b"log pseudonyms\0" + secret.encode("utf-8")).digest()


def _pseudonym(match: re.Match[str]) -> str:
    return "addr~" + hmac.new(_pseudonym_key, match.group(0).encode("ascii"), hashlib.sha256).hexdigest()[:12]


def without_derived_ids(text: str) -> str:
    return _DERIVED_ID.sub(_pseudonym, text) if "addr-" in text else text


# JSON leaves these unescaped, but many line readers (Python's splitlines, JavaScript) end a
# line at them; request fields carry caller-chosen text, so escape them to keep one entry per line.
_LINE_BREAKS_ESCAPED = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


# LOG_LEVEL's names, in the order of their severity.
_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
_threshold = _LEVELS["INFO"]
# Lines from concurrent requests must not interleave: one write of a whole line, under a lock.
_write_lock = threading.Lock()


def set_level(level: str) -> None:
    global _threshold
    _threshold = _LEVELS.get(level, _LEVELS["INFO"])


def _json_line(severity: str, message: str, fields: Mapping[str, Any], ascii_only: bool = False) -> str:
    """One log entry as a JSON line: severity and message, then the request's fields, then the line's own."""
    head: dict[str, Any] = {"severity": severity, "message": message, **_request_fields.get()}
    try:
        text = json.dumps({**head, **fields}, default=str, ensure_ascii=ascii_only)
    except (TypeError, ValueError) as unserialisable:  # a key json cannot hold, a value that contains itself
        text = json.dumps({**head, "log_fields_dropped": type(unserialisable).__name__}, default=str, ensure_ascii=ascii_only)
    return without_derived_ids(text.translate(_LINE_BREAKS_ESCAPED))


def _emit(severity: str, message: str, fields: Mapping[str, Any]) -> None:
    # Written straight to stdout, not through the logging module: its records, caller lookup and
    # handler chain made a line cost 43 µs here, 19 µs written directly, twice a webhook, for a
    # destination that never changes. sys.stdout is looked up every time, so a redirected stdout
    # (pytest's capture) still gets the lines.
    if _LEVELS[severity] < _threshold:
        return
    line = _json_line(severity, message, fields) + "\n"
    with _write_lock:
        try:
            _write(line)
        except UnicodeEncodeError:  # a stdout that is not UTF-8: the same entry with \u escapes
            _write(_json_line(severity, message, fields, ascii_only=True) + "\n")


def _write(line: str) -> None:
    try:
        sys.stdout.write(line)
        sys.stdout.flush()
    except UnicodeEncodeError:
        raise
    except (OSError, ValueError, AttributeError):
        pass  # stdout closed or gone: nowhere left to say so, and no request should fail over it


def _new_write_lock() -> None:
    # A child forked while another thread held the lock would otherwise wait for it for ever.
    global _write_lock
    _write_lock = threading.Lock()


os.register_at_fork(after_in_child=_new_write_lock)


def _request_scoped(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: clip(v) if isinstance(v, str) else v for k, v in fields.items() if v not in (None, "")}


def bind_request(**fields: Any) -> contextvars.Token:
    """Start a request's log context; pass the token to `unbind_request` when it ends."""
    return _request_fields.set(_request_scoped(fields))


def add_request_fields(**fields: Any) -> None:
    _request_fields.set({**_request_fields.get(), **_request_scoped(fields)})


def unbind_request(token: contextvars.Token) -> None:
    _request_fields.reset(token)


def debug(message: str, **fields: Any) -> None:
    _emit("DEBUG", message, fields)


def info(message: str, **fields: Any) -> None:
    _emit("INFO", message, fields)


def warning(message: str, **fields: Any) -> None:
    _emit("WARNING", message, fields)


def error(message: str, **fields: Any) -> None:
    _emit("ERROR", message, fields)
