"""What a handler answers, the one way a request is turned away, and the HTTP response of either."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runtime import logs


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    # Close the connection after answering: set when the body was not (entirely) read.
    close: bool = False


def reject(status: int, reason: str, *, close: bool = False, **headers: str) -> Reply:
    """A refusal: the same one line goes to the caller and to the log (ERROR when the fault is ours)."""
    log = logs.error if status >= 500 else logs.warning
    log(f"rejected: {reason}", status=status)
    return Reply(status, {"error": reason}, dict(headers), close)


def http_response(reply: Reply, environ: Mapping[str, Any]):
    """The Flask response for `reply`. Raises ValueError for a body JSON cannot hold (NaN, ±inf): never sent."""
    from flask import Response

    from web.connection import close_after_reply

    body = json.dumps(reply.body, allow_nan=False).encode("utf-8")
    if not reply.close:
        return Response(body, status=reply.status, headers=reply.headers, mimetype="application/json")
    # A response whose body is an iterator counts as streamed, and functions-framework's
    # after-request hook (`read_request`) reads the whole request body before answering
    # anything else; for a body we refused by its size, that read is what must not happen.
    response = Response(iter([body]), status=reply.status, headers={**reply.headers, "Content-Length": str(len(body))},
                        mimetype="application/json")
    close_after_reply(response, environ)
    return response
