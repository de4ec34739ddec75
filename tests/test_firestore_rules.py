"""firestore.rules: client SDKs can neither read nor write anything; the server path is unaffected.

The rules are loaded into the session's emulator for a project of their own (rules are per
project there, so no other test sees them), then requests are made over the emulator's REST
API: without credentials, as a client SDK would, and as `Bearer owner`, which is how the
emulator marks server client libraries (the function and the tools).
"""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests

from tests.conftest import ROOT

RULES_PROJECT = "demo-frontline-rules-test"
PERMISSIVE_PROJECT = "demo-frontline-rules-open"
PRODUCT_COLLECTIONS = ("customers", "customer_addresses", "workers", "templates")
PERMISSIVE = "rules_version = '2';\nservice cloud.firestore { match /databases/{database}/documents { match /{document=**} { allow read, write: if true; } } }\n"
OWNER = {"Authorization": "Bearer owner"}


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def signed_in_user(project: str) -> dict[str, str]:
    """A Firebase Auth end user, as the emulator accepts one: an unsigned ID token."""
    now = int(time.time())
    claims = {"iss": f"https://securetoken.google.com/{project}", "aud": project, "sub": "user-1", "user_id": "user-1",
              "auth_time": now, "iat": now, "exp": now + 3600}
    return {"Authorization": f"Bearer {_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."}


CLIENTS = {"anonymous": {}, "signed-in": signed_in_user(RULES_PROJECT)}


def load_rules(emulator, project: str, source: str) -> requests.Response:
    body = {"rules": {"files": [{"name": "firestore.rules", "content": source}]}}
    return requests.put(f"http://{emulator.host_port}/emulator/v1/projects/{project}:securityRules", data=json.dumps(body),
                        headers={"Content-Type": "application/json"}, timeout=10)


def documents(emulator, project: str) -> str:
    return f"http://{emulator.host_port}/v1/projects/{project}/databases/(default)/documents"


@pytest.fixture(scope="module")
def rules_loaded(emulator):
    answer = load_rules(emulator, RULES_PROJECT, (ROOT / "firestore.rules").read_text())
    assert answer.status_code == 200, f"firestore.rules does not compile: {answer.text}"
    assert load_rules(emulator, PERMISSIVE_PROJECT, PERMISSIVE).status_code == 200
    return emulator


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("collection", PRODUCT_COLLECTIONS)
def test_client_sdks_can_neither_read_list_nor_write_the_products_collections(rules_loaded, collection, client):
    base, headers = documents(rules_loaded, RULES_PROJECT), CLIENTS[client]
    assert requests.get(f"{base}/{collection}/some-id", headers=headers, timeout=5).status_code == 403
    assert requests.get(f"{base}/{collection}", headers=headers, timeout=5).status_code == 403
    created = requests.post(f"{base}/{collection}?documentId=new-id", json={"fields": {"display_name": {"stringValue": "Eve"}}},
                            headers=headers, timeout=5)
    assert created.status_code == 403


def test_server_libraries_are_not_governed_by_the_rules(rules_loaded):
    base = documents(rules_loaded, RULES_PROJECT)
    created = requests.post(f"{base}/customers?documentId=ada", json={"fields": {"display_name": {"stringValue": "Ada"}}}, headers=OWNER, timeout=5)
    assert created.status_code == 200, created.text
    assert requests.get(f"{base}/customers/ada", headers=OWNER, timeout=5).status_code == 200
    assert requests.get(f"{base}/customers/ada", timeout=5).status_code == 403  # the same document, as a client


def test_the_checks_tell_open_rules_apart(rules_loaded):
    """Negative control: with rules that allow everything the same client requests are not refused."""
    base = documents(rules_loaded, PERMISSIVE_PROJECT)
    assert requests.get(f"{base}/customers/some-id", timeout=5).status_code == 404
    assert requests.get(f"{base}/customers/some-id", headers=signed_in_user(PERMISSIVE_PROJECT), timeout=5).status_code == 404
    assert requests.post(f"{base}/customers?documentId=x", json={"fields": {}}, timeout=5).status_code == 200


def test_firebase_json_deploys_these_rules_and_indexes():
    config = json.loads((ROOT / "firebase.json").read_text())
    assert config["firestore"] == {"rules": "firestore.rules", "indexes": "firestore.indexes.json"}
