"""`python -m tools.twilio_setup`: show and set the account's Conversations webhooks.

Against the stateful stand-in (what is written, and how often) and against Prism serving
Twilio's own OpenAPI description (every request is one Twilio accepts). The real twilio
client makes every call, through TWILIO_API_BASE_URL.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

import pytest
import requests

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, ROOT, TWILIO_SPEC
from tests.prism_form_arrays import PrismFormArrays
from tools import twilio_setup
from tools.twilio_setup import REQUIRED_FILTERS

FUNCTION_URL = "https://frontline-webhook-abc123-ew.a.run.app/"
ELSEWHERE = {"pre_webhook_url": "https://old-crm.example.com/pre", "post_webhook_url": "https://old-crm.example.com/post",
             "method": "GET", "filters": ["onMessageAdded"], "target": "webhook"}
CONFIG_PATH = "/v1/Configuration/Webhooks"


def posts(standin) -> list:
    return [r for r in standin.calls("POST") if r.path == CONFIG_PATH]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = twilio_setup.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- against the stand-in ----------------------------------------------------------------


def test_show_prints_the_current_settings_and_writes_nothing(twilio, capsys):
    twilio.set_webhook_configuration(**ELSEWHERE)
    code, out, _ = run(capsys, "show")
    assert code == 0
    assert "https://old-crm.example.com/pre" in out and "https://old-crm.example.com/post" in out
    assert "onMessageAdded" in out and "GET" in out
    assert [(r.method, r.path) for r in twilio.calls()] == [("GET", CONFIG_PATH)]


def test_apply_over_another_endpoint_shows_the_change_and_refuses_without_yes(twilio, capsys):
    twilio.set_webhook_configuration(**ELSEWHERE)
    code, out, err = run(capsys, "apply", "--url", FUNCTION_URL)
    assert code != 0
    assert "- pre_webhook_url   https://old-crm.example.com/pre" in out
    assert f"+ pre_webhook_url   {FUNCTION_URL}" in out
    assert f"+ post_webhook_url  {FUNCTION_URL}" in out
    assert "- method            GET" in out and "+ method            POST" in out
    assert "+ filters           onConversationAdd, onParticipantAdded, onMessageAdd, onMessageAdded" in out
    assert "Refusing to overwrite" in err and "--yes" in err
    assert posts(twilio) == []
    assert twilio.webhook_configuration["pre_webhook_url"] == ELSEWHERE["pre_webhook_url"]


def test_apply_with_yes_writes_once_and_a_second_apply_writes_nothing(twilio, capsys):
    twilio.set_webhook_configuration(**ELSEWHERE)
    code, out, _ = run(capsys, "apply", "--url", FUNCTION_URL, "--yes")
    assert code == 0, out
    assert len(posts(twilio)) == 1
    config = twilio.webhook_configuration
    assert (config["pre_webhook_url"], config["post_webhook_url"], config["method"], config["target"]) == (FUNCTION_URL, FUNCTION_URL, "POST", "webhook")
    assert sorted(config["filters"]) == sorted(REQUIRED_FILTERS)  # all arrived: a repeated Filters parameter

    code, out, _ = run(capsys, "apply", "--url", FUNCTION_URL)
    assert code == 0
    assert "nothing to change" in out
    assert len(posts(twilio)) == 1


def test_apply_on_an_account_without_webhooks_needs_no_confirmation(twilio, capsys):
    code, out, err = run(capsys, "apply", "--url", FUNCTION_URL, "--filter", "onMessageUpdated")
    assert code == 0, err
    assert len(posts(twilio)) == 1
    assert twilio.webhook_configuration["filters"] == ["onConversationAdd", "onParticipantAdded", "onMessageAdd", "onMessageAdded", "onMessageUpdated"]
    assert "+ filters           onConversationAdd, onParticipantAdded, onMessageAdd, onMessageAdded, onMessageUpdated" in out


def test_apply_changes_filters_of_its_own_url_without_asking(twilio, capsys):
    twilio.set_webhook_configuration(pre_webhook_url=FUNCTION_URL, post_webhook_url=FUNCTION_URL, method="POST", filters=["onConversationAdd"])
    code, out, err = run(capsys, "apply", "--url", FUNCTION_URL)
    assert code == 0, err
    change = out.split("Change:")[1].split("Updated.")[0]
    assert change.strip().splitlines() == ["- filters           onConversationAdd", "+ filters           onConversationAdd, onParticipantAdded, onMessageAdd, onMessageAdded"]
    assert sorted(twilio.webhook_configuration["filters"]) == sorted(REQUIRED_FILTERS)


def test_a_bare_host_gets_the_slash_the_function_sees(twilio, capsys):
    code, out, _ = run(capsys, "apply", "--url", "https://frontline.example.com")
    assert code == 0
    assert "Using https://frontline.example.com/" in out
    assert twilio.webhook_configuration["pre_webhook_url"] == twilio.webhook_configuration["post_webhook_url"] == "https://frontline.example.com/"


def test_dry_run_shows_the_change_and_writes_nothing(twilio, capsys):
    twilio.set_webhook_configuration(**ELSEWHERE)
    code, out, _ = run(capsys, "apply", "--url", FUNCTION_URL, "--yes", "--dry-run")
    assert code == 0
    assert f"+ pre_webhook_url   {FUNCTION_URL}" in out and "nothing written" in out
    assert posts(twilio) == []


def test_an_unknown_filter_or_a_relative_url_is_refused_before_any_call(twilio, capsys):
    with pytest.raises(SystemExit) as exited:
        twilio_setup.main(["apply", "--url", FUNCTION_URL, "--filter", "onConversationAddd"])
    assert exited.value.code == 2
    code, _, err = run(capsys, "apply", "--url", "/frontline")
    assert code == 2 and "absolute URL" in err
    assert twilio.calls() == []


def test_refused_credentials_are_explained(twilio, settings_env, capsys):
    settings_env(TWILIO_AUTH_TOKEN="not-the-token")
    code, _, err = run(capsys, "show")
    assert code == 1
    assert "HTTP 401" in err and "TWILIO_AUTH_TOKEN" in err
    assert "not-the-token" not in err


DEPLOY_SETTINGS = """\
PROJECT=acme-prod
REGION=europe-west1
SERVICE_ACCOUNT=frontline@acme-prod.iam.gserviceaccount.com
AUTH_TOKEN_SECRET=twilio-auth-token
TWILIO_ACCOUNT_SID=AC0123456789abcdef0123456789abcdef
"""
DEPLOYED_URL = "https://europe-west1-acme-prod.cloudfunctions.net/frontline-webhook"


def test_apply_warns_when_the_deployed_public_url_is_another_url_and_still_applies(twilio, tmp_path, capsys):
    deploy_env = tmp_path / "deploy.env"
    deploy_env.write_text(DEPLOY_SETTINGS)  # no PUBLIC_URL: make deploy sets the cloudfunctions.net URL
    code, out, err = run(capsys, "apply", "--url", FUNCTION_URL, "--deploy-env", str(deploy_env))
    assert code == 0, err
    assert f"checks signatures against PUBLIC_URL {DEPLOYED_URL} (from the deploy settings in {deploy_env})" in err
    assert f"--url {DEPLOYED_URL}/" in err and f"PUBLIC_URL={FUNCTION_URL.rstrip('/')}" in err
    # Twilio signs the URL character for character: another case of the host is another URL.
    code, _, err = run(capsys, "apply", "--url", DEPLOYED_URL.replace("acme-prod", "ACME-PROD") + "/", "--deploy-env", str(deploy_env), "--dry-run")
    assert code == 0 and "Warning" in err
    assert twilio.webhook_configuration["pre_webhook_url"] == FUNCTION_URL


@pytest.mark.parametrize("url", [DEPLOYED_URL + "/", DEPLOYED_URL, DEPLOYED_URL + "/conversations"])
def test_apply_does_not_warn_for_the_url_the_function_checks(twilio, tmp_path, capsys, url):
    deploy_env = tmp_path / "deploy.env"
    deploy_env.write_text(DEPLOY_SETTINGS)
    code, _, err = run(capsys, "apply", "--url", url, "--deploy-env", str(deploy_env))
    assert code == 0 and "Warning" not in err, err


def test_a_public_url_set_in_the_deploy_settings_is_the_one_compared(twilio, tmp_path, capsys):
    deploy_env = tmp_path / "deploy.env"
    deploy_env.write_text(DEPLOY_SETTINGS + "PUBLIC_URL=https://hooks.acme.example/frontline\n")
    code, _, err = run(capsys, "apply", "--url", "https://hooks.acme.example/frontline/", "--deploy-env", str(deploy_env))
    assert code == 0 and "Warning" not in err, err
    code, _, err = run(capsys, "apply", "--url", DEPLOYED_URL + "/", "--deploy-env", str(deploy_env), "--yes")
    assert code == 0 and "PUBLIC_URL https://hooks.acme.example/frontline (from the deploy settings" in err


def test_without_deploy_settings_the_environments_public_url_is_compared(twilio, settings_env, tmp_path, capsys):
    missing = tmp_path / "no-deploy.env"
    code, _, err = run(capsys, "apply", "--url", FUNCTION_URL, "--deploy-env", str(missing))
    assert code == 0 and "Warning" not in err  # nothing known to compare with
    settings_env(PUBLIC_URL="https://other-app.example.com/hooks")
    code, _, err = run(capsys, "apply", "--url", FUNCTION_URL, "--deploy-env", str(missing), "--yes", "--dry-run")
    assert code == 0
    assert "PUBLIC_URL https://other-app.example.com/hooks (from PUBLIC_URL in this environment)" in err and "403" in err


def test_deploy_settings_make_deploy_would_refuse_are_not_used_for_the_comparison(twilio, settings_env, tmp_path, capsys):
    deploy_env = tmp_path / "deploy.env"
    deploy_env.write_text("PROJECT=acme-prod\n")  # incomplete: nothing was deployed from it
    settings_env(PUBLIC_URL=FUNCTION_URL)
    code, _, err = run(capsys, "apply", "--url", FUNCTION_URL, "--deploy-env", str(deploy_env))
    assert code == 0 and "Warning" not in err, err


def _subprocess_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_a_real_run_without_a_terminal_refuses_to_overwrite(twilio):
    twilio.set_webhook_configuration(**ELSEWHERE)
    done = subprocess.run([sys.executable, "-m", "tools.twilio_setup", "apply", "--url", FUNCTION_URL], cwd=ROOT, env=_subprocess_env(),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert f"+ pre_webhook_url   {FUNCTION_URL}" in done.stdout
    assert "Refusing to overwrite" in done.stderr
    assert posts(twilio) == []


def _answer_in_a_terminal(answer: str) -> tuple[int, str]:
    """Run apply with a real terminal as stdin and type `answer` at the question."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "tools.twilio_setup", "apply", "--url", FUNCTION_URL], cwd=ROOT, env=_subprocess_env(),
                               stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    os.close(terminal)
    try:
        output = ""
        stop_at = time.monotonic() + 30
        while "[y/N]" not in output and time.monotonic() < stop_at and process.poll() is None:
            ready, _, _ = select.select([process.stdout], [], [], 0.5)
            if ready:
                output += os.read(process.stdout.fileno(), 4096).decode()
        assert "[y/N]" in output, output
        os.write(controller, (answer + "\n").encode())
        rest, _ = process.communicate(timeout=30)
        return process.returncode, output + rest
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()


def test_in_a_terminal_it_asks_and_no_keeps_the_old_settings(twilio):
    twilio.set_webhook_configuration(**ELSEWHERE)
    code, output = _answer_in_a_terminal("n")
    assert code != 0
    assert "https://old-crm.example.com/pre" in output and "Not changed" in output
    assert posts(twilio) == []


def test_in_a_terminal_it_asks_and_yes_writes(twilio):
    twilio.set_webhook_configuration(**ELSEWHERE)
    code, output = _answer_in_a_terminal("y")
    assert code == 0, output
    assert len(posts(twilio)) == 1
    assert twilio.webhook_configuration["pre_webhook_url"] == FUNCTION_URL


# --- against Prism serving Twilio's OpenAPI description ----------------------------------


@pytest.fixture(scope="module")
def prism_arrays(prism):
    proxy = PrismFormArrays(prism, TWILIO_SPEC).start()
    yield proxy
    proxy.stop()


def test_show_and_apply_make_only_requests_twilios_spec_accepts(prism_arrays, settings_env, capsys):
    settings_env(TWILIO_API_BASE_URL=prism_arrays.base_url)
    prism_arrays.take()
    code, _, err = run(capsys, "show")
    assert code == 0, err
    # Prism answers the spec's example: a configuration pointing at https://example.com/pre.
    code, out, err = run(capsys, "apply", "--url", FUNCTION_URL, "--filter", "onMessageUpdated", "--yes")
    assert code == 0, err
    assert "https://example.com/pre" in out
    seen = prism_arrays.take()
    assert [(e.method, e.path) for e in seen] == [("GET", CONFIG_PATH), ("GET", CONFIG_PATH), ("POST", CONFIG_PATH)]
    assert [e.status for e in seen] == [200, 200, 200], [e.answer for e in seen]
    sent = seen[-1].sent
    assert [value for name, value in sent if name == "Filters"] == ["onConversationAdd", "onParticipantAdded", "onMessageAdd", "onMessageAdded", "onMessageUpdated"]
    assert {name: value for name, value in sent if name != "Filters"} == {
        "PreWebhookUrl": FUNCTION_URL, "PostWebhookUrl": FUNCTION_URL, "Method": "POST", "Target": "webhook"}


# Negative controls: the checks above would catch a request Twilio's description refuses.


def test_a_wrong_path_through_the_real_tool_is_refused(prism_arrays, settings_env, capsys):
    settings_env(TWILIO_API_BASE_URL=prism_arrays.base_url + "/not-twilio")
    prism_arrays.take()
    code, _, err = run(capsys, "show")
    assert code == 1 and "HTTP 404" in err
    assert [e.status for e in prism_arrays.take()] == [404]


def test_prism_behind_the_array_spelling_still_refuses_bad_values_and_missing_credentials(prism_arrays):
    url = prism_arrays.base_url + CONFIG_PATH
    assert requests.post(url, data={"Target": "somewhere"}, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5).status_code == 422
    assert requests.post(url, data={"Filters": ["onConversationAdd", "onParticipantAdded"]}, timeout=5).status_code == 401


def test_prism_itself_misreads_repeated_form_keys_which_is_why_the_array_spelling_exists(prism):
    """If this fails, Prism reads `Filters=a&Filters=b` as an array now, and tests/prism_form_arrays.py can go."""
    answer = requests.post(prism + CONFIG_PATH, data={"Filters": ["onConversationAdd", "onParticipantAdded"]}, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5)
    assert answer.status_code == 422 and "Filters must be array" in answer.text
