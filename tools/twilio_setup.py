"""Point the Twilio account's Conversations webhooks at the function, from the command line.

    python -m tools.twilio_setup show
    python -m tools.twilio_setup apply --url https://FUNCTION_URL/ [--filter onMessageAdded] [--yes] [--dry-run]

`apply` sets the account-wide Conversations webhook configuration (Conversations → Manage →
Global webhooks in the console; REST `POST /v1/Configuration/Webhooks`): the function's URL as
both pre- and post-event URL, method POST, target `webhook`, and the filters
`onConversationAdd`, `onParticipantAdded`, `onMessageAdd` and `onMessageAdded` (opt-out) plus any `--filter`. It shows the current settings
and the change first, writes nothing when there is nothing to change, and asks before replacing
a URL that points somewhere else (`--yes` answers for you; without a terminal and without
`--yes` it refuses). Credentials come from the same environment variables as the function
(`TWILIO_ACCOUNT_SID` with `TWILIO_AUTH_TOKEN`, or `TWILIO_API_KEY`/`TWILIO_API_SECRET`);
`TWILIO_API_BASE_URL` sends the calls elsewhere (tests, local stand-ins).

It warns when the function checks signatures against another URL than `--url`: the PUBLIC_URL
`make deploy` gives it (from `--deploy-env`, default deploy.env: PUBLIC_URL, else the
function's cloudfunctions.net URL), else PUBLIC_URL in the environment. Twilio signs the URL it
is given, so every webhook would be refused (403) until the two agree.

Exit codes: 0 written or nothing to change, 1 Twilio refused or could not be reached, 2 bad
arguments or environment, 3 not overwritten (refused without --yes, or answered no).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from runtime.config import ConfigError, Settings, from_environ

ROOT = Path(__file__).resolve().parent.parent
# Every event the function handles: naming conversations, tying participants to customers, opt-out.
REQUIRED_FILTERS = ("onConversationAdd", "onParticipantAdded", "onMessageAdd", "onMessageAdded")
METHOD = "POST"
TARGET = "webhook"

# The event names Twilio accepts in Filters (from its OpenAPI description of this endpoint).
KNOWN_FILTERS = (
    "onMessageAdded", "onMessageUpdated", "onMessageRemoved", "onMessageAdd", "onMessageUpdate", "onMessageRemove",
    "onConversationUpdated", "onConversationRemoved", "onConversationAdd", "onConversationAdded", "onConversationRemove",
    "onConversationUpdate", "onConversationStateUpdated", "onParticipantAdded", "onParticipantUpdated",
    "onParticipantRemoved", "onParticipantAdd", "onParticipantRemove", "onParticipantUpdate", "onDeliveryUpdated",
    "onUserAdded", "onUserUpdate", "onUserUpdated",
)

FIELDS = ("pre_webhook_url", "post_webhook_url", "method", "filters", "target")


class SetupError(RuntimeError):
    """Something the user has to fix; the message says what."""


@dataclass(frozen=True)
class WebhookConfig:
    pre_webhook_url: str = ""
    post_webhook_url: str = ""
    method: str = ""
    filters: tuple[str, ...] = ()
    target: str = ""

    @classmethod
    def of(cls, fetched: Any) -> WebhookConfig:
        """From a twilio-python WebhookInstance (or anything with the same attributes)."""
        return cls(
            pre_webhook_url=getattr(fetched, "pre_webhook_url", None) or "",
            post_webhook_url=getattr(fetched, "post_webhook_url", None) or "",
            method=(getattr(fetched, "method", None) or "").upper(),
            filters=tuple(getattr(fetched, "filters", None) or ()),
            target=getattr(fetched, "target", None) or "",
        )

    def shown(self, name: str) -> str:
        value = getattr(self, name)
        if name == "filters":
            return ", ".join(value) if value else "(none)"
        return value or "(not set)"

    def changed_fields(self, wanted: WebhookConfig) -> list[str]:
        # Filters are a set of event names: their order carries no meaning.
        def differs(name: str) -> bool:
            mine, theirs = getattr(self, name), getattr(wanted, name)
            return set(mine) != set(theirs) if name == "filters" else mine != theirs

        return [name for name in FIELDS if differs(name)]

    def same_as(self, wanted: WebhookConfig) -> bool:
        return not self.changed_fields(wanted)


def wanted_config(url: str, extra_filters: Sequence[str] = ()) -> WebhookConfig:
    filters = list(REQUIRED_FILTERS)
    filters += [name for name in extra_filters if name not in filters]
    return WebhookConfig(pre_webhook_url=url, post_webhook_url=url, method=METHOD, filters=tuple(dict.fromkeys(filters)), target=TARGET)


def points_elsewhere(current: WebhookConfig, url: str) -> list[str]:
    """What `apply --url url` would take away from another endpoint (asked before overwriting)."""
    reasons = [f"{name} is {getattr(current, name)}" for name in ("pre_webhook_url", "post_webhook_url")
               if getattr(current, name) and getattr(current, name) != url]
    if current.target and current.target != TARGET:
        reasons.append(f"target is {current.target!r} (events go to {current.target}, not to a URL)")
    return reasons


def check_function_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise SetupError(f"--url must be the function's absolute URL (https://...), got {url!r}")
    if parts.fragment:
        raise SetupError("--url must not have a #fragment: Twilio signs the URL it calls, fragment included")
    return with_root_path(url)


def with_root_path(url: str) -> str:
    """`https://host` → `https://host/`: Twilio signs the URL exactly as configured, while the
    function sees the path `/`; without the slash every signature check would fail (unless the
    function's PUBLIC_URL says otherwise)."""
    parts = urlsplit(url)
    return parts._replace(path="/").geturl() if not parts.path else url


def deployed_public_url(deploy_env: Path | None, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """(the URL the deployed function checks signatures against, where that came from), if known."""
    if deploy_env is not None and deploy_env.is_file():
        from tools.deploy import DeployConfigError, load_settings, public_url

        try:
            return public_url(load_settings(deploy_env)), f"the deploy settings in {deploy_env}"
        except DeployConfigError:
            pass  # a settings file `make deploy` would refuse says nothing about what is deployed
    value = environ.get("PUBLIC_URL", "").strip()
    return (value, "PUBLIC_URL in this environment") if value else None


def signs_for(public_url: str, url: str) -> bool:
    """Whether a webhook Twilio signs for `url` passes a function whose PUBLIC_URL is `public_url`:
    the function checks PUBLIC_URL + the path it sees, and is reached at its root or at /conversations.
    Character for character, as Twilio signs it: another case of the host is another URL."""
    base = urlsplit(public_url.rstrip("/"))
    called = urlsplit(url)
    return (called.scheme, called.netloc) == (base.scheme, base.netloc) and \
        called.path.rstrip("/") in (base.path.rstrip("/"), base.path.rstrip("/") + "/conversations")


def public_url_warning(url: str, deploy_env: Path | None, environ: Mapping[str, str]) -> str | None:
    found = deployed_public_url(deploy_env, environ)
    if found is None or signs_for(found[0], url):
        return None
    public, where = found
    return (f"Warning: the function checks signatures against PUBLIC_URL {public} (from {where}), but Twilio would sign {url}: "
            f"every webhook would be refused with 403. Use --url {public.rstrip('/')}/, or deploy with PUBLIC_URL={url.rstrip('/')}.")


# --- Twilio ------------------------------------------------------------------------------


def rest_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The function's settings; an API key is enough for REST, so the auth token may then be absent."""
    env = dict(os.environ if environ is None else environ)
    if env.get("TWILIO_API_KEY", "").strip() and env.get("TWILIO_API_SECRET", "").strip() and not env.get("TWILIO_AUTH_TOKEN", "").strip():
        env["TWILIO_AUTH_TOKEN"] = "unused-with-an-api-key"
    return from_environ(env)


def twilio_problem(error: Exception, settings: Settings) -> tuple[str, str]:
    """What went wrong talking to Twilio, and what to do about it."""
    import requests
    from twilio.base.exceptions import TwilioRestException

    where = settings.twilio_api_base_url
    if isinstance(error, TwilioRestException):
        detail = f"Twilio answered HTTP {error.status}" + (f" (code {error.code}: {error.msg})" if error.code else f" ({error.msg})")
        if error.status in (401, 403):
            who = "TWILIO_API_KEY/TWILIO_API_SECRET" if settings.api_key else "TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN"
            return detail, f"the credentials were refused: check {who} (Twilio console → Account → API keys & tokens)"
        if error.status == 404:
            return detail, f"no such resource at {where}: check TWILIO_API_BASE_URL (unset it for the real Twilio)"
        return detail, "see the Twilio error code's page (https://www.twilio.com/docs/errors/CODE)"
    if isinstance(error, requests.Timeout):
        return f"no answer from Twilio at {where} in time", "check the network and try again"
    if isinstance(error, requests.ConnectionError):
        return f"could not connect to Twilio at {where}", "check the network, a proxy, or TWILIO_API_BASE_URL"
    return f"{type(error).__name__}: {error}", "check the network and the credentials"


def explain_twilio_error(error: Exception, settings: Settings) -> str:
    detail, fix = twilio_problem(error, settings)
    return f"{detail}; {fix}"


def _webhooks(settings: Settings):
    from gateways.twilio_rest import twilio_client

    return twilio_client(settings).conversations.v1.configuration.webhooks()


def fetch_config(settings: Settings) -> WebhookConfig:
    return WebhookConfig.of(_webhooks(settings).fetch())


def write_config(settings: Settings, wanted: WebhookConfig) -> WebhookConfig:
    updated = _webhooks(settings).update(
        pre_webhook_url=wanted.pre_webhook_url,
        post_webhook_url=wanted.post_webhook_url,
        method=wanted.method,
        filters=list(wanted.filters),  # sent as one repeated Filters parameter per event
        target=wanted.target,
    )
    return WebhookConfig.of(updated)


# --- output ------------------------------------------------------------------------------


def masked_account(sid: str) -> str:
    return sid[:2] + "…" + sid[-4:] if len(sid) > 8 else sid


def describe(config: WebhookConfig, indent: str = "  ") -> str:
    return "\n".join(f"{indent}{name:<17} {config.shown(name)}" for name in FIELDS)


def describe_change(current: WebhookConfig, wanted: WebhookConfig) -> str:
    lines = []
    for name in current.changed_fields(wanted):
        lines.append(f"- {name:<17} {current.shown(name)}")
        lines.append(f"+ {name:<17} {wanted.shown(name)}")
    return "\n".join(lines)


@dataclass
class Console:
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    stdin: TextIO = field(default_factory=lambda: sys.stdin)

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def complain(self, text: str) -> None:
        print(text, file=self.err, flush=True)

    def interactive(self) -> bool:
        try:
            return self.stdin.isatty()
        except (AttributeError, ValueError):
            return False

    def confirm(self, question: str) -> bool:
        print(f"{question} [y/N] ", end="", file=self.out, flush=True)
        answer = self.stdin.readline()
        return answer.strip().lower() in ("y", "yes")


# --- commands ----------------------------------------------------------------------------


def show(settings: Settings, console: Console) -> int:
    current = fetch_config(settings)
    console.say(f"Conversations webhooks of account {masked_account(settings.account_sid)} ({settings.twilio_api_base_url}):")
    console.say(describe(current))
    return 0


def apply(settings: Settings, console: Console, url: str, extra_filters: Sequence[str], yes: bool, dry_run: bool) -> int:
    wanted = wanted_config(url, extra_filters)
    current = fetch_config(settings)
    console.say(f"Current Conversations webhooks of account {masked_account(settings.account_sid)} ({settings.twilio_api_base_url}):")
    console.say(describe(current))
    if current.same_as(wanted):
        console.say("Already pointing at this function with these settings: nothing to change.")
        return 0
    console.say("Change:")
    console.say(describe_change(current, wanted))
    if urlsplit(url).scheme == "http":
        console.say("Note: an http:// URL sends webhooks (customer numbers, messages) unencrypted.")
    if dry_run:
        console.say("Dry run: nothing written.")
        return 0
    elsewhere = points_elsewhere(current, url)
    if elsewhere and not yes:
        what = "; ".join(elsewhere)
        if not console.interactive():
            console.complain(f"Refusing to overwrite: {what}. Nothing written. Re-run with --yes to replace it, "
                             "or run from a terminal to be asked.")
            return 3
        if not console.confirm(f"The webhooks point elsewhere ({what}). Replace them with {url}?"):
            console.say("Not changed.")
            return 3
    written = write_config(settings, wanted)
    console.say("Updated. Twilio now has:")
    console.say(describe(written))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.twilio_setup",
                                     description="Show or set the Twilio account's Conversations webhook configuration.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("show", help="print the current Conversations webhook settings")
    apply_parser = commands.add_parser("apply", help="point the Conversations webhooks at the function")
    apply_parser.add_argument("--url", required=True, help="the function's public URL, exactly as Twilio should call it")
    apply_parser.add_argument("--filter", action="append", default=[], choices=KNOWN_FILTERS, metavar="EVENT",
                              help="another event to send (repeatable); " + ", ".join(REQUIRED_FILTERS) + " are always on")
    apply_parser.add_argument("--yes", "-y", action="store_true", help="replace a configuration that points elsewhere without asking")
    apply_parser.add_argument("--dry-run", action="store_true", help="show the change, write nothing")
    apply_parser.add_argument("--deploy-env", default=str(ROOT / "deploy.env"), metavar="FILE",
                              help="deploy settings to compare --url with (default: deploy.env, when it exists)")
    return parser


def main(argv: Sequence[str] | None = None, console: Console | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = console or Console()
    settings: Settings | None = None
    try:
        settings = rest_settings()
        if args.command == "show":
            return show(settings, console)
        url = check_function_url(args.url)
        if url != args.url:
            console.say(f"Using {url}: Twilio signs the URL exactly as configured, and the function sees the path '/'.")
        warning = public_url_warning(url, Path(args.deploy_env), os.environ)
        if warning:
            console.complain(warning)
        return apply(settings, console, url, args.filter, args.yes, args.dry_run)
    except (ConfigError, SetupError) as error:
        console.complain(f"error: {error}")
        return 2
    except Exception as error:  # noqa: BLE001 - a Twilio or network failure, explained in one line
        if settings is None:
            raise
        console.complain(f"error: {explain_twilio_error(error, settings)}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
