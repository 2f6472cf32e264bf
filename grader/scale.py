"""COURSE_TIME_SCALE: one factor for every duration graders give apps and expect back.

CI grades at a small scale to stay fast; each timing rule is a ratio of the scaled duration, so a
smaller scale shortens the waits without loosening any check. Below MIN_SCALE, waits get so short
that scheduling noise on a busy machine can fail a correct answer, so smaller values are refused.
"""

import os

DEFAULT_SCALE = 1.0
MIN_SCALE = 0.17


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
