"""People, templates and request helpers shared by the Frontline callback tests
(test_crm_list, test_crm_details, test_outgoing, test_templates, test_custom_routing,
test_frontline_common). The fixtures that store them are in conftest.py."""

from __future__ import annotations

from tests.conftest import CONVERSATION_SID, signed_post


ALICE = "alice@example.com"
BOB = "bob@example.com"
CAROL = "carol@example.com"

ADA = {
    "display_name": "Ada Lovelace",
    "avatar": "https://avatars.example.com/ada.png",
    "channels": [{"type": "sms", "value": "+15558675310"}, {"type": "email", "value": "ada@example.com"}],
    "links": [{"type": "Facebook", "value": "https://facebook.example.com/ada", "display_name": "Ada on Facebook"}],
    "details": {"title": "Notes", "content": "Prefers SMS in the morning."},
    "worker": ALICE,
}
ADAM = {"display_name": "ADAM", "channels": [{"type": "sms", "value": "+15550100001"}], "worker": ALICE}
ADALINE_OF_BOB = {"display_name": "adaline", "channels": [{"type": "sms", "value": "+15550100002"}], "worker": BOB}
GRACE = {"display_name": "Grace Hopper", "channels": [{"type": "sms", "value": "+15550100003"}], "worker": ALICE}
KATHERINE_UNASSIGNED = {"display_name": "Katherine Johnson", "channels": [{"type": "whatsapp", "value": "whatsapp:+15550100004"}]}

TEMPLATE_CATEGORIES = [  # saved in this order; `order` says otherwise
    ("follow-up", {"order": 2, "display_name": "Follow-up", "templates": [
        {"content": "{{FirstName}}, just checking in on your last order. {{Author}}", "whatsAppApproved": False}]}),
    ("greetings", {"order": 1, "display_name": "Greetings", "templates": [
        {"content": "Hello {{Name}}, this is {{Author}}. How can I help?", "whatsAppApproved": True},
        {"content": "Hi {{FirstName}}, thanks for getting in touch! {{Unknown}}", "whatsAppApproved": False}]}),
    ("a-last", {"order": 3, "display_name": "Closing", "templates": []}),
]


def crm(client, location, worker=ALICE, path="/", **params):
    form = {"Location": location, **({"Worker": worker} if worker is not None else {}), **params}
    return signed_post(client, form, path=path)


def customers_list(client, worker=ALICE, **params):
    return crm(client, "GetCustomersList", worker, **params)


def listed(response) -> list[dict]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["objects"]["customers"]


def error_of(response) -> str:
    body = response.get_json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"], body
    return body["error"]


def details(client, customer_id=None, worker=ALICE):
    return crm(client, "GetCustomerDetailsByCustomerId", worker, **({"CustomerId": customer_id} if customer_id is not None else {}))


def proxy(client, worker, channel_type, path="/"):
    return crm(client, "GetProxyAddress", worker, path=path, CustomerId="ada", ChannelType=channel_type, ChannelValue="+15558675310")


def get_templates(client, customer_id, worker=ALICE, path="/"):
    return crm(client, "GetTemplatesByCustomerId", worker, path=path, CustomerId=customer_id, ConversationSid=CONVERSATION_SID)


def route(client, address=None, conversation_sid=CONVERSATION_SID):
    params = {"ChatServiceSid": "IS" + "0" * 32, "MessagingServiceSid": "MG" + "0" * 32}
    if conversation_sid is not None:
        params["ConversationSid"] = conversation_sid
    if address is not None:
        params.update({"MessagingBinding.Address": address, "MessagingBinding.ProxyAddress": "+15005550006",
                       "MessagingBinding.Type": "sms"})
    return signed_post(client, params, path="/routing")


def messages(logs, severity=None):
    return [line["message"] for line in logs if severity is None or line["severity"] == severity]
