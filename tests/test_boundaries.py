"""One boundary per dependency, and one error hierarchy mapped to replies in main.py only."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import CONVERSATION_SID, ROOT, json_logs, signed_post
from tests.test_conversation_add import BlackHole
from tests.frontline_people import ALICE, CAROL, route

# What each layer may import from outside itself: handlers see our own modules only.
FORBIDDEN_IN_HANDLERS = ("web", "flask", "werkzeug", "google", "grpc", "twilio", "requests")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "handlers").glob("*.py")), ids=lambda p: p.name)
def test_handlers_know_neither_http_nor_firestore_nor_twilio(path):
    leaks = sorted(name for name in _imported_modules(path) if name.split(".")[0] in FORBIDDEN_IN_HANDLERS)
    assert leaks == []


@pytest.mark.parametrize("layer", ["handlers", "web", "runtime", "gateways"])
def test_only_store_knows_firestore_and_grpc(layer):
    for path in sorted((ROOT / layer).glob("*.py")):
        leaks = sorted(name for name in _imported_modules(path) if name.startswith(("google", "grpc")))
        assert leaks == [], f"{path.name} imports {leaks}"


@pytest.mark.parametrize("layer", ["handlers", "store", "runtime", "web"])
def test_only_gateways_know_twilio_rest(layer):
    for path in sorted((ROOT / layer).glob("*.py")):
        leaks = sorted(name for name in _imported_modules(path) if name.startswith("twilio.rest") or name == "twilio.base.exceptions")
        assert leaks == [], f"{path.name} imports {leaks}"


def _import_main(env_changes: dict[str, str | None]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()}
    for name, value in env_changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run([sys.executable, "-c", "import main"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_the_webhook_refuses_to_start_without_twilio_settings_naming_them():
    started = _import_main({"FUNCTION_TARGET": "frontline_webhook", "TWILIO_AUTH_TOKEN": None, "TWILIO_ACCOUNT_SID": None})
    assert started.returncode != 0
    assert "TWILIO_AUTH_TOKEN" in started.stdout and "TWILIO_ACCOUNT_SID" in started.stdout


def test_an_entry_point_other_than_the_webhook_starts_without_twilio_settings():
    started = _import_main({"FUNCTION_TARGET": "customer_written", "TWILIO_AUTH_TOKEN": None, "TWILIO_ACCOUNT_SID": None})
    assert started.returncode == 0, started.stdout + started.stderr


def test_the_data_tool_needs_no_twilio_settings(emulator):
    env_changes = {"TWILIO_AUTH_TOKEN": None, "TWILIO_ACCOUNT_SID": None, "FIRESTORE_EMULATOR_HOST": emulator.host_port}
    env = {k: v for k, v in os.environ.items() if k not in env_changes} | {"FIRESTORE_EMULATOR_HOST": emulator.host_port}
    checked = subprocess.run([sys.executable, "-m", "tools.customers", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_each_thread_gets_its_own_twilio_client(twilio):
    # The twilio client keeps `last_response` on itself; gunicorn's threads must not share one.
    from gateways.twilio_rest import twilio_client
    from runtime.config import settings

    seen: dict[str, object] = {}

    def remember(name: str) -> None:
        seen[name] = twilio_client(settings())
        seen[name + "-again"] = twilio_client(settings())

    threads = [threading.Thread(target=remember, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen["a"] is seen["a-again"] and seen["b"] is seen["b-again"]
    assert seen["a"] is not seen["b"]


@pytest.fixture()
def customers_of_alice(store):
    store.upsert("ada", {"display_name": "Ada", "channels": [{"type": "sms", "value": "+15558675310"}], "worker": ALICE})


@pytest.mark.parametrize("status", [401, 403])
def test_routing_refused_by_twilio_is_logged_and_answered_like_a_post_event(client, customers_of_alice, twilio, capsys, status):
    from tools.twilio_sandbox import Fault

    twilio.inject_always("POST", f"/v1/Conversations/{CONVERSATION_SID}/Participants", Fault(status=status))
    response = route(client, "+15558675310")
    assert (response.status_code, response.get_json()) == (200, {})
    assert len(twilio.calls("POST")) == 1, "a refusal is final: no retries"
    errors = [line["message"] for line in json_logs(capsys.readouterr().out) if line["severity"] == "ERROR"]
    assert errors == [f"gave up routing: participant create refused: HTTP {status}"]


def test_routing_with_firestore_hung_routes_to_the_default_worker(client, twilio, settings_env, capsys):
    hole = BlackHole()
    settings_env(FIRESTORE_EMULATOR_HOST=hole.host_port, WEBHOOK_DEADLINE_S="1.0", DEFAULT_WORKER=CAROL)
    try:
        response = route(client, "+15558675310")
    finally:
        hole.close()
    assert response.status_code == 200
    assert twilio.identities_in(CONVERSATION_SID) == [CAROL]
    errors = [line["message"] for line in json_logs(capsys.readouterr().out) if line["severity"] == "ERROR"]
    assert errors and errors[0].endswith("; routing to DEFAULT_WORKER")


@pytest.mark.parametrize(("location", "extra"), [("GetCustomerDetailsByCustomerId", {"CustomerId": "ada"}),
                                                 ("GetTemplatesByCustomerId", {"CustomerId": "ada"}),
                                                 ("GetProxyAddress", {"ChannelType": "sms"})])
def test_a_store_fault_in_any_frontline_callback_is_a_503_with_one_line(client, settings_env, capsys, location, extra):
    hole = BlackHole()
    settings_env(FIRESTORE_EMULATOR_HOST=hole.host_port, WEBHOOK_DEADLINE_S="0.8")
    try:
        response = signed_post(client, {"Location": location, "Worker": ALICE, **extra})
    finally:
        hole.close()
    assert response.status_code == 503
    reason = response.get_json()["error"]
    assert reason.endswith("took longer than the 0.80s deadline") and "\n" not in reason
    assert [line["message"] for line in json_logs(capsys.readouterr().out) if line["severity"] == "ERROR"] == [f"rejected: {reason}"]
