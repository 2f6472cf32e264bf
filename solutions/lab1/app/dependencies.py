"""What endpoints declare they need, as Annotated aliases: `client: LLMDep` and nothing more."""

from typing import Annotated

from anthropic import AsyncAnthropic
from fastapi import Depends, Request

from app.config import Settings, get_settings


def get_llm_client(request: Request) -> AsyncAnthropic:
    """The app's one LLM client, created by the lifespan: never one per request."""
    return request.app.state.llm


LLMDep = Annotated[AsyncAnthropic, Depends(get_llm_client)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
