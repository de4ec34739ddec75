"""`python -m tools.doctor` against a running function (functions-framework on a free port), the
session's Firestore emulator, a Twilio stand-in and Prism on Twilio's OpenAPI description."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ACCOUNT_SID, PROJECT, ROOT, TWILIO_SPEC
from tests.prism_form_arrays import PrismFormArrays
from tests.served_function import ServedFunction
from tools import doctor, twilio_setup
from tools.emulator import free_port
from tools.twilio_sandbox import TwilioSandbox

# Real Twilio auth tokens are 32 hex characters (the suite's shared token is not, on purpose).
TOKEN = "0123456789abcdef0123456789abcdef"
NUMBER = "+15558675310"
ADA = {"display_name": "Ada Lovelace", "avatar": "https://avatars.example.com/ada.png", "channels": [{"type": "sms", "value": NUMBER}]}


def start_function(env_overrides: dict[str, str], log_name: str, warm: bool = True) -> tuple[ServedFunction, str]:
    log_path = ROOT / ".local" / log_name
    log_path.parent.mkdir(exist_ok=True)
    try:
        function = ServedFunction(log_path, PYTHONPATH=str(ROOT), **env_overrides).start()
        if warm:  # a deployment already serving: its Firestore client exists
            function.warm_up(env_overrides["TWILIO_AUTH_TOKEN"])
    except RuntimeError as error:
        pytest.fail(str(error))
    return function, function.base_url + "/"


def stop_function(function: ServedFunction) -> None:
    function.stop()


@pytest.fixture(scope="module")
def account():
    """A Twilio stand-in for an account whose auth token looks like a real one."""
    standin = TwilioSandbox(ACCOUNT_SID, TOKEN).start()
    yield standin
    standin.stop()


def function_env(emulator, account, **overrides: str) -> dict[str, str]:
    return {"FIRESTORE_EMULATOR_HOST": emulator.host_port, "GOOGLE_CLOUD_PROJECT": PROJECT, "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_API_BASE_URL": account.base_url, "LOG_LEVEL": "WARNING", **overrides}


@pytest.fixture(scope="module")
def function_url(emulator, account):
    process, url = start_function(function_env(emulator, account), "doctor-function.log")
    yield url
    stop_function(process)


@pytest.fixture()
def healthy(function_url, account, store, settings_env):
    """Everything right: the shell's environment is the function's, Twilio points at it, Ada is a customer."""
    settings_env(TWILIO_AUTH_TOKEN=TOKEN, TWILIO_API_BASE_URL=account.base_url)
    account.reset()
    account.set_webhook_configuration(pre_webhook_url=function_url, post_webhook_url=function_url, method="POST",
                                      filters=list(twilio_setup.REQUIRED_FILTERS), target="webhook")
    store.upsert("ada", ADA)
    return function_url


def run_doctor(capsys, *argv: str) -> tuple[int, dict[str, tuple[str, str, str]], str]:
    """Exit code, {check name: (status, detail, fix)}, whole output."""
    code = doctor.main(list(argv))
    out = capsys.readouterr().out
    return code, parse(out), out


def parse(out: str) -> dict[str, tuple[str, str, str]]:
    checks: dict[str, list[str]] = {}
    last = None
    for line in out.splitlines():
        status = line[:4]
        if status in ("PASS", "FAIL", "WARN", "INFO") and line[4:6] == "  ":
            rest = line[6:]
            name, detail = rest[:24].strip(), rest[25:]
            checks[name] = [status, detail, ""]
            last = name
        elif line.startswith("      fix: ") and last:
            checks[last][2] = line[len("      fix: "):]
    return {name: tuple(value) for name, value in checks.items()}


def test_a_real_run_passes_when_everything_is_set_up(healthy):
    done = subprocess.run([sys.executable, "-m", "tools.doctor", "--url", healthy, "--test-number", NUMBER], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    checks = parse(done.stdout)
    assert {name: status for name, (status, _, _) in checks.items()} == {
        "environment": "PASS", "signature URL": "WARN", "Firestore": "PASS", "composite indexes": "INFO", "Twilio credentials": "PASS",
        "webhook configuration": "PASS", "signed onConversationAdd": "PASS"}
    assert checks["composite indexes"][1].startswith("skipped: emulator")
    assert "'Ada Lovelace'" in checks["signed onConversationAdd"][1] and "profile ada" in checks["signed onConversationAdd"][1]
    assert "1 profile(s)" in checks["Firestore"][1]
    assert "5 passed, 0 failed, 1 warning(s), 1 info" in done.stdout  # the warning: PUBLIC_URL is not set
    assert TOKEN not in done.stdout + done.stderr


def test_a_wrong_auth_token_fails_twilio_and_the_signature_with_hints(healthy, settings_env, capsys):
    settings_env(TWILIO_AUTH_TOKEN="f" * 32)
    code, checks, out = run_doctor(capsys, "--url", healthy, "--test-number", NUMBER)
    assert code == 1
    assert checks["environment"][0] == "PASS"  # well-formed, just not the account's
    status, detail, fix = checks["Twilio credentials"]
    assert status == "FAIL" and "HTTP 401" in detail and "TWILIO_AUTH_TOKEN" in fix
    assert checks["webhook configuration"][0] == "INFO"
    status, detail, fix = checks["signed onConversationAdd"]
    assert status == "FAIL" and "403" in detail and "TWILIO_AUTH_TOKEN differs" in fix
    assert "f" * 32 not in out


def test_firestore_down_fails_with_the_emulator_hint(healthy, settings_env, capsys):
    closed = f"127.0.0.1:{free_port()}"
    settings_env(FIRESTORE_EMULATOR_HOST=closed)
    code, checks, _ = run_doctor(capsys, "--url", healthy, "--test-number", NUMBER, "--expect-name", "Ada Lovelace")
    assert code == 1
    status, detail, fix = checks["Firestore"]
    assert status == "FAIL" and "ServiceUnavailable" in detail
    assert f"FIRESTORE_EMULATOR_HOST={closed}" in fix and "start the emulator" in fix
    # Only this shell lost Firestore: the function still reads it and answers Ada's name.
    assert checks["signed onConversationAdd"][0] == "PASS"
    assert checks["Twilio credentials"][0] == "PASS"


def test_a_function_that_cannot_read_firestore_answers_the_number_and_the_doctor_says_why(healthy, emulator, account, capsys):
    process, url = start_function(function_env(emulator, account, FIRESTORE_EMULATOR_HOST=f"127.0.0.1:{free_port()}"), "doctor-function-no-db.log",
                                    warm=False)
    try:
        code, checks, _ = run_doctor(capsys, "--url", url, "--test-number", NUMBER)
    finally:
        stop_function(process)
    assert code == 1
    status, detail, fix = checks["signed onConversationAdd"]
    assert status == "FAIL" and f"friendly_name '{NUMBER}', expected 'Ada Lovelace'" in detail
    assert "did not find the profile" in fix and "Firestore" in fix
    assert checks["Firestore"][0] == "PASS"


def test_missing_filters_fail_with_the_setup_command_which_fixes_them(healthy, account, capsys):
    account.set_webhook_configuration(filters=[])
    code, checks, _ = run_doctor(capsys, "--url", healthy, "--test-number", NUMBER)
    assert code == 1
    status, detail, fix = checks["webhook configuration"]
    assert status == "FAIL" and "filters lack onConversationAdd, onParticipantAdded, onMessageAdd, onMessageAdded" in detail
    assert fix == f"python -m tools.twilio_setup apply --url {healthy}"

    assert twilio_setup.main(["apply", "--url", healthy]) == 0  # the fix, as printed
    code, checks, _ = run_doctor(capsys, "--url", healthy, "--test-number", NUMBER)
    assert code == 0 and checks["webhook configuration"][0] == "PASS"


def test_webhooks_pointing_elsewhere_fail(healthy, account, capsys):
    account.set_webhook_configuration(pre_webhook_url="https://old-crm.example.com/pre")
    code, checks, _ = run_doctor(capsys, "--url", healthy, "--test-number", NUMBER)
    assert code == 1
    status, detail, _ = checks["webhook configuration"]
    assert status == "FAIL" and f"pre_webhook_url is https://old-crm.example.com/pre, not {healthy}" in detail
    assert "post_webhook_url" not in detail


def test_a_configured_url_without_a_path_fails_because_its_signatures_would(healthy, account, capsys):
    bare = healthy.rstrip("/")
    account.set_webhook_configuration(pre_webhook_url=bare, post_webhook_url=bare)
    code, checks, _ = run_doctor(capsys, "--url", bare, "--test-number", NUMBER)
    assert code == 1
    status, detail, fix = checks["webhook configuration"]
    assert status == "FAIL" and f"pre_webhook_url {bare} has no path" in detail
    assert fix == f"python -m tools.twilio_setup apply --url {healthy}"
    assert checks["signed onConversationAdd"][0] == "PASS"  # the doctor signs {bare}/, as apply configures it


def test_malformed_and_missing_variables_fail_without_printing_secrets(healthy, settings_env, capsys):
    settings_env(TWILIO_ACCOUNT_SID="AC123", TWILIO_AUTH_TOKEN="my-secret-token", TWILIO_API_KEY="AK123", TWILIO_API_SECRET="s")
    code, checks, out = run_doctor(capsys, "--url", healthy)
    assert code == 1
    status, detail, fix = checks["environment"]
    assert status == "FAIL"
    assert "TWILIO_ACCOUNT_SID is not AC followed by 32 hex" in detail and "TWILIO_AUTH_TOKEN is not 32 hex" in detail
    assert "TWILIO_API_KEY is not SK" in detail and "Auth Token" in fix
    assert "my-secret-token" not in out

    settings_env(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_API_KEY=None, TWILIO_API_SECRET=None, TWILIO_AUTH_TOKEN=None)
    code, checks, _ = run_doctor(capsys, "--url", healthy)
    assert code == 1
    assert checks["environment"][0] == "FAIL" and "not set: TWILIO_AUTH_TOKEN" in checks["environment"][1]
    assert checks["Twilio credentials"][0] == "INFO" and checks["signed onConversationAdd"][0] == "INFO"


def test_an_unknown_number_is_expected_back_as_the_name(healthy, capsys):
    code, checks, _ = run_doctor(capsys, "--url", healthy, "--test-number", "+15550000000")
    assert code == 0
    assert "friendly_name '+15550000000'" in checks["signed onConversationAdd"][1]


def test_a_url_where_nothing_listens_fails_with_a_hint(healthy, capsys):
    code, checks, _ = run_doctor(capsys, "--url", f"http://127.0.0.1:{free_port()}/", "--test-number", NUMBER)
    assert code == 1
    status, detail, fix = checks["signed onConversationAdd"]
    assert status == "FAIL" and "no answer" in detail and "--url" in fix


# --- composite indexes: the comparison, with listings shaped as gcloud prints them ----------


WANTED = json.loads((ROOT / "firestore.indexes.json").read_text())["indexes"]


def listed(state: str = "READY", fields=(("worker", "ASCENDING"), ("sort_name", "ASCENDING"), ("__name__", "ASCENDING"))) -> dict:
    return {"name": "projects/p/databases/(default)/collectionGroups/customers/indexes/CICAgOjXh4EK", "queryScope": "COLLECTION",
            "fields": [{"fieldPath": path, "order": order} for path, order in fields], "state": state}


def test_the_index_comparison_finds_missing_and_unfinished_indexes():
    assert WANTED, "firestore.indexes.json lists the indexes the lists need"
    assert doctor.missing_indexes(WANTED, [listed()]) == ([], [])
    assert doctor.missing_indexes(WANTED, []) == (["customers(worker ASCENDING, sort_name ASCENDING)"], [])
    assert doctor.missing_indexes(WANTED, [listed(fields=(("worker", "ASCENDING"), ("sort_name", "DESCENDING")))])[0]
    assert doctor.missing_indexes(WANTED, [listed("CREATING")]) == ([], ["customers(worker ASCENDING, sort_name ASCENDING) is CREATING"])


def test_an_index_from_the_admin_api_compares_like_gcloud_lists_it():
    from google.cloud.firestore_admin_v1 import Index

    field = Index.IndexField
    ready = Index(name="projects/p/databases/(default)/collectionGroups/customers/indexes/CICAgOjXh4EK", query_scope=Index.QueryScope.COLLECTION,
                  state=Index.State.READY, fields=[field(field_path="worker", order=field.Order.ASCENDING),
                                                   field(field_path="sort_name", order=field.Order.ASCENDING),
                                                   field(field_path="__name__", order=field.Order.ASCENDING)])
    assert doctor.index_as_listed(ready) == listed()
    assert doctor.missing_indexes(WANTED, [doctor.index_as_listed(ready)]) == ([], [])
    tags = Index(name="projects/p/databases/(default)/collectionGroups/customers/indexes/X", query_scope=Index.QueryScope.COLLECTION,
                 state=Index.State.CREATING, fields=[field(field_path="tags", array_config=field.ArrayConfig.CONTAINS)])
    assert doctor.index_as_listed(tags)["fields"] == [{"fieldPath": "tags", "arrayConfig": "CONTAINS"}]


# --- against Prism serving Twilio's OpenAPI description ----------------------------------


@pytest.fixture(scope="module")
def prism_arrays(prism):
    proxy = PrismFormArrays(prism, TWILIO_SPEC).start()
    yield proxy
    proxy.stop()


def test_every_request_the_doctor_makes_is_one_twilios_spec_accepts(prism_arrays, db, settings_env, capsys):
    settings_env(TWILIO_AUTH_TOKEN=TOKEN, TWILIO_API_BASE_URL=prism_arrays.base_url)
    prism_arrays.take()
    _, checks, _ = run_doctor(capsys, "--url", "https://frontline-webhook-abc123-ew.a.run.app/")
    assert checks["Twilio credentials"][0] == "PASS"
    # The spec's example configuration points at https://example.com/pre: the doctor notices.
    assert checks["webhook configuration"][0] == "FAIL" and "https://example.com/pre" in checks["webhook configuration"][1]
    seen = prism_arrays.take()
    assert [(e.method, e.path, e.status) for e in seen] == [("GET", "/v1/Configuration/Webhooks", 200)], [e.answer for e in seen]


def test_a_request_prism_refuses_shows_up_as_a_failed_check(prism_arrays, db, settings_env, capsys):
    settings_env(TWILIO_AUTH_TOKEN=TOKEN, TWILIO_API_BASE_URL=prism_arrays.base_url + "/v2")
    prism_arrays.take()
    _, checks, _ = run_doctor(capsys)
    assert checks["Twilio credentials"][0] == "FAIL" and "HTTP 404" in checks["Twilio credentials"][1]
    assert [e.status for e in prism_arrays.take()] == [404]
