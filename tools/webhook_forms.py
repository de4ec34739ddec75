"""The forms Twilio posts for each webhook the function serves, field by field as Twilio names them.

One builder for `tools.send_sample`, `tools.doctor` and the tests. A list value is a
repeated field (a Group MMS address list); `tools.signing` encodes and signs it that way.
"""

from __future__ import annotations

from collections.abc import Sequence

from tools.signing import FormValue

ACCOUNT_SID = "AC" + "0" * 32
CHAT_SERVICE_SID = "IS" + "0" * 32
MESSAGING_SERVICE_SID = "MG" + "0" * 32
PROXY_ADDRESS = "+15005550006"
DATE_CREATED = "2026-11-26T12:00:00.000Z"
# Where a message was written: customers on a messaging channel, workers in the Frontline app.
CUSTOMER_SOURCE = "SMS"
WORKER_SOURCE = "SDK"


def _binding(address: str | Sequence[str]) -> dict[str, FormValue]:
    return {"MessagingBinding.Address": address if isinstance(address, str) else list(address),
            "MessagingBinding.ProxyAddress": PROXY_ADDRESS, "MessagingBinding.Type": "sms"}


def conversation_add(address: str | Sequence[str] | None, *, account_sid: str = ACCOUNT_SID, attributes: str = "{}",
                     body: str = "Hello!") -> dict[str, FormValue]:
    """onConversationAdd (pre-event): no ConversationSid yet; several addresses make a Group MMS."""
    form: dict[str, FormValue] = {
        "EventType": "onConversationAdd", "AccountSid": account_sid, "ChatServiceSid": CHAT_SERVICE_SID,
        "MessagingServiceSid": MESSAGING_SERVICE_SID, "Attributes": attributes, "MessageBody": body, "State": "active",
        "Source": CUSTOMER_SOURCE, "RetryCount": "0",
    }
    if address:
        form.update(_binding(address))
    return form


def participant_added(conversation_sid: str, participant_sid: str, *, address: str | None = None, identity: str | None = None,
                      account_sid: str = ACCOUNT_SID, attributes: str = "{}") -> dict[str, FormValue]:
    """onParticipantAdded (post-event): an SMS customer has an address, a worker an Identity."""
    form: dict[str, FormValue] = {
        "EventType": "onParticipantAdded", "AccountSid": account_sid, "ChatServiceSid": CHAT_SERVICE_SID,
        "ConversationSid": conversation_sid, "ParticipantSid": participant_sid, "Attributes": attributes,
        "RoleSid": "RL" + "0" * 32, "DateCreated": DATE_CREATED, "Source": "API", "RetryCount": "0",
    }
    if address:
        form.update(_binding(address))
    if identity:
        form["Identity"] = identity
    return form


def message(event: str, conversation_sid: str, *, body: str, author: str, participant_sid: str | None = None,
            from_customer: bool, account_sid: str = ACCOUNT_SID, index: int = 1) -> dict[str, FormValue]:
    """onMessageAdd (pre-event) or onMessageAdded (post-event, with MessageSid and Index).

    A customer's message comes from the messaging channel (`Source` SMS, `Author` their address);
    a worker's from the Frontline app (`Source` SDK, `Author` and `ClientIdentity` their identity).
    """
    form: dict[str, FormValue] = {
        "EventType": event, "AccountSid": account_sid, "ChatServiceSid": CHAT_SERVICE_SID,
        "MessagingServiceSid": MESSAGING_SERVICE_SID, "ConversationSid": conversation_sid, "Body": body, "Author": author,
        "Attributes": "{}", "DateCreated": DATE_CREATED, "Source": CUSTOMER_SOURCE if from_customer else WORKER_SOURCE,
        "RetryCount": "0",
    }
    if participant_sid:
        form["ParticipantSid"] = participant_sid
    if not from_customer:
        form["ClientIdentity"] = author
    if event == "onMessageAdded":
        form.update(MessageSid="IM" + "0" * 31 + "1", Index=str(index))
    return form


def routing(conversation_sid: str, address: str | None) -> dict[str, FormValue]:
    """Frontline's custom routing callback: no EventType or Location, so it is posted to /routing."""
    form: dict[str, FormValue] = {"ChatServiceSid": CHAT_SERVICE_SID, "MessagingServiceSid": MESSAGING_SERVICE_SID,
                                  "ConversationSid": conversation_sid}
    if address:
        form.update(_binding(address))
    return form


def frontline(location: str, worker: str, **fields: str | None) -> dict[str, FormValue]:
    """A Frontline callback (CRM, outgoing conversations, templates): `Location`, `Worker`, its own fields."""
    return {"Location": location, "Worker": worker, **{name: value for name, value in fields.items() if value is not None}}
