"""Failures a learner reads: each says what was sent, what came back and what was expected."""


class CheckFailure(AssertionError):
    """The learner's app did not behave as the lab asks; the message explains how."""


class AppDidNotStart(CheckFailure):
    """The app crashed, or hung, before it served anything."""


class CheckTimedOut(CheckFailure):
    """A check ran past its time limit and was stopped; other checks go on."""
