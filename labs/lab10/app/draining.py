"""Whether this worker has been told to stop: from then on it is no longer ready."""


class Draining:
    """Set when SIGTERM arrives, while the server finishes the requests in flight."""

    def __init__(self) -> None:
        self.started = False

    def watch(self) -> None:
        """Notice SIGTERM, and still let the server handle it."""
        # TODO 3b: uvicorn installs its own SIGTERM handler before the lifespan starts, and that
        # handler is what stops the server gracefully. Chain a handler in front of it that sets
        # `self.started` and then calls uvicorn's (`signal.getsignal`, `signal.signal`).
