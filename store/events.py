"""The Firestore trigger's CloudEvent: which customer profile was written.

The event's body is a `google.events.cloud.firestore.v1.DocumentEventData` protobuf. Cloud
Functions (Eventarc) sends its bytes as they are; the Firestore emulator sends the same bytes
base64-encoded as text. Only the document's name is used: the snapshot it carries may be older
than what is stored by the time the event arrives (Eventarc delivers at least once, in any order).
"""

from __future__ import annotations

import base64
import binascii

from runtime.errors import BadEvent
from store.profiles import InvalidProfile, customer_id_of

# Every part of a Firestore document name after this is the document's path.
_DOCUMENTS = "/documents/"


def _protobuf_bytes(data: object) -> bytes:
    if data is None:
        return b""
    if isinstance(data, str):
        data = data.encode("ascii", "replace")
    if not isinstance(data, (bytes, bytearray)):
        # The CloudEvents SDK hands over JSON it could parse as JSON: not a protobuf body.
        raise BadEvent(f"event data is {type(data).__name__}, not a DocumentEventData protobuf")
    try:
        # A protobuf DocumentEventData starts with the tag of field 1, 2 or 3 (0x0a, 0x12, 0x1a),
        # none of them a base64 character, so strict base64 decoding tells the two forms apart.
        return base64.b64decode(bytes(data), validate=True)
    except binascii.Error:
        return bytes(data)


def document_path(data: object, subject: str | None = None) -> str:
    """The written document's path (`customers/ada`), from the event's data, else its `subject`."""
    from google.events.cloud.firestore import DocumentEventData

    raw = _protobuf_bytes(data)
    try:
        event = DocumentEventData.deserialize(raw)
    except Exception as error:  # noqa: BLE001 - protobuf's DecodeError type depends on its backend
        raise BadEvent(f"event data is not a DocumentEventData protobuf ({len(raw)} bytes): {type(error).__name__}") from None
    name = event.value.name or event.old_value.name
    if _DOCUMENTS in name:
        return name.split(_DOCUMENTS, 1)[1]
    if subject and subject.startswith("documents/"):
        return subject.removeprefix("documents/")
    raise BadEvent("event names no document")


def customer_id_in(path: str, customers_collection: str) -> str | None:
    """The customer id of `customers/{id}`; None for any other document (another collection, a subcollection)."""
    collection, _, document_id = path.partition("/")
    if collection != customers_collection or not document_id or "/" in document_id:
        return None
    try:
        return customer_id_of(document_id)
    except InvalidProfile:
        return None
