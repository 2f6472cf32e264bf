"""The agent's answer. It is asked a Question (models/assistant.py), like POST /rag/ask."""

from pydantic import BaseModel


class AgentAnswer(BaseModel):
    answer: str
    sources: list[str]
    """The ids of the documents its searches returned, in the order first returned, once each."""
    steps: int
    """The model requests it took: one per answer the model gave, tool calls included."""
