"""Cold-start idea, for `python -m bench.run --cold-start-ideas`, measured the other way round:
main.py as it was before it preloaded google-cloud-firestore (store.client.load_library made a
no-op), so the library is imported by the instance's first lookup, inside that webhook's deadline.
"""

import store.client

store.client.load_library = lambda: None

from main import frontline_webhook  # noqa: E402,F401
