"""The webhooks' read: one unary `GetDocument` per document, on a gRPC channel this module owns.

google-cloud-firestore's `DocumentReference.get` is a server-streaming `BatchGetDocuments`
call: grpc-python runs a channel-spin thread for it and hands the GIL back and forth with the
request thread, about twice the client CPU of the unary call and much longer tails
(bench/README.md). The library's public generated client,
`google.cloud.firestore_v1.services.firestore.FirestoreClient`, makes the unary call; this
module calls its transport's `get_document` callable (the generated stub) and adds itself the
two things the client's method adds on top: the routing header, and google-api-core's
exceptions for gRPC's errors. The method's other layers (retry and timeout wrappers, the
request coercion) cost ~0.2 ms of CPU a read, a third of the whole call, for nothing a
deadline-bound read without retries uses (measured in bench/README.md).
Owning the channel also decides how soon it reconnects after an outage (`CHANNEL_OPTIONS`).
Only the scalar fields of the answer are decoded, straight from the protobuf message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runtime.errors import StoreUnavailable
from store.client import emulator_host, once_per_instance, store_errors

if TYPE_CHECKING:
    import grpc
    from google.cloud.firestore_v1.services.firestore import FirestoreClient
    from google.cloud.firestore_v1.types import GetDocumentRequest

    from runtime.deadline import Deadline

# gRPC's default reconnect backoff starts at 1 s and grows 1.6 times per failed attempt up to
# 120 s: after a 30 s outage the channel's next attempt came 13 s after Firestore was back, and
# every lookup until then fell back to the bare address. Capped at 1 s (gRPC adds ±20 % jitter),
# a refused connection is retried at least every 1.2 s, and an attempt into a network that drops
# packets gives up after 1.5 s (the minimum connect timeout; a TLS connection to Google takes
# tens of milliseconds): lookups resume within about 2.7 s of Firestore's return, whatever the
# outage's length. An attempt every second is one SYN, or one refused connection: cheap for both ends.
RECONNECT_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 1_000),
    ("grpc.min_reconnect_backoff_ms", 1_500),
)
# A connection that dies silently (a dropped route, no reset) is noticed by a ping left
# unanswered for 5 s, sent after 30 s without a frame while calls are in flight: the interval
# google-cloud-firestore itself uses, which Google's front ends accept. Without it, TCP's
# retransmission timeout (~15 minutes) decides, and every lookup meanwhile waits out its deadline.
# No pings on an idle channel: servers answer those with GOAWAY (too_many_pings).
KEEPALIVE_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 0),
)
CHANNEL_OPTIONS = RECONNECT_OPTIONS + KEEPALIVE_OPTIONS

# What google-cloud-firestore's own client uses against the emulator when no project is set,
# so the tools' writes and this read meet in the same project.
EMULATOR_DEFAULT_PROJECT = "google-cloud-firestore-emulator"
DATABASE = "(default)"

# Value kinds a projection field can hold and be read back as a Python scalar.
_SCALARS = {"string_value", "integer_value", "double_value", "boolean_value"}


@dataclass(frozen=True)
class DocumentReader:
    """`GetDocument` on one database with the metadata every call carries."""

    api: FirestoreClient
    get_document: Callable[..., Any]  # the generated transport's GetDocument stub
    documents: str  # projects/{project}/databases/(default)/documents
    metadata: tuple[tuple[str, str], ...]
    # The library's types and helpers, held here so a read imports nothing (an import statement costs microseconds).
    request_type: type[GetDocumentRequest]
    routing_header: Callable[[str], tuple[str, str]]  # a document name -> x-goog-request-params, as the client sends it
    rpc_error: type[Exception]  # grpc.RpcError
    api_error: Callable[[Any], Exception]  # google.api_core.exceptions.from_grpc_error
    not_found: type[Exception]

    def scalar_fields(self, path: str, deadline: Deadline, what: str) -> dict[str, Any] | None:
        """The string, number, boolean and null fields of `path` (collection/id); None when it does not exist.

        One RPC with the time `deadline` has left and no retries; failures are StoreUnavailable naming `what`.
        """
        name = f"{self.documents}/{path}"
        # The protobuf message wrapped as is: proto-plus's keyword constructor costs several times more.
        request = self.request_type.wrap(self.request_type.pb()(name=name))
        with store_errors(what, deadline):
            try:
                document = self.get_document(request, timeout=max(deadline.remaining(), 0.001),
                                             metadata=(*self.metadata, self.routing_header(name)))
            except self.rpc_error as error:
                failure = self.api_error(error)
                if isinstance(failure, self.not_found):
                    return None
                raise failure from error
        return _scalars(type(document).pb(document).fields)


def _scalars(fields: Any) -> dict[str, Any]:
    decoded: dict[str, Any] = {}
    for name, value in fields.items():
        kind = value.WhichOneof("value_type")
        if kind in _SCALARS:
            decoded[name] = getattr(value, kind)
        elif kind == "null_value":
            decoded[name] = None
    return decoded


def open_reader(project: str, emulator: str, interceptors: Sequence[grpc.UnaryUnaryClientInterceptor] = ()) -> DocumentReader:
    """A reader on a new channel: insecure with the emulator's owner token, else default credentials and endpoint.

    `interceptors` (tests record RPCs with one) wrap the channel below the generated client.
    """
    import grpc
    from google.api_core.exceptions import NotFound, from_grpc_error
    from google.api_core.gapic_v1.routing_header import to_grpc_metadata
    from google.cloud.firestore_v1.services.firestore import FirestoreClient
    from google.cloud.firestore_v1.services.firestore.transports import FirestoreGrpcTransport
    from google.cloud.firestore_v1.services.firestore.transports.base import DEFAULT_CLIENT_INFO
    from google.cloud.firestore_v1.types import GetDocumentRequest

    metadata: tuple[tuple[str, str], ...] = ()
    if emulator:
        channel = grpc.insecure_channel(emulator, options=CHANNEL_OPTIONS)
        metadata = (("authorization", "Bearer owner"),)
        project = project or EMULATOR_DEFAULT_PROJECT
        host = emulator
    else:
        import google.auth

        credentials, default_project = google.auth.default(scopes=FirestoreGrpcTransport.AUTH_SCOPES)
        project = project or default_project or ""
        if not project:
            raise StoreUnavailable("no Google Cloud project: set GOOGLE_CLOUD_PROJECT")
        host = FirestoreGrpcTransport.DEFAULT_HOST
        channel = FirestoreGrpcTransport.create_channel(host, credentials=credentials, options=CHANNEL_OPTIONS)
    if interceptors:
        channel = grpc.intercept_channel(channel, *interceptors)
    database = f"projects/{project}/databases/{DATABASE}"
    transport = FirestoreGrpcTransport(host=host, channel=channel)
    api = FirestoreClient(transport=transport)
    # The resource prefix is what google-cloud-firestore sends with every call, for routing; the
    # client header is the one the generated method would add (library versions, for Google's side).
    static = (*metadata, ("google-cloud-resource-prefix", database), DEFAULT_CLIENT_INFO.to_grpc_metadata())
    return DocumentReader(api, transport.get_document, f"{database}/documents", static, GetDocumentRequest,
                          lambda name: to_grpc_metadata((("name", name),)), grpc.RpcError, from_grpc_error, NotFound)


def document_reader(project: str, deadline: Deadline | None = None) -> DocumentReader:
    """This instance's reader, created on first use; its creation bounded by `deadline` like the client's."""
    emulator = emulator_host()
    return once_per_instance(("reader", project, emulator), lambda: open_reader(project, emulator), deadline)
