"""Everything that touches Firestore and gRPC: the client, the webhooks' lookups, the Frontline
directory (customers, workers, templates) and the tools' write path; failures leave as StoreUnavailable."""
