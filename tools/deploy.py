"""Deploy both functions with one command, from one settings file.

    python -m tools.deploy [--env-file deploy.env] [--dry-run]

`make deploy` runs it and `make deploy-dry` prints the commands without running them. Every
setting is described in `deploy.env.example`: copy it to `deploy.env` (git-ignored and never
uploaded) and fill it in. `build_commands` is a pure function from those settings to the argv
lists, so what is run is exactly what `--dry-run` prints:

1. `gcloud functions deploy` of the webhook (`frontline_webhook`, HTTP, public: Twilio cannot
   send Google credentials, so its signature is the gate);
2. `gcloud run services update` of that function's Cloud Run service, for the cold-start
   settings `gcloud functions deploy` has no flag for (startup CPU boost, execution environment);
3. `gcloud functions deploy` of the Firestore trigger (`customer_written`, on writes to the
   customers collection; Firestore settings only, no Twilio secret).

Exit codes: the first failing gcloud's own, else 0; 2 when the settings file is missing or
wrong (the message names what to fix) or gcloud is not installed.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path

from runtime.config import VARIABLES, ConfigError, from_environ

ROOT = Path(__file__).resolve().parent.parent
ENTRY_POINT = "frontline_webhook"
TRIGGER_ENTRY_POINT = "customer_written"
RUNTIME = "python312"
FIRESTORE_WRITTEN = "google.cloud.firestore.document.v1.written"
# The trigger has no Twilio deadline; a minute covers a contended transaction, and a failure is retried.
TRIGGER_TIMEOUT = "60s"

# name -> (required, default, meaning): how and where the functions are deployed. The values
# that size the webhook are argued for in deploy.env.example and README "Capacity and cost".
DEPLOY_SETTINGS: dict[str, tuple[bool, str, str]] = {
    "PROJECT": (True, "", "Google Cloud project id; also the functions' GOOGLE_CLOUD_PROJECT unless that is set"),
    "REGION": (True, "", "Region of the functions, e.g. europe-west1"),
    "FUNCTION_NAME": (False, "frontline-webhook", "Name of the webhook function (and of its Cloud Run service)"),
    "SERVICE_ACCOUNT": (True, "", "Email of the service account both functions run as"),
    "AUTH_TOKEN_SECRET": (True, "", "Secret Manager secret holding the Twilio auth token (NAME, NAME:VERSION or projects/P/secrets/NAME)"),
    "API_SECRET_SECRET": (False, "", "Secret holding TWILIO_API_SECRET; required with TWILIO_API_KEY"),
    "CPU": (False, "1", "vCPUs per webhook instance: 0.08-1 (3 decimals), 1, 2, 4, 6, 8, or auto (from MEMORY)"),
    "MEMORY": (False, "512Mi", "Memory per webhook instance, e.g. 512Mi"),
    "CONCURRENCY": (False, "8", "Requests one webhook instance serves at once (also its thread count)"),
    "MIN_INSTANCES": (False, "1", "Webhook instances kept warm; 0 costs nothing idle but every new instance starts cold"),
    "MAX_INSTANCES": (False, "", "Upper bound on webhook instances; empty = the platform default"),
    "TIMEOUT": (False, "10s", "Request timeout; the webhook answers within WEBHOOK_DEADLINE_S anyway"),
    "CPU_BOOST": (False, "true", "Startup CPU boost on the webhook's Cloud Run service (true/false)"),
    "EXECUTION_ENVIRONMENT": (False, "gen1", "Cloud Run execution environment of the webhook: gen1, gen2, or auto (Cloud Run chooses)"),
    "TRIGGER_FUNCTION_NAME": (False, "customer-written", "Name of the Firestore trigger function"),
    "FIRESTORE_LOCATION": (False, "", "Location of the Firestore database (e.g. eur3, nam5, europe-west1); empty = REGION"),
    "TRIGGER_SERVICE_ACCOUNT": (False, "", "Service account Eventarc invokes the trigger as; empty = SERVICE_ACCOUNT"),
    "TRIGGER_MEMORY": (False, "256Mi", "Memory per trigger instance"),
    "TRIGGER_MAX_INSTANCES": (False, "", "Upper bound on trigger instances; empty = the platform default"),
}

# Function settings that must not be deployed as plain environment variables, and why.
REFUSED = {
    "TWILIO_AUTH_TOKEN": "a secret: put it in Secret Manager and name the secret in AUTH_TOKEN_SECRET",
    "TWILIO_API_SECRET": "a secret: put it in Secret Manager and name the secret in API_SECRET_SECRET",
    "FIRESTORE_EMULATOR_HOST": "for local runs only; deployed, it would send every lookup to an emulator",
}

# The function's own environment variables that a deploy passes on (runtime/config.py).
FUNCTION_VARIABLES = tuple(name for name in VARIABLES if name not in REFUSED)
# What the trigger reads: Firestore settings and logging, nothing of Twilio's.
TRIGGER_VARIABLES = tuple(name for name in ("GOOGLE_CLOUD_PROJECT", "CUSTOMERS_COLLECTION", "LOG_LEVEL", "DEFAULT_REGION") if name in VARIABLES)

_NUMBER = re.compile(r"^\d+$")
_TIMEOUT = re.compile(r"^(\d+)s?$")
_MEMORY = re.compile(r"^(\d+)(Mi|Gi|M|G|MB|GB)$")
_CPU = re.compile(r"^(\d*\.?\d+)(m?)$")
_FLAG = {"true": True, "false": False}
_DELIMITERS = (",", "|", "@", "#", "~", ";", "!")

# Cloud Run's memory and vCPU rules (https://cloud.google.com/run/docs/configuring/services/cpu and
# .../configuring/services/memory-limits, read 2026-11-30): for 1 vCPU and more, the memory range;
# below 1 vCPU, at most 512 MiB under 0.5 vCPU and at most 1 GiB under 1 vCPU, concurrency 1, and
# the first generation execution environment.
_MEMORY_RANGE_MIB = {1: (128, 4096), 2: (128, 8192), 4: (2048, 16384), 6: (4096, 24576), 8: (4096, 32768)}
# What Cloud Functions gives a function that names no --cpu
# (https://cloud.google.com/functions/docs/configuring/memory): the vCPU that goes with its memory.
_CPU_FOR_MEMORY_MIB = ((128, Decimal("0.083")), (256, Decimal("0.167")), (512, Decimal("0.333")), (1024, Decimal("0.583")),
                       (2048, Decimal(1)), (4096, Decimal(2)), (8192, Decimal(2)), (16384, Decimal(4)), (32768, Decimal(8)))


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


def memory_mib(value: str) -> int:
    """`512Mi` → 512, `1Gi` → 1024; decimal units (`M`, `G`, `MB`, `GB`) are converted from bytes, rounded down."""
    match = _MEMORY.match(value)
    if not match:
        raise DeployConfigError(f"memory must look like 512Mi or 1Gi, got {value!r}")
    amount, unit = int(match.group(1)), match.group(2)
    factor = {"Mi": 2**20, "Gi": 2**30, "M": 10**6, "MB": 10**6, "G": 10**9, "GB": 10**9}[unit]
    return amount * factor // 2**20


def cpu_value(value: str) -> Decimal:
    """`1` → 1, `0.583` → 0.583, `500m` → 0.5."""
    match = _CPU.match(value)
    if not match:
        raise DeployConfigError(f"CPU must look like 1, 0.583 or 500m, got {value!r}")
    try:
        amount = Decimal(match.group(1))
    except InvalidOperation:
        raise DeployConfigError(f"CPU must look like 1, 0.583 or 500m, got {value!r}") from None
    return amount / 1000 if match.group(2) else amount


def effective_cpu(cpu: str, memory: str) -> Decimal:
    """The vCPUs an instance gets: CPU when set, else (empty or `auto`) what Cloud Functions pairs with MEMORY."""
    if cpu and cpu != "auto":
        return cpu_value(cpu)
    mib = memory_mib(memory)
    return next((share for limit, share in _CPU_FOR_MEMORY_MIB if mib <= limit), _CPU_FOR_MEMORY_MIB[-1][1])


def resource_problems(cpu: str, memory: str, concurrency: str, execution_environment: str) -> list[str]:
    """What Google would refuse in this CPU / memory / concurrency / execution environment combination."""
    try:
        mib = memory_mib(memory)
        share = effective_cpu(cpu, memory)
    except DeployConfigError as error:
        return [str(error)]
    problems = []
    explicit = cpu not in ("", "auto")
    if explicit:
        if share < Decimal("0.08") or share > 8:
            problems.append(f"CPU must be between 0.08 and 8, got {cpu}")
        elif share > 1 and share not in (2, 4, 6, 8):
            problems.append(f"CPU above 1 must be 2, 4, 6 or 8, got {cpu}")
        elif share < 1 and share != share.quantize(Decimal("0.001")):
            problems.append(f"CPU below 1 goes in steps of 0.001, got {cpu}")
    if share >= 1 and int(share) in _MEMORY_RANGE_MIB:
        low, high = _MEMORY_RANGE_MIB[int(share)]
        if not low <= mib <= high:
            problems.append(f"MEMORY {memory} is outside what {share} vCPU allows ({low}Mi to {high // 1024}Gi)")
    elif share < 1:
        if mib < 128:
            problems.append(f"MEMORY must be at least 128Mi, got {memory}")
        if share < Decimal("0.5") and mib > 512:
            problems.append(f"MEMORY above 512Mi needs at least 0.5 vCPU (CPU is {share})")
        elif mib > 1024:
            problems.append(f"MEMORY above 1Gi needs at least 1 vCPU (CPU is {share})")
        if concurrency and _NUMBER.match(concurrency) and int(concurrency) > 1:
            problems.append(f"CONCURRENCY above 1 needs at least 1 vCPU (CPU is {share}{'' if explicit else f', from MEMORY {memory}'})")
        if execution_environment == "gen2":
            problems.append(f"less than 1 vCPU runs only in the gen1 execution environment (CPU is {share})")
    if concurrency and _NUMBER.match(concurrency) and not 1 <= int(concurrency) <= 1000:
        problems.append(f"CONCURRENCY must be 1 to 1000, got {concurrency}")
    return problems


def default_public_url(values: Mapping[str, str]) -> str:
    """The URL Twilio is told to call: a 2nd gen HTTP function's cloudfunctions.net URL, known before
    the first deploy (https://cloud.google.com/functions/docs/calling/http, "Function URL")."""
    return f"https://{values['REGION']}-{values['PROJECT']}.cloudfunctions.net/{values['FUNCTION_NAME']}"


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
    for name, pattern, example in (("MIN_INSTANCES", _NUMBER, "1"), ("MAX_INSTANCES", _NUMBER, "10"), ("CONCURRENCY", _NUMBER, "8"),
                                   ("TRIGGER_MAX_INSTANCES", _NUMBER, "10"), ("TIMEOUT", _TIMEOUT, "10s"),
                                   ("MEMORY", _MEMORY, "512Mi"), ("TRIGGER_MEMORY", _MEMORY, "256Mi")):
        if values[name] and not pattern.match(values[name]):
            problems.append(f"{name} must look like {example}, got {values[name]!r}")
    for name in ("MAX_INSTANCES", "TRIGGER_MAX_INSTANCES"):
        if values[name] == "0":
            problems.append(f"{name} must be at least 1 (leave it empty for the platform default)")
    if values["MAX_INSTANCES"].isdigit() and values["MIN_INSTANCES"].isdigit() and int(values["MAX_INSTANCES"]) < int(values["MIN_INSTANCES"]):
        problems.append(f"MAX_INSTANCES ({values['MAX_INSTANCES']}) is below MIN_INSTANCES ({values['MIN_INSTANCES']})")
    timeout = _TIMEOUT.match(values["TIMEOUT"])
    if timeout and not 1 <= int(timeout.group(1)) <= 3600:
        problems.append(f"TIMEOUT must be 1s to 3600s for a 2nd gen function, got {values['TIMEOUT']}")
    if values["CPU_BOOST"].lower() not in _FLAG:
        problems.append(f"CPU_BOOST must be true or false, got {values['CPU_BOOST']!r}")
    if values["EXECUTION_ENVIRONMENT"] not in ("gen1", "gen2", "auto"):
        problems.append(f"EXECUTION_ENVIRONMENT must be gen1, gen2 or auto, got {values['EXECUTION_ENVIRONMENT']!r}")
    if _MEMORY.match(values["MEMORY"]) and (not values["CONCURRENCY"] or _NUMBER.match(values["CONCURRENCY"])):
        problems += resource_problems(values["CPU"], values["MEMORY"], values["CONCURRENCY"], values["EXECUTION_ENVIRONMENT"])
    if _MEMORY.match(values["TRIGGER_MEMORY"]):
        problems += [f"trigger: {problem}" for problem in resource_problems("", values["TRIGGER_MEMORY"], "1", "")]
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
    values["FIRESTORE_LOCATION"] = values["FIRESTORE_LOCATION"] or values["REGION"]
    values["TRIGGER_SERVICE_ACCOUNT"] = values["TRIGGER_SERVICE_ACCOUNT"] or values["SERVICE_ACCOUNT"]
    return values


def public_url(settings: Mapping[str, str]) -> str:
    """The PUBLIC_URL `make deploy` gives the webhook: PUBLIC_URL when set, else its cloudfunctions.net URL."""
    values = _check(settings)
    return settings.get("PUBLIC_URL", "").strip() or default_public_url(values)


def _common(values: Mapping[str, str], name: str, source: str) -> list[str]:
    return ["gcloud", "functions", "deploy", name, "--gen2", f"--runtime={RUNTIME}", f"--project={values['PROJECT']}",
            f"--region={values['REGION']}", f"--source={source}"]


def webhook_command(settings: Mapping[str, str], values: Mapping[str, str], source: str) -> list[str]:
    environment = {name: settings[name].strip() for name in FUNCTION_VARIABLES if settings.get(name, "").strip()}
    environment.setdefault("GOOGLE_CLOUD_PROJECT", values["PROJECT"])
    environment.setdefault("PUBLIC_URL", default_public_url(values))
    # functions-framework serves with THREADS gunicorn threads (default 4 per CPU it sees); Google's
    # concurrency page asks for threads = concurrency, so every admitted request has a thread.
    environment["THREADS"] = values["CONCURRENCY"]
    secrets = [("TWILIO_AUTH_TOKEN", _secret_ref(values["AUTH_TOKEN_SECRET"]))]
    if values["API_SECRET_SECRET"]:
        secrets.append(("TWILIO_API_SECRET", _secret_ref(values["API_SECRET_SECRET"])))
    argv = _common(values, values["FUNCTION_NAME"], source) + [
        f"--entry-point={ENTRY_POINT}",
        "--trigger-http",
        "--allow-unauthenticated",  # Twilio cannot send Google credentials: the signature check is the gate
        f"--service-account={values['SERVICE_ACCOUNT']}",
        f"--memory={values['MEMORY']}",
    ]
    if values["CPU"] != "auto":
        argv.append(f"--cpu={values['CPU']}")
    argv += [f"--concurrency={values['CONCURRENCY']}", f"--min-instances={values['MIN_INSTANCES']}"]
    if values["MAX_INSTANCES"]:
        argv.append(f"--max-instances={values['MAX_INSTANCES']}")
    argv += [
        f"--timeout={values['TIMEOUT']}",
        "--set-env-vars=" + _dict_flag(sorted(environment.items())),
        "--set-secrets=" + _dict_flag(secrets),
    ]
    return argv


def service_update_command(values: Mapping[str, str]) -> list[str]:
    """What `gcloud functions deploy` cannot set, on the function's Cloud Run service (a 2nd gen
    function made with the Cloud Functions API can be managed with Cloud Run's API too)."""
    argv = ["gcloud", "run", "services", "update", values["FUNCTION_NAME"], f"--project={values['PROJECT']}",
            f"--region={values['REGION']}", "--cpu-boost" if _FLAG[values["CPU_BOOST"].lower()] else "--no-cpu-boost"]
    if values["EXECUTION_ENVIRONMENT"] != "auto":
        argv.append(f"--execution-environment={values['EXECUTION_ENVIRONMENT']}")
    return argv


def trigger_command(settings: Mapping[str, str], values: Mapping[str, str], source: str) -> list[str]:
    environment = {name: settings[name].strip() for name in TRIGGER_VARIABLES if settings.get(name, "").strip()}
    environment.setdefault("GOOGLE_CLOUD_PROJECT", values["PROJECT"])
    collection = environment.get("CUSTOMERS_COLLECTION") or VARIABLES["CUSTOMERS_COLLECTION"][1]
    argv = _common(values, values["TRIGGER_FUNCTION_NAME"], source) + [
        f"--entry-point={TRIGGER_ENTRY_POINT}",
        f"--trigger-event-filters=type={FIRESTORE_WRITTEN}",
        "--trigger-event-filters=database=(default)",
        f"--trigger-event-filters-path-pattern=document={collection}/{{customer_id}}",
        f"--trigger-location={values['FIRESTORE_LOCATION']}",  # Eventarc triggers live where the database is
        "--retry",  # a transient Firestore error raises: Eventarc delivers the event again
        "--no-allow-unauthenticated",  # only Eventarc, as the trigger service account, may invoke it
        f"--service-account={values['SERVICE_ACCOUNT']}",
        f"--trigger-service-account={values['TRIGGER_SERVICE_ACCOUNT']}",
        f"--memory={values['TRIGGER_MEMORY']}",
    ]
    if values["TRIGGER_MAX_INSTANCES"]:
        argv.append(f"--max-instances={values['TRIGGER_MAX_INSTANCES']}")
    argv += [f"--timeout={TRIGGER_TIMEOUT}", "--set-env-vars=" + _dict_flag(sorted(environment.items()))]
    return argv


def build_commands(settings: Mapping[str, str], source: str = ".") -> list[list[str]]:
    """The argv lists `make deploy` runs, in order (pure: reads nothing, runs nothing)."""
    values = _check(settings)
    return [webhook_command(settings, values, source), service_update_command(values), trigger_command(settings, values, source)]


def build_command(settings: Mapping[str, str], source: str = ".") -> list[str]:
    """The webhook's `gcloud functions deploy` argv alone."""
    return build_commands(settings, source)[0]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.deploy", description="Deploy the webhook and the Firestore trigger with gcloud.")
    parser.add_argument("--env-file", default=str(ROOT / "deploy.env"), help="settings file (default: deploy.env)")
    parser.add_argument("--dry-run", action="store_true", help="print the gcloud commands instead of running them")
    args = parser.parse_args(argv)
    path = Path(args.env_file)
    try:
        commands = build_commands(load_settings(path))
    except DeployConfigError as error:
        print(f"deploy settings ({path}): {error}", file=sys.stderr)
        return 2
    if args.dry_run:
        for command in commands:
            print(shlex.join(command))
        return 0
    if shutil.which("gcloud") is None:
        print("gcloud not found: install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install)", file=sys.stderr)
        return 2
    for command in commands:
        print("+ " + shlex.join(command), file=sys.stderr)
        code = subprocess.call(command, cwd=ROOT)
        if code != 0:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
