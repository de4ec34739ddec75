"""Deploy the function with one command, from one settings file.

    python -m tools.deploy [--env-file deploy.env] [--dry-run]

`make deploy` runs it and `make deploy-dry` prints the command without running it. Every
setting is described in `deploy.env.example`: copy it to `deploy.env` (git-ignored and never
uploaded) and fill it in. `build_command` is a pure function from those settings to the
`gcloud functions deploy` argv, so what is run is exactly what `--dry-run` prints.

Exit codes: gcloud's own when it ran; 2 when the settings file is missing or wrong (the
message names what to fix) or gcloud is not installed.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from runtime.config import VARIABLES, ConfigError, from_environ

ROOT = Path(__file__).resolve().parent.parent
ENTRY_POINT = "frontline_webhook"
RUNTIME = "python312"

# name -> (required, default, meaning): how and where the function is deployed.
DEPLOY_SETTINGS: dict[str, tuple[bool, str, str]] = {
    "PROJECT": (True, "", "Google Cloud project id; also the function's GOOGLE_CLOUD_PROJECT unless that is set"),
    "REGION": (True, "", "Region of the function, e.g. europe-west1"),
    "FUNCTION_NAME": (False, "frontline-webhook", "Name of the function (and of its Cloud Run service)"),
    "SERVICE_ACCOUNT": (True, "", "Email of the service account the function runs as"),
    "AUTH_TOKEN_SECRET": (True, "", "Secret Manager secret holding the Twilio auth token (NAME, NAME:VERSION or projects/P/secrets/NAME)"),
    "API_SECRET_SECRET": (False, "", "Secret holding TWILIO_API_SECRET; required with TWILIO_API_KEY"),
    "MIN_INSTANCES": (False, "1", "Instances kept warm; 0 costs nothing idle but a cold start can take seconds"),
    "MAX_INSTANCES": (False, "", "Upper bound on instances; empty = the platform default"),
    "TIMEOUT": (False, "10s", "Request timeout; the webhook answers within WEBHOOK_DEADLINE_S anyway"),
    "MEMORY": (False, "256Mi", "Memory per instance"),
}

# Function settings that must not be deployed as plain environment variables, and why.
REFUSED = {
    "TWILIO_AUTH_TOKEN": "a secret: put it in Secret Manager and name the secret in AUTH_TOKEN_SECRET",
    "TWILIO_API_SECRET": "a secret: put it in Secret Manager and name the secret in API_SECRET_SECRET",
    "FIRESTORE_EMULATOR_HOST": "for local runs only; deployed, it would send every lookup to an emulator",
}

# The function's own environment variables that a deploy passes on (runtime/config.py).
FUNCTION_VARIABLES = tuple(name for name in VARIABLES if name not in REFUSED)

_NUMBER = re.compile(r"^\d+$")
_TIMEOUT = re.compile(r"^\d+s?$")
_MEMORY = re.compile(r"^\d+(Mi|Gi|M|G|MB|GB)$")
_DELIMITERS = (",", "|", "@", "#", "~", ";", "!")


class DeployConfigError(ValueError):
    """The settings cannot make a deploy command; the message says what to fix."""


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines; `#` comments, blank lines and `export ` are allowed; quotes are stripped.

    An unquoted value ends at ` #` (an inline comment). An empty value means "not set".
    """
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        name, sep, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise DeployConfigError(f"line {number}: expected NAME=value, got {raw.strip()[:60]!r}")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        if name in values:
            raise DeployConfigError(f"line {number}: {name} is set twice")
        values[name] = value
    return values


def load_settings(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DeployConfigError(f"not found: copy deploy.env.example to {path.name} and fill it in") from None
    return parse_env_file(text)


def _secret_ref(secret: str) -> str:
    return secret if ":" in secret else f"{secret}:latest"


def _dict_flag(pairs: Sequence[tuple[str, str]]) -> str:
    """KEY=VALUE pairs for a gcloud dict flag; values containing a comma get another delimiter (`gcloud topic escaping`)."""
    delimiter = next((d for d in _DELIMITERS if not any(d in value for _, value in pairs)), None)
    if delimiter is None:
        raise DeployConfigError("environment values use every delimiter gcloud could split them on: " + " ".join(_DELIMITERS))
    joined = delimiter.join(f"{name}={value}" for name, value in pairs)
    return joined if delimiter == "," else f"^{delimiter}^{joined}"


def _check(settings: Mapping[str, str]) -> dict[str, str]:
    """Every problem at once, so one edit fixes the file; returns the settings with defaults filled in."""
    problems: list[str] = []
    known = set(DEPLOY_SETTINGS) | set(FUNCTION_VARIABLES)
    for name in settings:
        if name in REFUSED:
            problems.append(f"{name} must not be in the deploy settings ({REFUSED[name]})")
        elif name not in known:
            problems.append(f"unknown setting {name} (see deploy.env.example)")
    values = {name: settings.get(name, "").strip() or default for name, (_, default, _) in DEPLOY_SETTINGS.items()}
    missing = [name for name, (required, _, _) in DEPLOY_SETTINGS.items() if required and not values[name]]
    missing += [name for name in ("TWILIO_ACCOUNT_SID",) if not settings.get(name, "").strip()]
    if missing:
        problems.append("missing required setting(s): " + ", ".join(missing))
    for name, pattern, example in (("MIN_INSTANCES", _NUMBER, "1"), ("MAX_INSTANCES", _NUMBER, "10"),
                                   ("TIMEOUT", _TIMEOUT, "10s"), ("MEMORY", _MEMORY, "256Mi")):
        if values[name] and not pattern.match(values[name]):
            problems.append(f"{name} must look like {example}, got {values[name]!r}")
    if bool(settings.get("TWILIO_API_KEY", "").strip()) != bool(values["API_SECRET_SECRET"]):
        problems.append("TWILIO_API_KEY and API_SECRET_SECRET go together (the key's secret lives in Secret Manager)")
    elif not missing:
        # The function's own start-up check, with the secrets standing in as placeholders.
        environment = {name: settings[name] for name in FUNCTION_VARIABLES if settings.get(name, "").strip()}
        environment["TWILIO_AUTH_TOKEN"] = "from-secret-manager"
        if values["API_SECRET_SECRET"]:
            environment["TWILIO_API_SECRET"] = "from-secret-manager"
        try:
            from_environ(environment)
        except ConfigError as error:
            problems.append(str(error))
    if problems:
        raise DeployConfigError("; ".join(problems))
    return values


def build_command(settings: Mapping[str, str], source: str = ".") -> list[str]:
    """The `gcloud functions deploy` argv for these settings (pure: reads nothing, runs nothing)."""
    values = _check(settings)
    environment = {name: settings[name].strip() for name in FUNCTION_VARIABLES if settings.get(name, "").strip()}
    environment.setdefault("GOOGLE_CLOUD_PROJECT", values["PROJECT"])
    secrets = [("TWILIO_AUTH_TOKEN", _secret_ref(values["AUTH_TOKEN_SECRET"]))]
    if values["API_SECRET_SECRET"]:
        secrets.append(("TWILIO_API_SECRET", _secret_ref(values["API_SECRET_SECRET"])))
    argv = [
        "gcloud", "functions", "deploy", values["FUNCTION_NAME"],
        "--gen2",
        f"--runtime={RUNTIME}",
        f"--project={values['PROJECT']}",
        f"--region={values['REGION']}",
        f"--source={source}",
        f"--entry-point={ENTRY_POINT}",
        "--trigger-http",
        "--allow-unauthenticated",  # Twilio cannot send Google credentials: the signature check is the gate
        f"--service-account={values['SERVICE_ACCOUNT']}",
        f"--min-instances={values['MIN_INSTANCES']}",
    ]
    if values["MAX_INSTANCES"]:
        argv.append(f"--max-instances={values['MAX_INSTANCES']}")
    argv += [
        f"--timeout={values['TIMEOUT']}",
        f"--memory={values['MEMORY']}",
        "--set-env-vars=" + _dict_flag(sorted(environment.items())),
        "--set-secrets=" + _dict_flag(secrets),
    ]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.deploy", description="Deploy the webhook function with gcloud.")
    parser.add_argument("--env-file", default=str(ROOT / "deploy.env"), help="settings file (default: deploy.env)")
    parser.add_argument("--dry-run", action="store_true", help="print the gcloud command instead of running it")
    args = parser.parse_args(argv)
    path = Path(args.env_file)
    try:
        command = build_command(load_settings(path))
    except DeployConfigError as error:
        print(f"deploy settings ({path}): {error}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(shlex.join(command))
        return 0
    if shutil.which("gcloud") is None:
        print("gcloud not found: install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install)", file=sys.stderr)
        return 2
    print("+ " + shlex.join(command), file=sys.stderr)
    return subprocess.call(command, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
