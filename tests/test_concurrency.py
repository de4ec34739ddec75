"""Concurrent deliveries of onParticipantAdded over real HTTP.

The Flask test client is not meant to be shared by threads, so the function runs here in a
threaded werkzeug server (functions-framework's real app, one thread per request) and 50
clients post to it at once, released together by a barrier.

Bound on writes. A delivery makes one fetch and at most one update (no faults are injected,
so no retries); it updates only when the fresh attributes lack a profile key. So:
- one participant, N deliveries: 1 <= updates <= N. Every update carries the same merged
  value (the merge is a pure function of the fetched attributes and the profile, and
  nothing else writes the participant), so concurrent writers cannot lose each other's
  keys; deliveries that fetch after the first update landed find nothing to change.
- N participants, one delivery each: exactly N updates, one per participant.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest
import requests
from werkzeug.serving import make_server

from tests.conftest import json_logs, sign

DELIVERIES = 50
CONVERSATION = "CH" + "c" * 32


@pytest.fixture()
def live_url(app, client, twilio, settings_env):
    # A generous deadline: 50 requests share two cores with the stand-in and the emulator; the
    # test is about what ends up written, and an ERROR line (a deadline hit) fails it below.
    settings_env(WEBHOOK_DEADLINE_S="4.5")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def deliver_all(url: str, forms: list[dict]) -> list[int]:
    """POST every form at the same moment, each signed for the URL as Twilio would sign it."""
    start = threading.Barrier(len(forms))

    def post(form: dict) -> int:
        body = urlencode(form)
        headers = {"X-Twilio-Signature": sign(url, form), "Content-Type": "application/x-www-form-urlencoded"}
        start.wait(timeout=30)
        return requests.post(url, data=body, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=len(forms)) as pool:
        return list(pool.map(post, forms))


def participant_added(participant_sid: str, address: str) -> dict:
    return {"EventType": "onParticipantAdded", "ConversationSid": CONVERSATION, "ParticipantSid": participant_sid,
            "MessagingBinding.Address": address, "MessagingBinding.Type": "sms", "Attributes": "{}", "RetryCount": "0"}


def number(i: int) -> str:
    return f"+1555{8670000 + i:07d}"


def test_fifty_concurrent_deliveries_for_one_participant_keep_every_key_and_write_at_most_once_each(live_url, store, twilio, capsys):
    store.upsert("ada", {"display_name": "Ada Lovelace", "avatar": "https://example.com/ada.png",
                         "channels": [{"type": "sms", "value": number(0)}]})
    own = {"source": "campaign-7", "nested": {"a": [1, 2]}, "vip": True}
    twilio.add_participant(CONVERSATION, "MB" + "0" * 32, address=number(0), attributes=json.dumps(own))
    capsys.readouterr()

    statuses = deliver_all(live_url, [participant_added("MB" + "0" * 32, number(0))] * DELIVERIES)

    assert statuses == [200] * DELIVERIES
    assert twilio.attributes_of(CONVERSATION, "MB" + "0" * 32) == {
        **own, "customer_id": "ada", "display_name": "Ada Lovelace", "avatar": "https://example.com/ada.png"}
    assert len(twilio.calls("GET")) == DELIVERIES, "one fetch per delivery: no retries without faults"
    updates = twilio.calls("POST")
    assert 1 <= len(updates) <= DELIVERIES
    assert len({update.form["Attributes"] for update in updates}) == 1, "concurrent updates disagreed on the merged value"
    lines = json_logs(capsys.readouterr().out)
    assert not [line for line in lines if line["severity"] == "ERROR"]
    written = [line for line in lines if line["message"] == "participant attributes written"]
    up_to_date = [line for line in lines if line["message"] == "participant attributes already up to date"]
    assert len(written) == len(updates) and len(written) + len(up_to_date) == DELIVERIES


def test_fifty_concurrent_deliveries_for_fifty_participants_write_each_its_own_customer_once(live_url, store, twilio, capsys):
    sids = [f"MB{i:032d}" for i in range(1, DELIVERIES + 1)]
    for i, sid in enumerate(sids, start=1):
        store.upsert(f"cust-{i}", {"display_name": f"Customer {i}", "channels": [{"type": "sms", "value": number(i)}],
                                   **({"avatar": f"https://example.com/{i}.png"} if i % 2 else {})})
        twilio.add_participant(CONVERSATION, sid, address=number(i), attributes=json.dumps({"seat": i}))
    capsys.readouterr()

    statuses = deliver_all(live_url, [participant_added(sid, number(i)) for i, sid in enumerate(sids, start=1)])

    assert statuses == [200] * DELIVERIES
    for i, sid in enumerate(sids, start=1):
        expected = {"seat": i, "customer_id": f"cust-{i}", "display_name": f"Customer {i}"}
        if i % 2:
            expected["avatar"] = f"https://example.com/{i}.png"
        assert twilio.attributes_of(CONVERSATION, sid) == expected, sid
    updates = twilio.calls("POST")
    assert len(updates) == DELIVERIES
    assert sorted(update.path.rsplit("/", 1)[1] for update in updates) == sids, "a participant was written twice or skipped"
    assert not [line for line in json_logs(capsys.readouterr().out) if line["severity"] == "ERROR"]
