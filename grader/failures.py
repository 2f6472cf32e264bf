"""Failures a learner reads: each says what was sent, what came back and what was expected."""


class CheckFailure(AssertionError):
    """The learner's app did not behave as the lab asks; the message explains how."""


class AppDidNotStart(CheckFailure):
    """The app crashed, or hung, before it served anything."""

    def __init__(self, message: str, *, output: list[str], exit_code: int | None = None) -> None:
        super().__init__(message)
        self.output = output
        """Everything the app printed."""
        self.exit_code = exit_code
        """Its exit status, or None if it was still running (hanging) when stopped."""


class CheckTimedOut(CheckFailure):
    """A check ran past its time limit and was stopped; other checks go on."""
