"""What endpoints declare they need, as Annotated aliases: `client: LLMDep` and nothing more."""

from typing import Annotated

from anthropic import AsyncAnthropic
from fastapi import Depends

from app.config import anthropic_api_key


def get_llm_client() -> AsyncAnthropic:
    # TODO (task 3): return the one client the lifespan created, not a new one per request.
    return AsyncAnthropic(api_key=anthropic_api_key())


LLMDep = Annotated[AsyncAnthropic, Depends(get_llm_client)]
