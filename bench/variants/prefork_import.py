"""Cold-start idea, for `python -m bench.run --cold-start-ideas`: main.py plus the import of
google-cloud-firestore at import time.

functions-framework's CLI (what the Cloud Functions runtime starts) imports the source in the
gunicorn master before it binds the port and forks the worker, so the import runs during the
instance's start-up, before Cloud Run sends it a request, instead of inside the first request's
deadline. Only the import: a client or a gRPC channel made before the fork would be shared with
the forked worker, which gRPC does not support.
"""

from google.cloud import firestore  # noqa: F401  - the point of this variant

from main import frontline_webhook  # noqa: F401
