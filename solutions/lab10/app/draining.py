"""Whether this worker has been told to stop: from then on it is no longer ready."""

import signal
from types import FrameType


class Draining:
    """Set when SIGTERM arrives, while the server finishes the requests in flight."""

    def __init__(self) -> None:
        self.started = False

    def watch(self) -> None:
        """Notice SIGTERM, and still let the server handle it.

        uvicorn installs its own SIGTERM handler before the lifespan starts, and that handler is
        what stops the server gracefully: chain ours in front of it, never replace it.
        """
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            self.started = True
            if callable(previous):
                previous(signum, frame)

        signal.signal(signal.SIGTERM, on_sigterm)
