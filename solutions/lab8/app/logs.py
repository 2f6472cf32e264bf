"""Logs as one JSON object per line, on stdout, each carrying the request and trace it belongs to.

Every line says what happened (`event`) and to which request: `request_id` (ours, echoed to the
client) and `trace_id` (the trace's, which finds the request's spans). Values are logged as
fields, never formatted into the message, and only fields the code chose: no request body,
header or token reaches a log line unless a line names it.
"""

import json
import logging
import sys
from datetime import UTC, datetime

from opentelemetry import trace

from app.context import request_id

FIELDS = "fields"
"""The `extra` key for a line's own fields: `logger.info("x", extra={FIELDS: {...}})`."""


def trace_id() -> str | None:
    """The current span's trace id, as 32 lowercase hex digits; None outside a trace."""
    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            "request_id": request_id.get(),
            "trace_id": trace_id(),
            **getattr(record, FIELDS, {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure() -> None:
    """The app's lines in JSON on stdout. Uvicorn's access log is off: the middleware writes one
    JSON line per request instead. Uvicorn's own messages and tracebacks stay on stderr."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JSONFormatter())
    app_logger = logging.getLogger("app")
    app_logger.handlers[:] = [handler]
    app_logger.setLevel(logging.INFO)
    app_logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True
