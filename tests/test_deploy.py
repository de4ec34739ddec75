"""`make deploy` / `make deploy-dry`: the gcloud commands built from one settings file.

tools/deploy.py turns the settings into argv lists without running anything, so these tests
check the exact commands; `gcloud functions deploy --help` and `gcloud run services update
--help` (offline) check that gcloud knows every flag, `gcloud meta list-files-for-upload` that
deploy.env is never uploaded, and a recording `gcloud` on PATH what `make deploy` runs, in order.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tools.deploy import (
    DEPLOY_SETTINGS,
    FUNCTION_VARIABLES,
    DeployConfigError,
    build_command,
    build_commands,
    effective_cpu,
    load_settings,
    parse_env_file,
    public_url,
)

SAMPLE = """\
# a comment, then a blank line

PROJECT=acme-prod
REGION="europe-west1"
export SERVICE_ACCOUNT=frontline@acme-prod.iam.gserviceaccount.com
AUTH_TOKEN_SECRET='twilio-auth-token'
MIN_INSTANCES=2   # keep two warm
MAX_INSTANCES=
MEMORY=1Gi
TWILIO_ACCOUNT_SID=AC0123456789abcdef0123456789abcdef
PUBLIC_URL=https://hooks.acme.example/frontline
WEBHOOK_DEADLINE_S=3
DEFAULT_WORKER=
"""

EXPECTED_WEBHOOK = [
    "gcloud", "functions", "deploy", "frontline-webhook",
    "--gen2",
    "--runtime=python312",
    "--project=acme-prod",
    "--region=europe-west1",
    "--source=.",
    "--entry-point=frontline_webhook",
    "--trigger-http",
    "--allow-unauthenticated",
    "--service-account=frontline@acme-prod.iam.gserviceaccount.com",
    "--memory=1Gi",
    "--cpu=1",
    "--concurrency=8",
    "--min-instances=2",
    "--timeout=10s",
    ("--set-env-vars=GOOGLE_CLOUD_PROJECT=acme-prod,PUBLIC_URL=https://hooks.acme.example/frontline,THREADS=8,"
     "TWILIO_ACCOUNT_SID=AC0123456789abcdef0123456789abcdef,WEBHOOK_DEADLINE_S=3"),
    "--set-secrets=TWILIO_AUTH_TOKEN=twilio-auth-token:latest",
]
EXPECTED_SERVICE_UPDATE = ["gcloud", "run", "services", "update", "frontline-webhook", "--project=acme-prod", "--region=europe-west1",
                           "--cpu-boost", "--execution-environment=gen1"]
EXPECTED_TRIGGER = [
    "gcloud", "functions", "deploy", "customer-written",
    "--gen2",
    "--runtime=python312",
    "--project=acme-prod",
    "--region=europe-west1",
    "--source=.",
    "--entry-point=customer_written",
    "--trigger-event-filters=type=google.cloud.firestore.document.v1.written",
    "--trigger-event-filters=database=(default)",
    "--trigger-event-filters-path-pattern=document=customers/{customer_id}",
    "--trigger-location=europe-west1",
    "--retry",
    "--no-allow-unauthenticated",
    "--service-account=frontline@acme-prod.iam.gserviceaccount.com",
    "--trigger-service-account=frontline@acme-prod.iam.gserviceaccount.com",
    "--memory=256Mi",
    "--timeout=60s",
    "--set-env-vars=GOOGLE_CLOUD_PROJECT=acme-prod",
]
EXPECTED = [EXPECTED_WEBHOOK, EXPECTED_SERVICE_UPDATE, EXPECTED_TRIGGER]

REQUIRED = dict(parse_env_file(SAMPLE))


def error_of(settings) -> str:
    with pytest.raises(DeployConfigError) as raised:
        build_commands(settings)
    return str(raised.value)


def env_vars(command: list[str]) -> dict[str, str]:
    value = next(arg for arg in command if arg.startswith("--set-env-vars=")).removeprefix("--set-env-vars=")
    if value.startswith("^"):
        delimiter, value = value[1], value[3:]
    else:
        delimiter = ","
    return dict(pair.split("=", 1) for pair in value.split(delimiter))


def test_the_commands_built_from_a_sample_settings_file(tmp_path):
    path = tmp_path / "deploy.env"
    path.write_text(SAMPLE)
    assert build_commands(load_settings(path)) == EXPECTED
    assert build_command(load_settings(path)) == EXPECTED_WEBHOOK


def test_optional_settings_become_their_flags():
    settings = {**REQUIRED, "FUNCTION_NAME": "crm-hooks", "MAX_INSTANCES": "20", "TIMEOUT": "30s", "TWILIO_API_KEY": "SK" + "1" * 32,
                "API_SECRET_SECRET": "twilio-api-secret:3", "GOOGLE_CLOUD_PROJECT": "acme-data",
                "AUTH_TOKEN_SECRET": "projects/acme-sec/secrets/token", "CPU": "2", "MEMORY": "2Gi", "CONCURRENCY": "40",
                "CPU_BOOST": "false", "EXECUTION_ENVIRONMENT": "auto"}
    webhook, update, _ = build_commands(settings)
    assert webhook[3] == "crm-hooks" and update[4] == "crm-hooks"
    assert {"--max-instances=20", "--timeout=30s", "--cpu=2", "--memory=2Gi", "--concurrency=40"} <= set(webhook)
    assert webhook[-1] == "--set-secrets=TWILIO_AUTH_TOKEN=projects/acme-sec/secrets/token:latest,TWILIO_API_SECRET=twilio-api-secret:3"
    env = env_vars(webhook)
    assert env["GOOGLE_CLOUD_PROJECT"] == "acme-data" and env["TWILIO_API_KEY"].startswith("SK") and env["THREADS"] == "40"
    assert "--no-cpu-boost" in update and not [arg for arg in update if arg.startswith("--execution-environment")]


def test_defaults_size_the_webhook_for_a_cold_start_inside_the_deadline():
    settings = {name: value for name, value in REQUIRED.items() if name not in ("MEMORY", "MIN_INSTANCES")}
    webhook, update, _ = build_commands(settings)
    assert {"--cpu=1", "--memory=512Mi", "--concurrency=8", "--min-instances=1"} <= set(webhook)
    assert env_vars(webhook)["THREADS"] == "8"
    assert update[-2:] == ["--cpu-boost", "--execution-environment=gen1"]
    assert effective_cpu("1", "512Mi") == 1


def test_public_url_defaults_to_the_functions_cloudfunctions_net_url():
    settings = {name: value for name, value in REQUIRED.items() if name != "PUBLIC_URL"}
    url = "https://europe-west1-acme-prod.cloudfunctions.net/frontline-webhook"
    assert env_vars(build_command(settings))["PUBLIC_URL"] == url
    assert public_url(settings) == url
    assert env_vars(build_command({**settings, "FUNCTION_NAME": "hooks"}))["PUBLIC_URL"].endswith(".cloudfunctions.net/hooks")
    assert public_url(REQUIRED) == "https://hooks.acme.example/frontline"


def test_the_trigger_follows_the_collection_and_the_firestore_location_and_gets_no_twilio_settings():
    settings = {**REQUIRED, "CUSTOMERS_COLLECTION": "crm_customers", "FIRESTORE_LOCATION": "eur3", "LOG_LEVEL": "DEBUG",
                "DEFAULT_REGION": "GB", "TRIGGER_SERVICE_ACCOUNT": "eventarc@acme-prod.iam.gserviceaccount.com",
                "TRIGGER_FUNCTION_NAME": "index-keeper", "TRIGGER_MEMORY": "512Mi", "TRIGGER_MAX_INSTANCES": "5"}
    trigger = build_commands(settings)[2]
    assert trigger[3] == "index-keeper"
    assert "--trigger-event-filters-path-pattern=document=crm_customers/{customer_id}" in trigger
    assert {"--trigger-location=eur3", "--trigger-service-account=eventarc@acme-prod.iam.gserviceaccount.com",
            "--memory=512Mi", "--max-instances=5", "--retry"} <= set(trigger)
    assert env_vars(trigger) == {"GOOGLE_CLOUD_PROJECT": "acme-prod", "CUSTOMERS_COLLECTION": "crm_customers", "LOG_LEVEL": "DEBUG",
                                 "DEFAULT_REGION": "GB"}
    assert not [arg for arg in trigger if "TWILIO" in arg or arg.startswith(("--set-secrets", "--allow-unauthenticated", "--trigger-http"))]


def test_values_with_commas_are_passed_with_another_delimiter():
    command = build_command({**REQUIRED, "DEFAULT_WORKER": "ops,team@acme.example"})
    env = next(arg for arg in command if arg.startswith("--set-env-vars=")).removeprefix("--set-env-vars=")
    assert env.startswith("^|^")
    pairs = env_vars(command)
    assert pairs["DEFAULT_WORKER"] == "ops,team@acme.example" and pairs["TWILIO_ACCOUNT_SID"] == REQUIRED["TWILIO_ACCOUNT_SID"]


def test_missing_required_settings_are_all_named_at_once():
    message = error_of({"MEMORY": "256Mi"})
    assert "missing required setting(s)" in message
    for name in ("PROJECT", "REGION", "SERVICE_ACCOUNT", "AUTH_TOKEN_SECRET", "TWILIO_ACCOUNT_SID"):
        assert name in message


@pytest.mark.parametrize(("extra", "named"), [
    ({"TWILIO_AUTH_TOKEN": "abc"}, "Secret Manager"),
    ({"TWILIO_API_SECRET": "abc"}, "Secret Manager"),
    ({"FIRESTORE_EMULATOR_HOST": "127.0.0.1:8080"}, "local runs only"),
    ({"THREADS": "4"}, "unknown setting THREADS"),
    ({"REGOIN": "us-central1"}, "unknown setting REGOIN"),
    ({"WEBHOOK_DEADLINE_S": "6"}, "WEBHOOK_DEADLINE_S must be under 5"),
    ({"MAX_BODY_BYTES": "lots"}, "MAX_BODY_BYTES must be a number"),
    ({"UNASSIGNED_CUSTOMERS_VISIBLE": "maybe"}, "UNASSIGNED_CUSTOMERS_VISIBLE must be true or false"),
    ({"MIN_INSTANCES": "-1"}, "MIN_INSTANCES must look like"),
    ({"MIN_INSTANCES": "3", "MAX_INSTANCES": "2"}, "MAX_INSTANCES (2) is below MIN_INSTANCES (3)"),
    ({"MAX_INSTANCES": "0"}, "MAX_INSTANCES must be at least 1"),
    ({"TIMEOUT": "ten seconds"}, "TIMEOUT must look like"),
    ({"TIMEOUT": "3601s"}, "TIMEOUT must be 1s to 3600s"),
    ({"MEMORY": "lots"}, "MEMORY must look like"),
    ({"CONCURRENCY": "eight"}, "CONCURRENCY must look like"),
    ({"CONCURRENCY": "1001"}, "CONCURRENCY must be 1 to 1000"),
    ({"CPU": "fast"}, "CPU must look like"),
    ({"CPU_BOOST": "yes please"}, "CPU_BOOST must be true or false"),
    ({"EXECUTION_ENVIRONMENT": "gen3"}, "EXECUTION_ENVIRONMENT must be gen1, gen2 or auto"),
    ({"TWILIO_API_KEY": "SK" + "1" * 32}, "API_SECRET_SECRET"),
])
def test_wrong_settings_are_refused_naming_the_setting(extra, named):
    assert named in error_of({**REQUIRED, **extra})


# What Google refuses, from its vCPU and memory table (https://cloud.google.com/run/docs/configuring/services/cpu)
# and the concurrency rule (https://cloud.google.com/functions/docs/configuring/concurrency): each is refused
# before gcloud runs, naming the rule.
@pytest.mark.parametrize(("cpu", "memory", "concurrency", "environment", "named"), [
    ("0.5", "512Mi", "8", "gen1", "CONCURRENCY above 1 needs at least 1 vCPU (CPU is 0.5)"),
    ("0.999", "512Mi", "2", "gen1", "CONCURRENCY above 1 needs at least 1 vCPU"),
    ("auto", "256Mi", "8", "gen1", "CONCURRENCY above 1 needs at least 1 vCPU (CPU is 0.167, from MEMORY 256Mi)"),
    ("auto", "1Gi", "4", "gen1", "(CPU is 0.583, from MEMORY 1Gi)"),
    ("0.333", "1Gi", "1", "gen1", "MEMORY above 512Mi needs at least 0.5 vCPU"),
    ("0.5", "2Gi", "1", "gen1", "MEMORY above 1Gi needs at least 1 vCPU"),
    ("1", "8Gi", "8", "gen1", "MEMORY 8Gi is outside what 1 vCPU allows (128Mi to 4Gi)"),
    ("2", "16Gi", "8", "gen1", "outside what 2 vCPU allows (128Mi to 8Gi)"),
    ("4", "1Gi", "8", "gen1", "outside what 4 vCPU allows (2048Mi to 16Gi)"),
    ("8", "2Gi", "8", "gen1", "outside what 8 vCPU allows (4096Mi to 32Gi)"),
    ("1", "64Mi", "8", "gen1", "outside what 1 vCPU allows"),
    ("3", "4Gi", "8", "gen1", "CPU above 1 must be 2, 4, 6 or 8"),
    ("1.5", "4Gi", "8", "gen1", "CPU above 1 must be 2, 4, 6 or 8"),
    ("0.05", "128Mi", "1", "gen1", "CPU must be between 0.08 and 8"),
    ("16", "32Gi", "8", "gen1", "CPU must be between 0.08 and 8"),
    ("0.1234", "128Mi", "1", "gen1", "CPU below 1 goes in steps of 0.001"),
    ("0.5", "512Mi", "1", "gen2", "less than 1 vCPU runs only in the gen1 execution environment"),
])
def test_cpu_memory_and_concurrency_combinations_google_refuses_are_refused(cpu, memory, concurrency, environment, named):
    message = error_of({**REQUIRED, "CPU": cpu, "MEMORY": memory, "CONCURRENCY": concurrency, "EXECUTION_ENVIRONMENT": environment})
    assert named in message


@pytest.mark.parametrize(("cpu", "memory", "concurrency"), [
    ("0.083", "128Mi", "1"), ("0.08", "512Mi", "1"), ("0.5", "1Gi", "1"), ("500m", "768Mi", "1"), ("auto", "2Gi", "80"),
    ("1", "128Mi", "1000"), ("1", "4Gi", "8"), ("2", "8Gi", "80"), ("4", "2Gi", "8"), ("6", "24Gi", "8"), ("8", "32Gi", "8"),
])
def test_combinations_google_allows_are_deployed_as_written(cpu, memory, concurrency):
    webhook = build_command({**REQUIRED, "CPU": cpu, "MEMORY": memory, "CONCURRENCY": concurrency})
    assert f"--memory={memory}" in webhook and f"--concurrency={concurrency}" in webhook
    assert (f"--cpu={cpu}" in webhook) == (cpu != "auto")


def test_the_trigger_memory_is_checked_like_the_webhooks():
    assert "trigger: MEMORY must be at least 128Mi" in error_of({**REQUIRED, "TRIGGER_MEMORY": "64Mi"})
    assert "trigger: MEMORY 64Gi is outside what 8 vCPU allows" in error_of({**REQUIRED, "TRIGGER_MEMORY": "64Gi"})


@pytest.mark.parametrize(("text", "named"), [("PROJECT acme\n", "line 1"), ("PROJECT=a\nPROJECT=b\n", "PROJECT is set twice")])
def test_a_malformed_settings_file_is_refused_naming_the_line(text, named):
    with pytest.raises(DeployConfigError, match=named):
        parse_env_file(text)


def test_the_example_file_documents_every_setting_and_builds_the_commands_with_the_defaults():
    example = ROOT / "deploy.env.example"
    settings = load_settings(example)
    assert set(DEPLOY_SETTINGS) | set(FUNCTION_VARIABLES) == set(settings)
    commands = build_commands(settings)
    assert commands[0][:4] == ["gcloud", "functions", "deploy", "frontline-webhook"]
    assert commands[2][:4] == ["gcloud", "functions", "deploy", "customer-written"]
    text = example.read_text()
    for name, (_, default, _) in DEPLOY_SETTINGS.items():
        assert f"\n{name}=" in text
        if default:  # the example shows each default as the value it documents
            assert settings[name] == default, name


def make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", *args, f"PYTHON={sys.executable}"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
                          env=env)


def test_make_deploy_dry_prints_exactly_the_commands_deploy_would_run(tmp_path):
    path = tmp_path / "deploy.env"
    path.write_text(SAMPLE)
    result = make("deploy-dry", f"DEPLOY_ENV={path}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [shlex.join(command) for command in EXPECTED]
    assert [shlex.split(line) for line in result.stdout.splitlines()] == EXPECTED


def _recording_gcloud(tmp_path: Path, failing: str = "") -> tuple[dict[str, str], Path]:
    """A `gcloud` first on PATH that appends its argv to a file (and fails on `failing` in its argv)."""
    record = tmp_path / "gcloud-calls.txt"
    script = tmp_path / "bin" / "gcloud"
    script.parent.mkdir()
    script.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$*\" >> {shlex.quote(str(record))}\n"
                      + (f"case \"$*\" in *{failing}*) exit 7;; esac\n" if failing else "") + "exit 0\n")
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{script.parent}{os.pathsep}{os.environ['PATH']}"}, record


def test_make_deploy_runs_the_three_commands_in_order(tmp_path):
    path = tmp_path / "deploy.env"
    path.write_text(SAMPLE)
    env, record = _recording_gcloud(tmp_path)
    result = make("deploy", f"DEPLOY_ENV={path}", env=env)
    assert result.returncode == 0, result.stderr
    assert record.read_text().splitlines() == [" ".join(command[1:]) for command in EXPECTED]
    assert [line.removeprefix("+ ") for line in result.stderr.splitlines() if line.startswith("+ ")] == [shlex.join(c) for c in EXPECTED]


def test_make_deploy_stops_at_the_first_failing_command(tmp_path):
    path = tmp_path / "deploy.env"
    path.write_text(SAMPLE)
    env, record = _recording_gcloud(tmp_path, failing="--cpu-boost")
    result = make("deploy", f"DEPLOY_ENV={path}", env=env)
    assert result.returncode != 0
    assert len(record.read_text().splitlines()) == 2  # the webhook, then the failing update; no trigger


@pytest.mark.parametrize("content", [None, "PROJECT=acme-prod\n"], ids=["no-file", "incomplete-file"])
def test_make_deploy_without_usable_settings_fails_with_one_clear_line(tmp_path, content):
    path = tmp_path / "deploy.env"
    if content is not None:
        path.write_text(content)
    result = make("deploy", f"DEPLOY_ENV={path}")
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if not line.startswith("make")]
    assert len(lines) == 1 and lines[0].startswith(f"deploy settings ({path}): ")
    assert ("deploy.env.example" in lines[0]) if content is None else ("REGION" in lines[0])
    assert "Traceback" not in result.stderr and result.stdout == ""


def _help(*command: str) -> str:
    gcloud = shutil.which("gcloud")
    assert gcloud, "the gcloud CLI is needed to check the deploy flags (it runs offline)"
    return subprocess.run([gcloud, *command, "--help"], capture_output=True, text=True, timeout=120, check=True).stdout


def _flags(command: list[str]) -> list[str]:
    return [arg.split("=", 1)[0] for arg in command if arg.startswith("--")]


def test_gcloud_knows_every_flag_of_the_commands():
    settings = {**REQUIRED, "MAX_INSTANCES": "3", "TRIGGER_MAX_INSTANCES": "3", "CPU_BOOST": "false"}
    webhook, update, trigger = build_commands(settings)
    # Boolean flags are listed as --[no-]name: both spellings count as known.
    functions_help = _help("functions", "deploy")
    functions_help += functions_help.replace("--[no-]", "--no-")
    assert [flag for flag in _flags(webhook) + _flags(trigger) if flag not in functions_help] == []
    run_help = _help("run", "services", "update")
    run_help += run_help.replace("--[no-]", "--no-")
    assert [flag for flag in _flags(update) if flag not in run_help] == []
    assert len(_flags(webhook)) == 17 and len(_flags(trigger)) == 18


def test_deploy_env_is_git_ignored_and_never_uploaded(tmp_path):
    assert subprocess.run(["git", "check-ignore", "-q", "deploy.env"], cwd=ROOT, check=False).returncode == 0
    assert subprocess.run(["git", "check-ignore", "-q", "deploy.env.example"], cwd=ROOT, check=False).returncode == 1
    shutil.copy2(ROOT / ".gcloudignore", tmp_path / ".gcloudignore")
    for name in ("main.py", "requirements.txt", "deploy.env", "deploy.env.example"):
        (tmp_path / name).write_text("x\n")
    listed = subprocess.run(["gcloud", "meta", "list-files-for-upload", "."], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120, check=True).stdout.split()
    assert sorted(listed) == ["main.py", "requirements.txt"]
