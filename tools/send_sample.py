"""Send a correctly signed sample webhook to a running function, as Twilio would.

    python -m tools.send_sample --url http://127.0.0.1:8080/ --address +15558675310

The auth token comes from --token or TWILIO_AUTH_TOKEN; it is used to sign, never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import requests
from twilio.request_validator import RequestValidator

EVENTS = ("onConversationAdd", "onParticipantAdded")


def sample_params(event: str, address: str, conversation_sid: str, participant_sid: str) -> dict[str, str]:
    params = {
        "EventType": event,
        "AccountSid": os.environ.get("TWILIO_ACCOUNT_SID", "AC" + "0" * 32),
        "ChatServiceSid": "IS" + "0" * 32,
        "MessagingBinding.Address": address,
        "MessagingBinding.ProxyAddress": "+15005550006",
        "MessagingBinding.Type": "sms",
        "Attributes": "{}",
        "Source": "SMS",
    }
    if event == "onParticipantAdded":
        params.update(ConversationSid=conversation_sid, ParticipantSid=participant_sid)
    else:
        params.update(MessageBody="Hello!", State="active")
    return params


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.send_sample", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080/", help="the URL Twilio would call (it is what gets signed)")
    parser.add_argument("--address", default="+15558675310", help="the customer's phone number or channel address")
    parser.add_argument("--event", choices=EVENTS, default="onConversationAdd")
    parser.add_argument("--conversation-sid", default="CH" + "0" * 32)
    parser.add_argument("--participant-sid", default="MB" + "0" * 32)
    parser.add_argument("--token", default=os.environ.get("TWILIO_AUTH_TOKEN", ""), help="defaults to $TWILIO_AUTH_TOKEN")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("no auth token: pass --token or set TWILIO_AUTH_TOKEN")
    params = sample_params(args.event, args.address, args.conversation_sid, args.participant_sid)
    signature = RequestValidator(args.token).compute_signature(args.url, params)
    response = requests.post(args.url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)
    print(f"HTTP {response.status_code}")
    try:
        print(json.dumps(response.json(), indent=2))
    except ValueError:
        print(response.text)
    return 0 if response.ok else 1


if __name__ == "__main__":
    sys.exit(main())
