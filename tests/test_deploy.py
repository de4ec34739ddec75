"""`make deploy` / `make deploy-dry`: the gcloud command built from one settings file.

tools/deploy.py turns the settings into an argv list without running anything, so these tests
check the exact command; `gcloud functions deploy --help` (offline) checks that gcloud knows
every flag, and `gcloud meta list-files-for-upload` that deploy.env is never uploaded.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tools.deploy import DEPLOY_SETTINGS, FUNCTION_VARIABLES, DeployConfigError, build_command, load_settings, parse_env_file

SAMPLE = """\
# a comment, then a blank line

PROJECT=acme-prod
REGION="europe-west1"
export SERVICE_ACCOUNT=frontline@acme-prod.iam.gserviceaccount.com
AUTH_TOKEN_SECRET='twilio-auth-token'
MIN_INSTANCES=2   # keep two warm
MAX_INSTANCES=
MEMORY=512Mi
TWILIO_ACCOUNT_SID=AC0123456789abcdef0123456789abcdef
PUBLIC_URL=https://hooks.acme.example/frontline
WEBHOOK_DEADLINE_S=3
DEFAULT_WORKER=
"""

EXPECTED = [
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
    "--min-instances=2",
    "--timeout=10s",
    "--memory=512Mi",
    ("--set-env-vars=GOOGLE_CLOUD_PROJECT=acme-prod,PUBLIC_URL=https://hooks.acme.example/frontline,"
     "TWILIO_ACCOUNT_SID=AC0123456789abcdef0123456789abcdef,WEBHOOK_DEADLINE_S=3"),
    "--set-secrets=TWILIO_AUTH_TOKEN=twilio-auth-token:latest",
]

REQUIRED = dict(parse_env_file(SAMPLE))


def error_of(settings) -> str:
    with pytest.raises(DeployConfigError) as raised:
        build_command(settings)
    return str(raised.value)


def test_the_command_built_from_a_sample_settings_file(tmp_path):
    path = tmp_path / "deploy.env"
    path.write_text(SAMPLE)
    assert build_command(load_settings(path)) == EXPECTED


def test_optional_settings_become_their_flags():
    settings = {**REQUIRED, "FUNCTION_NAME": "crm-hooks", "MAX_INSTANCES": "20", "TIMEOUT": "30s", "TWILIO_API_KEY": "SK" + "1" * 32,
                "API_SECRET_SECRET": "twilio-api-secret:3", "GOOGLE_CLOUD_PROJECT": "acme-data",
                "AUTH_TOKEN_SECRET": "projects/acme-sec/secrets/token"}
    command = build_command(settings)
    assert command[3] == "crm-hooks"
    assert "--max-instances=20" in command and "--timeout=30s" in command
    assert command[-1] == "--set-secrets=TWILIO_AUTH_TOKEN=projects/acme-sec/secrets/token:latest,TWILIO_API_SECRET=twilio-api-secret:3"
    env = command[-2]
    assert "GOOGLE_CLOUD_PROJECT=acme-data" in env and "acme-prod" not in env
    assert "TWILIO_API_KEY=SK" in env


def test_values_with_commas_are_passed_with_another_delimiter():
    command = build_command({**REQUIRED, "DEFAULT_WORKER": "ops,team@acme.example"})
    env = command[-2].removeprefix("--set-env-vars=")
    assert env.startswith("^|^")
    pairs = dict(pair.split("=", 1) for pair in env[3:].split("|"))
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
    ({"REGOIN": "us-central1"}, "unknown setting REGOIN"),
    ({"WEBHOOK_DEADLINE_S": "6"}, "WEBHOOK_DEADLINE_S must be under 5"),
    ({"MAX_BODY_BYTES": "lots"}, "MAX_BODY_BYTES must be a number"),
    ({"UNASSIGNED_CUSTOMERS_VISIBLE": "maybe"}, "UNASSIGNED_CUSTOMERS_VISIBLE must be true or false"),
    ({"MIN_INSTANCES": "-1"}, "MIN_INSTANCES must look like"),
    ({"TIMEOUT": "ten seconds"}, "TIMEOUT must look like"),
    ({"MEMORY": "lots"}, "MEMORY must look like"),
    ({"TWILIO_API_KEY": "SK" + "1" * 32}, "API_SECRET_SECRET"),
])
def test_wrong_settings_are_refused_naming_the_setting(extra, named):
    assert named in error_of({**REQUIRED, **extra})


@pytest.mark.parametrize(("text", "named"), [("PROJECT acme\n", "line 1"), ("PROJECT=a\nPROJECT=b\n", "PROJECT is set twice")])
def test_a_malformed_settings_file_is_refused_naming_the_line(text, named):
    with pytest.raises(DeployConfigError, match=named):
        parse_env_file(text)


def test_the_example_file_documents_every_setting_and_builds_a_command():
    example = ROOT / "deploy.env.example"
    settings = load_settings(example)
    assert set(DEPLOY_SETTINGS) | set(FUNCTION_VARIABLES) == set(settings)
    command = build_command(settings)
    assert command[:4] == ["gcloud", "functions", "deploy", "frontline-webhook"]
    text = example.read_text()
    for name in DEPLOY_SETTINGS:
        assert f"\n{name}=" in text


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", *args, f"PYTHON={sys.executable}"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


def test_make_deploy_dry_prints_exactly_the_command_deploy_would_run(tmp_path):
    path = tmp_path / "deploy.env"
    path.write_text(SAMPLE)
    result = make("deploy-dry", f"DEPLOY_ENV={path}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [shlex.join(EXPECTED)]
    assert shlex.split(result.stdout) == EXPECTED


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


def test_gcloud_knows_every_flag_of_the_command():
    gcloud = shutil.which("gcloud")
    assert gcloud, "the gcloud CLI is needed to check the deploy flags (it runs offline)"
    command = build_command({**REQUIRED, "MAX_INSTANCES": "3"})
    help_text = subprocess.run([gcloud, "functions", "deploy", "--help"], capture_output=True, text=True, timeout=120, check=True).stdout
    flags = [arg.split("=", 1)[0] for arg in command if arg.startswith("--")]
    assert len(flags) == 15
    assert [flag for flag in flags if flag not in help_text] == []


def test_deploy_env_is_git_ignored_and_never_uploaded(tmp_path):
    assert subprocess.run(["git", "check-ignore", "-q", "deploy.env"], cwd=ROOT, check=False).returncode == 0
    assert subprocess.run(["git", "check-ignore", "-q", "deploy.env.example"], cwd=ROOT, check=False).returncode == 1
    shutil.copy2(ROOT / ".gcloudignore", tmp_path / ".gcloudignore")
    for name in ("main.py", "requirements.txt", "deploy.env", "deploy.env.example"):
        (tmp_path / name).write_text("x\n")
    listed = subprocess.run(["gcloud", "meta", "list-files-for-upload", "."], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120, check=True).stdout.split()
    assert sorted(listed) == ["main.py", "requirements.txt"]
