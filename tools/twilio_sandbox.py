"""A small stateful stand-in for Twilio's Conversations participant endpoints and the account's
webhook configuration, on 127.0.0.1: the tests' Twilio, and `make run`'s local sandbox.

The function reaches it through TWILIO_API_BASE_URL and the real `twilio` client, so tests
see exactly what was sent over HTTP: which participant was written, with what, how often,
and how the code behaves when Twilio answers 404/429/5xx, slowly, or not at all. `make run`
starts one seeded with a sample conversation (`seed_sample_conversation`), so every event
`tools.send_sample` sends has a Twilio to talk to. Never deployed (tools/ is in .gcloudignore).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl

from tools.local_server import LocalHttpServer

PARTICIPANTS_PATH = re.compile(r"^/v1/Conversations/(?P<conversation>[^/]+)/Participants$")
PARTICIPANT_PATH = re.compile(r"^/v1/Conversations/(?P<conversation>[^/]+)/Participants/(?P<participant>[^/?]+)$")
WEBHOOK_CONFIGURATION_PATH = "/v1/Configuration/Webhooks"


@dataclass
class Fault:
    status: int | None = None  # answer with this status instead of the real one
    delay_s: float = 0.0  # wait this long first
    reset: bool = False  # close the connection without answering
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    form: dict[str, str]
    at: float
    headers: dict[str, str] = field(default_factory=dict)


# The sample conversation `make run` seeds and `tools.send_sample` uses by default: Ada (the first
# sample customer) texting in, not yet routed to a worker.
SAMPLE_CONVERSATION_SID = "CH" + "0" * 31 + "1"
SAMPLE_CUSTOMER_PARTICIPANT_SID = "MB" + "0" * 31 + "1"
SAMPLE_CUSTOMER_ADDRESS = "+15558675310"
SAMPLE_PROXY_ADDRESS = "+15005550006"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


class TwilioSandbox(LocalHttpServer):
    def __init__(self, account_sid: str, auth_token: str, port: int = 0, log: Callable[[str], None] | None = None) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.participants: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[Recorded] = []
        self._faults: dict[tuple[str, str], deque[Fault]] = {}
        self._always: dict[tuple[str, str], Fault] = {}
        self.webhook_configuration = self._fresh_webhook_configuration()
        self._lock = threading.RLock()
        self._log = log
        super().__init__(self._handler_class(), port)

    def reset(self) -> None:
        with self._lock:
            self.participants.clear()
            self.requests.clear()
            self._faults.clear()
            self._always.clear()
            self.webhook_configuration = self._fresh_webhook_configuration()

    # --- arranging state -------------------------------------------------------------
    def add_participant(self, conversation_sid: str, participant_sid: str, *, address: str | None = None,
                        identity: str | None = None, attributes: str = "{}") -> None:
        binding = {"type": "sms", "address": address, "proxy_address": SAMPLE_PROXY_ADDRESS} if address else None
        with self._lock:
            self.participants[(conversation_sid, participant_sid)] = {
                "account_sid": self.account_sid, "conversation_sid": conversation_sid, "sid": participant_sid,
                "identity": identity, "attributes": attributes, "messaging_binding": binding,
                "role_sid": "RL" + "0" * 32, "date_created": "2026-11-26T12:00:00Z", "date_updated": "2026-11-26T12:00:00Z",
                "url": f"https://conversations.twilio.com/v1/Conversations/{conversation_sid}/Participants/{participant_sid}",
                "last_read_message_index": None, "last_read_timestamp": None,
            }

    def set_webhook_configuration(self, **fields: Any) -> None:
        """Arrange the account's Conversations webhook configuration (snake_case fields, as Twilio answers them)."""
        with self._lock:
            self.webhook_configuration.update(fields)

    def _fresh_webhook_configuration(self) -> dict[str, Any]:
        return {"account_sid": self.account_sid, "pre_webhook_url": None, "post_webhook_url": None, "method": "POST",
                "filters": [], "target": "webhook", "url": "https://conversations.twilio.com" + WEBHOOK_CONFIGURATION_PATH}

    def _configure_webhooks(self, method: str, pairs: list[tuple[str, str]]) -> tuple[int, dict[str, Any]]:
        form = dict(pairs)
        with self._lock:
            if method == "POST":
                if form.get("Target", "webhook") not in ("webhook", "flex") or form.get("Method", "POST").upper() not in ("GET", "POST"):
                    return 400, _error(400, 20001, "Invalid Target or Method")
                names = {"PreWebhookUrl": "pre_webhook_url", "PostWebhookUrl": "post_webhook_url", "Method": "method", "Target": "target"}
                self.webhook_configuration.update({field: form[name] for name, field in names.items() if name in form})
                if "Filters" in form:  # a list: one repeated Filters parameter per event
                    self.webhook_configuration["filters"] = [value for name, value in pairs if name == "Filters"]
            return 200, dict(self.webhook_configuration)

    def attributes_of(self, conversation_sid: str, participant_sid: str) -> dict[str, Any]:
        return json.loads(self.participants[(conversation_sid, participant_sid)]["attributes"])

    def inject(self, method: str, path: str, *faults: Fault) -> None:
        """The next len(faults) requests to (method, path) get these faults, in order."""
        with self._lock:
            self._faults.setdefault((method, path), deque()).extend(faults)

    def inject_always(self, method: str, path: str, fault: Fault) -> None:
        with self._lock:
            self._always[(method, path)] = fault

    def calls(self, method: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if method is None or r.method == method]

    # --- serving ---------------------------------------------------------------------
    def _next_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            queue = self._faults.get((method, path))
            if queue:
                return queue.popleft()
            return self._always.get((method, path))

    def _authorised(self, header: str) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header == f"Basic {expected}"

    def _create(self, conversation_sid: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        identity = form.get("Identity")
        if not identity:
            return 400, _error(400, 50400, "Identity or MessagingBinding is required")
        with self._lock:  # one check-and-add, as Twilio's uniqueness on identity is
            if any(c == conversation_sid and p["identity"] == identity for (c, _), p in self.participants.items()):
                return 409, _error(409, 50433, "Participant already exists")
            participant_sid = "MB%032x" % (len(self.participants) + 1)
            self.add_participant(conversation_sid, participant_sid, identity=identity, attributes=form.get("Attributes", "{}"))
            return 201, dict(self.participants[(conversation_sid, participant_sid)])

    def identities_in(self, conversation_sid: str) -> list[str]:
        with self._lock:
            return [p["identity"] for (c, _), p in self.participants.items() if c == conversation_sid and p["identity"]]

    def _list(self, conversation_sid: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """One page of a conversation's participants, in Twilio's list shape (`participants` and `meta`)."""
        try:
            size, page = int(query.get("PageSize", DEFAULT_PAGE_SIZE)), int(query.get("Page", 0))
        except ValueError:
            size, page = 0, 0
        if not 1 <= size <= MAX_PAGE_SIZE or page < 0:  # Twilio's description: PageSize 1 to 100
            return 400, _error(400, 20001, "Invalid PageSize or Page")
        with self._lock:
            members = [dict(p) for (c, _), p in self.participants.items() if c == conversation_sid]
        url = f"https://conversations.twilio.com/v1/Conversations/{conversation_sid}/Participants"

        def page_url(number: int) -> str:
            return f"{url}?PageSize={size}&Page={number}"

        more = len(members) > (page + 1) * size
        return 200, {"participants": members[page * size:(page + 1) * size], "meta": {
            "page": page, "page_size": size, "first_page_url": page_url(0), "previous_page_url": page_url(page - 1) if page else None,
            "url": page_url(page), "next_page_url": page_url(page + 1) if more else None, "key": "participants"}}

    def _answer(self, method: str, path: str, form: dict[str, str], pairs: list[tuple[str, str]] | None = None,
                query: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        if path == WEBHOOK_CONFIGURATION_PATH:
            return self._configure_webhooks(method, pairs if pairs is not None else list(form.items()))
        participants = PARTICIPANTS_PATH.match(path)
        if participants and method == "POST":
            return self._create(participants["conversation"], form)
        if participants and method == "GET":
            return self._list(participants["conversation"], query or {})
        match = PARTICIPANT_PATH.match(path)
        if not match:
            return 404, _error(404, 20404, f"The requested resource {path} was not found")
        key = (match["conversation"], match["participant"])
        with self._lock:
            participant = self.participants.get(key)
            if participant is None:
                return 404, _error(404, 20404, f"The requested resource {path} was not found")
            if method == "POST" and "Attributes" in form:
                participant["attributes"] = form["Attributes"]
            return 200, dict(participant)

    def _handler_class(self):
        sandbox = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; with Nagle on, each answer waits ~40 ms for an ACK.
            disable_nagle_algorithm = True

            def log_message(self, *_args: Any) -> None:
                pass

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                pairs = parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True)
                form = dict(pairs)
                path, _, query = self.path.partition("?")
                with sandbox._lock:
                    sandbox.requests.append(Recorded(method, path, form, time.monotonic(), dict(self.headers.items())))
                fault = sandbox._next_fault(method, path)
                if fault and fault.delay_s:
                    time.sleep(fault.delay_s)
                if fault and fault.reset:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if not sandbox._authorised(self.headers.get("Authorization", "")):
                    status, body = 401, _error(401, 20003, "Authenticate")
                elif fault and fault.status:
                    status, body = fault.status, _error(fault.status, 20000 + fault.status, "injected fault")
                else:
                    status, body = sandbox._answer(method, path, form, pairs, dict(parse_qsl(query)))
                if sandbox._log:
                    sandbox._log(f"{method} {path} -> {status}")
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (fault.headers.items() if fault else ()):
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        return Handler


def seed_sample_conversation(sandbox: TwilioSandbox) -> None:
    """The conversation `make run` starts with: Ada, the first sample customer, texting in, not yet routed."""
    sandbox.add_participant(SAMPLE_CONVERSATION_SID, SAMPLE_CUSTOMER_PARTICIPANT_SID, address=SAMPLE_CUSTOMER_ADDRESS)


def _error(status: int, code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
