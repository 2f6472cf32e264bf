"""The app's log lines, on stdout."""

import logging
import sys

FIELDS = "fields"
"""The `extra` key for a line's own fields: `logger.info("x", extra={FIELDS: {...}})`."""


def configure() -> None:
    # TODO 1: one JSON object per line, on stdout: `event` (the message), `request_id` (from
    # app.context) and `trace_id` (the current span's, 32 lowercase hex digits, or None), plus
    # the line's own FIELDS. And uvicorn's plain-text access log off: the middleware writes one
    # JSON line per request instead.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s %(fields)s"))
    app_logger = logging.getLogger("app")
    app_logger.handlers[:] = [handler]
    app_logger.setLevel(logging.INFO)
    app_logger.propagate = False
