"""The course grader: runs each lab's checks against the learner's app on real uvicorn servers.

Checks import what they need from here; see labs/lab3/test_lab3.py for an example.
"""

from grader.concurrency import Burst, burst
from grader.expect import expect_error, expect_json_field, expect_status, fail
from grader.failures import AppDidNotStart, CheckFailure
from grader.runner import LabContext, Service, alone
from grader.scale import patience, scaled

__all__ = [
    "AppDidNotStart",
    "Burst",
    "CheckFailure",
    "LabContext",
    "Service",
    "alone",
    "burst",
    "expect_error",
    "expect_json_field",
    "expect_status",
    "fail",
    "patience",
    "scaled",
]
