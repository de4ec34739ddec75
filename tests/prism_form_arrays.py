"""A pass-through in front of Prism that spells form-encoded arrays the way Prism 5.14 reads them.

Twilio takes a list parameter as the same name repeated (`Filters=a&Filters=b`); that is what
twilio-python sends and what Twilio documents. Prism 5.14.2 reads a repeated form key as one
string and answers 422 "Filters must be array" (stoplightio/prism#2473, fix proposed in #2654);
it reads `Filters[]=a&Filters[]=b` as the array. So this forwards every request unchanged except
that the name of a form field whose schema in Twilio's description is an array gets `[]`, and
it records what the client really sent next to Prism's status, so a test can check both the
wire format and that Prism (run with --errors) accepted the request.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import requests

from tools.local_server import LocalHttpServer

FORWARDED_HEADERS = ("Authorization", "Content-Type", "Accept", "User-Agent", "X-Twilio-Webhook-Enabled")


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    sent: list[tuple[str, str]]  # the form as the client encoded it
    status: int  # Prism's answer
    answer: str


def array_fields(spec_path: Path) -> list[tuple[re.Pattern[str], str, frozenset[str]]]:
    """(path pattern, METHOD, names of array-typed form fields) for every operation with a form body."""
    spec = json.loads(spec_path.read_text())
    found = []
    for template, operations in spec["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "requestBody" not in operation:
                continue
            schema = operation["requestBody"]["content"].get("application/x-www-form-urlencoded", {}).get("schema", {})
            names = frozenset(name for name, prop in schema.get("properties", {}).items() if prop.get("type") == "array")
            if names:
                found.append((pattern, method.upper(), names))
    return found


class PrismFormArrays(LocalHttpServer):
    def __init__(self, prism_base_url: str, spec_path: Path) -> None:
        self.prism = prism_base_url.rstrip("/")
        self.arrays = array_fields(spec_path)
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        super().__init__(self._handler_class())

    def take(self) -> list[Exchange]:
        with self._lock:
            taken, self.exchanges = self.exchanges, []
        return taken

    def _array_names(self, method: str, path: str) -> frozenset[str]:
        return next((names for pattern, m, names in self.arrays if m == method and pattern.match(path)), frozenset())

    def _handler_class(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def _forward(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                path = self.path.split("?")[0]
                sent = parse_qsl(body, keep_blank_values=True)
                arrays = proxy._array_names(method, path)
                forwarded = urlencode([(f"{name}[]" if name in arrays else name, value) for name, value in sent]) if arrays else body
                headers = {name: self.headers[name] for name in FORWARDED_HEADERS if self.headers.get(name)}
                answer = requests.request(method, proxy.prism + self.path, data=forwarded.encode() if body else None, headers=headers, timeout=10)
                with proxy._lock:
                    proxy.exchanges.append(Exchange(method, path, sent, answer.status_code, answer.text))
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def do_GET(self) -> None:
                self._forward("GET")

            def do_POST(self) -> None:
                self._forward("POST")

            def do_DELETE(self) -> None:
                self._forward("DELETE")

        return Handler
