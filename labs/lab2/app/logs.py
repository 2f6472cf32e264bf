"""Logging set-up for the app's own loggers."""

import logging
import sys

# TODO (task 2): a ContextVar holding the id of the request being served.


# TODO (task 1): a Formatter that writes each record as one JSON object on one line.
def configure_logging(level: int = logging.INFO) -> None:
    """Send the app's loggers (`app` and below) to stdout; safe to call more than once."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("app")
    logger.handlers = [handler]
    logger.setLevel(level)
    logger.propagate = False
