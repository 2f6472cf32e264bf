"""Failures a learner reads: each says what was sent, what came back and what was expected."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from grader.reproduce import Launch


class CheckFailure(AssertionError):
    """The learner's app did not behave as the lab asks; the message explains how.

    `responses` are the answers the failure is about (several for a burst sent at once): the
    grader shows the app's own traceback for a 5xx among them, and how to send the same requests
    by hand. `hint` replaces the check's own hint when the failure calls for other advice.
    """

    def __init__(
        self,
        message: str,
        *,
        responses: Sequence[httpx.Response] = (),
        concurrent: bool = False,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.responses = tuple(responses)
        self.concurrent = concurrent
        """Whether `responses` answered requests sent at once."""
        self.hint = hint
        self.details: list[str] = []
        """What the grader adds once the check has ended: the app's own output that explains
        the failure, and how to reproduce it (grader/runner.py)."""

    @property
    def report(self) -> str:
        """The whole message: what was observed, then the details."""
        return "\n".join([str(self), *self.details])


class AppDidNotStart(CheckFailure):
    """The app crashed, or hung, before it served anything."""

    def __init__(
        self,
        message: str,
        *,
        output: list[str],
        launch: Launch,
        exit_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.output = output
        """Everything the app printed."""
        self.launch = launch
        """How the grader started it: what a learner runs to see the same failure."""
        self.exit_code = exit_code
        """Its exit status, or None if it was still running (hanging) when stopped."""


class CheckTimedOut(CheckFailure):
    """A check ran past its time limit and was stopped; other checks go on."""
