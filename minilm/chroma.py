"""The model as a Chroma embedding function, registered so persistent collections reopen."""

from typing import Any

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from minilm.model import MAX_TOKENS, model


@register_embedding_function
class MiniLMEmbeddings(EmbeddingFunction[Documents]):
    """Embeds documents and queries with all-MiniLM-L6-v2, offline. Its vectors have unit
    length, so a collection configured for cosine distance gives similarity = 1 − distance."""

    def __init__(self) -> None:
        pass

    def __call__(self, input: Documents) -> Embeddings:
        return list(model().embed(list(input)))

    @staticmethod
    def name() -> str:
        return "minilm-offline"

    def get_config(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> "MiniLMEmbeddings":
        return MiniLMEmbeddings()

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "ip", "l2"]

    def max_tokens(self) -> int:
        return MAX_TOKENS
