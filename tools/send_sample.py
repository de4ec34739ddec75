"""Send any webhook the function serves, signed as Twilio signs it, and show what it changed.

    python -m tools.send_sample --url http://127.0.0.1:8080/ --token TOKEN --event onConversationAdd
    python -m tools.send_sample --url ... --token ... --sandbox http://127.0.0.1:8081 --event onParticipantAdded
    python -m tools.send_sample --url ... --token ... --event GetCustomersList --worker alice@example.com --query ada

Events: onConversationAdd (several --address make a Group MMS), onParticipantAdded, onMessageAdd
(a worker's message: refused when the customer opted out), onMessageAdded (--body STOP / START
from the customer records the choice), routing (custom routing, posted to URL/routing), and the
Frontline callbacks GetCustomersList, GetCustomerDetailsByCustomerId, GetProxyAddress,
GetTemplatesByCustomerId. The defaults are `make run`'s samples: Ada (+15558675310,
cust-ada) texting in, her worker alice@example.com, the sandbox's sample conversation.

With --sandbox (the Twilio sandbox `make run` starts), the post-events and routing also print
what changed there: a participant's attributes before and after, a participant added.
The auth token comes from --token or TWILIO_AUTH_TOKEN; it signs, and is never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from tools import signing, webhook_forms
from tools.signing import FormValue
from tools.twilio_sandbox import SAMPLE_CONVERSATION_SID, SAMPLE_CUSTOMER_ADDRESS, SAMPLE_CUSTOMER_PARTICIPANT_SID

CONVERSATION_EVENTS = ("onConversationAdd", "onParticipantAdded", "onMessageAdd", "onMessageAdded")
FRONTLINE_LOCATIONS = ("GetCustomersList", "GetCustomerDetailsByCustomerId", "GetProxyAddress", "GetTemplatesByCustomerId")
ROUTING = "routing"
EVENTS = (*CONVERSATION_EVENTS, ROUTING, *FRONTLINE_LOCATIONS)
# What the sandbox can show a change for: participants written or added over REST.
CHANGES_PARTICIPANTS = ("onParticipantAdded", ROUTING)
SAMPLE_WORKER = "alice@example.com"
SAMPLE_CUSTOMER_ID = "cust-ada"
TIMEOUT_S = 10.0


def build_form(args: argparse.Namespace) -> tuple[str, dict[str, FormValue]]:
    """(path suffix, form) of the webhook `args.event`, as Twilio would post it."""
    addresses = args.address or [SAMPLE_CUSTOMER_ADDRESS]
    address = addresses[0]
    account = args.account_sid
    if args.event == "onConversationAdd":
        return "", webhook_forms.conversation_add(addresses if len(addresses) > 1 else address, account_sid=account, body=args.body)
    if args.event == "onParticipantAdded":
        return "", webhook_forms.participant_added(args.conversation_sid, args.participant_sid, address=address, account_sid=account)
    if args.event in ("onMessageAdd", "onMessageAdded"):
        from_customer = (args.sender or ("worker" if args.event == "onMessageAdd" else "customer")) == "customer"
        return "", webhook_forms.message(args.event, args.conversation_sid, body=args.body, account_sid=account,
                                         author=address if from_customer else args.worker,
                                         participant_sid=args.participant_sid if from_customer else None, from_customer=from_customer)
    if args.event == ROUTING:
        return ROUTING, webhook_forms.routing(args.conversation_sid, address)
    fields = {
        "GetCustomersList": {"PageSize": args.page_size, "Anchor": args.anchor, "Query": args.query},
        "GetCustomerDetailsByCustomerId": {"CustomerId": args.customer_id},
        "GetProxyAddress": {"CustomerId": args.customer_id, "ChannelType": args.channel_type, "ChannelValue": address},
        "GetTemplatesByCustomerId": {"CustomerId": args.customer_id, "ConversationSid": args.conversation_sid},
    }[args.event]
    return "", webhook_forms.frontline(args.event, args.worker, **fields)


def sandbox_participants(sandbox_url: str, account_sid: str, token: str, conversation_sid: str) -> dict[str, dict[str, Any]] | str:
    """The sandbox's participants of the conversation by sid, or why they cannot be read."""
    import requests

    url = f"{sandbox_url.rstrip('/')}/v1/Conversations/{conversation_sid}/Participants"
    try:
        response = requests.get(url, params={"PageSize": 100}, auth=(account_sid, token), timeout=TIMEOUT_S)
    except requests.RequestException as error:
        return f"sandbox not reachable at {sandbox_url}: {type(error).__name__}"
    if not response.ok:
        return f"sandbox answered HTTP {response.status_code}"
    return {participant["sid"]: participant for participant in response.json().get("participants", [])}


def _who(participant: dict[str, Any]) -> str:
    if participant.get("identity"):
        return f"identity {participant['identity']}"
    return f"address {(participant.get('messaging_binding') or {}).get('address')}"


def describe_changes(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for sid, participant in after.items():
        if sid not in before:
            lines.append(f"participant added: {sid} ({_who(participant)}), attributes {participant.get('attributes')}")
        elif before[sid].get("attributes") != participant.get("attributes"):
            lines += [f"participant {sid} ({_who(participant)}) attributes",
                      f"  before: {before[sid].get('attributes')}", f"  after:  {participant.get('attributes')}"]
    return lines or ["nothing changed"]


def example_commands(url: str, token_arg: str, sandbox_url: str, python: str = ".venv/bin/python") -> list[str]:
    """One ready-to-paste command per family, for `make run`'s banner (a test runs each one)."""
    base = f"{python} -m tools.send_sample --url {url} --token {token_arg}"
    return [
        f"{base} --event onConversationAdd",
        f"{base} --sandbox {sandbox_url} --event onParticipantAdded",
        f"{base} --sandbox {sandbox_url} --event routing",
        f"{base} --event GetCustomerDetailsByCustomerId --worker {SAMPLE_WORKER} --customer-id {SAMPLE_CUSTOMER_ID}",
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.send_sample", description=__doc__.splitlines()[0],
                                     epilog="Opt-out: --event onMessageAdded --body STOP records it; --event onMessageAdd is then refused; "
                                            "--event onMessageAdded --body START undoes it.")
    parser.add_argument("--url", default="http://127.0.0.1:8080/", help="the function's URL, as Twilio calls it (it is what gets signed)")
    parser.add_argument("--event", choices=EVENTS, default="onConversationAdd")
    parser.add_argument("--token", default=os.environ.get("TWILIO_AUTH_TOKEN", ""), help="defaults to $TWILIO_AUTH_TOKEN")
    parser.add_argument("--sandbox", default=None, metavar="URL", help="the Twilio sandbox make run started: show what the webhook changed there")
    parser.add_argument("--account-sid", default=os.environ.get("TWILIO_ACCOUNT_SID") or webhook_forms.ACCOUNT_SID)
    parser.add_argument("--address", action="append", default=None,
                        help=f"the customer's address (default {SAMPLE_CUSTOMER_ADDRESS}); repeat it for a Group MMS onConversationAdd")
    parser.add_argument("--body", default="Hello!", help="the message (onMessageAdd, onMessageAdded, onConversationAdd)")
    parser.add_argument("--from", dest="sender", choices=("customer", "worker"), default=None,
                        help="who writes the message (default: the worker for onMessageAdd, the customer for onMessageAdded)")
    parser.add_argument("--worker", default=SAMPLE_WORKER, help="the Frontline worker's identity (callbacks, worker messages)")
    parser.add_argument("--customer-id", default=SAMPLE_CUSTOMER_ID)
    parser.add_argument("--query", default=None, help="GetCustomersList: a name prefix or a phone number")
    parser.add_argument("--page-size", default="30", help="GetCustomersList")
    parser.add_argument("--anchor", default=None, help="GetCustomersList: the last customer_id of the previous page")
    parser.add_argument("--channel-type", default="sms", help="GetProxyAddress: sms or whatsapp")
    parser.add_argument("--conversation-sid", default=SAMPLE_CONVERSATION_SID)
    parser.add_argument("--participant-sid", default=SAMPLE_CUSTOMER_PARTICIPANT_SID, help="the customer's participant")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("no auth token: pass --token or set TWILIO_AUTH_TOKEN")
    suffix, form = build_form(args)
    url = args.url.rstrip("/") + "/" + suffix if suffix else args.url
    show_changes = bool(args.sandbox) and args.event in CHANGES_PARTICIPANTS
    before = sandbox_participants(args.sandbox, args.account_sid, args.token, args.conversation_sid) if show_changes else {}
    response = signing.post_signed(url, form, args.token, timeout=TIMEOUT_S)
    print(f"{args.event} -> HTTP {response.status_code}")
    try:
        print(json.dumps(response.json(), indent=2, ensure_ascii=False))
    except ValueError:
        print(response.text)
    if show_changes:
        after = sandbox_participants(args.sandbox, args.account_sid, args.token, args.conversation_sid)
        print(f"Twilio sandbox, conversation {args.conversation_sid}:")
        problem = next((value for value in (before, after) if isinstance(value, str)), None)
        for line in [problem] if problem else describe_changes(before, after):  # type: ignore[arg-type]
            print(f"  {line}")
    return 0 if response.ok else 1


if __name__ == "__main__":
    sys.exit(main())
