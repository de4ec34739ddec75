"""Cold-start idea, for `python -m bench.run --cold-start-ideas`: main.py with gunicorn's control
socket off.

gunicorn 25.1 and later start a control-socket server in the master right after forking the
worker: it imports asyncio and runs an event-loop thread, on the same CPU share as the worker
answering the instance's first request. functions-framework builds gunicorn's configuration
itself (no GUNICORN_CMD_ARGS), so this variant flips the setting's default before the CLI makes
it; in production the same effect needs gunicorn<25.1 in requirements.txt.
"""

import gunicorn.config

gunicorn.config.ControlSocketDisable.default = True

from main import frontline_webhook  # noqa: E402,F401
