"""Check that the function, Firestore and Twilio are set up to work together, and say what to fix.

    python -m tools.doctor --url https://FUNCTION_URL/ --test-number +15558675310 [--expect-name "Ada Lovelace"]

Run it with the same environment variables as the deployed function (the doctor reads them the
way the function does). Each check prints one line, PASS, FAIL, WARN or INFO, and every FAIL (and
WARN) a `fix:` line; the exit code is 1 when anything failed (a warning alone does not fail). Checks:

1. environment: required variables set and well-formed (account SID, auth token, API key);
   signature URL: PUBLIC_URL set (a WARN when not: the signed URL then comes from request headers);
2. Firestore: reachable, the customer collections readable;
3. composite indexes: those in firestore.indexes.json exist and are ready (not on the emulator);
4. Twilio credentials: an authenticated GET of the Conversations webhook configuration;
5. webhook configuration: pre- and post-event URL are --url, the filters tools.twilio_setup
   sets (onConversationAdd, onParticipantAdded, onMessageAdd, onMessageAdded), target webhook;
6. a signed onConversationAdd for --test-number sent to --url answers 200 within Twilio's 5 s
   with the expected friendly_name: --expect-name, else the profile's display_name that this
   shell reads from Firestore for that number, else the number itself.
Nothing is written anywhere: the synthetic webhook creates no conversation (only Twilio does that).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from runtime.config import VARIABLES, ConfigError, Settings, StoreSettings, format_problems, from_environ, store_settings_from_environ
from store.collections import ADDRESS_INDEX_COLLECTION
from tools.twilio_setup import REQUIRED_FILTERS, TARGET, WebhookConfig, fetch_config, masked_account, twilio_problem, with_root_path

ROOT = Path(__file__).resolve().parent.parent
INDEXES_FILE = ROOT / "firestore.indexes.json"
TWILIO_TIMEOUT_S = 5.0
# Twilio's magic test number: used when no --test-number is given, so the URL, the signature and
# the answer's shape are still checked (the expected name is then the number itself).
DEFAULT_TEST_NUMBER = "+15005550006"
CONVERSATIONS_SUFFIX = "/conversations"  # a deployment may give the Conversations family its own URL

PASS, FAIL, WARN, INFO = "PASS", "FAIL", "WARN", "INFO"


@dataclass(frozen=True)
class Result:
    status: str
    name: str
    detail: str
    fix: str = ""

    def lines(self) -> str:
        text = f"{self.status}  {self.name:<24} {self.detail}"
        return text + (f"\n      fix: {self.fix}" if self.fix else "")


# --- 1. environment ----------------------------------------------------------------------

# What to do about each malformed setting that runtime.config.format_problems names.
FORMAT_FIXES = {
    "TWILIO_ACCOUNT_SID": "copy the Account SID from the Twilio console (Account → API keys & tokens)",
    "TWILIO_AUTH_TOKEN": "copy the Auth Token (not an API key secret) from the Twilio console; check for quotes or a trailing newline in the secret",
    "TWILIO_API_KEY": "TWILIO_API_KEY is the API key's SID (SK...), TWILIO_API_SECRET its secret",
    "PUBLIC_URL": "set PUBLIC_URL to the exact URL Twilio calls (https://...), or unset it",
}


def check_environment(environ: Mapping[str, str]) -> tuple[Result, Settings | None]:
    value = {name: environ.get(name, "").strip() for name in VARIABLES}
    problems: list[str] = []
    fixes: list[str] = []
    missing = [name for name, (required, _, _) in VARIABLES.items() if required and not value[name]]
    if missing:
        problems.append("not set: " + ", ".join(missing))
        fixes.append("set them here and on the function (gcloud functions deploy ... --set-env-vars TWILIO_ACCOUNT_SID=AC... "
                     "--set-secrets TWILIO_AUTH_TOKEN=twilio-auth-token:latest)")
    malformed = format_problems(value)
    problems += malformed.values()
    fixes += [FORMAT_FIXES[name] for name in malformed]
    settings = None
    if not missing:
        try:
            settings = from_environ(environ)
        except ConfigError as error:
            if str(error) not in problems:  # a malformed PUBLIC_URL is already reported above, with its fix
                problems.append(str(error))
                fixes.append("see the Configuration table in README.md")
    if problems:
        return Result(FAIL, "environment", "; ".join(problems), "; ".join(dict.fromkeys(fixes))), settings
    assert settings is not None
    rest = f"REST with API key {settings.api_key[:6]}…" if settings.api_key else "REST with the auth token"
    return Result(PASS, "environment", f"TWILIO_ACCOUNT_SID {masked_account(settings.account_sid)}, TWILIO_AUTH_TOKEN 32 hex characters, {rest}"), settings


def check_public_url(environ: Mapping[str, str]) -> Result:
    public_url = environ.get("PUBLIC_URL", "").strip()
    if public_url:
        return Result(PASS, "signature URL", f"PUBLIC_URL {public_url}: the URL signatures are checked against does not come from request headers")
    return Result(WARN, "signature URL",
                  "PUBLIC_URL is not set: the function rebuilds the signed URL from the caller's Host and X-Forwarded-Proto, so a "
                  "request Twilio signed for another app's URL (same account) is accepted when replayed here with that app's Host and path",
                  "set PUBLIC_URL on the function to the URL Twilio calls (the function's URL), and here")


# --- 2. Firestore ------------------------------------------------------------------------


def _firestore_fix(error: Exception, store: StoreSettings, emulator: str) -> str:
    from google.api_core import exceptions as google_errors

    if emulator:
        return f"nothing usable answers at FIRESTORE_EMULATOR_HOST={emulator}: start the emulator (make run starts one), or unset FIRESTORE_EMULATOR_HOST to check the real project"
    if isinstance(error, google_errors.PermissionDenied):
        return "the credentials here cannot read Firestore: grant roles/datastore.user, or run `gcloud auth application-default login` with an account that has it"
    if isinstance(error, google_errors.NotFound):
        return f"no Firestore database in project {store.project or '(default project)'}: `gcloud firestore databases create --location=REGION`, or fix GOOGLE_CLOUD_PROJECT"
    if type(error).__name__ == "DefaultCredentialsError":
        return "no Google credentials here: run `gcloud auth application-default login`, and set GOOGLE_CLOUD_PROJECT"
    return "check GOOGLE_CLOUD_PROJECT, the network, and `gcloud auth application-default login`"


def check_firestore(environ: Mapping[str, str]) -> tuple[Result, Any]:
    store = store_settings_from_environ(environ)
    emulator = environ.get("FIRESTORE_EMULATOR_HOST", "").strip()
    where = f"project {store.project or '(default)'}" + (f" on the emulator at {emulator}" if emulator else "")
    try:
        from store.client import firestore_client

        db = firestore_client(store.project)
        counts = {}
        for collection in (store.customers_collection, ADDRESS_INDEX_COLLECTION):
            counted = db.collection(collection).count().get(timeout=TWILIO_TIMEOUT_S, retry=None)
            counts[collection] = int(counted[0][0].value)
    except Exception as error:  # noqa: BLE001 - every failure is reported with its fix
        first_line = (str(error).splitlines() or [type(error).__name__])[0][:200]
        return Result(FAIL, "Firestore", f"cannot read {store.customers_collection} in {where}: {type(error).__name__}: {first_line}",
                      _firestore_fix(error, store, emulator)), None
    profiles, entries = counts[store.customers_collection], counts[ADDRESS_INDEX_COLLECTION]
    detail = f"{where}: {store.customers_collection} has {profiles} profile(s), {ADDRESS_INDEX_COLLECTION} {entries} entr{'y' if entries == 1 else 'ies'}"
    if profiles and not entries:
        return Result(FAIL, "Firestore", detail + ": the address index is empty, so webhooks find nobody",
                      "rebuild it from the profiles: python -m tools.customers check --fix"), db
    if not profiles:
        detail += " (empty: import profiles with python -m tools.customers import FILE)"
    return Result(PASS, "Firestore", detail), db


# --- 3. composite indexes ----------------------------------------------------------------


def _index_shape(index: Mapping[str, Any]) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """(collection group, scope, fields) of an index written as in firestore.indexes.json or as
    `gcloud firestore indexes composite list --format=json` prints it (name instead of
    collectionGroup, and the implicit trailing __name__ field)."""
    group = index.get("collectionGroup") or re.sub(r"^.*/collectionGroups/([^/]+)/indexes/.*$", r"\1", index.get("name", ""))
    fields = [(f["fieldPath"], f.get("order") or ("CONTAINS" if f.get("arrayConfig") else "")) for f in index.get("fields", [])]
    if len(fields) > 1 and fields[-1][0] == "__name__":
        fields = fields[:-1]
    return group, index.get("queryScope", "COLLECTION"), tuple(fields)


def missing_indexes(wanted: Iterable[Mapping[str, Any]], existing: Iterable[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """(missing, not yet ready) among `wanted`, each described as `group(field ORDER, ...)`."""
    states = {}
    for index in existing:
        states[_index_shape(index)] = index.get("state", "READY")
    missing, building = [], []
    for index in wanted:
        shape = _index_shape(index)
        label = f"{shape[0]}({', '.join(f'{path} {order}' for path, order in shape[2])})"
        if shape not in states:
            missing.append(label)
        elif states[shape] != "READY":
            building.append(f"{label} is {states[shape]}")
    return missing, building


def index_as_listed(index: Any) -> dict[str, Any]:
    """A firestore_admin_v1.Index as `gcloud firestore indexes composite list --format=json` prints it."""
    fields = []
    for field in index.fields:
        entry: dict[str, Any] = {"fieldPath": field.field_path}
        if field.order:
            entry["order"] = field.order.name
        elif field.array_config:
            entry["arrayConfig"] = field.array_config.name
        fields.append(entry)
    return {"name": index.name, "queryScope": index.query_scope.name, "fields": fields, "state": index.state.name}


def _listed_indexes(project: str) -> list[dict[str, Any]]:
    """Every composite index of the project, through the Firestore admin API (as gcloud lists them)."""
    from google.cloud.firestore_admin_v1 import FirestoreAdminClient

    parent = f"projects/{project}/databases/(default)/collectionGroups/-"
    return [index_as_listed(index) for index in FirestoreAdminClient().list_indexes(parent=parent, timeout=10)]


def check_indexes(environ: Mapping[str, str], db: Any) -> Result:
    emulator = environ.get("FIRESTORE_EMULATOR_HOST", "").strip()
    if emulator:
        return Result(INFO, "composite indexes", f"skipped: emulator ({emulator} needs no indexes)")
    if db is None:
        return Result(INFO, "composite indexes", "not checked: the Firestore check above failed")
    wanted = json.loads(INDEXES_FILE.read_text()).get("indexes", [])
    project = store_settings_from_environ(environ).project or db.project
    if not project:
        return Result(FAIL, "composite indexes", "no project to check", "set GOOGLE_CLOUD_PROJECT")
    try:
        missing, building = missing_indexes(wanted, _listed_indexes(project))
    except Exception as error:  # noqa: BLE001
        first_line = (str(error).splitlines() or [type(error).__name__])[0][:200]
        return Result(FAIL, "composite indexes", f"cannot list the indexes of {project}: {type(error).__name__}: {first_line}",
                      "needs datastore.indexes.list (roles/datastore.viewer); or compare by hand: gcloud firestore indexes composite list")
    if missing:
        return Result(FAIL, "composite indexes", "missing: " + "; ".join(missing),
                      f"firebase deploy --only firestore:indexes --project {project} (or gcloud firestore indexes composite create, see README)")
    if building:
        return Result(FAIL, "composite indexes", "; ".join(building), "wait until gcloud firestore indexes composite list shows READY")
    return Result(PASS, "composite indexes", f"all {len(wanted)} from firestore.indexes.json are READY in {project}")


# --- 4, 5. Twilio ------------------------------------------------------------------------


def check_twilio(settings: Settings | None) -> tuple[Result, WebhookConfig | None]:
    if settings is None:
        return Result(INFO, "Twilio credentials", "not checked: fix the environment first"), None
    try:
        config = fetch_config(settings)
    except Exception as error:  # noqa: BLE001 - explained in one line
        detail, fix = twilio_problem(error, settings)
        return Result(FAIL, "Twilio credentials", detail, fix), None
    return Result(PASS, "Twilio credentials", f"accepted by {settings.twilio_api_base_url} for account {masked_account(settings.account_sid)}"), config


def _same_url(configured: str, function_url: str) -> bool:
    def norm(url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}" + (f"?{parts.query}" if parts.query else "")

    return bool(configured) and norm(configured) in (norm(function_url), norm(function_url.rstrip("/") + CONVERSATIONS_SUFFIX))


def check_webhooks(config: WebhookConfig | None, url: str, public_url: str = "") -> Result:
    if config is None:
        return Result(INFO, "webhook configuration", "not checked: the Twilio check above failed")
    problems = []
    if config.target != TARGET:
        problems.append(f"target is {config.target or '(not set)'!r}, not {TARGET!r}")
    absent = [name for name in REQUIRED_FILTERS if name not in config.filters]
    if absent:
        problems.append("filters lack " + ", ".join(absent) + f" (has: {config.shown('filters')})")
    if url:
        for name in ("pre_webhook_url", "post_webhook_url"):
            if not _same_url(getattr(config, name), url):
                problems.append(f"{name} is {config.shown(name)}, not {url}")
            elif not urlsplit(getattr(config, name)).path and not public_url:
                problems.append(f"{name} {getattr(config, name)} has no path: Twilio signs it without the '/' the function sees, so it answers 403")
    fix = f"python -m tools.twilio_setup apply --url {url or 'FUNCTION_URL'}"
    if problems:
        return Result(FAIL, "webhook configuration", "; ".join(problems), fix)
    if not url:
        return Result(INFO, "webhook configuration", f"filters and target fine; URLs ({config.pre_webhook_url or '(not set)'}) not compared: pass --url")
    return Result(PASS, "webhook configuration", f"pre- and post-event URL {url}, method {config.method}, filters {config.shown('filters')}")


# --- 6. a signed onConversationAdd -------------------------------------------------------


def expected_friendly_name(db: Any, store: StoreSettings, number: str, expect_name: str | None) -> tuple[str | None, str]:
    """The name the function should answer, and where it came from."""
    if expect_name:
        return expect_name, "--expect-name"
    if db is None:
        return None, "Firestore unreadable here"
    from runtime.deadline import Deadline
    from store.lookup import card_for_address

    card = card_for_address(db, number, store.default_region, Deadline(TWILIO_TIMEOUT_S))
    if card is None:
        return number, "no profile has this number, so the number itself"
    return card.display_name, f"profile {card.customer_id}"


def _synthetic_fix(response: Any) -> str:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    ours = isinstance(body, dict) and "error" in body
    if status == 403 and ours:
        return ("the function refused the signature: its TWILIO_AUTH_TOKEN differs from this shell's, or it sees another URL "
                "than --url (set PUBLIC_URL on the function to the URL Twilio calls)")
    if status in (401, 403):
        return "the platform refused the call before the function ran: deploy with --allow-unauthenticated (Twilio sends no Google credentials)"
    if status == 404:
        return "nothing serves that path: check --url (gcloud functions describe NAME --gen2 --region REGION --format='value(serviceConfig.uri)')"
    if status >= 500:
        return "the function failed: read its logs (gcloud functions logs read NAME --gen2 --region REGION); a missing variable stops it at start-up"
    return "is --url this function? it should answer every signed webhook with 200"


def check_synthetic(settings: Settings | None, url: str, number: str, expected: str | None, source: str) -> Result:
    name = "signed onConversationAdd"
    if not url:
        return Result(INFO, name, "not sent: pass --url FUNCTION_URL (and --test-number +1... of a customer)")
    if settings is None:
        return Result(INFO, name, "not sent: fix the environment first (the auth token signs it)")
    import requests

    from tools import signing, webhook_forms

    params = webhook_forms.conversation_add(number, account_sid=settings.account_sid)
    started = time.monotonic()
    try:
        response = signing.post_signed(url, params, settings.auth_token, timeout=2 * TWILIO_TIMEOUT_S, headers={"User-Agent": "frontline-doctor/1"})
    except requests.RequestException as error:
        return Result(FAIL, name, f"no answer from {url}: {type(error).__name__}",
                      "check --url; is the function deployed (gcloud functions describe) or running (make run)?")
    elapsed = time.monotonic() - started
    if response.status_code != 200:
        first_line = (response.text.strip().splitlines() or [""])[0][:160]
        return Result(FAIL, name, f"{url} answered HTTP {response.status_code} {first_line}".rstrip(), _synthetic_fix(response))
    try:
        answer = response.json()
    except ValueError:
        answer = None
    got = answer.get("friendly_name") if isinstance(answer, dict) else None
    if got is None:
        return Result(FAIL, name, f"answered 200 without a friendly_name: {response.text[:160]!r}", _synthetic_fix(response))
    if elapsed >= TWILIO_TIMEOUT_S:
        return Result(FAIL, name, f"answered after {elapsed:.1f} s; Twilio gives up after 5 s and creates the conversation unnamed",
                      "a cold start? deploy with --min-instances=1, and keep WEBHOOK_DEADLINE_S well under 5")
    if expected is None:
        return Result(INFO, name, f"answered 200 in {elapsed * 1000:.0f} ms with friendly_name {got!r}; not compared ({source}; pass --expect-name)")
    if got != expected:
        fix = "the function answered with another name than the profile this shell reads: does it use the same GOOGLE_CLOUD_PROJECT and CUSTOMERS_COLLECTION?"
        if got == number:
            fix = ("the function did not find the profile: it reads another project or CUSTOMERS_COLLECTION than this shell, "
                   "or cannot reach Firestore (look for ERROR lines in its logs)")
        return Result(FAIL, name, f"friendly_name {got!r}, expected {expected!r} ({source})", fix)
    return Result(PASS, name, f"{url} answered 200 in {elapsed * 1000:.0f} ms with friendly_name {got!r} ({source})")


# --- running -----------------------------------------------------------------------------


def run_checks(environ: Mapping[str, str], url: str, number: str, expect_name: str | None, out: TextIO) -> list[Result]:
    results: list[Result] = []

    def report(result: Result) -> None:
        results.append(result)
        print(result.lines(), file=out, flush=True)

    env_result, settings = check_environment(environ)
    report(env_result)
    report(check_public_url(environ))
    firestore_result, db = check_firestore(environ)
    report(firestore_result)
    report(check_indexes(environ, db))
    twilio_result, config = check_twilio(settings)
    report(twilio_result)
    report(check_webhooks(config, url, environ.get("PUBLIC_URL", "").strip()))
    expected, source = None, "Firestore unreadable here"
    if url and db is not None:
        try:
            expected, source = expected_friendly_name(db, store_settings_from_environ(environ), number, expect_name)
        except Exception as error:  # noqa: BLE001
            source = f"profile lookup failed: {type(error).__name__}"
    elif expect_name:
        expected, source = expect_name, "--expect-name"
    report(check_synthetic(settings, url, number, expected, source))
    return results


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.doctor", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None, help="the function's public URL, as Twilio calls it (default: $PUBLIC_URL)")
    parser.add_argument("--test-number", default=None, help=f"a customer's phone number for the signed test webhook (default {DEFAULT_TEST_NUMBER})")
    parser.add_argument("--expect-name", default=None, help="the friendly_name the function should answer (default: from the profile)")
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = out or sys.stdout
    environ = dict(os.environ)
    url = (args.url if args.url is not None else environ.get("PUBLIC_URL", "")).strip()
    if url and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc):
        print(f"error: --url must be the function's absolute URL (https://...), got {url!r}", file=sys.stderr)
        return 2
    url = with_root_path(url) if url else url
    results = run_checks(environ, url, (args.test_number or DEFAULT_TEST_NUMBER).strip(), args.expect_name, out)
    failed = sum(result.status == FAIL for result in results)
    passed = sum(result.status == PASS for result in results)
    warned = sum(result.status == WARN for result in results)
    info = len(results) - failed - passed - warned
    print(f"\n{passed} passed, {failed} failed, {warned} warning(s), {info} info", file=out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
