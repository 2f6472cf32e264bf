"""Settings, read wherever they are needed. TODO (task 1): one pydantic-settings class instead."""

import os


def anthropic_api_key() -> str:
    return os.environ.get("ANTHROPIC_API_KEY", "")


def slow_seconds() -> float:
    return float(os.environ.get("SLOW_SECONDS", "2"))
