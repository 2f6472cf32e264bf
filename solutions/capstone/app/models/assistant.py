"""The assistant's bodies: chat messages, documents, questions and answers, token usage."""

from typing import Annotated

from pydantic import BaseModel, StringConstraints

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class ChatMessage(BaseModel):
    message: Text
    session_id: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class Document(BaseModel):
    id: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    text: Text


class Question(BaseModel):
    question: Text


class Answer(BaseModel):
    answer: str
    sources: list[str]
    """The ids of the documents the answer was written from, most relevant first."""


class Usage(BaseModel):
    input_tokens: int
    output_tokens: int
