"""Real parts for every test: the Firestore emulator, a Twilio stand-in on 127.0.0.1, and
(for contract tests) Prism serving Twilio's own OpenAPI description."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
PROJECT = "demo-frontline-test"
CONVERSATION_SID = "CH" + "a" * 32
PARTICIPANT_SID = "MB" + "b" * 32
# The sample customer most tests look up: one SMS number, an avatar.
ADA_ADDRESS = "+15558675310"
ADA = {"display_name": "Ada Lovelace", "avatar": "https://example.com/ada.png", "channels": [{"type": "sms", "value": ADA_ADDRESS}]}
ADA_ATTRIBUTES = {"customer_id": "ada", "display_name": "Ada Lovelace", "avatar": "https://example.com/ada.png"}

# One log per test process: parallel sessions must not truncate each other's.
PRISM_LOG = ROOT / ".local" / f"prism-{os.getpid()}.log"
TWILIO_SPEC = ROOT / "node_modules/@twilio-alpha/mcp/twilio-oai/spec/json/twilio_conversations_v1.json"

os.environ.update({
    "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    "GOOGLE_CLOUD_PROJECT": PROJECT,
    "WEBHOOK_DEADLINE_S": "2.5",
    # Tests change profiles and expect the next webhook to see it; tests/test_profile_cache.py turns the cache on.
    "PROFILE_CACHE_TTL_S": "0",
})
for name in ("PUBLIC_URL", "TWILIO_API_KEY", "TWILIO_API_SECRET", "CUSTOMERS_COLLECTION", "DEFAULT_REGION"):
    os.environ.pop(name, None)

from tools import signing  # noqa: E402
from tools.twilio_sandbox import TwilioSandbox  # noqa: E402
from tools.emulator import Emulator, free_port  # noqa: E402


@pytest.fixture(scope="session")
def emulator():
    log = ROOT / ".local" / "firestore-emulator-test.log"
    log.parent.mkdir(exist_ok=True)
    # Able to deliver Firestore events (to a port nobody serves until tests/test_trigger.py does),
    # but no trigger is registered for PROJECT: the tests that write deliberately broken data
    # must not be repaired behind their backs. Trigger tests use their own project.
    running = Emulator(PROJECT, log_path=log, functions_port=free_port()).start()
    os.environ["FIRESTORE_EMULATOR_HOST"] = running.host_port
    yield running
    running.stop()


@pytest.fixture(scope="session")
def standin_server():
    server = TwilioSandbox(ACCOUNT_SID, AUTH_TOKEN).start()
    os.environ["TWILIO_API_BASE_URL"] = server.base_url
    yield server
    server.stop()


@pytest.fixture()
def settings_env(monkeypatch):
    """Change environment variables for one test; the function re-reads its settings."""
    from runtime.config import settings

    def apply(**env: str | None) -> None:
        for name, value in env.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        settings.cache_clear()

    settings.cache_clear()
    yield apply
    monkeypatch.undo()
    settings.cache_clear()


@pytest.fixture()
def profile_cache(settings_env):
    """Turn this instance's profile cache on for one test, empty: `profile_cache("3")` sets PROFILE_CACHE_TTL_S."""
    from store.lookup import forget_cached_profiles

    def apply(ttl_s: str) -> None:
        forget_cached_profiles()
        settings_env(PROFILE_CACHE_TTL_S=ttl_s)

    yield apply
    forget_cached_profiles()


@pytest.fixture()
def twilio(standin_server, settings_env):
    standin_server.reset()
    settings_env(TWILIO_API_BASE_URL=standin_server.base_url)
    return standin_server


@pytest.fixture()
def db(emulator):
    emulator.clear()
    from store.client import firestore_client

    return firestore_client(PROJECT)


@pytest.fixture()
def store(db):
    from store.customers import CustomerStore

    return CustomerStore(db, "customers", "US")


@pytest.fixture(scope="session")
def app(emulator, standin_server):
    import functions_framework

    return functions_framework.create_app(target="frontline_webhook", source=str(ROOT / "main.py"))


@pytest.fixture()
def client(app, twilio, db):
    return app.test_client()


def sign(url: str, params, token: str = AUTH_TOKEN) -> str:
    """Twilio's own signature (tools/signing.py); list values are repeated parameters, each one signed."""
    return signing.sign(url, params, token)


def signed_post(client, params, *, path: str = "/", base: str = "http://localhost", token: str = AUTH_TOKEN, headers=None):
    """POST a form exactly as Twilio would: signed over the public URL and every parameter."""
    all_headers = {"X-Twilio-Signature": sign(base + path, params, token), **(headers or {})}
    return client.post(path, data=signing.encode_form(params), content_type=signing.FORM_CONTENT_TYPE, headers=all_headers)


def json_logs(captured: str) -> list[dict]:
    import json

    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


@pytest.fixture(scope="session")
def prism():
    """Stoplight Prism serving Twilio's Conversations OpenAPI description; answers 4xx to anything Twilio would refuse."""
    binary = ROOT / "node_modules/.bin/prism"
    if not binary.exists() or not TWILIO_SPEC.exists():
        pytest.fail("Prism or Twilio's OpenAPI description is missing: run `npm ci` (make test does)")
    port = free_port()
    log_path = PRISM_LOG
    log_path.parent.mkdir(exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen([str(binary), "mock", str(TWILIO_SPEC), "-h", "127.0.0.1", "-p", str(port), "--errors"],
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    stop_at = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(base_url + "/", timeout=1)
            break
        except urllib.error.HTTPError:
            break  # any HTTP answer means it is serving
        except OSError:
            if process.poll() is not None or time.monotonic() > stop_at:
                pytest.fail(f"Prism did not start; see {log_path}")
            time.sleep(0.2)
    yield base_url
    process.terminate()
    process.wait(timeout=10)


# --- the Frontline callback tests' people, workers and templates (data in frontline_people.py) ---

@pytest.fixture()
def people(store):
    from tests.frontline_people import ADA, ADALINE_OF_BOB, ADAM, GRACE, KATHERINE_UNASSIGNED

    store.upsert("ada", ADA)
    store.upsert("adam", ADAM)
    store.upsert("adaline", ADALINE_OF_BOB)
    store.upsert("grace", GRACE)
    store.upsert("katherine", KATHERINE_UNASSIGNED)
    return store


@pytest.fixture()
def workers(db):
    from store.directory import save_worker
    from tests.frontline_people import ALICE, BOB

    save_worker(db, ALICE, {"identity": ALICE, "display_name": "Alice Example", "sms_number": "+15005550006",
                            "whatsapp_number": "+15005550007"})
    save_worker(db, BOB, {"identity": BOB, "display_name": "Bob Example"})


@pytest.fixture()
def templates(db):
    from store.directory import save_template_category
    from tests.frontline_people import TEMPLATE_CATEGORIES

    for category_id, category in TEMPLATE_CATEGORIES:
        save_template_category(db, category_id, category)
