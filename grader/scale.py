"""COURSE_TIME_SCALE: one factor for every duration graders give apps and expect back.

CI grades at a small scale to stay fast; each timing rule is a ratio of the scaled duration, so a
smaller scale shortens the waits without loosening any check. Below MIN_SCALE, waits get so short
that scheduling noise on a busy machine can fail a correct answer, so smaller values are refused.
"""

import os

DEFAULT_SCALE = 1.0
MIN_SCALE = 0.17
BUSY_MACHINE = 2.0
"""Real seconds a busy machine may add to any answer, whatever the scale: scheduling, a sandbox, a
new connection. A scaled wait shrinks with the scale; this does not."""


class TimeScaleError(ValueError):
    pass


def time_scale() -> float:
    raw = os.environ.get("COURSE_TIME_SCALE", "").strip()
    if not raw:
        return DEFAULT_SCALE
    try:
        scale = float(raw)
    except ValueError:
        raise TimeScaleError(f"COURSE_TIME_SCALE={raw!r} is not a number") from None
    if scale < MIN_SCALE:
        raise TimeScaleError(
            f"COURSE_TIME_SCALE={raw} is below {MIN_SCALE}: timing checks are not reliable there"
        )
    return scale


def scaled(seconds: float) -> float:
    """`seconds` of course time, in real seconds at the current COURSE_TIME_SCALE."""
    return seconds * time_scale()


def patience(wait: float) -> float:
    """How long the grader waits for an answer that a correct app gives once `wait` real seconds
    (already scaled) have passed, before calling the app stuck: three times the wait, and never
    less than the wait plus BUSY_MACHINE. At scale 1 with a 1 s wait both are 3 s; at CI's 0.25
    the ratio alone would leave a busy machine half a second."""
    return max(3 * wait, wait + BUSY_MACHINE)
